"""Nothing lost: a run killed mid-split resumes and ends with the files of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_same_outputs, read_outputs
from lit_extract.commands.cli import main
from lit_extract.extract.module import FrozenVideoEncoder

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def dataset(six_videos):
    """Six videos of 112 frames (6 clips each): train 4, val 1, test 1 (conftest's shared index)."""
    return six_videos


def args(index: Path, out: Path, *extra: str) -> list[str]:
    # batch_size 1: every clip is computed alone, so resumed rows are byte-identical to fresh ones
    return ["predict", "--data.index_path", str(index), "--data.img_size", "32", "--data.batch_size", "1",
            "--data.num_workers", "0", "--model.encoder", "r3d_18", "--model.weights", "none",
            "--writer.output_dir", str(out), "--writer.flush_interval_s", "0",
            "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false", *extra]


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    main(args(dataset, out))
    return out


def wait_for_some_done_rows(out: Path, process: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        done = out / "done_r3d_18_train.npy"
        if done.is_file():
            count = int(np.load(done).sum())
            if count > 0:
                return count
        time.sleep(0.01)
    raise AssertionError("the run finished or stalled before any row was marked done")


def test_killed_run_resumes_to_the_same_files(dataset, uninterrupted, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "lit_extract", *args(dataset, out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_some_done_rows(out, process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_at_kill = rows_done(out)
    assert 0 < done_at_kill < 6 * 6
    assert not (out / "manifest_r3d_18.json").exists()  # an incomplete folder has no manifest

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    manifest = json.loads((out / "manifest_r3d_18.json").read_text())
    assert manifest["complete"]
    assert manifest["rows_computed"] == 6 * 6 - done_at_kill  # counted as computed: finished rows were skipped
    assert read_outputs(out, SPLITS) == read_outputs(uninterrupted, SPLITS)


def rows_done(out: Path) -> int:
    """Rows marked done in every split's resume record."""
    return sum(int(np.load(out / f"done_r3d_18_{split}.npy").sum()) for split in SPLITS)


def test_resumed_run_feeds_the_encoder_exactly_the_rows_not_done(dataset, uninterrupted, tmp_path, monkeypatch):
    out = tmp_path / "stopped"
    main(args(dataset, out, "--trainer.limit_predict_batches", "2"))  # stops early: two rows a split
    done = {split: np.load(out / f"done_r3d_18_{split}.npy").astype(bool) for split in SPLITS}
    assert [int(d.sum()) for d in done.values()] == [2, 2, 2]
    seen = {split: [] for split in SPLITS}
    real_step = FrozenVideoEncoder.predict_step

    def recording_step(self, batch, batch_idx, dataloader_idx=0):
        seen[SPLITS[dataloader_idx]] += batch["rows"].tolist()
        return real_step(self, batch, batch_idx, dataloader_idx)

    monkeypatch.setattr(FrozenVideoEncoder, "predict_step", recording_step)
    main(args(dataset, out))
    for split in SPLITS:
        assert sorted(seen[split]) == np.flatnonzero(~done[split]).tolist(), split  # each missing row once, no other
    assert read_outputs(out, SPLITS) == read_outputs(uninterrupted, SPLITS)


def test_rerun_of_a_finished_run_computes_nothing_and_says_so_in_one_line(dataset, uninterrupted, capsys):
    before = read_outputs(uninterrupted, SPLITS)
    main(args(dataset, uninterrupted))
    rows = 6 * 6  # six videos of 112 frames, clips of 32 every 16
    out = capsys.readouterr().out
    assert out.splitlines() == [f"nothing to do: {rows} of {rows} rows already done -> {uninterrupted / 'manifest_r3d_18.json'}"]
    assert read_outputs(uninterrupted, SPLITS) == before


def test_different_run_in_the_same_folder_is_refused(dataset, uninterrupted, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args(dataset, uninterrupted, "--data.frames", "4"))
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error: ") and "frames: 8 there, 4 now" in message and "--writer.overwrite" in message
    assert len(message.splitlines()) == 1


def test_overwrite_starts_over(dataset, tmp_path, capsys):
    out = tmp_path / "over"
    main(args(dataset, out, "--data.frames", "4", "--data.splits", "[test]"))
    main(args(dataset, out, "--writer.overwrite", "true", "--data.splits", "[test]"))
    manifest = json.loads((out / "manifest_r3d_18.json").read_text())
    assert manifest["frames"] == 8 and manifest["rows_computed"] == manifest["splits"]["test"]["rows"]


def ddp_rank_process(parent: int, rank: int) -> int | None:
    """Pid of the child of ``parent`` that runs DDP rank ``rank`` (Lightning sets LOCAL_RANK in its env)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"LOCAL_RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find the DDP rank process")
def test_killing_one_ddp_rank_fails_the_run_and_the_rerun_resumes(dataset, uninterrupted, tmp_path):
    out = tmp_path / "rank_killed"
    command = [sys.executable, "-m", "lit_extract", *args(dataset, out),
               "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_some_done_rows(out, process)
    rank1 = ddp_rank_process(process.pid, 1)
    assert rank1 is not None
    os.kill(rank1, signal.SIGKILL)
    _, stderr = process.communicate(timeout=120)  # no hang: the other rank is stopped too
    assert process.returncode != 0
    assert not (out / "manifest_r3d_18.json").exists()
    done_at_kill = rows_done(out)

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((out / "manifest_r3d_18.json").read_text())["rows_computed"] == 6 * 6 - done_at_kill
    assert_same_outputs(out, uninterrupted, SPLITS)
