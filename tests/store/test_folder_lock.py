"""The output folder's lock: one holder, refusals name it, stale locks are taken over, the NFS/Lustre rules."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from lit_extract.store.folder_lock import LOCK_NAME, STALE_AFTER_S, FolderLock, FolderLocked


def write_holder(folder, host: str, pid: int, age_s: float = 0.0) -> None:
    path = folder / LOCK_NAME
    path.write_text(json.dumps({"host": host, "pid": pid, "started": "2026-11-30T09:00:00+00:00"}))
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def no_kernel_locks(monkeypatch):
    """A file system whose flock fails (Lustre without -o flock)."""

    def flock(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", flock)


def test_second_lock_of_a_held_folder_is_refused_in_one_line_naming_the_holder(tmp_path):
    first = FolderLock(tmp_path)
    assert first.acquire() is None
    with pytest.raises(FolderLocked) as refused:
        FolderLock(tmp_path).acquire()
    message = str(refused.value)
    assert "\n" not in message
    assert f"(host {socket.gethostname()}, pid {os.getpid()}, started " in message
    first.release()


def test_released_lock_is_removed_and_can_be_taken_again(tmp_path):
    lock = FolderLock(tmp_path)
    lock.acquire()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()
    again = FolderLock(tmp_path)
    assert again.acquire() is None
    again.release()


def test_lock_file_records_host_pid_and_start_time(tmp_path):
    lock = FolderLock(tmp_path)
    lock.acquire()
    entry = json.loads((tmp_path / LOCK_NAME).read_text())
    assert entry["host"] == socket.gethostname() and entry["pid"] == os.getpid() and entry["started"].endswith("+00:00")
    lock.release()


def test_lock_left_by_a_killed_run_is_taken_over_with_a_note(tmp_path):
    gone = dead_pid()
    write_holder(tmp_path, socket.gethostname(), gone)
    lock = FolderLock(tmp_path)
    note = lock.acquire()
    assert note is not None and f"pid {gone}" in note and "gone" in note
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()


def test_kernel_lock_held_by_another_process_is_refused(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from lit_extract.store.folder_lock import FolderLock; "
         "FolderLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderLocked, match=f"pid {holder.pid},"):
            FolderLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = FolderLock(tmp_path)  # killed: the kernel dropped its lock
    assert f"pid {holder.pid}" in lock.acquire()
    lock.release()


def test_granted_lock_is_still_refused_while_another_hosts_heartbeat_is_fresh(tmp_path):
    """NFS mounted nolock / Lustre localflock: the kernel lock may be local to one node."""
    write_holder(tmp_path, "other-node", 4242, age_s=5)
    with pytest.raises(FolderLocked, match="host other-node, pid 4242"):
        FolderLock(tmp_path).acquire()


def test_another_hosts_lock_with_a_stale_heartbeat_is_taken_over(tmp_path):
    write_holder(tmp_path, "other-node", 4242, age_s=STALE_AFTER_S + 5)
    lock = FolderLock(tmp_path)
    assert "host other-node, pid 4242" in lock.acquire()
    lock.release()


def test_without_kernel_locks_a_live_holder_on_this_host_is_refused(tmp_path, no_kernel_locks):
    write_holder(tmp_path, socket.gethostname(), os.getppid(), age_s=STALE_AFTER_S + 5)  # alive, however old
    with pytest.raises(FolderLocked, match=f"pid {os.getppid()},"):
        FolderLock(tmp_path).acquire()


def test_without_kernel_locks_a_dead_holder_on_this_host_is_taken_over(tmp_path, no_kernel_locks):
    gone = dead_pid()
    write_holder(tmp_path, socket.gethostname(), gone)
    lock = FolderLock(tmp_path)
    assert f"pid {gone}" in lock.acquire()
    with pytest.raises(FolderLocked):  # and now it is held by this process's lock file alone
        _acquire_as_another_process(tmp_path)
    lock.release()


def _acquire_as_another_process(folder) -> None:
    """Acquire from a child process (without kernel locks too); raise FolderLocked if it was refused."""
    code = (
        "import errno, fcntl, os, sys\n"
        "def flock(fd, op): raise OSError(errno.ENOLCK, 'no locks')\n"
        "fcntl.flock = flock\n"
        "from lit_extract.store.folder_lock import FolderLock, FolderLocked\n"
        "try:\n    FolderLock(sys.argv[1]).acquire()\nexcept FolderLocked as exc:\n    print(exc); sys.exit(3)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=60)
    if result.returncode == 3:
        raise FolderLocked(result.stdout.strip())
    assert result.returncode == 0, result.stderr
