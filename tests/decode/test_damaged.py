"""Damaged videos: a few garbage bytes mid-file cost only the frames they hit, never a frame's identity.

Each test video's frame ``k`` shows ``k`` as a barcode, so every decoded frame proves which frame it
is (``read_barcode``, independent of lit_extract). Damage is made by overwriting bytes inside
the file's ``mdat`` box (the frame data; container and index intact), at seeded offsets (``conftest.damage``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import clip_rows, damage, read_barcode, write_index
from lit_extract.commands.cli import main
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.decode.video import STATUS_OK, STATUS_REPEATED, STATUS_UNREADABLE, DecodeLog, VideoOutcome, sample_frame_ids, decode_clip_frames, iter_frames_opencv, iter_frames_pyav
from lit_extract.decode.yuv import Yuv420Frame, yuv420_to_rgb

N_FRAMES = 650  # 39 clips of 32 frames, stride 16: one lost 32-frame GOP touches at most 4 of them
FRAMES = 8  # sampled per clip


@pytest.fixture(scope="module")
def clean_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged")
    return {codec: write_video(root / f"{codec}.mp4", (barcode_frame(k, 160, 120, "Normal", 3) for k in range(N_FRAMES)), codec=codec)
            for codec in ("h264", "mp4v")}


def clip_frame_ids() -> list[np.ndarray]:
    return [s + np.linspace(0, 31, FRAMES).round().astype(np.int64) for s in range(0, N_FRAMES - 32 + 1, 16)]


@pytest.mark.parametrize("codec", ["h264", "mp4v"])
@pytest.mark.parametrize("reader", [iter_frames_opencv, iter_frames_pyav], ids=["opencv", "pyav"])
def test_frame_ids_from_counting_and_from_timestamps_agree_on_clean_files(clean_videos, codec, reader):
    got = [(k, read_barcode(np.ascontiguousarray(frame[:, :, ::-1]))) for k, frame in reader(str(clean_videos[codec]), set(range(N_FRAMES)), N_FRAMES - 1, None)]
    assert got == [(k, k) for k in range(N_FRAMES)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("codec", ["h264", "mp4v"])
@pytest.mark.parametrize("decoder", ["opencv", "pyav"])
def test_damaged_video_keeps_most_clips_exact_and_no_frame_silently_wrong(clean_videos, codec, decoder, seed):
    path = damage(clean_videos[codec], seed)
    ids = clip_frame_ids()
    outcome = VideoOutcome(str(path))
    clips = {i: (frames, status) for i, frames, status in decode_clip_frames(str(path), ids, 32, decoder, outcome, native=True)}
    statuses = [clips[i][1] for i in range(len(ids))]
    assert statuses.count(STATUS_OK) >= 0.8 * len(ids), statuses
    lost_ids = {k for a, b in outcome.lost for k in range(a, b + 1)}
    for i, frame_ids in enumerate(ids):
        frames, status = clips[i]
        shown = [read_barcode(np.ascontiguousarray(frame[:, :, ::-1])) for frame in frames]
        if status == STATUS_OK:
            assert shown == frame_ids.tolist(), (i, shown)
            continue
        if status == STATUS_UNREADABLE:  # a lost keyframe can take a whole clip's frames with it
            assert set(frame_ids.tolist()) <= lost_ids and not any(frame.any() for frame in frames)
            continue
        assert status == STATUS_REPEATED
        # status 1: each frame is its own, or repeats the clip's last frame that was its own
        last_good = None
        for k, seen in zip(frame_ids.tolist(), shown):
            if seen == k:
                last_good = k
            else:
                assert seen == last_good or (last_good is None and seen == 0), (i, shown)
        assert shown != frame_ids.tolist()  # something was really lost...
        assert {k for k, seen in zip(frame_ids.tolist(), shown) if seen != k} <= lost_ids  # ...and reported


def test_skipping_unsampled_frames_reports_each_damage_as_one_range_covering_what_a_full_decode_loses(clean_videos):
    wanted = {int(k) for frame_ids in clip_frame_ids() for k in frame_ids}
    for seed in range(6):
        path = str(damage(clean_videos["h264"], seed))
        ranges = {}
        for skip in (True, False):
            log = DecodeLog()
            for _ in iter_frames_pyav(path, wanted, N_FRAMES - 1, None, log=log, skip_unsampled=skip):
                pass
            ranges[skip] = log.lost
        lost = {skip: {k for a, b in r for k in range(a, b + 1)} for skip, r in ranges.items()}
        assert lost[True] >= lost[False], (seed, ranges)  # every frame a full decode loses is reported
        assert len(ranges[True]) == len(ranges[False]), (seed, ranges)  # no holes at skipped frames


def test_damaged_video_as_yuv_planes_converts_to_the_rgb_frames_clip_by_clip(clean_videos):
    path = str(damage(clean_videos["h264"], 0))
    ids = clip_frame_ids()
    rgb = list(decode_clip_frames(path, ids, 32, "pyav", native=True))
    yuv = list(decode_clip_frames(path, ids, 32, "pyav", native=True, yuv=True))
    assert [(i, status) for i, _, status in yuv] == [(i, status) for i, _, status in rgb]
    assert any(status != STATUS_OK for _, _, status in rgb)  # the damage shows: zeros and repeats are mixed in
    for (i, frames, _), (_, expected, _) in zip(yuv, rgb):
        assert any(isinstance(frame, Yuv420Frame) for frame in frames) or not any(f.any() for f in expected)
        for frame, bgr in zip(frames, expected):
            if isinstance(frame, Yuv420Frame):
                out = np.empty(frame.nbytes, np.uint8)
                frame.write(out)
                frame = yuv420_to_rgb(torch.from_numpy(out)[None], *frame.shape, frame.code)[0].permute(1, 2, 0).numpy()[:, :, ::-1]
            np.testing.assert_array_equal(frame, bgr, err_msg=f"clip {i}")


def predict_args(index: Path, out: Path, *extra: str) -> list[str]:
    return ["predict", "--data.index_path", str(index), "--data.img_size", "32", "--data.frames", "8",
            "--data.batch_size", "4", "--data.num_workers", "0", "--data.splits", "[test]",
            "--model.encoder", "r3d_18", "--model.weights", "none", "--writer.output_dir", str(out),
            "--writer.flush_interval_s", "0", "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false", *extra]


@pytest.fixture(scope="module")
def damaged_run(clean_videos, tmp_path_factory):
    """A damaged H.264 video and a short clean mp4v video in the test split, extracted in one process;
    also the frame ranges a reader loses of the damaged video."""
    root = tmp_path_factory.mktemp("damaged_run")
    damaged = damage(clean_videos["h264"], 0)
    rows = clip_rows(damaged, "test", "Fighting", N_FRAMES) + clip_rows(clean_videos["mp4v"], "test", "Normal", 64)
    index = write_index(root / "index.csv", rows)
    outcome = VideoOutcome(str(damaged))  # what the reader loses of it, for the clips of the index
    ids = [sample_frame_ids(r["start_frame"], r["end_frame"], FRAMES) for r in rows if r["path"] == str(damaged)]
    for _ in decode_clip_frames(str(damaged), ids, 32, "opencv", outcome):
        pass
    assert outcome.lost
    out = root / "single"
    main(predict_args(index, out))
    return index, damaged, outcome.lost, out


def manifest_of(out: Path) -> dict:
    return json.loads((out / "manifest_r3d_18.json").read_text())


def test_damaged_video_warning_names_the_lost_frames_and_the_manifest_lists_them(damaged_run, capfd, tmp_path):
    index, damaged, lost, _ = damaged_run
    main(predict_args(index, tmp_path / "out"))
    warnings = [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and str(damaged) in warnings[0]
    assert f"frames {lost[0][0]}-{lost[0][1]} lost" in warnings[0]
    test = manifest_of(tmp_path / "out")["splits"]["test"]
    assert test["lost_frames"] == {str(damaged): lost}


def test_damaged_video_in_a_ddp_run_gives_the_same_rows_and_lost_frames(damaged_run, tmp_path):
    index, damaged, lost, single = damaged_run
    out = tmp_path / "ddp"
    result = subprocess.run([sys.executable, "-m", "lit_extract", *predict_args(
        index, out, "--trainer.devices", "2", "--trainer.strategy", "ddp")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(np.load(out / "status_test.npy"), np.load(single / "status_test.npy"))
    np.testing.assert_allclose(np.load(out / "emb_r3d_18_test.npy").astype(np.float32),
                               np.load(single / "emb_r3d_18_test.npy").astype(np.float32), rtol=2e-3, atol=2e-3)
    assert manifest_of(out)["splits"]["test"]["lost_frames"] == {str(damaged): lost}


def test_damaged_video_in_a_resumed_run_gives_the_same_rows_and_lost_frames(damaged_run, tmp_path):
    index, damaged, lost, single = damaged_run
    out = tmp_path / "resumed"
    main(predict_args(index, out))
    # As if killed after the damaged video's first clips were done: later rows not done, and
    # (flushed before done) no record of lost frames beyond what the done rows brought.
    done = np.load(out / "done_r3d_18_test.npy")
    done[6:] = 0
    np.save(out / "done_r3d_18_test.npy", done)
    for record in out.glob("lost_frames_test.*.jsonl"):
        record.unlink()
    (out / "manifest_r3d_18.json").unlink()
    main(predict_args(index, out))
    np.testing.assert_array_equal(np.load(out / "status_test.npy"), np.load(single / "status_test.npy"))
    np.testing.assert_array_equal(np.load(out / "done_r3d_18_test.npy"), 1)
    assert manifest_of(out)["splits"]["test"]["lost_frames"] == {str(damaged): lost}
    assert manifest_of(out)["rows_computed"] == len(done) - 6
