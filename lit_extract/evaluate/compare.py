"""Compare encoders: one probe per encoder of an output folder, one table.

    python -m lit_extract compare processed/ --out runs/compare \\
        --annotations /data/UCF_Crime/Temporal_Anomaly_Annotation_for_Testing_Videos.txt
    python -m lit_extract compare processed/ --out runs/compare_mil --model.objective mil \\
        --annotations /data/XD-Violence/annotations.txt

Every ``manifest_<encoder>.json`` in the folder is probed by the ``probe`` command's own code
(:class:`lit_extract.evaluate.probe.LinearProbe` on :class:`lit_extract.evaluate.probe.EmbeddingDataModule`, the
same ``--probe_config`` YAML, default ``configs/probe.yaml``: the same seed, epochs and early
stopping; ``--model.objective`` chooses clip labels or multiple-instance learning from video
labels for all of them) on the same splits: the manifests must come from the same index. One row
per encoder. With ``--annotations``, the dataset's official metric comes first and orders the
rows (:data:`lit_extract.evaluate.metrics.OFFICIAL_METRIC`: ``frame_auroc`` for UCF-Crime and
ShanghaiTech, ``frame_ap`` for XD-Violence), best first; without, ``clip_auroc`` does:

================  ===============================================================
column            meaning
================  ===============================================================
encoder, dim      the encoder and its embedding width D
clip_auroc, ap    test clip-level AUROC and average precision (``test_auroc``, ``test_ap``)
video_auroc       test video-level AUROC (a video scores the max of its clips)
frame_auroc       test frame-level AUROC (only with ``--annotations``)
frame_ap          test frame-level AP as XD-Violence's authors compute it (only with ``--annotations``)
frame_ap_sklearn  test frame-level step-wise AP, scikit-learn's (only with ``--annotations``)
probe_s           wall seconds of the probe (fit + test)
================  ===============================================================

Outputs in ``--out``: ``compare.csv``, ``compare.md``, ``roc_test.png`` (the test ROC curves of
all encoders overlaid: clip level, and frame level beside it with ``--annotations``), with
``--annotations`` ``pr_test.png`` (their frame-level precision-recall curves) and each
encoder's probe run (``<stem>/lightning_logs/version_N``: metrics.json, scores_test.npy,
roc_test.png, checkpoint, and ``probe.log``, what the probe printed: the command itself prints
only the table and the paths; ``<stem>``: the encoder's :func:`~lit_extract.store.file_stem.file_stem`,
its name where that is safe in file names).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lit_extract.atomic import atomic_path, save_figure_atomic, write_text_atomic
from lit_extract.evaluate.captured_output import captured_output
from lit_extract.errors import LitExtractError
from lit_extract.store.file_stem import file_stem
from lit_extract.indexing.index import split_rows
from lit_extract.store.manifest import load_run_index, open_split, read_manifest
from lit_extract.evaluate.metrics import OFFICIAL_METRIC, frame_level
from lit_extract.evaluate.probe import probe_name
from lit_extract.indexing.frame_truth import read_frame_truth
from lit_extract.store.writable_folder import check_writable_folder
from lit_extract.evaluate.pr_plot import pr_figure
from lit_extract.evaluate.roc_plot import Curve, roc_figure

# probe CLI arguments -> the probe's run folder (``lit_extract.commands.cli.run_probe("probe", args)``)
ProbeRunner = Callable[[list[str]], str]

METRIC_COLUMNS = {"clip_auroc": "test_auroc", "ap": "test_ap", "video_auroc": "test_video_auroc",
                  "frame_auroc": "test_frame_auroc", "frame_ap": "test_frame_ap",
                  "frame_ap_sklearn": "test_frame_ap_sklearn"}
FRAME_COLUMNS = ("frame_auroc", "frame_ap", "frame_ap_sklearn")


@dataclass(frozen=True)
class EncoderResult:
    """One encoder's probe: its test metrics (``metrics.json``), test scores and labels, time, and
    with annotations the frame-level ``(scores, labels)`` of the test videos."""

    encoder: str
    dim: int
    metrics: dict[str, float]
    scores: np.ndarray  # (test rows,) float: positive-class probabilities
    labels: np.ndarray  # (test rows,) int: 0/1
    seconds: float
    run_dir: Path
    frames: tuple[np.ndarray, np.ndarray] | None = None


def find_manifests(folder: str | Path) -> list[Path]:
    """The ``manifest_*.json`` of ``folder``, sorted; all from the same index (else the comparison is unfair)."""
    folder = Path(folder)
    manifests = sorted(folder.glob("manifest_*.json"))
    if not manifests:
        raise LitExtractError(f"{folder}: no manifest_<encoder>.json; run `python -m lit_extract predict` into it first")
    indexes = {path: read_manifest(path).get("index", {}).get("sha256") for path in manifests}
    if len(set(indexes.values())) > 1:
        first, *others = manifests
        other = next(path for path in others if indexes[path] != indexes[first])
        raise LitExtractError(
            f"{first.name} and {other.name} come from different indexes (sha256 differs); "
            "compare encoders extracted from the same index_clips.csv"
        )
    return manifests


def probe_encoder(manifest: Path, out: Path, probe: ProbeRunner, config: str, annotations: str | None,
                  objective: str = "clip") -> EncoderResult:
    """Run ``probe`` on ``manifest`` into ``out/<encoder stem>`` and read back what it wrote.

    What the probe prints (progress, Lightning's messages, its results table) goes to
    ``probe.log`` in its run folder, not to the terminal.
    """
    described = read_manifest(manifest)
    encoder = described["encoder"]
    args = ["--config", str(config), "--data.manifest", str(manifest), "--trainer.default_root_dir", str(out / file_stem(encoder))]
    if annotations is not None:
        args += ["--data.annotations", str(annotations)]
    args += ["--model.objective", objective]  # over the config's: the table's rows share one objective
    (out / file_stem(encoder)).mkdir(parents=True, exist_ok=True)
    log = out / file_stem(encoder) / "probe.log"
    started = time.perf_counter()
    with captured_output(log):
        run_dir = Path(probe(args))
    seconds = time.perf_counter() - started
    log.replace(run_dir / log.name)
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    scores = np.load(run_dir / "scores_test.npy")
    if scores.ndim != 1:
        raise LitExtractError(f"{config}: compare needs the binary target y (--data.target y); got class scores")
    labels = np.asarray(open_split(manifest, "test", described).labels, dtype=np.int64)
    frames = None
    if annotations is not None:
        rows = split_rows(load_run_index(manifest, described), "test")
        frames = frame_level(scores, rows, read_frame_truth(annotations))
    return EncoderResult(
        encoder=encoder, dim=int(described["embedding_dim"]),
        metrics={name: math.nan if value is None else float(value) for name, value in metrics.items()},
        scores=scores, labels=labels, seconds=seconds, run_dir=run_dir, frames=frames,
    )


def results_frame(results: Sequence[EncoderResult], frame_level: bool, official: str | None = None) -> pd.DataFrame:
    """One row per encoder (columns: see the module docstring), the ``official`` metric column
    first (default ``clip_auroc``), rows by it, best first, NaN last."""
    columns = {name: key for name, key in METRIC_COLUMNS.items() if frame_level or name not in FRAME_COLUMNS}
    first = official or "clip_auroc"
    columns = {first: columns[first], **columns}
    rows = [
        {"encoder": r.encoder, "dim": r.dim, **{name: r.metrics.get(key, math.nan) for name, key in columns.items()},
         "probe_s": r.seconds}
        for r in results
    ]
    table = pd.DataFrame(rows, columns=["encoder", "dim", *columns, "probe_s"])
    return table.sort_values(first, ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text: metrics with 4 decimals, seconds with 1."""
    return table.to_string(index=False, formatters=_formatters(table), na_rep="-")


def markdown_table(table: pd.DataFrame) -> str:
    """The table as a GitHub Markdown table (same number formats as :func:`format_table`)."""
    formatters = _formatters(table)
    cells = [[formatters.get(col, str)(value) for col, value in row.items()] for _, row in table.iterrows()]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def _formatters(table: pd.DataFrame) -> dict[str, Callable[[float], str]]:
    def metric(value: float) -> str:
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"

    formatters = {col: metric for col in table.columns if col in METRIC_COLUMNS}
    formatters["probe_s"] = lambda value: f"{value:.1f}"
    return formatters


def roc_curves_figure(results: Sequence[EncoderResult], objective: str = "clip"):  # -> matplotlib.figure.Figure
    """The test ROC curves of all encoders overlaid: a clip-level panel, and a frame-level one
    beside it when the results carry frame-level scores; titled with the encoders and the split."""
    def auroc(result: EncoderResult, key: str) -> float:
        return result.metrics.get(key, math.nan)

    panels = {"clip level": [Curve(f"{r.encoder} (AUROC {auroc(r, 'test_auroc'):.3f})", r.scores, r.labels)
                             for r in results]}
    if any(r.frames is not None for r in results):
        panels["frame level"] = [Curve(f"{r.encoder} (AUROC {auroc(r, 'test_frame_auroc'):.3f})", *r.frames)
                                 for r in results if r.frames is not None]
    names = ", ".join(r.encoder for r in results)
    return roc_figure(f"ROC on the test split, one {probe_name(objective)} per encoder ({names})", panels)


def plot_roc_curves(path: Path, results: Sequence[EncoderResult], objective: str = "clip") -> None:
    """Save :func:`roc_curves_figure` as a PNG."""
    save_figure_atomic(roc_curves_figure(results, objective), path, dpi=120)


def pr_curves_figure(results: Sequence[EncoderResult], objective: str = "clip"):  # -> matplotlib.figure.Figure
    """The frame-level precision-recall curves of all encoders that carry frame-level scores, overlaid,
    each labelled with its frame AP (the XD-Violence authors' computation)."""
    curves = [Curve(f"{r.encoder} (AP {r.metrics.get('test_frame_ap', math.nan):.3f})", *r.frames)
              for r in results if r.frames is not None]
    names = ", ".join(r.encoder for r in results)
    return pr_figure(f"Precision-recall on the test split, one {probe_name(objective)} per encoder ({names})", curves)


def compare_encoders(
    folder: str | Path,
    out: str | Path,
    probe: ProbeRunner,
    config: str,
    annotations: str | None = None,
    objective: str = "clip",
) -> tuple[pd.DataFrame, list[Path]]:
    """Probe every encoder of ``folder`` with the same ``config`` and ``objective`` (``--model.objective``:
    ``clip`` or ``mil``); write and return the table.

    Returns the table (see :func:`results_frame`) and the paths written in ``out``:
    ``compare.csv``, ``compare.md``, ``roc_test.png`` and with ``annotations`` ``pr_test.png``.
    """
    manifests = find_manifests(folder)
    if annotations is not None and not Path(annotations).exists():
        raise LitExtractError(f"{annotations}: annotation file not found (--annotations)")
    official = None if annotations is None else OFFICIAL_METRIC[read_frame_truth(annotations).dataset]
    out = Path(out)
    check_writable_folder(out, "--out")  # before the probes, not after them
    out.mkdir(parents=True, exist_ok=True)
    results = [probe_encoder(manifest, out, probe, config, annotations, objective) for manifest in manifests]
    table = results_frame(results, frame_level=annotations is not None, official=official)
    paths = [out / "compare.csv", out / "compare.md", out / "roc_test.png"]
    if annotations is not None:
        paths.append(out / "pr_test.png")
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp, index=False)
    write_text_atomic(paths[1], markdown_table(table))
    plot_roc_curves(paths[2], results, objective)
    if annotations is not None:
        save_figure_atomic(pr_curves_figure(results, objective), paths[3], dpi=120)
    return table, paths
