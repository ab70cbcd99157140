"""UCF-Crime metrics and the annotation file's frame convention (1-based, inclusive ranges).

Expected values are worked out by hand in the tests, or computed by scikit-learn on labels
written out by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from lit_extract.errors import LitExtractError
from lit_extract.evaluate.metrics import frame_auroc, frame_scores, video_auroc
from lit_extract.indexing.frame_truth import frame_labels, read_annotations


def write_annotations(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_annotation_ranges_are_1_based_and_inclusive(tmp_path):
    # The authors' MATLAB sets GT(3:5)=1 for "3 5": the 3rd, 4th and 5th frames = 0-based frames 2, 3, 4.
    annotation = write_annotations(tmp_path / "ann.txt", "Arson011_x264.mp4  Arson  3  5  -1  -1  \n")
    labels = frame_labels(8, read_annotations(annotation)["Arson011_x264"])
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1, 0, 0, 0])


def test_annotation_ranges_are_clipped_to_the_video():
    # MATLAB: st_fr = max(start, 1), end_fr = min(end, n_frames).
    np.testing.assert_array_equal(frame_labels(6, [(0, 2), (5, 99)]), [1, 1, 0, 0, 1, 1])


def test_annotation_file_in_the_real_format_parses(tmp_path):
    # Two spaces between fields, trailing spaces, -1 -1 for a missing second range, a blank last line.
    annotation = write_annotations(
        tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt",
        "Abuse028_x264.mp4  Abuse  165  240  -1  -1  \n"
        "Arson011_x264.mp4  Arson  150  420  680  1267  \n"
        "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1  \n\n",
    )
    assert read_annotations(annotation) == {
        "Abuse028_x264": [(165, 240)],
        "Arson011_x264": [(150, 420), (680, 1267)],
        "Normal_Videos_003_x264": [],
    }


def test_malformed_annotation_line_names_the_line(tmp_path):
    annotation = write_annotations(tmp_path / "ann.txt", "a.mp4  Arson  1  2  -1  -1\nb.mp4  Arson  x\n")
    with pytest.raises(LitExtractError, match=r"ann.txt:2: expected"):
        read_annotations(annotation)


def test_video_auroc_hand_example():
    # Videos a, b, c, d take the max of their clips: a 0.9 (label 1), b 0.3 (0), c 0.4 (0), d 0.35 (1).
    # Pairs (positive, negative): a>b, a>c, d>b, d<c, so 3 of 4 are ordered right.
    scores = np.array([0.1, 0.9, 0.2, 0.3, 0.4, 0.05, 0.35, 0.2])
    labels = np.array([0, 1, 0, 0, 0, 0, 1, 1])
    videos = ["a", "a", "b", "b", "c", "c", "d", "d"]
    assert video_auroc(scores, labels, videos) == pytest.approx(3 / 4)


def test_frame_scores_take_max_of_covering_clips_and_nearest_clip_elsewhere():
    # Clips [0,4) 0.2, [2,6) 0.8, [6,8) 0.1 over 10 frames; frames 8 and 9 take frame 7's score.
    got = frame_scores(np.array([0.2, 0.8, 0.1]), np.array([0, 2, 6]), np.array([4, 6, 8]), 10)
    np.testing.assert_allclose(got, [0.2, 0.2, 0.8, 0.8, 0.8, 0.8, 0.1, 0.1, 0.1, 0.1])


def test_frame_scores_fill_gaps_from_nearest_clip_earlier_on_tie():
    # Clips [2,4) 0.7 and [7,9) 0.3 over 10 frames. Frames 0-1 and 4 are nearest to frame 3 (0.7);
    # frame 5 is 2 from frame 3 and 2 from frame 7: the earlier wins (0.7); frames 6 and 9 take 0.3.
    got = frame_scores(np.array([0.7, 0.3]), np.array([2, 7]), np.array([4, 9]), 10)
    np.testing.assert_allclose(got, [0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.3, 0.3, 0.3, 0.3])


def test_frame_auroc_hand_example(tmp_path):
    # Arson011 frame scores (see above): .2 .2 .8 .8 .8 .8 .1 .1 .1 .1. "2 3" and "7 9" (1-based,
    # inclusive) are 0-based frames 1-2 and 6-8. Normal_003: four frames at .3, none anomalous.
    # Positives: .2 .8 .1 .1 .1; negatives: .2 .8 .8 .8 .1 (Arson011) and .3 x4.
    # .2 beats 1, ties 1 -> 1.5; .8 beats 6, ties 3 -> 7.5; each .1 ties 1 -> 0.5. AUROC = 10.5 / 45 = 7/30.
    annotation = write_annotations(
        tmp_path / "ann.txt", "Arson011_x264.mp4  Arson  2  3  7  9  \nNormal_003_x264.mp4  Normal  -1  -1  -1  -1  \n"
    )
    rows = pd.DataFrame({
        "path": ["/d/Arson/Arson011_x264.mp4"] * 3 + ["/d/Normal/Normal_003_x264.mp4"],
        "start_frame": [0, 2, 6, 0], "end_frame": [4, 6, 8, 4], "n_frames": [10, 10, 10, 4],
    })
    scores = np.array([0.2, 0.8, 0.1, 0.3])
    labels = [0, 1, 1, 0, 0, 0, 1, 1, 1, 0] + [0] * 4
    frames = [0.2, 0.2, 0.8, 0.8, 0.8, 0.8, 0.1, 0.1, 0.1, 0.1] + [0.3] * 4
    got = frame_auroc(scores, rows, read_annotations(annotation))
    assert got == pytest.approx(7 / 30)
    assert got == pytest.approx(roc_auc_score(labels, frames))


def test_frame_auroc_refuses_a_test_video_without_annotation_line(tmp_path):
    annotation = write_annotations(tmp_path / "ann.txt", "Arson011_x264.mp4  Arson  2  3  -1  -1  \n")
    rows = pd.DataFrame({"path": ["/d/Arson011_x264.mp4", "/d/Burglary005_x264.mp4"],
                         "start_frame": [0, 0], "end_frame": [4, 4], "n_frames": [4, 4]})
    with pytest.raises(LitExtractError, match="1 test video.*Burglary005_x264"):
        frame_auroc(np.array([0.1, 0.2]), rows, read_annotations(annotation))
