"""Atomic file writes that honour the umask: readers see the old file or the whole new one.

Every file lit_extract writes whole (feature files, lists, JSON, CSV, tables, figures) goes
through :func:`atomic_path`: the content is written to a temp file next to the target, flushed,
given the mode ``open()`` would give a new file (``0o666 & ~umask``: 0644 under umask 022, so
colleagues on a shared cluster can read it; ``tempfile.mkstemp`` alone gives 0600), then
renamed over the target. A run killed mid-write leaves a hidden ``.<name>.*.tmp``, never a
truncated ``<name>``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def current_umask() -> int:
    """The process umask: from ``/proc/self/status`` where there is one (no race with other
    threads), else by setting it and setting it back."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on a clean exit give it the umask's mode, then rename it to ``path``.

    The caller writes the whole file to the yielded path (``np.save``, ``DataFrame.to_csv``,
    ``Figure.savefig``, ...). On an exception the temp file is removed and ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:  # the writer may have closed it unsynced
            os.fsync(handle.fileno())
        os.chmod(tmp, new_file_mode())  # mkstemp made it 0600
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_npy_atomic(path: str | Path, array: np.ndarray) -> None:
    """``np.save(path, array)`` atomically (exactly ``path``: no ``.npy`` is appended)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2)


def save_figure_atomic(figure: Any, path: str | Path, **savefig_kwargs: Any) -> None:
    """``figure.savefig(path)`` atomically, in the format of ``path``'s suffix (``.png``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=path.suffix.lstrip(".") or "png", **savefig_kwargs)
