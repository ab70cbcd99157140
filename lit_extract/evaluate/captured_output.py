"""Send everything a block prints to a log file instead of the terminal.

``compare`` runs one probe per encoder; each probe's progress, Lightning's messages and its
results table belong in that probe's own log, not between the command's table and its user.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path


@contextmanager
def captured_output(log: str | Path) -> Iterator[Path]:
    """Inside the block, ``sys.stdout``, ``sys.stderr`` and every logging ``StreamHandler`` that
    writes to either of them write to ``log`` (truncated first; mode ``0o666 & ~umask``).

    Handlers get their own stream back on exit, also when the block raises.
    """
    log = Path(log)
    terminals = {id(sys.stdout), id(sys.stderr), id(sys.__stdout__), id(sys.__stderr__)}
    with open(log, "w", encoding="utf-8") as handle, redirect_stdout(handle), redirect_stderr(handle):
        moved: list[tuple[logging.StreamHandler, object]] = []
        for handler in stream_handlers():
            if id(handler.stream) in terminals:
                moved.append((handler, handler.setStream(handle)))
        try:
            yield log
        finally:
            for handler, stream in moved:
                handler.setStream(stream)


def stream_handlers() -> list[logging.StreamHandler]:
    """Every ``StreamHandler`` (not ``FileHandler``) attached to the root or a named logger."""
    named = [logger for logger in list(logging.root.manager.loggerDict.values()) if isinstance(logger, logging.Logger)]
    handlers = {id(h): h for logger in (logging.getLogger(), *named) for h in logger.handlers}
    return [h for h in handlers.values() if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]
