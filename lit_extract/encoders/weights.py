"""Reading a local weights file and loading it strictly, with one-line errors, for every family
(and a transformers ``from_pretrained`` folder, for the ``hf:`` families)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from lit_extract.encoders.spec import WeightsUnavailable
from lit_extract.errors import LitExtractError, first_few

WRAPPER_KEYS = ("state_dict", "model")  # checkpoints that nest the state dict under one of these


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The ``name -> tensor`` mapping saved in ``path`` (a ``torch.save`` file, or ``.safetensors``),
    unwrapped from ``state_dict``/``model`` keys.

    Raises:
        LitExtractError: the file is missing, unreadable, or holds no state dict.
    """
    if not path.is_file():
        raise WeightsUnavailable(f"{path}: weights file not found", "/path/to/an/existing/file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            payload = load_file(str(path))
        else:
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # arbitrary bytes make the unpickler fail in many ways (IndexError, ...)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LitExtractError(
            f"{path}: not a readable torch file ({reason}); save one with torch.save(model.state_dict(), path)"
        ) from exc
    for key in WRAPPER_KEYS:
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            payload = payload[key]
            break
    if not isinstance(payload, dict) or not all(isinstance(value, torch.Tensor) for value in payload.values()):
        raise LitExtractError(
            f"{path}: holds no state dict (name -> tensor); save one with torch.save(model.state_dict(), path)"
        )
    return payload


def strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """``state`` with ``prefix`` removed from every key when all keys carry it (``module.`` of DataParallel)."""
    if state and all(key.startswith(prefix) for key in state):
        return {key[len(prefix):]: value for key, value in state.items()}
    return state


def load_exact(model: nn.Module, state: dict[str, torch.Tensor], path: Path, name: str, expected_file: str) -> None:
    """Load ``state`` into ``model`` strictly; a mismatch raises one :class:`LitExtractError` line that
    names the missing, unexpected and wrongly shaped keys and ``expected_file`` (what to pass instead)."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    wrong_shape = [key for key in expected if key in state and state[key].shape != expected[key].shape]
    if missing or unexpected or wrong_shape:
        problems = [
            f"{label}: {first_few(keys, 3)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape))
            if keys
        ]
        raise LitExtractError(f"{path}: does not fit encoder {name} ({'; '.join(problems)}); pass {expected_file}")
    model.load_state_dict(state, strict=True)


def load_pretrained(factory: Any, directory: Path, name: str, optional: tuple[str, ...] = ()) -> nn.Module:
    """``factory.from_pretrained(directory)`` (a transformers auto class) for encoder ``name``; refused
    in one line when weights the model reads are not in the directory (keys under ``optional``
    prefixes excepted: a head the embedding skips, a norm that starts as transformers initialises it).

    Raises:
        WeightsUnavailable: the directory holds no loadable weights (what to pass instead).
        LitExtractError: some of the model's weights are missing from it.
    """
    try:
        model, info = factory.from_pretrained(directory, output_loading_info=True)
    except (OSError, ValueError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WeightsUnavailable(f"encoder {name}: cannot load the weights in {directory} ({reason})",
                                 "/path/to/its/state_dict.pth") from exc
    unread = [key for key in info["missing_keys"] if not key.startswith(optional)]
    if unread:
        raise LitExtractError(
            f"encoder {name}: {directory} holds no weights for {', '.join(sorted(unread)[:3])} "
            f"({len(unread)} missing); pass a directory saved by save_pretrained of the whole model"
        )
    return model
