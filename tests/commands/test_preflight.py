"""``predict`` checks its cheap inputs (settings, index, output folder, local weights files) before
anything that may download weights: one rerun fixes one problem, not two in turn.

Offline is simulated: torchvision's weight download raises the URLError a machine without network gets,
and every call is recorded, so these tests mean the same with or without a network.
"""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import pytest

from conftest import clip_rows, write_index
from lit_extract.commands.cli import main
from lit_extract.commands.demo import barcode_frame, write_video


@pytest.fixture
def offline(monkeypatch) -> list[str]:
    """torchvision weight downloads fail as offline; returns the URLs asked for."""
    asked: list[str] = []

    def no_network(url, *args, **kwargs):
        asked.append(url)
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", no_network)  # what WeightsEnum calls
    return asked


@pytest.fixture
def index(tmp_path) -> Path:
    path = write_video(tmp_path / "v.mp4", (barcode_frame(k, 32, 32, "Normal", 0) for k in range(16)))
    return write_index(tmp_path / "index_clips.csv", clip_rows(path, "train", "Normal", 16, clip_len=16, stride=16))


def predict_error(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--model.encoder", "r3d_18", "--model.weights", "DEFAULT", "--data.num_workers", "0",
              "--trainer.accelerator", "cpu", *args])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1]


def test_default_weights_offline_fail_as_offline(index, tmp_path, offline, capsys):
    """The simulation holds: with every input fine, the download is what fails."""
    error = predict_error(capsys, "--data.index_path", str(index), "--writer.output_dir", str(tmp_path / "out"))
    assert error.startswith("error: could not download r3d_18 weights") and len(offline) == 1


def test_a_missing_index_is_reported_before_the_default_weights_are_downloaded(tmp_path, offline, capsys):
    missing = tmp_path / "nowhere" / "index_clips.csv"
    error = predict_error(capsys, "--data.index_path", str(missing), "--writer.output_dir", str(tmp_path / "out"))
    assert error == f"error: {missing}: index file not found; build one with `python -m lit_extract index`"
    assert offline == []


def test_an_unreadable_index_is_reported_before_the_default_weights_are_downloaded(tmp_path, offline, capsys):
    bad = tmp_path / "index_clips.csv"
    bad.write_text("split,y\ntrain\n")
    error = predict_error(capsys, "--data.index_path", str(bad), "--writer.output_dir", str(tmp_path / "out"))
    assert error.startswith(f"error: {bad}") and offline == []


def test_a_bad_data_setting_is_reported_before_the_default_weights_are_downloaded(index, tmp_path, offline, capsys):
    error = predict_error(capsys, "--data.index_path", str(index), "--data.batch_size", "0",
                          "--writer.output_dir", str(tmp_path / "out"))
    assert error == "error: --data.batch_size must be >= 1, got 0" and offline == []


def test_an_output_folder_that_cannot_be_made_is_reported_before_the_weights_are_downloaded(index, tmp_path, offline, capsys):
    (tmp_path / "a_file").write_text("")
    error = predict_error(capsys, "--data.index_path", str(index), "--writer.output_dir", str(tmp_path / "a_file/out"))
    assert error.startswith(f"error: {tmp_path / 'a_file/out'}: output folder can't be written ({tmp_path / 'a_file'} is not a folder)")
    assert "--writer.output_dir" in error
    assert offline == []


def test_a_missing_weights_file_of_a_later_encoder_is_reported_before_the_first_downloads(index, tmp_path, offline, capsys):
    missing = tmp_path / "mc3.pth"
    error = predict_error(capsys, "--data.index_path", str(index), "--writer.output_dir", str(tmp_path / "out"),
                          "--model.encoder", "[r3d_18, mc3_18]", "--model.weights", f"[DEFAULT, {missing}]")
    assert error.startswith(f"error: {missing}: weights file of mc3_18 not found") and offline == []
