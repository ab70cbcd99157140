"""Start-up: ``--help``, a mistyped option and a mistyped ``--config`` key come back in about a
second, without importing torch or Lightning, and say the same as the full parser would.

The first invocation of a LightningCLI program builds its parser (seconds) and records what it
accepts; the tests compare what later invocations answer with what the full parser answered.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lit_extract.commands.cli import main

HEAVY = {"torch", "torchvision", "lightning", "torchmetrics"}


def run_in_a_fresh_interpreter(args: list[str]) -> tuple[int, str, str, list[str]]:
    """``main(args)`` in a new Python: (exit status, stdout, stderr, heavy modules it imported)."""
    code = (
        "import sys\nfrom lit_extract.commands.cli import main\n"
        f"try:\n    main({args!r})\n    status = 0\nexcept SystemExit as exc:\n    status = exc.code\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(HEAVY)!r}))\n"
        "print('\\nheavy:', heavy, 'status:', status)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    *out, last = result.stdout.rstrip("\n").split("\n")
    heavy, status = last.removeprefix("heavy: ").rsplit(" status: ", 1)
    return int(status), "\n".join(out).rstrip("\n") + "\n", result.stderr, eval(heavy)


def full_parser_answer(capsys, args: list[str]) -> tuple[int, str, str]:
    """What the full parser answers (it also records the program for the next invocation)."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.fixture(scope="module")
def mistyped_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("configs") / "swin3d_mine.yaml"
    path.write_text("data:\n  index_path: processed/index_clips.csv\n  batchsize: 4\nmodel:\n  encoder: r3d_18\n")
    return path


@pytest.mark.parametrize("program", ["predict", "probe", "fit"])
def test_help_after_the_first_run_is_the_full_parsers_help_without_torch_or_lightning(capsys, program):
    status, full_help, _ = full_parser_answer(capsys, [program, "--help"])
    assert status == 0
    status, out, _, heavy = run_in_a_fresh_interpreter([program, "--help"])
    assert (status, heavy) == (0, [])
    assert out == full_help


@pytest.mark.parametrize(
    "args, line",
    [
        (["predict", "--data.batchsize", "4"],
         "error: unknown option --data.batchsize; did you mean --data.batch_size? (--help lists the options)"),
        (["probe", "--data.manifst", "m.json"],
         "error: unknown option --data.manifst; did you mean --data.manifest? (--help lists the options)"),
    ],
)
def test_mistyped_option_gets_the_full_parsers_line_without_torch_or_lightning(capsys, args, line):
    status, _, err = full_parser_answer(capsys, args)
    assert (status, err.strip()) == (2, line)
    status, _, err, heavy = run_in_a_fresh_interpreter(args)
    assert (status, err.strip(), heavy) == (2, line, [])


def test_mistyped_config_key_names_the_file_and_the_closest_option(capsys, mistyped_config):
    line = (f"error: {mistyped_config}: unknown key data.batchsize; did you mean data.batch_size? "
            "(--help lists the options; a key is an option without its --)")
    status, _, err = full_parser_answer(capsys, ["predict", "--config", str(mistyped_config)])
    assert (status, err.strip()) == (2, line)
    status, _, err, heavy = run_in_a_fresh_interpreter(["predict", "--config", str(mistyped_config)])
    assert (status, err.strip(), heavy) == (2, line, [])


def test_config_keys_inside_an_options_value_are_not_taken_for_options(tmp_path):
    from lit_extract.commands.parser_cache import unknown_keys

    content = {"model": {"encoder": ["r3d_18", "i3d_r50"], "weights": {"r3d_18": "DEFAULT", "i3d_r50": "x.pth"}},
               "trainer": {"callbacks": [{"class_path": "EarlyStopping", "init_args": {"patience": 3}}]},
               "data": {"class_path": "ClipDataModule", "init_args": {"frames": 8}}}
    keys = {"model.encoder", "model.weights", "trainer.callbacks", "data", "model", "trainer"}
    assert unknown_keys(content, keys, {"data", "model", "trainer"}) == []
    mistyped = {"seed_everythin": 0, "model": {"encodr": "x"}}
    assert unknown_keys(mistyped, keys, {"model"}) == ["seed_everythin", "model.encodr"]


def test_options_nested_in_a_class_valued_option_are_left_to_the_full_parser():
    from lit_extract.commands.parser_cache import unknown_flags

    options = ["--data", "--data.batch_size", "--trainer.logger", "--config"]
    args = ["--trainer.logger.init_args.save_dir=x", "--data.batch_size+", "4", "--data.batchsize", "3", "-c", "y"]
    assert unknown_flags(args, options, ["data", "trainer"]) == ["--data.batchsize"]


def test_a_record_of_other_code_is_not_used(tmp_path, monkeypatch):
    from lit_extract.commands import parser_cache

    monkeypatch.setenv("LIT_EXTRACT_CACHE", str(tmp_path))
    parser_cache.save("predict", "old help\n", ["--data.old"], ["data"])
    assert parser_cache.load("predict")["help"] == "old help\n"
    monkeypatch.setattr(parser_cache, "fingerprint", lambda: "another-state-of-the-code")
    assert parser_cache.load("predict") is None


def test_help_all_after_the_first_run_is_still_the_full_parsers(capsys):
    # --help-all is no option of the record's kind (it prints Lightning's options too): the full
    # parser answers it, with every --trainer.* option ("known subclasses" lists follow the imports,
    # so the text is compared by its options, not byte for byte).
    status, full_help, _ = full_parser_answer(capsys, ["predict", "--help-all"])
    assert status == 0 and "--trainer.max_epochs" in full_help
    status, out, err, _ = run_in_a_fresh_interpreter(["predict", "--help-all"])
    assert status == 0, err
    flags = lambda text: sorted(set(re.findall(r"^  (?:-\w \w+, )?(--[\w.]+)", text, flags=re.M)))  # noqa: E731
    assert flags(out) == flags(full_help)
