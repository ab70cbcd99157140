"""The seeded flow clips the i3d_inception_flow fixtures were recorded with.

Shared by the recording script (run outside the project against the published ports' code; its
command is in ``tests/fixtures/i3d_flow/README.md``) and ``tests/encoders/test_i3d_flow.py``: the
test regenerates the exact flow the ports saw from a seed. Weights come from ``i3d_reference``'s
``seeded_state`` and ``calibrate``.
"""

from __future__ import annotations

import torch

from i3d_reference import clips

PEAK_PIXELS = 25.0  # beyond the [-20, 20] clip, so clipping is exercised


def flow_clips(seed: int, count: int, frames: int, size: int) -> torch.Tensor:
    """``count`` float32 flow clips (count, 2, frames, size, size) in pixels, in [-25, 25]: the first
    two channels of ``i3d_reference.clips`` (smooth random blobs) scaled by 25, (x, y) order."""
    return clips(seed, count, frames, size)[:, :2] * PEAK_PIXELS


def unit_flow(flow: torch.Tensor) -> torch.Tensor:
    """Flow in pixels clipped to [-20, 20] and scaled to [-1, 1] (``x / 20``), without quantization."""
    return flow.clamp(-20.0, 20.0) / 20.0
