"""``tiny_flow``: a small flow encoder for pipeline and export tests.

The real flow encoder (``i3d_inception_flow``) needs clips of 9 x 193 x 193 and is checked against
the published ports in ``tests/encoders/test_i3d_flow.py``; passes whose subject is the data path,
the writer or the export register this one instead (any clip size, 8-D: a seeded 1x1x1 projection
of the flow's (x, y), averaged over time and space), through the ``tiny_flow`` fixture.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lit_extract.encoders import i3d_inception_flow
from lit_extract.encoders.spec import ClipLimits, FlowEncoderSpec

NAME, DIM = "tiny_flow", 8


class TinyFlowNet(nn.Module):
    """float32 (B, 2, T, H, W) -> float32 (B, 8): a seeded 1x1x1 convolution averaged over T, H, W."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(11)
        self.project = nn.Conv3d(2, DIM, 1)
        with torch.no_grad():
            self.project.weight.copy_(torch.randn(DIM, 2, 1, 1, 1, generator=generator))
            self.project.bias.copy_(torch.randn(DIM, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(x).mean(dim=(2, 3, 4))


SPEC = FlowEncoderSpec(name=NAME, limits=ClipLimits(), prepare=i3d_inception_flow.unit_flow,
                       build=lambda weights: (TinyFlowNet(), DIM))


@pytest.fixture
def tiny_flow(monkeypatch) -> str:
    """``tiny_flow`` registered as a flow encoder for the test; its name."""
    monkeypatch.setitem(i3d_inception_flow.ENCODERS, NAME, SPEC)
    return NAME
