"""EmbeddingWriter: its documented example runs, and rows land at their own positions."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import torch

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
