"""--data.transform device: frames shipped at native size and resized on the device (lit_extract.decode.device_transform)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from conftest import clip_rows, read_barcode, write_index
from lit_extract.commands.cli import main
from lit_extract.extract.data import ClipDataModule
from lit_extract.decode.device_transform import clips_from_native, resize_bilinear
from lit_extract.encoders import encoder_names
from lit_extract.extract.module import FrozenVideoEncoder
from lit_extract.decode.video import sample_frame_ids, write_native_clip
from lit_extract.decode.yuv import Yuv420Frame, planes_bytes

# the smallest clip each encoder takes (mvit: its fixed grid; s3d: its minimum)
CLIP_SIZE = {"mvit_v1_b": (16, 224), "mvit_v2_s": (16, 224), "s3d": (13, 209), "i3d_inception": (9, 193)}


def batches(index, transform: str, frames: int, img_size: int, batch_size: int = 4, decoder: str = "opencv",
            num_workers: int = 0) -> list[dict]:
    data = ClipDataModule(str(index), splits=["test"], frames=frames, img_size=img_size, batch_size=batch_size,
                          num_workers=num_workers, transform=transform, decoder=decoder)
    data.setup("predict")
    return list(data.predict_dataloader()[0])


@pytest.fixture(scope="module")
def videos_of_two_sizes(tmp_path_factory):
    """A 320x240 and a 176x144 barcode video (UCF-Crime's size and another), two clips each, in one split."""
    from lit_extract.commands.demo import barcode_frame, write_video

    root = tmp_path_factory.mktemp("device")
    rows = []
    for i, (width, height) in enumerate([(320, 240), (176, 144)]):
        path = write_video(root / f"v{i}.mp4", (barcode_frame(k, width, height, "Fighting", i) for k in range(48)))
        rows += clip_rows(path, "test", "Fighting", 48)
    return write_index(root / "index.csv", rows)


def test_resize_matches_cv2_inter_linear_within_one_grey_level():
    rng = np.random.default_rng(0)
    for height, width, size in [(240, 320, 224), (144, 176, 32), (120, 160, 209), (7, 5, 3)]:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        expected = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        got = resize_bilinear(torch.from_numpy(image).permute(2, 0, 1)[None].float(), size)[0].permute(1, 2, 0).numpy()
        assert np.abs(got - expected).max() <= 1


def test_device_clips_carry_the_sampled_frames_of_videos_of_two_sizes_in_one_batch(videos_of_two_sizes):
    (batch,) = batches(videos_of_two_sizes, "device", frames=8, img_size=64)
    assert sorted(map(tuple, batch["sizes"].tolist())) == [(144, 176)] * 2 + [(240, 320)] * 2
    clips = clips_from_native(batch["frames"], batch["sizes"], 64).round().to(torch.uint8)  # B C T H W
    for clip, row in zip(clips, batch["rows"].tolist()):
        start = 16 * (row % 2)
        read = [read_barcode(clip[:, t].permute(1, 2, 0).numpy()) for t in range(8)]
        assert read == sample_frame_ids(start, start + 32, 8).tolist()


def test_device_clips_are_the_exact_clips_within_rounding(videos_of_two_sizes):
    (exact,), (device,) = batches(videos_of_two_sizes, "exact", 8, 64), batches(videos_of_two_sizes, "device", 8, 64)
    order_e, order_d = exact["rows"].argsort(), device["rows"].argsort()
    resized = clips_from_native(device["frames"], device["sizes"], 64)[order_d]
    difference = (resized - exact["clips"][order_e].float()).abs()
    assert difference.max() <= 2 and difference.mean() < 0.25


def by_row(batch_list: list[dict], img_size: int) -> dict[int, torch.Tensor]:
    """Each row's device-path clip (B C T H W slices), from every batch."""
    clips = {}
    for batch in batch_list:
        resized = clips_from_native(batch["frames"], batch["sizes"], img_size, batch.get("colour"))
        clips.update(zip(batch["rows"].tolist(), resized))
    return clips


def test_pyav_device_batches_carry_yuv_planes_that_give_the_clips_of_rgb_frames(videos_of_two_sizes):
    rgb = by_row(batches(videos_of_two_sizes, "device", 8, 64), 64)
    yuv_batches = batches(videos_of_two_sizes, "device", 8, 64, batch_size=2, decoder="pyav", num_workers=2)
    for batch in yuv_batches:  # half the bytes of R, G, B planes: the planes of the decoder's frame
        height, width = batch["sizes"][0].tolist()
        assert batch["frames"].shape[2] == planes_bytes(height, width) == 3 * height * width // 2
        assert (batch["colour"] > 0).all()
    yuv = by_row(yuv_batches, 64)
    assert yuv.keys() == rgb.keys()
    for row, clip in yuv.items():
        assert torch.equal(clip, rgb[row]), row


def test_a_clip_mixing_yuv_planes_and_rgb_frames_converts_each_frame_by_its_code():
    av = pytest.importorskip("av")
    rng = np.random.default_rng(0)
    yuv_frames = []
    for _ in range(2):
        frame = av.VideoFrame(32, 32, "yuv420p")
        for plane in frame.planes:
            np.frombuffer(plane, np.uint8)[:] = rng.integers(0, 256, plane.buffer_size, dtype=np.uint8)
        yuv_frames.append(frame)
    bgr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    frames = [Yuv420Frame.from_av(yuv_frames[0]), np.zeros((32, 32, 3), np.uint8), bgr, Yuv420Frame.from_av(yuv_frames[1])]
    slot, colour = np.full((4, 3 * 32 * 32), 7, np.uint8), np.zeros(4, np.int64)
    write_native_clip(frames, slot, colour)  # frames of the clip's size: resizing leaves them as they are
    clip = clips_from_native(torch.from_numpy(slot)[None], torch.tensor([[32, 32]]), 32, torch.from_numpy(colour)[None])
    expected = [yuv_frames[0].to_ndarray(format="rgb24"), np.zeros((32, 32, 3)), bgr[:, :, ::-1],
                yuv_frames[1].to_ndarray(format="rgb24")]
    for t in range(4):
        np.testing.assert_array_equal(clip[0, :, t].permute(1, 2, 0).numpy(), expected[t], err_msg=f"frame {t}")


def test_pyav_device_batches_give_the_embeddings_of_rgb_frames(videos_of_two_sizes):
    torch.manual_seed(0)
    model = FrozenVideoEncoder("r3d_18", weights="none", frames=8, img_size=32)
    with torch.inference_mode():
        (rgb,), (yuv,) = (batches(videos_of_two_sizes, "device", 8, 32, decoder=d) for d in ("opencv", "pyav"))
        expected, got = model.predict_step(rgb, 0), model.predict_step(yuv, 0)
    order_rgb, order_yuv = rgb["rows"].argsort(), yuv["rows"].argsort()
    torch.testing.assert_close(got[order_yuv], expected[order_rgb], rtol=0, atol=0)


@pytest.fixture(scope="module")
def one_clip(videos_of_two_sizes, tmp_path_factory):
    """The first clip of the 320x240 video alone (the big encoders cost seconds per clip on a CPU)."""
    import pandas as pd

    index = pd.read_csv(videos_of_two_sizes).iloc[:1]
    path = tmp_path_factory.mktemp("one") / "index.csv"
    index.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("encoder", encoder_names())
def test_device_transform_embeddings_within_one_percent_of_the_exact_path(one_clip, encoder):
    frames, img_size = CLIP_SIZE.get(encoder, (8, 32))
    torch.manual_seed(0)
    model = FrozenVideoEncoder(encoder, weights="none", frames=frames, img_size=img_size)
    with torch.inference_mode():
        (exact,), (device,) = (batches(one_clip, transform, frames, img_size) for transform in ("exact", "device"))
        expected, got = model.predict_step(exact, 0)[0], model.predict_step(device, 0)[0]
    relative = float((got - expected).norm() / expected.norm())
    assert relative < 0.01, (encoder, relative)


def test_run_records_the_transform_and_a_resume_cannot_mix_them(videos_of_two_sizes, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["predict", "--data.index_path", str(videos_of_two_sizes), "--data.splits", "[test]",
            "--data.frames", "4", "--data.img_size", "32", "--data.num_workers", "0", "--model.encoder", "r3d_18",
            "--model.weights", "none", "--writer.output_dir", str(out), "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false"]
    main([*args, "--data.transform", "device"])
    assert json.loads((out / "run_r3d_18.json").read_text())["transform"] == "device"
    assert json.loads((out / "manifest_r3d_18.json").read_text())["transform"] == "device"
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--data.transform", "exact"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "holds a different r3d_18 run" in error and "transform" in error


def test_auto_is_exact_without_a_gpu(videos_of_two_sizes):
    data = ClipDataModule(str(videos_of_two_sizes), splits=["test"], num_workers=0)
    assert data.resolved_transform() == "exact"
