"""Each row hears exactly the window the rule names (``lit_extract.decode.sound``).

The test videos' sound encodes time (``conftest.ramp_sound``: sample ``i`` is ``(i mod 32000) -
16000``), so a window's samples say which stretch of sound it holds. The expected window of a row
is computed here from the frames' own timestamps (decoded with PyAV in the test: presentation time
+ duration of the row's last frame), the sound's start and the rule written out: the 15,600
samples ending at that time, zeros before the sound starts.
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import ramp_sound, write_sound_video
from lit_extract.decode.sound import AUDIO_OK, AUDIO_PARTLY_SILENT, AUDIO_SILENT, SoundRequest
from lit_extract.decode.video import decode_clip_frames

RATE, WINDOW, HOP = 16_000, 15_600, 15_360
FPS, FRAMES, ROW = 25, 100, 16  # rows of 16 frames: [0, 16), [16, 32), ...


def frame_times(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) seconds of every frame, from PyAV's decoded frames: pts time, + duration."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    starts = np.array([float(f.time) for f in frames])
    ends = starts + np.array([float(f.duration * f.time_base) for f in frames])
    return starts, ends


def expected_window(end: float, audio_start: float, sound: np.ndarray) -> np.ndarray:
    """The WINDOW samples (float, [-1, 1]) of ``sound`` (starting at ``audio_start``) ending at ``end``."""
    stop = round((end - audio_start) * RATE)
    window = np.zeros(WINDOW, np.float32)
    for j, i in enumerate(range(stop - WINDOW, stop)):
        if 0 <= i < len(sound):
            window[j] = sound[i] / 32768
    return window


@pytest.fixture(params=["own_pass", "decoder_pass"])
def way(request) -> str:
    """How the sound is read: a pass of its own (no frame decoded), or in PyAV's frame decoder's pass."""
    return request.param


def heard(way: str, path: Path, anchor: str, start: int, end: int, windows: int = 1) -> tuple[np.ndarray, int, int]:
    """The row ``[start, end)``'s windows, K and status. ``decoder_pass``: the row is read as soon as
    the decoder has put out its frames, in the middle of the pass (as the data path does)."""
    out = np.zeros((windows, WINDOW), np.float32)
    request = SoundRequest(anchor, RATE, WINDOW, HOP)
    if way == "own_pass":
        return out, *request.read(str(path), FRAMES - 1).row(start, end, out)
    sound = request.listen(FRAMES - 1)
    result = None
    for _ in decode_clip_frames(str(path), [np.arange(start, end)], 16, "pyav", listener=sound.listener):
        result = sound.row(start, end, out)
    return out, *result


@pytest.mark.parametrize("audio_start", [0.0, 0.5], ids=["sound_with_first_frame", "sound_starts_later"])
def test_each_row_hears_the_window_ending_where_its_last_frame_ends(way, tmp_path, audio_start):
    path = write_sound_video(tmp_path / "v.mkv", FRAMES, FPS, audio_start=audio_start)
    sound = ramp_sound(FRAMES * RATE // FPS)
    _, ends = frame_times(path)
    for start in range(0, FRAMES - ROW + 1, ROW):
        window, count, status = heard(way, path, "end", start, start + ROW)
        assert count == 1 and status == AUDIO_OK
        np.testing.assert_array_equal(window[0], expected_window(ends[start + ROW - 1], audio_start, sound))


def test_windows_before_the_sound_starts_are_silence(way, tmp_path):
    path = write_sound_video(tmp_path / "v.mkv", FRAMES, FPS, audio_start=0.5)
    window, _, status = heard(way, path, "end", 0, ROW)  # the row ends at 0.64 s: 0.14 s of sound
    heard_samples = round((0.64 - 0.5) * RATE)
    assert status == AUDIO_OK
    assert not window[0, : WINDOW - heard_samples].any()
    np.testing.assert_array_equal(window[0, WINDOW - heard_samples:] * 32768, np.arange(heard_samples) - 16000)


def test_centre_anchor_hears_the_window_centred_on_the_row(way, tmp_path):
    path = write_sound_video(tmp_path / "v.mkv", FRAMES, FPS, audio_start=0.25)
    sound = ramp_sound(FRAMES * RATE // FPS)
    starts, ends = frame_times(path)
    window, count, _ = heard(way, path, "centre", 32, 48)
    centre = (starts[32] + ends[47]) / 2
    assert count == 1
    np.testing.assert_array_equal(window[0], expected_window(centre + WINDOW / RATE / 2, 0.25, sound))


def test_span_anchor_hears_back_to_back_windows_reaching_over_the_row(way, tmp_path):
    path = write_sound_video(tmp_path / "v.mkv", FRAMES, FPS)
    sound = ramp_sound(FRAMES * RATE // FPS)
    starts, ends = frame_times(path)
    first, last = 20, 84  # 64 frames: 2.56 s
    window, count, status = heard(way, path, "span", first, last, windows=4)
    assert count == math.ceil((ends[last - 1] - starts[first]) * RATE / HOP) == 3
    for j in range(count):  # the last ends where the row ends, each 0.96 s after the one before
        end = ends[last - 1] - (count - 1 - j) * HOP / RATE
        np.testing.assert_array_equal(window[j], expected_window(end, 0.0, sound))
    assert not window[count:].any() and status == AUDIO_OK


def test_resampled_stereo_sound_keeps_its_timing(way, tmp_path):
    """48 kHz stereo, a tone whose frequency changes every 0.5 s (500, 750, 1000, ... Hz): the last
    0.25 s of each row's window is the tone that played in the 0.25 s before the row's last frame ended."""
    source_rate = 48_000
    t = np.arange(FRAMES * source_rate // FPS) / source_rate
    tone = 500 + 250 * np.floor(t / 0.5)
    wave = (0.5 * np.sin(2 * np.pi * np.cumsum(tone) / source_rate) * 32767).astype(np.int16)
    path = write_sound_video(tmp_path / "v.mkv", FRAMES, FPS, sound=np.stack([wave, wave], axis=1), rate=source_rate)
    _, ends = frame_times(path)
    checked = 0
    for start in range(0, FRAMES - ROW + 1, ROW):
        end = ends[start + ROW - 1]
        if math.floor((end - 0.25) / 0.5) != math.floor((end - 1e-6) / 0.5):
            continue  # the last 0.25 s straddles a change
        window, _, _ = heard(way, path, "end", start, start + ROW)
        tail = window[0, -4000:]  # 0.25 s at 16 kHz: 4 Hz per rfft bin
        peak = np.argmax(np.abs(np.fft.rfft(tail))) * RATE / len(tail)
        assert peak == pytest.approx(500 + 250 * math.floor((end - 1e-6) / 0.5), abs=4)
        checked += 1
    assert checked >= 3


def test_video_without_sound_gives_silent_rows(way, tmp_path):
    path = write_sound_video(tmp_path / "v.mkv", FRAMES, FPS, sound=np.zeros(0, np.int16))
    window, count, status = heard(way, path, "end", 16, 32)
    assert count == 1 and status == AUDIO_SILENT and not window.any()


def test_a_gap_in_the_sound_is_silence_in_place_and_marks_the_rows_that_hear_it(way, tmp_path):
    path = write_sound_video(tmp_path / "v.mkv", FRAMES, FPS, audio_gap=(1.6, 2.4))
    sound = ramp_sound(FRAMES * RATE // FPS).copy()
    first, last = math.ceil(1.6 * RATE / 1024) * 1024, math.ceil(2.4 * RATE / 1024) * 1024  # whole chunks left out
    sound[first:last] = 0
    _, ends = frame_times(path)
    for start in range(0, FRAMES - ROW + 1, ROW):
        end = ends[start + ROW - 1]
        window, _, status = heard(way, path, "end", start, start + ROW)
        np.testing.assert_array_equal(window[0], expected_window(end, 0.0, sound))  # later sound not shifted
        hears_gap = end - WINDOW / RATE < last / RATE and first / RATE < end
        assert status == (AUDIO_PARTLY_SILENT if hears_gap else AUDIO_OK), start


def test_aac_sound_is_read_and_aligned_within_the_codec_delay(way, tmp_path):
    """AAC (lossy, with encoder priming): the windows still line up with the frames to ~1 ms."""
    path = write_sound_video(tmp_path / "v.mp4", FRAMES, FPS, codec="aac")
    sound = ramp_sound(FRAMES * RATE // FPS) / 32768
    _, ends = frame_times(path)
    window, _, status = heard(way, path, "end", 48, 64)
    expected = sound[round(ends[63] * RATE) - WINDOW: round(ends[63] * RATE)]
    lags = range(-32, 33)
    errors = [np.abs(np.roll(window[0], lag)[64:-64] - expected[64:-64]).mean() for lag in lags]
    assert status == AUDIO_OK and abs(lags[int(np.argmin(errors))]) <= 16


def test_damaged_audio_packets_are_silence_in_place_and_mark_the_rows_that_hear_them(way, tmp_path):
    """Four AAC packets overwritten with random bytes: no exception, their stretch is lost, the rows
    whose window reaches it are partly silent, the others are not, and later sound is in place."""
    path = write_sound_video(tmp_path / "v.mp4", FRAMES, FPS, codec="aac")
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        packets = [(p.pos, p.size, float(p.pts * p.time_base)) for p in container.demux(stream) if p.pts is not None]
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for pos, size, _ in packets[30:34]:
        data[pos:pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    lost_from, lost_to = packets[30][2], packets[34][2]
    _, ends = frame_times(path)
    clean_sound = SoundRequest("end", RATE, WINDOW, HOP).read(str(path), FRAMES - 1)
    statuses = []
    for start in range(0, FRAMES - ROW + 1, ROW):
        end = ends[start + ROW - 1]
        window, _, status = heard(way, damaged, "end", start, start + ROW)
        hears_loss = end - WINDOW / RATE < lost_to and lost_from < end
        assert status == (AUDIO_PARTLY_SILENT if hears_loss else AUDIO_OK), start
        if end - WINDOW / RATE > lost_to + 0.05:  # after the damage (and the decoder's recovery): the clean sound
            clean = np.zeros((1, WINDOW), np.float32)
            clean_sound.row(start, start + ROW, clean)
            np.testing.assert_allclose(window[0], clean[0], atol=1e-6)
        statuses.append(status)
    assert AUDIO_PARTLY_SILENT in statuses and AUDIO_OK in statuses


def test_an_image_folder_or_an_unreadable_file_gives_silent_rows(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    for way, path in (("own_pass", folder), ("own_pass", broken), ("decoder_pass", broken)):
        window, count, status = heard(way, path, "end", 16, 32)
        assert count == 1 and status == AUDIO_SILENT and not window.any()


def test_a_window_reaching_past_the_last_wanted_frame_hears_the_sound_there(way, tmp_path):
    """The centre window of a 16-frame row ends 0.17 s after the row's last frame: when that row is
    the last one read of the video (the others done in an earlier run), the sound after it is read too."""
    path = write_sound_video(tmp_path / "v.mkv", FRAMES, FPS)
    starts, ends = frame_times(path)
    first, last = 52, 68
    request = SoundRequest("centre", RATE, WINDOW, HOP)
    window = np.zeros((1, WINDOW), np.float32)
    if way == "own_pass":
        _, status = request.read(str(path), last - 1).row(first, last, window)  # frames up to the row's last
    else:
        sound = request.listen(last - 1)
        for _ in decode_clip_frames(str(path), [np.arange(first, last)], 16, "pyav", listener=sound.listener):
            _, status = sound.row(first, last, window)
    centre = (starts[first] + ends[last - 1]) / 2
    assert status == AUDIO_OK
    np.testing.assert_array_equal(window[0], expected_window(centre + WINDOW / RATE / 2, 0.0, ramp_sound(FRAMES * RATE // FPS)))


@pytest.mark.parametrize("audio_start", [0.0, 3.0], ids=["interleaved", "sound_3s_after_the_frames"])
def test_the_decoder_pass_puts_out_every_frame_while_the_rows_read_ahead_for_their_sound(tmp_path, audio_start):
    """Sound that starts 3 s after the first frame: the first rows' windows are decided only by
    packets 3 s further in the file; the video packets read on the way still reach the decoder, in
    order (frame k of the test video is grey level 7k mod 256)."""
    path = write_sound_video(tmp_path / "v.mkv", FRAMES, FPS, audio_start=audio_start)
    sound = ramp_sound(FRAMES * RATE // FPS)
    _, ends = frame_times(path)
    rows = [np.arange(start, start + ROW) for start in range(0, FRAMES - ROW + 1, ROW)]
    heard_rows = SoundRequest("end", RATE, WINDOW, HOP).listen(FRAMES - 1)
    window = np.zeros((1, WINDOW), np.float32)
    seen = []
    for i, frames, status in decode_clip_frames(str(path), rows, 16, "pyav", listener=heard_rows.listener):
        start = int(rows[i][0])
        assert heard_rows.row(start, start + ROW, window) == (1, AUDIO_OK)
        np.testing.assert_array_equal(window[0], expected_window(ends[start + ROW - 1], audio_start, sound))
        greys = [int(np.median(frame)) for frame in frames]
        assert status == 0 and all(abs(g - (k * 7) % 256) <= 2 for g, k in zip(greys, rows[i])), (start, greys)
        seen.append(i)
    assert seen == list(range(len(rows)))


def test_a_file_cut_short_marks_the_rows_that_hear_past_the_cut(way, tmp_path):
    """An MP4 with its index first (``faststart``, as web videos are) cut at two thirds: the sound
    its audio stream declares but the file no longer holds is lost, not silence; rows before are ok."""
    whole = write_sound_video(tmp_path / "whole.mp4", FRAMES, FPS, codec="aac")
    faststart = tmp_path / "faststart.mp4"
    with av.open(str(whole)) as source, av.open(str(faststart), "w", options={"movflags": "faststart"}) as target:
        streams = {s.index: target.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                target.mux(packet)
    with av.open(str(faststart)) as container:
        ends = sorted(p.pos + p.size for p in container.demux() if p.pos is not None and p.size)
    data = faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: ends[len(ends) * 2 // 3]])  # at a packet's end: the file just stops there
    statuses = [heard(way, cut, "end", start, start + ROW)[2] for start in range(0, FRAMES - ROW + 1, ROW)]
    assert statuses[0] == AUDIO_OK and statuses[-1] == AUDIO_PARTLY_SILENT, statuses
    assert statuses == sorted(statuses)  # ok up to the cut, partly silent after it
