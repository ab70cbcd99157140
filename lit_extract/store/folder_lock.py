"""One writer per output folder: an advisory lock, ``{output_dir}/.lit_extract.lock``.

A ``predict`` run takes the lock before it checks or touches anything in the folder (rank 0, for
every rank of the run: the other ranks only write rows into files rank 0 prepared) and gives it
back when it ends, however it ends. A second run of any encoder into a locked folder is refused
with one line that names the holder: ``error: processed: another run is writing into this folder
(host node12, pid 4242, started 2026-11-30T09:40:00+00:00); wait for it to end or choose another
--writer.output_dir``.

The lock file holds the holder as JSON (``host``, ``pid``, ``started``); while the run lasts its
modification time is refreshed every ``HEARTBEAT_S`` seconds. Who holds the folder:

- **File systems with kernel locks** (local disks; NFS with its lock manager; Lustre mounted with
  ``-o flock``; GPFS, BeeGFS): ``fcntl.flock`` on the lock file decides. The kernel (or the NFS
  lock manager) drops the lock when the holder's process ends, even by ``kill -9``; the next run
  takes over the file it left and prints a note naming it.
- **Locks that may be local to one node** (NFS mounted ``nolock``, Lustre ``-o localflock``): a
  lock that names a holder on another host whose heartbeat is fresh (younger than
  ``STALE_AFTER_S``) is refused even though the local lock was granted.
- **No locks at all** (``flock`` fails with ENOLCK/ENOSYS/EOPNOTSUPP, e.g. Lustre without
  ``flock``): the file alone decides. It is created with ``O_EXCL``; a holder on this host is gone
  when its pid is; a holder on another host is gone when its heartbeat is older than
  ``STALE_AFTER_S``. Two runs that find the same stale file at the same moment may both take it
  over: only kernel locks close that window.

A lock is never broken while its holder may live: to take over by hand, check that the run named
in the file has ended, then delete the file.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lit_extract.errors import LitExtractError

LOCK_NAME = ".lit_extract.lock"
HEARTBEAT_S = 30.0  # how often a holder refreshes the lock file's modification time
STALE_AFTER_S = 120.0  # a lock of another host whose heartbeat is older than this is abandoned
NO_LOCKS = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}


class FolderLocked(LitExtractError):
    """Another run holds the output folder."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a folder's lock."""

    host: str
    pid: int
    started: str  # ISO 8601, UTC

    def __str__(self) -> str:
        return f"host {self.host}, pid {self.pid}, started {self.started}"

    @classmethod
    def me(cls) -> Holder:
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        return cls(socket.gethostname(), os.getpid(), started)


def read_holder(fd: int) -> Holder | None:
    """The holder recorded in the open lock file, or None when it is empty or unreadable (cut short)."""
    raw = os.pread(fd, 4096, 0)
    try:
        entry = json.loads(raw.decode("utf-8"))
        return Holder(str(entry["host"]), int(entry["pid"]), str(entry["started"]))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True


def may_be_alive(holder: Holder, heartbeat_age_s: float, kernel_lock_granted: bool) -> bool:
    """Whether the recorded ``holder`` may still be writing (see the module docstring)."""
    if holder.host == socket.gethostname():
        return not kernel_lock_granted and holder.pid != os.getpid() and pid_alive(holder.pid)
    return heartbeat_age_s < STALE_AFTER_S


class FolderLock:
    """The lock of one output folder. ``acquire()`` returns a note when it took over a stale lock."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.fd: int | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def acquire(self) -> str | None:
        """Take the lock or raise :class:`FolderLocked` naming the holder; a note when a stale lock was taken over."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = read_holder(fd)
                os.close(fd)
                raise self._refusal(holder) from None
            except OSError as exc:
                os.close(fd)
                if exc.errno not in NO_LOCKS:
                    raise
                return self._acquire_without_kernel_locks()
            if self._same_file(fd):
                break
            os.close(fd)  # the holder released (and removed) it between our open and flock: again
        try:
            note = self._take(fd, kernel_lock_granted=True)
        except BaseException:
            os.close(fd)
            raise
        return note

    def _acquire_without_kernel_locks(self) -> str | None:
        """The lock file alone: created with ``O_EXCL``, or taken over when its holder is gone."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            fd = os.open(self.path, os.O_RDWR)
        try:
            return self._take(fd, kernel_lock_granted=False)
        except BaseException:
            os.close(fd)
            raise

    def _same_file(self, fd: int) -> bool:
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def _refusal(self, holder: Holder | None) -> FolderLocked:
        who = f" ({holder})" if holder else ""
        return FolderLocked(
            f"{self.directory}: another run is writing into this folder{who}; wait for it to end or choose "
            f"another --writer.output_dir (lock file {self.path})"
        )

    def _take(self, fd: int, *, kernel_lock_granted: bool) -> str | None:
        """Record this process as the holder of the open lock file ``fd``, unless a live holder is recorded."""
        previous = read_holder(fd)
        note = None
        if previous is not None and (previous.host, previous.pid) != (socket.gethostname(), os.getpid()):
            age = time.time() - os.fstat(fd).st_mtime
            if may_be_alive(previous, age, kernel_lock_granted):
                raise self._refusal(previous)
            note = f"{self.directory}: took over the lock of a run that is gone ({previous})"
        payload = json.dumps(Holder.me().__dict__).encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, payload, 0)
        os.fsync(fd)
        self.fd = fd
        self._stop.clear()
        self._heartbeat = threading.Thread(target=self._beat, name="lit_extract-folder-lock", daemon=True)
        self._heartbeat.start()
        return note

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                pass  # a full or flaky disk: the run itself will say so

    def release(self) -> None:
        """Remove the lock file and unlock (idempotent)."""
        if self.fd is None:
            return
        self._stop.set()
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)  # drops the kernel lock
            self.fd = None
