"""A torch and a torchvision that were not built together are named in one line at start-up,
with both versions and the fix, exit status 2, instead of a traceback from inside an encoder.

The broken install is built here: a ``torchvision`` package (and its metadata) placed first on
the path of a fresh interpreter, failing to import the way a mismatched build does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from lit_extract.commands.torch_pair import mismatch, required_torch

TORCH = metadata.version("torch")


def fake_torchvision(folder: Path, requires: str, body: str = "") -> Path:
    """A ``torchvision`` 0.29.1 whose metadata requires ``requires`` and whose import runs ``body``."""
    (folder / "torchvision").mkdir(parents=True)
    (folder / "torchvision" / "__init__.py").write_text(body)
    info = folder / "torchvision-0.29.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: torchvision\nVersion: 0.29.1\nRequires-Dist: {requires}\n")
    return folder


def run_with(path_first: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path_first), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "lit_extract", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_a_torchvision_that_does_not_load_against_torch_is_one_line_naming_both_versions(tmp_path):
    folder = fake_torchvision(tmp_path, "torch", 'raise RuntimeError("operator torchvision::nms does not exist")')
    result = run_with(folder, "predict", "--data.index_path", "nowhere.csv")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: torch {TORCH} and torchvision 0.29.1 do not load together "
                               "(operator torchvision::nms does not exist)")
    cpu_install = "pip install --force-reinstall torch torchvision --index-url https://download.pytorch.org/whl/cpu"
    assert cpu_install in lines[0]


def test_a_torchvision_made_for_another_torch_is_named_before_any_command_runs(tmp_path):
    folder = fake_torchvision(tmp_path, "torch==1.0.0")
    result = run_with(folder, "index", "--root", "nowhere", "--out", "i.csv")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: torch {TORCH} and torchvision 0.29.1 do not belong together (torchvision 0.29.1 requires torch "
        "==1.0.0); reinstall the two together: pip install --force-reinstall torch torchvision --index-url "
        "https://download.pytorch.org/whl/cpu on a CPU-only machine, the same without --index-url on a GPU "
        "machine (README: Quick start)")


@pytest.mark.parametrize("requires, expected", [
    (["numpy", "torch==2.5.1", "pillow!=8.3.*,>=5.3.0"], "==2.5.1"),
    (["torch (>=2.14.0)"], ">=2.14.0"),
    (["torchaudio", "numpy"], None),
])
def test_torchvisions_requirement_on_torch_is_read_from_its_metadata_lines(requires, expected):
    assert required_torch(requires) == expected


@pytest.mark.parametrize("torch_version, vision_version, requirement, problem", [
    ("2.5.1+cpu", "0.20.1+cpu", "==2.5.1", None),  # the CPU pair from PyTorch's index
    ("2.5.1", "0.20.1", "==2.5.1", None),  # the PyPI pair
    ("2.6.0+cpu", "0.20.1+cpu", "==2.5.1", "torchvision 0.20.1+cpu requires torch ==2.5.1"),
    ("2.5.1+cpu", "0.20.1+cu124", "==2.5.1", "torch is a +cpu build, torchvision a +cu124 build"),
    ("2.14.1", "0.29.1", ">=2.14.0", None),
])
def test_installed_versions_belong_together_when_torchvisions_requirement_and_build_tag_agree(
        torch_version, vision_version, requirement, problem):
    assert mismatch(torch_version, vision_version, requirement) == problem
