"""``configs/xd_vggish.yaml``, XD-Violence's RGB + audio recipe: its keys are flags of ``predict``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lit_extract.commands.cli import main

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "xd_vggish.yaml"


def test_xd_vggish_recipe_keys_are_flags_of_predict(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--config", str(RECIPE), "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    config = yaml.safe_load(RECIPE.read_text())
    for group, values in config.items():
        for key, value in values.items():
            assert printed[group][key] == value, (group, key)
    assert printed["model"]["encoder"] == ["i3d_inception", "vggish"]
    assert printed["data"]["audio_anchor"] == "end"
