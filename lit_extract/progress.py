"""ClipProgressBar: Lightning's tqdm progress bar for ``predict``, one bar per split, counting clips.

Each split gets its own bar (``Extracting train``, then ``Extracting val``, ...); a finished
split's bar stays on screen. Beside the batches, each bar shows that split's clips done, from 0,
and its clips/s. A split with nothing left to do (a resumed run) gets no bar.
"""

from __future__ import annotations

import sys
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import TQDMProgressBar
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
