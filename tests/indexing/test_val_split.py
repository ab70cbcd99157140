"""What ``index`` says about the val split, and ``predict`` on an index without one.

Trees of tiny real videos (cv2 mp4v, 32x24, 20 frames: one 16-frame clip each at --clip-len 16
--stride 16) whose categories hold too few train videos for the fraction; the expected lines are
worked out by hand from ``assign_val``'s documented rule (``min(round_half_up(n * f), n - 1)``).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from lit_extract.commands.cli import main
from lit_extract.indexing.index import load_index
from lit_extract.indexing.val_split import val_split_report


def write_video(path: Path, n_frames: int = 20) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (32, 24))
    for k in range(n_frames):
        writer.write(np.full((24, 32, 3), (9 * k) % 256, dtype=np.uint8))
    writer.release()
    return path


def tree(root: Path, train: dict[str, int]) -> Path:
    """``<root>/<split>/<category>``: ``train[category]`` train videos each, one test video per category."""
    for category, count in train.items():
        for i in range(count):
            write_video(root / f"train/{category}/{category}{i:03d}_x264.mp4")
        write_video(root / f"test/{category}/{category}900_x264.mp4")
    return root


def run_index(capsys, root: Path, out: Path, fraction: str) -> tuple[list[str], list[str]]:
    main(["index", "--root", str(root), "--out", str(out), "--clip-len", "16", "--stride", "16",
          "--val-fraction", fraction, "--seed", "0", "--workers", "1", "--no-progress"])
    captured = capsys.readouterr()
    return captured.out.splitlines(), captured.err.splitlines()


def val_videos(out: Path) -> pd.Series:
    videos = load_index(out).drop_duplicates("path")
    return videos[videos["split"] == "val"].groupby("category").size()


def test_index_states_the_val_videos_and_clips_per_category(tmp_path, capsys):
    # Abuse: 4 * 0.25 = 1 video; Normal: 8 * 0.25 = 2 videos; one clip each
    root = tree(tmp_path / "tree", {"Abuse": 4, "Normal": 8})
    out, err = run_index(capsys, root, tmp_path / "index.csv", "0.25")
    statement = [line for line in out if line.startswith("val split")]
    assert statement == ["val split (--val-fraction 0.25 of each category's train videos): 3 videos, 3 clips; "
                         "per category: Abuse 1 (1 clips), Normal 2 (2 clips)"]
    assert not [line for line in err if line.startswith("note:")]


def test_a_fraction_that_makes_no_val_video_says_so_in_one_line_with_the_fraction_that_would(tmp_path, capsys):
    # 2 and 3 train videos: 0.15 * 2 = 0.3 and 0.15 * 3 = 0.45 both round to 0; 0.5 / 2 = 0.25 gives one each
    root = tree(tmp_path / "tree", {"Abuse": 2, "Arrest": 3, "Normal": 3})
    out, err = run_index(capsys, root, tmp_path / "index.csv", "0.15")
    notes = [line for line in err if line.startswith("note:")]
    assert notes == ["note: --val-fraction 0.15 makes no val split (categories have 2-3 train videos); "
                     "--val-fraction 0.25 gives one to each category; without one, predict extracts train and test only"]
    assert val_videos(tmp_path / "index.csv").empty
    run_index(capsys, root, tmp_path / "fixed.csv", "0.25")  # the suggested fraction does what the note says
    assert val_videos(tmp_path / "fixed.csv").to_dict() == {"Abuse": 1, "Arrest": 1, "Normal": 1}
    run_index(capsys, root, tmp_path / "less.csv", "0.24")  # and is the smallest (2 decimals) that does
    assert "Abuse" not in val_videos(tmp_path / "less.csv")


def test_a_fraction_that_leaves_some_categories_empty_names_them(tmp_path, capsys):
    # Normal: 10 * 0.1 = 1 val video; Abuse 3 * 0.1 = 0.3 -> 0; Arrest has a single train video: never
    root = tree(tmp_path / "tree", {"Abuse": 3, "Arrest": 1, "Normal": 10})
    _, err = run_index(capsys, root, tmp_path / "index.csv", "0.1")
    notes = [line for line in err if line.startswith("note:")]
    assert notes == ["note: --val-fraction 0.1 leaves 2 of 3 categories without a val video (Abuse, Arrest); "
                     "--val-fraction 0.17 gives one to each category with two or more videos "
                     "(Arrest: a single train video, kept in train)"]
    run_index(capsys, root, tmp_path / "fixed.csv", "0.17")
    assert val_videos(tmp_path / "fixed.csv").to_dict() == {"Abuse": 1, "Normal": 2}


@pytest.fixture(scope="module")
def no_val(tmp_path_factory) -> Path:
    """An index (clip-len 16, stride 16) whose val fraction made no val video: train and test only."""
    root = tmp_path_factory.mktemp("noval")
    tree(root / "tree", {"Abuse": 2, "Normal": 2})
    main(["index", "--root", str(root / "tree"), "--out", str(root / "index.csv"), "--clip-len", "16",
          "--stride", "16", "--val-fraction", "0.15", "--workers", "1", "--no-progress"])
    assert set(load_index(root / "index.csv")["split"]) == {"train", "test"}
    return root / "index.csv"


def predict(index: Path, out: Path, *extra: str) -> None:
    main(["predict", "--data.index_path", str(index), "--data.img_size", "16", "--data.frames", "4",
          "--data.batch_size", "4", "--data.num_workers", "0", "--model.encoder", "r3d_18", "--model.weights", "none",
          "--writer.output_dir", str(out), "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
          *extra])


def test_predict_with_default_splits_extracts_the_splits_there_are_and_names_the_one_skipped(no_val, tmp_path, capsys):
    predict(no_val, tmp_path / "out")
    err = capsys.readouterr().err
    assert f"warning: {no_val} has no val rows; extracting train, test" in err
    manifest = json.loads((tmp_path / "out" / "manifest_r3d_18.json").read_text())
    assert sorted(manifest["splits"]) == ["test", "train"]


def test_predict_naming_a_missing_split_is_still_an_error(no_val, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        predict(no_val, tmp_path / "out", "--data.splits", "[train, val, test]")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: split 'val' has no rows in the index")
    assert not (tmp_path / "out" / "manifest_r3d_18.json").exists()


def hand_index(videos: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Index rows (one clip per video) with ``videos[category] = (train videos, val videos)``."""
    rows = [{"split": split, "category": category, "path": f"/d/{category}/{split}{i}.mp4"}
            for category, (train, val) in videos.items()
            for split, count in (("train", train), ("val", val)) for i in range(count)]
    return pd.DataFrame(rows)


def test_a_fraction_whose_only_empty_categories_have_one_video_does_not_suggest_itself():
    # 0.25: Abuse 2 videos -> floor(0.5 + 0.5) = 1 val; Normal 10 -> 3; Arrest has one video, kept in train
    _, note = val_split_report(hand_index({"Abuse": (1, 1), "Arrest": (1, 0), "Normal": (7, 3)}), 0.25, from_input=False)
    assert note == ("note: --val-fraction 0.25 leaves 1 of 3 categories without a val video (Arrest); it has a single "
                    "train video, kept in train, so no --val-fraction gives it one: add videos or give a val split")
