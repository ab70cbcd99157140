"""Sound for each index row: a video's audio stream, resampled, and the window each row hears.

Every time here is on the container's clock, in seconds (``pts x time_base``), for frames and
sound alike, so a sound track that starts later (or earlier) than the first frame stays in place.

One demux pass per video (:func:`read_sound`) reads

- the audio stream: decoded by PyAV, resampled to the encoder's rate (PyAV's ``AudioResampler``),
  channels averaged to mono (as VGGish's input code does); stored as one float32 array whose
  sample 0 is at ``origin``. A stretch whose packets fail to decode, or a jump in the timestamps,
  is silence at its own place (later sound is never shifted) and is remembered as *lost*;
- the video stream's packets, not decoded: each frame's presentation time and duration
  (:class:`FrameTimes`; frame ids as :mod:`lit_extract.decode.video` counts them, from the
  timestamps).

The window of a row (index row ``[start_frame, end_frame)``, span from the start of its first frame
``t0`` to the end of its last frame ``t1`` = that frame's pts time + its duration), for an
encoder taking windows of ``S`` samples at ``rate`` Hz with a hop of ``H`` samples
(VGGish: S = 15,600, H = 15,360, 16 kHz):

- ``end`` (XD-Violence's convention): the S samples that end at ``t1``;
- ``centre``: the S samples centred on ``(t0 + t1) / 2``;
- ``span``: K = max(1, ceil((t1 - t0) x rate / H)) windows H apart, the last ending at ``t1``
  (the encoder's own framing of the sound ending at ``t1``, reaching back over ``t0``); their
  embeddings are averaged.

A window ending at time ``t`` is samples ``[e - S, e)`` with ``e = round((t - origin) x rate)``;
samples before the sound starts or after it ends are zeros (silence). Per row, the audio status is
:data:`AUDIO_OK`, :data:`AUDIO_PARTLY_SILENT` (some of a window falls in a lost stretch) or
:data:`AUDIO_SILENT` (the video has no sound track, or none of it could be decoded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lit_extract.decode.image_folder import is_image_folder
from lit_extract.decode.video import FrameClock, _stream_rate, import_pyav

Anchor = Literal["end", "centre", "span"]
ANCHORS = ("end", "centre", "span")

AUDIO_OK = 0
AUDIO_PARTLY_SILENT = 1
AUDIO_SILENT = 2
AUDIO_STATUS_NAMES = {AUDIO_OK: "ok", AUDIO_PARTLY_SILENT: "partly_silent", AUDIO_SILENT: "silent"}
GAP_S = 0.002  # a timestamp jump larger than this (seconds) is a gap: silence in place, lost
READ_PAST_S = 0.05  # sound read past the end of the last wanted frame before the pass stops
REORDER_FRAMES = 16  # video packets read past the last wanted frame (decode order differs from presentation)


@dataclass(frozen=True)
class FrameTimes:
    """Frame ``k``'s presentation time ``starts[k]`` and end ``ends[k]`` (pts time + duration),
    float64 seconds on the container's clock, for ``k = 0 .. last``.

    A frame without a packet timestamp gets the time its id gives at the stream's frame rate
    from the stream's start; a frame without a duration ends where the next frame starts (the
    last one after one frame period)."""

    starts: np.ndarray
    ends: np.ndarray


@dataclass
class SoundTrack:
    """A video's sound, mono float32 ``samples`` at ``rate`` Hz, sample 0 at ``origin`` seconds.

    ``present`` is False when the video has no sound track or none of it could be decoded;
    ``lost`` holds ``(start, end)`` seconds that could not be decoded (``end`` may be ``inf``).
    """

    rate: int
    samples: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    origin: float = 0.0
    present: bool = False
    lost: list[tuple[float, float]] = field(default_factory=list)

    def window(self, end: float, length: int, out: np.ndarray | None = None) -> np.ndarray:
        """float32 (length,): the ``length`` samples ending at time ``end`` (zeros outside the sound)."""
        out = np.zeros(length, np.float32) if out is None else out
        out[:] = 0.0
        stop = round((end - self.origin) * self.rate)
        first, last = max(stop - length, 0), min(stop, len(self.samples))
        if last > first:
            out[first - (stop - length): last - (stop - length)] = self.samples[first:last]
        return out

    def status(self, end: float, length: int) -> int:
        """The audio status of the window of ``length`` samples ending at ``end`` (module doc)."""
        if not self.present:
            return AUDIO_SILENT
        start = end - length / self.rate
        return AUDIO_PARTLY_SILENT if any(a < end and start < b for a, b in self.lost) else AUDIO_OK


def window_ends(t0: float, t1: float, anchor: Anchor, samples: int, hop: int, rate: int) -> np.ndarray:
    """float64 (K,) end times of the windows of a row spanning ``[t0, t1]`` seconds (module doc)."""
    if anchor == "end":
        return np.array([t1])
    if anchor == "centre":
        return np.array([(t0 + t1) / 2 + samples / (2 * rate)])
    count = max(1, math.ceil((t1 - t0) * rate / hop - 1e-9))
    return t1 - np.arange(count - 1, -1, -1, dtype=np.float64) * (hop / rate)


class _Assembler:
    """Places resampled sound at its timestamps: one contiguous array, gaps filled with zeros."""

    def __init__(self, av: Any, rate: int) -> None:
        self.av, self.rate = av, rate
        self.chunks: list[np.ndarray] = []
        self.length = 0  # samples placed (output rate)
        self.origin: float | None = None
        self.next_time: float | None = None  # where the next input frame should start (seconds)
        self.resampler: Any = None
        self.lost: list[tuple[float, float]] = []
        self.broken_since: float | None = None  # a packet failed to decode after this time

    def _drain(self, frames: list[Any]) -> None:
        for frame in frames:
            planes = frame.to_ndarray()  # channels n (planar float32)
            mono = planes.mean(axis=0, dtype=np.float64).astype(np.float32) if planes.shape[0] > 1 else planes[0]
            self.chunks.append(mono)
            self.length += len(mono)

    def _flush(self) -> None:
        if self.resampler is not None:
            self._drain(self.resampler.resample(None))
            self.resampler = None

    def add(self, frame: Any) -> None:
        """One decoded audio frame (any format, rate and layout)."""
        time = frame.time
        if self.origin is None:
            self.origin = float(time) if time is not None else 0.0
            self.next_time = self.origin
        if time is not None and (time > self.next_time + GAP_S or self.broken_since is not None):
            self.lost.append((self.broken_since if self.broken_since is not None else self.next_time, float(time)))
            self.broken_since = None
            self._flush()  # what the resampler holds goes before the gap
            target = round((time - self.origin) * self.rate)
            if target > self.length:
                self.chunks.append(np.zeros(target - self.length, np.float32))
                self.length = target
        if self.resampler is None:
            self.resampler = self.av.AudioResampler(format="fltp", rate=self.rate)  # layout kept: averaged here
        self._drain(self.resampler.resample(frame))
        start = float(time) if time is not None else self.next_time
        self.next_time = start + frame.samples / frame.sample_rate

    def damaged(self) -> None:
        """A packet failed to decode: what follows until the next good frame is lost."""
        if self.broken_since is None and self.next_time is not None:
            self.broken_since = self.next_time
        elif self.broken_since is None:
            self.broken_since = -math.inf

    def track(self, stopped_early: bool) -> SoundTrack:
        self._flush()
        if self.origin is None:
            return SoundTrack(self.rate)
        if self.broken_since is not None or stopped_early:
            self.lost.append((self.broken_since if self.broken_since is not None else self.next_time, math.inf))
        samples = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)
        return SoundTrack(self.rate, samples, self.origin, True, self.lost)


def _frame_times(found: dict[int, tuple[float, float]], last: int, base_time: float, period: float) -> FrameTimes:
    """:class:`FrameTimes` for frames 0..last from ``found`` (id -> (start, duration; 0 = unknown))."""
    starts = base_time + np.arange(last + 1, dtype=np.float64) * period
    durations = np.zeros(last + 1)
    for k, (start, duration) in found.items():
        if k <= last:
            starts[k], durations[k] = start, duration
    following = np.append(starts[1:], starts[-1] + period) if last >= 0 else starts
    ends = np.where(durations > 0, starts + durations, following)
    return FrameTimes(starts, ends)


def read_sound(path: str, last_frame: int, rate: int, read_past: float = READ_PAST_S) -> tuple[SoundTrack, FrameTimes | None]:
    """One pass over ``path``'s packets: its sound at ``rate`` Hz, up to ``read_past`` seconds after
    the end of frame ``last_frame`` (or to its end), and the times of frames 0..``last_frame`` (None
    for an image folder or a file PyAV cannot open: no times, no sound).

    Never raises for a damaged or soundless file: what could not be read is silence (see
    :class:`SoundTrack`)."""
    if is_image_folder(path):
        return SoundTrack(rate), None
    av = import_pyav()
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError):
        return SoundTrack(rate), None
    with container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None:
            return SoundTrack(rate), None
        rate_fps = _stream_rate(video) or 25
        base = video.start_time or 0
        clock = FrameClock.of(base, video.time_base * rate_fps) if video.time_base else None
        base_time = float(base * video.time_base) if video.time_base else 0.0
        found: dict[int, tuple[float, float]] = {}
        assembler = _Assembler(av, rate)
        if audio is not None:
            audio.codec_context.thread_count = 1
        last_end: float | None = None  # end of frame last_frame, once every packet up to it was seen
        highest = -1
        stopped_early = False
        try:
            for packet in container.demux([s for s in (video, audio) if s is not None]):
                if packet.stream is video:
                    if packet.pts is None or clock is None:
                        continue
                    k = clock.frame(packet.pts)
                    start = float(packet.pts * video.time_base)
                    found[k] = (start, float(packet.duration * video.time_base) if packet.duration else 0.0)
                    highest = max(highest, k)
                    if last_end is None and highest >= last_frame + REORDER_FRAMES:  # packets come in decode order
                        last_end = float(_frame_times(found, last_frame, base_time, 1 / float(rate_fps)).ends[-1])
                else:
                    try:
                        frames = packet.decode()
                    except av.error.FFmpegError:
                        assembler.damaged()
                        continue
                    for frame in frames:
                        assembler.add(frame)
                if last_end is not None and (audio is None or (assembler.next_time or 0) > last_end + read_past):
                    break
        except (av.error.FFmpegError, IndexError):  # the container itself is damaged here
            stopped_early = True
        track = assembler.track(stopped_early) if audio is not None else SoundTrack(rate)
        return track, _frame_times(found, last_frame, base_time, 1 / float(rate_fps))


@dataclass
class RowSound:
    """Where the sound of one video's rows comes from: its track, its frame times and the rule."""

    track: SoundTrack
    times: FrameTimes | None
    anchor: Anchor
    samples: int
    hop: int

    def ends(self, start_frame: int, end_frame: int) -> np.ndarray:
        """float64 (K,) window end times of index row ``[start_frame, end_frame)`` (empty without times)."""
        if self.times is None:
            return np.zeros(1)
        last = min(max(end_frame - 1, start_frame), len(self.times.ends) - 1)
        t0, t1 = self.times.starts[min(start_frame, last)], self.times.ends[last]
        return window_ends(float(t0), float(t1), self.anchor, self.samples, self.hop, self.track.rate)

    def row(self, start_frame: int, end_frame: int, out: np.ndarray) -> tuple[int, int]:
        """Write the row's K windows into ``out`` (K_max, samples); return ``(K, audio status)``."""
        ends = self.ends(start_frame, end_frame)
        statuses = []
        for j, end in enumerate(ends):
            self.track.window(end, self.samples, out[j])
            statuses.append(self.track.status(end, self.samples))
        return len(ends), max(statuses)


@dataclass(frozen=True)
class SoundRequest:
    """What the rows' sound must be: the ``anchor`` rule and the encoder's windows (``rate`` Hz,
    ``samples`` per window, ``hop`` between the windows of ``span``)."""

    anchor: Anchor
    rate: int
    samples: int
    hop: int

    def read(self, path: str, last_frame: int) -> RowSound:
        """One pass over ``path`` (:func:`read_sound`): the sound of its rows up to frame ``last_frame``."""
        past = READ_PAST_S + (self.samples / self.rate if self.anchor == "centre" else 0.0)  # centre reaches past t1
        track, times = read_sound(path, last_frame, self.rate, past)
        return RowSound(track, times, self.anchor, self.samples, self.hop)
