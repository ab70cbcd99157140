"""Progress of ``predict`` and the probe: bars on a terminal, a few plain lines in a log.

On a terminal (stdout is a tty), :class:`ClipProgressBar` is Lightning's tqdm progress bar for
``predict``, one bar per split, counting clips: each split gets its own bar (``Extracting
train``, then ``Extracting val``, ...); a finished split's bar stays on screen. Beside the
batches, each bar shows that split's clips done, from 0, and its clips/s. A split with nothing
left to do (a resumed run) gets no bar. The probe keeps Lightning's own bar.

In a log (stdout is a file or a pipe, as in a cluster job), bars are off and :class:`ProgressLog`
prints plain lines instead: for ``predict`` one line each time a split passes another
``every_percent`` of its batches (at most 100 / ``every_percent`` lines per split, the last at
100%), for the probe one line per training epoch with its logged metrics. Only the global rank
0 prints. :func:`progress_callbacks` picks between the two.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm, convert_inf


class ClipProgressBar(TQDMProgressBar):
    """Lightning's progress bar with one bar per split and clips done and clips/s beside the batches."""

    def __init__(self, refresh_rate: int = 1) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self.clips = 0  # clips of the current split

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """No bar yet: each split opens its own at its first batch."""

    def on_predict_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not self.has_dataloader_changed(dataloader_idx):
            return
        if self._predict_progress_bar is not None:
            self._predict_progress_bar.close()  # the finished split's bar stays on screen
        splits = getattr(trainer.datamodule, "splits", None)
        self.clips = 0
        self._predict_progress_bar = Tqdm(  # init_predict_tqdm's bar, drawn once with its split's name
            desc=f"Extracting {splits[dataloader_idx] if splits else dataloader_idx}",
            total=convert_inf(self.total_predict_batches_current_dataloader),
            postfix="clips=0",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def on_predict_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self.clips += len(batch["rows"])
        bar = self._predict_progress_bar
        if bar is not None and self._should_update(batch_idx + 1, bar.total):
            elapsed = bar.format_dict.get("elapsed") or 0.0
            rate = f", {self.clips / elapsed:.1f} clips/s" if elapsed > 0 else ""
            bar.set_postfix_str(f"clips={self.clips}{rate}", refresh=False)
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)  # draws it

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._predict_progress_bar is not None:
            self._predict_progress_bar.close()
            self._predict_progress_bar = None
        self.reset_dataloader_idx_tracker()


def on_terminal() -> bool:
    """True when stdout is a terminal: progress bars redraw in place there; in a log file they pile up."""
    return sys.stdout.isatty()


def progress_callbacks(trainer_config: dict[str, Any], bar: Callback | None) -> tuple[list[Callback], dict[str, Any]]:
    """The progress callbacks and Trainer arguments for ``trainer_config`` (the ``--trainer.*`` values).

    ``--trainer.enable_progress_bar false`` turns all progress output off (nothing added). Else,
    on a terminal: ``bar`` (``None``: Lightning's default bar); in a log: :class:`ProgressLog` and
    ``enable_progress_bar=False``. Returns ``(callbacks to add, Trainer keyword arguments to set)``.
    """
    if trainer_config.get("enable_progress_bar", True) is False:
        return [], {}
    if on_terminal():
        return ([bar] if bar is not None else []), {}
    return [ProgressLog()], {"enable_progress_bar": False}


class ProgressLog(Callback):
    """Plain progress lines for logs: per split of ``predict`` every ``every_percent`` of its
    batches, one per probe training epoch (see the module docstring). Global rank 0 only.

    Args:
        every_percent: a ``predict`` split prints a line each time it passes another
            ``every_percent`` percent of its batches (and at its end).
    """

    def __init__(self, every_percent: int = 10) -> None:
        if not 1 <= every_percent <= 100:
            raise ValueError(f"every_percent must be in [1, 100], got {every_percent}")
        self.every_percent = every_percent
        self.split = -1  # dataloader index of the split being extracted
        self.clips = 0
        self.printed_percent = 0
        self.started = self.last_batch_end = 0.0

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.split = -1
        self.last_batch_end = time.perf_counter()  # a split's clock starts when the previous one ended

    def on_predict_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if dataloader_idx != self.split:
            self.split, self.clips, self.printed_percent = dataloader_idx, 0, 0
            self.started = self.last_batch_end
        self.last_batch_end = time.perf_counter()
        self.clips += len(batch["rows"])
        total = trainer.num_predict_batches[dataloader_idx]
        done = batch_idx + 1
        percent = 100 if not math.isfinite(total) or done >= total else 100 * done // total
        step = percent // self.every_percent * self.every_percent
        if step <= self.printed_percent or not trainer.is_global_zero:
            return
        self.printed_percent = step
        splits = getattr(trainer.datamodule, "splits", None)
        name = splits[dataloader_idx] if splits else dataloader_idx
        seconds = self.last_batch_end - self.started
        rate = f", {self.clips / seconds:.1f} clips/s" if seconds > 0 else ""
        of_total = f"/{int(total)}" if math.isfinite(total) else ""
        print(f"Extracting {name}: {percent}% ({done}{of_total} batches, {self.clips} clips, {seconds:.0f} s{rate})",
              flush=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """One line per epoch, after its validation: ``epoch 3/50: train_loss 0.4123, val_auroc 0.8301``."""
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        metrics = {name: float(value) for name, value in trainer.progress_bar_metrics.items()}
        shown = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
        of_total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        print(f"epoch {trainer.current_epoch + 1}{of_total}: {shown}", flush=True)
