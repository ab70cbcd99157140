"""Progress in a log (stdout not a terminal, as under pytest's capture or a cluster job): a bounded
number of plain lines, never a redrawn bar; on a terminal, the bars."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import clip_rows, write_index
from lit_extract.commands.cli import main
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.commands.progress import ClipProgressBar, ProgressLog, progress_callbacks
from test_probe import CONFIG, gaussian_run

CLIPS_PER_SPLIT = 12  # 3 videos of 4 back-to-back 16-frame clips; at batch size 1, 12 batches per split


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("progress")
    rows = []
    for i, split in enumerate(["train"] * 3 + ["val"] * 3 + ["test"] * 3):
        path = write_video(root / f"v{i}.mp4", (barcode_frame(k, 32, 32, "Normal", i) for k in range(64)))
        rows += clip_rows(path, split, "Normal", 64, clip_len=16, stride=16)
    return write_index(root / "index_clips.csv", rows)


def test_predict_in_a_log_prints_at_most_one_line_per_tenth_of_each_split_and_no_bar(index, tmp_path, capsys):
    main(["predict", "--data.index_path", str(index), "--data.img_size", "16", "--data.frames", "4",
          "--data.batch_size", "1", "--data.num_workers", "0", "--model.encoder", "r3d_18", "--model.weights", "none",
          "--writer.output_dir", str(tmp_path / "out"), "--trainer.accelerator", "cpu"])
    out = capsys.readouterr().out
    assert "\r" not in out  # no bar redrawn in place
    progress = [line for line in out.splitlines() if line.startswith("Extracting")]
    for split in ("train", "val", "test"):
        lines = [line for line in progress if line.startswith(f"Extracting {split}:")]
        assert 1 <= len(lines) <= 10, lines
        percents = [int(re.match(rf"Extracting {split}: (\d+)%", line).group(1)) for line in lines]
        assert percents == sorted(set(percents)) and percents[-1] == 100
        assert f"({CLIPS_PER_SPLIT}/{CLIPS_PER_SPLIT} batches, {CLIPS_PER_SPLIT} clips," in lines[-1]
    assert len(progress) <= 30


def test_probe_in_a_log_prints_one_line_per_epoch_and_no_bar(tmp_path, capsys):
    manifest = gaussian_run(tmp_path / "run", shift=1.0, rows=600, dim=8)
    main(["probe", "--config", str(CONFIG), "--data.manifest", str(manifest), "--data.batch_size", "64",
          "--trainer.max_epochs", "6", "--early_stopping.patience", "100",
          "--trainer.default_root_dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert "\r" not in out
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == [f"epoch {e}/6" for e in range(1, 7)]
    assert all("train_loss" in line and "val_auroc" in line for line in epochs)


def test_on_a_terminal_the_bars_are_kept(monkeypatch):
    monkeypatch.setattr("lit_extract.commands.progress.on_terminal", lambda: True)
    bar = ClipProgressBar()
    assert progress_callbacks({}, bar) == ([bar], {})
    assert progress_callbacks({}, None) == ([], {})  # Lightning's own bar


def test_in_a_log_the_bars_are_off_and_lines_printed(monkeypatch):
    monkeypatch.setattr("lit_extract.commands.progress.on_terminal", lambda: False)
    callbacks, settings = progress_callbacks({}, ClipProgressBar())
    assert [type(c) for c in callbacks] == [ProgressLog] and settings == {"enable_progress_bar": False}


def test_progress_bars_turned_off_turn_the_lines_off_too(monkeypatch):
    for terminal in (True, False):
        monkeypatch.setattr("lit_extract.commands.progress.on_terminal", lambda terminal=terminal: terminal)
        assert progress_callbacks({"enable_progress_bar": False}, ClipProgressBar()) == ([], {})
