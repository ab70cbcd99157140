"""Exact frame decoding: which frames a clip samples, and one sequential pass per video.

Frame ``k`` always means the ``k``-th frame of the video in presentation order (counted from 0),
also for H.264 with B-frames: frames are read in order from the start, never by seeking.

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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
from torch.utils.data import get_worker_info

from lit_extract.crops import TenCrop
from lit_extract.errors import LitExtractError

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
    cores; one thread each avoids num_workers x num_cores threads), else 0 = OpenCV's choice."""
    return 1 if get_worker_info() is not None else 0


def iter_frames_opencv(
    path: str, wanted: set[int], last: int, img_size: int | None, crop: TenCrop | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode ``path`` from frame 0 to ``last`` in order; yield ``(k, frame)`` for each ``k`` in ``wanted``.

    Frames not in ``wanted`` are grabbed (decoded) but never converted. Stops early at the first
    frame that can't be read. Frames are BGR (img_size, img_size, 3) uint8 (:func:`resize_frame`),
    or BGR at native size when ``img_size`` is None, or ``crop(frame)`` when a crop is
    given (ten crops: BGR (10, img_size, img_size, 3)).
    """
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, decode_threads()])
    try:
        if not capture.isOpened():
            return
        for k in range(last + 1):
            if not capture.grab():
                return
            if k in wanted:
                ok, bgr = capture.retrieve()
                if not ok or bgr is None:
                    return
                yield k, resize_frame(bgr, img_size) if crop is None else crop(bgr)
    finally:
        capture.release()


def iter_frames_pyav(
    path: str, wanted: set[int], last: int, img_size: int | None, crop: TenCrop | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Same contract as :func:`iter_frames_opencv`, decoding with PyAV (``pip install av``)."""
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise LitExtractError("--data.decoder pyav needs PyAV: pip install av") from exc
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError):
        return
    with container:
        try:
            stream = container.streams.video[0]
            for k, frame in enumerate(container.decode(stream)):
                if k > last:
                    return
                if k in wanted:
                    bgr = frame.to_ndarray(format="bgr24")
                    yield k, resize_frame(bgr, img_size) if crop is None else crop(bgr)
        except (av.error.FFmpegError, IndexError):
            return


FRAME_READERS = {"opencv": iter_frames_opencv, "pyav": iter_frames_pyav}


@dataclass
class VideoOutcome:
    """What one pass over a video found: how far it could be read and how many clips suffered."""

    path: str
    frames_read: int = 0  # number of wanted frames decoded
    clips_repeated: int = 0
    clips_unreadable: int = 0
    first_unreadable_frame: int | None = None

    @property
    def unreadable(self) -> bool:
        """True when no frame at all could be decoded."""
        return self.frames_read == 0


def assemble_clip(frame_ids: Sequence[int], cache: dict[int, Any], zeros: Any) -> tuple[list[Any], int]:
    """A clip's T frames from ``cache`` with the fallback rule (``zeros`` if nothing came before), and its status."""
    frames, last_good, missing = [], None, 0
    for k in frame_ids:
        frame = cache.get(k)
        if frame is None:
            missing += 1
            frame = last_good if last_good is not None else zeros
        else:
            last_good = frame
        frames.append(frame)
    if missing == 0:
        status = STATUS_OK
    elif last_good is None:
        status = STATUS_UNREADABLE
    else:
        status = STATUS_REPEATED
    return frames, status


def write_native_clip(frames: Sequence[np.ndarray], out: np.ndarray) -> None:
    """Copy a clip's T BGR (h, w, 3) frames into ``out``, a uint8 (T, S) batch slot, S >= 3 h w:
    each frame as its R, G, B planes (3, h, w), packed at the start of its row."""
    for t, frame in enumerate(frames):
        height, width = frame.shape[:2]
        planes = out[t, : 3 * height * width].reshape(3, height, width)  # C H W, contiguous
        cv2.split(frame, [planes[2], planes[1], planes[0]])


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
) -> Iterator[tuple[int, list[Any], int]]:
    """:func:`decode_clips` without copies: yields ``(clip_position, frames, status)`` where ``frames``
    is a list of T BGR (img_size, img_size, 3) uint8 arrays, shared by the clips that sample the
    same frame: read them, never write to them (:func:`write_clip` copies them into a batch).
    With a ``crop`` (:class:`lit_extract.crops.TenCrop`) each frame is ``crop(frame)``
    instead, of shape ``crop.shape``; the video is still decoded once.

    ``native=True`` (the device transform): ``frames`` are BGR at the video's own size instead, and a
    frame with nothing to repeat is zeros of that size (2 x 2 when no frame could be read at all).
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
            frames, status = assemble_clip(ids[i], cache, zeros)
            outcome.clips_repeated += status == STATUS_REPEATED
            outcome.clips_unreadable += status == STATUS_UNREADABLE
            yield i, frames, status
            for k in set(ids[i]):
                if last_use[k] == next_clip:
                    cache.pop(k, None)
            next_clip += 1

    reader = FRAME_READERS[decoder]
    for k, frame in reader(path, set(last_use), max(last_use), None if native else img_size, crop):
        outcome.frames_read += 1
        if native and zeros is None:
            zeros = np.zeros_like(frame)  # the video's own size
        cache[k] = frame
        yield from emit_until(k)
    if next_clip < len(order):
        unread = [k for k in sorted(last_use) if k not in cache and last_use[k] >= next_clip]
        outcome.first_unreadable_frame = unread[0] if unread else None
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
