"""SignalStop: SIGTERM and SIGINT end ``predict`` at a batch boundary, with every finished row kept.

Why a callback is needed: Lightning's ``_SignalConnector`` records SIGTERM
(``trainer.received_sigterm``) and forwards it to the ranks its launcher started, and the fit and
evaluation loops act on it at their batch boundaries (``SIGTERMException``); the prediction loop
never looks at it, so a SIGTERM'd ``predict`` ran on to the end. Ctrl+C raised
``KeyboardInterrupt`` wherever the process happened to be.

What :class:`SignalStop` does, between ``setup`` and ``teardown`` of a predict run:

- the first SIGTERM or SIGINT is recorded (SIGTERM also as Lightning's own
  ``trainer.received_sigterm``) and forwarded to the ranks Lightning's launcher started;
- at the end of the batch in flight (after the writer wrote it: this callback goes after the
  prediction writers) it sets ``trainer.should_stop`` and ends the prediction loop the way the
  loop itself ends, by ``StopIteration``. Every rank therefore leaves its loop at a batch boundary
  and meets the others in the writer's teardown (rows synced, then marked done) exactly as after
  a normal end: no rank waits in a collective another rank never enters. The DataLoader workers
  are shut down by Lightning's teardown;
- a second Ctrl+C, a second or more after the first, stops at once (``KeyboardInterrupt``: rows
  already synced stay done);
- DataLoader workers ignore both signals (:func:`ignore_stop_signals` is their
  ``worker_init_fn``): ``kill``, ``scancel`` and a terminal's Ctrl+C reach them too, and the batch
  in flight needs them.

Lightning's in-handler ``dist.broadcast`` of a SIGTERM (2.6) is not used during predict: its
ranks reach the end of their data at different times, and a collective started inside a signal
handler pairs with whatever collective another rank is in. Each rank receives the signal itself
instead: Lightning's launcher forwards it to the ranks it started, ``srun`` and ``torchrun``
deliver it to every task. SLURM's requeue (``SLURMEnvironment(auto_requeue=True)``, SIGUSR1)
stays Lightning's own.

The CLI (:func:`lit_extract.commands.lightning_cli.run_predict`) then prints one line,
``stopped by SIGTERM after 1,234 of 5,000 rows; run the same command to resume``, and exits with
``128 + signal number`` (143 for SIGTERM, 130 for SIGINT).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BasePredictionWriter, Callback
from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
HURRY_AFTER_S = 1.0  # a second Ctrl+C this long after the first stops at once (not a forwarded copy)


def ignore_stop_signals(worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: the worker ignores SIGTERM and SIGINT; the main process decides."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


class SignalStop(Callback):
    """Stop ``predict`` cleanly on SIGTERM/SIGINT (see the module docstring).

    After ``trainer.predict`` returns, :attr:`signum` is the signal that stopped the run (None if
    none came). Put it after the prediction writers in ``trainer.callbacks``.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.first_at = 0.0
        self._trainer: pl.Trainer | None = None
        self._owner = os.getpid()
        self._saved: dict[int, Any] = {}

    # ----------------------------------------------------------------- handlers
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "predict":
            return
        writers = [i for i, c in enumerate(trainer.callbacks) if isinstance(c, BasePredictionWriter)]
        if writers and max(writers) > trainer.callbacks.index(self):
            raise ValueError("SignalStop must come after the prediction writers in trainer.callbacks")
        self.signum, self._trainer, self._owner = None, trainer, os.getpid()
        # Before Lightning's _SignalConnector registers its handlers: it then takes this handler
        # for the original one and puts it back at its teardown, so a signal that comes while the
        # writer's teardown waits for the other ranks is recorded, not fatal.
        for signum in STOP_SIGNALS:
            self._install(signum)

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install(signal.SIGTERM)  # instead of Lightning's own, for the loop (see the module docstring)

    def _install(self, signum: int) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._saved.setdefault(signum, signal.getsignal(signum))
        signal.signal(signum, self._on_signal)

    def _restore(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum, handler in self._saved.items():
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._saved.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        trainer = self._trainer
        if os.getpid() != self._owner or trainer is None:  # a forked worker: the main process decides
            return
        if self.signum is not None:
            if signum == signal.SIGINT and time.monotonic() - self.first_at >= HURRY_AFTER_S:
                raise KeyboardInterrupt  # a second Ctrl+C: stop now
            return
        self.signum, self.first_at = signum, time.monotonic()
        if signum == signal.SIGTERM:
            trainer._signal_connector.received_sigterm = True  # what trainer.received_sigterm reports
        launcher = trainer.strategy.launcher
        if launcher is not None:
            launcher.kill(signum)  # the ranks Lightning started (none under srun/torchrun)

    # ----------------------------------------------------------------- stopping
    def on_predict_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """The batch is written (the writers ran before this hook): end the loop here if a signal came."""
        if self.signum is not None:
            trainer.should_stop = True
            raise StopIteration  # the prediction loop's own way out (its run() catches it)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._restore()
        self._trainer = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore()
        self._trainer = None

    def exit_status(self, trainer: pl.Trainer) -> int:
        """``128 + signal number`` for this rank, 0 when no signal stopped the run.

        Ranks that Lightning's own launcher started exit 0: its observer kills every process of the
        run (rank 0 included, before it reports) as soon as one of them exits non-zero.
        """
        if self.signum is None:
            return 0
        if trainer.global_rank != 0 and isinstance(trainer.strategy.launcher, _SubprocessScriptLauncher):
            return 0
        return 128 + int(self.signum)


def stopped_line(signum: int, done: int, total: int) -> str:
    """``stopped by SIGTERM after 1,234 of 5,000 rows; run the same command to resume``."""
    return f"stopped by {signal.Signals(signum).name} after {done:,} of {total:,} rows; run the same command to resume"
