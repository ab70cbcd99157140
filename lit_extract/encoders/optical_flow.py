"""Optical flow on the device between consecutive frames: torchvision's RAFT (``--model.flow``).

``--model.flow raft_large`` or ``raft_small`` is :func:`torchvision.models.optical_flow.raft_large`
/ ``raft_small`` (Teed & Deng, 2020), with ``--model.flow_weights``: ``DEFAULT`` (torchvision's
``Raft_Large_Weights.DEFAULT`` / ``Raft_Small_Weights.DEFAULT``, downloaded once into the torch
hub cache), ``none`` (random init) or the path of a state dict in torchvision's layout.

:class:`RaftFlow` takes two batches of RGB frames (N, 3, H, W), values in [0, 255] (uint8 or
float), and returns float32 (N, 2, H, W): the flow from the first frame to the second in pixels,
``(x, y)`` = (right, down), RAFT's last refinement after ``updates`` recurrent updates
(``--model.flow_updates``, 20 by default as video_features' ``extract_i3d.py``; torchvision's
own default is 12). Frames are scaled to [-1, 1] (``2 x / 255 - 1``, what RAFT was trained on and
torchvision's ``OpticalFlow`` transform gives) and padded by edge replication, centred, to a
multiple of 8 and at least 128 on each side (RAFT's 1/8 feature maps feed a four-level
correlation pyramid that needs 16 of them), then cropped back: video_features' ``InputPadder``
(``sintel`` mode) for sizes that are multiples of 8 already over 128, where nothing is padded.

:func:`flow_clips` turns clips of T + 1 frames into clips of T flows (flow t: frame t -> t + 1),
``chunk`` pairs at a time, so a batch never holds more than its frames, its flows and one chunk
of RAFT's working memory. RAFT runs in float32 even under ``--trainer.precision bf16-mixed``
(its output is displacements in pixels, up to 20 and more, which bf16 holds to 1/8 px near 20).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import optical_flow

from lit_extract.encoders.spec import weights_choice
from lit_extract.encoders.weights import load_exact, read_state_dict
from lit_extract.errors import LitExtractError

FLOW_MODELS = ("raft_large", "raft_small")
MULTIPLE = 8  # RAFT works on 1/8 feature maps
MIN_SIZE = 128  # 16 feature-map cells: the correlation pyramid's coarsest level needs 2
DEFAULT_UPDATES = 20  # video_features' extract_i3d.py (RAFT's iters=20); torchvision's default is 12
PAIRS_PER_CHUNK = 32


def centred_padding(size: int) -> tuple[int, int]:
    """(front, back) edge padding that brings ``size`` to a multiple of 8 and at least 128, the
    smaller half in front (video_features' ``InputPadder``, ``sintel`` mode)."""
    target = max(MIN_SIZE, -(-size // MULTIPLE) * MULTIPLE)
    total = target - size
    return total // 2, total - total // 2


class RaftFlow(nn.Module):
    """RAFT between pairs of frames: (N, 3, H, W) RGB in [0, 255] twice -> float32 (N, 2, H, W) in
    pixels, (x, y) = (right, down) (module doc)."""

    def __init__(self, raft: nn.Module, updates: int = DEFAULT_UPDATES) -> None:
        super().__init__()
        if updates < 1:
            raise LitExtractError(f"--model.flow_updates {updates}: RAFT needs at least 1 update")
        self.raft, self.updates = raft, updates

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        height, width = first.shape[-2:]
        top, bottom = centred_padding(height)
        left, right = centred_padding(width)
        pair = torch.cat([first, second]).float() * (2.0 / 255.0) - 1.0  # 2N 3 H W in [-1, 1]
        pair = F.pad(pair, (left, right, top, bottom), mode="replicate")  # 2N 3 H' W'
        image1, image2 = pair.chunk(2)
        with torch.autocast(pair.device.type, enabled=False):  # float32 under bf16-mixed: pixels, not logits
            flow = self.raft(image1, image2, num_flow_updates=self.updates)[-1]  # N 2 H' W'
        return flow[..., top: top + height, left: left + width]  # N 2 H W


def flow_clips(frames: torch.Tensor, flow: RaftFlow, chunk: int = PAIRS_PER_CHUNK) -> torch.Tensor:
    """(N, 3, T + 1, H, W) RGB frames in [0, 255] -> float32 (N, 2, T, H, W): flow t from frame t to
    frame t + 1, computed ``chunk`` pairs at a time."""
    n, _, steps, height, width = frames.shape
    first = frames[:, :, :-1].transpose(1, 2).reshape(-1, 3, height, width)  # N*T 3 H W
    second = frames[:, :, 1:].transpose(1, 2).reshape(-1, 3, height, width)  # N*T 3 H W
    flows = torch.empty(first.shape[0], 2, height, width, device=frames.device)  # N*T 2 H W
    for start in range(0, first.shape[0], chunk):
        flows[start: start + chunk] = flow(first[start: start + chunk], second[start: start + chunk])
    return flows.reshape(n, steps - 1, 2, height, width).transpose(1, 2)  # N 2 T H W


def expected_file(name: str) -> str:
    """What a local ``--model.flow_weights`` file of RAFT model ``name`` must hold."""
    return f"the state_dict() of torchvision.models.optical_flow.{name}"


def build_flow(name: str, weights: str = "DEFAULT", updates: int = DEFAULT_UPDATES) -> RaftFlow:
    """The frozen flow model ``--model.flow name`` with ``--model.flow_weights weights`` (module doc).

    Raises:
        LitExtractError: an unknown model, or weights that cannot be downloaded, read or loaded.
    """
    if name not in FLOW_MODELS:
        raise LitExtractError(f"--model.flow {name!r}: choose one of {', '.join(FLOW_MODELS)} "
                              "(tvl1 is not offered: see docs/encoders.md)")
    factory = getattr(optical_flow, name)
    choice = weights_choice(weights)
    if choice == "default":
        try:
            raft = factory(weights="DEFAULT")
        except OSError as exc:  # URLError, timeouts, a read-only cache
            raise LitExtractError(
                f"could not download {name} weights ({exc}); offline, download torchvision's "
                f"{name} DEFAULT weights elsewhere and pass --model.flow_weights /path/to/them.pth"
            ) from exc
    else:
        raft = factory(weights=None)
        if choice == "path":
            load_exact(raft, read_state_dict(Path(weights)), Path(weights), name, expected_file(name))
    model = RaftFlow(raft, updates).eval()
    model.requires_grad_(False)
    return model
