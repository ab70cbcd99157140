"""Five and ten crops (``--data.crops 5`` / ``10``) and the centre crop (``--data.crops 1 --data.crop_order
centre``): their geometry options, and the device path's crops.

Geometry is checked against boxes worked out by hand (and against the I3D extractor's hard-coded
slices, rewritten here from its description) on frames whose pixels hold their own coordinates;
the device path against the CPU (``exact``) crops of the same geometry, on frames whose every crop
differs from every other (ramps across and down), so a swapped or mirrored crop fails. The centre
crop of both paths is checked against frames decoded, resized and sliced here with cv2 (barcode
frames: each frame shows its own index, so a wrong frame fails too).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from conftest import clip_rows, write_index
from lit_extract.decode.crops import CropGeometry, TenCrop, crop_boxes, parse_size
from lit_extract.extract.data import ClipDataModule
from lit_extract.commands.demo import write_video
from lit_extract.errors import LitExtractError
from lit_extract.extract.module import FrozenVideoEncoder

WIDTH, HEIGHT, N_FRAMES = 64, 48, 24
TL, TR, BL, BR, C = "tl", "tr", "bl", "br", "c"


def coordinate_frame(height: int, width: int) -> np.ndarray:
    """(H, W, 2) float32 frame whose pixel (y, x) holds (y, x) (cv2.resize keeps it at its own size)."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([ys, xs], axis=-1).astype(np.float32)


def hand_boxes_340x256() -> dict[str, tuple[int, int]]:
    """(top, left) of the five 224 crops of a 340 x 256 frame: corners at rows 0 / 32, cols 0 / 116,
    the centre at rows 16:240, cols 58:282 (the I3D extractor's hard-coded box)."""
    return {TL: (0, 0), TR: (0, 116), BL: (32, 0), BR: (32, 116), C: (16, 58)}


@pytest.mark.parametrize("order,names", [
    ("torchvision", [TL, TR, BL, BR, C]),
    ("i3d_extractor", [TL, TR, C, BL, BR]),
    ("centre_first", [C, TL, TR, BL, BR]),
])
@pytest.mark.parametrize("crops", [5, 10])
def test_crop_boxes_of_each_order_by_hand(order, names, crops):
    boxes = hand_boxes_340x256()
    expected = [(*boxes[n], False) for n in names] + ([(*boxes[n], True) for n in names] if crops == 10 else [])
    assert crop_boxes(256, 340, 224, crops, order) == expected


def test_fixed_resize_crops_equal_the_i3d_extractors_slices():
    # A 340 x 256 frame (the extractor's size): its ten crops, as that extractor slices them
    # (corners by [:224] / [-224:], the centre by [16:240, 58:282], then the mirrored frame's).
    frame = coordinate_frame(256, 340)
    mirrored = frame[:, ::-1]
    slices = lambda f: [f[:224, :224], f[:224, -224:], f[16:240, 58:282], f[-224:, :224], f[-224:, -224:]]  # noqa: E731
    expected = np.stack(slices(frame) + slices(mirrored))
    got = CropGeometry(10, 224, resize=(340, 256), order="i3d_extractor")(frame)
    np.testing.assert_array_equal(got, expected)
    assert tuple(got[5, 0, 0]) == (0, 339)  # the mirrored frame's top-left = the frame's top-right, reversed


def test_fixed_resize_is_width_by_height_with_cv2_inter_linear():
    frame = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    resized = cv2.resize(frame, (40, 30), interpolation=cv2.INTER_LINEAR)  # 40 wide, 30 high
    got = CropGeometry(5, 16, resize=(40, 30), order="torchvision")(frame)
    np.testing.assert_array_equal(got[0], resized[:16, :16])
    np.testing.assert_array_equal(got[3], resized[14:30, 24:40])  # bottom-right
    np.testing.assert_array_equal(got[4], resized[7:23, 12:28])  # centre: round(14 / 2), round(24 / 2)


def test_ten_crops_in_torchvision_order_are_the_ten_crop_of_today_bit_for_bit():
    frame = np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    np.testing.assert_array_equal(CropGeometry(10, 16, resize_short=24)(frame), TenCrop(24, 16)(frame))


def test_resize_parses_width_x_height_and_refuses_anything_else():
    assert parse_size("340x256") == (340, 256)
    for bad in ("340", "340x", "x256", "340x256x3", "-1x256", "axb"):
        with pytest.raises(ValueError):
            parse_size(bad)


@pytest.mark.parametrize("options,message", [
    ({"crops": 5, "resize": "340by256"}, "--data.resize"),
    ({"crops": 10, "resize": "20x12"}, "must be >= --data.img_size"),
    ({"crops": 1, "resize": "340x256"}, "--data.crops 5 or 10"),
    ({"crops": 1, "crop_order": "i3d_extractor"}, "--data.crops 5 or 10"),
    ({"crops": 10, "crop_order": "random"}, "--data.crop_order"),
    ({"crops": 3}, "--data.crops"),
    ({"crops": 5, "crop_order": "centre"}, "use it with --data.crops 1"),
    ({"crops": 1, "resize_short": 12, "crop_order": "centre"}, "--data.resize_short"),
])
def test_bad_geometry_flags_are_refused_naming_the_flag(options, message):
    with pytest.raises(LitExtractError, match=message):
        ClipDataModule("index.csv", img_size=16, **options)


def ramp_frame(k: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """RGB frame ``k``: red rises left to right, green top to bottom, blue with ``k``; no two crops alike."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs * 255 // (width - 1), ys * 255 // (height - 1), np.full_like(xs, 8 * k)], -1).astype(np.uint8)


@pytest.fixture(scope="module")
def ramp_videos(tmp_path_factory):
    """A 64x48 and a 48x64 ramp video (landscape and portrait), 24 frames, 8-frame snippets."""
    root = tmp_path_factory.mktemp("ramps")
    rows = []
    for i, (width, height) in enumerate([(WIDTH, HEIGHT), (HEIGHT, WIDTH)]):
        path = write_video(root / f"r{i}.mp4", (ramp_frame(k, width, height) for k in range(N_FRAMES)))
        rows += clip_rows(path, "test", "Fighting", N_FRAMES, clip_len=8, stride=8)
    return write_index(root / "index.csv", rows)


def clips_by_row(index, transform: str, decoder: str = "opencv", **geometry) -> dict[int, torch.Tensor]:
    """Each row's uint8 clips (crops, C, T, H, W): the exact path's batches, or the device path's
    after the data module's on-device hook (as the trainer calls it)."""
    data = ClipDataModule(str(index), splits=["test"], frames=4, img_size=16, batch_size=4, num_workers=0,
                          transform=transform, decoder=decoder, **geometry)
    data.setup("predict")
    clips = {}
    for batch in data.predict_dataloader()[0]:
        if transform == "device":
            assert "frames" in batch and "clips" not in batch  # the workers ship native frames only
            batch = data.on_after_batch_transfer(batch, 0)
        clips.update(zip(batch["rows"].tolist(), batch["clips"]))
    return clips


GEOMETRIES = [
    {"crops": 10, "resize_short": 24},  # torchvision order, shorter side
    {"crops": 10, "resize": "40x30", "crop_order": "i3d_extractor"},
    {"crops": 5, "resize_short": 20},  # auto: centre first
    {"crops": 5, "resize": "36x28", "crop_order": "torchvision"},
]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: "-".join(f"{v}" for v in g.values()))
def test_device_crops_are_the_exact_crops_within_rounding(ramp_videos, geometry):
    exact, device = clips_by_row(ramp_videos, "exact", **geometry), clips_by_row(ramp_videos, "device", **geometry)
    assert exact.keys() == device.keys()
    crops = geometry["crops"]
    for row, expected in exact.items():
        got = device[row]
        assert got.dtype == torch.uint8 and got.shape == expected.shape == (crops, 3, 4, 16, 16)
        difference = (got.float() - expected.float()).abs()
        assert difference.max() <= 2 and difference.mean() < 0.25, (row, float(difference.max()))
        # each device crop is nearest to the exact crop of its own index: none swapped or mirrored
        distance = (got.float()[:, None] - expected.float()[None]).abs().flatten(2).mean(-1)  # crops x crops
        assert distance.argmin(dim=1).tolist() == list(range(crops)), row


def test_pyav_device_crops_from_yuv_planes_are_those_of_rgb_frames(ramp_videos):
    pytest.importorskip("av")
    geometry = {"crops": 10, "resize": "40x30", "crop_order": "i3d_extractor"}
    rgb = clips_by_row(ramp_videos, "device", **geometry)
    yuv = clips_by_row(ramp_videos, "device", decoder="pyav", **geometry)
    assert yuv.keys() == rgb.keys()
    for row, clip in yuv.items():
        assert torch.equal(clip, rgb[row]), row


# The tolerance against exact, per encoder family (a model of each that exists on this branch; the
# families added with the VAD encoders join when they are here: skipped until then).
CROP_ENCODERS = {"r3d_18": (8, 32), "swin3d_t": (8, 32), "i3d_r50": (16, 64), "i3d_inception": (16, 224),
                 "timm:vit_base_patch16_clip_quickgelu_224.openai": (2, 224)}


@pytest.mark.parametrize("encoder", list(CROP_ENCODERS))
def test_device_crop_embeddings_within_one_percent_of_the_exact_path(ramp_videos, encoder, tmp_path):
    import pandas as pd

    from lit_extract.encoders import check_clip

    frames, img_size = CROP_ENCODERS[encoder]
    try:
        check_clip(encoder, frames=frames, img_size=img_size)
    except LitExtractError as exc:
        pytest.skip(f"{encoder} not on this branch ({exc})")
    index = tmp_path / "one.csv"
    pd.read_csv(ramp_videos).iloc[:1].to_csv(index, index=False)  # one snippet: big encoders are slow on a CPU
    torch.manual_seed(0)
    model = FrozenVideoEncoder(encoder, weights="none", frames=frames, img_size=img_size)
    embeddings = {}
    for transform in ("exact", "device"):
        data = ClipDataModule(str(index), splits=["test"], frames=frames, img_size=img_size, num_workers=0,
                              transform=transform, crops=5, resize=f"{img_size + 8}x{img_size + 4}")
        data.setup("predict")
        (batch,) = data.predict_dataloader()[0]
        with torch.inference_mode():
            embeddings[transform] = model.predict_step(data.on_after_batch_transfer(batch, 0), 0)[0]  # crops D
    expected, got = embeddings["exact"], embeddings["device"]
    assert got.shape == expected.shape == (5, model.embedding_dim)
    relative = (got - expected).norm(dim=1) / expected.norm(dim=1)  # per crop
    assert float(relative.max()) < 0.01, (encoder, relative.tolist())


def test_run_records_older_than_the_geometry_options_still_match_their_runs():
    from pathlib import Path

    from lit_extract.store.layout import RunRecord, differences

    base = {"encoder": "r3d_18", "index": {"sha256": "abc"}, "frames": 8, "img_size": 16}
    now_one = {**base, "transform": "exact", "crops": 1, "resize_short": None, "resize": None, "crop_order": None}
    now_ten = {**now_one, "crops": 10, "resize_short": 24, "crop_order": "torchvision"}
    before_crops = RunRecord(Path("run_r3d_18.json"), dict(base), {})  # written before --data.crops existed
    before_geometry = RunRecord(Path("run_r3d_18.json"), {**base, "crops": 10, "resize_short": 24}, {})
    assert differences(before_crops, now_one) == []
    assert differences(before_geometry, now_ten) == []  # ten crops were in torchvision order
    assert differences(before_geometry, {**now_ten, "crop_order": "i3d_extractor"}) == [
        "crop_order: 'torchvision' there, 'i3d_extractor' now"]
    assert differences(before_geometry, {**now_ten, "resize": "40x30", "resize_short": None}) == [
        "resize_short: 24 there, None now", "resize: None there, '40x30' now"]


def test_predict_on_the_device_path_writes_the_rows_of_the_exact_path_within_one_percent(ramp_videos, tmp_path):
    from lit_extract.commands.cli import main

    rows = {}
    for transform in ("exact", "device"):
        out = tmp_path / transform
        main(["predict", "--data.index_path", str(ramp_videos), "--data.splits", "[test]", "--data.frames", "4",
              "--data.img_size", "32", "--data.crops", "10", "--data.resize", "48x40", "--data.crop_order",
              "i3d_extractor", "--data.transform", transform, "--data.num_workers", "0", "--model.encoder", "r3d_18",
              "--model.weights", "none", "--writer.output_dir", str(out), "--trainer.accelerator", "cpu",
              "--trainer.enable_progress_bar", "false"])
        rows[transform] = np.load(out / "emb_r3d_18_test.npy").astype(np.float32)  # rows 10 D
    expected, got = rows["exact"], rows["device"]
    assert got.shape == expected.shape == (6, 10, 512)
    relative = np.linalg.norm(got - expected, axis=-1) / np.linalg.norm(expected, axis=-1)  # rows 10
    assert relative.max() < 0.01, relative.max()


# --- one centre crop (--data.crops 1 --data.crop_order centre) ------------------------------------

CENTRE_FRAMES, CENTRE_SIZE = 16, 32  # two 8-frame rows, every frame sampled; 32 x 32 crops
CENTRE_CASES = {  # geometry flags -> (resized width, height), centre box (top, left): worked out by hand
    "short-side-40": ({"resize_short": 40}, (53, 40), (4, 10)),  # 80x60 -> 53.3 -> 53 wide; (53-32)/2 = 10.5 -> 10
    "resize-56x44": ({"resize": "56x44"}, (56, 44), (6, 12)),
}


@pytest.fixture(scope="module")
def barcode_video(tmp_path_factory):
    """An 80 x 60 barcode video of 16 frames (frame k shows k), two 8-frame rows; (index, video)."""
    from lit_extract.commands.demo import barcode_frame

    root = tmp_path_factory.mktemp("centre")
    path = write_video(root / "v.mp4", (barcode_frame(k, 80, 60, "Fighting", 2) for k in range(CENTRE_FRAMES)))
    return write_index(root / "index.csv", clip_rows(path, "test", "Fighting", CENTRE_FRAMES, 8, 8)), path


def hand_centre_clips(video, size: tuple[int, int], box: tuple[int, int]) -> dict[int, torch.Tensor]:
    """Each row's expected clip uint8 (3, 8, 32, 32): the video decoded by cv2, each frame resized to
    ``size`` (width, height) with INTER_LINEAR, rows top:top+32 and cols left:left+32 cut, BGR -> RGB."""
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        top, left = box
        crop = cv2.resize(bgr, size, interpolation=cv2.INTER_LINEAR)[top : top + CENTRE_SIZE, left : left + CENTRE_SIZE]
        frames.append(crop[:, :, ::-1])  # RGB
    assert len(frames) == CENTRE_FRAMES
    clip = lambda first: torch.from_numpy(np.stack(frames[first : first + 8]).transpose(3, 0, 1, 2).copy())  # noqa: E731
    return {0: clip(0), 1: clip(8)}  # T H W C -> C T H W


def centre_clips(index, transform: str, flags: dict) -> dict[int, torch.Tensor]:
    data = ClipDataModule(str(index), splits=["test"], frames=8, img_size=CENTRE_SIZE, batch_size=4, num_workers=0,
                          transform=transform, crops=1, crop_order="centre", **flags)
    data.setup("predict")
    clips = {}
    for batch in data.predict_dataloader()[0]:
        batch = data.on_after_batch_transfer(batch, 0) if transform == "device" else batch
        clips.update(zip(batch["rows"].tolist(), batch["clips"]))
    return clips


@pytest.mark.parametrize("case", list(CENTRE_CASES))
def test_centre_crop_of_the_exact_path_is_cv2_resize_then_the_centre_box(barcode_video, case):
    flags, size, box = CENTRE_CASES[case]
    index, video = barcode_video
    got, expected = centre_clips(index, "exact", flags), hand_centre_clips(video, size, box)
    assert got.keys() == expected.keys()
    for row, clip in expected.items():
        assert got[row].shape == (3, 8, CENTRE_SIZE, CENTRE_SIZE)  # one crop: no crops axis
        assert torch.equal(got[row], clip), row


@pytest.mark.parametrize("case", list(CENTRE_CASES))
def test_centre_crop_of_the_device_path_is_the_hand_cut_crop_within_rounding(barcode_video, case):
    flags, size, box = CENTRE_CASES[case]
    index, video = barcode_video
    got, expected = centre_clips(index, "device", flags), hand_centre_clips(video, size, box)
    assert got.keys() == expected.keys()
    for row, clip in expected.items():
        assert got[row].dtype == torch.uint8 and got[row].shape == (3, 8, CENTRE_SIZE, CENTRE_SIZE)
        difference = (got[row].float() - clip.float()).abs()
        assert difference.max() <= 2 and difference.mean() < 0.25, (row, float(difference.max()))


def test_centre_crop_box_is_the_five_crops_centre():
    assert crop_boxes(256, 340, 224, 1, "centre") == [(16, 58, False)]  # the I3D extractor's centre box
    assert CropGeometry(1, 224, order="centre").boxes(240, 320) == [(16, 58, False)]  # 320x240 -> 341x256
