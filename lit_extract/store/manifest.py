"""The manifest: what produced an output folder, and whether it is complete.

``{output_dir}/manifest_{encoder}.json`` is written last, atomically (temp file + rename), by
rank 0 once every row of every split is done; an output folder without it is incomplete. Paths
under ``splits.<split>.files`` are relative to the manifest's folder. Layout::

    {"complete": true, "created_at": "...", "encoder": "swin3d_t", "weights": "DEFAULT",
     "frames": 8, "img_size": 224, "crops": 1, "resize_short": null, "batch_size": 16, "mean": [...], "std": [...],
     "resize": null, "crop_order": null,
     "embedding_dim": 768, "dtype": "float16",
     "index": {"path": "/abs/index_clips.csv", "sha256": "..."},
     "splits": {"train": {"rows": 106527,
                          "files": {"embeddings": "emb_swin3d_t_train.npy", "labels": "y_train.npy",
                                    "status": "status_train.npy", "done": "done_swin3d_t_train.npy"},
                          "label_counts": {"0": 54009, "1": 52518},
                          "embedding_stats": {"min": ..., "max": ..., "mean": ..., "std": ...},
                          "status_counts": {"ok": ..., "repeated_frames": ..., "unreadable": ...},
                          "affected_videos": {"/path/a.mp4": 2, ...},
                          "lost_frames": {"/path/b.mp4": [[147, 147], [160, 191]], ...}}},
     "versions": {"lit_extract": ..., "torch": ..., ...}, "world_size": 1,
     "wall_time_s": ..., "rows_computed": ..., "clips_per_s": ...}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lit_extract.atomic import save_figure_atomic, write_json_atomic  # noqa: F401  (callers import write_json_atomic from here)
from lit_extract.errors import LitExtractError
from lit_extract.store.figure_titles import fit_titles
from lit_extract.store.file_stem import file_stem
from lit_extract.indexing.index import file_sha256, load_index

STATUS_NAMES = {0: "ok", 1: "repeated_frames", 2: "unreadable"}


def manifest_path(output_dir: str | Path, encoder: str) -> Path:
    """Where the manifest of ``encoder``'s run in ``output_dir`` lives (``encoder``: its full name)."""
    return Path(output_dir) / f"manifest_{file_stem(encoder)}.json"


def split_file_names(encoder: str, split: str) -> dict[str, str]:
    """File names (inside the output folder) of one split's outputs of an encoder new to the folder
    whose labels and statuses are shared; :mod:`lit_extract.store.layout` says when others apply
    (``encoder``: its full name; files carry its :func:`~lit_extract.store.file_stem.file_stem`)."""
    stem = file_stem(encoder)
    return {
        "embeddings": f"emb_{stem}_{split}.npy",
        "labels": f"y_{split}.npy",
        "status": f"status_{split}.npy",
        "done": f"done_{stem}_{split}.npy",
    }


def read_manifest(path: str | Path, *, require_complete: bool = True) -> dict[str, Any]:
    """Load a manifest; raise :class:`LitExtractError` if it is missing, unreadable or incomplete."""
    path = Path(path)
    if not path.is_file():
        raise LitExtractError(
            f"{path}: manifest not found; run `python -m lit_extract predict` to completion first"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LitExtractError(f"{path}: not a readable manifest ({exc})") from exc
    if require_complete and not manifest.get("complete", False):
        raise LitExtractError(f"{path}: the run is incomplete; rerun the same predict command to finish it")
    return manifest


def load_run_index(path: str | Path, manifest: dict[str, Any]) -> pd.DataFrame:
    """The index CSV named by the manifest at ``path`` (videos need not exist), checked unchanged by sha256.

    Raises :class:`LitExtractError` when it is missing or its content differs from the extraction's.
    """
    entry = manifest.get("index", {})
    index_path = Path(entry.get("path", ""))
    if not index_path.is_file():
        raise LitExtractError(f"{path}: its index {index_path} is missing; restore it next to the run")
    if entry.get("sha256") and file_sha256(index_path) != entry["sha256"]:
        raise LitExtractError(
            f"{index_path}: changed since the extraction in {path} (sha256 differs); "
            "its rows would not line up with the embeddings"
        )
    return load_index(index_path, check_files=False)


@dataclass(frozen=True)
class SplitArrays:
    """One split's outputs, memory-mapped read-only.

    ``embeddings``: (rows, D) float16, or (rows, crops, D) when the run has ``crops`` 5 or 10; ``labels``: (rows,) int8; ``status``: (rows,) uint8
    (see ``STATUS_NAMES``); ``done``: (rows,) uint8, 1 where the row is final.
    """

    embeddings: np.ndarray
    labels: np.ndarray
    status: np.ndarray
    done: np.ndarray


def open_split(path: str | Path, split: str, manifest: dict[str, Any] | None = None) -> SplitArrays:
    """Memory-map ``split``'s files listed by the manifest at ``path`` (nothing is copied)."""
    path = Path(path)
    manifest = read_manifest(path) if manifest is None else manifest
    if split not in manifest["splits"]:
        raise LitExtractError(f"{path}: no split '{split}'; it has {', '.join(manifest['splits'])}")
    files = manifest["splits"][split]["files"]
    arrays = {}
    for key in ("embeddings", "labels", "status", "done"):
        file = path.parent / files[key]
        if not file.is_file():
            raise LitExtractError(f"{file}: listed in {path.name} but missing; rerun predict into that folder")
        arrays[key] = np.load(file, mmap_mode="r")
    return SplitArrays(**arrays)


def embedding_stats(embeddings: np.ndarray, chunk_rows: int = 65536) -> dict[str, float]:
    """min/max/mean/std of all values, accumulated in float64 chunk by chunk (finite for float16 data).

    Memory stays at ``chunk_rows x D`` float64 whatever the number of rows. Non-finite values are
    counted under ``nonfinite`` and left out of the other statistics.
    """
    count, total, total_sq, nonfinite = 0, 0.0, 0.0, 0
    low, high = np.inf, -np.inf
    for start in range(0, embeddings.shape[0], chunk_rows):
        chunk = np.asarray(embeddings[start : start + chunk_rows], dtype=np.float64)
        finite = np.isfinite(chunk)
        nonfinite += int(chunk.size - finite.sum())
        values = chunk[finite]
        if values.size == 0:
            continue
        count += values.size
        total += float(values.sum())
        total_sq += float(np.square(values).sum())
        low, high = min(low, float(values.min())), max(high, float(values.max()))
    if count == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "nonfinite": nonfinite}
    mean = total / count
    variance = max(total_sq / count - mean * mean, 0.0)
    return {"min": low, "max": high, "mean": mean, "std": variance ** 0.5, "nonfinite": nonfinite}


# ---------------------------------------------------------------------------------------------
# Checking an output folder: ``python -m lit_extract inspect manifest_<encoder>.json [--plot x.png]``.
#
# Every array is read through memory maps, chunk by chunk, so inspecting a 100k x 768 split needs
# a few MB. A "problem" is anything that makes the embeddings unusable as they stand: a row not
# done, a done row that is all zeros (never written), a non-finite value, or files that disagree
# with the manifest. Statuses (repeated_frames, unreadable) are reported, not problems.
# ---------------------------------------------------------------------------------------------
from dataclasses import field  # noqa: E402

from lit_extract.errors import first_few  # noqa: E402


@dataclass(frozen=True)
class SplitReport:
    """What :func:`inspect_manifest` found in one split.

    ``shape``/``dtype`` are the embeddings file's; ``stats`` is :func:`embedding_stats` over all
    rows (float64); ``label_counts`` maps y -> rows, ``status_counts`` status name -> rows;
    ``not_done``, ``zero_rows`` (done rows that are all zeros) and ``nonfinite_rows`` are sorted
    row ids; ``problems`` are one-line messages (empty when the split is usable).
    """

    split: str
    rows: int
    shape: tuple[int, ...]
    dtype: str
    stats: dict[str, float | None]
    label_counts: dict[int, int]
    status_counts: dict[str, int]
    not_done: np.ndarray
    zero_rows: np.ndarray
    nonfinite_rows: np.ndarray
    problems: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class InspectReport:
    """The manifest at ``path``, one :class:`SplitReport` per split, and run-level ``problems``."""

    path: Path
    manifest: dict[str, Any]
    splits: tuple[SplitReport, ...]
    run_problems: tuple[str, ...] = field(default=())

    @property
    def problems(self) -> list[str]:
        """Every problem, run-level first; empty when the output folder is complete and finite."""
        return [*self.run_problems, *(p for split in self.splits for p in split.problems)]

    @property
    def ok(self) -> bool:
        """True when nothing is missing or non-finite and the files agree with the manifest."""
        return not self.problems


def scan_rows(embeddings: np.ndarray, chunk_rows: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Row ids (sorted, int64) of all-zero rows and of rows holding a NaN/Inf, read chunk by chunk.

    A row is (D,) or, with ten crops, (crops, D): all of its values count.
    """
    zero, nonfinite = [], []
    for start in range(0, embeddings.shape[0], chunk_rows):
        chunk = np.asarray(embeddings[start : start + chunk_rows])
        row_axes = tuple(range(1, chunk.ndim))
        zero.append(start + np.flatnonzero((chunk == 0).all(axis=row_axes)))
        nonfinite.append(start + np.flatnonzero(~np.isfinite(chunk).all(axis=row_axes)))
    empty = np.zeros(0, dtype=np.int64)
    return (np.concatenate(zero).astype(np.int64) if zero else empty,
            np.concatenate(nonfinite).astype(np.int64) if nonfinite else empty)


def status_counts(status: np.ndarray, names: dict[int, str] = STATUS_NAMES) -> dict[str, int]:
    """Rows per status name (``names``, default ``STATUS_NAMES``; unknown codes as ``code_<n>``),
    every known name present."""
    counts = np.bincount(np.asarray(status, dtype=np.int64), minlength=len(names))
    return {names.get(code, f"code_{code}"): int(n) for code, n in enumerate(counts)}


def status_names(manifest: dict[str, Any]) -> dict[int, str]:
    """The names of a run's status codes: an audio encoder's are audio statuses (:mod:`lit_extract.decode.sound`)."""
    if manifest.get("kind") != "audio":
        return STATUS_NAMES
    from lit_extract.decode.sound import AUDIO_STATUS_NAMES  # here: inspect --help stays light (no torch)

    return AUDIO_STATUS_NAMES


def inspect_split(path: Path, manifest: dict[str, Any], split: str, chunk_rows: int = 65536) -> SplitReport:
    """Check one split's files against the manifest at ``path`` and scan its rows (see :class:`SplitReport`)."""
    entry = manifest["splits"][split]
    arrays = open_split(path, split, manifest)
    emb = arrays.embeddings
    rows = int(entry.get("rows", emb.shape[0]))
    problems = []
    dim, crops = manifest.get("embedding_dim"), manifest.get("crops", 1)
    lengths = {name: len(getattr(arrays, name)) for name in ("embeddings", "labels", "status", "done")}
    row_ok = emb.ndim == 2 if crops == 1 else emb.ndim == 3 and emb.shape[1] == crops
    if not row_ok or any(n != rows for n in lengths.values()) or (dim is not None and emb.shape[-1] != dim):
        problems.append(
            f"{split}: files disagree with the manifest (rows {rows}, crops {crops}, embedding_dim {dim}; embeddings "
            f"{emb.shape}, labels/status/done lengths {lengths['labels']}/{lengths['status']}/{lengths['done']}); "
            "the folder was changed after the run: rerun predict into a fresh folder"
        )
    labels, counts = np.unique(np.asarray(arrays.labels), return_counts=True)
    label_counts = {int(y): int(n) for y, n in zip(labels, counts)}
    expected_labels = {int(y): int(n) for y, n in entry.get("label_counts", {}).items()}
    if expected_labels and expected_labels != label_counts:
        problems.append(f"{split}: label counts {label_counts} differ from the manifest's {expected_labels}")
    done = np.asarray(arrays.done)
    zero, nonfinite = scan_rows(emb, chunk_rows) if emb.ndim in (2, 3) else (np.zeros(0, np.int64),) * 2
    not_done = np.flatnonzero(done == 0).astype(np.int64)
    zero_done = zero[done[zero] != 0] if len(done) == emb.shape[0] else zero
    if not_done.size:
        problems.append(
            f"{split}: {not_done.size} row(s) not done (done==0), e.g. rows {first_few(not_done.tolist())}; "
            "rerun the same predict command to finish them"
        )
    if zero_done.size:
        problems.append(
            f"{split}: {zero_done.size} row(s) marked done but all zeros (never written), e.g. rows "
            f"{first_few(zero_done.tolist())}; rerun predict into a fresh folder"
        )
    if nonfinite.size:
        problems.append(
            f"{split}: {nonfinite.size} row(s) with NaN/Inf values, e.g. rows {first_few(nonfinite.tolist())}; "
            "the encoder overflowed the output dtype or read corrupt input: recompute those clips"
        )
    return SplitReport(
        split=split, rows=rows, shape=tuple(emb.shape), dtype=str(emb.dtype),
        stats=embedding_stats(emb, chunk_rows), label_counts=label_counts,
        status_counts=status_counts(arrays.status, status_names(manifest)), not_done=not_done, zero_rows=zero_done,
        nonfinite_rows=nonfinite, problems=tuple(problems),
    )


def inspect_manifest(path: str | Path, chunk_rows: int = 65536) -> InspectReport:
    """Inspect the output folder described by the manifest at ``path``, split by split.

    An incomplete manifest is inspected too (and reported as a problem). Raises
    :class:`LitExtractError` only when the manifest or a listed file cannot be read.
    """
    path = Path(path)
    manifest = read_manifest(path, require_complete=False)
    run_problems = ()
    if not manifest.get("complete", False):
        run_problems = (f"{path.name}: the run is marked incomplete; rerun the same predict command to finish it",)
    splits = tuple(inspect_split(path, manifest, split, chunk_rows) for split in manifest.get("splits", {}))
    return InspectReport(path=path, manifest=manifest, splits=splits, run_problems=run_problems)


def format_report(report: InspectReport) -> str:
    """A readable multi-line summary of ``report``: run header, one table row per split, problems."""
    import pandas as pd  # only the formatter needs it

    m = report.manifest
    inputs = (f"sound {m.get('sample_rate')} Hz, windows of {m.get('window_samples')} samples, anchor {m.get('anchor')}, "
              f"postprocess {m.get('postprocess')}" if m.get("kind") == "audio"
              else f"frames {m.get('frames')}, img_size {m.get('img_size')}, crops {m.get('crops', 1)}")
    header = (
        f"{report.path}\n"
        f"encoder {m.get('encoder')} (weights {m.get('weights')}), {inputs}, embedding_dim {m.get('embedding_dim')}, "
        f"dtype {m.get('dtype')}, complete {m.get('complete', False)}"
    )

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}"

    table = pd.DataFrame(
        [
            {
                "split": s.split, "rows": s.rows, "shape": "x".join(map(str, s.shape)), "dtype": s.dtype,
                **{k: number(s.stats[k]) for k in ("min", "max", "mean", "std")},
                "labels": " ".join(f"{y}:{n}" for y, n in s.label_counts.items()),
                **s.status_counts,
                "not_done": s.not_done.size, "zero_rows": s.zero_rows.size, "nonfinite_rows": s.nonfinite_rows.size,
            }
            for s in report.splits
        ]
    )
    body = table.to_string(index=False) if not table.empty else "(no splits)"
    lost = lost_frame_lines(m)
    if lost:
        body += "\n\nframes lost in damaged videos (could not be decoded; a clip that needs one repeats the frame before it, status 1):\n"
        body += "\n".join(lost)
    verdict = (
        f"OK: every row done, written and finite; {status_line(report)}"
        if report.ok else "PROBLEMS:\n" + "\n".join(f"  - {p}" for p in report.problems)
    )
    return f"{header}\n\n{body}\n\n{verdict}"


def status_line(report: InspectReport) -> str:
    """How many rows, over all splits, hold frames repeated for lost ones (status 1) and zeros for an
    unreadable video (status 2): ``status 1 (frames lost, repeated): 3 rows, status 2 (...): 0 rows``."""
    repeated = sum(split.status_counts.get(STATUS_NAMES[1], 0) for split in report.splits)
    unreadable = sum(split.status_counts.get(STATUS_NAMES[2], 0) for split in report.splits)
    line = (f"status 1 (frames lost, repeated): {repeated} row{'s' * (repeated != 1)}, "
            f"status 2 (unreadable video, clip of zeros): {unreadable} row{'s' * (unreadable != 1)}")
    return line + (" (docs/outputs.md#status)" if repeated or unreadable else "")


def lost_frame_lines(manifest: dict[str, Any], per_video: int = 20) -> list[str]:
    """One line per damaged video, ``  train /v/a.mp4: frames 147, 160-191``, from the manifest's
    ``splits.<split>.lost_frames`` (inclusive ranges; at most ``per_video`` ranges shown per video)."""
    lines = []
    for split, entry in manifest.get("splits", {}).items():
        for video, ranges in (entry.get("lost_frames") or {}).items():
            shown = [str(a) if a == b else f"{a}-{b}" for a, b in ranges]
            lines.append(f"  {split} {video}: frames {first_few(shown, per_video)}")
    return lines


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project rows of ``x`` (n, d) on their first two principal components (SVD of centred float64).

    Returns ``(coords (n, 2), explained (2,))``, ``explained`` being each component's share of the
    total variance; when ``d`` or ``n - 1`` is below 2 the missing component is zeros. Signs are
    those of the SVD (a component may come out flipped).
    """
    centred = np.asarray(x, dtype=np.float64) - np.asarray(x, dtype=np.float64).mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(2, vt.shape[0])
    coords = np.zeros((centred.shape[0], 2))
    coords[:, :k] = centred @ vt[:k].T
    total = float(np.square(singular).sum())
    explained = np.zeros(2)
    if total > 0:
        explained[:k] = np.square(singular[:k]) / total
    return coords, explained


def sample_embeddings(
    path: str | Path, *, sample: int = 5000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded sample of up to ``sample`` done, finite embedding rows over all splits, with their labels.

    Rows are drawn uniformly without replacement from the done rows of every split by
    ``numpy.random.default_rng(seed)``; drawn rows holding NaN/Inf are dropped; a ten-crop row is
    the mean of its crops. Returns ``(embeddings (k, D) float64, labels (k,) int64)``.
    """
    path = Path(path)
    manifest = read_manifest(path, require_complete=False)
    opened = [open_split(path, split, manifest) for split in manifest["splits"]]
    candidates = [np.flatnonzero(np.asarray(arrays.done) != 0) for arrays in opened]
    offsets = np.cumsum([0] + [c.size for c in candidates])
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(offsets[-1], size=min(sample, int(offsets[-1])), replace=False))
    xs, ys = [], []
    for i, arrays in enumerate(opened):
        rows = candidates[i][picked[(picked >= offsets[i]) & (picked < offsets[i + 1])] - offsets[i]]
        x = np.asarray(arrays.embeddings[rows], dtype=np.float64)
        xs.append(x.mean(axis=1) if x.ndim == 3 else x)  # k crops D -> k D
        ys.append(np.asarray(arrays.labels[rows], dtype=np.int64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    finite = np.isfinite(x).all(axis=1)
    return x[finite], y[finite]


def plot_embeddings(path: str | Path, out_png: str | Path, *, sample: int = 5000, seed: int = 0) -> Path:
    """Save a 2-D PCA scatter of a seeded sample of the embeddings, coloured by class, to ``out_png``.

    Uses :func:`sample_embeddings` and :func:`pca_2d`; draws with a bare matplotlib ``Figure``
    (Agg canvas), so the caller's pyplot backend is left alone. Raises :class:`LitExtractError`
    when fewer than 2 usable rows exist or ``out_png`` cannot be written.
    """
    from matplotlib.figure import Figure

    path, out_png = Path(path), Path(out_png)
    x, y = sample_embeddings(path, sample=sample, seed=seed)
    if x.shape[0] < 2:
        raise LitExtractError(f"{path}: fewer than 2 done, finite embedding rows; nothing to plot")
    coords, explained = pca_2d(x)
    figure = Figure(figsize=(6, 5), layout="constrained")
    axes = figure.add_subplot()
    for label in np.unique(y):
        mask = y == label
        axes.scatter(coords[mask, 0], coords[mask, 1], s=6, alpha=0.6, label=f"y={label} (n={int(mask.sum())})")
    described = read_manifest(path, require_complete=False)
    splits = ", ".join(described.get("splits", {}))
    axes.set_title(f"{described.get('encoder', '?')}: PCA of {x.shape[0]} embeddings of the {splits} splits (seed {seed})")
    axes.set_xlabel(f"PC1 ({explained[0]:.1%} of variance)")
    axes.set_ylabel(f"PC2 ({explained[1]:.1%} of variance)")
    axes.legend(markerscale=3)
    fit_titles(figure)  # the title names the encoder and the splits: wrapped, not cut off at the edges
    try:
        out_png.parent.mkdir(parents=True, exist_ok=True)
        save_figure_atomic(figure, out_png, dpi=120)
    except OSError as exc:
        raise LitExtractError(f"{out_png}: cannot write the plot ({exc.strerror}); choose another --plot path") from exc
    return out_png
