"""Test metrics: clip, video and frame-level AUROC, frame-level average precision, each benchmark's own metric.

Frame-level metrics score every frame of every test video: a frame takes the highest score of the
clips that cover it, and frames after the last scored clip take its score, as the UCF-Crime
authors' evaluation code does (:func:`frame_scores`). The labels are the benchmark's own frame truth
(:mod:`lit_extract.indexing.frame_truth`).

Each benchmark's papers report one frame-level number (:data:`OFFICIAL_METRIC`): AUROC on
UCF-Crime and ShanghaiTech, computed as RTFM's ``test_10crop.py`` does (``auc(fpr, tpr)`` of
``roc_curve``, every threshold; :func:`auroc`), and average precision on XD-Violence, computed as
its authors' ``test.py`` does (``auc(recall, precision)`` of ``precision_recall_curve``, a
trapezoidal area; :func:`frame_ap`). :func:`average_precision` is the step-wise average precision
(scikit-learn's ``average_precision_score``), reported beside it under its own name: the two differ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lit_extract.indexing.frame_truth import Annotations, FrameTruth


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` against 0/1 ``labels``, in float64: the trapezoids
    between the curve's points at every distinct score (``auc(fpr, tpr)`` of ``roc_curve``); NaN
    when only one class is present."""
    labels = np.asarray(labels)
    if labels.size == 0 or labels.min() == labels.max():
        return math.nan
    true_positives, false_positives = _cumulative_counts(scores, labels)
    tpr = np.r_[0.0, true_positives / true_positives[-1]]
    fpr = np.r_[0.0, false_positives / false_positives[-1]]
    return float(np.trapezoid(tpr, fpr))


def _cumulative_counts(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives (float64) above each distinct score, highest threshold first."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    ranked, hits = np.asarray(scores, dtype=np.float64)[order], np.asarray(labels)[order] > 0
    last = np.r_[np.flatnonzero(np.diff(ranked) != 0), ranked.size - 1]  # last position of each distinct score
    true_positives = np.cumsum(hits, dtype=np.float64)[last]
    return true_positives, last + 1.0 - true_positives


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


def frame_auroc(scores: np.ndarray, rows: pd.DataFrame, annotations: Annotations | FrameTruth) -> float:
    """The standard UCF-Crime metric: AUROC over all frames of all videos in ``rows``.

    ``rows`` are index rows (``path, y, start_frame, end_frame, n_frames``) aligned with the clip
    ``scores``; frame scores and labels are those of :func:`frame_level`. Raises
    :class:`LitExtractError` when a video has no truth.
    """
    return auroc(*frame_level(scores, rows, annotations))


def frame_level(
    scores: np.ndarray, rows: pd.DataFrame, annotations: Annotations | FrameTruth
) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of every video in ``rows``: ``(scores (frames,) float64, labels (frames,) int64)``.

    Videos in order of first appearance in ``rows``; frame scores from :func:`frame_scores`,
    labels from the ``annotations`` of :func:`read_annotations` (1-based inclusive,
    :func:`frame_labels`) or any dataset's :class:`FrameTruth`. Raises :class:`LitExtractError`
    when a video has no truth.
    """
    truth = annotations if isinstance(annotations, FrameTruth) else FrameTruth("ucf-crime", ranges=annotations)
    stems = rows["path"].map(lambda p: Path(p).stem)
    truth.check(dict(zip(stems, rows["y"])) if "y" in rows else dict.fromkeys(stems, 1))
    all_scores, all_labels = [], []
    for _, clips in rows.assign(stem=stems, score=scores).groupby("path", sort=False):
        n_frames = int(clips["n_frames"].iloc[0])
        all_scores.append(frame_scores(clips["score"].to_numpy(), clips["start_frame"].to_numpy(),
                                       clips["end_frame"].to_numpy(), n_frames))
        all_labels.append(truth.labels(clips["stem"].iloc[0], n_frames))
    return np.concatenate(all_scores), np.concatenate(all_labels)


def precision_recall(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall (float64) at every distinct score, highest threshold first (labels
    must hold a positive)."""
    true_positives, false_positives = _cumulative_counts(scores, labels)
    return true_positives / (true_positives + false_positives), true_positives / true_positives[-1]


def frame_ap(scores: np.ndarray, labels: np.ndarray) -> float:
    """XD-Violence's official metric as its authors compute it: the trapezoidal area under the
    precision-recall curve, ``auc(recall, precision)`` of ``precision_recall_curve`` (``test.py`` of
    github.com/Roc-Ng/XDVioDet), with the curve's start at recall 0, precision 1. NaN without positives."""
    labels = np.asarray(labels)
    if labels.size == 0 or not labels.any():
        return math.nan
    precision, recall = precision_recall(scores, labels)
    return float(np.trapezoid(np.r_[1.0, precision], np.r_[0.0, recall]))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Step-wise average precision ``sum_n (R_n - R_n-1) P_n`` (scikit-learn's ``average_precision_score``;
    no interpolation). NaN without positives."""
    labels = np.asarray(labels)
    if labels.size == 0 or not labels.any():
        return math.nan
    precision, recall = precision_recall(scores, labels)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


# The metric each benchmark's papers report, by FrameTruth.dataset
OFFICIAL_METRIC = {"ucf-crime": "frame_auroc", "shanghaitech": "frame_auroc", "xd-violence": "frame_ap"}


def split_metrics(scores: np.ndarray, rows: pd.DataFrame, labels: np.ndarray, truth: FrameTruth | None,
                  prefix: str = "test") -> dict[str, float]:
    """Video- and frame-level metrics of the clip ``scores`` of a split's index ``rows`` (0/1 ``labels``).

    ``<prefix>_video_auroc`` always; with ``truth``, ``<prefix>_frame_auroc``, ``<prefix>_frame_ap``
    (:func:`frame_ap`, the XD-Violence authors' computation) and ``<prefix>_frame_ap_sklearn``
    (:func:`average_precision`) over the frames of :func:`frame_level`.
    """
    metrics = {f"{prefix}_video_auroc": video_auroc(scores, labels, rows["path"])}
    if truth is not None:
        frame_values, frame_truth = frame_level(scores, rows, truth)
        metrics[f"{prefix}_frame_auroc"] = auroc(frame_values, frame_truth)
        metrics[f"{prefix}_frame_ap"] = frame_ap(frame_values, frame_truth)
        metrics[f"{prefix}_frame_ap_sklearn"] = average_precision(frame_values, frame_truth)
    return metrics
