"""The one exception type users see.

A :class:`LitExtractError` carries a one-line message that names the offending file/row and says
what to do. The CLI prints it as ``error: <message>`` and exits with status 2, without a
traceback. Anything else that escapes is a bug in lit_extract and keeps its traceback.

:func:`parse_error_line` turns a command-line parse error into such a line.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence


class LitExtractError(Exception):
    """Bad input or environment, explained in one line for the user."""


def first_few(items: Sequence[object], limit: int = 5) -> str:
    """Format ``items`` as ``a, b, c (+N more)`` for error messages."""
    shown = ", ".join(str(item) for item in items[:limit])
    extra = len(items) - limit
    return f"{shown} (+{extra} more)" if extra > 0 else shown


def parse_error_line(message: str, known: Sequence[str]) -> str:
    """jsonargparse's error ``message`` as one line; unknown flags are named with the closest known one."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    prefix = "unrecognized arguments:"
    if not lines or not lines[0].startswith(prefix):
        return " ".join(lines)
    unknown = [token.split("=", 1)[0] for token in lines[0][len(prefix):].split() if token.startswith("-")]
    if not unknown:
        return " ".join(lines)
    parts = []
    for flag in unknown:
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
        parts.append(f"unknown option {flag}" + (f"; did you mean {close[0]}?" if close else ""))
    return "; ".join(parts) + " (--help lists the options)"
