"""The scores-over-time figure: which test videos it shows, and what each panel draws (hand-built expectations)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lit_extract.errors import LitExtractError
from lit_extract.evaluate.score_timeline import anomalous_spans, chosen_videos, timeline_figure, timelines
from lit_extract.indexing.frame_truth import FrameTruth

ROWS = pd.DataFrame({
    "path": ["/d/n1.mp4", "/d/n1.mp4", "/d/a1.mp4", "/d/a1.mp4", "/d/a2.mp4", "/d/n2.mp4"],
    "y": [0, 0, 1, 1, 1, 0], "start_frame": [0, 4, 0, 4, 0, 0], "end_frame": [4, 8, 4, 8, 4, 4],
    "n_frames": [8, 8, 10, 10, 4, 4],
})


def test_a_number_of_videos_takes_the_anomalous_ones_first_in_index_order():
    assert chosen_videos(ROWS, 3) == ["a1", "a2", "n1"]
    assert chosen_videos(ROWS, 0) == []


def test_named_videos_are_taken_as_given_and_unknown_names_refused():
    assert chosen_videos(ROWS, ["n2", "a1"]) == ["n2", "a1"]
    with pytest.raises(LitExtractError, match="--plot_videos: a3 not among the test videos"):
        chosen_videos(ROWS, ["a1", "a3"])


def test_anomalous_spans_are_the_runs_of_ones_end_exclusive():
    assert anomalous_spans(np.array([1, 1, 0, 0, 1, 0, 1])) == [(0, 2), (4, 5), (6, 7)]


def test_a_panel_draws_every_frames_score_and_shades_the_annotated_frames():
    # a1: clips [0, 4) 0.2 and [4, 8) 0.9 over 10 frames: frames 8, 9 take frame 7's score.
    # XD-style truth "a1 3 6" marks frames 3, 4, 5.
    truth = FrameTruth("xd-violence", ranges={"a1": [(3, 6)]})
    [timeline] = timelines(np.array([0.1, 0.1, 0.2, 0.9, 0.5, 0.3]), ROWS, truth, ["a1"])
    np.testing.assert_allclose(timeline.scores, [0.2] * 4 + [0.9] * 6)
    axes = timeline_figure("t", [timeline]).axes[0]
    np.testing.assert_allclose(axes.lines[0].get_ydata(), [0.2] * 4 + [0.9] * 6)
    assert [(patch.get_x(), patch.get_width()) for patch in axes.patches] == [(3, 3)]


def test_without_frame_truth_nothing_is_shaded_and_the_title_says_so():
    [timeline] = timelines(np.full(6, 0.5), ROWS, None, ["n1"])
    axes = timeline_figure("t", [timeline]).axes[0]
    assert len(axes.patches) == 0
    assert axes.get_title() == "n1 (no frame truth)"
