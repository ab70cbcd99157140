"""``configs/xd_i3d_flow.yaml`` and ``configs/thumos_two_stream.yaml``, the two-stream recipes.

Their keys are flags of ``predict``; each runs end to end shrunk (``r3d_18`` for the RGB stream,
``tiny_flow`` for the flow stream (``tests/tiny_flow.py``), seeded ``raft_small``, 16-px frames),
with the export command its header gives, on two videos (one ending on its last snippet).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torchvision.models import optical_flow

from conftest import clip_rows, write_index, write_sound_video
from tiny_flow import tiny_flow  # noqa: F401  (fixture)
from lit_extract.commands.cli import main
from recipe_config import printed_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RECIPES = {"xd_i3d_flow.yaml": ("violent_label_B1-0-0", "calm_label_A"), "thumos_two_stream.yaml": ("video_test_1", "video_test_2")}


@pytest.mark.parametrize("recipe", RECIPES)
def test_two_stream_recipe_keys_are_flags_of_predict(recipe, capsys) -> None:
    printed = printed_config(CONFIGS / recipe, capsys)
    assert printed["model"]["encoder"] == ["i3d_inception", "i3d_inception_flow"]


def header_commands(recipe: str) -> list[list[str]]:
    """The ``lit_extract predict`` / ``export`` commands of a recipe's header, as argument lists."""
    lines = [line.lstrip("# ").strip() for line in (CONFIGS / recipe).read_text().splitlines() if line.startswith("#")]
    return [shlex.split(line)[3:] for line in lines if line.startswith("python -m lit_extract ")]


@pytest.mark.parametrize("recipe", RECIPES)
def test_two_stream_recipe_runs_end_to_end_shrunk(recipe, tmp_path, monkeypatch, tiny_flow) -> None:
    monkeypatch.chdir(tmp_path)  # the header's relative paths (configs/, processed/, features/) from here
    (tmp_path / "configs").symlink_to(CONFIGS)
    rows = []
    for name, frames in zip(RECIPES[recipe], (32, 40)):
        path = write_sound_video(tmp_path / f"{name}.mp4", frames, 24)
        rows += clip_rows(path, "train" if recipe.startswith("xd") else "test",
                          "Normal" if name.endswith("_A") else "Violence", frames, 16, 16 if recipe.startswith("xd") else 4)
    torch.manual_seed(5)
    torch.save(optical_flow.raft_small(weights=None).state_dict(), tmp_path / "raft.pth")
    config = yaml.safe_load((CONFIGS / recipe).read_text())
    Path(config["data"]["index_path"]).parent.mkdir(parents=True, exist_ok=True)
    write_index(Path(config["data"]["index_path"]), rows)
    shrink = ["--model.encoder", "[r3d_18, tiny_flow]", "--model.weights", "none", "--data.frames", "2",
              "--data.img_size", "16", "--model.flow", "raft_small", "--model.flow_weights", str(tmp_path / "raft.pth"),
              "--model.flow_updates", "1", "--data.num_workers", "0", "--data.splits", "[train]" if recipe.startswith("xd") else "[test]",
              "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"]
    if recipe.startswith("xd"):
        shrink += ["--data.resize", "24x16"]
    for command in header_commands(recipe):
        if command[0] == "predict":
            main([*command, *shrink])
        elif command[0] == "export":
            renamed = [word.replace("i3d_inception_flow", "tiny_flow").replace("i3d_inception", "r3d_18") for word in command]
            main(renamed)
    output = Path(config["writer"]["output_dir"])
    assert (output / "manifest_r3d_18.json").is_file() and (output / "manifest_tiny_flow.json").is_file()
    if recipe.startswith("xd"):
        for k in range(5):
            assert np.load(f"features/RGB/{RECIPES[recipe][0]}__{k}.npy").shape == (2, 512)
            assert np.load(f"features/Flow/{RECIPES[recipe][0]}__{k}.npy").shape == (1, 8)  # 32 frames: one fewer
            assert np.load(f"features/Flow/{RECIPES[recipe][1]}__{k}.npy").shape == (2, 8)
    else:
        import json

        manifest = json.loads((output / "manifest_r3d_18.json").read_text())
        assert (manifest["crops"], manifest["crop_order"], manifest["resize_short"]) == (1, "centre", 256)  # video_features' view
        assert np.load(f"features/thumos/{RECIPES[recipe][0]}.npy").shape == (5, 520)  # (32 - 16) / 4 + 1
        assert np.load(f"features/thumos/{RECIPES[recipe][1]}.npy").shape == (7, 520)
