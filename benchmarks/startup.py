"""Time how long the command line takes to answer ``--help`` and a mistyped option, before and now.

    python benchmarks/startup.py                        # this checkout, best of 3
    python benchmarks/startup.py --before f055f52       # beside lit_extract as of that commit
    python benchmarks/startup.py --repeats 5 -- "predict --help" "index --help"

Each command runs as a user runs it, ``python -m lit_extract ...`` in a fresh interpreter, and the
wall time of the whole process is measured (interpreter start, imports, parsing, the answer);
the best of ``--repeats`` runs is reported (other jobs on a shared machine only ever slow a run
down). Columns:

- ``before``: lit_extract as of ``--before`` (``git archive`` of that commit's package, imported
  from a temporary folder);
- ``now, first run``: this checkout with an empty parser-record folder (``LIT_EXTRACT_CACHE``):
  ``predict``/``probe`` build their parser, as on the very first invocation after an install or
  an upgrade;
- ``now``: this checkout once the record exists (every later invocation, see
  ``lit_extract/commands/parser_cache.py``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (
    "--help", "index --help", "inspect --help", "export --help", "compare --help", "demo --help",
    "predict --help", "probe --help", "fit --help", "predict --data.batchsize 4", "probe --data.manifst m.json",
)


def wall_seconds(args: list[str], pythonpath: Path, cache: Path) -> float:
    """Seconds ``python -m lit_extract <args>`` takes in a fresh interpreter, importing from ``pythonpath``."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "LIT_EXTRACT_CACHE": str(cache)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lit_extract", *args], env=env, cwd=tempfile.gettempdir(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def best(args: list[str], pythonpath: Path, repeats: int, *, warm: bool) -> float:
    """Best of ``repeats`` runs; ``warm``: with the record of an earlier run, else each run with none."""
    times = []
    with tempfile.TemporaryDirectory() as kept:
        if warm:
            wall_seconds(args, pythonpath, Path(kept))  # the first invocation writes the record
        for _ in range(repeats):
            if warm:
                times.append(wall_seconds(args, pythonpath, Path(kept)))
            else:
                with tempfile.TemporaryDirectory() as empty:
                    times.append(wall_seconds(args, pythonpath, Path(empty)))
    return min(times)


def checkout_of(ref: str, folder: Path) -> Path:
    """The ``lit_extract`` package as of git ``ref``, unpacked under ``folder``."""
    archive = subprocess.run(["git", "archive", ref, "lit_extract"], check=True, capture_output=True, cwd=ROOT).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", metavar="GIT_REF", help="also time lit_extract as of this commit")
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing; the best is reported")
    parser.add_argument("commands", nargs="*", default=list(COMMANDS),
                        help="command lines to time (after --, each quoted); default: help and typos of every command")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, best of {args.repeats}; load average {os.getloadavg()[0]:.2f} "
          f"(cores: {os.cpu_count()})")
    header = f"{'command':<32}" + (f"{'before':>10}" if args.before else "") + f"{'now, first run':>16}{'now':>8}"
    print(header)
    with tempfile.TemporaryDirectory() as folder:
        before = checkout_of(args.before, Path(folder)) if args.before else None
        for command in args.commands:
            words = shlex.split(command)
            row = f"{command:<32}"
            if before is not None:
                row += f"{best(words, before, args.repeats, warm=True):>9.2f}s"
            row += f"{best(words, ROOT, args.repeats, warm=False):>15.2f}s"
            row += f"{best(words, ROOT, args.repeats, warm=True):>7.2f}s"
            print(row, flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
