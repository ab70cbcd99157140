"""The deterministic weights and clips the I3D reference fixtures were recorded with.

The recording script (run outside the project against the published ports' code; its command
is in ``tests/fixtures/i3d/README.md``) and ``tests/encoders/test_i3d.py`` both use these functions, so the
test regenerates the exact weights and clips the ports saw from a seed and the recorded parameter
names and shapes (the ~100 MB state dicts are never stored). Random weights alone make a useless reference: with BatchNorm statistics left
at (0, 1), a random I3D gives the same features for every clip. So the BatchNorm affine
parameters are random and the running statistics are measured on other clips
(:func:`calibrate`) before anything is compared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

NamesShapes = Sequence[tuple[str, Sequence[int]]]


def seeded_state(names_shapes: NamesShapes, seed: int) -> dict[str, torch.Tensor]:
    """A state dict with the given names and shapes, drawn in the given order from ``seed``.

    Conv/linear weights (>= 2-D): He normal (std sqrt(2 / fan_in)); 1-D ``weight`` (BatchNorm
    scale): uniform [0.5, 1.5]; 1-D ``bias``: uniform [-0.2, 0.2]; running mean/var 0/1 and
    ``num_batches_tracked`` 0 (:func:`calibrate` measures the statistics).
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name, shape in names_shapes:
        shape = tuple(shape)
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(0, dtype=torch.long)
        elif name.endswith("running_mean"):
            state[name] = torch.zeros(shape)
        elif name.endswith("running_var"):
            state[name] = torch.ones(shape)
        elif len(shape) >= 2:
            fan_in = math.prod(shape[1:])
            state[name] = torch.randn(shape, generator=generator) * math.sqrt(2.0 / fan_in)
        elif name.endswith("weight"):
            state[name] = torch.rand(shape, generator=generator) + 0.5
        elif name.endswith("bias"):
            state[name] = (torch.rand(shape, generator=generator) - 0.5) * 0.4
        else:
            raise ValueError(f"no rule for {name} {shape}")
    return state


def clips(seed: int, count: int, frames: int, size: int) -> torch.Tensor:
    """``count`` float32 clips (count, 3, frames, size, size) in [-1, 1]: smooth random blobs
    (a coarse 3 x (frames // 4 + 1) x 4 x 4 noise grid upsampled), so each clip has its own
    content at the scale a global average keeps."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, frames // 4 + 1, 4, 4, generator=generator)
    smooth = F.interpolate(coarse, size=(frames, size, size), mode="trilinear", align_corners=True)
    return smooth * 2 - 1


def calibrate(model: nn.Module, forward: Callable[[torch.Tensor], object], batch: torch.Tensor) -> None:
    """Set every BatchNorm's running statistics of ``model`` to those of ``batch`` (one train-mode
    forward through ``forward``, cumulative averaging), then put ``model`` in eval mode."""
    norms = [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    with torch.no_grad():
        forward(batch)
    model.eval()
