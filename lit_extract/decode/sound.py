"""Sound for each index row: a video's audio stream, resampled, and the window each row hears.

Every time here is on the container's clock, in seconds (``pts x time_base``), for frames and
sound alike, so a sound track that starts later (or earlier) than the first frame stays in place.

One demux pass per video reads, as a :class:`SoundListener` of that pass
(:mod:`lit_extract.decode.packets`): the frame decoder's own pass
(:meth:`SoundRequest.listen`, PyAV frames: one open of each file) or a pass of its own that
decodes no frame (:meth:`SoundRequest.read`: audio encoders only, OpenCV frames),

- the audio stream: decoded by PyAV, resampled to the encoder's rate (PyAV's ``AudioResampler``),
  channels averaged to mono (as VGGish's input code does); stored as one float32 array whose
  sample 0 is at ``origin``. A stretch whose packets fail to decode, or a jump in the timestamps,
  is silence at its own place (later sound is never shifted) and is remembered as *lost*;
- the video stream's packets (decoded by the frame decoder, if at all): each frame's presentation
  time and duration (frame ids as :mod:`lit_extract.decode.video` counts them, from the
  timestamps; a frame without a timestamp gets its time on the frame-rate grid, a frame without a
  duration ends where the next starts).

A row is read as soon as its frames are out (:class:`RowSound`): where its frames' times or its
window lie further in the file, the pass reads on first (the video packets it passes are kept for
the decoder). The sound read is kept in one buffer that grows with the pass.

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
:data:`AUDIO_OK`, :data:`AUDIO_PARTLY_SILENT` (some of a window falls in a lost stretch; the sound
its audio stream declares past the end of a file cut short is lost too) or
:data:`AUDIO_SILENT` (the video has no sound track, or none of it could be decoded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lit_extract.decode.image_folder import is_image_folder
from lit_extract.decode.packets import PacketPump
from lit_extract.decode.video import FrameClock, _stream_rate, import_pyav

Anchor = Literal["end", "centre", "span"]
ANCHORS = ("end", "centre", "span")

AUDIO_OK = 0
AUDIO_PARTLY_SILENT = 1
AUDIO_SILENT = 2
AUDIO_STATUS_NAMES = {AUDIO_OK: "ok", AUDIO_PARTLY_SILENT: "partly_silent", AUDIO_SILENT: "silent"}
GAP_S = 0.002  # a timestamp jump larger than this (seconds) is a gap: silence in place, lost
READ_PAST_S = 0.05  # sound read past the end of the last wanted frame before the pass stops
TRUNCATED_S = 0.1  # sound ending this much (seconds) before its stream's declared duration: the file was cut
REORDER_FRAMES = 16  # video packets read past the last wanted frame (decode order differs from presentation)


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
    """Places resampled sound at its timestamps: one contiguous array, gaps filled with zeros.

    The samples grow in one buffer (its capacity doubles), so a window can be read at any time
    while the pass goes on (:meth:`view`)."""

    def __init__(self, av: Any, rate: int) -> None:
        self.av, self.rate = av, rate
        self.buffer = np.zeros(0, np.float32)
        self.length = 0  # samples placed (output rate)
        self.origin: float | None = None
        self.next_time: float | None = None  # where the next input frame should start (seconds)
        self.resampler: Any = None
        self.lost: list[tuple[float, float]] = []
        self.broken_since: float | None = None  # a packet failed to decode after this time

    def _append(self, samples: np.ndarray | None, zeros: int = 0) -> None:
        grow = len(samples) if samples is not None else zeros
        if self.length + grow > len(self.buffer):
            bigger = np.zeros(max(2 * len(self.buffer), self.length + grow, 1 << 16), np.float32)
            bigger[: self.length] = self.buffer[: self.length]
            self.buffer = bigger
        if samples is not None:
            self.buffer[self.length: self.length + grow] = samples
        else:
            self.buffer[self.length: self.length + grow] = 0.0
        self.length += grow

    def _drain(self, frames: list[Any]) -> None:
        for frame in frames:
            planes = frame.to_ndarray()  # channels n (planar float32)
            self._append(planes.mean(axis=0, dtype=np.float64).astype(np.float32) if planes.shape[0] > 1 else planes[0])

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
                self._append(None, zeros=target - self.length)
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

    def covers(self, end: float) -> bool:
        """True once the samples placed reach time ``end`` (a window ending there can be read)."""
        return self.origin is not None and round((end - self.origin) * self.rate) <= self.length

    def view(self) -> SoundTrack:
        """The sound placed so far (the samples are a view; a stretch still broken is lost to the end)."""
        if self.origin is None:
            return SoundTrack(self.rate)
        open_loss = [(self.broken_since, math.inf)] if self.broken_since is not None else []
        return SoundTrack(self.rate, self.buffer[: self.length], self.origin, True, self.lost + open_loss)

    def track(self, stopped_early: bool) -> SoundTrack:
        """The whole track once the pass has ended (the resampler's last samples placed)."""
        self._flush()
        if self.origin is None:
            return SoundTrack(self.rate)
        if self.broken_since is not None or stopped_early:
            self.lost.append((self.broken_since if self.broken_since is not None else self.next_time, math.inf))
            self.broken_since = None
        return SoundTrack(self.rate, self.buffer[: self.length], self.origin, True, self.lost)


class _PacketTimes:
    """Frame times from the video packets' timestamps (frame ids as :mod:`lit_extract.decode.video`
    counts them): a frame without a packet timestamp gets its time on the stream's frame-rate grid;
    a frame without a duration ends where the next starts (frame ``last``: one period after it starts)."""

    def __init__(self, video: Any, last: int) -> None:
        rate_fps = _stream_rate(video) or 25
        base = video.start_time or 0
        self.clock = FrameClock.of(base, video.time_base * rate_fps) if video.time_base else None
        self.base_time = float(base * video.time_base) if video.time_base else 0.0
        self.period, self.last = 1 / float(rate_fps), last
        self.time_base = video.time_base
        self.found: dict[int, tuple[float, float]] = {}  # frame id -> (start, duration; 0 = unknown)
        self.highest = -1

    def see(self, packet: Any) -> None:
        if packet.pts is None or self.clock is None:
            return
        k = self.clock.frame(packet.pts)
        duration = float(packet.duration * self.time_base) if packet.duration else 0.0
        self.found[k] = (float(packet.pts * self.time_base), duration)
        self.highest = max(self.highest, k)

    def known_through(self, k: int) -> bool:
        """True once packets far enough past frame ``k`` were seen (packets come in decode order)."""
        return self.highest >= k + REORDER_FRAMES

    def start(self, k: int) -> float:
        return self.found[k][0] if k in self.found else self.base_time + k * self.period

    def end(self, k: int) -> float:
        start, duration = self.found.get(k, (self.start(k), 0.0))
        if duration > 0:
            return start + duration
        return start + self.period if k >= self.last else self.start(k + 1)


class SoundListener:
    """The sound and the frame times of one video, from the packets of one pass over it
    (a :class:`lit_extract.decode.packets.PacketListener`).

    ``last_frame``: the last frame any row needs; ``read_past`` seconds: how far past that frame's
    end the rows' windows reach. :meth:`enough` is True once both are read (or the file ended)."""

    def __init__(self, rate: int, last_frame: int, read_past: float = READ_PAST_S) -> None:
        self.rate, self.last_frame, self.read_past = rate, last_frame, read_past
        self.av = import_pyav()
        self.assembler = _Assembler(self.av, rate)
        self.times: _PacketTimes | None = None
        self.audio: Any = None
        self.pump: PacketPump | None = None
        self.ended = False
        self._final: SoundTrack | None = None

    # PacketListener
    def start(self, container: Any, video: Any, pump: PacketPump) -> list[Any]:
        self.pump, self.times = pump, _PacketTimes(video, self.last_frame)
        self.audio = container.streams.audio[0] if container.streams.audio else None
        if self.audio is None:
            return []
        self.audio.codec_context.thread_count = 1
        return [self.audio]

    def see(self, packet: Any) -> None:
        if packet.stream is self.audio:
            try:
                frames = packet.decode()
            except self.av.error.FFmpegError:
                self.assembler.damaged()
                return
            for frame in frames:
                self.assembler.add(frame)
        elif self.times is not None:
            self.times.see(packet)

    def end(self, damaged: bool) -> None:
        self.ended = True
        if self.audio is None:
            self._final = SoundTrack(self.rate)
            return
        self._final = self.assembler.track(damaged or self._cut_short())

    def _cut_short(self) -> bool:
        """True when the file ended before the sound its audio stream declares (a truncated file):
        what is missing is lost, not silence."""
        stream, heard_until = self.audio, self.assembler.next_time
        if self.pump is None or not self.pump.at_eof or not stream.duration or not stream.time_base:
            return False
        declared_end = float((stream.duration + (stream.start_time or 0)) * stream.time_base)
        return heard_until is None or heard_until < declared_end - TRUNCATED_S

    # what the rows read
    def track(self) -> SoundTrack:
        """The sound read so far (the whole track once the pass has ended)."""
        if self._final is not None:
            return self._final
        return self.assembler.view() if self.audio is not None else SoundTrack(self.rate)

    def read_until(self, ready: Any) -> None:
        """Read on (keeping the video packets for the decoder) until ``ready()`` or the end of the pass."""
        if self.pump is not None and not self.ended:
            self.pump.read_ahead(lambda: self.ended or ready())

    def times_through(self, k: int) -> _PacketTimes | None:
        """The frame times, read through frame ``k`` (None when the pass never started)."""
        if self.times is not None:
            self.read_until(lambda: self.times.known_through(k))
        return self.times

    def sound_through(self, end: float) -> SoundTrack:
        """The sound, read through time ``end`` (seconds)."""
        if self.audio is not None:
            self.read_until(lambda: self.assembler.covers(end))
        return self.track()

    def enough(self) -> bool:
        """True once every row's frame times and sound are read (or the pass has ended)."""
        if self.ended or self.times is None:
            return True
        if not self.times.known_through(self.last_frame):
            return False
        return self.audio is None or self.assembler.covers(self.times.end(self.last_frame) + self.read_past)


def _listen_alone(path: str, last_frame: int, rate: int, read_past: float) -> SoundListener:
    """A :class:`SoundListener` filled by a pass of its own over ``path`` (no frame decoded)."""
    listener = SoundListener(rate, last_frame, read_past)
    if is_image_folder(path):
        return listener
    av = listener.av
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError):
        return listener
    with container:
        if not container.streams.video:
            return listener
        pump = PacketPump(container, container.streams.video[0], listener, (av.error.FFmpegError, IndexError),
                          keep_video=False)
        pump.read_ahead(listener.enough)
        pump.close()
    return listener


@dataclass
class RowSound:
    """The sound of one video's rows: the pass's :class:`SoundListener` and the window rule.

    The listener may still be reading (the pass is the frame decoder's): each row reads on as far
    as its own frames' times and windows need."""

    listener: SoundListener
    anchor: Anchor
    samples: int
    hop: int

    def ends(self, start_frame: int, end_frame: int) -> np.ndarray:
        """float64 (K,) window end times of index row ``[start_frame, end_frame)`` (zeros without times)."""
        last = max(end_frame - 1, start_frame)
        times = self.listener.times_through(last)
        if times is None:
            return np.zeros(1)
        last = min(last, times.last)
        t0, t1 = times.start(min(start_frame, last)), times.end(last)
        return window_ends(t0, t1, self.anchor, self.samples, self.hop, self.listener.rate)

    def row(self, start_frame: int, end_frame: int, out: np.ndarray, ends: np.ndarray | None = None) -> tuple[int, int]:
        """Write the row's K windows into ``out`` (K_max, samples); return ``(K, audio status)``.
        ``ends``: the row's :meth:`ends`, when the caller has them already."""
        ends = self.ends(start_frame, end_frame) if ends is None else ends
        track = self.listener.sound_through(float(ends.max()))
        statuses = []
        for j, end in enumerate(ends):
            track.window(end, self.samples, out[j])
            statuses.append(track.status(end, self.samples))
        return len(ends), max(statuses)


@dataclass(frozen=True)
class SoundRequest:
    """What the rows' sound must be: the ``anchor`` rule and the encoder's windows (``rate`` Hz,
    ``samples`` per window, ``hop`` between the windows of ``span``)."""

    anchor: Anchor
    rate: int
    samples: int
    hop: int

    def _read_past(self) -> float:
        return READ_PAST_S + (self.samples / self.rate if self.anchor == "centre" else 0.0)  # centre reaches past t1

    def read(self, path: str, last_frame: int) -> RowSound:
        """A pass of its own over ``path``, decoding no frame: the sound of its rows up to frame ``last_frame``."""
        return RowSound(_listen_alone(path, last_frame, self.rate, self._read_past()), self.anchor, self.samples, self.hop)

    def listen(self, last_frame: int) -> RowSound:
        """The sound of a video's rows up to frame ``last_frame``, read in the frame decoder's pass:
        give ``.listener`` to :func:`lit_extract.decode.video.iter_frames_pyav`."""
        return RowSound(SoundListener(self.rate, last_frame, self._read_past()), self.anchor, self.samples, self.hop)
