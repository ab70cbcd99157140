"""Frame AP and frame AUROC as the benchmarks' authors compute them, on the same scores and truth.

The authors' formulas are written out here with scikit-learn, as their evaluation scripts call it:

- XD-Violence (``test.py`` of github.com/Roc-Ng/XDVioDet): ``precision, recall, th =
  precision_recall_curve(list(gt), np.repeat(pred, 16)); pr_auc = auc(recall, precision)``, ``gt``
  from ``make_gt.py``: ``gt_vec[s:e] = 1`` per annotated pair, one label per frame.
- UCF-Crime / ShanghaiTech (``test_10crop.py`` of github.com/tianyu0207/RTFM): ``fpr, tpr, threshold
  = roc_curve(list(gt), pred); rec_auc = auc(fpr, tpr)`` with ``pred = np.repeat(pred, 16)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

from lit_extract.evaluate.metrics import OFFICIAL_METRIC, average_precision, frame_ap, split_metrics
from lit_extract.indexing.frame_truth import read_frame_truth

SNIPPET = 16


def xd_benchmark(tmp_path, seed: int, informative: bool = False) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list, object]:
    """Test rows of 6 XD-style videos (16-frame snippets back to back, n_frames = snippets x 16),
    snippet scores rounded to 2 decimals (so thresholds tie), labels, the annotation ranges, the truth.
    ``informative`` scores: + 0.8 on the snippets of anomalous videos (so the top scores are mostly
    anomalous frames and the curve's first points have precision near 1)."""
    rng = np.random.default_rng(seed)
    rows, labels, ranges, lines = [], [], [], []
    for video in range(6):
        snippets = int(rng.integers(5, 30))
        anomalous = video % 2 == 0
        name = f"v{video}_label_{'B1' if anomalous else 'A'}"
        pairs = []
        if anomalous:
            start = int(rng.integers(0, snippets * SNIPPET - 40))
            pairs = [(start, start + int(rng.integers(10, 40)))]
            if video == 0:
                pairs.append((snippets * SNIPPET - 7, snippets * SNIPPET))  # a second range, to the last frame
            lines.append(name + " " + " ".join(f"{s} {e}" for s, e in pairs))
        ranges.append((snippets, pairs))
        for snippet in range(snippets):
            rows.append({"path": f"/xd/{name}.mp4", "y": int(anomalous), "start_frame": snippet * SNIPPET,
                         "end_frame": (snippet + 1) * SNIPPET, "n_frames": snippets * SNIPPET})
            labels.append(int(anomalous))
    (tmp_path / "annotations.txt").write_text("\n".join(lines) + "\n")
    scores = np.round(rng.random(len(rows)) + (0.8 * np.array(labels) if informative else 0.0), 2)
    return pd.DataFrame(rows), scores, np.array(labels), ranges, read_frame_truth(tmp_path / "annotations.txt")


def authors_gt(ranges: list) -> np.ndarray:
    """XDVioDet's make_gt.py: per video gt_vec = zeros(frames); gt_vec[s:e] = 1; concatenated."""
    gt = []
    for snippets, pairs in ranges:
        gt_vec = np.zeros(snippets * SNIPPET, dtype=np.float32)
        for s, e in pairs:
            gt_vec[s:e] = 1.0
        gt.extend(gt_vec)
    return np.array(gt)


@pytest.mark.parametrize("informative", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frame_ap_is_xdviodets_auc_of_recall_and_precision(tmp_path, seed, informative):
    rows, scores, labels, ranges, truth = xd_benchmark(tmp_path, seed, informative)
    gt, pred = authors_gt(ranges), scores
    precision, recall, th = precision_recall_curve(list(gt), np.repeat(pred, 16))
    pr_auc = auc(recall, precision)
    assert split_metrics(scores, rows, labels, truth)["test_frame_ap"] == pytest.approx(pr_auc, abs=1e-12)


@pytest.mark.parametrize("informative", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frame_auroc_is_rtfms_auc_of_the_roc_curve(tmp_path, seed, informative):
    rows, scores, labels, ranges, truth = xd_benchmark(tmp_path, seed, informative)
    gt, pred = authors_gt(ranges), np.repeat(scores, 16)
    fpr, tpr, threshold = roc_curve(list(gt), pred)
    rec_auc = auc(fpr, tpr)
    assert split_metrics(scores, rows, labels, truth)["test_frame_auroc"] == pytest.approx(rec_auc, abs=1e-9)


def test_frame_ap_sklearn_is_scikit_learns_average_precision(tmp_path):
    rows, scores, labels, ranges, truth = xd_benchmark(tmp_path, 3)
    expected = average_precision_score(authors_gt(ranges), np.repeat(scores, 16))
    assert split_metrics(scores, rows, labels, truth)["test_frame_ap_sklearn"] == pytest.approx(expected, abs=1e-12)


def test_trapezoidal_and_step_average_precision_differ_as_worked_out_by_hand():
    # Thresholds .9 .8 .7 .6 over labels 1 0 1 0: (recall, precision) = (.5, 1), (.5, .5), (1, 2/3), (1, .5),
    # and the curve starts at (0, 1). Trapezoids: .5 x (1 + 1) / 2 + 0 + .5 x (.5 + 2/3) / 2 + 0 = 19/24.
    # Step-wise: .5 x 1 + .5 x 2/3 = 5/6.
    scores, labels = np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 1, 0])
    assert frame_ap(scores, labels) == pytest.approx(19 / 24, abs=1e-15)
    assert average_precision(scores, labels) == pytest.approx(5 / 6, abs=1e-15)


def test_each_benchmark_has_its_papers_official_metric():
    assert OFFICIAL_METRIC == {"ucf-crime": "frame_auroc", "shanghaitech": "frame_auroc", "xd-violence": "frame_ap"}
