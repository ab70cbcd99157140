"""VadCLIP's class-level ground truth: ``gt_segment.npy`` and ``gt_label.npy`` for its detection mAP.

VadCLIP's test loop (``src/xd_test.py``, ``src/ucf_test.py``) scores its fine-grained
predictions against, per test video in its test CSV's order, the list of anomalous ``[start,
end]`` frame ranges and the list of their class names. Its authors build them with
``list/make_gt_mAP_xd.py`` (from ``annotations_multiclasses.txt``: ``<video> C1 s1 e1 [C2 s2 e2
...]``) and ``list/make_gt_mAP_ucf.py`` (from UCF-Crime's annotation file: ``<file> <class> s1 e1
s2 e2``, the second range when ``s2`` is not ``-1``). :func:`segment_truth` gives the same
arrays:

- a normal video: one range ``[0, snippets x 16]`` (ints; 16 = VadCLIP's frames per snippet),
  class ``A``;
- an anomalous video: its annotation line's ranges and classes, the numbers kept as the text
  written in the file (the authors' scripts keep them so; VadCLIP reads them with ``int()``).

Both are 1-D object arrays (one list per video), saved with pickle as the authors' ``np.save``
of their ragged lists is; VadCLIP loads them with ``allow_pickle=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lit_extract.errors import LitExtractError, first_few
from lit_extract.indexing.frame_truth import annotation_lines

ClassRanges = dict[str, list[tuple[str, str, str]]]  # video stem -> [(class, start, end)], as written
NORMAL_CLASS = "A"  # the class both scripts give normal videos
VADCLIP_SNIPPET_FRAMES = 16  # clip_len in make_gt_mAP_*.py


def read_class_annotations(path: str | Path, dataset: str) -> ClassRanges:
    """Class-annotated anomaly ranges of the test videos, by video stem (a ``.mp4`` is dropped).

    ``dataset`` ``xd-violence``: VadCLIP's ``annotations_multiclasses.txt``, ``<video> C s e [C s e
    ...]``; ``ucf-crime``: ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``, ``<file> <class>
    s1 e1 s2 e2`` (a second range unless ``s2`` is ``-1``). Raises :class:`LitExtractError` naming
    the line that does not read so.
    """
    path = Path(path)
    ranges: ClassRanges = {}
    for number, line in enumerate(annotation_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        if dataset == "ucf-crime":
            triples = [(fields[1], *fields[2:4])] + ([(fields[1], *fields[4:6])] if fields[4:5] != ["-1"] else [])
            expected = "'<file> <class> <start1> <end1> <start2> <end2>'"
            valid = len(fields) == 6
        else:
            triples = [tuple(fields[i : i + 3]) for i in range(1, len(fields), 3)]
            expected = "'<video> <class> <start> <end> [<class> <start> <end> ...]'"
            valid = len(fields) > 1 and len(fields) % 3 == 1
        if not valid or not all(is_integer(start) and is_integer(end) for _, start, end in triples):
            raise LitExtractError(f"{path}:{number}: expected {expected}, got '{line.strip()}'")
        name = fields[0][:-4] if fields[0].lower().endswith(".mp4") else fields[0]
        ranges[name] = triples
    return ranges


def is_integer(text: str) -> bool:
    return text.lstrip("-").isdigit()


def segment_truth(videos: Sequence[tuple[str, int, int]], classes: ClassRanges,
                  source: str = "the class annotation file") -> tuple[np.ndarray, np.ndarray]:
    """``(gt_segment, gt_label)``, 1-D object arrays of lists, one entry per ``(stem, y, snippets)``
    of ``videos`` (the test CSV's order). Raises :class:`LitExtractError` naming the anomalous
    videos (y = 1) without a line in ``classes``."""
    missing = sorted(stem for stem, y, _ in videos if y == 1 and stem not in classes)
    if missing:
        raise LitExtractError(f"{len(missing)} anomalous test video(s) have no line in {source}: "
                              f"{first_few(missing, 3)}; give the class annotations of every test video")
    segments, labels = np.empty(len(videos), dtype=object), np.empty(len(videos), dtype=object)
    for i, (stem, y, snippets) in enumerate(videos):
        if y == 0:
            segments[i], labels[i] = [[0, snippets * VADCLIP_SNIPPET_FRAMES]], [NORMAL_CLASS]
        else:
            segments[i] = [[start, end] for _, start, end in classes[stem]]
            labels[i] = [name for name, _, _ in classes[stem]]
    return segments, labels
