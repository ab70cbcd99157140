"""Disk faults while writing outputs (full, over quota, read-only) as one line that says what to do.

A write or sync that fails with ``ENOSPC``, ``EDQUOT``, ``EROFS`` or ``EFBIG`` becomes a
:class:`DiskFault` (a :class:`LitExtractError`: the CLI prints ``error: ...`` and exits 2)
naming the output folder and the free space the rows not yet done still need. Rows already
marked done stay valid: a row is marked done only after its bytes were synced
(:mod:`lit_extract.extract.writer`), so the same command resumes once space is freed. Other ``OSError``
s are not disk faults and keep their traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lit_extract.errors import LitExtractError

FAULTS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EFBIG: "file too large for the file system",
}


class DiskFault(LitExtractError):
    """The output folder's file system refused a write (full, quota, read-only)."""


def size_text(n_bytes: float) -> str:
    """``n_bytes`` in the unit that shows its size: ``3.21 GB``, ``4.70 MB``, ``812.3 kB``, ``920 bytes``."""
    for unit, scale, decimals in (("GB", 1e9, 2), ("MB", 1e6, 2), ("kB", 1e3, 1)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.{decimals}f} {unit}"
    return f"{int(n_bytes):,} bytes"


def fault_line(directory: Path, exc: OSError, bytes_needed: int) -> str:
    """``<folder>: <what happened>; rows marked done are kept: free about X GB there (...) and run the same command``."""
    what = FAULTS[exc.errno]
    need = f"about {size_text(bytes_needed)} ({bytes_needed:,} bytes) for the rows not done yet"
    if exc.errno == errno.EROFS:
        todo = f"remount it writable or choose another --writer.output_dir ({need})"
    else:
        todo = f"free {need} there"
    return f"{directory}: {what} while writing the outputs; rows marked done are kept: {todo}, then run the same command to resume"


@contextmanager
def disk_faults(directory: Path, bytes_needed: Callable[[], int]) -> Iterator[None]:
    """Turn a disk fault inside the block into a :class:`DiskFault`; ``bytes_needed()`` sizes the advice."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in FAULTS:
            raise
        raise DiskFault(fault_line(directory, exc, bytes_needed())) from exc
