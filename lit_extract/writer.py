"""EmbeddingWriter: streams each predicted batch into float16 ``.npy`` files, row by row, resumably.

Per split ``s`` of encoder ``e``, inside ``output_dir``:

- ``emb_{e}_{s}.npy``   float16 (rows, D)  embeddings, row ``i`` = row ``i`` of split ``s`` in the index;
  (rows, 10, D) with ten crops (``--data.crops 10``), crops in torchvision ``TenCrop`` order
- ``y_{s}.npy``         int8    (rows,)    labels
- ``status_{s}.npy``    uint8   (rows,)    0 ok, 1 some frames repeated, 2 video unreadable
- ``done_{s}.npy``      uint8   (rows,)    1 once the row's bytes above are on disk (the resume record)
- ``run.json``          what is being written here (encoder, weights, frames, img_size, mean/std, D,
  index sha256); a rerun with different settings is refused unless ``overwrite``
- ``lost_frames_{s}.{rank}.jsonl`` frame ranges of damaged videos that could not be decoded
  (:mod:`lit_extract.lost_frames`), merged per video into the manifest
- ``manifest_{e}.json`` written last, atomically, only when every row of every split is done

Why positioned writes and not a shared ``np.memmap``: under DDP every process writes its own rows
straight into the shared files (no gather to rank 0, memory flat in dataset size). A shared
memory map flushes whole pages, so two hosts writing neighbouring rows of one page over
NFS/Lustre/GPFS can clobber each other's bytes. ``os.pwrite`` at ``header + row * row_bytes``
touches exactly the bytes of this process's rows. The files are created once by rank 0 with
``numpy.lib.format.open_memmap`` and stay plain ``.npy`` files (``np.load(f, mmap_mode="r")``).

Resume: ``done`` is set for a row only after its embedding, label and status bytes were synced
(``fdatasync``) — every ``flush_interval_s`` seconds and at the end. A rerun of the same command
skips rows marked done; a run killed at any moment loses at most ``flush_interval_s`` of work.

"""

from __future__ import annotations

import datetime as dt
import json
import logging
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
from lit_extract.errors import LitExtractError, first_few
from lit_extract.lost_frames import PATTERN as LOST_FRAMES_PATTERN
from lit_extract.lost_frames import LostFramesRecord, read_lost_frames, record_path
from lit_extract.manifest import (
    STATUS_NAMES,
    embedding_stats,
    manifest_path,
    split_file_names,
    write_json_atomic,
)

log = logging.getLogger(__name__)

FILE_DTYPES = {"embeddings": np.float16, "labels": np.int8, "status": np.uint8, "done": np.uint8}
RUN_FILE = "run.json"


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
    """One split's four output files, open for positioned writes of whole rows."""

    def __init__(self, directory: Path, encoder: str, split: str, rows: int, dim: int, crops: int = 1) -> None:
        self.names = split_file_names(encoder, split)
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

    def create(self) -> None:
        """Create the four files (zero-filled, sparse) with open_memmap, each via temp name + rename."""
        for key in ("embeddings", "labels", "status", "done"):
            tmp = self.paths[key].with_name(f".{self.paths[key].name}.tmp")
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
    """Writes float16 embeddings, labels, status and a manifest for every split, resumably.

    Args:
        output_dir: folder for the outputs (created if needed).
        overwrite: delete this folder's previous lit_extract outputs and start over. Without it,
            a rerun resumes where the last run stopped, and a folder holding a different run
            (other encoder, weights, frames, img_size, mean/std or index) is refused.
        flush_interval_s: how often rows are synced to disk and marked done (seconds); a killed
            run recomputes at most this much work.

    Example (what ``python -m lit_extract predict`` does; under DDP, every rank runs the same)::

        from lightning.pytorch import Trainer
        from lit_extract.data import ClipDataModule
        from lit_extract.module import FrozenVideoEncoder
        from lit_extract.writer import EmbeddingWriter

        data = ClipDataModule(index_path, frames=8, img_size=32, num_workers=0)
        model = FrozenVideoEncoder("r3d_18", weights="none", frames=8, img_size=32)
        writer = EmbeddingWriter(output_dir)
        trainer = Trainer(accelerator="cpu", logger=False, callbacks=[writer], enable_progress_bar=False)
        trainer.predict(model, datamodule=data, return_predictions=False)
        # output_dir now holds emb_r3d_18_{train,val,test}.npy, y_*, status_*, done_*, manifest_r3d_18.json
    """

    def __init__(self, output_dir: str = "processed", overwrite: bool = False, flush_interval_s: float = 10.0) -> None:
        super().__init__(write_interval="batch")
        if flush_interval_s < 0:
            raise LitExtractError(f"--writer.flush_interval_s must be >= 0, got {flush_interval_s}")
        self.output_dir = Path(output_dir)
        self.overwrite = overwrite
        self.flush_interval_s = flush_interval_s
        self.files: dict[str, SplitFiles] = {}
        self.splits: list[str] = []
        self.unflushed: dict[str, list[np.ndarray]] = {}
        self.lost: dict[str, LostFramesRecord] = {}  # lost frame ranges of damaged videos, per split
        self.staged: tuple | None = None  # a GPU batch whose copy to the host is in flight
        self.run: dict[str, Any] = {}
        self.started = self.last_flush = time.monotonic()
        self.rows_done_before = 0

    # ----------------------------------------------------------------- setup
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Create (rank 0) or reopen the output files, then tell the data which rows are done."""
        if stage != "predict":
            return
        # Predictions go to disk; keeping them in memory too would grow RAM with the dataset.
        trainer.predict_loop.return_predictions = False
        data = trainer.datamodule
        if data is None or not hasattr(data, "exclude_done"):
            raise LitExtractError("EmbeddingWriter needs a ClipDataModule (trainer.predict(..., datamodule=...))")
        self.run = describe_run(data, pl_module)
        self.splits = list(data.split_sizes())
        problem = None
        if trainer.is_global_zero:  # one process creates the files; the others open them after the broadcast
            try:
                self._prepare(data.split_sizes())
            except LitExtractError as exc:
                problem = str(exc)
        problem = trainer.strategy.broadcast(problem, src=0)
        if problem:
            raise LitExtractError(problem)
        self.rows_done_before = 0
        for split, rows in data.split_sizes().items():
            files = SplitFiles(
                self.output_dir, self.run["encoder"], split, rows, self.run["embedding_dim"], self.run["crops"]
            )
            done = files.open()
            data.exclude_done(split, done)
            self.rows_done_before += int(done.sum())
            self.files[split] = files
            self.unflushed[split] = []
            self.lost[split] = LostFramesRecord(record_path(self.output_dir, split, trainer.global_rank))
        self.started = time.monotonic()
        self.last_flush = self.started

    def _prepare(self, split_sizes: dict[str, int]) -> None:
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
        if self.overwrite:
            remove_outputs(directory)
        self._check_same_run(directory)
        encoder, dim, crops = self.run["encoder"], self.run["embedding_dim"], self.run["crops"]
        splits = [SplitFiles(directory, encoder, split, rows, dim, crops) for split, rows in split_sizes.items()]
        check_free_space(directory, [(files.rows, dim * crops) for files in splits if not files.exist()])
        write_json_atomic(directory / RUN_FILE, self.run)
        for files in splits:
            if files.exist():
                files.check()
            else:
                files.create()
        manifest_path(directory, encoder).unlink(missing_ok=True)  # rewritten once every row is done

    def _check_same_run(self, directory: Path) -> None:
        run_file = directory / RUN_FILE
        if not run_file.is_file():
            stale = sorted(p.name for p in directory.glob("*.npy"))
            if stale:
                raise LitExtractError(
                    f"{directory}: holds .npy files ({first_few(stale, 3)}) but no {RUN_FILE}; "
                    "use another --writer.output_dir or --writer.overwrite true"
                )
            return
        previous = json.loads(run_file.read_text(encoding="utf-8"))
        # The index is identified by its content: a moved or renamed CSV is the same index.
        same = {
            "index": lambda old, new: (old or {}).get("sha256") == new["sha256"],
            # run.json from before these options existed: the exact path, one crop
            "transform": lambda old, new: (old or "exact") == new,
            "crops": lambda old, new: (old or 1) == new,
        }
        differing = [
            key for key in self.run
            if not same.get(key, lambda old, new: old == new)(previous.get(key), self.run[key])
        ]
        if differing:
            detail = "; ".join(f"{k}: {previous.get(k)!r} there, {self.run[k]!r} now" for k in differing[:3])
            raise LitExtractError(
                f"{directory}: holds a different run ({detail}); use another --writer.output_dir "
                "or --writer.overwrite true to start over"
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

        On a GPU the embeddings are copied to pinned host memory without blocking and written
        when the next batch arrives, so the device keeps computing while the host writes.
        """
        embeddings = prediction.detach().to(torch.float16)
        ready = None
        if embeddings.device.type == "cuda":
            host = torch.empty(embeddings.shape, dtype=torch.float16, pin_memory=True)
            host.copy_(embeddings, non_blocking=True)
            ready = torch.cuda.Event()
            ready.record()
            embeddings = host
        staged = (self.splits[dataloader_idx], batch, embeddings, ready)
        previous, self.staged = self.staged, staged
        if previous is not None:
            self._write(*previous)
        if ready is None:  # nothing to overlap with on the CPU: write now
            self.staged = None
            self._write(*staged)
        if time.monotonic() - self.last_flush >= self.flush_interval_s:
            self.flush()

    def _write(self, split: str, batch: Any, embeddings: torch.Tensor, ready: Any) -> None:
        if ready is not None:
            ready.synchronize()
        files = self.files[split]
        rows = batch["rows"].cpu().numpy()
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        values = {
            "embeddings": embeddings.cpu().numpy()[order],
            "labels": batch["y"].cpu().numpy()[order],
            "status": batch["status"].cpu().numpy()[order],
        }
        for start, stop in contiguous_runs(rows):
            for key, array in values.items():
                files.write(key, int(rows[start]), array[start:stop])
        self.unflushed[split].append(rows)
        if "lost" in batch:
            self.lost[split].add(batch["lost"].numpy())

    def flush(self) -> None:
        """Sync written rows to disk, then mark them done."""
        if self.staged is not None:
            staged, self.staged = self.staged, None
            self._write(*staged)
        for record in self.lost.values():
            record.sync()  # before the rows they came with are marked done
        for split, pending in self.unflushed.items():
            if not pending:
                continue
            files = self.files[split]
            files.sync_data()
            rows = np.concatenate(pending)
            rows.sort()
            for start, stop in contiguous_runs(rows):
                files.write("done", int(rows[start]), np.ones(stop - start, np.uint8))
            pending.clear()
        self.last_flush = time.monotonic()

    def _close(self) -> None:
        if not self.files:
            return
        self.flush()
        for files in self.files.values():
            files.close()
        for record in self.lost.values():
            record.close()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Keep every finished row: a rerun resumes from them."""
        self._close()
        self.files.clear()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Close the files; after every rank is done, rank 0 writes the manifest if nothing is missing."""
        if stage != "predict" or not self.files:
            return
        self._close()
        trainer.strategy.barrier("lit_extract_writer_done")
        if trainer.is_global_zero:  # every rank's rows are on disk now; one process summarizes them
            self._finish(trainer)
        self.files.clear()

    def _finish(self, trainer: pl.Trainer) -> None:
        wall = time.monotonic() - self.started
        splits = {}
        missing = {}
        for split, files in self.files.items():
            done = np.load(files.paths["done"], mmap_mode="r")
            missing_rows = int(len(done) - np.count_nonzero(done))
            if missing_rows:
                missing[split] = missing_rows
            splits[split] = summarize_split(files, trainer.datamodule.rows[split]["path"].to_numpy())
        if missing:
            log.warning(
                f"{self.output_dir}: {sum(missing.values())} row(s) not written yet ({missing}); "
                "no manifest written: rerun the same command to finish"
            )
            return
        total_rows = sum(f.rows for f in self.files.values())
        computed = total_rows - self.rows_done_before
        manifest = {
            "complete": True,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **self.run,
            "batch_size": trainer.datamodule.batch_size,
            "dtype": "float16",
            "splits": splits,
            "versions": versions(),
            "world_size": trainer.world_size,
            "wall_time_s": round(wall, 3),
            "rows_computed": computed,
            "clips_per_s": round(computed / wall, 3) if wall > 0 else None,
        }
        path = manifest_path(self.output_dir, self.run["encoder"])
        write_json_atomic(path, manifest)
        if computed == 0:
            print(f"nothing to do: {total_rows} of {total_rows} rows already done -> {path}")
        else:
            print(f"lit_extract: wrote {total_rows} rows ({computed} computed now, {computed / max(wall, 1e-9):.1f} clips/s) -> {path}")


def describe_run(data: Any, module: pl.LightningModule) -> dict[str, Any]:
    """What makes two runs' rows interchangeable; a resumed run must match it exactly."""
    described = data.describe()
    return {
        "encoder": module.encoder_name,
        "weights": str(module.weights),
        "frames": described["frames"],
        "img_size": described["img_size"],
        "transform": described["transform"],  # exact (CPU, notebook-identical) or device
        "crops": described.get("crops", 1),
        "resize_short": described.get("resize_short"),
        "mean": [float(v) for v in module.mean_used],  # what normalized the clips (explicit or the weights')
        "std": [float(v) for v in module.std_used],
        "embedding_dim": int(module.embedding_dim),
        "index": described["index"],
    }


def summarize_split(files: SplitFiles, paths: np.ndarray) -> dict[str, Any]:
    """Rows, files, label/status counts, affected videos and float64 statistics of one split."""
    labels = np.load(files.paths["labels"], mmap_mode="r")
    status = np.asarray(np.load(files.paths["status"], mmap_mode="r"))
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    status_counts = {name: int(np.count_nonzero(status == code)) for code, name in STATUS_NAMES.items()}
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


def remove_outputs(directory: Path) -> None:
    """Delete lit_extract's outputs in ``directory`` (only files it writes, nothing else)."""
    patterns = ("emb_*_*.npy", "y_*.npy", "status_*.npy", "done_*.npy", "manifest_*.json", RUN_FILE, LOST_FRAMES_PATTERN)
    for pattern in patterns:
        for path in directory.glob(pattern):
            path.unlink()


def check_free_space(directory: Path, shapes: list[tuple[int, int]]) -> None:
    """Raise if the files to create (rows x D float16 + 3 bytes per row) don't fit on the disk."""
    needed = sum(rows * (dim * 2 + 3) + 4 * 128 for rows, dim in shapes)
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise LitExtractError(
            f"{directory}: needs {needed / 1e9:.2f} GB for the outputs, {free / 1e9:.2f} GB free; "
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
