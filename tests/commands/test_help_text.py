"""``--help`` reads as plain text: no docstring markup, no word cut in two by the wrapping, the
options most runs set first, and a top-level description of what the product does today."""

from __future__ import annotations

import re

import pytest

from lit_extract.commands.cli import main

MARKUP = re.compile(r"``|:(mod|func|class|data|meth|attr):`")


def help_of(capsys, args: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("args", [["predict", "--help"], ["probe", "--help"], ["index", "--help"],
                                  ["export", "--help"], ["demo", "--help"], ["compare", "--help"]])
def test_help_shows_no_docstring_markup(capsys, args):
    out = help_of(capsys, args)
    assert not MARKUP.search(out), MARKUP.search(out)


def test_help_keeps_a_long_module_path_whole_on_one_line(capsys):
    # ClipDataModule's docstring names this function for --data.crops; wrapping must not cut it.
    out = help_of(capsys, ["predict", "--help"])
    assert re.search(r"^\s+.*lit_extract\.decode\.device_transform\.crops_from_native\b", out, flags=re.M)


def test_help_turns_markup_into_its_words():
    from lit_extract.commands.help_format import plain

    assert plain("``img_size x img_size`` (see :mod:`lit_extract.indexing.index`, :func:`~a.b.build`)") == (
        "img_size x img_size (see lit_extract.indexing.index, build)")


@pytest.mark.parametrize("program, first", [
    ("predict", ["--config", "--data.index_path", "--model.encoder", "--model.weights", "--writer.output_dir"]),
    ("probe", ["--config", "--data.manifest", "--data.annotations"]),
])
def test_help_opens_with_the_options_most_runs_set(capsys, program, first):
    out = help_of(capsys, [program, "--help"])
    sections = [part for part in re.split(r"^(?=\S.*:$)", out.split("\n\n", 2)[2], flags=re.M) if part]
    assert sections[0].startswith("The options most runs set:")
    flags = re.findall(r"^  (?:-\w \w+, )?(--[\w.]+)", sections[0], flags=re.M)
    assert flags[: len(first)] == first
    assert all(out.count(f"  {flag} ") + out.count(f", {flag} ") == 1 for flag in first[1:])  # not again below


def test_top_level_help_describes_every_encoder_family_not_only_torchvision(capsys):
    out = help_of(capsys, ["--help"])
    assert "torchvision video encoders" not in out
    assert all(family in out for family in ("torchvision", "I3D", "timm", "Hugging Face"))
