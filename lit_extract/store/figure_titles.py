"""Figure titles that fit their figure: wrapped onto more lines instead of running past its edges.

A title names the encoders, the splits and what is plotted, so its length follows the run (three
encoders' names in ``compare``'s ROC figure) while the figure's width does not; matplotlib draws
such a title past the figure's edge and the saved PNG cuts it off. :func:`fit_titles` wraps the
figure's suptitle and every axes' title between words until each lies inside the figure, then
lays the figure out again so the extra lines get their room.
"""

from __future__ import annotations

import textwrap
from typing import Any

MIN_LINE = 12  # characters; a title is never wrapped narrower than this


def fit_titles(figure: Any) -> None:
    """Wrap the titles of ``figure`` (a bare matplotlib ``Figure``; given an Agg canvas if it has none) to
    its width, in place."""
    if not hasattr(figure.canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(figure)
    titles = [text for text in (getattr(figure, "_suptitle", None), *(axes.title for axes in figure.axes))
              if text is not None and text.get_text()]
    for _ in range(2):  # a layout after wrapping may move a title; a second pass catches it
        figure.draw_without_rendering()
        renderer = figure.canvas.get_renderer()
        wrapped = [wrap_to_fit(text, figure, renderer) for text in titles]
        if not any(wrapped):
            return


def wrap_to_fit(text: Any, figure: Any, renderer: Any) -> bool:
    """Wrap ``text`` (a title) onto shorter lines until it lies inside ``figure``'s width; True if it changed."""
    words = " ".join(text.get_text().split())
    width = max(len(line) for line in text.get_text().splitlines())
    changed = False
    while not inside(text, figure, renderer) and width > MIN_LINE:
        width = max(MIN_LINE, int(width * 0.9))
        text.set_text(textwrap.fill(words, width, break_long_words=False))
        changed = True
    return changed


def inside(text: Any, figure: Any, renderer: Any) -> bool:
    """Whether ``text`` as drawn lies within ``figure``'s left and right edges."""
    box, edge = text.get_window_extent(renderer), figure.bbox
    return box.x0 >= edge.x0 - 0.5 and box.x1 <= edge.x1 + 0.5
