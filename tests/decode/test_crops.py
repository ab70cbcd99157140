"""Ten-crop extraction (``--data.crops 10``): crop geometry, rows, and the 3-D files downstream.

Geometry is checked against torchvision's own ``TenCrop`` and against crops worked out by hand on
frames whose pixels hold their own coordinates; rows against an independent pipeline (OpenCV
decode + torchvision ``TenCrop`` + the torchvision model).
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
import torchvision
from torchvision.transforms import TenCrop as TorchTenCrop

from conftest import clip_rows, write_index
from lit_extract.commands.cli import main
from lit_extract.decode.crops import TenCrop, resize_short_side, short_side_shape, ten_crop
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.indexing.index import load_index, split_rows
from lit_extract.store.manifest import inspect_manifest
from lit_extract.evaluate.probe import EmbeddingBatches, standardization
from lit_extract.decode.reference import uniform_sample_indices

IMG, SHORT, T, CLIP_LEN = 16, 24, 4, 8
WIDTH, HEIGHT = 64, 48  # resized to 32 x 24: crops at x 0 / 8 / 16, y 0 / 4 / 8
# r3d_18's own normalization, as torchvision declares it (what the run applies by default)
_DECLARED = torchvision.models.video.R3D_18_Weights.DEFAULT.transforms()
MEAN, STD = np.array(_DECLARED.mean), np.array(_DECLARED.std)


def coordinate_frame(height: int, width: int) -> np.ndarray:
    """(H, W, 2) int32 frame whose pixel (y, x) holds (y, x)."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([ys, xs], axis=-1).astype(np.int32)


@pytest.mark.parametrize("height,width", [(24, 32), (37, 53), (32, 20)])
def test_ten_crop_equals_torchvision_tencrop(height, width):
    frame = np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    expected = TorchTenCrop(IMG)(torch.from_numpy(frame).permute(2, 0, 1))  # ten C H W tensors
    got = ten_crop(frame, IMG)
    assert got.shape == (10, IMG, IMG, 3)
    for c in range(10):
        np.testing.assert_array_equal(got[c], expected[c].permute(1, 2, 0).numpy(), err_msg=f"crop {c}")


def test_ten_crop_order_and_flips_by_hand():
    # 24 x 32 frame, 16 x 16 crops: corners at y 0/8, x 0/16, centre at (4, 8).
    got = ten_crop(coordinate_frame(24, 32), 16)
    top_left = {c: tuple(got[c, 0, 0]) for c in range(10)}
    assert top_left == {
        0: (0, 0), 1: (0, 16), 2: (8, 0), 3: (8, 16), 4: (4, 8),  # tl, tr, bl, br, centre
        5: (0, 31), 6: (0, 15), 7: (8, 31), 8: (8, 15), 9: (4, 23),  # the same on the mirrored frame
    }
    # A flipped crop runs right to left: its next pixel is one column to the left in the frame.
    assert tuple(got[5, 0, 1]) == (0, 30) and tuple(got[5, 15, 15]) == (15, 16)


def test_shorter_side_is_resized_and_the_longer_keeps_the_aspect_ratio_rounded():
    assert short_side_shape(240, 320, 256) == (256, 341)  # UCF-Crime: 341.33 -> 341
    assert short_side_shape(320, 240, 256) == (341, 256)
    assert short_side_shape(4, 6, 3) == (3, 5)  # 4.5 rounds half up
    frame = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    expected = cv2.resize(frame, (32, 24), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(resize_short_side(frame, SHORT), expected)


def test_resize_short_below_crop_size_is_refused():
    with pytest.raises(ValueError, match="smaller than the crop size"):
        TenCrop(resize_short=12, img_size=16)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two train videos of 3 and 2 clips, one test video of 3: 8-frame snippets every 8 frames."""
    root = tmp_path_factory.mktemp("crops")
    rows = []
    for i, (split, category, n) in enumerate([("train", "Normal", 24), ("train", "Fighting", 20), ("test", "Fighting", 24)]):
        path = write_video(root / f"v{i}.mp4", (barcode_frame(k, WIDTH, HEIGHT, category, i) for k in range(n)))
        rows += clip_rows(path, split, category, n, clip_len=CLIP_LEN, stride=CLIP_LEN)
    return write_index(root / "index_clips.csv", rows)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "r3d_18.pth"
    torch.save(torchvision.models.video.r3d_18().state_dict(), path)
    return path


def predict_args(index, weights, out, *extra: str) -> list[str]:
    return ["predict", "--data.index_path", str(index), "--data.img_size", str(IMG), "--data.frames", str(T),
            "--data.splits", "[train, test]", "--data.crops", "10", "--data.resize_short", str(SHORT),
            "--data.batch_size", "2",
            "--data.num_workers", "0", "--model.encoder", "r3d_18", "--model.weights", str(weights),
            "--writer.output_dir", str(out), "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false", *extra]


@pytest.fixture(scope="module")
def run(dataset, weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("ten_crop_run")
    main(predict_args(dataset, weights, out))
    return out


def reference_ten_crop_embeddings(index, weights, split: str) -> np.ndarray:
    """Decode every frame with OpenCV, RGB, resize the shorter side to 24 (32 x 24), torchvision
    TenCrop, normalize, r3d_18 with head = Identity: (rows, 10, 512) float32."""
    model = torchvision.models.video.r3d_18()
    model.load_state_dict(torch.load(weights))
    model.fc = torch.nn.Identity()
    model.eval()
    rows = split_rows(load_index(index), split)
    out = []
    for row in rows.itertuples():
        capture = cv2.VideoCapture(row.path)
        frames = []
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (32, 24), interpolation=cv2.INTER_LINEAR)
            frames.append(torch.from_numpy(rgb).permute(2, 0, 1))  # C H W
        capture.release()
        sampled = [TorchTenCrop(IMG)(frames[k]) for k in uniform_sample_indices(row.start_frame, row.end_frame, T)]
        clips = torch.stack([torch.stack([crops[c] for crops in sampled], dim=1) for c in range(10)])  # 10 C T H W
        x = (clips.double() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1, 1)
        with torch.no_grad():
            out.append(model(x.float()).numpy())
    return np.stack(out)


@pytest.mark.parametrize("split", ["train", "test"])
def test_ten_crop_rows_equal_torchvision_tencrop_and_model_forward(dataset, weights, run, split):
    expected = reference_ten_crop_embeddings(dataset, weights, split)
    written = np.load(run / f"emb_r3d_18_{split}.npy")
    assert written.dtype == np.float16 and written.shape == expected.shape == (len(expected), 10, 512)
    np.testing.assert_allclose(written.astype(np.float32), expected, rtol=2e-3, atol=2e-3)
    assert np.abs(written[:, 0] - written[:, 5]).max() > 0  # a crop and its flip differ: the crops are distinct


def test_manifest_records_crops_and_inspect_accepts_3d_files(run):
    manifest = json.loads((run / "manifest_r3d_18.json").read_text())
    assert (manifest["crops"], manifest["resize_short"], manifest["img_size"]) == (10, SHORT, IMG)
    report = inspect_manifest(run / "manifest_r3d_18.json")
    assert report.ok, report.problems
    assert [s.shape for s in report.splits] == [(5, 10, 512), (3, 10, 512)]


def test_ten_crop_run_resumes_rows_not_done(dataset, weights, run, tmp_path):
    out = tmp_path / "resumed"
    out.mkdir()
    for file in run.iterdir():
        (out / file.name).write_bytes(file.read_bytes())
    (out / "manifest_r3d_18.json").unlink()
    embeddings = np.load(out / "emb_r3d_18_train.npy", mmap_mode="r+")
    done = np.load(out / "done_r3d_18_train.npy", mmap_mode="r+")
    embeddings[1:4], done[1:4] = 0, 0  # rows 1-3 lost: they span both train videos
    embeddings.flush(), done.flush()
    del embeddings, done
    main(predict_args(dataset, weights, out))
    np.testing.assert_allclose(np.load(out / "emb_r3d_18_train.npy").astype(np.float32),
                               np.load(run / "emb_r3d_18_train.npy").astype(np.float32), rtol=2e-3, atol=2e-3)
    assert json.loads((out / "manifest_r3d_18.json").read_text())["rows_computed"] == 3


def test_probe_reads_a_ten_crop_row_as_the_mean_of_its_crops():
    x = np.random.default_rng(5).normal(size=(12, 10, 6)).astype(np.float16)
    averaged = x.astype(np.float64).mean(axis=1)
    mean, std = standardization(x, chunk_rows=5)
    np.testing.assert_allclose(mean, averaged.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, averaged.std(0), rtol=1e-5)
    batch, _ = EmbeddingBatches(x, np.zeros(12, np.int64), mean, std)[[3, 7, 8]]
    np.testing.assert_allclose(batch.numpy(), (averaged[[3, 7, 8]] - averaged.mean(0)) / averaged.std(0), rtol=1e-4, atol=1e-4)
