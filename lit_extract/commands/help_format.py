"""``--help`` as plain text: docstring markup removed, lines wrapped between words only.

The options' help comes from the classes' docstrings (the signature is the config), which are
written for Sphinx: ``x``, :mod:`lit_extract.index`, :func:`~a.b`. :func:`plain` turns that
markup into the words a terminal should show, and :class:`PlainHelpFormatter` wraps help lines
without cutting a long word (a module path) in two. Every parser of the command line uses it.
"""

from __future__ import annotations

import re
import textwrap

from jsonargparse import DefaultHelpFormatter

ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`(~?)([^`]+)`")  # :mod:`x`, :py:func:`~a.b`
LITERAL = re.compile(r"``(.+?)``")


def plain(text: str) -> str:
    """``text`` without reStructuredText inline markup: ``x`` -> x, :mod:`a.b` -> a.b, :func:`~a.b` -> b."""

    def role(match: re.Match[str]) -> str:
        short, target = match.groups()
        return target.rsplit(".", 1)[-1] if short else target

    return LITERAL.sub(r"\1", ROLE.sub(role, text))


class PlainHelpFormatter(DefaultHelpFormatter):
    """jsonargparse's help formatter, with :func:`plain` text, wrapped only between words."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        text = " ".join(plain(text).split())
        return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return super()._fill_text(plain(text), width, indent)
