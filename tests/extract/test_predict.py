"""`python -m lit_extract predict`: output rows equal an independent computation, on 1 and 2 processes and under bf16."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from conftest import clip_rows, write_index
from lit_extract.commands.cli import main
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.indexing.index import load_index, split_rows
from lit_extract.decode.reference import NotebookClipDataset

IMG, T = 32, 8
NOTEBOOK_MEAN, NOTEBOOK_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # r3d_18's own weights declare others


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Index with splits of 10 (odd-sized videos), 4 and 1 clips (test = a single video)."""
    root = tmp_path_factory.mktemp("predict")
    rows = []
    specs = [("train", "Normal", 64), ("train", "Fighting", 96), ("train", "Normal", 48),
             ("val", "Fighting", 80), ("test", "Normal", 40)]
    for i, (split, category, n) in enumerate(specs):
        path = write_video(root / f"v{i} {split}.mp4", (barcode_frame(k, 160, 120, category, i) for k in range(n)))
        rows += clip_rows(path, split, category, n)
    return write_index(root / "index_clips.csv", rows)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A seeded r3d_18 state dict, so the test's own model has the same weights as the run."""
    torch.manual_seed(0)
    model = torchvision.models.video.r3d_18()
    path = tmp_path_factory.mktemp("weights") / "r3d_18.pth"
    torch.save(model.state_dict(), path)
    return path


def reference_embeddings(index: Path, weights: Path, split: str) -> np.ndarray:
    """The notebook's loop: its ClipDataset + the torchvision model with head = Identity, float32."""
    model = torchvision.models.video.r3d_18()
    model.load_state_dict(torch.load(weights))
    model.fc = torch.nn.Identity()
    model.eval()
    dataset = NotebookClipDataset(split_rows(load_index(index), split), T=T, img_size=IMG)
    with torch.no_grad():
        return torch.cat([model(torch.stack([dataset[i][0]])) for i in range(len(dataset))]).numpy()


def predict_args(index: Path, weights: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--data.index_path", str(index), "--data.img_size", str(IMG), "--data.frames", str(T),
        "--data.batch_size", "3", "--model.encoder", "r3d_18", "--model.weights", str(weights),
        "--model.mean", str(NOTEBOOK_MEAN), "--model.std", str(NOTEBOOK_STD),
        "--writer.output_dir", str(out), "--trainer.accelerator", "cpu",
        "--trainer.enable_progress_bar", "false", *extra,
    ]


@pytest.fixture(scope="module")
def single_run(dataset, weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    main(["predict", *predict_args(dataset, weights, out, "--data.num_workers", "2")])
    return out


def run_module(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lit_extract", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_rows_equal_the_notebook_loop_with_the_torchvision_model(dataset, weights, single_run, split):
    expected = reference_embeddings(dataset, weights, split)
    written = np.load(single_run / f"emb_r3d_18_{split}.npy")
    assert written.dtype == np.float16 and written.shape == expected.shape
    np.testing.assert_allclose(written.astype(np.float32), expected, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_labels_and_status_follow_the_index_rows(dataset, single_run, split):
    rows = split_rows(load_index(dataset), split)
    np.testing.assert_array_equal(np.load(single_run / f"y_{split}.npy"), rows["y"].to_numpy(np.int8))
    assert not np.load(single_run / f"status_{split}.npy").any()
    assert np.load(single_run / f"done_r3d_18_{split}.npy").all()


def test_manifest_is_complete_with_finite_float64_statistics(single_run, dataset):
    manifest = json.loads((single_run / "manifest_r3d_18.json").read_text())
    assert manifest["complete"] and manifest["embedding_dim"] == 512 and manifest["dtype"] == "float16"
    assert {s: manifest["splits"][s]["rows"] for s in ("train", "val", "test")} == {"train": 10, "val": 4, "test": 1}
    values = np.load(single_run / "emb_r3d_18_train.npy").astype(np.float64)
    stats = manifest["splits"]["train"]["embedding_stats"]
    assert stats["std"] == pytest.approx(values.std(), rel=1e-6)
    assert stats["mean"] == pytest.approx(values.mean(), rel=1e-6)
    assert manifest["splits"]["train"]["label_counts"] == {"0": 5, "1": 5}
    assert manifest["index"]["path"] == str(dataset.resolve())


def test_run_json_and_manifest_record_the_explicit_normalization(single_run):
    for name in ("run_r3d_18.json", "manifest_r3d_18.json"):
        recorded = json.loads((single_run / name).read_text())
        assert (recorded["mean"], recorded["std"]) == (NOTEBOOK_MEAN, NOTEBOOK_STD), name


def test_ddp_on_two_processes_writes_the_same_files(dataset, weights, single_run, tmp_path):
    out = tmp_path / "ddp"
    result = run_module("predict", *predict_args(
        dataset, weights, out, "--data.num_workers", "1",
        "--trainer.devices", "2", "--trainer.strategy", "ddp"))
    assert result.returncode == 0, result.stderr[-3000:]
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(np.load(out / f"done_r3d_18_{split}.npy"), 1)
        np.testing.assert_array_equal(np.load(out / f"y_{split}.npy"), np.load(single_run / f"y_{split}.npy"))
        ddp = np.load(out / f"emb_r3d_18_{split}.npy").astype(np.float32)
        single = np.load(single_run / f"emb_r3d_18_{split}.npy").astype(np.float32)
        assert np.abs(ddp).sum(axis=1).min() > 0  # no row left at zero
        np.testing.assert_allclose(ddp, single, rtol=2e-3, atol=2e-3)
    manifest = json.loads((out / "manifest_r3d_18.json").read_text())
    assert manifest["world_size"] == 2
    assert manifest["rows_computed"] == sum(len(np.load(single_run / f"y_{s}.npy")) for s in ("train", "val", "test"))  # each row by one rank


def test_ddp_rank_without_any_video_still_finishes(dataset, weights, tmp_path):
    out = tmp_path / "ddp_one_video"
    result = run_module("predict", *predict_args(
        dataset, weights, out, "--data.splits", "[test]", "--data.num_workers", "0",
        "--trainer.devices", "2", "--trainer.strategy", "ddp"), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(np.load(out / "done_r3d_18_test.npy"), 1)
    expected = reference_embeddings(dataset, weights, "test")
    np.testing.assert_allclose(np.load(out / "emb_r3d_18_test.npy").astype(np.float32), expected, rtol=2e-3, atol=2e-3)


def row_relative_error(rows: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``|row - expected row| / |expected row|`` (L2) of each row."""
    return np.linalg.norm(rows - expected, axis=1) / np.linalg.norm(expected, axis=1)


def test_bf16_mixed_rows_stay_close_to_the_notebook_float32_loop(dataset, weights, tmp_path):
    # bf16 keeps 8 significant bits (relative step 2**-8 = 0.0039): its rows land ~0.5% from the
    # float32 loop's; the float16 files of a float32 run land within ~0.03%. Between the two bounds:
    # bf16 ran (a run that silently stays float32 is too close), and its rows were not mangled.
    out = tmp_path / "bf16"
    main(["predict", *predict_args(dataset, weights, out, "--data.splits", "[val]", "--data.num_workers", "0",
                                   "--trainer.precision", "bf16-mixed")])
    written = np.load(out / "emb_r3d_18_val.npy")
    assert written.dtype == np.float16
    error = row_relative_error(written.astype(np.float64), reference_embeddings(dataset, weights, "val").astype(np.float64))
    assert error.min() > 1.5e-3, f"bf16 rows as close to float32 as float16 rounding: {error}"
    assert error.max() < 1e-2, error
