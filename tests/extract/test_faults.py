"""Stops and faults of a long run: SIGTERM/SIGINT, a full disk, two runs on one folder. Each ends in one line, keeps every row marked done, and the same command resumes."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_same_outputs
from lit_extract.commands.cli import main
from lit_extract.store.disk_faults import DiskFault, disk_faults

SPLITS = ("val", "test")
ROWS = 2 * 6  # two videos of 112 frames, clips of 32 every 16
STOPPED = re.compile(r"stopped by (SIG\w+) after (\d+) of (\d+) rows; run the same command to resume")


@pytest.fixture(scope="module")
def dataset(six_videos):
    """Six videos of 112 frames (6 clips each): train 4, val 1, test 1 (conftest's shared index)."""
    return six_videos


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


def wait_for_done_rows(out: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    """Return once ``process`` has marked a row done in ``out``, while it still runs."""
    deadline = time.monotonic() + timeout
    done = out / f"done_r3d_18_{SPLITS[0]}.npy"
    while time.monotonic() < deadline and process.poll() is None:
        if done.is_file() and np.load(done).sum() > 0:
            return
        time.sleep(0.01)
    raise AssertionError("the run ended or stalled before a row was marked done")


def start_and_signal(command: list[str], out: Path, signum: int) -> tuple[subprocess.CompletedProcess, float]:
    """Start ``command``, send ``signum`` once some rows are done; return its result and seconds from signal to exit."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_done_rows(out, process)
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


def fail_embedding_writes_after(monkeypatch, rows: int, code: int = errno.ENOSPC) -> None:
    """``os.pwrite`` into an embeddings file fails with ``code`` once ``rows`` such writes succeeded (batch_size 1: one row each)."""
    real_pwrite = os.pwrite
    written = {"rows": 0}

    def pwrite(fd: int, data, offset: int) -> int:
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith("emb_"):
            if written["rows"] >= rows:
                raise OSError(code, os.strerror(code))
            written["rows"] += 1
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)


def test_full_disk_mid_run_is_one_line_exit_2_keeps_done_rows_and_the_rerun_resumes(
    dataset, uninterrupted, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "full"
    with monkeypatch.context() as patch:
        fail_embedding_writes_after(patch, rows=5, code=errno.ENOSPC)
        with pytest.raises(SystemExit) as exit_info:
            main(args(dataset, out, "--data.num_workers", "0"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {out}: "), err
    needed = (ROWS - 5) * (512 * 2 + 1 + 1 + 1)  # rows left x (float16 r3d_18 embedding, label, status, done)
    assert needed == 7189  # 7 rows x 1027 bytes: shown in kB, the unit that shows its size
    assert "free about 7.2 kB (7,189 bytes) for the rows not done yet" in err[0]
    assert "run the same command to resume" in err[0]
    assert rows_done(out) == 5  # every row written before the fault was synced and marked done
    assert_done_rows_equal(out, uninterrupted)

    main(args(dataset, out, "--data.num_workers", "0"))  # space freed: the same command
    assert f"({ROWS - 5} computed now" in capsys.readouterr().out
    assert_same_outputs(out, uninterrupted, SPLITS)


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory):
    """An r3d_18 state dict other than the seeded random init of ``--model.weights none``."""
    import torch
    from torchvision.models.video import r3d_18

    torch.manual_seed(123)
    path = tmp_path_factory.mktemp("weights") / "r3d_18_other.pth"
    torch.save(r3d_18().state_dict(), path)
    return path


@pytest.mark.parametrize("code, says", [(errno.EDQUOT, "disk quota exceeded"), (errno.EROFS, "read-only"),
                                         (errno.ENOSPC, "no space left")])
def test_disk_fault_names_the_folder_the_fault_and_the_space_the_rows_left_need(tmp_path, code, says):
    with pytest.raises(DiskFault) as fault:
        with disk_faults(tmp_path, lambda: 3_210_000_000):
            raise OSError(code, os.strerror(code))
    message = str(fault.value)
    assert message.startswith(f"{tmp_path}: ") and says in message and "\n" not in message
    assert "about 3.21 GB (3,210,000,000 bytes)" in message and "run the same command to resume" in message


def test_other_os_errors_are_not_disk_faults(tmp_path):
    with pytest.raises(PermissionError):
        with disk_faults(tmp_path, lambda: 0):
            raise PermissionError(errno.EACCES, "denied")


def test_second_run_into_a_folder_being_written_is_refused_naming_the_holder_and_the_first_ends_as_a_lone_run(
    dataset, uninterrupted, other_weights, tmp_path, capsys
):
    out = tmp_path / "shared"
    command = [sys.executable, "-m", "lit_extract", *args(dataset, out)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_done_rows(out, first)
    # other weights, and --writer.overwrite: without the lock it would delete the first run's files and write its own
    with pytest.raises(SystemExit) as exit_info:
        main(args(dataset, out, "--model.weights", str(other_weights), "--writer.overwrite", "true",
                  "--data.num_workers", "0"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"error: {out}: another run is writing into this folder (host ")
    assert f", pid {first.pid}, started " in err[0]
    _, stderr = first.communicate(timeout=240)
    assert first.returncode == 0, stderr[-2000:]
    assert_same_outputs(out, uninterrupted, SPLITS)
    assert not (out / ".lit_extract.lock").exists()  # given back at the end


def fake_slurm(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The environment of a one-task SLURM batch job, with an ``scontrol`` that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol_calls"
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    scontrol.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "extract",
           "SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
           "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost"}
    return env, calls


def test_slurm_requeue_signal_requeues_the_job_and_the_requeued_run_resumes(dataset, uninterrupted, tmp_path):
    """``#SBATCH --signal=SIGUSR1@90``: Lightning requeues (scontrol requeue), SLURM then sends SIGTERM."""
    env, calls = fake_slurm(tmp_path)
    out = tmp_path / "requeued"
    command = [sys.executable, "-m", "lit_extract", *args(dataset, out)]
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    wait_for_done_rows(out, job)
    os.kill(job.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while not calls.is_file() and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.05)
    assert calls.read_text().split() == ["requeue", "4242"]
    os.kill(job.pid, signal.SIGTERM)  # what SLURM does to a requeued job
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert STOPPED.search(stderr)
    assert not (out / "manifest_r3d_18.json").exists() or rows_done(out) == ROWS

    requeued = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)
    assert requeued.returncode == 0, requeued.stderr[-2000:]
    assert_same_outputs(out, uninterrupted, SPLITS)


def test_sigterm_stops_every_ddp_rank_at_a_batch_boundary_without_a_hang_and_the_run_resumes(
    dataset, uninterrupted, tmp_path, capsys
):
    out = tmp_path / "ddp_stopped"
    ddp = ("--trainer.devices", "2", "--trainer.strategy", "ddp")
    command = [sys.executable, "-m", "lit_extract", *args(dataset, out, *ddp)]
    stopped, _ = start_and_signal(command, out, signal.SIGTERM)  # to rank 0; Lightning's launcher forwards it
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-2000:]
    assert "Traceback" not in stopped.stderr
    lines = [line for line in stopped.stderr.splitlines() if line.startswith(("stopped", "warning", "error"))]
    assert len(lines) == 1 and int(STOPPED.fullmatch(lines[0]).group(2)) == rows_done(out) < ROWS, stopped.stderr[-2000:]
    assert_done_rows_equal(out, uninterrupted)

    main(args(dataset, out))  # resumed by one process
    assert_same_outputs(out, uninterrupted, SPLITS)
