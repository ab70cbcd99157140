"""Bad input: one clear line naming the file/row and what to do, a non-zero exit, nothing complete-looking.

Unreadable videos are not index errors: with the default ``--data.on_error warn`` their clips get a
status, one warning line names each video, and the run finishes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import clip_rows, write_index
from lit_extract.commands.cli import main
from lit_extract.errors import LitExtractError

GOOD_VIDEO_FRAMES = 64


@pytest.fixture
def good_rows(make_video):
    rows = []
    for i, (split, category) in enumerate([("train", "Normal"), ("train", "Fighting"), ("val", "Normal"), ("test", "Fighting")]):
        rows += clip_rows(make_video(f"good_{i}.mp4", GOOD_VIDEO_FRAMES, category, seed=i), split, category, GOOD_VIDEO_FRAMES)
    return rows


def predict(index: Path, out: Path, *extra: str) -> None:
    main(["predict", "--data.index_path", str(index), "--data.img_size", "16", "--data.batch_size", "4",
          "--data.num_workers", "0", "--model.encoder", "r3d_18", "--model.weights", "none",
          "--writer.output_dir", str(out), "--trainer.accelerator", "cpu",
          "--trainer.enable_progress_bar", "false", *extra])


def expect_error(capfd, index: Path, out: Path, *fragments: str, extra: tuple[str, ...] = ()) -> str:
    """Run predict, expect exit 2 with one ``error:`` line holding ``fragments``; return that line."""
    with pytest.raises(SystemExit) as exit_info:
        predict(index, out, *extra)
    assert exit_info.value.code == 2
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, errors
    for fragment in fragments:
        assert fragment in errors[0]
    return errors[0]


def assert_nothing_complete(out: Path) -> None:
    assert not list(out.glob("manifest_*.json")) if out.exists() else True


def edit_index(tmp_path: Path, rows: list[dict], edit) -> Path:
    frame = pd.DataFrame(rows)
    frame = edit(frame)
    path = tmp_path / "edited.csv"
    frame.to_csv(path, index=False)
    return path


def test_missing_column_is_named(tmp_path, capfd, good_rows):
    index = edit_index(tmp_path, good_rows, lambda f: f.drop(columns=["end_frame"]))
    expect_error(capfd, index, tmp_path / "out", "missing column(s) end_frame", str(index))
    assert not (tmp_path / "out").exists()


def test_extra_column_only_warns_and_the_run_finishes(tmp_path, good_rows):
    index = edit_index(tmp_path, good_rows, lambda f: f.assign(note="x"))
    with pytest.warns(UserWarning, match="ignoring unknown column"):
        predict(index, tmp_path / "out", "--data.splits", "[test]")
    assert (tmp_path / "out" / "manifest_r3d_18.json").is_file()


def test_non_numeric_value_names_its_line(tmp_path, capfd, good_rows):
    def edit(frame):
        frame["start_frame"] = frame["start_frame"].astype(object)
        frame.loc[2, "start_frame"] = "abc"
        return frame

    index = edit_index(tmp_path, good_rows, edit)
    expect_error(capfd, index, tmp_path / "out", "'start_frame' must be an integer at line(s) 4")
    assert not (tmp_path / "out").exists()


def test_end_before_start_names_its_line(tmp_path, capfd, good_rows):
    def edit(frame):
        frame.loc[0, "end_frame"] = frame.loc[0, "start_frame"]
        return frame

    expect_error(capfd, edit_index(tmp_path, good_rows, edit), tmp_path / "out", "end_frame <= start_frame at line(s) 2")
    assert not (tmp_path / "out").exists()


def test_end_past_n_frames_names_its_line(tmp_path, capfd, good_rows):
    def edit(frame):
        frame.loc[1, "end_frame"] = GOOD_VIDEO_FRAMES + 5
        return frame

    expect_error(capfd, edit_index(tmp_path, good_rows, edit), tmp_path / "out", "end_frame > n_frames at line(s) 3")
    assert not (tmp_path / "out").exists()


def test_unknown_split_name_is_named(tmp_path, capfd, good_rows):
    def edit(frame):
        frame.loc[0, "split"] = "training"
        return frame

    expect_error(capfd, edit_index(tmp_path, good_rows, edit), tmp_path / "out", "unknown split name(s) training", "line(s) 2")
    assert not (tmp_path / "out").exists()


def test_empty_split_is_named(tmp_path, capfd, good_rows):
    index = edit_index(tmp_path, good_rows, lambda f: f[f["split"] != "val"])
    expect_error(capfd, index, tmp_path / "out", "split 'val' has no rows", "--data.splits",
                 extra=("--data.splits", "[train, val, test]"))  # the default skips a split without rows
    assert not (tmp_path / "out").exists()


def test_duplicate_rows_are_named(tmp_path, capfd, good_rows):
    index = edit_index(tmp_path, good_rows, lambda f: pd.concat([f, f.iloc[[3]]]))
    expect_error(capfd, index, tmp_path / "out", "duplicate clip(s)", f"line(s) {len(good_rows) + 2}")
    assert not (tmp_path / "out").exists()


def test_missing_video_file_is_named(tmp_path, capfd, good_rows):
    def edit(frame):
        frame.loc[frame["split"] == "test", "path"] = str(tmp_path / "nowhere.mp4")
        return frame

    expect_error(capfd, edit_index(tmp_path, good_rows, edit), tmp_path / "out", "1 video file(s) not found", "nowhere.mp4")
    assert not (tmp_path / "out").exists()


def test_video_in_two_splits_is_leakage(tmp_path, capfd, good_rows):
    def edit(frame):
        frame.loc[frame.index[0], "split"] = "test"
        return frame

    expect_error(capfd, edit_index(tmp_path, good_rows, edit), tmp_path / "out", "more than one split (leakage)", "good_0.mp4")
    assert not (tmp_path / "out").exists()


def test_missing_index_file_is_named(tmp_path, capfd):
    expect_error(capfd, tmp_path / "absent.csv", tmp_path / "out", "absent.csv: index file not found", "lit_extract index")


def broken_video_rows(tmp_path: Path, make_video, content: bytes | None) -> tuple[list[dict], Path]:
    good = make_video("ok.mp4", 48)
    broken = tmp_path / "videos" / "broken.mp4"
    if content is None:  # truncated: the first 40% of a real file
        data = make_video("whole.mp4", 48).read_bytes()
        content = data[: int(len(data) * 0.4)]
    broken.write_bytes(content)
    rows = clip_rows(good, "test", "Normal", 48) + clip_rows(broken, "test", "Fighting", 48)
    return rows, broken


@pytest.mark.parametrize("content", [b"", b"\x00garbage" * 64, None], ids=["0-byte", "corrupt", "truncated"])
def test_unreadable_video_warns_marks_status_2_and_finishes(tmp_path, make_video, capfd, content):
    rows, broken = broken_video_rows(tmp_path, make_video, content)
    index = write_index(tmp_path / "index.csv", rows)
    out = tmp_path / "out"
    predict(index, out, "--data.splits", "[test]")
    warnings = [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning: ") and str(broken) in line]
    assert len(warnings) == 1 and "unreadable" in warnings[0]
    status = np.load(out / "status_test.npy")
    broken_rows = np.array([row["path"] == str(broken) for row in rows])
    assert (status[broken_rows] == 2).all() and (status[~broken_rows] == 0).all()
    manifest = json.loads((out / "manifest_r3d_18.json").read_text())
    assert manifest["splits"]["test"]["affected_videos"] == {str(broken): 2}
    assert manifest["splits"]["test"]["status_counts"]["unreadable"] == int(broken_rows.sum())


def test_on_error_fail_stops_at_the_unreadable_video(tmp_path, make_video, capfd):
    rows, broken = broken_video_rows(tmp_path, make_video, b"")
    index = write_index(tmp_path / "index.csv", rows)
    out = tmp_path / "out"
    expect_error(capfd, index, out, str(broken), "unreadable", extra=("--data.splits", "[test]", "--data.on_error", "fail"))
    assert_nothing_complete(out)


def test_video_shorter_than_the_index_says_marks_status_1(tmp_path, make_video, capfd):
    short = make_video("short.mp4", 40)
    rows = clip_rows(short, "test", "Normal", 80)  # the index claims 80 frames: clips 16-48 and 32-64 run short, 48-80 has no frame
    index = write_index(tmp_path / "index.csv", rows)
    predict(index, tmp_path / "out", "--data.splits", "[test]")
    assert np.load(tmp_path / "out" / "status_test.npy").tolist() == [0, 1, 1, 2]  # frames 0-39 exist
    assert any(str(short) in line for line in capfd.readouterr().err.splitlines() if line.startswith("warning: "))


def test_paths_with_spaces_and_non_ascii_characters_work(tmp_path, make_video):
    video = make_video("vidéo de prueba ñ 1.mp4", 48)
    index = write_index(tmp_path / "índice con espacios.csv", clip_rows(video, "test", "Normal", 48))
    out = tmp_path / "salida ü"
    predict(index, out, "--data.splits", "[test]")
    assert np.load(out / "done_r3d_18_test.npy").all() and not np.load(out / "status_test.npy").any()


def test_clip_shorter_than_t_samples_repeated_frames(tmp_path, make_video):
    video = make_video("tiny.mp4", 3)
    index = write_index(tmp_path / "index.csv", clip_rows(video, "test", "Normal", 3))
    predict(index, tmp_path / "out", "--data.splits", "[test]")
    assert np.load(tmp_path / "out" / "status_test.npy").tolist() == [0]


def test_output_dir_that_cannot_be_created_is_named(tmp_path, capfd, good_rows):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    index = write_index(tmp_path / "index.csv", good_rows)
    expect_error(capfd, index, blocker / "out", "output folder can't be written", "--writer.output_dir")


def test_not_enough_disk_space_is_refused_before_writing(tmp_path, capfd, good_rows, monkeypatch):
    import shutil

    from lit_extract.extract import writer

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(writer.shutil, "disk_usage", lambda path: usage._replace(free=1000))
    index = write_index(tmp_path / "index.csv", good_rows)
    out = tmp_path / "out"
    expect_error(capfd, index, out, "for the outputs, 1.0 kB free", "free some space")
    assert not list(out.glob("*.npy"))


def test_the_free_space_check_states_small_sizes_in_bytes_or_kb_not_as_zero_gb(tmp_path, monkeypatch):
    import shutil

    from lit_extract.extract import writer

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(writer.shutil, "disk_usage", lambda path: usage._replace(free=900))
    rows, dim = 3, 512  # float16 rows, 3 bytes of labels/status/done per row, a 128-byte .npy header per file
    needed = rows * (dim * 2 + 3) + 4 * 128
    with pytest.raises(LitExtractError) as error:
        writer.check_free_space(tmp_path, [(rows, dim)])
    assert str(error.value).startswith(f"{tmp_path}: needs {needed / 1000:.1f} kB for the outputs, 900 bytes free; ")
    assert "0.00 GB" not in str(error.value)


def test_error_in_one_ddp_rank_fails_the_whole_run_and_names_the_video(tmp_path, make_video):
    # That the rerun after a crashed rank resumes (exactly the missing rows) is proven by
    # test_resume.py::test_killing_one_ddp_rank_fails_the_run_and_the_rerun_resumes.
    rows, broken = broken_video_rows(tmp_path, make_video, b"")
    index = write_index(tmp_path / "index.csv", rows)
    out = tmp_path / "out"
    failed = subprocess.run(
        [sys.executable, "-m", "lit_extract", "predict", "--data.index_path", str(index),
         "--data.img_size", "16", "--data.batch_size", "1", "--data.num_workers", "0",
         "--data.splits", "[test]", "--model.encoder", "r3d_18", "--model.weights", "none",
         "--writer.output_dir", str(out), "--writer.flush_interval_s", "0",
         "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
         "--trainer.enable_progress_bar", "false", "--data.on_error", "fail"],
        capture_output=True, text=True, timeout=180)
    assert failed.returncode != 0
    assert str(broken) in failed.stderr
    assert not (out / "manifest_r3d_18.json").exists()
