"""Command line: ``python -m lit_extract <command> ...``; ``python -m lit_extract --help`` lists them.

The commands are one table, :data:`COMMANDS` (name -> description, usual invocation, runner):
adding a command is adding an entry. ``predict`` and ``probe``/``fit``/``test`` are LightningCLI
programs (:mod:`lit_extract.commands.lightning_cli`); ``index``, ``inspect`` and ``demo`` are plain
jsonargparse commands. Each runner imports what its command needs when it runs, so that
``--help`` answers at once (importing torch and Lightning takes seconds). Errors a user can fix
are printed as one line ``error: ...`` with exit status 2.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from lit_extract.commands import parser_cache
from lit_extract.commands.torch_pair import check_installed_pair, check_loaded_pair
from lit_extract.errors import LitExtractError

PROGRAM = "python -m lit_extract"
T = TypeVar("T")


@dataclass(frozen=True)
class Command:
    """One command of ``python -m lit_extract``: what it does, how it is usually run, and its runner."""

    description: str  # one line
    example: str  # the most common invocation
    run: Callable[[list[str]], object]  # called with the arguments after the command name


def main(argv: Sequence[str] | None = None) -> None:
    """Dispatch to the command named by ``argv[0]``; exit 2 with one line on a :class:`LitExtractError`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(overview(), file=sys.stdout if args else sys.stderr)
        sys.exit(0 if args else 2)
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; choose one of: {', '.join(COMMANDS)} "
              f"({PROGRAM} --help describes them)", file=sys.stderr)
        sys.exit(2)
    quiet_known_warnings()
    show_warnings_on_stderr()
    try:
        check_installed_pair()
        COMMANDS[command].run(rest)
    except LitExtractError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        sys.exit(2)


def overview() -> str:
    """``python -m lit_extract --help``: every command with its description and usual invocation."""
    width = max(len(name) for name in COMMANDS)
    lines = [f"usage: {PROGRAM} <command> [--help] ...", "",
             "Clip embeddings from frozen video encoders (torchvision, I3D, timm, Hugging Face), linear probes",
             "on them, and features for weakly-supervised video anomaly detection methods.", "", "commands:"]
    for name, command in COMMANDS.items():
        lines.append(f"  {name:<{width}}  {command.description}")
        lines.append(f"  {'':<{width}}  {command.example}")
    lines += ["", f"{PROGRAM} <command> --help shows a command's options."]
    return "\n".join(lines)


def quiet_known_warnings() -> None:
    """Silence Lightning warnings and tips that do not apply to lit_extract (each explained)."""
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
        # The probe logs to CSV (metrics.csv) on purpose; TensorBoard is not a dependency.
        "Starting from v1.9.0, `tensorboardX` has been removed",
        # A probe epoch of a small dataset is a few steps; per-epoch metrics are logged anyway.
        "The number of training batches .* is smaller than the logging interval",
    ):
        warnings.filterwarnings("ignore", message=f".*{message}")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)  # where Lightning's rank_zero_info logs (created here if not yet)
        if not any(isinstance(f, DropPromotionalTips) for f in logger.filters):
            logger.addFilter(DropPromotionalTips())


class DropPromotionalTips(logging.Filter):
    """Drops Lightning's "💡 Tip: ... try installing litlogger/litmodels" lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in str(record.msg)


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


def parse_one_line(parse: Callable[[list[str]], T], args: list[str], known: Sequence[str]) -> T:
    """``parse(args)``; a jsonargparse parse error becomes one :class:`LitExtractError` line that
    suggests the closest of the ``known`` flags for an unknown one."""
    from argparse import ArgumentError

    from lit_extract.errors import parse_error_line

    try:
        return parse(args)
    except ArgumentError as exc:
        raise LitExtractError(parse_error_line(str(exc), known)) from None


def function_flags(function: Callable[..., object]) -> list[str]:
    """The ``--flags`` jsonargparse's ``CLI(function)`` accepts."""
    import inspect

    return ["--help", "--config", "--print_config", *(f"--{name}" for name in inspect.signature(function).parameters)]


def run_predict(args: list[str]) -> None:
    """``predict``: see :func:`lit_extract.commands.lightning_cli.run_predict`; ``--help`` and a
    mistyped option are answered without torch and Lightning where :mod:`~lit_extract.commands.parser_cache` can."""
    parser_cache.answer("predict", args)
    check_loaded_pair()
    from lit_extract.commands.lightning_cli import run_predict as run

    run(args)


def run_probe(command: str, args: list[str]) -> str:
    """``probe``/``fit``/``test``: see :func:`lit_extract.commands.lightning_cli.run_probe`; returns the run
    folder. ``--help`` and a mistyped option are answered as :func:`run_predict` says."""
    parser_cache.answer(command, args)
    check_loaded_pair()
    from lit_extract.commands.lightning_cli import run_probe as run

    return run(command, args)


def run_index(args: list[str]) -> None:
    """``index``: build ``index_clips.csv`` from a video folder; flags are :func:`build_index`'s
    parameters with dashes (``--clip-len``), help from its docstring; prints videos and clips per
    split and class, and the videos left out."""
    import inspect
    import typing

    import docstring_parser
    from jsonargparse import ActionYesNo, ArgumentParser

    from lit_extract.commands.help_format import PlainHelpFormatter

    from lit_extract.errors import first_few
    from lit_extract.indexing.index import video_clip_summary
    from lit_extract.indexing.scan import build_index
    from lit_extract.indexing.val_split import val_split_report

    doc = docstring_parser.parse(build_index.__doc__ or "")
    helps = {param.arg_name: param.description for param in doc.params}
    hints = typing.get_type_hints(build_index)
    parser = ArgumentParser(prog=f"{PROGRAM} index", description=doc.long_description or "",
                            exit_on_error=False, formatter_class=PlainHelpFormatter)
    for name, param in inspect.signature(build_index).parameters.items():
        flag = "--" + name.replace("_", "-")
        if hints[name] is bool:  # --exact-frames / --no-exact-frames, no value
            parser.add_argument(flag, action=ActionYesNo(no_prefix="no-"), default=param.default, help=helps.get(name))
        else:
            required = param.default is inspect.Parameter.empty
            default = None if required else param.default
            parser.add_argument(flag, type=hints[name], required=required, default=default, help=helps.get(name))
    config = parse_one_line(parser.parse_args, args, [a for a in parser._option_string_actions if a.startswith("--")])
    result = build_index(**{name: config[name] for name in inspect.signature(build_index).parameters})
    index = result.index
    if result.dataset is not None:
        print(f"dataset: {result.dataset}" + (" (detected from the folder; --dataset chooses)" if result.dataset_detected else ""))
    print(video_clip_summary(index).to_string())
    print(f"wrote {len(index)} clips of {index['path'].nunique()} videos to {result.out}")
    val_fraction_given = any(arg == "--val-fraction" or arg.startswith("--val-fraction=") for arg in args)
    if result.val_from_input and val_fraction_given:
        print(f"note: --val-fraction {config['val_fraction']} ignored: the input already has a val split, kept as is",
              file=sys.stderr)
    statement, note = val_split_report(index, config["val_fraction"], from_input=result.val_from_input)
    print(statement)
    if note is not None:
        print(note, file=sys.stderr)
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

    from lit_extract.commands.help_format import PlainHelpFormatter

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
        from lit_extract.store.manifest import format_report, inspect_manifest, plot_embeddings

        report = inspect_manifest(manifest)
        print(format_report(report))
        if plot is not None:
            print(f"wrote {plot_embeddings(manifest, plot, sample=sample, seed=seed)}")
        return report.ok

    ok = parse_one_line(lambda a: CLI(inspect, args=a, as_positional=True, prog=f"{PROGRAM} inspect",
                                      exit_on_error=False, formatter_class=PlainHelpFormatter),
                        args, function_flags(inspect))
    if not ok:
        sys.exit(1)


def find_config(name: str) -> str:
    """``configs/<name>`` from the working directory, else from the source checkout lit_extract runs from."""
    here = Path("configs") / name
    if here.is_file():
        return str(here)
    checkout = Path(__file__).resolve().parents[2] / "configs" / name  # lit_extract/commands/cli.py
    if checkout.is_file():
        return str(checkout)
    raise LitExtractError(f"configs/{name} not found; run the demo from the lit_extract checkout")


def run_demo(args: list[str]) -> None:
    """``demo``: synthetic videos -> index -> embeddings -> linear probe, offline, in about a minute."""
    from jsonargparse import CLI

    from lit_extract.commands.help_format import PlainHelpFormatter

    def demo(root: str = "demo_data", probe: bool = True) -> None:
        """Run the whole job on a small synthetic dataset (random-init r3d_18, CPU).

        The videos: four shapes moving over a textured background; classes Normal and Fighting
        differ only in how fast the shapes move, and the speeds overlap. Writes <root>/videos,
        <root>/index_clips.csv, <root>/processed (embeddings and manifest) and <root>/probe (probe
        metrics); a second run reuses what is there.

        Args:
            root: folder for everything the demo writes.
            probe: also train and test a linear probe on the embeddings.
        """
        check_loaded_pair()
        from lit_extract.commands.demo import DEMO_DATA, demo_data_is_current, write_demo_videos
        from lit_extract.indexing.index import video_clip_summary
        from lit_extract.indexing.scan import build_index

        renewed = not demo_data_is_current(root)  # new videos: an older demo's embeddings are redone
        videos = write_demo_videos(root)
        print(f"demo: {len(videos)} {DEMO_DATA}; in {root}/videos")
        built = build_index(out=f"{root}/index_clips.csv", root=f"{root}/videos", layout="tree", progress=False)
        print(video_clip_summary(built.index).to_string())
        output_dir = f"{root}/processed"
        run_predict(["--config", find_config("demo.yaml"), "--data.index_path", str(built.out),
                     "--writer.output_dir", output_dir, *(["--writer.overwrite", "true"] if renewed else [])])
        manifest = f"{output_dir}/manifest_r3d_18.json"
        print(f"demo: embeddings and manifest in {output_dir}/ ({manifest})")
        if probe:
            run_dir = run_probe("probe", ["--config", find_config("probe.yaml"), "--data.manifest", manifest,
                                          "--trainer.default_root_dir", f"{root}/probe"])
            print(f"demo: probe metrics, test scores, ROC curve and checkpoint in {run_dir}/")
            print("demo: the classes differ only in motion speed, and overlap: a random-init encoder's AUROC "
                  f"below 1 is expected; compare encoders with `python -m lit_extract predict --config "
                  f"configs/demo.yaml --data.index_path {built.out} --writer.output_dir {output_dir} "
                  "--model.encoder '[r3d_18, mc3_18, r2plus1d_18]'` and `python -m lit_extract compare "
                  f"{output_dir} --out {root}/compare`")

    parse_one_line(lambda a: CLI(demo, args=a, prog=f"{PROGRAM} demo", exit_on_error=False,
                                 formatter_class=PlainHelpFormatter), args, function_flags(demo))


def run_export(args: list[str]) -> None:
    """``export``: per-video feature files, train/test lists and gt-ucf.npy for RTFM, MGFN, UR-DMU (see
    :mod:`lit_extract.store.export`); prints what it wrote and the lists' anomalous/normal split point."""
    from jsonargparse import CLI

    from lit_extract.commands.help_format import PlainHelpFormatter

    def export(
        manifest: str,
        format: str | None = None,
        out: str = "features",
        annotations: str | None = None,
        dataset: str | None = None,
        names: str | None = None,
        class_annotations: str | None = None,
        flow_manifest: str | None = None,
    ) -> None:
        """Export a finished extraction for weakly-supervised anomaly detection (RTFM, MGFN, UR-DMU, VadCLIP, XDVioDet, Sultani).

        Writes {video stem}_{encoder}.npy per video (per-crop: {video stem}__{k}.npy per crop),
        train.list (train + val videos) and test.list (absolute paths, anomalous videos first), and
        with --annotations the ground truth (gt-ucf.npy, gt-sh.npy or gt_xd.npy). Prints the
        numbers RTFM, MGFN, UR-DMU, VadCLIP and XDVioDet hard-code (file and line) against this
        export's. The index must hold back-to-back snippets (index --clip-len 16 --stride 16).

        Args:
            manifest: the run's manifest_<encoder>.json.
            format: rtfm ((snippets, crops, D) float32 per video; the default), segments32 ((32, D)
                float32, L2-normalized segments as in the UCF-Crime paper's code) or per-crop
                ((snippets, D) float32 per crop file, with VadCLIP's train.csv/test.csv; a flow
                encoder's manifest: XDVioDet's flow files, flow.list and flow_test.list) or
                two-stream (from the RGB manifest of a pass with a flow encoder: {video stem}.npy,
                (snippets, D_rgb + D_flow) float32, RGB then flow, every row).
            out: output folder (with --names: the method's folder, where its scripts run).
            annotations: the test videos' frame truth: UCF-Crime's
                Temporal_Anomaly_Annotation_for_Testing_Videos.txt (writes gt-ucf.npy), XD-Violence's
                annotations.txt (gt_xd.npy) or ShanghaiTech's testing/test_frame_mask folder (gt-sh.npy).
            dataset: ucf-crime, xd-violence or shanghaitech: whose truth --annotations is (default:
                the one it looks like, else the one the video names are).
            names: rtfm, urdmu, vadclip or xdviodet: write the lists and ground truth under the paths
                that method's code reads (list/ucf-i3d.list, frame_label/xd_gt.npy, list/gt.npy, ...)
                in --out, the feature files in --out/features/ (a flow encoder's, xdviodet:
                list/flow.list, list/flow_test.list and --out/features/Flow/); implies its format.
            class_annotations: XD-Violence's annotations_multiclasses.txt (VadCLIP's list/): writes
                VadCLIP's gt_segment.npy and gt_label.npy (per-crop; for UCF-Crime --annotations
                already holds the classes).
            flow_manifest: with --format two-stream, the flow encoder's manifest (default: the
                one beside --manifest).
        """
        from lit_extract.store.export import export_features, summary
        from lit_extract.store.flow_export import export_flow

        flow = export_flow(manifest, format, out, flow_manifest, names, dataset)
        if flow is not None:
            print(flow.summary())
            return
        print(summary(export_features(manifest, format=format, out=out, annotations=annotations, dataset=dataset,
                                      names=names, class_annotations=class_annotations)))

    parse_one_line(
        lambda a: CLI(export, args=a, as_positional=False, prog=f"{PROGRAM} export", exit_on_error=False,
                      formatter_class=PlainHelpFormatter),
        args, function_flags(export),
    )


@dataclass
class ProbeModel:
    """The probe options ``compare`` sets for every encoder (``--model.*``, as ``probe`` spells them).

    Args:
        objective: clip (every clip carries its video's label) or mil (multiple-instance learning
            from the video labels: the probe scores every snippet, the loss sees only the video label).
    """

    objective: Literal["clip", "mil"] = "clip"



def run_compare(args: list[str]) -> None:
    """``compare``: one linear probe per encoder of an output folder, one table (:mod:`lit_extract.evaluate.compare`)."""
    from jsonargparse import CLI

    from lit_extract.commands.help_format import PlainHelpFormatter

    def compare(
        folder: str, out: str = "runs/compare", annotations: str | None = None, probe_config: str | None = None,
        model: ProbeModel = ProbeModel(),
    ) -> None:
        """Probe every encoder extracted into a folder with the same probe; print one table.

        Writes compare.csv, compare.md, roc_test.png (the test ROC curves of all encoders), with
        --annotations pr_test.png (their frame-level precision-recall curves), and each encoder's
        probe run (<out>/<encoder>/lightning_logs/version_N) to --out.

        Args:
            folder: the predict output folder holding manifest_<encoder>.json files.
            out: folder for the table, the figure and the probe runs.
            annotations: the test videos' frame truth (UCF-Crime's Temporal_Anomaly_Annotation_for_Testing_Videos.txt,
                XD-Violence's annotations.txt or ShanghaiTech's testing/test_frame_mask folder): adds frame-level
                AUROC and AP; the dataset's official metric (frame AP for XD-Violence, frame AUROC otherwise)
                becomes the first column and orders the rows.
            probe_config: the probe's YAML (default configs/probe.yaml), the same for every encoder.
            model: the probe's --model.objective for every encoder: clip or mil.
        """
        check_loaded_pair()
        from lit_extract.evaluate.compare import compare_encoders, format_table

        table, paths = compare_encoders(
            folder, out, probe=lambda probe_args: run_probe("probe", probe_args),
            config=probe_config or find_config("probe.yaml"), annotations=annotations, objective=model.objective,
        )
        print(format_table(table))
        print("\n".join(f"wrote {path}" for path in paths))

    parse_one_line(
        lambda a: CLI(compare, args=a, as_positional=True, prog=f"{PROGRAM} compare", exit_on_error=False,
                      formatter_class=PlainHelpFormatter),
        args, [*function_flags(compare), "--model.objective"],
    )


# The commands, in the order of a first run. Adding a command = adding an entry here.
COMMANDS: dict[str, Command] = {
    "demo": Command(
        "the whole job on 28 synthetic videos, offline, in about a minute on a CPU",
        f"{PROGRAM} demo",
        run_demo,
    ),
    "index": Command(
        "build the clip index (index_clips.csv) from a video folder",
        f"{PROGRAM} index --root /data/UCF_Crime --out processed/index_clips.csv",
        run_index,
    ),
    "predict": Command(
        "extract clip embeddings with a frozen video encoder (resumable, multi-GPU)",
        f"{PROGRAM} predict --config configs/swin3d.yaml",
        run_predict,
    ),
    "inspect": Command(
        "check a finished run: shapes, statistics, labels, statuses, missing rows, NaN/Inf",
        f"{PROGRAM} inspect processed/manifest_swin3d_t.json",
        run_inspect,
    ),
    "probe": Command(
        "train a linear probe on the embeddings, then test its best checkpoint",
        f"{PROGRAM} probe --config configs/probe.yaml --data.manifest processed/manifest_swin3d_t.json",
        lambda args: run_probe("probe", args),
    ),
    "fit": Command(
        "only train the linear probe (LightningCLI fit)",
        f"{PROGRAM} fit --config configs/probe.yaml --data.manifest processed/manifest_swin3d_t.json",
        lambda args: run_probe("fit", args),
    ),
    "test": Command(
        "only test a probe checkpoint (LightningCLI test)",
        f"{PROGRAM} test --config configs/probe.yaml --data.manifest processed/manifest_swin3d_t.json "
        "--ckpt_path best.ckpt",
        lambda args: run_probe("test", args),
    ),
    "compare": Command(
        "one linear probe per encoder of an output folder, one table and one ROC figure",
        f"{PROGRAM} compare processed/ --annotations Temporal_Anomaly_Annotation_for_Testing_Videos.txt "
        "--out runs/compare",
        run_compare,
    ),
    "export": Command(
        "per-video features, lists and gt-ucf.npy for RTFM / MGFN / UR-DMU (weakly-supervised VAD)",
        f"{PROGRAM} export --manifest processed/manifest_swin3d_t.json --format rtfm --out features/",
        run_export,
    ),
}
