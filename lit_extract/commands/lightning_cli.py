"""The LightningCLI programs: ``predict`` (ExtractCLI) and ``probe``/``fit``/``test`` (ProbeCLI).

Every class argument is a flag (``--data.*``, ``--model.*``, ``--trainer.*``, ...) and a key of
the ``--config`` YAML. What both programs add to LightningCLI (:class:`ProjectCLI`):

- ``--help`` shows the project's own options (``--data.*``, ``--model.*``, ``--writer.*``);
  ``--help-all`` shows every option, the project's first, then Lightning's (``--trainer.*``).
- A mistyped or invalid flag raises one :class:`LitExtractError` line, with the closest real flag
  for an unknown one (``unknown option --data.batchsize; did you mean --data.batch_size?``).

:mod:`lit_extract.commands.cli` imports this module only when one of these commands runs: importing
Lightning takes seconds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from lit_extract.extract.data import ClipDataModule
from lit_extract.encoders import encoder_choices
from lit_extract.errors import LitExtractError, parse_error_line
from lit_extract.extract.module import FrozenVideoEncoder
from lit_extract.commands import parser_cache
from lit_extract.commands.help_format import PlainHelpFormatter
from lit_extract.commands.preflight import check_predict_inputs
from lit_extract.evaluate.probe import (
    EmbeddingDataModule,
    LinearProbe,
    frames_of_test,
    grouped_metrics,
    timelines_of_test,
    results_table,
    write_outputs,
)
from lit_extract.commands.progress import ClipProgressBar, progress_callbacks
from lit_extract.extract.stopping import SignalStop, stopped_line
from lit_extract.extract.writer import EmbeddingWriter

HELP_ALL = "--help-all"
FIRST_TITLE = "The options most runs set"
PLOT_VIDEOS = 3  # test videos in a probe's scores_over_time_test.png by default
LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")


class ProjectCLI(LightningCLI):
    """LightningCLI with a short ``--help``, a full ``--help-all`` and one-line parse errors.

    Subclasses name their program (``PROGRAM``), title their option groups (``GROUP_TITLES``, in
    the order help shows them; groups not named there follow) and say which groups the short help
    shows (``SHORT_HELP``), and which options help shows first (``FIRST``).
    """

    PROGRAM: ClassVar[str] = "python -m lit_extract"
    GROUP_TITLES: ClassVar[dict[str, str]] = {}
    SHORT_HELP: ClassVar[tuple[str, ...]] = ()
    FIRST: ClassVar[tuple[str, ...]] = ("config",)

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        kwargs["exit_on_error"] = False  # parse errors become one LitExtractError line (parse_arguments)
        kwargs["formatter_class"] = PlainHelpFormatter  # no docstring markup, no word cut in two
        return super().init_parser(**kwargs)

    def parse_arguments(self, parser: LightningArgumentParser, args: Sequence[str] | None) -> None:
        """Print the short or full help and exit 0, or parse; a parse error (also a key of a
        ``--config`` file that is no option) raises one :class:`LitExtractError` line.

        The short help and the options are recorded for the next invocation
        (:mod:`lit_extract.commands.parser_cache`), which then answers ``--help`` and a mistyped
        option without importing torch and Lightning.
        """
        args = list(args or [])
        command_parser = self._command_parser(parser, args)
        self._tidy_help(command_parser)
        options, groups = [*option_strings(command_parser), HELP_ALL], list(command_parser.groups)
        short_help = self.short_help(command_parser)
        parser_cache.save(command_parser.prog.rsplit(" ", 1)[-1], short_help, options, groups)
        if HELP_ALL in args:
            print(format_help(command_parser, None, self.GROUP_TITLES, self.FIRST), end="")
            sys.exit(0)
        if "-h" in args or "--help" in args:
            print(short_help, end="")
            sys.exit(0)
        for path in parser_cache.config_paths(args):
            parser_cache.check_config_keys(path, options, groups)
        try:
            super().parse_arguments(parser, args)
        except argparse.ArgumentError as exc:
            raise LitExtractError(parse_error_line(str(exc), options)) from None

    def short_help(self, command_parser: LightningArgumentParser) -> str:
        """``--help``: the options most runs set, then the project's option groups (:attr:`SHORT_HELP`)."""
        groups = (*self.SHORT_HELP, *LIGHTNING_SUBCOMMANDS)
        return (format_help(command_parser, groups, self.GROUP_TITLES, self.FIRST)
                + f"\nEvery option, also Lightning's --trainer.*: {command_parser.prog} {HELP_ALL}\n")

    def progress_bar(self) -> Callback | None:
        """The progress bar on a terminal (``None``: Lightning's own)."""
        return None

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The trainer, with :meth:`progress_bar` on a terminal, plain progress lines in a log
        (:func:`lit_extract.commands.progress.progress_callbacks`), nothing with progress bars turned off."""
        trainer_config = self._get(self.config_init, "trainer", default={})
        callbacks, settings = progress_callbacks(trainer_config, self.progress_bar())
        if callbacks:
            kwargs["callbacks"] = [*(trainer_config.get("callbacks") or []), *callbacks]
        kwargs.update(settings)
        return super().instantiate_trainer(**kwargs)

    def _command_parser(self, parser: LightningArgumentParser, args: list[str]) -> LightningArgumentParser:
        """The parser of the command being run: a LightningCLI subcommand's (``fit``) or ``parser``.

        Also names every parser as the user types it (``python -m lit_extract fit``).
        """
        parser.prog = self.PROGRAM
        subparsers = getattr(self, "_subcommand_parsers", {})  # LightningCLI(run=True) only
        for name, subparser in subparsers.items():
            subparser.prog = f"{self.PROGRAM.rsplit(' ', 1)[0]} {name}"
        return subparsers.get(args[0], parser) if args else parser

    def _tidy_help(self, parser: LightningArgumentParser) -> None:
        """Group titles of our own instead of cut-off class docstrings; a compact usage line."""
        titles = {**self.GROUP_TITLES, **{name: f"Trainer.{name}() arguments" for name in LIGHTNING_SUBCOMMANDS}}
        for key, title in titles.items():
            group = parser.groups.get(key)
            if group is not None:
                group.title, group.description = title, None
        shown = " ".join(f"[--{key}.* ...]" for key in self.GROUP_TITLES)
        parser.usage = f"%(prog)s [--config CONFIG] {shown} [{HELP_ALL}]"
        set_help(parser, "seed_everything", "seed set before the classes are built; true draws a random one.")
        set_help(parser, "help", f"Show the project's options and exit ({HELP_ALL}: every option).")


def format_help(
    parser: LightningArgumentParser, groups: Sequence[str] | None, titles: dict[str, str], first: Sequence[str] = ()
) -> str:
    """``parser``'s help with the option groups ``groups`` only (``None``: all), in ``titles`` order first.

    The options ``first`` (dests, e.g. ``data.index_path``) come first, in a group of their own
    (:data:`FIRST_TITLE`), and not again in their groups; then the general options
    (``--print_config``, ...), then the groups.
    """
    keyed = {id(group): key for key, group in parser.groups.items()}
    order = {key: position for position, key in enumerate(titles)}
    general = [group for group in parser._action_groups if id(group) not in keyed]
    nested = [group for group in parser._action_groups if id(group) in keyed]
    if groups is not None:
        nested = [group for group in nested if keyed[id(group)] in groups]
        general = [group for group in general if not group.title.startswith("Linked")]
    nested.sort(key=lambda group: order.get(keyed[id(group)], len(order)))
    by_dest = {action.dest: action for action in parser._actions}
    lead = [by_dest[dest] for dest in first if dest in by_dest]
    saved_groups, saved_members = parser._action_groups, {id(g): list(g._group_actions) for g in parser._action_groups}
    shown = [*general, *nested]
    if lead:
        lead_group = argparse._ArgumentGroup(parser, title=FIRST_TITLE)
        lead_group._group_actions = lead
        for group in shown:
            group._group_actions = [action for action in group._group_actions if action not in lead]
        shown = [lead_group, *shown]
    parser._action_groups = shown
    try:
        return parser.format_help()
    finally:
        parser._action_groups = saved_groups
        for group in saved_groups:
            group._group_actions = saved_members[id(group)]


def option_strings(parser: LightningArgumentParser) -> list[str]:
    """Every ``--flag`` ``parser`` accepts."""
    return [option for option in parser._option_string_actions if option.startswith("--")]


def set_help(parser: LightningArgumentParser, dest: str, text: str, *, append: bool = False) -> None:
    """Set (or append ``text`` to) the help of the option that stores into ``dest``."""
    for action in parser._actions:
        if action.dest == dest:
            action.help = f"{action.help or ''} {text}".strip() if append else text


class ExtractCLI(ProjectCLI):
    """``predict``: FrozenVideoEncoder over a ClipDataModule, written by an EmbeddingWriter."""

    PROGRAM = "python -m lit_extract predict"
    GROUP_TITLES = {
        "data": "Clips (--data.*, ClipDataModule)",
        "model": "Encoder (--model.*, FrozenVideoEncoder)",
        "writer": "Outputs (--writer.*, EmbeddingWriter)",
        "trainer": "Lightning Trainer (--trainer.*)",
    }
    SHORT_HELP = ("data", "model", "writer")
    FIRST = ("config", "data.index_path", "model.encoder", "model.weights", "writer.output_dir", "data.frames",
             "data.img_size", "data.batch_size", "data.num_workers", "trainer.devices")

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(EmbeddingWriter, "writer")
        # The encoder checks T and the image size it will be fed; both come from the data.
        parser.link_arguments("data.frames", "model.frames")
        parser.link_arguments("data.img_size", "model.img_size")
        set_help(parser, "model.encoder", f"One of: {encoder_choices()}.", append=True)

    def before_instantiate_classes(self) -> None:
        """Check the index, the settings and the output folder before the encoder may download weights."""
        check_predict_inputs(self.config)

    def progress_bar(self) -> Callback | None:
        return ClipProgressBar()


def run_predict(args: list[str]) -> None:
    """``python -m lit_extract predict --config configs/swin3d.yaml [--data.* --model.* --writer.* --trainer.*]``."""
    cli = ExtractCLI(
        FrozenVideoEncoder,
        ClipDataModule,
        args=args,
        run=False,  # one program, not LightningCLI's fit/validate/test/predict
        save_config_callback=None,
        auto_configure_optimizers=False,  # a frozen encoder: no optimizer flags
        seed_everything_default=0,  # nothing random in a frozen forward pass; a fixed seed, no warning
        trainer_defaults={
            "logger": False,  # the manifest records the run; no lightning_logs/ folder
        },
        parser_kwargs={"description": "Clip embeddings of a frozen video encoder, written to --writer.output_dir."},
    )
    stop = SignalStop()
    cli.trainer.callbacks.append(stop)  # after the writer: a signal ends the run once the batch is written
    cli.trainer.predict(cli.model, datamodule=cli.datamodule, return_predictions=False)
    report_stop(cli.trainer, stop)


def report_stop(trainer: Trainer, stop: SignalStop) -> None:
    """After a run a signal stopped: rank 0 says how far it got in one line; every rank exits
    ``128 + signal number`` (see :meth:`SignalStop.exit_status`). Nothing when no signal came or
    every row got done anyway."""
    status = stop.exit_status(trainer)
    if stop.signum is None:
        return
    writers = [c for c in trainer.callbacks if isinstance(c, EmbeddingWriter)]
    progress = writers[0].progress if writers else None
    if progress is not None and progress[0] == progress[1]:
        return  # the signal came after the last row: the run is complete
    if trainer.is_global_zero and progress is not None:
        print(stopped_line(stop.signum, *progress), file=sys.stderr, flush=True)
    sys.exit(status)


class ProbeCLI(ProjectCLI):
    """``probe``/``fit``/``test``: LinearProbe on an EmbeddingDataModule, kept and stopped on ``val_metric``.

    ``--checkpoint.*`` (ModelCheckpoint) and ``--early_stopping.*`` (EarlyStopping) watch
    ``val_metric`` (``--model.monitor``: val clip AUROC by default, the dataset's official metric
    with ``--model.objective mil``; val macro accuracy for ``--data.target category``). The optimizer
    is the probe's own AdamW (``--model.lr``, ``--model.weight_decay``). After a test the outputs
    of :func:`lit_extract.evaluate.probe.write_outputs` go to ``trainer.log_dir``;
    ``--plot_videos`` chooses the test videos of ``scores_over_time_test.png``.
    """

    PROGRAM = "python -m lit_extract probe"
    GROUP_TITLES = {
        "data": "Embeddings (--data.*, EmbeddingDataModule)",
        "model": "Linear probe (--model.*, LinearProbe)",
        "checkpoint": "Best checkpoint on val_metric (--checkpoint.*, Lightning ModelCheckpoint)",
        "early_stopping": "Early stopping on val_metric (--early_stopping.*, Lightning EarlyStopping)",
        "trainer": "Lightning Trainer (--trainer.*)",
    }
    SHORT_HELP = ("data", "model")
    FIRST = ("config", "data.manifest", "data.annotations", "data.target", "trainer.default_root_dir",
             "trainer.max_epochs", "model.lr")

    def __init__(self, args: list[str], run: bool = True) -> None:
        description = ("Probe on clip embeddings (clip labels, or video labels with --model.objective mil); "
                       "outputs go to trainer.log_dir.")
        super().__init__(
            LinearProbe,
            EmbeddingDataModule,
            args=args,
            run=run,
            save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,  # LinearProbe.configure_optimizers: AdamW, no decay on the bias
            parser_kwargs={
                "description": description,
                **{name: {"description": description} for name in LIGHTNING_SUBCOMMANDS},
            },
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # The probe's width and number of classes come from the embeddings, never from the YAML.
        parser.link_arguments("data.input_dim", "model.input_dim", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        # One flag chooses the objective: the data follow the model (row batches or video bags).
        parser.link_arguments("model.objective", "data.objective", apply_on="parse")
        parser.add_argument(
            "--plot_videos", type=int | list[str], default=PLOT_VIDEOS,
            help="test videos whose scores over time are plotted (scores_over_time_test.png): a number "
                 "(the first anomalous videos, then normal ones) or a list of names without extension; 0: none",
        )
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.set_defaults({
            "checkpoint.monitor": "val_metric", "checkpoint.mode": "max", "checkpoint.filename": "best-{epoch}",
            "early_stopping.monitor": "val_metric", "early_stopping.mode": "max",
            "early_stopping.patience": 5,  # val AUROC is noisy from epoch to epoch; Lightning's 3 stops early
        })
        for action in parser._actions:
            if action.dest == "early_stopping.monitor":
                action.required = False  # it has a default (val_metric) now

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
            videos = self._get(self.config, "plot_videos", default=PLOT_VIDEOS)
            paths = write_outputs(Path(trainer.log_dir), metrics, model.test_scores, data.targets("test"),
                                  encoder=data.manifest.get("encoder"), frames=frames_of_test(model.test_scores, data),
                                  timelines=timelines_of_test(model.test_scores, data, videos),
                                  objective=model.hparams.objective)
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
