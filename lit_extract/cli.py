"""Command line: ``python -m lit_extract {predict,probe,fit,test,index,inspect,demo,compare} ...``.

``predict`` and ``probe``/``fit``/``test`` are LightningCLI programs: every class argument is a
flag (``--data.*``, ``--model.*``, ``--trainer.*``) and a ``--config`` YAML. ``index`` and
``inspect`` are plain jsonargparse commands. Errors a user can fix are printed as one line
``error: ...`` with exit status 2.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from lit_extract.data import ClipDataModule
from lit_extract.errors import LitExtractError
from lit_extract.module import FrozenVideoEncoder
from lit_extract.probe import EmbeddingDataModule, LinearProbe, grouped_metrics, results_table, write_outputs
from lit_extract.writer import EmbeddingWriter

COMMANDS = ("predict", "probe", "fit", "test", "index", "inspect", "demo", "compare")


def main(argv: Sequence[str] | None = None) -> None:
    """Dispatch to the command named by ``argv[0]``; exit 2 with one line on a :class:`LitExtractError`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: python -m lit_extract {{{','.join(COMMANDS)}}} [--help] ...", file=sys.stderr)
        sys.exit(0 if args and args[0] in ("-h", "--help") else 2)
    command, rest = args[0], args[1:]
    quiet_known_warnings()
    show_warnings_on_stderr()
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
        elif command == "compare":
            run_compare(rest)
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
        # More ranks than videos is fine: an idle rank still joins every barrier.
        "Total length of `DataLoader` across ranks is zero",
    ):
        warnings.filterwarnings("ignore", message=f".*{message}")


def show_warnings_on_stderr() -> None:
    """lit_extract's warnings (one line per unreadable video, ...) go to stderr as ``warning: ...``."""
    logger = logging.getLogger("lit_extract")
    for handler in [h for h in logger.handlers if getattr(h, "lit_extract", False)]:
        logger.removeHandler(handler)  # bound to an older sys.stderr (main() called again in-process)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    handler.lit_extract = True
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


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

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The trainer, with the clip-counting progress bar unless progress bars are turned off."""
        trainer_config = self._get(self.config_init, "trainer", default={})
        if trainer_config.get("enable_progress_bar", True) is not False:
            kwargs["callbacks"] = [*(trainer_config.get("callbacks") or []), ClipProgressBar()]
        return super().instantiate_trainer(**kwargs)


def run_predict(args: list[str]) -> None:
    """``python -m lit_extract predict --config configs/swin3d.yaml [--data.* --model.* --writer.* --trainer.*]``."""
    ExtractCLI(
        FrozenVideoEncoder,
        ClipDataModule,
        args=["predict", *args],
        save_config_callback=None,
        auto_configure_optimizers=False,  # a frozen encoder: no optimizer flags
        seed_everything_default=0,  # nothing random in a frozen forward pass; a fixed seed, no warning
        trainer_defaults={
            "logger": False,  # the manifest records the run; no lightning_logs/ folder
        },
    )


class ProbeCLI(LightningCLI):
    """``probe``/``fit``/``test``: LinearProbe on an EmbeddingDataModule, kept and stopped on ``val_metric``.

    ``--checkpoint.*`` (ModelCheckpoint) and ``--early_stopping.*`` (EarlyStopping) watch
    ``val_metric`` (val AUROC, or val macro accuracy for ``--data.target category``). After a test
    the outputs of :func:`lit_extract.probe.write_outputs` go to ``trainer.log_dir``.
    """

    def __init__(self, args: list[str], run: bool = True) -> None:
        super().__init__(
            LinearProbe,
            EmbeddingDataModule,
            args=args,
            run=run,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"description": "Linear probe on clip embeddings; outputs go to trainer.log_dir."},
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # The probe's width and number of classes come from the embeddings, never from the YAML.
        parser.link_arguments("data.input_dim", "model.input_dim", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.set_defaults({
            "checkpoint.monitor": "val_metric", "checkpoint.mode": "max", "checkpoint.filename": "best-{epoch}",
            "early_stopping.monitor": "val_metric", "early_stopping.mode": "max",
            "early_stopping.patience": 5,  # val AUROC is noisy from epoch to epoch; Lightning's 3 stops early
        })

    def after_test(self) -> None:
        """Validate the tested weights, write the outputs and print the results table."""
        trainer, model, data = self.trainer, self.model, self.datamodule
        metrics = {name: float(trainer.callback_metrics[name]) for name in model.test_metrics.keys()}
        tested = trainer.ckpt_path  # validate() below forgets it
        trainer.validate(model, datamodule=data, verbose=False)
        metrics = {model.val_metric_name: float(trainer.callback_metrics[model.val_metric_name]), **metrics}
        if trainer.is_global_zero:  # one process writes the files
            if model.binary:
                metrics.update(grouped_metrics(model.test_scores, data))
            paths = write_outputs(Path(trainer.log_dir), metrics, model.test_scores, data.targets("test"))
            print(results_table(metrics))
            print("\n".join(f"wrote {path}" for path in paths) + f"\ntested checkpoint {tested}")


def run_probe(command: str, args: list[str]) -> str:
    """``probe``: fit, then test the best checkpoint, in one run; ``fit``/``test``: the LightningCLI
    subcommands. Returns the run folder (``trainer.log_dir``)."""
    if command != "probe":
        return ProbeCLI([command, *args]).trainer.log_dir
    cli = ProbeCLI(args, run=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path="best")
    cli.after_test()
    return cli.trainer.log_dir


def run_index(args: list[str]) -> None:
    """``index``: build ``index_clips.csv`` from a video folder; flags are :func:`build_index`'s
    parameters with dashes (``--clip-len``), help from its docstring; prints videos and clips per
    split and class, and the videos left out."""
    import inspect
    import typing

    import docstring_parser
    from jsonargparse import ActionYesNo, ArgumentParser

    from lit_extract.errors import first_few
    from lit_extract.index import build_index, video_clip_summary

    doc = docstring_parser.parse(build_index.__doc__ or "")
    helps = {param.arg_name: param.description for param in doc.params}
    hints = typing.get_type_hints(build_index)
    parser = ArgumentParser(prog="python -m lit_extract index", description=(doc.long_description or "").replace("``", ""))
    for name, param in inspect.signature(build_index).parameters.items():
        flag = "--" + name.replace("_", "-")
        if hints[name] is bool:  # --exact-frames / --no-exact-frames, no value
            parser.add_argument(flag, action=ActionYesNo(no_prefix="no-"), default=param.default, help=helps.get(name))
        else:
            required = param.default is inspect.Parameter.empty
            default = None if required else param.default
            parser.add_argument(flag, type=hints[name], required=required, default=default, help=helps.get(name))
    config = parser.parse_args(args)
    result = build_index(**{name: config[name] for name in inspect.signature(build_index).parameters})
    index = result.index
    print(video_clip_summary(index).to_string())
    print(f"wrote {len(index)} clips of {index['path'].nunique()} videos to {result.out}")
    if not result.skipped.empty:
        reasons = [f"{row.path} ({row.reason})" for row in result.skipped.itertuples()]
        print(
            f"skipped {len(reasons)} unreadable video(s), listed in {result.skipped_csv}: {first_few(reasons, 3)}",
            file=sys.stderr,
        )


def run_inspect(args: list[str]) -> None:
    """``inspect``: print shapes, statistics, labels and statuses of a finished run.

    Exit status: 0 when every row is done, written and finite; 1 when the inspection finds a
    problem (rows missing or all-zero, NaN/Inf, files disagreeing with the manifest); 2 (via
    :class:`LitExtractError`) when the manifest or its files cannot be read.
    """
    from jsonargparse import CLI

    from lit_extract.manifest import format_report, inspect_manifest, plot_embeddings

    def inspect(manifest: str, plot: str | None = None, sample: int = 5000, seed: int = 0) -> bool:
        """Check a finished run's output folder; exit status 1 when rows are missing or non-finite.

        Prints shapes, dtype, per-split statistics (float64), label and status counts, rows not
        done, all-zero rows marked done, and rows holding NaN/Inf.

        Args:
            manifest: the run's manifest_<encoder>.json.
            plot: also save a 2-D PCA scatter of sampled embeddings, coloured by class, to this PNG.
            sample: rows sampled for the plot.
            seed: seed of the plot's sample.
        """
        report = inspect_manifest(manifest)
        print(format_report(report))
        if plot is not None:
            print(f"wrote {plot_embeddings(manifest, plot, sample=sample, seed=seed)}")
        return report.ok

    ok = CLI(inspect, args=args, as_positional=True, prog="python -m lit_extract inspect")
    if not ok:
        sys.exit(1)


def find_config(name: str) -> str:
    """``configs/<name>`` from the working directory, else from the source checkout lit_extract runs from."""
    here = Path("configs") / name
    if here.is_file():
        return str(here)
    checkout = Path(__file__).resolve().parents[1] / "configs" / name
    if checkout.is_file():
        return str(checkout)
    raise LitExtractError(f"configs/{name} not found; run the demo from the lit_extract checkout")


def run_demo(args: list[str]) -> None:
    """``demo``: synthetic videos -> index -> embeddings -> linear probe, offline, in about a minute."""
    from jsonargparse import CLI

    from lit_extract.demo import write_demo_videos
    from lit_extract.index import build_index, video_clip_summary

    def demo(root: str = "demo_data", probe: bool = True) -> None:
        """Run the whole job on a small synthetic dataset (random-init r3d_18, CPU).

        Writes ``<root>/videos``, ``<root>/index_clips.csv``, ``<root>/processed`` (embeddings and
        manifest) and ``<root>/probe`` (probe metrics); a second run reuses what is there.

        Args:
            root: folder for everything the demo writes.
            probe: also train and test a linear probe on the embeddings.
        """
        videos = write_demo_videos(root)
        print(f"demo: {len(videos)} synthetic videos in {root}/videos")
        built = build_index(out=f"{root}/index_clips.csv", root=f"{root}/videos", layout="tree", progress=False)
        print(video_clip_summary(built.index).to_string())
        output_dir = f"{root}/processed"
        run_predict(["--config", find_config("demo.yaml"),
                     "--data.index_path", str(built.out), "--writer.output_dir", output_dir])
        manifest = f"{output_dir}/manifest_r3d_18.json"
        print(f"demo: embeddings and manifest in {output_dir}/ ({manifest})")
        if probe:
            run_dir = run_probe("probe", ["--config", find_config("probe.yaml"), "--data.manifest", manifest,
                                          "--trainer.default_root_dir", f"{root}/probe"])
            print(f"demo: probe metrics, test scores, ROC curve and checkpoint in {run_dir}/")

    CLI(demo, args=args)


def run_compare(args: list[str]) -> None:
    """``compare``: one linear probe per encoder of an output folder, one table (:mod:`lit_extract.compare`)."""
    from jsonargparse import CLI

    from lit_extract.compare import compare_encoders, format_table

    def compare(
        folder: str, out: str = "runs/compare", annotations: str | None = None, probe_config: str | None = None
    ) -> None:
        """Probe every encoder extracted into a folder with the same linear probe; print one table.

        Writes compare.csv, compare.md, roc_test.png (the test ROC curves of all encoders) and
        each encoder's probe run (<out>/<encoder>/lightning_logs/version_N) to --out.

        Args:
            folder: the predict output folder holding manifest_<encoder>.json files.
            out: folder for the table, the figure and the probe runs.
            annotations: UCF-Crime Temporal_Anomaly_Annotation_for_Testing_Videos.txt: adds frame-level AUROC.
            probe_config: the probe's YAML (default configs/probe.yaml), the same for every encoder.
        """
        table, paths = compare_encoders(
            folder, out, probe=lambda probe_args: run_probe("probe", probe_args),
            config=probe_config or find_config("probe.yaml"), annotations=annotations,
        )
        print(format_table(table))
        print("\n".join(f"wrote {path}" for path in paths))

    CLI(compare, args=args, as_positional=True, prog="python -m lit_extract compare")
