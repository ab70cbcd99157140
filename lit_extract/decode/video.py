"""Exact frame decoding: which frames a clip samples, and one sequential pass per video.

Frame ``k`` always means the ``k``-th frame of the video in presentation order (counted from 0),
also for H.264 with B-frames: frames are read in order from the start, never by seeking.

Damaged videos (a stretch of garbage bytes in an otherwise good file): frame identity comes from
presentation timestamps, ``k = round((pts - stream.start_time) * time_base * average_rate)``, so a
lost frame never shifts the frames after it. PyAV demuxes packet by packet and goes on after a
packet that fails to decode; after any decode error (or a frame FFmpeg flags as corrupt) frames are
dropped until the next clean keyframe, because until then they are predicted from damaged data
(FFmpeg's concealment would show an earlier picture: silently the wrong frame). OpenCV reads
sequentially by counting (timestamps checked on every frame, cheap: on clean files both agree,
tests prove it for H.264 with B-frames and mp4v); when ``grab()`` fails before the last wanted
frame, the last :data:`HOLD_BACK` frames before the failure are distrusted and the rest of the
video is read by the PyAV path from the keyframe before them (bit-identical pixels: both are
FFmpeg). Frames OpenCV's decoder conceals without failing can't be seen through OpenCV: use
``--data.decoder pyav`` for footage known to be damaged. What was lost is recorded in a
:class:`DecodeLog` (inclusive frame ranges), reported per video and listed in the manifest.

The PyAV reader decodes only what the clips need on H.264: a non-reference frame that no
clip samples (x264's non-reference B-frames, a sixth of a 32/16 index's frames) is skipped by the
decoder itself, which changes no other frame's pixels (:class:`UnsampledSkip`); such frames are
not lost frames. Counting a video's frames (``index --exact-frames``) still decodes every one.

Clip semantics (the reference notebook's): a clip ``[start, end)`` samples the frame ids
``start + round(linspace(0, n - 1, T))`` with ``n = max(1, end - start)``; each frame is converted
BGR->RGB and resized to ``img_size x img_size`` with bilinear interpolation (cv2.INTER_LINEAR).
A frame that can't be read repeats the last good frame of the clip (zeros if there is none).

Speed (see benchmarks/data_path.py): a decoded frame is resized while still BGR and the BGR->RGB
swap is fused into the one copy that lays it out as (C, H, W) in the batch. Resizing and swapping
channels commute bit for bit (each output value is computed from its own channel alone, with the
same integer arithmetic), so the result is the notebook's to the last bit; tests check it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import ModuleType
from typing import Any, Literal

import cv2
import numpy as np
from torch.utils.data import get_worker_info

from lit_extract.decode.crops import TenCrop
from lit_extract.errors import LitExtractError
from lit_extract.decode.image_folder import is_image_folder, iter_images
from lit_extract.decode.opencv_capture import open_capture
from lit_extract.decode.packets import PacketListener, PacketPump
from lit_extract.decode.yuv import RGB, Yuv420Frame

Decoder = Literal["opencv", "pyav"]

STATUS_OK = 0  # every sampled frame was decoded
STATUS_REPEATED = 1  # some sampled frames could not be read and repeat an earlier frame of the clip
STATUS_UNREADABLE = 2  # no sampled frame could be read: the clip is all fallback (zeros)


class VideoReadError(LitExtractError):
    """A video could not be decoded and the run was asked to stop on errors."""


def sample_frame_ids(start: int, end: int, frames: int) -> np.ndarray:
    """The ``frames`` frame ids (int64, ascending, may repeat) that clip ``[start, end)`` samples."""
    n = max(1, end - start)
    return start + np.linspace(0, n - 1, frames).round().astype(np.int64)


def next_frame_ids(frame_ids: np.ndarray, n_frames: np.ndarray) -> np.ndarray:
    """int64 (n,): the frame a flow clip adds after each clip's T sampled frames ``frame_ids``
    (int64 (n, T)) of a video of ``n_frames`` (int64 (n,)) frames: one sampling step after the
    last (the clip's last step ``ids[T-1] - ids[T-2]``, at least 1; 1 when T = 1), the video's
    last frame where the video ends first -- the clip's own last frame when it ends the video."""
    last = frame_ids[:, -1]
    step = np.maximum(1, last - frame_ids[:, -2]) if frame_ids.shape[1] > 1 else np.ones_like(last)
    return np.minimum(last + step, np.asarray(n_frames, np.int64) - 1)


def to_model_frame(bgr: np.ndarray, img_size: int) -> np.ndarray:
    """One decoded BGR frame (H, W, 3) uint8 -> RGB (img_size, img_size, 3) uint8, bilinear (the notebook's order)."""
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (img_size, img_size), interpolation=cv2.INTER_LINEAR)


def resize_frame(bgr: np.ndarray, img_size: int | None) -> np.ndarray:
    """One decoded BGR frame (H, W, 3) uint8 -> BGR (img_size, img_size, 3) uint8, bilinear.

    ``resize_frame(bgr, s)[:, :, ::-1]`` equals ``to_model_frame(bgr, s)`` bit for bit, one
    cvtColor cheaper; the swap is done for free when the frame is copied (:func:`write_clip`).
    ``img_size=None`` keeps the native size (the device transform resizes on the GPU).
    """
    if img_size is None:
        return bgr
    return cv2.resize(bgr, (img_size, img_size), interpolation=cv2.INTER_LINEAR)


def decode_threads() -> int:
    """FFmpeg threads for one capture: 1 inside a DataLoader worker (the workers already fill the
    cores; one thread each avoids num_workers x num_cores threads), else 0 = the library's choice."""
    return 1 if get_worker_info() is not None else 0


HOLD_BACK = 4  # OpenCV: frames yielded only once this many later frames decoded (the decoder may
# conceal the damaged frame just before a failure; B-frame reordering delays the failure a few frames)


@dataclass
class DecodeLog:
    """What one pass of a reader found: the frame ranges that could not be decoded.

    ``lost`` holds inclusive ``[first, last]`` frame-id ranges, ascending and disjoint, of frames up
    to the reader's ``last`` that could not be decoded (a damaged stretch, or the end of a file
    shorter than its index). ``end`` is one past the highest frame id decoded.
    """

    end: int = 0
    lost: list[list[int]] = field(default_factory=list)

    def frame(self, k: int) -> None:
        """Frame ``k`` was decoded (ids arrive ascending; every id skipped before it is in a gap)."""
        self.end = k + 1

    def forget_from(self, k: int) -> None:
        """Drop what was recorded about frames ``k`` and later (they are about to be read again)."""
        self.end = min(self.end, k)
        self.lost = [[a, min(b, k - 1)] for a, b in self.lost if a < k]

    def gap(self, first: int, last: int) -> None:
        """Frames ``first..last`` (inclusive) could not be decoded; merged with a touching range."""
        if last < first:
            return
        if self.lost and first <= self.lost[-1][1] + 1:
            self.lost[-1][1] = max(self.lost[-1][1], last)
        else:
            self.lost.append([first, last])


def format_ranges(ranges: Sequence[Sequence[int]], limit: int = 5) -> str:
    """``[[147, 147], [160, 191]]`` -> ``"147-147, 160-191"`` (at most ``limit`` ranges, then ``...``)."""
    text = ", ".join(f"{a}-{b}" for a, b in ranges[:limit])
    return text + (f", ... ({len(ranges)} ranges)" if len(ranges) > limit else "")


def _convert(bgr: np.ndarray, img_size: int | None, crop: TenCrop | None) -> np.ndarray:
    return resize_frame(bgr, img_size) if crop is None else crop(bgr)


def iter_frames_opencv(
    path: str,
    wanted: set[int],
    last: int,
    img_size: int | None,
    crop: TenCrop | None = None,
    log: DecodeLog | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode ``path`` from frame 0 to ``last`` in order; yield ``(k, frame)`` for each ``k`` in ``wanted``.

    ``k`` ascending, each the true frame id (see the module docstring for damaged files). Frames not
    in ``wanted`` are grabbed (decoded) but never converted. Frames are BGR (img_size, img_size, 3)
    uint8 (:func:`resize_frame`), or BGR at native size when ``img_size`` is None, or ``crop(frame)``
    when a crop is given (ten crops: BGR (10, img_size, img_size, 3)). ``log`` (if given) records
    what was decoded and lost.
    """
    log = log if log is not None else DecodeLog()
    capture = open_capture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, decode_threads()])
    held: deque[tuple[int, np.ndarray]] = deque()  # wanted frames not yet yielded (the last HOLD_BACK)
    expected = 0  # the next frame id by counting
    fallback = False
    try:
        if not capture.isOpened():
            log.gap(0, last)
            return
        fps = capture.get(cv2.CAP_PROP_FPS)
        ms_to_frame = fps / 1000 if np.isfinite(fps) and fps > 0 else 0.0
        while expected <= last:
            if not capture.grab():
                fallback = True
                break
            k = round(capture.get(cv2.CAP_PROP_POS_MSEC) * ms_to_frame)  # from the timestamp
            if k != expected:
                log.gap(expected, min(k, last + 1) - 1)  # frames the decoder skipped without failing
                k = max(k, expected)  # no usable timestamp (or a repeated one): counting
            if k > last:
                break
            if k in wanted:
                ok, bgr = capture.retrieve()
                if not ok or bgr is None:
                    fallback = True
                    break
                held.append((k, _convert(bgr, img_size, crop)))
            log.frame(k)
            expected = k + 1
            while held and held[0][0] <= k - HOLD_BACK:
                yield held.popleft()
    finally:
        capture.release()
    if not fallback:
        yield from held
        return
    # grab() failed before `last`: frames just before the failure may be concealed garbage, so
    # they are read again, with the rest of the video, by the PyAV path (which sees decode errors).
    resume = max(0, expected - HOLD_BACK)
    log.forget_from(resume)
    try:
        yield from iter_frames_pyav(path, wanted, last, img_size, crop, log, start=resume)
    except LitExtractError:  # no PyAV: what follows the failure is lost, as before
        log.gap(resume, last)


def _stream_rate(stream: Any) -> Fraction | None:
    """Frames per second of a PyAV stream (average, else guessed), or None when it does not say."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return None


@dataclass(frozen=True, slots=True)
class FrameClock:
    """A stream's frame ids from its timestamps: ``round((pts - base) * numerator / denominator)``,
    halves to even (as ``round`` does), in integers: ~10x cheaper than ``Fraction`` arithmetic,
    which would be paid on every packet and frame."""

    base: int
    numerator: int
    denominator: int

    @classmethod
    def of(cls, base: int, to_frames: Fraction) -> FrameClock:
        """The clock of a stream whose first timestamp is ``base``, ``to_frames`` = time base x frame rate."""
        return cls(base, to_frames.numerator, to_frames.denominator)

    def frame(self, pts: int) -> int:
        """The frame id of timestamp ``pts``."""
        quotient, remainder = divmod((pts - self.base) * self.numerator, self.denominator)
        twice = 2 * remainder
        return quotient + (twice > self.denominator or (twice == self.denominator and quotient % 2 == 1))


# Codecs where unsampled frames are skipped (:class:`UnsampledSkip`): each packet holds one whole
# frame with that frame's timestamp (so the frame is known before decoding), and FFmpeg's NONREF
# leaves out only frames no other frame refers to. Not HEVC: there a "sub-layer non-reference"
# picture may still be referred to by pictures of a higher temporal sub-layer.
SKIPPABLE_CODECS = ("h264",)


class UnsampledSkip:
    """Lets the decoder skip the non-reference frames that no clip samples (PyAV, H.264).

    Before each packet is decoded, :meth:`before` sets FFmpeg's ``skip_frame`` to ``NONREF`` when
    the frame it holds is not wanted (else ``DEFAULT``): a non-reference frame (``nal_ref_idc`` 0:
    x264's non-reference B-frames, a third of its frames) predicts no other frame, so skipping it
    changes no other frame's pixels; the decoder drops its slices unparsed and outputs nothing for
    it. Reference frames are decoded whatever is asked. Without a decoder ``context`` and a
    ``clock`` nothing is skipped, and :meth:`lose` is ``log.gap``.

    ``skipped`` holds the ids of frames asked to be skipped that have neither come out
    (:meth:`came_out`) nor been accounted for in a gap (:meth:`lose`): frames skipped on purpose,
    which a gap in the output must not report as lost; it stays a few ids long, whatever the
    video's length. Frames asked to be skipped while the stream is damaged (``broken``, and those
    held when the damage is found: :meth:`forget`) count as lost, as they would without skipping.
    """

    def __init__(self, wanted: set[int], context: Any = None, clock: FrameClock | None = None) -> None:
        self.wanted, self.context, self.clock = wanted, context, clock
        self.skipping = False
        self.skipped: set[int] = set()

    def before(self, packet: Any, broken: bool) -> None:
        """Set the decoder's skip for ``packet`` (a packet without timestamp is decoded)."""
        if self.clock is None or self.context is None:
            return
        k = None if packet.pts is None else self.clock.frame(packet.pts)
        skip = k is not None and k not in self.wanted
        if skip != self.skipping:
            self.context.skip_frame = "NONREF" if skip else "DEFAULT"
            self.skipping = skip
        if skip and not broken:
            self.skipped.add(k)

    def came_out(self, k: int) -> None:
        """Frame ``k`` came out of the decoder (a reference frame, which no skip leaves out)."""
        self.skipped.discard(k)

    def forget(self) -> None:
        """The stream is damaged here: the frames held so far count as lost if they don't come out."""
        self.skipped.clear()

    def lose(self, log: DecodeLog, first: int, last: int) -> None:
        """``log.gap(first, last)`` without the frames skipped on purpose; ids up to ``last`` are
        then forgotten (those before ``first``, e.g. skipped before a seek's ``start``, are past)."""
        held = sorted(self.skipped)
        self.skipped = {k for k in held if k > last}
        for k in held:
            if first <= k <= last:
                log.gap(first, k - 1)
                first = k + 1
        log.gap(first, last)


def import_pyav() -> ModuleType:
    """The ``av`` module; raises :class:`LitExtractError` naming the fix when PyAV is not installed.

    Call it in the main process before DataLoader workers start (``ClipDataModule`` does for
    ``decoder="pyav"``): forked workers inherit the module instead of each importing it (~50 ms a
    worker, for every split)."""
    try:
        import av
    except ImportError as exc:
        raise LitExtractError("--data.decoder pyav needs PyAV: pip install av (or pip install -e '.[pyav]')") from exc
    return av


def iter_frames_pyav(
    path: str,
    wanted: set[int],
    last: int,
    img_size: int | None,
    crop: TenCrop | None = None,
    log: DecodeLog | None = None,
    start: int = 0,
    yuv: bool = False,
    skip_unsampled: bool = True,
    listener: PacketListener | None = None,
) -> Iterator[tuple[int, np.ndarray | Yuv420Frame]]:
    """Same contract as :func:`iter_frames_opencv`, decoding with PyAV (``pip install av``).

    Packets are decoded one by one; a packet that fails to decode, and the frames predicted from
    it up to the next clean keyframe, are lost (recorded in ``log``), the rest of the video is read.
    ``start > 0`` seeks to the keyframe before frame ``start`` and yields frames from ``start`` on.
    ``yuv=True`` (native size, no crop: the device transform) yields frames in YUV 4:2:0 as their
    planes (:class:`lit_extract.decode.yuv.Yuv420Frame`, converted on the device) instead of BGR arrays.
    ``skip_unsampled`` (H.264): non-reference frames not in ``wanted`` are not decoded at
    all (:class:`UnsampledSkip`; the frames yielded are the same, bit for bit); False decodes every
    frame (to count a video's decodable frames).
    ``listener`` (:mod:`lit_extract.decode.packets`; the rows' sound, :mod:`lit_extract.decode.sound`)
    sees the packets of this same pass, its own streams' too, and may read ahead in it; once the
    wanted frames are out the pass goes on until the listener has enough (``start`` must be 0).
    """
    if listener is not None and start > 0:
        raise ValueError("a listener hears the pass from the file's start: start must be 0")
    av = import_pyav()
    log = log if log is not None else DecodeLog()
    expected = start
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError):
        log.gap(start, last)
        return
    skip = UnsampledSkip(wanted)  # skips nothing until the stream has a decoder and a clock
    pump: PacketPump | None = None
    with container:
        try:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = decode_threads()  # 1 in a worker; 0 = PyAV's default, auto
            base = stream.start_time or 0
            rate = _stream_rate(stream)
            to_frames = stream.time_base * rate if stream.time_base and rate else None
            clock = FrameClock.of(base, to_frames) if to_frames is not None else None
            if skip_unsampled and stream.codec_context.name in SKIPPABLE_CODECS:
                skip = UnsampledSkip(wanted, stream.codec_context, clock)
            if start > 0 and to_frames is not None:
                container.seek(base + int(start / to_frames), stream=stream, backward=True, any_frame=False)
            # After a decode error (or a frame flagged corrupt) the frames that follow are predicted
            # from damaged data: they are dropped until the first keyframe whose packet was decoded
            # after the damage has come out (`recovery` is its pts; None = still waiting for one).
            broken, recovery = False, None
            # the container damaged at a packet ends the pass there, as the end of the file does
            pump = PacketPump(container, stream, listener, (av.error.FFmpegError, IndexError))
            packets = pump.video_packets()
            while expected <= last:
                packet = next(packets, None)
                if packet is None:
                    break
                if broken and recovery is None and packet.is_keyframe:
                    recovery = packet.pts
                skip.before(packet, broken)
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    broken, recovery = True, None
                    skip.forget()
                    continue
                for frame in frames:
                    if frame.is_corrupt:
                        broken, recovery = True, None
                        skip.forget()
                    if broken:
                        if recovery is None or frame.pts != recovery:
                            continue
                        broken = False
                    k = expected if frame.pts is None or clock is None else clock.frame(frame.pts)
                    skip.came_out(k)
                    if k < expected:  # before `start` (after a seek), or a repeated timestamp
                        continue
                    if k > expected:
                        skip.lose(log, expected, min(k, last + 1) - 1)
                    expected = k + 1
                    if k > last:
                        break
                    log.frame(k)
                    if k in wanted:
                        planes = Yuv420Frame.from_av(frame) if yuv and img_size is None and crop is None else None
                        yield k, planes if planes is not None else _convert(frame.to_ndarray(format="bgr24"), img_size, crop)
            if listener is not None:
                pump.read_ahead(listener.enough)  # the listener's packets past the last wanted frame
        except (av.error.FFmpegError, IndexError):
            pass
        finally:
            skip.lose(log, expected, last)  # frames not out by the end: lost, unless skipped on purpose
            if pump is not None:
                pump.close()


def iter_frames_images(
    path: str,
    wanted: set[int],
    last: int,
    img_size: int | None,
    crop: TenCrop | None = None,
    log: DecodeLog | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Same contract as :func:`iter_frames_opencv` for an image folder (:mod:`lit_extract.decode.image_folder`):
    missing and undecodable images are lost frames; only the wanted images are read."""
    log = log if log is not None else DecodeLog()
    yield from iter_images(path, wanted, last, lambda bgr: _convert(bgr, img_size, crop), log)


FRAME_READERS = {"opencv": iter_frames_opencv, "pyav": iter_frames_pyav}


def hears_in_decode_pass(path: str, decoder: Decoder) -> bool:
    """True when ``path``'s frame decoder can also read its sound in the same pass (PyAV, a video
    file); OpenCV cannot read sound, so with ``decoder="opencv"`` the sound takes a pass of its own."""
    return frame_reader(path, decoder) is iter_frames_pyav


def frame_reader(path: str, decoder: Decoder) -> Any:
    """The reader for ``path``: :func:`iter_frames_images` for a folder of images, else ``decoder``'s."""
    return iter_frames_images if is_image_folder(path) else FRAME_READERS[decoder]


@dataclass
class VideoOutcome:
    """What one pass over a video found: which frames were lost and how many clips suffered."""

    path: str
    frames_read: int = 0  # number of wanted frames decoded
    clips_repeated: int = 0
    clips_unreadable: int = 0
    first_unreadable_frame: int | None = None  # first lost frame id, None when nothing was lost
    next_lost: set[int] = field(default_factory=set)  # clips whose frames after the counted ones were lost
    log: DecodeLog = field(default_factory=DecodeLog)

    @property
    def unreadable(self) -> bool:
        """True when no frame at all could be decoded."""
        return self.frames_read == 0

    @property
    def lost(self) -> list[list[int]]:
        """Inclusive ``[first, last]`` ranges of frame ids (up to the last one a clip samples) that
        could not be decoded, ascending; the ranges known so far while the video is being read."""
        return self.log.lost


def assemble_clip(
    frame_ids: Sequence[int], cache: dict[int, Any], zeros: Any, counted: int | None = None
) -> tuple[list[Any], int]:
    """A clip's frames from ``cache`` with the fallback rule (``zeros`` if nothing came before), and
    the status of its first ``counted`` frames (None: all of them; :func:`clip_status`)."""
    frames, last_good, present = [], None, []
    for k in frame_ids:
        frame = cache.get(k)
        present.append(frame is not None)
        if frame is None:
            frame = last_good if last_good is not None else zeros
        else:
            last_good = frame
        frames.append(frame)
    return frames, clip_status(present[:counted])


def clip_status(present: Sequence[bool]) -> int:
    """The status of a clip whose frames were decoded or not (``present``): every one ok, none
    unreadable (all fallback zeros), else some repeat an earlier frame."""
    if all(present):
        return STATUS_OK
    return STATUS_REPEATED if any(present) else STATUS_UNREADABLE


def native_bytes(frame: np.ndarray | Yuv420Frame) -> int:
    """Bytes a frame takes in a device-path batch row (:func:`write_native_clip`)."""
    return frame.nbytes if isinstance(frame, Yuv420Frame) else 3 * frame.shape[0] * frame.shape[1]


def write_native_clip(frames: Sequence[np.ndarray | Yuv420Frame], out: np.ndarray, colour: np.ndarray) -> None:
    """Copy a clip's T frames into ``out``, a uint8 (T, S) batch slot with S >= each frame's
    :func:`native_bytes`, packed at the start of its row: a BGR (h, w, 3) frame as its R, G, B
    planes (3, h, w), a :class:`Yuv420Frame` as its packed planes; ``colour[t]`` (int64 (T,)) gets
    frame t's colour code (:data:`lit_extract.decode.yuv.RGB` or the YUV frame's)."""
    for t, frame in enumerate(frames):
        if isinstance(frame, Yuv420Frame):
            frame.write(out[t])
            colour[t] = frame.code
            continue
        height, width = frame.shape[:2]
        planes = out[t, : 3 * height * width].reshape(3, height, width)  # C H W, contiguous
        cv2.split(frame, [planes[2], planes[1], planes[0]])
        colour[t] = RGB


def write_clip(frames: Sequence[np.ndarray], out: np.ndarray) -> None:
    """Copy a clip's BGR (H, W, 3) frames into ``out``, a C-contiguous uint8 (3, T, H, W) RGB array (a batch slot)."""
    if not out.flags.c_contiguous:  # cv2.split writes in place only into contiguous planes
        raise ValueError(f"write_clip needs a C-contiguous output, got strides {out.strides}")
    for t, frame in enumerate(frames):
        # H W BGR -> the R, G, B planes of frame t, in place: ~4x faster than numpy's strided copy
        cv2.split(frame, [out[2, t], out[1, t], out[0, t]])


def decode_clip_frames(
    path: str,
    clip_frame_ids: Sequence[np.ndarray],
    img_size: int,
    decoder: Decoder = "opencv",
    outcome: VideoOutcome | None = None,
    crop: TenCrop | None = None,
    native: bool = False,
    yuv: bool = False,
    listener: PacketListener | None = None,
    counted: int | None = None,
) -> Iterator[tuple[int, list[Any], int]]:
    """:func:`decode_clips` without copies: yields ``(clip_position, frames, status)`` where ``frames``
    is a list of T BGR (img_size, img_size, 3) uint8 arrays, shared by the clips that sample the
    same frame: read them, never write to them (:func:`write_clip` copies them into a batch).
    With a ``crop`` (:class:`lit_extract.decode.crops.TenCrop`) each frame is ``crop(frame)``
    instead, of shape ``crop.shape``; the video is still decoded once.

    ``native=True`` (the device transform): ``frames`` are BGR at the video's own size instead, and a
    frame with nothing to repeat is zeros of that size (2 x 2 when no frame could be read at all).
    ``yuv=True`` as well (with ``decoder="pyav"``): frames the decoder holds in YUV 4:2:0 are its
    planes (:class:`lit_extract.decode.yuv.Yuv420Frame`), the others (and the zeros) BGR as before.
    ``listener``: heard in the decoder's own pass (:func:`iter_frames_pyav`; ``decoder="pyav"`` and a
    video file only, see :func:`hears_in_decode_pass`).

    ``counted`` (a flow clip: T + 1 frames, the row's T and the next one): ``status`` (and the
    outcome's clip counts) counts a clip's first ``counted`` frames, the row's own; a clip whose
    later frames were not all decoded is in ``outcome.next_lost``. None: the status counts every frame.
    """
    outcome = outcome if outcome is not None else VideoOutcome(path)
    ids = [[int(k) for k in frame_ids] for frame_ids in clip_frame_ids]
    order = sorted(range(len(ids)), key=lambda i: (max(ids[i]), i))
    ends = [max(ids[i]) for i in order]  # last frame of each clip, in emission order
    last_use: dict[int, int] = {}  # frame id -> position in `order` of the last clip needing it
    for position, i in enumerate(order):
        for k in ids[i]:
            last_use[k] = position
    cache: dict[int, Any] = {}
    zeros: Any = None if native else np.zeros((img_size, img_size, 3) if crop is None else crop.shape, np.uint8)
    next_clip = 0

    def emit_until(frame_limit: int) -> Iterator[tuple[int, list[Any], int]]:
        nonlocal next_clip, zeros
        while next_clip < len(order) and ends[next_clip] <= frame_limit:
            i = order[next_clip]
            if native and zeros is None:  # no frame was ever read: every clip is zeros
                zeros = np.zeros((2, 2, 3), np.uint8)
            frames, status = assemble_clip(ids[i], cache, zeros, counted)
            if counted is not None and not all(k in cache for k in ids[i][counted:]):
                outcome.next_lost.add(i)
            outcome.clips_repeated += status == STATUS_REPEATED
            outcome.clips_unreadable += status == STATUS_UNREADABLE
            yield i, frames, status
            for k in set(ids[i]):
                if last_use[k] == next_clip:
                    cache.pop(k, None)
            next_clip += 1

    reader = frame_reader(path, decoder)
    options: dict[str, Any] = {"yuv": True} if yuv and native and reader is iter_frames_pyav and crop is None else {}
    if listener is not None:
        if reader is not iter_frames_pyav:
            raise ValueError(f"{path}: only the PyAV decoder of a video file hears in its own pass")
        options["listener"] = listener
    for k, frame in reader(path, set(last_use), max(last_use), None if native else img_size, crop, outcome.log, **options):
        outcome.frames_read += 1
        if native and zeros is None:
            zeros = np.zeros((*frame.shape[:2], 3), np.uint8)  # BGR zeros of the video's own size
        cache[k] = frame
        if next_clip < len(order) and ends[next_clip] <= k:  # a clip is complete (most frames complete none)
            yield from emit_until(k)
    outcome.first_unreadable_frame = outcome.lost[0][0] if outcome.lost else None
    if next_clip < len(order):
        yield from emit_until(np.iinfo(np.int64).max)


def decode_clips(
    path: str,
    clip_frame_ids: Sequence[np.ndarray],
    img_size: int,
    decoder: Decoder = "opencv",
    outcome: VideoOutcome | None = None,
) -> Iterator[tuple[int, np.ndarray, int]]:
    """Decode one video once and yield ``(clip_position, frames, status)`` for each of its clips.

    ``clip_frame_ids[i]`` are clip ``i``'s sampled frame ids. ``frames`` is (T, img_size, img_size, 3)
    uint8 RGB; ``status`` is one of the ``STATUS_*`` values. Clips are yielded as soon as their last
    frame is decoded; a decoded frame is kept only until the last clip that uses it is out, so memory
    is bounded by clip overlap, not by video length. Clips come out ordered by their last frame id.
    ``outcome`` (if given) is filled in with what was read.
    """
    for i, frames, status in decode_clip_frames(path, clip_frame_ids, img_size, decoder, outcome):
        yield i, np.ascontiguousarray(np.stack(frames)[..., ::-1]), status  # T H W BGR -> T H W RGB
