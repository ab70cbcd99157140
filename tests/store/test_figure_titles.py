"""Figure titles stay inside the figure they title: a title longer than the figure is wide wraps
onto more lines instead of being cut off at the PNG's edges.

Checked on the figures the product saves (the ROC figure of ``compare`` and of the probe, the PCA
plot of ``inspect --plot``), by matplotlib's own measure of where each title is drawn.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import saved_figures
from lit_extract.evaluate.roc_plot import Curve, roc_figure
from lit_extract.store.manifest import plot_embeddings
from test_inspect import scattered_splits, write_output

LONG_ENCODERS = ["timm:vit_base_patch16_clip_quickgelu_224.openai", "r2plus1d_18", "r3d_18", "mc3_18"]


def drawn_titles(figure) -> list:
    figure.draw_without_rendering()
    return [text for text in (figure._suptitle, *(axes.title for axes in figure.axes)) if text and text.get_text()]


def assert_inside(figure) -> None:
    renderer = figure.canvas.get_renderer()
    edge = figure.bbox
    for text in drawn_titles(figure):
        box = text.get_window_extent(renderer)
        assert edge.x0 - 0.5 <= box.x0 and box.x1 <= edge.x1 + 0.5, (text.get_text(), box, edge)
        assert edge.y0 - 0.5 <= box.y0 and box.y1 <= edge.y1 + 0.5, (text.get_text(), box, edge)


@pytest.mark.parametrize("panels", [["clip level"], ["clip level", "frame level"]])
def test_a_roc_title_naming_many_encoders_stays_inside_the_figure(panels):
    rng = np.random.default_rng(0)
    curves = [Curve(name, rng.random(20), np.arange(20) % 2) for name in LONG_ENCODERS]
    title = f"ROC on the test split, one linear probe per encoder ({', '.join(LONG_ENCODERS)})"
    figure = roc_figure(title, {panel: curves for panel in panels})
    assert_inside(figure)
    assert " ".join(figure.get_suptitle().split()) == title  # wrapped between words, nothing lost


def test_the_pca_title_of_a_long_encoder_name_stays_inside_the_figure(tmp_path, monkeypatch):
    import test_inspect

    monkeypatch.setattr(test_inspect, "ENCODER", LONG_ENCODERS[0])
    path = write_output(tmp_path, scattered_splits())
    with saved_figures() as figures:
        out = plot_embeddings(path, tmp_path / "pca.png", sample=100, seed=0)
    figure = figures[out]
    assert_inside(figure)
    assert " ".join(figure.axes[0].get_title().split()) == (
        f"{LONG_ENCODERS[0]}: PCA of 18 embeddings of the train, val splits (seed 0)")
