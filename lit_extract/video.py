"""Exact frame decoding: which frames a clip samples, and one sequential pass per video.

Frame ``k`` always means the ``k``-th frame of the video in presentation order (counted from 0),
also for H.264 with B-frames: frames are read in order from the start, never by seeking.

Clip semantics (the reference notebook's): a clip ``[start, end)`` samples the frame ids
``start + round(linspace(0, n - 1, T))`` with ``n = max(1, end - start)``; each frame is converted
BGR->RGB and resized to ``img_size x img_size`` with bilinear interpolation (cv2.INTER_LINEAR).
A frame that can't be read repeats the last good frame of the clip (zeros if there is none).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

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
    """One decoded BGR frame (H, W, 3) uint8 -> RGB (img_size, img_size, 3) uint8, bilinear."""
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (img_size, img_size), interpolation=cv2.INTER_LINEAR)


def iter_frames_opencv(path: str, wanted: set[int], last: int, img_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Decode ``path`` from frame 0 to ``last`` in order; yield ``(k, frame)`` for each ``k`` in ``wanted``.

    Frames not in ``wanted`` are grabbed (decoded) but never converted. Stops early at the first
    frame that can't be read. Frames are RGB (img_size, img_size, 3) uint8.
    """
    capture = cv2.VideoCapture(path)
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
                yield k, to_model_frame(bgr, img_size)
    finally:
        capture.release()


def iter_frames_pyav(path: str, wanted: set[int], last: int, img_size: int) -> Iterator[tuple[int, np.ndarray]]:
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
                    yield k, to_model_frame(bgr, img_size)
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
    notes: list[str] = field(default_factory=list)

    @property
    def unreadable(self) -> bool:
        """True when no frame at all could be decoded."""
        return self.frames_read == 0


def assemble_clip(frame_ids: np.ndarray, cache: dict[int, np.ndarray], img_size: int) -> tuple[np.ndarray, int]:
    """Stack a clip's frames as (T, H, W, 3) uint8 with the fallback rule; return it and its status."""
    frames, last_good, missing = [], None, 0
    for k in frame_ids:
        frame = cache.get(int(k))
        if frame is None:
            missing += 1
            frame = last_good if last_good is not None else np.zeros((img_size, img_size, 3), np.uint8)
        else:
            last_good = frame
        frames.append(frame)
    if missing == 0:
        status = STATUS_OK
    elif last_good is None:
        status = STATUS_UNREADABLE
    else:
        status = STATUS_REPEATED
    return np.stack(frames), status  # T H W C


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
    outcome = outcome if outcome is not None else VideoOutcome(path)
    order = sorted(range(len(clip_frame_ids)), key=lambda i: (int(clip_frame_ids[i].max()), i))
    last_use: dict[int, int] = {}  # frame id -> position in `order` of the last clip needing it
    for position, i in enumerate(order):
        for k in clip_frame_ids[i]:
            last_use[int(k)] = position
    wanted = set(last_use)
    cache: dict[int, np.ndarray] = {}
    next_clip = 0

    def emit_until(frame_limit: int) -> Iterator[tuple[int, np.ndarray, int]]:
        nonlocal next_clip
        while next_clip < len(order) and int(clip_frame_ids[order[next_clip]].max()) <= frame_limit:
            i = order[next_clip]
            frames, status = assemble_clip(clip_frame_ids[i], cache, img_size)
            outcome.clips_repeated += status == STATUS_REPEATED
            outcome.clips_unreadable += status == STATUS_UNREADABLE
            yield i, frames, status
            for k in set(int(k) for k in clip_frame_ids[i]):
                if last_use[k] == next_clip:
                    cache.pop(k, None)
            next_clip += 1

    reader = FRAME_READERS[decoder]
    for k, frame in reader(path, wanted, max(wanted), img_size):
        outcome.frames_read += 1
        cache[k] = frame
        yield from emit_until(k)
    if next_clip < len(order):
        unread = [int(k) for k in sorted(wanted) if k not in cache and last_use[k] >= next_clip]
        outcome.first_unreadable_frame = unread[0] if unread else None
        yield from emit_until(np.iinfo(np.int64).max)
