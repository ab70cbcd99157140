"""EmbeddingWriter: its documented example runs, and rows land at their own positions."""

from __future__ import annotations

import json
import os
import stat
import textwrap

import numpy as np
import pytest
import torch
from torchvision.models import get_model_weights

from lit_extract.cli import main
from lit_extract.index import load_index, split_rows
from lit_extract.writer import EmbeddingWriter, SplitFiles, contiguous_runs


def docstring_example(obj) -> str:
    text = obj.__doc__.split("::", 1)[1]
    return textwrap.dedent(text.split('"""')[0])


def test_docstring_example_writes_a_complete_output_folder(small_dataset, tmp_path):
    output_dir = tmp_path / "out"
    exec(docstring_example(EmbeddingWriter), {"index_path": str(small_dataset), "output_dir": str(output_dir)})
    manifest = json.loads((output_dir / "manifest_r3d_18.json").read_text())
    assert manifest["complete"] and manifest["embedding_dim"] == 512
    index = load_index(small_dataset)
    for split in ("train", "val", "test"):
        rows = split_rows(index, split)
        np.testing.assert_array_equal(np.load(output_dir / f"y_{split}.npy"), rows["y"].to_numpy(np.int8))
        assert np.load(output_dir / f"emb_r3d_18_{split}.npy").shape == (len(rows), 512)


def test_contiguous_runs_split_at_gaps():
    assert contiguous_runs(np.array([2, 3, 4, 7, 9, 10])) == [(0, 3), (3, 4), (4, 6)]
    assert contiguous_runs(np.array([], np.int64)) == []


def test_rows_are_written_at_their_positions_whatever_the_batch_order(tmp_path):
    files = SplitFiles(tmp_path, "enc", "val", rows=6, dim=3)
    files.create()
    writer = EmbeddingWriter(str(tmp_path), flush_interval_s=0)
    writer.add_files("enc", "val", files, files.open())
    expected = np.arange(18, dtype=np.float32).reshape(6, 3)
    for rows in ([5, 0], [3, 1, 2], [4]):
        batch = {"rows": torch.tensor(rows), "y": torch.tensor(rows) % 2, "status": torch.zeros(len(rows), dtype=torch.uint8)}
        writer.write_on_batch_end(None, None, torch.from_numpy(expected[rows]), None, batch, 0, 0)
    files.close()
    np.testing.assert_array_equal(np.load(files.paths["embeddings"]), expected.astype(np.float16))
    np.testing.assert_array_equal(np.load(files.paths["labels"]), np.arange(6) % 2)
    np.testing.assert_array_equal(np.load(files.paths["done"]), 1)


@pytest.fixture
def run_under_umask_022(small_dataset, tmp_path):
    """A finished ``predict`` run (r3d_18, mean/std left to their defaults) made under umask 022."""
    out = tmp_path / "out"
    previous = os.umask(0o022)
    try:
        main(["predict", "--data.index_path", str(small_dataset), "--data.img_size", "16", "--data.num_workers", "0",
              "--model.encoder", "r3d_18", "--model.weights", "none", "--writer.output_dir", str(out),
              "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"])
    finally:
        os.umask(previous)
    return out


def test_every_output_is_readable_by_others_under_umask_022(run_under_umask_022):
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in run_under_umask_022.iterdir()}
    assert {"run_r3d_18.json", "manifest_r3d_18.json", "emb_r3d_18_train.npy"} <= set(modes)
    assert modes == {name: 0o644 for name in modes}


def test_run_json_and_manifest_record_the_encoders_declared_normalization(run_under_umask_022):
    declared = get_model_weights("r3d_18").DEFAULT.transforms()
    for name in ("run_r3d_18.json", "manifest_r3d_18.json"):
        recorded = json.loads((run_under_umask_022 / name).read_text())
        assert (recorded["mean"], recorded["std"]) == (list(declared.mean), list(declared.std)), name
