"""Every file a command writes gets the mode ``open()`` gives a new file, ``0o666 & ~umask``
(0644 under umask 022): colleagues on a shared machine can read the outputs.

One small chain runs under umask 022: ``index`` -> ``predict`` -> ``probe`` -> ``compare`` ->
``export`` -> ``inspect --plot``; then every file each wrote is listed with its mode.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest

from lit_extract.atomic import save_figure_atomic, save_npy_atomic, write_json_atomic, write_text_atomic
from lit_extract.commands.cli import main

PROBE_YAML = """\
seed_everything: 0
trainer:
  max_epochs: 2
  enable_progress_bar: false
  enable_model_summary: false
"""


def write_video(path: Path, n_frames: int, level: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (32, 32))
    for k in range(n_frames):
        writer.write(np.full((32, 32, 3), (level + 5 * k) % 256, dtype=np.uint8))
    writer.release()


def modes(folder: Path) -> dict[str, int]:
    """``relative path -> permission bits`` of every regular file under ``folder``."""
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    """The output folder of each command of the chain, all run under umask 022."""
    root = tmp_path_factory.mktemp("modes")
    for split, count in (("train", 4), ("val", 2), ("test", 2)):
        for category, level in (("Normal", 20), ("Abuse", 200)):
            for i in range(count):
                write_video(root / f"videos/{split}/{category}/{category}{split}{i}_x264.mp4", 32, level + 7 * i)
    (root / "annotations.txt").write_text(
        "Normaltest0_x264.mp4 Normal -1 -1 -1 -1\nNormaltest1_x264.mp4 Normal -1 -1 -1 -1\n"
        "Abusetest0_x264.mp4 Abuse 5 20 -1 -1\nAbusetest1_x264.mp4 Abuse 1 32 -1 -1\n")
    (root / "probe.yaml").write_text(PROBE_YAML)
    out = {name: root / name for name in ("index", "predict", "probe", "compare", "export", "inspect")}
    previous = os.umask(0o022)
    try:
        main(["index", "--root", str(root / "videos"), "--out", str(out["index"] / "index_clips.csv"),
              "--clip-len", "16", "--stride", "16", "--workers", "1", "--no-progress"])
        main(["predict", "--data.index_path", str(out["index"] / "index_clips.csv"), "--data.img_size", "16",
              "--data.frames", "4", "--data.batch_size", "4", "--data.num_workers", "0", "--model.encoder", "r3d_18",
              "--model.weights", "none", "--writer.output_dir", str(out["predict"]), "--trainer.accelerator", "cpu",
              "--trainer.enable_progress_bar", "false"])
        manifest = str(out["predict"] / "manifest_r3d_18.json")
        main(["probe", "--config", str(root / "probe.yaml"), "--data.manifest", manifest,
              "--data.annotations", str(root / "annotations.txt"), "--trainer.default_root_dir", str(out["probe"])])
        main(["compare", str(out["predict"]), "--out", str(out["compare"]), "--probe_config", str(root / "probe.yaml"),
              "--annotations", str(root / "annotations.txt")])
        main(["export", "--manifest", manifest, "--out", str(out["export"]),
              "--annotations", str(root / "annotations.txt")])
        main(["inspect", manifest, "--plot", str(out["inspect"] / "pca.png")])
    finally:
        os.umask(previous)
    return out


@pytest.mark.parametrize("command", ["index", "predict", "probe", "compare", "export", "inspect"])
def test_every_output_of_the_command_is_readable_by_others_under_umask_022(outputs, command):
    written = modes(outputs[command])
    assert written, f"{command} wrote nothing"
    assert written == {name: 0o644 for name in written}


def test_the_chain_wrote_what_each_command_promises(outputs):
    """The mode test above looked at the real outputs, not at an empty or partial folder."""
    assert {"index_clips.csv", "index_clips_skipped.csv"} <= set(modes(outputs["index"]))
    assert {"manifest_r3d_18.json", "emb_r3d_18_train.npy", "done_r3d_18_test.npy"} <= set(modes(outputs["predict"]))
    probe_files = {Path(name).name for name in modes(outputs["probe"])}
    assert {"metrics.json", "scores_test.npy", "roc_test.png", "metrics.csv"} <= probe_files
    assert any(name.endswith(".ckpt") for name in probe_files)
    assert {"compare.csv", "compare.md", "roc_test.png"} <= set(modes(outputs["compare"]))
    assert {"train.list", "test.list", "gt-ucf.npy", "Abusetest0_x264_r3d_18.npy"} <= set(modes(outputs["export"]))
    assert set(modes(outputs["inspect"])) == {"pca.png"}


@pytest.mark.parametrize("umask", [0o002, 0o077])
def test_atomic_writes_take_their_mode_from_the_umask(tmp_path, umask):
    from matplotlib.figure import Figure

    previous = os.umask(umask)
    try:
        save_npy_atomic(tmp_path / "a.npy", np.zeros(3))
        write_text_atomic(tmp_path / "b.list", "x\n")
        write_json_atomic(tmp_path / "c.json", {"a": 1})
        save_figure_atomic(Figure(), tmp_path / "d.png")
        with open(tmp_path / "reference", "w"):  # what open() gives a new file under this umask
            pass
    finally:
        os.umask(previous)
    expected = stat.S_IMODE((tmp_path / "reference").stat().st_mode)
    assert expected == 0o666 & ~umask
    assert modes(tmp_path) == {name: expected for name in ("a.npy", "b.list", "c.json", "d.png", "reference")}


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "a.json"
    write_json_atomic(target, {"old": 1})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"new": object()})  # not JSON-serializable: fails mid-write
    assert target.read_text() == '{\n  "old": 1\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
