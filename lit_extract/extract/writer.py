"""EmbeddingWriter: streams each predicted batch into float16 ``.npy`` files, row by row, resumably.

Per split ``s`` of encoder ``e``, inside ``output_dir`` (file names: :mod:`lit_extract.store.layout`):

- ``emb_{e}_{s}.npy``   float16 (rows, D)  embeddings, row ``i`` = row ``i`` of split ``s`` in the index;
  (rows, crops, D) with five or ten crops (``--data.crops``), in ``--data.crop_order`` (lit_extract.decode.crops)
- ``y_{s}.npy``         int8    (rows,)    labels (``y_{e}_{s}.npy`` when other encoders in the folder saw other clips)
- ``status_{s}.npy``    uint8   (rows,)    0 ok, 1 some frames repeated, 2 video unreadable (idem)
- ``done_{e}_{s}.npy``  uint8   (rows,)    1 once the row's bytes above are on disk (``e``'s resume record)
- ``run_{e}.json``      what is being written for ``e`` (encoder, weights, frames, img_size, mean/std, D,
  index sha256, decoder); a rerun of ``e`` with different settings is refused unless ``overwrite``
- ``lost_frames_{s}.{rank}.jsonl`` frame ranges of damaged videos that could not be decoded
  (:mod:`lit_extract.decode.lost_frames`), merged per video into the manifest
- ``manifest_{e}.json`` written last, atomically, only when every row of every split of ``e`` is done

Several encoders in one pass (the module's ``predict_step`` returns ``{encoder: (B, D)}``): each
is written as above, exactly as a run with that encoder alone would write it.

An audio encoder (``vggish``) writes (rows, D) whatever the crops, and its own labels and status
files (``y_{e}_{s}.npy``, ``status_{e}_{s}.npy``) holding each row's audio status (0 ok, 1 partly
silent, 2 silent: :mod:`lit_extract.decode.sound`), counted in its manifest under those names.

A flow encoder (``i3d_inception_flow``) writes its own labels and status files too: its rows' status
counts the T + 1 frames its flow clip took (the row's T and the next one), so a row whose next frame
alone was lost is 1 there and 0 in the shared ``status_{s}.npy``, which counts the row's T frames
(what the video encoders saw). Its manifest counts and names them (``status_counts``,
``affected_videos``). A folder whose flow run was started before it had its own files keeps sharing.

Why positioned writes and not a shared ``np.memmap``: under DDP every process writes its own rows
straight into the shared files (no gather to rank 0, memory flat in dataset size). A shared
memory map flushes whole pages, so two hosts writing neighbouring rows of one page over
NFS/Lustre/GPFS can clobber each other's bytes. ``os.pwrite`` at ``header + row * row_bytes``
touches exactly the bytes of this process's rows. The files are created once by rank 0 with
``numpy.lib.format.open_memmap`` and stay plain ``.npy`` files (``np.load(f, mmap_mode="r")``).

Resume: ``done`` is set for a row only after its embedding, label and status bytes were synced
(``fdatasync``) — every ``flush_interval_s`` seconds and at the end. A rerun of the same command
skips rows marked done (a row is computed again only while some encoder still lacks it, and then
written only for those encoders); a run killed at any moment loses at most ``flush_interval_s``
of work.

"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import cv2
import lightning
import lightning.pytorch as pl
import numpy as np
import torch
import torchvision
from lightning.pytorch.callbacks import BasePredictionWriter
from numpy.lib.format import open_memmap

import lit_extract
from lit_extract.store import layout
from lit_extract.store.disk_faults import disk_faults, size_text
from lit_extract.errors import LitExtractError, first_few
from lit_extract.store.folder_lock import FolderLock
from lit_extract.decode.lost_frames import LostFramesRecord, read_lost_frames, record_path
from lit_extract.decode.sound import AUDIO_STATUS_NAMES
from lit_extract.store.manifest import STATUS_NAMES, embedding_stats, manifest_path, write_json_atomic

log = logging.getLogger(__name__)

FILE_DTYPES = {"embeddings": np.float16, "labels": np.int8, "status": np.uint8, "done": np.uint8}


def contiguous_runs(rows: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` slices of sorted ``rows`` whose values are consecutive integers."""
    if len(rows) == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    bounds = [0, *breaks.tolist(), len(rows)]
    return list(zip(bounds[:-1], bounds[1:]))


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at byte ``offset`` of ``fd`` (retrying short writes)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class SplitFiles:
    """One encoder's four output files of one split, open for positioned writes of whole rows.

    ``templates`` are the encoder's file names (:mod:`lit_extract.store.layout`; default: a new
    encoder's, with shared labels and statuses).
    """

    def __init__(
        self,
        directory: Path,
        encoder: str,
        split: str,
        rows: int,
        dim: int,
        templates: dict[str, str] | None = None,
        crops: int = 1,
    ) -> None:
        templates = templates if templates is not None else layout.file_templates(encoder, shared_labels=True)
        self.names = layout.file_names(templates, split)
        self.split = split
        self.paths = {key: directory / name for key, name in self.names.items()}
        self.rows = rows
        row_shape = (dim,) if crops == 1 else (crops, dim)  # an embedding row: D, or crops x D
        self.shapes = {key: (rows, *row_shape) if key == "embeddings" else (rows,) for key in FILE_DTYPES}
        self.offsets: dict[str, int] = {}
        self.row_bytes: dict[str, int] = {}
        self.fds: dict[str, int] = {}

    def exist(self) -> bool:
        """True when the done record exists (it is created last, so then all four exist)."""
        return self.paths["done"].is_file()

    def missing(self) -> list[str]:
        """Keys of the files :meth:`create` would make: the encoder's own two, and labels/status if absent."""
        return [key for key in FILE_DTYPES if key in ("embeddings", "done") or not self.paths[key].is_file()]

    def create(self) -> None:
        """Create the missing files (zero-filled, sparse) with open_memmap, each via temp name +
        rename, the done record last. Labels and statuses that exist (shared with another encoder
        of the same clips) are kept as they are."""
        for key in self.missing():
            tmp = self.paths[key].with_name(f".{self.paths[key].name}.{os.getpid()}.tmp")
            array = open_memmap(tmp, mode="w+", dtype=FILE_DTYPES[key], shape=self.shapes[key])
            del array
            os.replace(tmp, self.paths[key])

    def check(self) -> None:
        """Raise if an existing file has the wrong dtype/shape (e.g. another index or encoder)."""
        for key, path in self.paths.items():
            array = np.load(path, mmap_mode="r")
            if array.dtype != FILE_DTYPES[key] or array.shape != self.shapes[key] or not array.flags.c_contiguous:
                raise LitExtractError(
                    f"{path}: holds {array.dtype} {array.shape}, this run needs "
                    f"{np.dtype(FILE_DTYPES[key])} {self.shapes[key]}; use another --writer.output_dir "
                    "or --writer.overwrite true"
                )

    def open(self) -> np.ndarray:
        """Open the files for writing; return the done record as a (rows,) bool copy."""
        for key, path in self.paths.items():
            array = np.load(path, mmap_mode="r")
            self.offsets[key] = int(array.offset)
            self.row_bytes[key] = int(array.itemsize * np.prod(array.shape[1:], dtype=np.int64))
            done = np.array(array, dtype=bool) if key == "done" else None
            del array
            self.fds[key] = os.open(path, os.O_RDWR)
        return done

    def write(self, key: str, first_row: int, values: np.ndarray) -> None:
        """Write consecutive rows ``first_row..first_row+len(values)-1`` of file ``key``."""
        data = np.ascontiguousarray(values, dtype=FILE_DTYPES[key]).tobytes()
        pwrite_all(self.fds[key], data, self.offsets[key] + first_row * self.row_bytes[key])

    def sync_data(self) -> None:
        """Push embeddings, labels and status to disk (before their rows are marked done)."""
        for key in ("embeddings", "labels", "status"):
            os.fdatasync(self.fds[key])

    def close(self) -> None:
        for fd in self.fds.values():
            os.fsync(fd)
            os.close(fd)
        self.fds.clear()


class EmbeddingWriter(BasePredictionWriter):
    """Writes float16 embeddings, labels, status and a manifest for every split of every encoder, resumably.

    Args:
        output_dir: folder for the outputs (created if needed); encoders share it (see
            :mod:`lit_extract.store.layout`).
        overwrite: delete this run's encoders' previous outputs in the folder and start them over
            (other encoders' files stay). Without it, a rerun resumes where the last run stopped,
            and an encoder whose run in the folder differs (weights, frames, img_size, mean/std,
            index, decoder) is refused.
        flush_interval_s: how often rows are synced to disk and marked done (seconds); a killed
            run recomputes at most this much work.

    Example (what ``python -m lit_extract predict`` does; under DDP, every rank runs the same)::

        from lightning.pytorch import Trainer
        from lit_extract.extract.data import ClipDataModule
        from lit_extract.extract.module import FrozenVideoEncoder
        from lit_extract.extract.writer import EmbeddingWriter

        data = ClipDataModule(index_path, frames=8, img_size=32, num_workers=0)
        model = FrozenVideoEncoder("r3d_18", weights="none", frames=8, img_size=32)
        writer = EmbeddingWriter(output_dir)
        trainer = Trainer(accelerator="cpu", logger=False, callbacks=[writer], enable_progress_bar=False)
        trainer.predict(model, datamodule=data, return_predictions=False)
        # output_dir now holds emb_r3d_18_{train,val,test}.npy, y_*, status_*, done_r3d_18_*, manifest_r3d_18.json
    """

    def __init__(self, output_dir: str = "processed", overwrite: bool = False, flush_interval_s: float = 10.0) -> None:
        super().__init__(write_interval="batch")
        if flush_interval_s < 0:
            raise LitExtractError(f"--writer.flush_interval_s must be >= 0, got {flush_interval_s}")
        self.output_dir = Path(output_dir)
        self.overwrite = overwrite
        self.flush_interval_s = flush_interval_s
        self.encoders: list[str] = []
        self.splits: list[str] = []
        self.files: dict[str, dict[str, SplitFiles]] = {}  # encoder -> split -> files
        self.done_before: dict[str, dict[str, np.ndarray]] = {}  # encoder -> split -> (rows,) bool at setup
        self.unflushed: dict[str, dict[str, list[np.ndarray]]] = {}  # encoder -> split -> written rows
        self.lost: dict[str, LostFramesRecord] = {}  # lost frame ranges of damaged videos, per split
        self.staged: tuple | None = None  # a GPU batch whose copy to the host is in flight
        self.runs: dict[str, dict[str, Any]] = {}  # encoder -> run identity
        self.computed: dict[str, int] = {}  # encoder -> rows this process computed (written or not)
        self.lock: FolderLock | None = None  # rank 0: the output folder's lock, held for the run
        self.progress: tuple[int, int] | None = None  # rank 0, after teardown: rows done for all encoders, rows
        self.clock = time.monotonic  # seconds; when rows are due to be synced and marked done
        self.started = self.last_flush = self.clock()

    # ----------------------------------------------------------------- setup
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Create (rank 0) or reopen every encoder's files, then tell the data which rows are done."""
        if stage != "predict":
            return
        # Predictions go to disk; keeping them in memory too would grow RAM with the dataset.
        trainer.predict_loop.return_predictions = False
        data = trainer.datamodule
        if data is None or not hasattr(data, "exclude_done"):
            raise LitExtractError("EmbeddingWriter needs a ClipDataModule (trainer.predict(..., datamodule=...))")
        self.runs = describe_runs(data, pl_module)
        self.encoders = list(self.runs)
        self.splits = list(data.split_sizes())
        problem, templates = None, None
        if trainer.is_global_zero:  # one process creates the files; the others open them after the broadcast
            try:
                templates = self._prepare(data.split_sizes())
            except LitExtractError as exc:
                problem = str(exc)
        problem, templates = trainer.strategy.broadcast((problem, templates), src=0)
        if problem:
            raise LitExtractError(problem)
        for encoder in self.encoders:
            for split, rows in data.split_sizes().items():
                files = SplitFiles(self.output_dir, encoder, split, rows, self.runs[encoder]["embedding_dim"],
                                   templates[encoder], self.runs[encoder]["crops"])
                self.add_files(encoder, split, files, files.open())
        for split in self.splits:
            self.lost[split] = LostFramesRecord(record_path(self.output_dir, split, trainer.global_rank))
        for split in self.splits:  # a row is computed while some encoder lacks it
            data.exclude_done(split, np.logical_and.reduce([self.done_before[e][split] for e in self.encoders]))
        if hasattr(pl_module, "active"):  # an encoder with every row done is not run again
            pl_module.active = [e for e in self.encoders if not all(d.all() for d in self.done_before[e].values())]
        self.computed = dict.fromkeys(self.encoders, 0)
        self.started = self.clock()
        self.last_flush = self.started

    def add_files(self, encoder: str, split: str, files: SplitFiles, done: np.ndarray) -> None:
        """Write ``encoder``'s rows of ``split`` into the opened ``files``; rows where ``done`` is
        set are never written again."""
        if encoder not in self.encoders:
            self.encoders.append(encoder)
        if split not in self.splits:
            self.splits.append(split)
        self.files.setdefault(encoder, {})[split] = files
        self.done_before.setdefault(encoder, {})[split] = np.asarray(done, bool)
        self.unflushed.setdefault(encoder, {})[split] = []

    def _prepare(self, split_sizes: dict[str, int]) -> dict[str, dict[str, str]]:
        """Check the folder, write run records and create the files of every encoder (rank 0);
        returns each encoder's file name templates."""
        directory = self.output_dir
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe = directory / ".lit_extract_write_test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise LitExtractError(
                f"{directory}: output folder can't be written ({exc.strerror}); choose another --writer.output_dir"
            ) from exc
        self.lock = FolderLock(directory)  # one run per folder, before anything in it is read or changed
        note = self.lock.acquire()
        if note:
            log.warning(note)
        try:
            return self._prepare_locked(directory, split_sizes)
        except BaseException:
            self.release_lock()
            raise

    def _prepare_locked(self, directory: Path, split_sizes: dict[str, int]) -> dict[str, dict[str, str]]:
        if self.overwrite:
            layout.remove_outputs(directory, self.encoders)
        records = layout.read_records(directory)
        self._check_same_runs(directory, records)
        templates = {encoder: layout.choose_templates(self.runs[encoder], records) for encoder in self.encoders}
        splits = [
            SplitFiles(directory, encoder, split, rows, self.runs[encoder]["embedding_dim"], templates[encoder],
                       self.runs[encoder]["crops"])
            for encoder in self.encoders for split, rows in split_sizes.items()
        ]
        new = [files for files in splits if not files.exist()]
        check_free_space(directory, [(files.rows, math.prod(files.shapes["embeddings"][1:])) for files in new])
        for encoder in self.encoders:
            if encoder not in records:
                layout.write_record(directory, self.runs[encoder], templates[encoder])
        for files in splits:
            if not files.exist():
                files.create()
            files.check()
        for encoder in self.encoders:
            manifest_path(directory, encoder).unlink(missing_ok=True)  # rewritten once every row is done
        return templates

    def _check_same_runs(self, directory: Path, records: dict[str, layout.RunRecord]) -> None:
        orphans = layout.orphan_outputs(directory, records.values())
        if orphans:
            raise LitExtractError(
                f"{directory}: holds output files no run record (run_<encoder>.json) names "
                f"({first_few([p.name for p in orphans], 3)}); use another --writer.output_dir or --writer.overwrite true"
            )
        for encoder in self.encoders:
            if encoder not in records:
                continue
            differing = layout.differences(records[encoder], self.runs[encoder])
            if differing:
                raise LitExtractError(
                    f"{directory}: holds a different {encoder} run ({'; '.join(differing[:3])}); use another "
                    "--writer.output_dir or --writer.overwrite true to start it over"
                )

    # ----------------------------------------------------------------- writing
    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Write this batch's rows at their own positions (batch order does not matter).

        ``prediction`` is (B, D) embeddings (one encoder) or ``{encoder: (B, D_encoder)}``. On a
        GPU the embeddings are copied to pinned host memory without blocking and written when the
        next batch arrives, so the device keeps computing while the host writes.
        """
        with disk_faults(self.output_dir, self.bytes_left):
            self._write_batch(prediction, batch, dataloader_idx)

    def _write_batch(self, prediction: Any, batch: Any, dataloader_idx: int) -> None:
        by_encoder = prediction if isinstance(prediction, dict) else {self.encoders[0]: prediction}
        self._check_row_shapes(by_encoder, self.splits[dataloader_idx])
        copies = {encoder: self.copy_to_host(values) for encoder, values in by_encoder.items()}
        embeddings = {encoder: host for encoder, (host, _) in copies.items()}
        pending = [ready for _, ready in copies.values() if ready is not None]
        staged = (self.splits[dataloader_idx], batch, embeddings, pending)
        previous, self.staged = self.staged, staged
        if previous is not None:
            self._write(*previous)
        if not pending:  # nothing to overlap with (CPU): write now
            self.staged = None
            self._write(*staged)
        if self.clock() - self.last_flush >= self.flush_interval_s:
            self.flush()

    def _check_row_shapes(self, by_encoder: dict[str, torch.Tensor], split: str) -> None:
        """Raise unless every encoder's (B, ...) values have its files' row shape ((D,) or (crops, D)):
        numpy would broadcast a (B, D) batch into (B, crops, D) rows without a word."""
        for encoder, values in by_encoder.items():
            expected = self.files[encoder][split].shapes["embeddings"][1:]
            if tuple(values.shape[1:]) != tuple(expected):
                raise RuntimeError(f"encoder {encoder} gave rows of shape {tuple(values.shape[1:])} for {split}, "
                                   f"whose files hold rows of shape {tuple(expected)}")

    def copy_to_host(self, values: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Start moving (B, ...) ``values`` to host memory as float16.

        Returns the host tensor and an object whose ``synchronize()`` must return before the
        tensor is read, or None when it can be read now. On CUDA the copy goes to pinned memory
        without blocking and a ``torch.cuda.Event`` marks its end, so the device goes on with the
        next batch while this one is written; elsewhere the values are ready at once.
        """
        values = values.detach().to(torch.float16)
        if values.device.type != "cuda":
            return values, None
        host = torch.empty(values.shape, dtype=torch.float16, pin_memory=True)
        host.copy_(values, non_blocking=True)
        ready = torch.cuda.Event()
        ready.record()
        return host, ready

    def _write(self, split: str, batch: Any, embeddings: dict[str, torch.Tensor], pending: list[Any]) -> None:
        for ready in pending:
            ready.synchronize()
        rows = batch["rows"].cpu().numpy()
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        labels = batch["y"].cpu().numpy()[order]
        for encoder, values in embeddings.items():
            files = self.files[encoder][split]
            todo = ~self.done_before[encoder][split][rows]  # rows another encoder needed: not rewritten
            mine = rows[todo]
            status = batch[status_key(self.runs.get(encoder, {}), files, batch)].cpu().numpy()[order]
            arrays = {"embeddings": values.cpu().numpy()[order][todo], "labels": labels[todo], "status": status[todo]}
            for start, stop in contiguous_runs(mine):
                for key, array in arrays.items():
                    files.write(key, int(mine[start]), array[start:stop])
            self.unflushed[encoder][split].append(mine)
            self.computed[encoder] = self.computed.get(encoder, 0) + len(rows)  # what the encoder saw
        if "lost" in batch:
            self.lost[split].add(batch["lost"].numpy())

    def flush(self) -> None:
        """Sync written rows to disk, then mark them done."""
        if self.staged is not None:
            staged, self.staged = self.staged, None
            self._write(*staged)
        for record in self.lost.values():
            record.sync()  # before the rows they came with are marked done
        for encoder, by_split in self.unflushed.items():
            for split, pending in by_split.items():
                if not pending:
                    continue
                files = self.files[encoder][split]
                files.sync_data()
                rows = np.concatenate(pending)
                rows.sort()
                for start, stop in contiguous_runs(rows):
                    files.write("done", int(rows[start]), np.ones(stop - start, np.uint8))
                pending.clear()
        self.last_flush = self.clock()

    def _close(self) -> None:
        if not self.files:
            return
        self.flush()
        for by_split in self.files.values():
            for files in by_split.values():
                files.close()
        for record in self.lost.values():
            record.close()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Keep every finished row: a rerun resumes from them."""
        try:
            self._close()
        except OSError:  # the disk that failed the run fails this last flush too: unsynced rows stay not done
            pass
        self.files.clear()
        self.release_lock()

    def release_lock(self) -> None:
        """Give the output folder back (rank 0 holds it for the run)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def bytes_left(self) -> int:
        """Bytes the rows not done yet still need on disk (the files are sparse until written)."""
        needed = 0
        for by_split in self.files.values():
            for files in by_split.values():
                done = np.load(files.paths["done"], mmap_mode="r")
                row_bytes = sum(files.row_bytes.values()) or 1
                needed += int(len(done) - np.count_nonzero(done)) * row_bytes
        return needed

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Close the files; after every rank is done, rank 0 writes each encoder's manifest if nothing is missing."""
        if stage != "predict" or not self.files:
            return
        with disk_faults(self.output_dir, self.bytes_left):
            self._close()
        computed = self._computed_by_all_ranks(trainer)  # every rank takes part (a collective)
        trainer.strategy.barrier("lit_extract_writer_done")
        if trainer.is_global_zero:  # every rank's rows are on disk now; one process summarizes them
            self.progress = self.rows_done()
            with disk_faults(self.output_dir, self.bytes_left):
                for encoder in self.encoders:
                    self._finish(trainer, encoder, computed[encoder])
        self.files.clear()
        self.release_lock()

    def rows_done(self) -> tuple[int, int]:
        """Rows done for every encoder of this run (read from the done records), and rows in all."""
        done = total = 0
        for split in self.splits:
            records = [np.load(self.files[e][split].paths["done"], mmap_mode="r") for e in self.encoders]
            done += int(np.count_nonzero(np.logical_and.reduce([r != 0 for r in records])))
            total += self.files[self.encoders[0]][split].rows
        return done, total

    def _computed_by_all_ranks(self, trainer: pl.Trainer) -> dict[str, int]:
        """Rows each encoder computed in this run, summed over every rank (counted as they were
        written, not inferred from the done record: a resumed run that recomputed finished rows shows)."""
        counts = torch.tensor([self.computed.get(e, 0) for e in self.encoders], dtype=torch.int64,
                              device=trainer.strategy.root_device)
        counts = trainer.strategy.reduce(counts, reduce_op="sum")
        return dict(zip(self.encoders, counts.cpu().tolist()))

    def _finish(self, trainer: pl.Trainer, encoder: str, computed: int) -> None:
        wall = self.clock() - self.started
        splits = {}
        missing = {}
        for split, files in self.files[encoder].items():
            done = np.load(files.paths["done"], mmap_mode="r")
            missing_rows = int(len(done) - np.count_nonzero(done))
            if missing_rows:
                missing[split] = missing_rows
            status_names = AUDIO_STATUS_NAMES if is_audio(self.runs[encoder]) else STATUS_NAMES
            splits[split] = summarize_split(files, trainer.datamodule.rows[split]["path"].to_numpy(), status_names)
        if missing:
            if not trainer.should_stop:  # stopped by a signal: lit_extract.extract.stopping says so in one line
                log.warning(
                    f"{self.output_dir}: {sum(missing.values())} row(s) of {encoder} not written yet ({missing}); "
                    "no manifest written: rerun the same command to finish"
                )
            return
        total_rows = sum(f.rows for f in self.files[encoder].values())
        manifest = {
            "complete": True,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **self.runs[encoder],
            "batch_size": trainer.datamodule.batch_size,
            "dtype": "float16",
            "splits": splits,
            "versions": versions(),
            "world_size": trainer.world_size,
            "wall_time_s": round(wall, 3),
            "rows_computed": computed,
            "clips_per_s": round(computed / wall, 3) if wall > 0 else None,
        }
        path = manifest_path(self.output_dir, encoder)
        write_json_atomic(path, manifest)
        if is_audio(self.runs[encoder]):
            silent = sorted({video for entry in splits.values() for video, code in entry["affected_videos"].items()
                             if code == 2})
            if silent:
                log.warning(f"{encoder}: {len(silent)} video(s) without a readable sound track, their rows are "
                            f"silence (audio status 2): {first_few(silent, 5)}")
        if computed == 0:
            print(f"nothing to do: {total_rows} of {total_rows} rows already done -> {path}")
        else:
            print(f"lit_extract: wrote {total_rows} rows ({computed} computed now, {computed / max(wall, 1e-9):.1f} clips/s) -> {path}")


def is_audio(run: dict[str, Any]) -> bool:
    """True for the run identity of an audio encoder (its rows are sound, its statuses audio statuses)."""
    return run.get("kind") == "audio"


def status_key(run: dict[str, Any], files: SplitFiles, batch: Any) -> str:
    """The batch entry an encoder's status file holds: an audio encoder's ``audio_status``; a flow
    encoder's ``flow_status`` (over its T + 1 frames) when its status file is its own; else the
    row status ``status`` (the row's T frames; a status file shared with the video encoders)."""
    if is_audio(run):
        return "audio_status"
    own = files.names["status"] != layout.SHARED_TEMPLATES["status"].replace("{split}", files.split)
    return "flow_status" if run.get("kind") == "flow" and own and "flow_status" in batch else "status"


def describe_runs(data: Any, module: pl.LightningModule) -> dict[str, dict[str, Any]]:
    """Per encoder, what makes two runs' rows interchangeable; a resumed run must match it exactly.

    The module's ``describe()`` gives each encoder's name, weights, mean/std (the values applied)
    and D; the data gives the clips (index sha256, frames, img_size, decoder, transform, crops),
    the same for every encoder.
    """
    described = data.describe()
    clips = {
        "frames": described["frames"],
        "img_size": described["img_size"],
        "transform": described["transform"],  # exact (CPU, notebook-identical) or device
        "crops": described.get("crops", 1),
        "resize_short": described.get("resize_short"),
        "resize": described.get("resize"),  # WIDTHxHEIGHT before the crops, or None
        "crop_order": described.get("crop_order"),  # None for one crop
        "index": described["index"],
        "decoder": str(getattr(data, "decoder", "opencv")),
    }
    runs = {}
    for encoder, entry in module.describe().items():
        if entry.get("kind") == "audio":  # sound, not clips: no frames, crops or mean/std; read by PyAV
            runs[encoder] = {
                "encoder": encoder, "kind": "audio", "weights": entry["weights"], "postprocess": entry["postprocess"],
                "sample_rate": entry["sample_rate"], "window_samples": entry["window_samples"],
                "window_hop": entry["window_hop"], "anchor": described.get("audio_anchor", "end"), "crops": 1,
                "embedding_dim": int(entry["embedding_dim"]), "index": clips["index"], "decoder": "pyav",
            }
            continue
        runs[encoder] = {
            "encoder": encoder, "weights": entry["weights"], "frames": clips["frames"], "img_size": clips["img_size"],
            "transform": clips["transform"], "crops": clips["crops"], "resize_short": clips["resize_short"],
            "resize": clips["resize"], "crop_order": clips["crop_order"],
            "embedding_dim": int(entry["embedding_dim"]), "index": clips["index"], "decoder": clips["decoder"],
        }
        if entry.get("kind") == "flow":  # flow of T + 1 frames: the flow model and its input, no mean/std
            runs[encoder] |= {"kind": "flow", "flow": entry["flow"]}
        else:
            runs[encoder] |= {"mean": [float(v) for v in entry["mean"]], "std": [float(v) for v in entry["std"]]}
    return runs


def summarize_split(files: SplitFiles, paths: np.ndarray, status_names: dict[int, str] = STATUS_NAMES) -> dict[str, Any]:
    """Rows, files, label/status counts (named by ``status_names``), affected videos and float64
    statistics of one split."""
    labels = np.load(files.paths["labels"], mmap_mode="r")
    status = np.asarray(np.load(files.paths["status"], mmap_mode="r"))
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    status_counts = {name: int(np.count_nonzero(status == code)) for code, name in status_names.items()}
    affected = {}
    for code in (2, 1):
        for path in np.unique(paths[status == code]):
            affected.setdefault(str(path), code)
    return {
        "rows": files.rows,
        "files": dict(files.names),
        "label_counts": {str(int(v)): int(c) for v, c in zip(values, counts)},
        "embedding_stats": embedding_stats(np.load(files.paths["embeddings"], mmap_mode="r")),
        "status_counts": status_counts,
        "affected_videos": affected,
        "lost_frames": read_lost_frames(files.paths["done"].parent, files.split, paths),  # video -> [[first, last], ...]
    }


def check_free_space(directory: Path, shapes: list[tuple[int, int]]) -> None:
    """Raise if the files to create (rows x D float16 + 3 bytes per row) don't fit on the disk."""
    needed = sum(rows * (dim * 2 + 3) + 4 * 128 for rows, dim in shapes)
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise LitExtractError(
            f"{directory}: needs {size_text(needed)} for the outputs, {size_text(free)} free; "
            "free some space or choose another --writer.output_dir"
        )


def versions() -> dict[str, str]:
    """Versions of everything that shapes the numbers."""
    return {
        "lit_extract": lit_extract.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightning": lightning.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }
