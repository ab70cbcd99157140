"""The demo's synthetic videos make a task with something to learn: what a single frame shows
(colours, brightness) does not tell the two classes apart, motion does, and not always (the
speeds overlap), so probes score below 1.0 and encoders can differ.

The videos are read back with OpenCV and measured here, with scikit-learn's AUROC, independently
of lit_extract's readers.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lit_extract.commands.demo import CLASSES, DEMO_DATA, demo_data_marker, write_demo_videos


def read_frames(path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return np.stack(frames).astype(np.float32)  # T H W C (BGR)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Per demo video (40, small): class, mean colour, mean absolute frame-to-frame change."""
    root = tmp_path_factory.mktemp("demo")
    paths = write_demo_videos(root, {"train": 40}, n_frames=24, width=64, height=48)
    labels, colours, motion = [], [], []
    for path in paths:
        frames = read_frames(path)
        labels.append(CLASSES[path.parent.name])
        colours.append(frames.mean(axis=(0, 1, 2)))
        motion.append(np.abs(np.diff(frames, axis=0)).mean())
    return np.array(labels), np.array(colours), np.array(motion)


def test_no_colour_channel_tells_the_demo_classes_apart(measured):
    labels, colours, _ = measured
    for channel in range(3):
        assert 0.2 <= roc_auc_score(labels, colours[:, channel]) <= 0.8, channel


def test_motion_tells_the_demo_classes_apart_but_not_perfectly(measured):
    labels, _, motion = measured
    assert 0.65 <= roc_auc_score(labels, motion) < 1.0


def test_videos_of_an_older_demo_are_written_anew_and_the_folder_says_what_it_holds(tmp_path):
    old = tmp_path / "videos" / "train" / "Normal" / "Normal_train_000.mp4"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"an older demo's video")
    write_demo_videos(tmp_path, {"train": 2}, n_frames=4, width=32, height=32)
    assert old.read_bytes() != b"an older demo's video" and read_frames(old).shape[0] == 4
    assert demo_data_marker(tmp_path).read_text().strip() == DEMO_DATA
