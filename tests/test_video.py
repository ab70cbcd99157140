"""Frame sampling and exact, single-pass decoding (lit_extract.video)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from conftest import read_barcode
from lit_extract.reference import uniform_sample_indices
from lit_extract.video import STATUS_OK, STATUS_REPEATED, STATUS_UNREADABLE, VideoOutcome, decode_clips, frame_at, sample_frame_ids


@pytest.mark.parametrize("start,end,frames", [(0, 32, 8), (16, 48, 8), (5, 6, 8), (0, 3, 8), (100, 164, 16), (0, 32, 1)])
def test_sample_frame_ids_match_the_notebook(start, end, frames):
    assert sample_frame_ids(start, end, frames).tolist() == uniform_sample_indices(start, end, frames).tolist()


def test_sample_frame_ids_of_a_32_frame_clip():
    assert sample_frame_ids(16, 48, 8).tolist() == [16, 20, 25, 29, 34, 38, 43, 47]


@pytest.mark.parametrize("codec", ["mp4v", "h264"])
def test_decoded_frames_are_the_sampled_frames(make_video, codec):
    path = make_video(f"barcode.{codec}.mp4", 200, codec=codec)
    clips = [sample_frame_ids(s, s + 32, 8) for s in range(0, 200 - 32 + 1, 16)]
    seen = {}
    for i, frames, status in decode_clips(str(path), clips, 64):
        assert status == STATUS_OK
        seen[i] = [read_barcode(frame) for frame in frames]
    assert seen == {i: ids.tolist() for i, ids in enumerate(clips)}


def test_clips_past_the_end_repeat_the_last_good_frame(make_video):
    path = make_video("short.mp4", 40)
    clips = [sample_frame_ids(16, 48, 8), sample_frame_ids(48, 80, 8)]  # the video ends at frame 39
    outcome = VideoOutcome(str(path))
    out = {i: (frames, status) for i, frames, status in decode_clips(str(path), clips, 64, outcome=outcome)}
    frames, status = out[0]
    assert status == STATUS_REPEATED
    assert [read_barcode(f) for f in frames] == [16, 20, 25, 29, 34, 38, 38, 38]
    frames, status = out[1]
    assert status == STATUS_UNREADABLE and not frames.any()
    assert outcome.clips_repeated == 1 and outcome.clips_unreadable == 1


def test_unreadable_file_gives_zero_clips(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 10)
    outcome = VideoOutcome(str(broken))
    out = list(decode_clips(str(broken), [sample_frame_ids(0, 32, 8)], 32, outcome=outcome))
    assert len(out) == 1 and out[0][2] == STATUS_UNREADABLE and not out[0][1].any()
    assert outcome.unreadable


def test_pyav_decoder_reads_the_same_frames(make_video):
    path = make_video("pyav.mp4", 120, codec="h264")
    clips = [sample_frame_ids(s, s + 32, 8) for s in range(0, 120 - 32 + 1, 16)]
    for i, frames, status in decode_clips(str(path), clips, 64, decoder="pyav"):
        assert status == STATUS_OK
        assert [read_barcode(f) for f in frames] == clips[i].tolist()


def test_frame_at_rounds_timestamps_to_frames_as_round_of_the_fraction_does():
    rng = np.random.default_rng(0)
    rates = [Fraction(1, 512) * Fraction(30000, 1001), Fraction(1, 2), Fraction(3, 2), Fraction(1, 15360) * 30]
    for to_frames in rates:
        for ticks in [*range(-40, 40), *rng.integers(-10**6, 10**9, 200).tolist()]:
            assert frame_at(ticks, to_frames) == round(ticks * to_frames), (ticks, to_frames)
