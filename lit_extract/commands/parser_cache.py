"""What a LightningCLI program accepts, kept on disk so that ``--help`` and a mistyped option are
answered without importing torch and Lightning.

``predict`` and ``probe``/``fit``/``test`` build their parser from the classes' signatures, which
means importing torch, Lightning and the encoders: seconds. Each time such a parser is built
(every run), :func:`save` records its short help, its ``--flags`` and its nested keys. The next
invocation of that program asks :func:`answer` first, with only the standard library, PyYAML and
the files' hashes to go on:

- ``--help`` alone: prints the recorded help, exit status 0;
- an option that is no flag of the program: raises the same :class:`LitExtractError` line
  as the full parser would (``unknown option --data.batchsize; did you mean --data.batch_size?``);
- a ``--config`` YAML with a key that is no option: raises the line of :func:`check_config_keys`;
- anything else: returns, and the program builds its parser as usual.

A record is valid for one state of the code and its libraries only: its file name is a hash of
every ``lit_extract`` source file and of the versions of the libraries that shape the parser
(:func:`fingerprint`). The folder is ``$LIT_EXTRACT_CACHE``, else ``$XDG_CACHE_HOME/lit_extract``,
else ``~/.cache/lit_extract``; a folder that can't be written only costs the speed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from lit_extract.errors import LitExtractError, parse_error_line

PACKAGE = Path(__file__).resolve().parents[1]  # lit_extract/
LIBRARIES = ("jsonargparse", "lightning", "torch", "torchvision", "timm", "transformers", "docstring-parser")
HELP_FLAGS = ("-h", "--help")
CONFIG_FLAGS = ("-c", "--config")
# Keys a group of a --config YAML may hold besides its options (jsonargparse's class syntax).
CLASS_KEYS = ("class_path", "init_args", "dict_kwargs", "__path__")


def cache_folder() -> Path:
    """Where the records live (see the module docstring)."""
    if os.environ.get("LIT_EXTRACT_CACHE"):
        return Path(os.environ["LIT_EXTRACT_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "lit_extract"


def fingerprint() -> str:
    """A hash of the code and libraries a parser is built from: every ``lit_extract/**/*.py`` file's
    path and bytes, the Python version and the versions of :data:`LIBRARIES`."""
    digest = hashlib.sha256(sys.version.encode())
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    for name in LIBRARIES:
        try:
            digest.update(f"{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}=-".encode())
    return digest.hexdigest()[:20]


def record_path(program: str) -> Path:
    """The record of ``program`` (``predict``, ``probe``, ``fit``, ``test``) for this code and these libraries."""
    return cache_folder() / f"{program}-{fingerprint()}.json"


def save(program: str, help_text: str, options: Iterable[str], groups: Iterable[str]) -> None:
    """Record ``program``'s short help, its ``--flags`` (``options``) and its option groups
    (``data``, ``model``, ...: ``--data`` loads a file, ``--data.x`` are its options). Never raises."""
    from lit_extract.atomic import write_json_atomic

    try:
        path = record_path(program)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"help": help_text, "options": sorted(set(options)), "groups": sorted(set(groups))})
    except OSError:
        pass  # a read-only home: every invocation builds its parser, as before


def load(program: str) -> dict[str, Any] | None:
    """``program``'s record for this code and these libraries, or ``None``."""
    try:
        record = json.loads(record_path(program).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and {"help", "options", "groups"} <= set(record) else None


def answer(program: str, args: Sequence[str]) -> None:
    """Answer ``args`` from ``program``'s record where it can (see the module docstring): print the
    help and exit 0, or raise :class:`LitExtractError`; return when the full parser is needed."""
    record = load(program)
    if record is None:
        return
    options, groups = record["options"], record["groups"]
    if args and all(arg in HELP_FLAGS for arg in args):
        print(record["help"], end="")
        sys.exit(0)
    unknown = unknown_flags(args, options, groups)
    if unknown:
        raise LitExtractError(parse_error_line(f"unrecognized arguments: {' '.join(unknown)}", options))
    for path in config_paths(args):
        check_config_keys(path, options, groups)


def unknown_flags(args: Sequence[str], options: Sequence[str], groups: Sequence[str]) -> list[str]:
    """The ``--flags`` of ``args`` that are no option: neither one of ``options`` (``--x+``
    appends to ``--x``) nor a key nested in an option's value (``--trainer.logger.init_args.x``)."""
    known = set(options)
    nestable = [option for option in options if option[2:] not in groups]
    unknown = []
    for arg in args:
        if not arg.startswith("--") or arg == "--":
            continue
        flag = arg.split("=", 1)[0].rstrip("+")
        if flag in known or any(flag.startswith(f"{option}.") for option in nestable):
            continue
        unknown.append(flag)
    return unknown


def config_paths(args: Sequence[str]) -> list[str]:
    """The files given to ``--config``/``-c`` in ``args``, in order."""
    paths = []
    for position, arg in enumerate(args):
        flag, _, value = arg.partition("=")
        if flag in CONFIG_FLAGS:
            if value:
                paths.append(value)
            elif position + 1 < len(args):
                paths.append(args[position + 1])
    return paths


def check_config_keys(path: str, options: Sequence[str], groups: Sequence[str]) -> None:
    """Raise :class:`LitExtractError` naming ``path`` and the closest option when the YAML file at
    ``path`` holds a key that is no option (``data: {batchsize: 4}``: ``data.batchsize``).

    A key whose value is an option's (``model.weights: {r3d_18: DEFAULT}``) is not looked into.
    Files that can't be read or parsed are left to the full parser's message.
    """
    import yaml

    try:
        content = yaml.safe_load(Path(path).expanduser().read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return
    if not isinstance(content, dict):
        return
    keys = [option[2:] for option in options]
    for key in unknown_keys(content, set(keys), set(groups)):
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise LitExtractError(
            f"{path}: unknown key {key}{hint} (--help lists the options; a key is an option without its --)"
        )


def unknown_keys(content: dict[str, Any], keys: set[str], groups: set[str], prefix: str = "") -> list[str]:
    """The dotted keys of the mapping ``content`` (nested under ``prefix``) that are no option."""
    unknown = []
    for name, value in content.items():
        key = f"{prefix}{name}"
        if key in groups and isinstance(value, dict):
            unknown += unknown_keys(value, keys, groups, f"{key}.")
        elif key in keys or (prefix and str(name) in CLASS_KEYS):
            continue
        else:
            unknown.append(key)
    return unknown
