"""Damaged videos: a few garbage bytes mid-file cost only the frames they hit, never a frame's identity.

Each test video's frame ``k`` shows ``k`` as a barcode, so every decoded frame proves which frame it
is (``read_barcode``, independent of lit_extract). Damage is made here by overwriting bytes inside
the file's ``mdat`` box (the frame data; container and index intact), at seeded offsets.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import clip_rows, read_barcode, write_index
from lit_extract.cli import main
from lit_extract.demo import barcode_frame, write_video
from lit_extract.video import STATUS_OK, STATUS_REPEATED, STATUS_UNREADABLE, VideoOutcome, decode_clip_frames, iter_frames_opencv, iter_frames_pyav

N_FRAMES = 650  # 39 clips of 32 frames, stride 16: one lost 32-frame GOP touches at most 4 of them
FRAMES = 8  # sampled per clip


def mdat_payload(data: bytes) -> tuple[int, int]:
    """``[start, end)`` byte offsets of the top-level ``mdat`` box's payload of an MP4 file."""
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[offset + 8 : offset + 16])[0], 16
        if kind == b"mdat":
            return offset + header, offset + size
        offset += size
    raise AssertionError("no mdat box")


def damage(path: Path, seed: int, size: int = 48) -> Path:
    """Overwrite ``size`` bytes at a seeded offset in the middle half of the frame data with random bytes."""
    data = bytearray(path.read_bytes())
    start, end = mdat_payload(bytes(data))
    rng = np.random.default_rng(seed)
    offset = int(rng.integers(start + (end - start) // 4, end - (end - start) // 4))
    data[offset : offset + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    damaged = path.with_name(f"{path.stem}_damaged_{seed}.mp4")
    damaged.write_bytes(bytes(data))
    return damaged


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
