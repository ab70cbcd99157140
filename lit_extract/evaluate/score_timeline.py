"""Scores over time: per test video, the frame scores the metrics see, with the annotated frames shaded.

The figure every VAD paper shows for a few test videos: x is the frame number, the line is each
frame's score (the highest score of the clips that cover it, :func:`~lit_extract.evaluate.metrics.frame_scores`,
exactly what the frame-level metrics rank), and every run of anomalous frames of the frame truth
is a shaded span ``[first, last + 1)``. One panel per video, stacked; a bare matplotlib ``Figure``
(as :mod:`~lit_extract.evaluate.roc_plot`'s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lit_extract.errors import LitExtractError, first_few
from lit_extract.evaluate.metrics import frame_scores
from lit_extract.indexing.frame_truth import FrameTruth


@dataclass(frozen=True)
class Timeline:
    """One video's ``scores`` (n_frames,) per frame and 0/1 ``labels`` (n_frames,), ``None`` without truth."""

    video: str
    scores: np.ndarray
    labels: np.ndarray | None


def chosen_videos(rows: pd.DataFrame, videos: int | Sequence[str]) -> list[str]:
    """Video stems to plot: ``videos`` by name, or the first ``videos`` of the split, anomalous
    (y = 1) ones first, each group in index order. Raises :class:`LitExtractError` on an unknown name."""
    stems = rows["path"].map(lambda path: Path(path).stem)
    labels = rows.assign(stem=stems).groupby("stem", sort=False)["y"].max()
    if isinstance(videos, int):
        ordered = [*labels.index[labels == 1], *labels.index[labels != 1]]
        return ordered[: max(videos, 0)]
    unknown = [name for name in videos if name not in labels.index]
    if unknown:
        raise LitExtractError(f"--plot_videos: {first_few(unknown, 3)} not among the test videos "
                              f"({first_few(list(labels.index), 3)}); give video file names without extension")
    return list(videos)


def timelines(scores: np.ndarray, rows: pd.DataFrame, truth: FrameTruth | None, videos: Sequence[str]) -> list[Timeline]:
    """The :class:`Timeline` of each of ``videos`` (stems) from the clip ``scores`` of index ``rows``."""
    stems = rows["path"].map(lambda path: Path(path).stem)
    scored = rows.assign(stem=stems.to_numpy(), score=scores)
    result = []
    for video in videos:
        clips = scored[scored["stem"] == video]
        n_frames = int(clips["n_frames"].iloc[0])
        frames = frame_scores(clips["score"].to_numpy(), clips["start_frame"].to_numpy(), clips["end_frame"].to_numpy(), n_frames)
        result.append(Timeline(video, frames, None if truth is None else truth.labels(video, n_frames)))
    return result


def anomalous_spans(labels: np.ndarray) -> list[tuple[int, int]]:
    """``[first, last + 1)`` frame spans of the runs of 1 in ``labels``."""
    edges = np.diff(np.r_[0, np.asarray(labels) > 0, 0].astype(np.int8))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def timeline_figure(title: str, videos: Sequence[Timeline]):  # -> matplotlib.figure.Figure
    """One panel per video: its frame scores over frames (line 0), annotated spans shaded (``axvspan``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.0, 1.9 * len(videos) + 0.8))
    FigureCanvasAgg(figure)
    for position, video in enumerate(videos, start=1):
        axes = figure.add_subplot(len(videos), 1, position)
        axes.plot(np.arange(video.scores.size), video.scores, color="tab:blue", linewidth=1.0, label="score")
        for start, end in anomalous_spans(video.labels) if video.labels is not None else []:
            axes.axvspan(start, end, color="tab:red", alpha=0.25, linewidth=0)
        truth = "" if video.labels is not None else " (no frame truth)"
        axes.set(xlim=(0, max(video.scores.size, 1)), ylim=(-0.02, 1.02), ylabel="score", title=f"{video.video}{truth}")
        axes.title.set_fontsize("small")
    figure.axes[-1].set_xlabel("frame")
    figure.suptitle(title)
    figure.tight_layout()
    return figure
