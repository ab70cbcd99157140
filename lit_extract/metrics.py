"""UCF-Crime test metrics: clip, video and frame-level AUROC, and the temporal annotation file.

One frame convention, the dataset authors': the ranges in
``Temporal_Anomaly_Annotation_for_Testing_Videos.txt`` are **1-based and inclusive**. Their
evaluation code (``Evaluate_Anomaly_Detector.m`` in github.com/WaqasSultani/AnomalyDetectionCVPR2018)
sets ``GT(st_fr:end_fr)=1`` in MATLAB, so a line ``Arson011_x264.mp4  Arson  3  5  -1  -1`` marks
the 3rd, 4th and 5th frames of the video: lit_extract's 0-based frames 2, 3 and 4 (the index's
``start_frame``/``end_frame`` count frames from 0). Frames after the last scored clip take its
score, as in that code. :func:`frame_labels` is the one place that converts; the probe's
``test_frame_auroc`` and the export's ``gt-ucf.npy`` both use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchmetrics.functional.classification import binary_auroc

from lit_extract.errors import LitExtractError, first_few

Annotations = dict[str, list[tuple[int, int]]]  # video stem -> 1-based inclusive anomaly ranges


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` against 0/1 ``labels``; NaN when only one class is present."""
    labels = np.asarray(labels)
    if labels.size == 0 or labels.min() == labels.max():
        return math.nan
    return float(binary_auroc(torch.tensor(np.asarray(scores, dtype=np.float64)), torch.tensor(labels).long()))


def video_auroc(scores: np.ndarray, labels: np.ndarray, videos: Sequence[str]) -> float:
    """AUROC over videos: a video's score is the max of its clips' scores, its label the max of their labels."""
    per_video = pd.DataFrame({"video": list(videos), "score": scores, "label": labels}).groupby("video").max()
    return auroc(per_video["score"].to_numpy(), per_video["label"].to_numpy())


def frame_scores(scores: np.ndarray, starts: np.ndarray, ends: np.ndarray, n_frames: int) -> np.ndarray:
    """Score of every frame ``0..n_frames-1`` of one video from its clips ``[starts[i], ends[i])`` (0-based).

    A frame covered by clips gets the max of their scores. A frame covered by none (e.g. the tail
    after the last full clip) gets the score of the nearest covered frame, the earlier one on a tie.
    Returns ``(n_frames,)`` float64. Raises ``ValueError`` when no clip covers any frame.
    """
    frames = np.full(n_frames, -np.inf)
    for score, start, end in zip(scores, starts, ends):
        np.maximum(frames[start:end], score, out=frames[start:end])
    covered = np.flatnonzero(np.isfinite(frames))
    if covered.size == 0:
        raise ValueError(f"no clip covers any of the {n_frames} frames")
    missing = np.flatnonzero(~np.isfinite(frames))
    if missing.size:
        after = np.searchsorted(covered, missing)
        left = covered[np.clip(after - 1, 0, covered.size - 1)]
        right = covered[np.clip(after, 0, covered.size - 1)]
        frames[missing] = frames[np.where(np.abs(missing - left) <= np.abs(right - missing), left, right)]
    return frames


def frame_labels(n_frames: int, ranges: Sequence[tuple[int, int]]) -> np.ndarray:
    """0/1 label (int64) of the 0-based frames ``0..n_frames-1`` of a video.

    ``ranges`` are the annotation file's 1-based inclusive ``(start, end)`` pairs: frames
    ``start-1 .. end-1`` (0-based) are 1, clipped to the video as the authors' code does
    (``st_fr = max(start, 1)``, ``end_fr = min(end, n_frames)``).
    """
    labels = np.zeros(n_frames, dtype=np.int64)
    for start, end in ranges:
        labels[max(start, 1) - 1 : min(end, n_frames)] = 1
    return labels


def read_annotations(path: str | Path) -> Annotations:
    """UCF-Crime's ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``: video stem -> anomaly ranges.

    Each line is ``<file>  <category>  <start1>  <end1>  <start2>  <end2>`` (any whitespace, trailing
    spaces allowed); ``-1 -1`` marks a missing range (normal videos have none). Ranges are kept as
    written: 1-based, inclusive (see :func:`frame_labels`). Videos are keyed by file name without
    extension, so ``Arson011_x264.mp4`` matches an index path ``/data/Arson/Arson011_x264.mp4``.
    """
    path = Path(path)
    if not path.is_file():
        raise LitExtractError(f"{path}: annotation file not found (--data.annotations)")
    annotations: Annotations = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            bounds = [int(value) for value in fields[2:6]]
        except ValueError:
            bounds = []
        if len(bounds) != 4:
            raise LitExtractError(
                f"{path}:{number}: expected '<file> <category> <start1> <end1> <start2> <end2>', got '{line.strip()}'"
            )
        ranges = [(s, e) for s, e in (bounds[:2], bounds[2:]) if s >= 0 and e >= 0]
        annotations[Path(fields[0]).stem] = ranges
    return annotations


def check_annotated(stems: Sequence[str], annotations: Annotations, source: str | Path = "the annotation file") -> None:
    """Raise :class:`LitExtractError` naming the test videos (by stem) that have no line in ``source``."""
    unannotated = sorted(set(stems) - set(annotations))
    if unannotated:
        raise LitExtractError(
            f"{len(unannotated)} test video(s) have no line in {source}: {first_few(unannotated, 3)}; "
            "use the full Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
        )


def frame_auroc(scores: np.ndarray, rows: pd.DataFrame, annotations: Annotations) -> float:
    """The standard UCF-Crime metric: AUROC over all frames of all videos in ``rows``.

    ``rows`` are index rows (``path, start_frame, end_frame, n_frames``) aligned with the clip
    ``scores``; frame scores and labels are those of :func:`frame_level`. Raises
    :class:`LitExtractError` when a video has no annotation line.
    """
    return auroc(*frame_level(scores, rows, annotations))


def frame_level(scores: np.ndarray, rows: pd.DataFrame, annotations: Annotations) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of every video in ``rows``: ``(scores (frames,) float64, labels (frames,) int64)``.

    Videos in order of first appearance in ``rows``; frame scores from :func:`frame_scores`,
    labels from the ``annotations`` of :func:`read_annotations` (1-based inclusive,
    :func:`frame_labels`). Raises :class:`LitExtractError` when a video has no annotation line.
    """
    stems = rows["path"].map(lambda p: Path(p).stem)
    check_annotated(list(stems), annotations)
    all_scores, all_labels = [], []
    for _, clips in rows.assign(stem=stems, score=scores).groupby("path", sort=False):
        n_frames = int(clips["n_frames"].iloc[0])
        all_scores.append(frame_scores(clips["score"].to_numpy(), clips["start_frame"].to_numpy(),
                                       clips["end_frame"].to_numpy(), n_frames))
        all_labels.append(frame_labels(n_frames, annotations[clips["stem"].iloc[0]]))
    return np.concatenate(all_scores), np.concatenate(all_labels)
