"""SIGTERM and SIGINT stop ``predict`` at a batch boundary: rows kept, one line, exit 128 + signal, resumable."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_same_outputs, six_video_index
from lit_extract.cli import main

SPLITS = ("val", "test")
ROWS = 2 * 6  # two videos of 112 frames, clips of 32 every 16
STOPPED = re.compile(r"stopped by (SIG\w+) after (\d+) of (\d+) rows; run the same command to resume")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return six_video_index(tmp_path_factory.mktemp("stop"))


def args(index: Path, out: Path, *extra: str) -> list[str]:
    # batch_size 1: every clip is computed alone, so resumed rows are byte-identical to fresh ones
    return ["predict", "--data.index_path", str(index), "--data.img_size", "32", "--data.batch_size", "1",
            "--data.num_workers", "1", "--model.encoder", "r3d_18", "--model.weights", "none",
            "--writer.output_dir", str(out), "--writer.flush_interval_s", "0",
            "--data.splits", "[val, test]", "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
            *extra]


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    main(args(dataset, out))
    return out


def rows_done(out: Path) -> int:
    return sum(int(np.load(out / f"done_r3d_18_{split}.npy").sum()) for split in SPLITS)


def start_and_signal(command: list[str], out: Path, signum: int) -> tuple[subprocess.CompletedProcess, float]:
    """Start ``command``, send ``signum`` once some rows are done; return its result and seconds from signal to exit."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    done = out / "done_r3d_18_val.npy"
    while time.monotonic() < deadline and process.poll() is None:
        if done.is_file() and np.load(done).sum() > 0:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before the signal"
    sent = time.monotonic()
    os.kill(process.pid, signum)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), time.monotonic() - sent


def assert_done_rows_equal(out: Path, expected: Path) -> None:
    """Every row marked done holds the uninterrupted run's embedding, label and status."""
    for split in SPLITS:
        done = np.load(out / f"done_r3d_18_{split}.npy").astype(bool)
        for name in (f"emb_r3d_18_{split}.npy", f"y_{split}.npy", f"status_{split}.npy"):
            np.testing.assert_array_equal(np.load(out / name)[done], np.load(expected / name)[done], err_msg=name)


def test_sigterm_stops_after_the_batch_in_flight_says_so_in_one_line_exits_143_and_resumes(
    dataset, uninterrupted, tmp_path, capsys
):
    out = tmp_path / "stopped"
    command = [sys.executable, "-m", "lit_extract", *args(dataset, out)]
    stopped, _ = start_and_signal(command, out, signal.SIGTERM)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-2000:]
    assert "Traceback" not in stopped.stderr
    lines = [line for line in stopped.stderr.splitlines() if line.startswith(("stopped", "warning", "error"))]
    assert len(lines) == 1, stopped.stderr[-2000:]
    name, done, total = STOPPED.fullmatch(lines[0]).groups()
    assert name == "SIGTERM" and int(total) == ROWS
    assert 0 < int(done) < ROWS and int(done) == rows_done(out)  # the line counts what is on disk
    assert not (out / "manifest_r3d_18.json").exists()
    assert_done_rows_equal(out, uninterrupted)

    main(args(dataset, out))  # the same command again
    assert f"({ROWS - int(done)} computed now" in capsys.readouterr().out  # finished rows were not computed again
    assert_same_outputs(out, uninterrupted, SPLITS)


def test_sigint_stops_like_sigterm_with_exit_status_130(dataset, uninterrupted, tmp_path):
    out = tmp_path / "interrupted"
    command = [sys.executable, "-m", "lit_extract", *args(dataset, out)]
    stopped, _ = start_and_signal(command, out, signal.SIGINT)
    assert stopped.returncode == 128 + signal.SIGINT, stopped.stderr[-2000:]
    assert "Traceback" not in stopped.stderr and "KeyboardInterrupt" not in stopped.stderr
    name, done, _ = STOPPED.search(stopped.stderr).groups()
    assert name == "SIGINT" and int(done) == rows_done(out) > 0
    assert_done_rows_equal(out, uninterrupted)
