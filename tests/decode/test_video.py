"""Frame sampling and exact, single-pass decoding (lit_extract.decode.video)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from conftest import read_barcode
from lit_extract.decode.reference import uniform_sample_indices
from lit_extract.decode.video import (
    STATUS_OK,
    STATUS_REPEATED,
    STATUS_UNREADABLE,
    DecodeLog,
    UnsampledSkip,
    VideoOutcome,
    decode_clips,
    FrameClock,
    iter_frames_pyav,
    sample_frame_ids,
)


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


def test_frame_clock_rounds_timestamps_to_frames_as_round_of_the_fraction_does():
    rng = np.random.default_rng(0)
    rates = [Fraction(1, 512) * Fraction(30000, 1001), Fraction(1, 2), Fraction(3, 2), Fraction(1, 15360) * 30]
    for to_frames in rates:
        for ticks in [*range(-40, 40), *rng.integers(-10**6, 10**9, 200).tolist()]:
            for base in (0, 1001, -7):
                assert FrameClock.of(base, to_frames).frame(ticks + base) == round(ticks * to_frames), (ticks, to_frames)


def every_frame_bgr(path) -> dict[int, np.ndarray]:
    """Frame id -> BGR frame of every frame of ``path``, decoded by PyAV with nothing skipped."""
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        return {k: frame.to_ndarray(format="bgr24") for k, frame in enumerate(container.decode(video=0))}


def non_reference_frames(path) -> set[int]:
    """Ids of the frames of an H.264 MP4 whose every NAL unit has nal_ref_idc 0 (read from the bytes)."""
    av = pytest.importorskip("av")
    ids = set()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        to_frames = stream.time_base * stream.average_rate
        for packet in container.demux(stream):
            data, offset, refs = bytes(packet), 0, []
            while offset + 4 < len(data):  # AVCC: 4-byte big-endian length, then the NAL unit
                length = int.from_bytes(data[offset : offset + 4], "big")
                refs.append(data[offset + 4] >> 5 & 3)
                offset += 4 + length
            if refs and not any(refs):
                ids.add(round(packet.pts * to_frames))
    return ids


def clip_frame_ids(n_frames: int) -> set[int]:
    return {int(k) for s in range(0, n_frames - 32 + 1, 16) for k in sample_frame_ids(s, s + 32, 8)}


def test_unsampled_skip_leaves_out_exactly_the_non_reference_frames_no_clip_samples(make_video):
    av = pytest.importorskip("av")
    path = make_video("skip.mp4", 96, codec="h264")
    wanted = clip_frame_ids(96)
    expected_out = set(range(96)) - (non_reference_frames(path) - wanted)
    reference = every_frame_bgr(path)
    out, log, expected = {}, DecodeLog(), 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        skip = UnsampledSkip(wanted, stream.codec_context, FrameClock.of(0, stream.time_base * stream.average_rate))
        for packet in container.demux(stream):
            skip.before(packet, broken=False)
            for frame in packet.decode():
                k = round(frame.pts * stream.time_base * stream.average_rate)
                out[k] = frame.to_ndarray(format="bgr24")
                skip.came_out(k)
                skip.lose(log, expected, k - 1)  # the gap before k: frames skipped on purpose
                expected = k + 1
            assert len(skip.skipped) <= 4  # frames skipped and not yet accounted for: a few, however long the video
    assert len(expected_out) < 96 and set(out) == expected_out  # some frames skipped, only those
    assert log.lost == [] and not skip.skipped
    for k, frame in out.items():
        np.testing.assert_array_equal(frame, reference[k])


@pytest.mark.parametrize("threads", [1, 0])
def test_pyav_reader_skipping_unsampled_frames_yields_each_wanted_frame_as_a_full_decode_does(make_video, monkeypatch, threads):
    # threads 0: FFmpeg picks the count (PyAV's slice threads), as outside DataLoader workers
    monkeypatch.setattr("lit_extract.decode.video.decode_threads", lambda: threads)
    held = []

    class Watched(UnsampledSkip):
        def before(self, packet, broken):
            held.append(len(self.skipped))
            super().before(packet, broken)

    monkeypatch.setattr("lit_extract.decode.video.UnsampledSkip", Watched)
    path = make_video("skip.mp4", 96, codec="h264")
    reference = every_frame_bgr(path)
    for wanted in (clip_frame_ids(96), {0, 40, 41, 77}, set(range(0, 96, 5))):
        log = DecodeLog()
        seen = dict(iter_frames_pyav(str(path), wanted, max(wanted), None, log=log))
        assert set(seen) == wanted
        assert log.lost == []  # frames skipped on purpose are not lost frames
        assert held and max(held) <= 4  # ids held for gaps stay few, however long the video
        for k, frame in seen.items():
            assert read_barcode(frame) == k
            np.testing.assert_array_equal(frame, reference[k])
