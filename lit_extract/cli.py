"""Command line: ``python -m lit_extract {predict,probe,fit,test,index,inspect} ...``.

``predict`` and ``probe``/``fit``/``test`` are LightningCLI programs: every class argument is a
flag (``--data.*``, ``--model.*``, ``--trainer.*``) and a ``--config`` YAML. ``index`` and
``inspect`` are plain jsonargparse commands. Errors a user can fix are printed as one line
``error: ...`` with exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from lit_extract.errors import LitExtractError

COMMANDS = ("predict", "probe", "fit", "test", "index", "inspect", "demo")


def main(argv: Sequence[str] | None = None) -> None:
    """Dispatch to the command named by ``argv[0]``; exit 2 with one line on a :class:`LitExtractError`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: python -m lit_extract {{{','.join(COMMANDS)}}} [--help] ...", file=sys.stderr)
        sys.exit(0 if args and args[0] in ("-h", "--help") else 2)
    command, rest = args[0], args[1:]
    try:
        if command == "predict":
            run_predict(rest)
        elif command in ("probe", "fit", "test"):
            run_probe(command, rest)
        elif command == "index":
            run_index(rest)
        elif command == "inspect":
            run_inspect(rest)
        elif command == "demo":
            run_demo(rest)
    except LitExtractError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        sys.exit(2)


def one_line(exc: BaseException) -> str:
    """The user-facing line of an error, also when a DataLoader worker re-raised it with a traceback."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    last = lines[-1]
    prefix = f"{type(exc).__name__}: "
    return last[len(prefix):] if last.startswith(prefix) else last


def run_predict(args: list[str]) -> None:
    raise NotImplementedError  # being written


def run_probe(command: str, args: list[str]) -> None:
    raise NotImplementedError  # being written


def run_index(args: list[str]) -> None:
    raise NotImplementedError  # being written


def run_inspect(args: list[str]) -> None:
    raise NotImplementedError  # being written


def run_demo(args: list[str]) -> None:
    raise NotImplementedError  # being written
