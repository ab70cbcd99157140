"""The documentation cannot drift from the code: links resolve, flags exist, examples run.

- Every relative link of README.md, docs/*.md, benchmarks/README.md and CHANGELOG.md points at a
  file or folder that exists, and every ``#anchor`` at a heading of the target page (GitHub's
  heading ids).
- Every ``--flag`` the README, docs/ and benchmarks/README.md mention exists: in a command line
  (``python -m lit_extract <command> ...``, ``python benchmarks/<script>.py ...``) in that
  command's own parser; anywhere else in some lit_extract parser, some benchmark script, or the
  short list of other programs' flags below (RTFM's, torchrun's, SLURM's, pip's).
- The Python examples of docs/api.md run as written, in a fresh folder.

The known flags are read from the parsers the commands build (LightningCLI's for ``predict`` and
``probe``/``fit``/``test``, jsonargparse's for the others, argparse's ``add_argument`` calls of
the benchmark scripts), not from the docs.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import lit_extract
from lit_extract.commands import cli

ROOT = Path(__file__).resolve().parents[1]
LINKED_DOCS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md",
                      *(ROOT / "docs").glob("*.md")])
FLAG_DOCS = [doc for doc in LINKED_DOCS if doc.name != "CHANGELOG.md"]  # the changelog is history
# Flags of other programs that the docs name, with the program; never lit_extract's.
FOREIGN_FLAGS = {
    "--feature-size": "RTFM/XDVioDet option.py", "--feature_size": "MGFN option.py", "--gt-path": "VadCLIP option",
    "--rgb-list": "RTFM/MGFN/XDVioDet option.py", "--test-rgb-list": "RTFM/MGFN/XDVioDet option.py",
    "--gt": "RTFM/MGFN/XDVioDet option.py", "--modality": "XDVioDet option.py", "--visual-width": "VadCLIP option",
    "--local-dir": "hf download",
    "--nnodes": "torchrun", "--node_rank": "torchrun", "--nproc_per_node": "torchrun",
    "--master_addr": "torchrun", "--master_port": "torchrun",
    "--signal": "sbatch", "--nodes": "sbatch", "--ntasks-per-node": "sbatch", "--gres": "sbatch",
    "--cpus-per-task": "sbatch", "--requeue": "sbatch", "--job-name": "sbatch", "--gpus-per-node": "sbatch",
    "--time": "sbatch", "--open-mode": "sbatch",
    "--index-url": "pip", "--no-deps": "pip", "--only-binary": "pip", "--no-index": "pip",
    "--target": "pip", "--python-version": "pip", "--implementation": "pip", "--platform": "pip",
}
FLAG = re.compile(r"(?<![\w/.-])--[A-Za-z][\w.-]*[\w]")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", flags=re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
LIT_EXTRACT_COMMAND = re.compile(r"lit_extract(?:\s+(-{0,2}[\w-]+))?")
SCRIPT_COMMAND = re.compile(r"benchmarks/(\w+)\.py")


# --- reading the docs ----------------------------------------------------------------------------


def without_code(text: str) -> str:
    """``text`` with fenced code blocks blanked (their lines kept empty)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def heading_ids(text: str) -> set[str]:
    """GitHub's ids of the headings of a Markdown page (lowercase, punctuation dropped, spaces to
    dashes; a repeated heading gets -1, -2, ...)."""
    ids: set[str] = set()
    for line in without_code(text).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        slug, n = base, 0
        while slug in ids:
            n += 1
            slug = f"{base}-{n}"
        ids.add(slug)
    return ids


def broken_links(doc: Path, text: str) -> list[str]:
    """The relative links of ``text`` (the page ``doc``) whose file, folder or #anchor does not exist."""
    broken = []
    prose = INLINE.sub("", without_code(text))
    for target in LINK.findall(prose):
        if re.match(r"[a-z][a-z+.-]*:", target):  # https:, mailto:, ...
            continue
        path_part, _, anchor = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        if not path.exists():
            broken.append(f"{target} (no {path_part})")
        elif anchor and path.suffix == ".md" and anchor not in heading_ids(path.read_text(encoding="utf-8")):
            broken.append(f"{target} (no heading #{anchor} in {path.name})")
    return broken


def shell_commands(code: str) -> Iterator[tuple[str, str]]:
    """``(command, comment)`` per command of a shell snippet: continuation lines joined, comment
    lines (and ``#SBATCH`` directives) as comments, ``&&``/``;``/``|`` separating commands."""
    for line in code.replace("\\\n", " ").splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            yield "", stripped
            continue
        hash_ = re.search(r"\s#\s", stripped)
        command, comment = (stripped[: hash_.start()], stripped[hash_.end():]) if hash_ else (stripped, "")
        for part in re.split(r"&&|;|\|", command):
            yield part.strip(), comment
            comment = ""


def mentioned_flags(text: str) -> Iterator[tuple[str | None, str, str]]:
    """``(program, flag, context)`` for every ``--flag`` of a page. ``program`` is a lit_extract
    command (``predict``, ``--help`` for the top level), ``benchmarks/<script>.py``, or ``None``
    for a flag named outside a command line."""
    code_blocks = FENCE.findall(text)
    prose = without_code(text)
    snippets = [*code_blocks, *INLINE.findall(prose)]
    for snippet in snippets:
        for command, comment in shell_commands(snippet):
            program, tail = command_program(command)
            for flag in FLAG.findall(tail):
                yield program, flag, command
            rest = command[: len(command) - len(tail)] if program else command
            if program is None:
                for flag in FLAG.findall(rest):
                    yield None, flag, command
            for flag in FLAG.findall(comment):
                yield None, flag, comment
    for flag in FLAG.findall(INLINE.sub("", prose)):
        yield None, flag, "prose"


def command_program(command: str) -> tuple[str | None, str]:
    """The program a shell command runs (a lit_extract command or a benchmark script) and the text
    after it, whose flags are that program's; ``(None, "")`` for anything else."""
    script = SCRIPT_COMMAND.search(command)
    if script and re.search(r"python\S*\s", command[: script.start()] + " "):
        return f"benchmarks/{script.group(1)}.py", command[script.end():]
    match = LIT_EXTRACT_COMMAND.search(command)
    if match and re.search(r"(python\S*\s+(-m\s+)?|-m\s+|^)$", command[: match.start()]):
        word = match.group(1)
        if word is None or word.startswith("-"):
            return "--help", command[match.start() + len("lit_extract"):]
        return word, command[match.end():]
    return None, ""


def unknown_flags(text: str, known: dict[str, set[str]]) -> list[str]:
    """The flags of ``text`` that their program (or, outside a command line, every program) lacks."""
    everything = set().union(*known.values(), FOREIGN_FLAGS)
    unknown = []
    for program, flag, context in mentioned_flags(text):
        allowed = known.get(program, everything) if program else everything
        if flag not in allowed:
            unknown.append(f"{flag} ({program or 'not in a command'}: {context.strip()[:80]})")
    return unknown


# --- what the parsers accept ------------------------------------------------------------------


class ParserSeen(Exception):
    """Raised by the patched parse step, carrying the flags the parser accepts."""

    def __init__(self, flags: list[str]) -> None:
        super().__init__()
        self.flags = set(flags)


def lightning_flags(monkeypatch: pytest.MonkeyPatch, run) -> set[str]:
    """The flags of a LightningCLI program, read from its parser instead of parsing."""
    from lit_extract.commands.lightning_cli import HELP_ALL, ProjectCLI, option_strings

    def seen(self, parser, args):
        raise ParserSeen([*option_strings(self._command_parser(parser, list(args or []))), HELP_ALL, "-h"])

    monkeypatch.setattr(ProjectCLI, "parse_arguments", seen)
    with pytest.raises(ParserSeen) as caught:
        run()
    return caught.value.flags


def command_flags(monkeypatch: pytest.MonkeyPatch, name: str) -> set[str]:
    """The flags a plain jsonargparse command offers its parse step (its typo hints' list); for a
    command built another way, the flags its ``--help`` prints."""

    def seen(parse, args, known):
        raise ParserSeen(list(known))

    monkeypatch.setattr(cli, "parse_one_line", seen)
    try:
        cli.COMMANDS[name].run([])
    except ParserSeen as caught:
        return caught.flags | {"-h"}
    except BaseException:  # noqa: BLE001 - any other way out: ask the command's help instead
        pass
    monkeypatch.undo()
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit):
        cli.main([name, "--help"])
    return set(FLAG.findall(stdout.getvalue())) | {"--help", "-h"}


def script_flags(script: Path) -> set[str]:
    """The ``--flags`` a benchmark script's argparse parser declares (``add_argument`` calls)."""
    flags = {"--help", "-h"}
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            flags |= {arg.value for arg in node.args if isinstance(arg, ast.Constant) and str(arg.value).startswith("--")}
    return flags


@pytest.fixture(scope="module")
def known_flags() -> dict[str, set[str]]:
    """Program -> the flags it accepts, for every lit_extract command and benchmark script."""
    from lit_extract.commands.lightning_cli import run_predict, run_probe

    known: dict[str, set[str]] = {"--help": {"--help", "-h"}}
    with pytest.MonkeyPatch.context() as monkeypatch:
        known["predict"] = lightning_flags(monkeypatch, lambda: run_predict([]))
        known["probe"] = lightning_flags(monkeypatch, lambda: run_probe("probe", []))
        for sub in ("fit", "test"):
            known[sub] = lightning_flags(monkeypatch, lambda sub=sub: run_probe(sub, []))
    for name in cli.COMMANDS:
        if name not in known:
            with pytest.MonkeyPatch.context() as monkeypatch:
                known[name] = command_flags(monkeypatch, name)
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        known[f"benchmarks/{script.name}"] = script_flags(script)
    return known


# --- the checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", LINKED_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_heading(doc):
    assert broken_links(doc, doc.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("doc", FLAG_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_flag_the_docs_mention_exists_in_its_parser(doc, known_flags):
    assert unknown_flags(doc.read_text(encoding="utf-8"), known_flags) == []


def test_the_known_flags_are_read_from_the_real_parsers(known_flags):
    """The parsers were reached: each command's flags include ones only it has."""
    assert {"--data.decoder", "--model.encoder", "--writer.output_dir", "--trainer.devices", "--help-all"} <= known_flags["predict"]
    assert {"--data.manifest", "--model.lr", "--checkpoint.monitor", "--trainer.max_epochs"} <= known_flags["probe"]
    assert "--ckpt_path" in known_flags["test"]
    assert {"--clip-len", "--val-fraction", "--exact-frames", "--no-exact-frames"} <= known_flags["index"]
    assert {"--manifest", "--format", "--annotations"} <= known_flags["export"]
    assert {"--probe_config", "--out"} <= known_flags["compare"]
    assert {"--video-dir", "--parts"} <= known_flags["benchmarks/data_path.py"]
    assert "--data.decoder" not in known_flags["index"]


def test_a_broken_link_and_an_unknown_flag_are_found(tmp_path, known_flags):
    """The checks can fail: a planted broken link, bad anchor and unknown flags are each reported."""
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading: yes\n", encoding="utf-8")
    page = tmp_path / "page.md"
    text = (
        "See [other](other.md#a-code-heading-yes), [gone](missing.md), [bad anchor](other.md#nope).\n\n"
        "```bash\npython -m lit_extract predict --config c.yaml \\\n    --data.batchsize 4\n"
        "python -m lit_extract index --root r --data.frames 8   # --model.encoder is fine here\n"
        "python benchmarks/data_path.py --video-dir d --clip-len 3\n"
        "torchrun --nnodes 2 -m lit_extract predict --trainer.devices 4\n```\n\n"
        "Prose names `--data.crops 10` and --no-such-flag.\n"
    )
    assert broken_links(page, text) == ["missing.md (no missing.md)", "other.md#nope (no heading #nope in other.md)"]
    unknown = [entry.split(" ")[0] for entry in unknown_flags(text, known_flags)]
    assert unknown == ["--data.batchsize", "--data.frames", "--clip-len", "--no-such-flag"]


def section(text: str, anchor: str) -> str:
    """The part of a Markdown page under the heading with GitHub id ``anchor``, up to the next
    heading of the same or a higher level."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"(#{1,6})\s", line)
        if match and anchor in heading_ids(line):
            level = len(match.group(1))
            rest = [other for other in lines[number + 1:]]
            end = next((i for i, other in enumerate(rest) if re.match(rf"#{{1,{level}}}\s", other)), len(rest))
            return "\n".join(rest[:end])
    raise AssertionError(f"no heading #{anchor}")


# What a new user must find from the README in under a minute: the README's "Find it fast" row
# for the question links one section, and that section holds the answer.
QUESTIONS = {
    "resume": ("reliability.md#resume", "Run the same command again"),
    "decoder": ("performance.md#on-a-gpu", "--data.decoder pyav"),
    "RTFM recipe": ("vad.md#the-rtfm-recipe", "configs/rtfm_i3d.yaml"),
    "status": ("outputs.md#status", "repeated_frames"),
    "SLURM": ("scaling.md#slurm", "srun python -m lit_extract predict"),
}


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_readme_answers_each_first_question_within_one_link(question):
    target, answer = QUESTIONS[question]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    find_it_fast = section(readme, "find-it-fast")
    row = next((line for line in find_it_fast.splitlines() if question.lower() in line.lower()), None)
    assert row is not None and f"(docs/{target})" in row, question
    page, anchor = target.split("#")
    assert answer in section((ROOT / "docs" / page).read_text(encoding="utf-8"), anchor)


def test_the_readme_keeps_the_commands_ci_runs():
    """CI (.ci/run) installs and tests with the README's commands; both must stay the same."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci = ci.replace(" --quiet", "")
    for command in ('python3 -m venv .venv', '.venv/bin/pip install -e ".[dev]"', ".venv/bin/python -m pytest -q"):
        assert command in readme and command in ci, command
    assert '.venv/bin/python -m lit_extract demo' in readme


def test_the_version_is_the_same_in_pyproject_the_package_and_the_changelog():
    version = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), flags=re.M).group(1)
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, flags=re.M)
    assert lit_extract.__version__ == version == released[0]
    assert "## [Unreleased]" in changelog


def test_the_docs_speak_of_the_product_not_of_how_it_was_made():
    """No headings or lines by issue number or by the order work happened."""
    pattern = re.compile(r"\b(session|issue \d+|(first|second|third|fourth|fifth|sixth) session)\b", re.I)
    for doc in FLAG_DOCS:
        hits = [line for line in doc.read_text(encoding="utf-8").splitlines() if pattern.search(line)]
        assert hits == [], doc.name


def test_the_api_examples_run_as_written(tmp_path, monkeypatch):
    """docs/api.md's Python blocks, run in order in an empty folder, extract, read, decode and probe."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), namespace)
    manifest = namespace["manifest"]
    assert manifest["encoder"] == "r3d_18" and manifest["embedding_dim"] == 512
    assert namespace["test"].embeddings.shape == (manifest["splits"]["test"]["rows"], 512)
    assert namespace["frames"].shape == (8, 112, 112, 3) and namespace["status"] == 0
    assert namespace["probe"].test_scores.shape == (manifest["splits"]["test"]["rows"],)
    assert sorted(p.name for p in (tmp_path / "demo_api" / "probe" / "lightning_logs").iterdir()) == ["version_0"]
