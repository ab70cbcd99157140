"""What ``predict --config <recipe> --print_config`` makes of a recipe: every key a flag of predict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lit_extract.commands.cli import main


def printed_config(recipe: Path, capsys: pytest.CaptureFixture) -> dict[str, Any]:
    """The configuration ``predict --print_config`` prints for ``recipe``, after checking that each of
    the recipe's keys came through as the flag of that name with the recipe's value."""
    with pytest.raises(SystemExit):
        main(["predict", "--config", str(recipe), "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    for group, values in yaml.safe_load(recipe.read_text()).items():
        for key, value in values.items():
            assert printed[group][key] == value, (recipe.name, group, key)
    return printed
