"""Per-video feature files for weakly-supervised video anomaly detection (RTFM, MGFN, UR-DMU, Sultani).

``python -m lit_extract export --manifest processed/manifest_{encoder}.json --format rtfm --out features/
[--annotations Temporal_Anomaly_Annotation_for_Testing_Videos.txt]`` turns a finished extraction
into what those projects' loaders read (github.com/tianyu0207/RTFM ``dataset.py``,
``test_10crop.py``, ``list/ucf-i3d.list``, ``list/make_gt_ucf.py``; carolchenyx/MGFN
``datasets/dataset.py``; WaqasSultani/AnomalyDetectionCVPR2018 ``Save_C3DFeatures_32Segments.m``):

- ``{video stem}_{encoder}.npy`` per video (their ``Abuse001_x264_i3d.npy``), ``np.load``-able,
  float32. ``rtfm``: ``(snippets, crops, D)``, the video's rows in index order (crops = 10 for a
  ``--data.crops 10`` run, else 1); the loaders transpose it to ``(crops, snippets, D)``.
  ``segments32``: ``(32, D)``, the crop-averaged snippets pooled into 32 segments and
  L2-normalized exactly as ``Save_C3DFeatures_32Segments.m`` does (:func:`sultani_segments`).
- ``train.list`` / ``test.list``: one absolute path per line; anomalous videos (y = 1) first, then
  normal ones, each group sorted by file name (the order of RTFM's lists, whose loaders take the
  first 810 lines of the UCF-Crime train list as anomalous and the rest as normal). **val videos go
  back into train.list** (UCF-Crime's 1,610 train videos = lit_extract's train + val).
- ``gt-ucf.npy`` (with ``--annotations``): float64 0/1 frame labels of the test videos
  concatenated in ``test.list`` order, ``snippets x snippet length`` frames per video (the frames
  the snippets cover; the loaders repeat each snippet score 16 times), from the annotation file's
  1-based inclusive ranges (:func:`lit_extract.metrics.frame_labels`).

Those methods assume back-to-back snippets: each video's clips must start at frame 0, be
``clip_len`` frames long, follow each other without gap or overlap (stride = clip length) and
cover every full snippet of the video (``python -m lit_extract index --clip-len 16 --stride 16``
makes such an index). Anything else, rows not done, or a test video without an annotation line is
refused before anything is written. Files are written atomically (temp file + rename, with the
umask's mode: :mod:`lit_extract.atomic`), the lists last: an export that stopped half-way has no lists.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from lit_extract.atomic import save_npy_atomic, write_text_atomic
from lit_extract.errors import LitExtractError, first_few
from lit_extract.index import split_rows
from lit_extract.manifest import load_run_index, open_split, read_manifest
from lit_extract.metrics import check_annotated, frame_labels, read_annotations

Format = Literal["rtfm", "segments32"]
SEGMENTS = 32
LOADER_SNIPPET_FRAMES = 16  # RTFM, MGFN and UR-DMU repeat each snippet score 16 times
TRAIN_LIST, TEST_LIST, GROUND_TRUTH = "train.list", "test.list", "gt-ucf.npy"
LIST_OF_SPLIT = {"train": TRAIN_LIST, "val": TRAIN_LIST, "test": TEST_LIST}


@dataclass(frozen=True)
class Video:
    """One exported video: its index ``path``, ``split``, label ``y`` (max of its clips') and the
    positions of its ``rows`` (snippets, in index order) in the split's files."""

    path: str
    split: str
    y: int
    rows: np.ndarray

    @property
    def stem(self) -> str:
        return Path(self.path).stem


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_features` wrote: ``lists`` (list name -> videos in line order),
    ``feature_shape`` of one video file with ``n`` snippets as a string, the ground truth file (or
    None), its length, the snippet length, and the annotation lines ignored (videos not in test)."""

    out: Path
    lists: dict[str, list[Video]]
    feature_shape: str
    ground_truth: Path | None
    ground_truth_frames: int
    snippet_frames: int
    ignored_annotations: int


def sultani_segments(snippets: np.ndarray, segments: int = SEGMENTS) -> np.ndarray:
    """(n, D) snippet features -> (segments, D) float32, as ``Save_C3DFeatures_32Segments.m``.

    Segment boundaries are MATLAB's ``round(linspace(1, n, 33))`` (1-based, rounded half away
    from zero); segment ``i`` is the mean of snippets ``b[i] .. b[i+1]-1`` (1-based), or snippet
    ``b[i]`` alone when that range is empty (fewer than 32 snippets). So the last snippet is used
    only when it is a segment on its own, as in the original. Each segment is divided by its L2
    norm (a zero segment stays zero).
    """
    n = len(snippets)
    bounds = np.floor(np.linspace(1, n, segments + 1) + 0.5).astype(np.int64) - 1  # 0-based
    pooled = np.empty((segments, snippets.shape[1]), dtype=np.float64)
    for i in range(segments):
        start, stop = bounds[i], bounds[i + 1]
        pooled[i] = snippets[start:stop].mean(axis=0) if stop > start else snippets[start]
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def snippet_videos(rows: pd.DataFrame, split: str, index_path: str) -> tuple[list[Video], int]:
    """``split``'s videos as back-to-back snippets, and the snippet length.

    Raises :class:`LitExtractError` naming the first video whose clips are not fixed-length,
    contiguous, non-overlapping snippets from frame 0 covering all of its full snippets.
    """
    fix = (f"export needs back-to-back fixed-length snippets: build the index with "
           f"`python -m lit_extract index --clip-len 16 --stride 16` and extract again")
    lengths = rows["end_frame"] - rows["start_frame"]
    snippet = int(lengths.iloc[0])
    videos = []
    for path, clips in rows.groupby("path", sort=False):
        where = f"{index_path}: {split} video {path}"
        starts, ends = clips["start_frame"].to_numpy(), clips["end_frame"].to_numpy()
        if (ends - starts != snippet).any():
            raise LitExtractError(f"{where} has clips of {first_few(sorted(set((ends - starts).tolist())))} "
                                  f"frames, others {snippet}; {fix}")
        if (starts[1:] < ends[:-1]).any():
            k = int(np.flatnonzero(starts[1:] < ends[:-1])[0])
            raise LitExtractError(f"{where} has overlapping clips ([{starts[k]}, {ends[k]}) and "
                                  f"[{starts[k + 1]}, {ends[k + 1]})); {fix}")
        expected = np.arange(len(starts)) * snippet
        full = int(clips["n_frames"].iloc[0]) // snippet
        if (starts != expected).any() or len(starts) != full:
            raise LitExtractError(
                f"{where} is incomplete: its {len(starts)} clip(s) are not the {full} back-to-back snippets "
                f"[0, {snippet}), [{snippet}, {2 * snippet}), ... of its {int(clips['n_frames'].iloc[0])} frames "
                f"(missing or reordered rows); {fix}"
            )
        videos.append(Video(str(path), split, int(clips["y"].max()), clips.index.to_numpy(np.int64)))
    return videos, snippet


def list_order(videos: Iterable[Video]) -> list[Video]:
    """Anomalous videos (y = 1) first, then normal ones; each group sorted by file name."""
    return sorted(videos, key=lambda video: (video.y == 0, video.stem))


def export_features(
    manifest: str | Path,
    format: Format = "rtfm",
    out: str | Path = "features",
    annotations: str | Path | None = None,
) -> ExportResult:
    """Write the per-video files, ``train.list``/``test.list`` and ``gt-ucf.npy`` (see the module doc).

    Everything is checked before the first file is written; raises :class:`LitExtractError`.
    """
    manifest_path, out = Path(manifest), Path(out).expanduser()
    if format not in ("rtfm", "segments32"):
        raise LitExtractError(f"--format {format}: choose rtfm or segments32")
    run = read_manifest(manifest_path)
    index = load_run_index(manifest_path, run)
    index_path = run["index"]["path"]
    encoder, crops, dim = run["encoder"], int(run.get("crops", 1)), int(run["embedding_dim"])
    splits = [split for split in ("train", "val", "test") if split in run["splits"]]
    videos: dict[str, list[Video]] = {}
    embeddings: dict[str, np.ndarray] = {}
    snippet_lengths = set()
    for split in splits:
        rows = split_rows(index, split)
        arrays = open_split(manifest_path, split, run)
        expected = (len(rows), dim) if crops == 1 else (len(rows), crops, dim)
        if arrays.embeddings.shape != expected:
            raise LitExtractError(f"{manifest_path}: {split} embeddings are {arrays.embeddings.shape}, the index and "
                                  f"manifest say {expected}; rerun predict into a fresh folder")
        not_done = np.flatnonzero(np.asarray(arrays.done) == 0)
        if not_done.size:
            raise LitExtractError(f"{manifest_path}: {split} has {not_done.size} row(s) not done (e.g. rows "
                                  f"{first_few(not_done.tolist())}); rerun the same predict command to finish them")
        videos[split], snippet = snippet_videos(rows, split, index_path)
        snippet_lengths.add(snippet)
        embeddings[split] = arrays.embeddings
    if len(snippet_lengths) > 1:
        raise LitExtractError(f"{index_path}: snippets of {sorted(snippet_lengths)} frames in different splits; "
                              "export needs one snippet length")
    snippet = snippet_lengths.pop()
    names = Counter(video.stem for split_videos in videos.values() for video in split_videos)
    twice = sorted(stem for stem, count in names.items() if count > 1)
    if twice:
        raise LitExtractError(f"{index_path}: video file names {first_few(twice, 3)} occur more than once; "
                              f"their {{stem}}_{encoder}.npy files would collide")

    ground_truth, ignored = None, 0
    if annotations is not None:
        if "test" not in videos:
            raise LitExtractError(f"{manifest_path}: no test split to label; drop --annotations or extract the test split")
        labelled = read_annotations(annotations)
        test_stems = [video.stem for video in videos["test"]]
        check_annotated(test_stems, labelled, annotations)
        ignored = len(set(labelled) - set(test_stems))
        ground_truth = np.concatenate([
            frame_labels(len(video.rows) * snippet, labelled[video.stem]) for video in list_order(videos["test"])
        ]).astype(np.float64)

    lists: dict[str, list[Video]] = {}
    for split in splits:
        lists.setdefault(LIST_OF_SPLIT[split], []).extend(videos[split])
    lists = {name: list_order(members) for name, members in lists.items()}
    make_folder(out)
    for name in (TRAIN_LIST, TEST_LIST, GROUND_TRUTH):  # stale lists must not point at a half-done export
        (out / name).unlink(missing_ok=True)
    for split in splits:
        for video in videos[split]:
            features = np.asarray(embeddings[split][video.rows], dtype=np.float32)  # snippets D | snippets crops D
            features = features.reshape(len(video.rows), crops, dim)  # snippets crops D
            if format == "segments32":
                features = sultani_segments(features.mean(axis=1))  # 32 D
            save_npy_atomic(out / feature_name(video, encoder), features)
    if ground_truth is not None:
        save_npy_atomic(out / GROUND_TRUTH, ground_truth)
    for name, members in lists.items():
        write_text_atomic(out / name, "".join(f"{(out / feature_name(v, encoder)).resolve()}\n" for v in members))
    shape = f"(snippets, {crops}, {dim})" if format == "rtfm" else f"({SEGMENTS}, {dim})"
    return ExportResult(
        out=out, lists=lists, feature_shape=shape,
        ground_truth=out / GROUND_TRUTH if ground_truth is not None else None,
        ground_truth_frames=0 if ground_truth is None else len(ground_truth),
        snippet_frames=snippet, ignored_annotations=ignored,
    )


def feature_name(video: Video, encoder: str) -> str:
    """``{video stem}_{encoder}.npy``, e.g. ``Abuse001_x264_swin3d_t.npy``."""
    return f"{video.stem}_{encoder}.npy"


def make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LitExtractError(f"{out}: cannot create the output folder ({exc.strerror}); choose another --out") from exc
    if not os.access(out, os.W_OK):
        raise LitExtractError(f"{out}: output folder can't be written; choose another --out")


def summary(result: ExportResult) -> str:
    """Lines the ``export`` command prints: files, list composition (the RTFM/MGFN split point), gt."""
    videos = sum(len(members) for members in result.lists.values())
    lines = [f"wrote {videos} feature files {result.feature_shape} float32 to {result.out}/"]
    for name, members in result.lists.items():
        anomalous = sum(video.y == 1 for video in members)
        lines.append(f"{result.out / name}: {len(members)} videos, the first {anomalous} anomalous, "
                     f"then {len(members) - anomalous} normal")
    if result.ground_truth is not None:
        lines.append(f"{result.ground_truth}: {result.ground_truth_frames} frame labels "
                     f"({result.snippet_frames} per snippet), in {TEST_LIST} order")
    if result.snippet_frames != LOADER_SNIPPET_FRAMES:
        lines.append(f"note: snippets are {result.snippet_frames} frames; RTFM, MGFN and UR-DMU assume "
                     f"{LOADER_SNIPPET_FRAMES} (they repeat each snippet score {LOADER_SNIPPET_FRAMES} times)")
    if result.ignored_annotations:
        lines.append(f"note: {result.ignored_annotations} annotation line(s) name videos not in the test split; ignored")
    return "\n".join(lines)
