"""Past one machine: two torchrun "nodes" write the same files as one process; ranks write only their rows."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import assert_same_outputs, clip_rows, write_index
from lit_extract.commands.cli import main
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.extract.writer import EmbeddingWriter, SplitFiles

SPLITS = ("train", "test")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("nodes")
    rows = []
    for i, (split, n) in enumerate([("train", 64), ("train", 96), ("train", 48), ("test", 64)]):
        category = ("Normal", "Fighting")[i % 2]
        path = write_video(root / f"v{i}.mp4", (barcode_frame(k, 160, 120, category, i) for k in range(n)))
        rows += clip_rows(path, split, category, n)
    return write_index(root / "index_clips.csv", rows)


def predict_args(index: Path, out: Path) -> list[str]:
        return ["predict", "--data.index_path", str(index), "--data.img_size", "16", "--data.batch_size", "1",
            "--data.num_workers", "0", "--data.splits", "[train,test]", "--model.encoder", "r3d_18",
            "--model.weights", "none", "--writer.output_dir", str(out), "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def single(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    main(predict_args(dataset, out))
    return out


def test_two_torchrun_nodes_write_the_files_of_one_process(dataset, single, tmp_path):
    nodes = tmp_path / "nodes"
    port = free_port()
    launches = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(rank),
             "--nproc_per_node", "1", "--master_addr", "127.0.0.1", "--master_port", str(port),
             "-m", "lit_extract", *predict_args(dataset, nodes),
             "--trainer.num_nodes", "2", "--trainer.devices", "1", "--trainer.strategy", "ddp"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        for rank in (0, 1)
    ]
    logs = [launch.communicate(timeout=240)[0] for launch in launches]
    assert [launch.returncode for launch in launches] == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    manifest = json.loads((nodes / "manifest_r3d_18.json").read_text())
    assert manifest["world_size"] == 2
    assert manifest["rows_computed"] == sum(len(np.load(single / f"y_{s}.npy")) for s in SPLITS)  # each row on one node
    assert_same_outputs(nodes, single, SPLITS)


def test_run_resumed_with_another_world_size_finishes_every_row_once(dataset, single, tmp_path, capfd):
    out = tmp_path / "resized"
    main([*predict_args(dataset, out), "--trainer.limit_predict_batches", "2"])  # stops early: 2 batches a split
    assert "no manifest written" in capfd.readouterr().err
    assert not (out / "manifest_r3d_18.json").exists()
    assert int(np.load(out / "done_r3d_18_train.npy").sum()) == 2
    resumed = subprocess.run(
        [sys.executable, "-m", "lit_extract", *predict_args(dataset, out),
         "--trainer.devices", "2", "--trainer.strategy", "ddp"],
        capture_output=True, text=True, timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert '"rows_computed": ' + str(sum(len(np.load(single / f"y_{s}.npy")) for s in SPLITS) - 4) in (
        out / "manifest_r3d_18.json").read_text()
    assert_same_outputs(out, single, SPLITS)


def test_a_rank_writes_only_the_bytes_of_its_own_rows(tmp_path, monkeypatch):
    rows, dim = 10, 4
    files = SplitFiles(tmp_path, "enc", "train", rows, dim)
    files.create()
    writer = EmbeddingWriter(str(tmp_path), flush_interval_s=0)
    writer.add_files("enc", "train", files, files.open())
    written: list[tuple[int, int, int]] = []
    real_pwrite = os.pwrite

    def recording_pwrite(fd, data, offset):
        written.append((fd, offset, len(data)))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", recording_pwrite)
    my_rows = [7, 2, 3, 9]  # out of order, with gaps: neighbours 1, 4, 8 belong to other ranks
    batch = {"rows": torch.tensor(my_rows), "y": torch.ones(4, dtype=torch.int64), "status": torch.zeros(4, dtype=torch.uint8)}
    writer.write_on_batch_end(None, None, torch.arange(16, dtype=torch.float32).view(4, 4), None, batch, 0, 0)
    files.close()

    by_key = {}
    for key in ("embeddings", "labels", "status", "done"):
        array = np.load(files.paths[key], mmap_mode="r")
        by_key[key] = (int(array.offset), files.row_bytes[key])
    allowed = set(my_rows)
    for _, offset, length in written:
        matches = [
            key for key, (header, row_bytes) in by_key.items()
            if header <= offset and (offset - header) % row_bytes == 0 and length % row_bytes == 0
            and set(range((offset - header) // row_bytes, (offset - header + length) // row_bytes)) <= allowed
        ]
        assert matches, f"a write at byte {offset} (+{length}) touches rows outside {sorted(allowed)}"
    assert len(written) == 4 * 3  # rows 2-3, 7, 9: three runs in each of the four files
    embeddings = np.load(files.paths["embeddings"])
    np.testing.assert_array_equal(embeddings[[7, 2, 3, 9]], np.arange(16, dtype=np.float16).reshape(4, 4))
    assert not embeddings[[0, 1, 4, 5, 6, 8]].any()
    np.testing.assert_array_equal(np.load(files.paths["done"]), [0, 0, 1, 1, 0, 0, 0, 1, 0, 1])
