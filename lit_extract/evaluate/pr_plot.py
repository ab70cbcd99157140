"""Precision-recall figures of frame-level scores: the curve whose area is XD-Violence's official AP.

Each curve is drawn as :func:`~lit_extract.evaluate.metrics.frame_ap` integrates it: the points
(recall, precision) at every distinct score, from (0, 1), joined by straight lines (the trapezoids
of ``auc(recall, precision)``). A curve whose labels hold no positive is left out (no recall
exists), and its legend entry says so. A bare matplotlib ``Figure``, as
:mod:`~lit_extract.evaluate.roc_plot`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lit_extract.evaluate.metrics import precision_recall
from lit_extract.evaluate.roc_plot import Curve


def pr_figure(title: str, curves: Sequence[Curve], panel: str = "frame level"):  # -> matplotlib.figure.Figure
    """A figure titled ``title`` with one precision-recall panel (titled ``panel``) holding ``curves``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.0, 5.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for curve in curves:
        labels = np.asarray(curve.labels)
        if labels.size == 0 or not labels.any():
            axes.plot([], [], label=f"{curve.label}: no positives, no PR curve")
            continue
        precision, recall = precision_recall(curve.scores, labels)
        axes.plot(np.r_[0.0, recall], np.r_[1.0, precision], label=curve.label)
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01), title=panel)
    axes.legend(loc="lower left", fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    return figure
