"""RAFT flow (``--model.flow``) against torchvision's own RAFT forward on the same frames and weights.

The reference is written out here: torchvision's ``raft_large`` / ``raft_small`` built with the
same seeded weights, called on each pair of consecutive frames scaled to [-1, 1] (``2 x / 255 - 1``,
torchvision's ``OpticalFlow`` transform) with the same number of updates, its last prediction
taken; where a size is not a multiple of 8 or under 128, the frames are edge-padded by hand (the
smaller half in front, video_features' ``InputPadder``) and the flow cropped back. Sizes are
RAFT's smallest (128) and few updates run, to keep the file fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import optical_flow

from lit_extract.encoders.optical_flow import build_flow, flow_clips
from lit_extract.errors import LitExtractError

UPDATES = 2


def seeded_raft(name: str, seed: int, path: Path) -> tuple[torch.nn.Module, str]:
    """torchvision's RAFT ``name`` with seeded random weights, and the file those weights are saved in."""
    torch.manual_seed(seed)
    raft = getattr(optical_flow, name)(weights=None).eval()
    torch.save(raft.state_dict(), path)
    return raft, str(path)


def frames(seed: int, count: int, height: int, width: int) -> torch.Tensor:
    """uint8 (1, 3, count, height, width): smooth random content drifting right by 2 pixels a frame."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 6, 6, generator=generator)
    canvas = F.interpolate(coarse, size=(height, width + 2 * count), mode="bilinear", align_corners=True)
    shots = [canvas[..., 2 * (count - t): 2 * (count - t) + width] for t in range(count)]
    return (torch.stack(shots, dim=2) * 255).round().to(torch.uint8)


def reference(raft: torch.nn.Module, clip: torch.Tensor, pad: tuple[int, int, int, int] = (0, 0, 0, 0)) -> torch.Tensor:
    """(1, 2, T, H, W): torchvision's forward on each consecutive pair, frame t -> t + 1."""
    left, right, top, bottom = pad
    scaled = clip.float() / 255 * 2 - 1  # 1 3 T+1 H W
    flows = []
    with torch.no_grad():
        for t in range(clip.shape[2] - 1):
            first = F.pad(scaled[:, :, t], pad, mode="replicate")
            second = F.pad(scaled[:, :, t + 1], pad, mode="replicate")
            flow = raft(first, second, num_flow_updates=UPDATES)[-1]
            flows.append(flow[..., top: flow.shape[-2] - bottom, left: flow.shape[-1] - right])
    return torch.stack(flows, dim=2)


def assert_same_flow(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal to float32 rounding of another batch composition: 1e-4 of the largest displacement."""
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4 * expected.abs().max().item())


@pytest.mark.parametrize("name", ["raft_small", "raft_large"])
def test_raft_flow_equals_torchvisions_own_forward(tmp_path, name) -> None:
    raft, path = seeded_raft(name, 7, tmp_path / f"{name}.pth")
    clip = frames(1, 2, 128, 128)  # 2 frames -> 1 flow
    model = build_flow(name, path, updates=UPDATES)
    with torch.no_grad():
        got = flow_clips(clip, model)
    assert got.shape == (1, 2, 1, 128, 128) and got.dtype == torch.float32
    assert_same_flow(got, reference(raft, clip))


def test_raft_flow_pads_odd_and_small_frames_at_their_edges_and_crops_back(tmp_path) -> None:
    raft, path = seeded_raft("raft_small", 8, tmp_path / "raft_small.pth")
    clip = frames(2, 2, 122, 131)  # 122 -> 128 rows (3 above, 3 below), 131 -> 136 columns (2 left, 3 right)
    with torch.no_grad():
        got = flow_clips(clip, build_flow("raft_small", path, updates=UPDATES))
    assert_same_flow(got, reference(raft, clip, pad=(2, 3, 3, 3)))


def test_flow_clips_in_chunks_equal_flow_clips_at_once(tmp_path) -> None:
    _, path = seeded_raft("raft_small", 9, tmp_path / "raft_small.pth")
    model = build_flow("raft_small", path, updates=UPDATES)
    clip = torch.cat([frames(3, 2, 128, 128), frames(4, 2, 128, 128)])  # 2 clips x 1 flow
    with torch.no_grad():
        assert_same_flow(flow_clips(clip, model, chunk=1), flow_clips(clip, model, chunk=4))


def test_flow_weights_of_another_model_are_refused_in_one_line(tmp_path) -> None:
    _, path = seeded_raft("raft_small", 10, tmp_path / "raft_small.pth")
    with pytest.raises(LitExtractError, match=r"raft_small.pth: does not fit encoder raft_large .*optical_flow.raft_large"):
        build_flow("raft_large", path)


def test_unknown_flow_model_is_refused_naming_the_choices() -> None:
    with pytest.raises(LitExtractError, match="--model.flow 'farneback': choose one of raft_large, raft_small"):
        build_flow("farneback")


def test_raft_flow_stays_float32_under_bf16_autocast(tmp_path) -> None:
    _, path = seeded_raft("raft_small", 11, tmp_path / "raft_small.pth")
    model = build_flow("raft_small", path, updates=UPDATES)
    clip = frames(5, 2, 128, 128)
    with torch.no_grad():
        plain = flow_clips(clip, model)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = flow_clips(clip, model)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, plain, rtol=0, atol=0)
