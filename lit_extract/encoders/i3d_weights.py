"""Published I3D state dicts, read as they were released: classification head dropped, BatchNorm
batch counters filled in.

The converted I3D files (``i3d_r50_kinetics.pth``, ``rgb_imagenet.pt``, ``model_rgb.pth``) were
written as plain ``name -> tensor`` dicts, some by PyTorch versions older than BatchNorm's
``num_batches_tracked`` buffer; that counter only matters in training, so a file without it loads
as if it held the model's own (zero) counters. The classification head (Kinetics' 400 classes,
Charades' 157, ...) is checked for its input width and dropped: the encoders stop before it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lit_extract.errors import LitExtractError

BATCH_COUNTER = "num_batches_tracked"


def without_head(
    state: dict[str, torch.Tensor], head: str, width: int, path: Path, name: str, expected_file: str
) -> dict[str, torch.Tensor]:
    """``state`` without the keys under module ``head`` (``fc``, ``logits``, ...), whose weight must
    read ``width`` features (a Linear's (classes, width) or a 1x1x1 Conv3d's (classes, width, 1, 1, 1)).

    Raises:
        LitExtractError: the head's weight reads another width (the file is of another model);
            the message names ``path``, encoder ``name`` and ``expected_file`` (what to pass instead).
    """
    prefix = f"{head}."
    for key, weight in state.items():
        if key.startswith(prefix) and key.endswith("weight") and (weight.dim() < 2 or weight.shape[1] != width):
            raise LitExtractError(
                f"{path}: does not fit encoder {name} (head {key} {tuple(weight.shape)} does not read "
                f"{width} features); pass {expected_file}"
            )
    return {key: value for key, value in state.items() if not key.startswith(prefix)}


def with_batch_counters(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """``state`` plus ``model``'s own ``num_batches_tracked`` for every BatchNorm whose running
    statistics ``state`` holds but whose counter it lacks (files saved before the counter existed)."""
    filled = dict(state)
    for key, value in model.state_dict().items():
        if key.endswith(BATCH_COUNTER):
            stem = key[: -len(BATCH_COUNTER)]
            if key not in filled and f"{stem}running_mean" in filled:
                filled[key] = value.clone()
    return filled
