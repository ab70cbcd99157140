"""ClipDataModule: one decode per video, sharding by video, rows exactly once (lit_extract.extract.data)."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
import torch

from lit_extract.extract.data import ClipDataModule, balance, group_by_video, shard_videos
from lit_extract.errors import LitExtractError
from lit_extract.indexing.index import load_index, split_rows
from lit_extract.decode.reference import NotebookClipDataset

MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1, 1)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1, 1)


def all_batches(data: ClipDataModule, split: str) -> list[dict]:
    loader = data.predict_dataloader()[data.splits.index(split)]
    return list(loader)


def test_balance_assigns_every_item_once_and_evens_the_load():
    loads = [50, 3, 3, 20, 20, 7, 1]
    bins = balance(loads, 3)
    assert sorted(itertools.chain(*bins)) == list(range(len(loads)))
    totals = sorted(sum(loads[i] for i in b) for b in bins)
    assert totals == [27, 27, 50]
    assert balance(loads, 3) == bins  # deterministic


@pytest.mark.parametrize("world_size,workers", [(1, 0), (1, 3), (2, 2), (3, 1), (4, 8), (7, 2)])
def test_sharding_covers_every_row_once_and_never_splits_a_video(small_dataset, world_size, workers):
    rows = split_rows(load_index(small_dataset), "train")
    works = group_by_video(rows, np.ones(len(rows), bool), frames=8)
    seen_rows, seen_videos = [], []
    for rank in range(world_size):
        shards = shard_videos(works, rank, world_size, workers)
        assert len(shards) == max(1, workers)
        for shard in shards:
            for work in shard:
                seen_rows += work.rows.tolist()
                seen_videos.append(work.path)
    assert sorted(seen_rows) == list(range(len(rows)))
    assert len(seen_videos) == len(set(seen_videos)) == rows["path"].nunique()


def test_pending_mask_leaves_done_rows_out(small_dataset):
    rows = split_rows(load_index(small_dataset), "train")
    pending = np.zeros(len(rows), bool)
    pending[[1, 4, 7]] = True
    works = group_by_video(rows, pending, frames=8)
    assert sorted(r for w in works for r in w.rows.tolist()) == [1, 4, 7]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_clips_equal_the_notebook_loader_row_for_row(small_dataset, num_workers):
    data = ClipDataModule(str(small_dataset), frames=8, img_size=32, batch_size=3, num_workers=num_workers)
    data.setup("predict")
    reference = {split: NotebookClipDataset(rows, T=8, img_size=32) for split, rows in data.rows.items()}
    for split in data.splits:
        batches = all_batches(data, split)
        rows = torch.cat([b["rows"] for b in batches]).tolist()
        assert sorted(rows) == list(range(len(data.rows[split])))
        assert len(batches) == len(data.stream(split))
        for batch in batches:
            assert batch["clips"].dtype == torch.uint8 and batch["clips"].shape[1:] == (3, 8, 32, 32)
            for clip, row, y in zip(batch["clips"].numpy(), batch["rows"].tolist(), batch["y"].tolist()):
                expected, expected_y = reference[split][row]
                normalized = (clip.astype(np.float32) / 255.0 - MEAN) / STD
                np.testing.assert_array_equal(normalized, expected.numpy())
                assert y == int(expected_y)


def test_unknown_split_name_is_refused():
    with pytest.raises(LitExtractError, match="--data.splits"):
        ClipDataModule("x.csv", splits=["train", "holdout"])


def test_pyav_decoder_without_pyav_is_refused_at_once_naming_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` raises ImportError
    with pytest.raises(LitExtractError, match="--data.decoder pyav needs PyAV: pip install av"):
        ClipDataModule("x.csv", decoder="pyav")  # before any worker starts, not inside each one


def test_empty_split_is_refused_naming_it(small_dataset, tmp_path):
    text = small_dataset.read_text().splitlines()
    no_test = [line for line in text if not line.startswith("test,")]
    index = tmp_path / "no_test.csv"
    index.write_text("\n".join(no_test) + "\n")
    data = ClipDataModule(str(index), img_size=32, splits=["train", "val", "test"])  # the default skips it
    with pytest.raises(LitExtractError, match="split 'test' has no rows"):
        data.setup("predict")
