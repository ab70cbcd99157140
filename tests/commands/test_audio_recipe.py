"""``configs/xd_vggish.yaml``, XD-Violence's RGB + audio recipe: its keys are flags of ``predict``."""

from __future__ import annotations

from pathlib import Path

from recipe_config import printed_config

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "xd_vggish.yaml"


def test_xd_vggish_recipe_keys_are_flags_of_predict(capsys):
    printed = printed_config(RECIPE, capsys)
    assert printed["model"]["encoder"] == ["i3d_inception", "vggish"]
    assert printed["data"]["audio_anchor"] == "end"
