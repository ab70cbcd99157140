"""Flips of flow (``--model.flow_flip``): a horizontally moving pattern's mirrored crops.

A smooth pattern drifts right by 3 pixels a frame; its frames are cut into the ten crops of
``--data.crops 10`` (``lit_extract.decode.crops.ten_crop``: crops 5-9 from the mirrored frame). The
flow model is replaced by an exact estimator of whole-frame translations (phase correlation,
a least-squares search over shifts, written here), so the measured flow is the true one: +3 in x for the five crops of the frame, -3
for the mirrored ones (the pattern moves left in the mirrored video). ``physical`` keeps that
sign; ``mirrored_images`` gives the mirrored crops +3, the sign a mirrored stored flow image keeps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lit_extract.decode.crops import ten_crop
from lit_extract.errors import LitExtractError
from lit_extract.extract.flow_stream import FlowStream

SPEED, FRAMES, SIZE, CROP = 3, 3, 96, 64


class TranslationFlow(nn.Module):
    """Flow of a whole-frame translation: the integer shift (dx, dy), |dx|, |dy| <= 6, whose overlap
    of ``first`` shifted and ``second`` differs least (mean squared difference), (x, y) = (right,
    down), the same at every pixel. (N, 3, H, W) twice -> (N, 2, H, W)."""

    REACH = 6

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        height, width = first.shape[-2:]
        a, b = first.float(), second.float()
        flows = []
        for n in range(len(a)):
            errors = {}
            for dy in range(-self.REACH, self.REACH + 1):
                for dx in range(-self.REACH, self.REACH + 1):
                    moved = a[n, :, max(0, -dy): height - max(0, dy), max(0, -dx): width - max(0, dx)]
                    there = b[n, :, max(0, dy): height - max(0, -dy), max(0, dx): width - max(0, -dx)]
                    errors[(dx, dy)] = float(((moved - there) ** 2).mean())
            flows.append(min(errors, key=errors.get))
        return torch.tensor(flows, dtype=torch.float32)[:, :, None, None].expand(-1, -1, height, width).contiguous()


def moving_pattern_crops() -> torch.Tensor:
    """uint8 (1, 10, 3, FRAMES, CROP, CROP): ten crops of a pattern drifting right by SPEED px a frame."""
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, 5, 5, generator=generator)
    pattern = F.interpolate(coarse, size=(SIZE, SIZE), mode="bicubic", align_corners=True)[0].clamp(0, 1) * 255
    frames = [torch.roll(pattern, SPEED * t, dims=2) for t in range(FRAMES)]  # moving right (circularly)
    crops = [ten_crop(frame.permute(1, 2, 0).round().to(torch.uint8).numpy(), CROP) for frame in frames]  # T x (10 c c 3)
    stacked = torch.from_numpy(np.stack(crops))  # T 10 c c 3
    return stacked.permute(1, 4, 0, 2, 3).unsqueeze(0).contiguous()  # 1 10 3 T c c


@pytest.fixture(scope="module")
def crops() -> torch.Tensor:
    return moving_pattern_crops()


def mean_x(flows: torch.Tensor) -> list[float]:
    """The mean x flow of each crop (flows: (10, 2, T, H, W))."""
    return [round(float(v), 3) for v in flows[:, 0].mean((1, 2, 3))]


def test_the_estimator_measures_the_patterns_motion_in_each_crop(crops) -> None:
    flows = FlowStream(TranslationFlow(), "physical")(crops)
    assert flows.shape == (10, 2, FRAMES - 1, CROP, CROP)
    assert mean_x(flows) == [SPEED] * 5 + [-SPEED] * 5  # the mirrored video moves left
    assert float(flows[:, 1].abs().max()) == 0.0


def test_physical_flip_gives_mirrored_crops_the_mirrored_motion(crops) -> None:
    flows = FlowStream(TranslationFlow(), "physical")(crops)
    assert mean_x(flows)[5:] == [-SPEED] * 5


def test_mirrored_images_flip_keeps_the_unmirrored_sign_as_a_mirrored_flow_image(crops) -> None:
    flows = FlowStream(TranslationFlow(), "mirrored_images")(crops)
    assert mean_x(flows) == [SPEED] * 10
    assert float(flows[:, 1].abs().max()) == 0.0  # y is never touched


def test_flips_leave_five_crop_batches_alone(crops) -> None:
    five = crops[:, :5]
    torch.testing.assert_close(FlowStream(TranslationFlow(), "mirrored_images")(five),
                               FlowStream(TranslationFlow(), "physical")(five), rtol=0, atol=0)


def test_unknown_flip_is_refused_naming_the_choices() -> None:
    with pytest.raises(LitExtractError, match="--model.flow_flip 'mirror': choose physical, mirrored_images"):
        FlowStream(TranslationFlow(), "mirror")
