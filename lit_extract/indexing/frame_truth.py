"""Each benchmark's frame-level truth: which frames of a test video are anomalous.

One frame convention per benchmark, the dataset authors':

- UCF-Crime's ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``: ranges are **1-based and
  inclusive**. Their evaluation code (``Evaluate_Anomaly_Detector.m`` in
  github.com/WaqasSultani/AnomalyDetectionCVPR2018) sets ``GT(st_fr:end_fr)=1`` in MATLAB, so a line
  ``Arson011_x264.mp4  Arson  3  5  -1  -1`` marks the 3rd, 4th and 5th frames of the video:
  lit_extract's 0-based frames 2, 3 and 4 (the index's ``start_frame``/``end_frame`` count frames
  from 0). :func:`frame_labels` is the one place that converts.
- XD-Violence's ``annotations.txt`` (``<video> s1 e1 [s2 e2 ...]``) is **0-based, end exclusive**:
  the authors' ``make_gt.py`` (github.com/Roc-Ng/XDVioDet ``list/``) and VadCLIP's
  ``list/make_gt_xd.py`` set ``gt_vec[s:e] = 1`` in Python, so ``v 3 5`` marks frames 3 and 4
  (:func:`xd_frame_labels`). Normal videos (``_label_A``) have no line: all 0.
- ShanghaiTech's ``testing/test_frame_mask/<video>.npy`` holds one 0/1 per frame; RTFM's
  ``list/make_gt_sh.py`` pads a mask shorter than the scored frames with its last label
  (:func:`mask_frame_labels`). Videos without a mask (the training videos) are all 0.

:class:`FrameTruth` (read by :func:`read_frame_truth`) holds any of the three; the probe's frame
metrics (:mod:`lit_extract.evaluate.metrics`) and the export's ground-truth files
(:mod:`lit_extract.store.export`) both read it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lit_extract.errors import LitExtractError, first_few

Annotations = dict[str, list[tuple[int, int]]]  # video stem -> 1-based inclusive anomaly ranges


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


def annotation_lines(path: Path) -> list[str]:
    """The lines of the annotation file ``path``; a missing or non-UTF-8 file raises
    :class:`LitExtractError` in one line."""
    if not path.is_file():
        raise LitExtractError(f"{path}: annotation file not found (--data.annotations)")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise LitExtractError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start}); give the annotation file") from exc


def read_annotations(path: str | Path) -> Annotations:
    """UCF-Crime's ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``: video stem -> anomaly ranges.

    Each line is ``<file>  <category>  <start1>  <end1>  <start2>  <end2>`` (any whitespace, trailing
    spaces allowed); ``-1 -1`` marks a missing range (normal videos have none). Ranges are kept as
    written: 1-based, inclusive (see :func:`frame_labels`). Videos are keyed by file name without
    extension, so ``Arson011_x264.mp4`` matches an index path ``/data/Arson/Arson011_x264.mp4``.
    """
    path = Path(path)
    annotations: Annotations = {}
    for number, line in enumerate(annotation_lines(path), start=1):
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


DATASET_TRUTH = {"ucf-crime": "Temporal_Anomaly_Annotation_for_Testing_Videos.txt",
                 "xd-violence": "annotations.txt", "shanghaitech": "testing/test_frame_mask/"}


def xd_frame_labels(n_frames: int, ranges: Sequence[tuple[int, int]]) -> np.ndarray:
    """0/1 label (int64) of the frames ``0..n_frames-1``: XD-Violence's ``(start, end)`` ranges are
    0-based, end exclusive (``gt_vec[start:end] = 1`` in the authors' code), clipped to the video."""
    labels = np.zeros(n_frames, dtype=np.int64)
    for start, end in ranges:
        labels[max(start, 0) : max(end, 0)] = 1
    return labels


def mask_frame_labels(n_frames: int, mask: np.ndarray) -> np.ndarray:
    """0/1 label (int64) of the frames ``0..n_frames-1`` from a per-frame mask: its first
    ``n_frames`` values, a shorter mask padded with its last value (RTFM's ``make_gt_sh.py``)."""
    mask = np.asarray(mask).reshape(-1).astype(np.int64)
    if mask.size == 0:
        return np.zeros(n_frames, dtype=np.int64)
    return np.concatenate([mask[:n_frames], np.full(max(0, n_frames - mask.size), mask[-1], np.int64)])


def read_xd_annotations(path: str | Path) -> Annotations:
    """XD-Violence's ``annotations.txt``: video stem -> 0-based, end-exclusive ranges (:func:`xd_frame_labels`).

    Each line is ``<video> s1 e1 [s2 e2 ...]`` (the name with or without ``.mp4``).
    """
    path = Path(path)
    annotations: Annotations = {}
    for number, line in enumerate(annotation_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            bounds = [int(value) for value in fields[1:]]
        except ValueError:
            bounds = []
        if not bounds or len(bounds) % 2:
            raise LitExtractError(f"{path}:{number}: expected '<video> <start1> <end1> [<start2> <end2> ...]', "
                                  f"got '{line.strip()}'")
        name = fields[0][:-4] if fields[0].lower().endswith(".mp4") else fields[0]
        annotations[name] = list(zip(bounds[0::2], bounds[1::2]))
    return annotations


@dataclass(frozen=True)
class FrameTruth:
    """Frame-level truth of one benchmark's test videos, by video stem (see the module docstring).

    ``ranges``: the annotation file's ranges (UCF-Crime: 1-based inclusive; XD-Violence: 0-based,
    end exclusive); ``masks``: ShanghaiTech's mask files. ``source`` names where it was read from.
    """

    dataset: str
    ranges: Annotations = field(default_factory=dict)
    masks: Mapping[str, Path] = field(default_factory=dict)
    source: str = "the annotation file"

    def has(self, stem: str) -> bool:
        return stem in self.ranges or stem in self.masks

    def labels(self, stem: str, n_frames: int) -> np.ndarray:
        """0/1 (int64) labels of frames ``0..n_frames-1`` of video ``stem`` (all 0 when it has no truth)."""
        if self.dataset == "shanghaitech":
            return mask_frame_labels(n_frames, np.load(self.masks[stem])) if stem in self.masks else np.zeros(n_frames, np.int64)
        ranges = self.ranges.get(stem, [])
        return frame_labels(n_frames, ranges) if self.dataset == "ucf-crime" else xd_frame_labels(n_frames, ranges)

    def check(self, videos: Mapping[str, int]) -> None:
        """Raise :class:`LitExtractError` naming the videos (stem -> label y) without truth: any video
        for UCF-Crime (every test video has a line), the anomalous ones (y = 1) for the others."""
        if self.dataset == "ucf-crime":
            check_annotated(list(videos), self.ranges, self.source)
            return
        missing = sorted(stem for stem, y in videos.items() if y == 1 and not self.has(stem))
        if missing:
            what = "frame mask" if self.dataset == "shanghaitech" else "annotation line"
            raise LitExtractError(f"{len(missing)} anomalous test video(s) have no {what} in {self.source}: "
                                  f"{first_few(missing, 3)}; use the full {DATASET_TRUTH[self.dataset]}")


def truth_dataset(path: str | Path) -> str:
    """Which benchmark's truth ``path`` is: a folder of ``.npy`` masks is ShanghaiTech's; a file whose
    lines have a category after the name is UCF-Crime's, numbers only XD-Violence's."""
    path = Path(path)
    if path.is_dir():
        return "shanghaitech"
    for line in annotation_lines(path):
        fields = line.split()
        if len(fields) >= 2:
            return "xd-violence" if fields[1].lstrip("-").isdigit() else "ucf-crime"
    raise LitExtractError(f"{path}: empty annotation file")


def read_frame_truth(path: str | Path, dataset: str | None = None) -> FrameTruth:
    """The frame truth at ``path`` (:data:`DATASET_TRUTH`), of ``dataset`` or the one it looks like
    (:func:`truth_dataset`). Raises :class:`LitExtractError` when it is missing or malformed."""
    path = Path(path)
    if not path.exists():
        raise LitExtractError(f"{path}: frame truth not found; give {' or '.join(DATASET_TRUTH.values())}")
    dataset = dataset or truth_dataset(path)
    if dataset == "shanghaitech":
        if not path.is_dir():
            raise LitExtractError(f"{path}: ShanghaiTech's truth is the folder testing/test_frame_mask/, not a file")
        return FrameTruth(dataset, masks={mask.stem: mask for mask in sorted(path.glob("*.npy"))}, source=str(path))
    if path.is_dir():
        raise LitExtractError(f"{path}: is a folder; give the {dataset} annotation file {DATASET_TRUTH[dataset]}")
    ranges = read_annotations(path) if dataset == "ucf-crime" else read_xd_annotations(path)
    return FrameTruth(dataset, ranges=ranges, source=str(path))
