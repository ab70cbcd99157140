"""Command line: ``python -m lit_extract {predict,probe,fit,test,index,inspect} ...``.

``predict`` and ``probe``/``fit``/``test`` are LightningCLI programs: every class argument is a
flag (``--data.*``, ``--model.*``, ``--trainer.*``) and a ``--config`` YAML. ``index`` and
``inspect`` are plain jsonargparse commands. Errors a user can fix are printed as one line
``error: ...`` with exit status 2.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from lit_extract.data import ClipDataModule
from lit_extract.errors import LitExtractError
from lit_extract.module import FrozenVideoEncoder
from lit_extract.writer import EmbeddingWriter

COMMANDS = ("predict", "probe", "fit", "test", "index", "inspect", "demo")


def main(argv: Sequence[str] | None = None) -> None:
    """Dispatch to the command named by ``argv[0]``; exit 2 with one line on a :class:`LitExtractError`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: python -m lit_extract {{{','.join(COMMANDS)}}} [--help] ...", file=sys.stderr)
        sys.exit(0 if args and args[0] in ("-h", "--help") else 2)
    command, rest = args[0], args[1:]
    quiet_known_warnings()
    try:
        if command == "predict":
            run_predict(rest)
        elif command in ("probe", "fit", "test"):
            run_probe(command, rest)
        elif command == "index":
            run_index(rest)
        elif command == "inspect":
            run_inspect(rest)
        elif command == "demo":
            run_demo(rest)
    except LitExtractError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        sys.exit(2)


def quiet_known_warnings() -> None:
    """Silence Lightning warnings that do not apply to lit_extract's data path (each explained)."""
    for message in (
        # main() hands LightningCLI the same arguments that are in sys.argv, on purpose.
        "LightningCLI's args parameter is intended",
        # Each worker gets its own videos (VideoClipStream shards by worker), so __len__ is exact.
        "Your `IterableDataset` has `__len__` defined",
        # Rows travel inside each batch; the writer never needs Lightning's batch indices.
        "Couldn't infer the batch indices",
        # Worker count is the user's choice (--data.num_workers); the hint is noise on CPU runs.
        "does not have many workers",
        ".*isinstance.treespec, LeafSpec.",
    ):
        warnings.filterwarnings("ignore", message=f".*{message}")


def one_line(exc: BaseException) -> str:
    """The user-facing line of an error, also when a DataLoader worker re-raised it with a traceback."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    last = lines[-1]
    prefix = f"{type(exc).__name__}: "
    return last[len(prefix):] if last.startswith(prefix) else last


class ClipProgressBar(TQDMProgressBar):
    """Lightning's progress bar, one bar per split, with clips done and clips/s beside the batches."""

    def __init__(self, refresh_rate: int = 1) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self.clips: dict[int, int] = {}

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        super().on_predict_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)
        splits = getattr(trainer.datamodule, "splits", None)
        if batch_idx == 0 and splits:
            self.predict_progress_bar.set_description(f"Extracting {splits[dataloader_idx]}")

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)
        self.clips[dataloader_idx] = self.clips.get(dataloader_idx, 0) + len(batch["rows"])
        bar = self.predict_progress_bar
        if bar is not None and self._should_update(batch_idx + 1, bar.total):
            clips, elapsed = self.clips[dataloader_idx], bar.format_dict.get("elapsed") or 0.0
            rate = f", {clips / elapsed:.1f} clips/s" if elapsed > 0 else ""
            bar.set_postfix_str(f"clips={clips}{rate}", refresh=True)


class ExtractCLI(LightningCLI):
    """``predict``: FrozenVideoEncoder over a ClipDataModule, written by an EmbeddingWriter."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(EmbeddingWriter, "writer")
        # The encoder checks T and the image size it will be fed; both come from the data.
        parser.link_arguments("data.frames", "model.frames")
        parser.link_arguments("data.img_size", "model.img_size")


def run_predict(args: list[str]) -> None:
    """``python -m lit_extract predict --config configs/swin3d.yaml [--data.* --model.* --writer.* --trainer.*]``."""
    ExtractCLI(
        FrozenVideoEncoder,
        ClipDataModule,
        args=["predict", *args],
        save_config_callback=None,
        trainer_defaults={
            "logger": False,  # the manifest records the run; no lightning_logs/ folder
            "callbacks": [ClipProgressBar()],
        },
    )


def run_probe(command: str, args: list[str]) -> None:
    raise NotImplementedError  # being written


def run_index(args: list[str]) -> None:
    raise NotImplementedError  # being written


def run_inspect(args: list[str]) -> None:
    raise NotImplementedError  # being written


def run_demo(args: list[str]) -> None:
    raise NotImplementedError  # being written
