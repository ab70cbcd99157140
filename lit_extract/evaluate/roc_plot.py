"""ROC figures of the probe and of ``compare``: one panel per level (clips, frames), curves overlaid.

A figure's title (``Figure.get_suptitle()``) names the encoder(s), the split and what is plotted;
each panel's title names its level. Curves are torchmetrics' ``binary_roc`` (every threshold, no
points dropped); a curve whose labels hold one class only is left out (no ROC exists), and its
legend entry says so. Figures are bare matplotlib ``Figure`` objects on an Agg canvas, so the
caller's pyplot state is left alone; :func:`lit_extract.atomic.save_figure_atomic` writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics.functional.classification import binary_roc

from lit_extract.store.figure_titles import fit_titles


@dataclass(frozen=True)
class Curve:
    """One ROC curve: its legend ``label``, and ``scores`` (float) against 0/1 ``labels``, both (n,)."""

    label: str
    scores: np.ndarray
    labels: np.ndarray


def roc_figure(title: str, panels: Mapping[str, Sequence[Curve]]):  # -> matplotlib.figure.Figure
    """A figure titled ``title`` with one ROC panel per entry of ``panels`` (panel title -> curves), side by side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.6 * len(panels), 5.0))
    FigureCanvasAgg(figure)
    for position, (panel_title, curves) in enumerate(panels.items(), start=1):
        axes = figure.add_subplot(1, len(panels), position)
        for curve in curves:
            labels = np.asarray(curve.labels)
            if labels.size == 0 or labels.min() == labels.max():
                axes.plot([], [], label=f"{curve.label}: one class only, no ROC")
                continue
            fpr, tpr, _ = binary_roc(torch.as_tensor(np.asarray(curve.scores)), torch.as_tensor(labels).long())
            axes.plot(fpr.numpy(), tpr.numpy(), label=curve.label)
        axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
        axes.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01), title=panel_title)
        axes.legend(loc="lower right", fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    fit_titles(figure)  # a long title (many encoders) wraps instead of running past the edges
    figure.tight_layout()
    return figure
