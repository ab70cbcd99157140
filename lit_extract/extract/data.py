"""ClipDataModule: the index's splits as predict dataloaders that decode each video once.

Work is grouped by video. Videos are assigned to DDP ranks and then to DataLoader workers,
balanced by clip count, as a pure function of (pending rows, world size, workers): no two
processes decode the same video, and every pending row is produced exactly once. Each worker
opens a video once, decodes it in order and emits all of that video's clips from that pass.

Batches are :class:`lit_extract.decode.buffers.ClipBatch` dicts (pinned when on GPU)::

    {"clips":  uint8 (B, C, T, H, W),   # RGB, not normalized: the module normalizes on the device
                                        # (B, crops, C, T, H, W) with crops 5 or 10 (lit_extract.decode.crops);
                                        # one crop: the whole frame resized, or its centre crop
     "rows":   int64 (B,),              # row position within the split (= output row)
     "y":      int64 (B,),              # label from the index
     "status": uint8 (B,),              # lit_extract.decode.video.STATUS_*
     "lost":   int64 (L, 3)}            # (row, first, last): frames first..last of that row's video
                                        # could not be decoded (known when the batch was made)

With a flow encoder in the run (the module's ``needs_next_frame``) every clip has T + 1 frames: its
T sampled frames and the next one (:func:`lit_extract.decode.video.next_frame_ids`), from which the
module makes T flows (:mod:`lit_extract.extract.flow_stream`). ``"status"`` counts the row's T
frames (what the video encoders see); the batch also holds the flow rows' status over all T + 1::

    {"flow_status": uint8 (B,), ...}    # "status", or 1 (repeated) where only the next frame was lost

With audio encoders in the run (the module's ``sound_input``) each batch also holds each row's
sound (:mod:`lit_extract.decode.sound`, in the worker that decodes its frames: with
``decoder="pyav"`` in the frame decoder's own pass, one open of each file; OpenCV reads no sound,
so with ``"opencv"`` the sound takes a PyAV pass of its own), and with audio encoders only, no
frame is decoded and ``"clips"`` is absent::

    {"audio":          float32 (B, K, S),   # K windows of S samples per row (K = 1 unless anchor span)
     "audio_examples": int64 (B,),          # windows used by each row (the rest are zeros)
     "audio_status":   uint8 (B,), ...}     # lit_extract.decode.sound.AUDIO_* per row

With ``transform="device"`` the workers do not resize, and ``"clips"`` is replaced by the
sampled frames at native size, resized by the module on the device
(:mod:`lit_extract.decode.device_transform`)::

    {"frames": uint8 (B, T, S),         # each frame's R, G, B planes (3, h, w), packed
     "sizes":  int64 (B, 2),            # h, w of each clip's video
     "colour": int64 (B, T), ...}       # 0; with decoder "pyav", YUV 4:2:0 frames are shipped as
                                        # their planes, converted on the device (lit_extract.decode.yuv)

With several crops (or the centre crop) the device path ships the same native-size frames; the data
module cuts the crops when the batch reaches the device (:meth:`ClipDataModule.on_after_batch_transfer`),
so ``predict_step`` sees ``"clips"`` (B, crops, C, T, H, W) (the centre crop: (B, C, T, H, W)) as from the CPU.

Inside DataLoader workers, batch buffers are reused once the main process has released them
(:mod:`lit_extract.decode.buffers`).

One command, one GPU::

    python -m lit_extract predict --config configs/swin3d.yaml
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from lit_extract.decode.buffers import BufferPool, ClipBatch
from lit_extract.decode.crops import CENTRE, CROP_COUNTS, CROP_ORDERS, CROPS, CropGeometry, TenCrop, default_order, parse_size
from lit_extract.decode.device_transform import crops_from_native
from lit_extract.decode.sound import ANCHORS, Anchor, RowSound, SoundRequest
from lit_extract.errors import LitExtractError
from lit_extract.indexing.index import SPLITS, file_sha256, load_index, split_rows
from lit_extract.extract.stopping import ignore_stop_signals
from lit_extract.decode.video import (
    STATUS_REPEATED,
    Decoder,
    VideoOutcome,
    VideoReadError,
    decode_clip_frames,
    format_ranges,
    hears_in_decode_pass,
    import_pyav,
    native_bytes,
    next_frame_ids,
    sample_frame_ids,
    write_clip,
    write_native_clip,
)

log = logging.getLogger(__name__)

OnError = Literal["warn", "fail"]
Transform = Literal["auto", "exact", "device"]

# Buffers a worker may hold: the DataLoader lets it run prefetch_factor batches ahead, plus the
# batch being pinned and the one being computed; more are allocated fresh, never reused while busy.
PREFETCH_FACTOR = 4
POOL_CAPACITY = PREFETCH_FACTOR + 4


@dataclass(frozen=True)
class VideoWork:
    """The pending clips of one video: their row positions in the split and sampled frame ids."""

    path: str
    rows: np.ndarray  # int64 (n,)
    frame_ids: np.ndarray  # int64 (n, T): sampled frame ids of each clip
    spans: np.ndarray | None = None  # int64 (n, 2): [start_frame, end_frame) of each row (for its sound)

    @property
    def clips(self) -> int:
        return len(self.rows)


def group_by_video(rows: pd.DataFrame, pending: np.ndarray, frames: int, next_frame: bool = False) -> list[VideoWork]:
    """Pending rows of one split grouped by video, videos in order of their first row. ``next_frame``:
    each clip samples one frame more, the next one (:func:`~lit_extract.decode.video.next_frame_ids`)."""
    selected = rows[pending]
    starts = selected["start_frame"].to_numpy(np.int64)
    lengths = np.maximum(1, selected["end_frame"].to_numpy(np.int64) - starts)
    offsets = {n: sample_frame_ids(0, int(n), frames) for n in np.unique(lengths)}  # few distinct lengths
    frame_ids = starts[:, None] + np.stack([offsets[n] for n in lengths]) if len(selected) else np.empty((0, frames), np.int64)
    if next_frame:  # n T -> n T+1: the flow clip's last frame
        following = next_frame_ids(frame_ids, selected["n_frames"].to_numpy(np.int64)) if len(selected) else np.empty(0, np.int64)
        frame_ids = np.concatenate([frame_ids, following[:, None]], axis=1)
    positions = selected.index.to_numpy(np.int64)
    spans = np.stack([starts, starts + lengths], axis=1)  # n 2
    works = []
    for members in selected.groupby("path", sort=False).indices.values():
        works.append(VideoWork(str(selected["path"].iat[members[0]]), positions[members], frame_ids[members], spans[members]))
    return works


def balance(loads: Sequence[int], bins: int) -> list[list[int]]:
    """Assign items (by position) to ``bins`` bins, largest first to the lightest bin (ties: lowest id).

    Deterministic: the same loads and bins always give the same assignment. Each bin's items are
    returned in ascending position order.
    """
    assignment: list[list[int]] = [[] for _ in range(bins)]
    totals = [0] * bins
    for item in sorted(range(len(loads)), key=lambda i: (-loads[i], i)):
        target = min(range(bins), key=lambda b: (totals[b], b))
        assignment[target].append(item)
        totals[target] += loads[item]
    return [sorted(items) for items in assignment]


def shard_videos(works: Sequence[VideoWork], rank: int, world_size: int, num_workers: int) -> list[list[VideoWork]]:
    """This rank's videos, split into one list per DataLoader worker (at least one list)."""
    per_rank = balance([w.clips for w in works], world_size)[rank]
    mine = [works[i] for i in per_rank]
    per_worker = balance([w.clips for w in mine], max(1, num_workers))
    return [[mine[i] for i in items] for items in per_worker]


class VideoClipStream(IterableDataset):
    """Batches of clips from whole videos; each DataLoader worker decodes its own videos.

    ``len()`` is the exact number of batches this rank yields (sum over its workers of
    ``ceil(clips / batch_size)``); use with ``DataLoader(batch_size=None)``. ``transform`` is
    ``exact`` (uint8 RGB clips made on the CPU) or ``device`` (native-size frames, see the module
    docstring). ``sound``: each row's sound is read too (:mod:`lit_extract.decode.sound`);
    ``frames_needed`` False: no frame is decoded (a run of audio encoders only). ``next_frame``: each
    clip's ``frames`` end with the flow's next frame, left out of the row status (module docstring).
    """

    def __init__(
        self,
        shards: list[list[VideoWork]],
        labels: np.ndarray,
        frames: int,
        img_size: int,
        batch_size: int,
        decoder: Decoder = "opencv",
        on_error: OnError = "warn",
        transform: Literal["exact", "device"] = "exact",
        crops: int = 1,
        resize_short: int = 256,
        geometry: CropGeometry | None = None,
        sound: SoundRequest | None = None,
        frames_needed: bool = True,
        next_frame: bool = False,
    ) -> None:
        self.shards = shards
        self.next_frame = next_frame  # each clip's last frame is the flow's next frame, not the row's
        self.sound, self.frames_needed = sound, frames_needed
        self.crops = crops
        self.crop = geometry or (TenCrop(resize_short, img_size) if crops == CROPS else None)
        self.labels = labels
        self.frames = frames
        self.img_size = img_size
        self.batch_size = batch_size
        self.decoder = decoder
        self.on_error = on_error
        self.transform = transform
        self.pool = BufferPool(len(shards), POOL_CAPACITY)

    def __len__(self) -> int:
        return sum(math.ceil(sum(w.clips for w in shard) / self.batch_size) for shard in self.shards)

    @property
    def clips(self) -> int:
        """Clips this rank yields."""
        return sum(w.clips for shard in self.shards for w in shard)

    def _my_videos(self) -> list[VideoWork]:
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        if workers != len(self.shards):
            raise RuntimeError(f"planned for {len(self.shards)} workers, running with {workers}")
        return self.shards[worker]

    def __iter__(self) -> Iterator[ClipBatch]:
        native = self.transform == "device"
        batch = _BatchBuilder(self, native)
        # A full batch is yielded only when the next clip is ready or after the video's report:
        # the consumer stops pulling after the last batch, so nothing may follow the final yield.
        for work in self._my_videos():
            sound = self._sound_of(work)
            if not self.frames_needed:  # audio encoders only: the rows' sound, no frames
                for i in range(work.clips):
                    if batch.full:
                        yield batch.take()
                    batch.add(None, work.rows[i], 0, (sound, *work.spans[i]))
                continue
            outcome = VideoOutcome(work.path)
            clips = decode_clip_frames(
                work.path, work.frame_ids, self.img_size, self.decoder, outcome, None if native else self.crop,
                native=native, yuv=native,  # native frames: the crops are cut on the device
                listener=sound.listener if sound is not None and self._hears_in_decode_pass(work) else None,
                counted=self.frames - 1 if self.next_frame else None,  # the row status: its own T frames
            )
            for i, frames, clip_status in clips:
                if batch.full:
                    yield batch.take()
                batch.add(frames, work.rows[i], clip_status, None if sound is None else (sound, *work.spans[i]),
                          next_lost=i in outcome.next_lost)
                batch.note_lost(work.path, work.rows[i], outcome.lost)
            self._report(outcome)
            batch.note_lost(work.path, work.rows[i], outcome.lost)  # the batch holding its last clip
        if batch.filled:
            yield batch.take()

    def _hears_in_decode_pass(self, work: VideoWork) -> bool:
        return self.frames_needed and hears_in_decode_pass(work.path, self.decoder)

    def _sound_of(self, work: VideoWork) -> RowSound | None:
        """The sound of the video's rows (None without audio encoders): heard in the frame decoder's
        pass where it can (PyAV), else read in a pass of its own (OpenCV frames, or no frames at all)."""
        if self.sound is None:
            return None
        last = int(work.spans[:, 1].max()) - 1
        return self.sound.listen(last) if self._hears_in_decode_pass(work) else self.sound.read(work.path, last)

    def _report(self, outcome: VideoOutcome) -> None:
        if outcome.unreadable:
            message = f"{outcome.path}: video unreadable, its clips are zeros (status 2)"
            if self.on_error == "fail":
                raise VideoReadError(f"{message}; fix or remove the file, or pass --data.on_error warn")
            log.warning(message)
        elif outcome.lost or outcome.clips_repeated or outcome.clips_unreadable:
            next_lost = (f"; {len(outcome.next_lost)} flow row(s) lost the next frame (their flow status 1)"
                         if outcome.next_lost else "")
            log.warning(
                f"{outcome.path}: frames {format_ranges(outcome.lost)} lost; "
                f"{outcome.clips_repeated} clip(s) repeat frames (status 1), "
                f"{outcome.clips_unreadable} clip(s) are zeros (status 2){next_lost}"
            )


class _BatchBuilder:
    """Fills one batch at a time, clip by clip, straight into its (pooled) buffer."""

    def __init__(self, stream: VideoClipStream, native: bool) -> None:
        self.stream, self.native = stream, native
        self.size = stream.batch_size
        self._start()

    def _start(self) -> None:
        self.filled = 0
        self.buffer: torch.Tensor | None = None
        self.slot = None
        self.rows = np.empty(self.size, np.int64)
        self.status = np.empty(self.size, np.uint8)
        self.flow_status = np.empty(self.size, np.uint8)  # with the next frame: over all T + 1 frames
        self.sizes = np.zeros((self.size, 2), np.int64)
        self.colour = np.zeros((self.size, self.stream.frames), np.int64)
        if self.stream.sound is not None:  # fresh each batch: a batch's sound is small (B x K x S float32)
            self.audio = np.zeros((self.size, 1, self.stream.sound.samples), np.float32)  # B K S
            self.audio_examples = np.zeros(self.size, np.int64)
            self.audio_status = np.zeros(self.size, np.uint8)
        self.lost: dict[str, tuple[int, list[list[int]]]] = {}  # video -> (a row of it here, lost ranges)

    @property
    def full(self) -> bool:
        return self.filled == self.size

    def _acquire(self, frame_bytes: int) -> None:
        """A buffer for the batch; on the device path, grown (copying what is filled) for bigger frames."""
        s = self.stream
        if not self.native:
            shape = (self.size, 3, s.frames, s.img_size, s.img_size)  # B C T H W
            if s.crops > 1:
                shape = (self.size, s.crops, *shape[1:])  # B crops C T H W
            if self.buffer is None:
                self.buffer, self.slot = s.pool.acquire(shape)
            return
        if self.buffer is not None and self.buffer.shape[2] >= frame_bytes:
            return
        old, old_slot = self.buffer, self.slot
        self.buffer, self.slot = s.pool.acquire((self.size, s.frames, frame_bytes))  # B T S
        if old is not None:
            self.buffer[: self.filled, :, : old.shape[2]] = old[: self.filled]
            if old_slot is not None:
                ClipBatch(slot=old_slot).release()  # never sent: this worker hands it straight back

    def add(self, frames: list | None, row: int, status: int, sound: tuple[RowSound, int, int] | None = None,
            next_lost: bool = False) -> None:
        """Copy one clip's T frames (None: no frames decoded) into the next slot of the batch, and
        ``sound`` = (the video's :class:`RowSound`, the row's start and end frame) when the run hears.
        ``status`` counts the row's own frames; ``next_lost``: the flow's next frame was lost too."""
        i = self.filled
        if sound is not None:
            self._add_sound(i, *sound)
        if frames is not None:
            self._add_frames(i, frames)
        self.rows[i], self.status[i] = row, status
        self.flow_status[i] = max(status, STATUS_REPEATED) if next_lost else status  # the flow saw T + 1 frames
        self.filled += 1

    def _add_frames(self, i: int, frames: list) -> None:
        """Copy one clip's T frames into slot ``i``."""
        if self.native:
            height, width = frames[0].shape[:2]  # every frame of a clip comes from one video
            self._acquire(max(native_bytes(frame) for frame in frames))
            write_native_clip(frames, self.buffer[i].numpy(), self.colour[i])
            self.sizes[i] = (height, width)
        elif self.stream.crops == 1:  # the frame resized, or its centre crop
            self._acquire(0)
            write_clip(frames, self.buffer[i].numpy())  # frames go straight to their slot: C T H W
        else:
            self._acquire(0)
            slot = self.buffer[i].numpy()  # crops C T H W: crop c of every frame
            for c in range(self.stream.crops):
                write_clip([frame[c] for frame in frames], slot[c])

    def _add_sound(self, i: int, sound: RowSound, start_frame: int, end_frame: int) -> None:
        """The row's windows into slot ``i`` (the batch's K grows when a row needs more windows)."""
        ends = sound.ends(int(start_frame), int(end_frame))
        count = len(ends)
        if count > self.audio.shape[1]:
            grown = np.zeros((self.size, count, self.audio.shape[2]), np.float32)  # B K S
            grown[:, : self.audio.shape[1]] = self.audio
            self.audio = grown
        self.audio_examples[i], self.audio_status[i] = sound.row(int(start_frame), int(end_frame), self.audio[i], ends)

    def note_lost(self, path: str, row: int, lost: list[list[int]]) -> None:
        """Send ``lost`` (a video's lost frame ranges so far) with this batch, which holds its clip ``row``.

        A clip is emitted only after every range up to its last frame is known, so once a row is
        written its video's ranges are too (the writer keeps them; a resumed run loses none)."""
        if lost:
            self.lost[path] = (int(row), [list(r) for r in lost])

    def take(self) -> ClipBatch:
        """The batch filled so far (its first ``filled`` clips), yielded without copies; starts a new one."""
        n, s = self.filled, self.stream
        rows = self.rows[:n]
        items = {
            "rows": torch.from_numpy(rows),
            "y": torch.from_numpy(s.labels[rows].astype(np.int64, copy=False)),
            "status": torch.from_numpy(self.status[:n]),
            **({"flow_status": torch.from_numpy(self.flow_status[:n])} if s.next_frame else {}),
            "lost": torch.tensor([(row, a, b) for row, ranges in self.lost.values() for a, b in ranges],
                                 dtype=torch.int64).reshape(-1, 3),
        }
        if s.sound is not None:
            items.update(audio=torch.from_numpy(self.audio[:n]), audio_examples=torch.from_numpy(self.audio_examples[:n]),
                         audio_status=torch.from_numpy(self.audio_status[:n]))
        if self.buffer is not None and self.native:
            items = {"frames": self.buffer[:n], "sizes": torch.from_numpy(self.sizes[:n]),
                     "colour": torch.from_numpy(self.colour[:n]), **items}
        elif self.buffer is not None:
            items = {"clips": self.buffer[:n], **items}  # (no buffer: no frames decoded, audio encoders only)
        batch = ClipBatch(items, slot=self.slot)
        self._start()
        return batch


def as_it_is(batch: ClipBatch) -> ClipBatch:
    """The DataLoader's collate function: a stream batch is already a batch."""
    return batch


class ClipDataModule(pl.LightningDataModule):
    """The index's splits as predict dataloaders, one per split, in ``splits`` order, never shuffled.

    Args:
        index_path: the index CSV (see :mod:`lit_extract.indexing.index`).
        splits: which splits to extract, in this order (dataloader ``i`` = ``splits[i]``); each
            must have rows in the index. Default: train, val, test, those the index has (a warning
            names the ones it lacks, e.g. no val split).
        frames: T, frames sampled per clip.
        img_size: frames are resized to ``img_size x img_size``.
        batch_size: clips per batch.
        num_workers: DataLoader worker processes per rank, each decoding whole videos.
        decoder: ``opencv`` (default) or ``pyav`` (sees every decode error; skips the
            non-reference frames no clip samples on H.264; with ``transform`` device,
            frames in YUV 4:2:0 go to the device as the decoder's planes, half the bytes, and are
            converted there exactly as the decoder would: :mod:`lit_extract.decode.yuv`). The fastest
            loader on a GPU is ``pyav`` with ``device``; the clips are the same with either.
        on_error: ``warn``: an unreadable video's clips get status 2 and the run goes on;
            ``fail``: stop at the first unreadable video, naming it.
        transform: where frames are resized. ``exact``: on the CPU workers, bit-identical to the
            reference notebook (cv2.resize). ``device``: the workers ship frames at native size and
            the resize runs on the GPU (same formula, other rounding: within 1% of ``exact`` in the
            embeddings; faster where the CPU is the limit, as on GPU machines). ``auto`` (default):
            ``device`` on a CUDA device, else ``exact``. The choice is recorded in
            run record and the manifest; a resumed run must keep it.
        crops: ``1``: each frame resized to ``img_size x img_size`` (with ``crop_order`` ``centre``:
            the frame resized so its shorter side is ``resize_short``, or to ``resize``, then its
            centre ``img_size`` crop, the five crops' centre box; rows stay (D,)); ``10``: ten-crop (frame
            resized so its shorter side is ``resize_short``, then the four corner and centre
            ``img_size`` crops and their flips, torchvision ``TenCrop`` order; see
            :mod:`lit_extract.decode.crops`); ``5``: the four corners and the centre, no flips. Clips become
            (crops, C, T, H, W); each video is still decoded once. With ``transform`` device the
            resize and crops run on the device (:func:`lit_extract.decode.device_transform.crops_from_native`).
        resize_short: shorter side of the frame before the crops (``crops`` 5 or 10, or the centre
            crop, without ``resize``; >= ``img_size``).
        resize: ``WIDTHxHEIGHT`` (e.g. ``340x256``, the I3D extractors'): every frame resized to
            this fixed size before the crops, instead of ``resize_short`` (``crops`` 5 or 10, or
            the centre crop).
        crop_order: the order of the crops (:data:`lit_extract.decode.crops.CROP_ORDERS`): ``torchvision``
            (tl, tr, bl, br, centre), ``i3d_extractor`` (tl, tr, centre, bl, br: RTFM's I3D
            ResNet-50 features) or ``centre_first`` (centre, tl, tr, bl, br: XD-Violence's five-crop
            files); ten crops add the same five of the mirrored frame. ``centre``: with ``crops`` 1,
            the centre crop alone (video_features' I3D and the THUMOS'14 features: short side 256,
            centre 224). ``auto`` (default): ``torchvision`` for ten crops, ``centre_first`` for
            five, the whole frame resized for one.
        audio_anchor: which sound each row gets when the run has audio encoders
            (:mod:`lit_extract.decode.sound`): ``end`` (default, XD-Violence's convention: the
            encoder's window ending where the row's last frame ends), ``centre`` (the window centred
            on the row) or ``span`` (the row's whole span, as back-to-back windows whose embeddings
            are averaged). Audio rows have no crops. Which inputs are read follows the model: frames
            for video encoders, sound for audio encoders (only the sound when all are audio).
    """

    def __init__(
        self,
        index_path: str = "processed/index_clips.csv",
        splits: list[str] | None = None,
        frames: int = 8,
        img_size: int = 224,
        batch_size: int = 16,
        num_workers: int = 8,
        decoder: Decoder = "opencv",
        on_error: OnError = "warn",
        transform: Transform = "auto",
        crops: Literal[1, 5, 10] = 1,
        resize_short: int = 256,
        resize: str | None = None,
        crop_order: Literal["auto", "torchvision", "i3d_extractor", "centre_first", "centre"] = "auto",
        audio_anchor: Anchor = "end",
    ) -> None:
        super().__init__()
        # A rank may own no video of a split (more ranks than videos): it still joins every barrier.
        self.allow_zero_length_dataloader_with_multiple_devices = True
        self.splits_given = splits is not None
        splits = list(SPLITS) if splits is None else list(splits)
        unknown = [s for s in splits if s not in SPLITS]
        if unknown or not splits or len(set(splits)) != len(splits):
            raise LitExtractError(f"--data.splits {list(splits)}: give distinct names from {', '.join(SPLITS)}")
        for name, value in (("frames", frames), ("img_size", img_size), ("batch_size", batch_size)):
            if value < 1:
                raise LitExtractError(f"--data.{name} must be >= 1, got {value}")
        if num_workers < 0:
            raise LitExtractError(f"--data.num_workers must be >= 0, got {num_workers}")
        if transform not in ("auto", "exact", "device"):
            raise LitExtractError(f"--data.transform {transform!r}: choose auto, exact or device")
        self.geometry = crop_geometry(crops, img_size, resize_short, resize, crop_order)
        if audio_anchor not in ANCHORS:
            raise LitExtractError(f"--data.audio_anchor {audio_anchor!r}: choose {', '.join(ANCHORS)}")
        if decoder == "pyav":
            import_pyav()  # here, before the workers fork: they inherit it (and a missing PyAV is named now)
        self.save_hyperparameters()
        self.index_path = str(index_path)
        self.splits = list(splits)
        self.frames, self.img_size = frames, img_size
        self.batch_size, self.num_workers = batch_size, num_workers
        self.decoder, self.on_error = decoder, on_error
        self.transform = transform
        self.crops, self.resize_short = crops, resize_short
        self.resize, self.crop_order = resize, crop_order
        self.audio_anchor = audio_anchor
        self._told_sound_pass = False
        self.rows: dict[str, pd.DataFrame] = {}
        self.pending: dict[str, np.ndarray] = {}
        self.index_sha256: str | None = None

    def setup(self, stage: str) -> None:
        """Load and validate the index (every rank reads it); raises before anything is written."""
        if self.rows:
            return
        index = load_index(self.index_path)
        self.splits, missing = self.resolve_splits(index)
        if missing and (self.trainer is None or self.trainer.is_global_zero):
            log.warning(f"{self.index_path} has no {' or '.join(missing)} rows; extracting {', '.join(self.splits)} "
                        "(--data.splits names the splits to extract)")
        self.rows = {split: split_rows(index, split) for split in self.splits}
        self.pending = {split: np.ones(len(rows), bool) for split, rows in self.rows.items()}
        self.index_sha256 = file_sha256(self.index_path)

    def resolve_splits(self, index: pd.DataFrame) -> tuple[list[str], list[str]]:
        """``(splits to extract, default splits the index lacks)``.

        Given ``splits`` are kept as they are (one without rows raises when its rows are read,
        naming the splits the index has); the default keeps the splits that have rows.
        """
        if self.splits_given:
            return list(self.splits), []
        present = set(index["split"])
        return [s for s in self.splits if s in present], [s for s in self.splits if s not in present]

    def split_sizes(self) -> dict[str, int]:
        """Rows per split, in ``splits`` order."""
        return {split: len(rows) for split, rows in self.rows.items()}

    def exclude_done(self, split: str, done: np.ndarray) -> None:
        """Skip rows already written (``done`` is (rows,) bool/uint8): used when a run resumes."""
        self.pending[split] = ~np.asarray(done, bool)

    def resolved_transform(self) -> Literal["exact", "device"]:
        """``transform`` with ``auto`` resolved: ``device`` when the trainer runs on CUDA, else ``exact``."""
        if self.transform != "auto":
            return self.transform
        trainer = self.trainer
        on_cuda = trainer is not None and trainer.strategy.root_device.type == "cuda"
        return "device" if on_cuda else "exact"

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def stream(self, split: str) -> VideoClipStream:
        """The dataset of this rank for ``split`` (its videos, sharded over its workers)."""
        rank, world_size = self._rank()
        sound, frames_needed = self.inputs()
        next_frame = self.next_frame()
        works = group_by_video(self.rows[split], self.pending[split], self.frames, next_frame)
        shards = shard_videos(works, rank, world_size, self.num_workers)
        labels = self.rows[split]["y"].to_numpy(np.int64)
        return VideoClipStream(
            shards, labels, self.frames + next_frame, self.img_size, self.batch_size, self.decoder, self.on_error,
            self.resolved_transform(), self.crops, self.resize_short, geometry=self.geometry,
            sound=sound, frames_needed=frames_needed, next_frame=next_frame,
        )

    def inputs(self) -> tuple[SoundRequest | None, bool]:
        """``(the rows' sound request or None, whether frames are decoded)``, as the model asks:
        its ``sound_input`` (the windows its audio encoders take, None without any) and its
        ``needs_frames`` (False when every encoder it still runs is an audio encoder)."""
        module = self.trainer.lightning_module if self.trainer is not None else None
        sound_input = getattr(module, "sound_input", None)
        sound = None if sound_input is None else SoundRequest(
            self.audio_anchor, sound_input.sample_rate, sound_input.samples, sound_input.hop)
        if sound is not None:
            try:  # here, before the workers fork: a missing PyAV is named in one line
                import_pyav()
            except LitExtractError as exc:
                raise LitExtractError("audio encoders read the sound with PyAV: pip install av "
                                      "(or pip install -e '.[pyav]')") from exc
        frames = bool(getattr(module, "needs_frames", True))
        if sound is not None and frames and self.decoder == "opencv" and not self._told_sound_pass:
            log.info("OpenCV reads no sound: each video's sound takes a PyAV pass of its own; "
                     "--data.decoder pyav reads frames and sound in one pass")
            self._told_sound_pass = True
        return sound, frames

    def next_frame(self) -> bool:
        """True when the model asks for each row's next frame too (its ``needs_next_frame``: a flow
        encoder's clip of T flows needs T + 1 frames, :mod:`lit_extract.extract.flow_stream`)."""
        module = self.trainer.lightning_module if self.trainer is not None else None
        return bool(getattr(module, "needs_next_frame", False))

    def predict_dataloader(self) -> list[DataLoader]:
        """One loader per split; batches are yielded as soon as any worker has one (order is free)."""
        pin = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        loaders = []
        for split in self.splits:
            dataset = self.stream(split)
            workers = self.num_workers
            loaders.append(
                DataLoader(
                    dataset,
                    batch_size=None,
                    collate_fn=as_it_is,  # batches are made whole by the stream (default_convert would copy each)
                    num_workers=workers,
                    pin_memory=pin,
                    in_order=False,  # rows carry their position; never wait on a slow worker
                    persistent_workers=False,
                    prefetch_factor=PREFETCH_FACTOR if workers else None,
                    worker_init_fn=ignore_stop_signals,  # SIGTERM/SIGINT: the main process stops the run
                )
            )
        return loaders

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Only the clips (or frames) go to the device (non-blocking from pinned memory); rows,
        labels, status and sizes stay on the host, where the writer reads them without waiting."""
        if isinstance(batch, ClipBatch):
            keys = [key for key in ("frames", "clips", "audio") if key in batch]
            return batch.replace(**{key: batch[key].to(device, non_blocking=True) for key in keys})
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """A device-path batch of several crops (or of the centre crop), now on the device: its frames
        become ``"clips"`` uint8 (B, crops, C, T, H, W) (the centre crop: (B, C, T, H, W)), resized and
        cut there (:func:`lit_extract.decode.device_transform.crops_from_native`)."""
        if isinstance(batch, ClipBatch) and "frames" in batch and self.geometry is not None:
            clips = crops_from_native(batch["frames"], batch["sizes"], self.geometry, batch.get("colour"))
            batch = batch.replace(clips=clips)
            for key in ("frames", "sizes", "colour"):
                batch.pop(key, None)
        return batch

    def describe(self) -> dict[str, object]:
        """What defines the clips (for the manifest and for checking a resumed run)."""
        return {
            "index": {"path": str(Path(self.index_path).resolve()), "sha256": self.index_sha256},
            "frames": self.frames,
            "img_size": self.img_size,
            "transform": self.resolved_transform(),
            "crops": self.crops,
            "resize_short": self.resize_short if self.geometry and not self.geometry.resize else None,  # else unused
            "resize": self.resize and "{}x{}".format(*self.geometry.resize),  # WIDTHxHEIGHT, or None
            "crop_order": self.geometry and self.geometry.order,  # None for one crop
            "audio_anchor": self.audio_anchor,  # the rows' sound, for audio encoders
            "splits": self.split_sizes(),
        }


def crop_geometry(
    crops: int, img_size: int, resize_short: int, resize: str | None, crop_order: str
) -> CropGeometry | None:
    """The :class:`CropGeometry` of ``--data.crops 5`` / ``10`` or of the centre crop (``--data.crops 1
    --data.crop_order centre``); None for one crop of the whole frame. The flags checked:
    a bad value raises one :class:`LitExtractError` line naming the flag."""
    if crops not in CROP_COUNTS:
        raise LitExtractError(f"--data.crops must be one of {', '.join(map(str, CROP_COUNTS))}, got {crops}")
    if crop_order not in ("auto", CENTRE, *CROP_ORDERS):
        raise LitExtractError(f"--data.crop_order {crop_order!r}: choose auto, {', '.join(CROP_ORDERS)} or {CENTRE}")
    if crop_order == CENTRE and crops != 1:
        raise LitExtractError(f"--data.crop_order {CENTRE} is the one-crop centre crop: use it with --data.crops 1 "
                              "(five and ten crops take auto, " + ", ".join(CROP_ORDERS) + ")")
    if crops == 1 and crop_order not in ("auto", CENTRE):
        raise LitExtractError(f"--data.crop_order {crop_order} orders crops: use it with --data.crops 5 or 10 "
                              f"(with --data.crops 1: auto, the whole frame resized, or {CENTRE}, its centre crop)")
    if crops == 1 and crop_order == "auto":
        if resize is not None:
            raise LitExtractError("--data.resize shapes crops: use it with --data.crops 5 or 10, or with "
                                  f"--data.crops 1 --data.crop_order {CENTRE}")
        return None
    try:
        size = None if resize is None else parse_size(resize)
    except ValueError as exc:
        raise LitExtractError(f"--data.resize {exc}") from None
    if size is None and resize_short < img_size:
        raise LitExtractError(f"--data.resize_short ({resize_short}) must be >= --data.img_size ({img_size})")
    if size is not None and min(size) < img_size:
        raise LitExtractError(f"--data.resize {resize}: both sides must be >= --data.img_size ({img_size})")
    order = default_order(crops) if crop_order == "auto" else crop_order
    return CropGeometry(crops, img_size, resize_short, size, order)
