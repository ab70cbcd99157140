"""The command line as a user meets it: help, typos, what a normal run prints, and start-up imports.

Expected command and encoder names are written out here, independently of ``lit_extract.commands.cli``.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import tempfile
import termios
from pathlib import Path

import pytest

from conftest import clip_rows, write_index
from lit_extract.commands.cli import main
from lit_extract.commands.demo import barcode_frame, write_video

COMMAND_NAMES = ["demo", "index", "predict", "inspect", "probe", "fit", "test"]
ENCODER_NAMES = ["swin3d_t", "swin3d_s", "swin3d_b", "r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v1_b", "mvit_v2_s"]
SPLIT_ROWS = {"train": 4, "val": 2, "test": 2}


def run_module(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lit_extract", *args], capture_output=True, text=True, timeout=timeout)


def run_module_on_a_terminal(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``run_module`` with stdout on a pseudo-terminal, as a user at a shell sees it (stderr captured)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))  # 200 columns: bars fit
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "lit_extract", *args], stdout=follower, stderr=stderr)
        os.close(follower)
        drawn = bytearray()
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        os.close(leader)
        process.wait(timeout=timeout)
        stderr.seek(0)
        return subprocess.CompletedProcess(process.args, process.returncode, drawn.decode(errors="replace"), stderr.read())


def exit_code(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code


def option_help(text: str, flag: str) -> str:
    """The help block of ``flag`` in an argparse help ``text``, whitespace collapsed."""
    block = re.search(rf"^  {re.escape(flag)}\b.*?(?=^  -|^\S|\Z)", text, flags=re.M | re.S)
    assert block, f"{flag} not in the help"
    return " ".join(block.group(0).split())


# --- help --------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_top_level_help_lists_every_command_with_its_usual_invocation_on_stdout(capsys, flag):
    assert exit_code([flag]) == 0
    out = capsys.readouterr().out
    for name in COMMAND_NAMES:
        assert re.search(rf"^  {name}\s+\S", out, flags=re.M), name
        assert f"python -m lit_extract {name}" in out


def test_unknown_command_is_named_and_the_commands_are_listed(capsys):
    assert exit_code(["extract"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown command 'extract'" in err
    assert all(name in err for name in COMMAND_NAMES)


@pytest.mark.parametrize("args", [["--help"], ["index", "--help"], ["inspect", "--help"]])
def test_light_commands_start_without_importing_torch_or_lightning(args):
    code = (
        "import sys\nfrom lit_extract.commands.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('heavy:', sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'lightning', 'torchvision'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "heavy: []"


def test_predict_help_shows_the_projects_options_under_the_typed_program_name(capsys):
    assert exit_code(["predict", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m lit_extract predict ")
    for flag in ("--data.index_path", "--data.batch_size", "--model.encoder", "--model.weights", "--writer.output_dir"):
        assert f"  {flag}" in out
    assert "--trainer.max_epochs" not in out and "__main__" not in out
    assert "python -m lit_extract predict --help-all" in out


def test_model_encoder_help_lists_every_encoder_name(capsys):
    assert exit_code(["predict", "--help"]) == 0
    text = option_help(capsys.readouterr().out, "--model.encoder")
    assert all(re.search(rf"\b{name}\b", text) for name in ENCODER_NAMES), text


def test_predict_help_all_shows_the_projects_options_before_the_trainers(capsys):
    assert exit_code(["predict", "--help-all"]) == 0
    out = capsys.readouterr().out
    assert out.index("  --data.index_path") < out.index("  --writer.output_dir") < out.index("  --trainer.accelerator")


def test_probe_help_all_has_plain_section_titles_and_requires_only_options_without_default(capsys):
    assert exit_code(["probe", "--help-all"]) == 0
    out = capsys.readouterr().out
    titles = [line for line in out.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert titles and not [title for title in titles if "<class" in title or title.endswith("to:")]
    assert "required" not in option_help(out, "--early_stopping.monitor")
    assert "required" in option_help(out, "--data.manifest")


# --- typos -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, typed, meant",
    [
        (["predict", "--data.batchsize", "4"], "--data.batchsize", "--data.batch_size"),
        (["fit", "--data.manifst", "m.json"], "--data.manifst", "--data.manifest"),
        (["index", "--out", "i.csv", "--clip-length", "32"], "--clip-length", "--clip-len"),
        (["inspect", "m.json", "--plott", "pca.png"], "--plott", "--plot"),
    ],
)
def test_mistyped_flag_ends_with_one_line_suggesting_the_closest_real_one(capsys, args, typed, meant):
    assert exit_code(args) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert typed in lines[0] and f"did you mean {meant}?" in lines[0]


# --- index -------------------------------------------------------------------------------------


@pytest.fixture
def tree_with_val(tmp_path) -> Path:
    """<root>/<split>/<category>/*.mp4 with a val folder of its own."""
    root = tmp_path / "tree"
    for split, category in [("train", "Normal"), ("train", "Fighting"), ("val", "Normal"), ("test", "Fighting")]:
        write_video(root / split / category / f"{split}_{category}.mp4", (barcode_frame(k, 32, 24, category) for k in range(40)))
    return root


def test_index_says_when_val_fraction_is_ignored_because_the_input_has_a_val_split(capsys, tree_with_val, tmp_path):
    main(["index", "--root", str(tree_with_val), "--out", str(tmp_path / "index.csv"), "--val-fraction", "0.5",
          "--no-progress"])
    err = capsys.readouterr().err
    assert "--val-fraction 0.5 ignored" in err and "already has a val split" in err


def test_index_without_val_fraction_says_nothing_about_it(capsys, tree_with_val, tmp_path):
    main(["index", "--root", str(tree_with_val), "--out", str(tmp_path / "index.csv"), "--no-progress"])
    assert "val-fraction" not in capsys.readouterr().err


# --- a normal run ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Splits of 4, 2 and 2 clips, both classes in each."""
    root = tmp_path_factory.mktemp("cli")
    rows = []
    for i, (split, category, n_frames) in enumerate([
        ("train", "Normal", 48), ("train", "Fighting", 48), ("val", "Normal", 32), ("val", "Fighting", 32),
        ("test", "Normal", 32), ("test", "Fighting", 32),
    ]):
        path = write_video(root / f"v{i}.mp4", (barcode_frame(k, 64, 48, category, i) for k in range(n_frames)))
        rows += clip_rows(path, split, category, n_frames)
    return write_index(root / "index_clips.csv", rows)


def predict_args(index: Path, out: Path) -> list[str]:
    return ["predict", "--data.index_path", str(index), "--data.img_size", "16", "--data.batch_size", "1",
            "--data.num_workers", "0", "--model.encoder", "r3d_18", "--model.weights", "none",
            "--writer.output_dir", str(out), "--trainer.accelerator", "cpu"]


@pytest.fixture(scope="module")
def predict_run(dataset, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A normal ``predict`` run, progress bars on, as a user starts it at a terminal."""
    out = tmp_path_factory.mktemp("cli_out") / "processed"
    result = run_module_on_a_terminal(*predict_args(dataset, out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


@pytest.fixture(scope="module")
def probe_run(predict_run, tmp_path_factory) -> subprocess.CompletedProcess:
    """A normal ``probe`` run on ``predict_run``'s embeddings, with the shipped config."""
    out, _ = predict_run
    config = Path(__file__).resolve().parents[2] / "configs" / "probe.yaml"
    result = run_module("probe", "--config", str(config), "--data.manifest", str(out / "manifest_r3d_18.json"),
                        "--trainer.default_root_dir", str(tmp_path_factory.mktemp("cli_probe")),
                        "--trainer.accelerator", "cpu", "--trainer.max_epochs", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def bar_states(stdout: str, split: str) -> list[int]:
    """The clip counts shown by ``split``'s progress bar, in the order they were drawn."""
    states = re.split(r"[\r\n]", stdout)
    return [int(match.group(1)) for state in states if f"Extracting {split}" in state
            for match in [re.search(r"clips=(\d+)", state)] if match]


def test_each_split_gets_its_own_progress_bar_counting_its_clips_from_zero(predict_run):
    _, result = predict_run
    for split, rows in SPLIT_ROWS.items():
        counts = bar_states(result.stdout, split)
        assert counts[0] == 0 and counts[-1] == rows and max(counts) == rows, (split, counts)
    assert "Predicting DataLoader" not in result.stdout


@pytest.mark.parametrize("run", ["predict_run", "probe_run"])
def test_a_normal_run_prints_no_lightning_tips_or_inapplicable_warnings(request, run):
    result = request.getfixturevalue(run)
    result = result[1] if isinstance(result, tuple) else result
    printed = result.stdout + result.stderr
    for noise in ("Tip:", "litlogger", "litmodels", "tensorboardX", "log_every_n_steps", "UserWarning"):
        assert noise not in printed, noise

