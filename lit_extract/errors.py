"""The one exception type users see.

A :class:`LitExtractError` carries a one-line message that names the offending file/row and says
what to do. The CLI prints it as ``error: <message>`` and exits with status 2, without a
traceback. Anything else that escapes is a bug in lit_extract and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class LitExtractError(Exception):
    """Bad input or environment, explained in one line for the user."""


def first_few(items: Sequence[object], limit: int = 5) -> str:
    """Format ``items`` as ``a, b, c (+N more)`` for error messages."""
    shown = ", ".join(str(item) for item in items[:limit])
    extra = len(items) - limit
    return f"{shown} (+{extra} more)" if extra > 0 else shown
