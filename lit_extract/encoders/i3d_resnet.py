"""I3D ResNet-50 (Kinetics-400), the features of RTFM, MGFN and TEVAD: the ``i3d_resnet`` family.

The network of FAIR's ``video-nonlocal-net`` baseline (``i3d_baseline_32x2_IN_pretrain_400k.pkl``)
as ported to PyTorch by ``Tushar-N/pytorch-resnet3d`` (``models/resnet.py``, ``I3Res50`` without
non-local blocks), whose converted ``i3d_r50_kinetics.pth`` loads here unchanged: same parameter
names and shapes (``conv1``, ``bn1``, ``layer1.0.conv1``, ..., ``layer4.2.bn3``; the ``fc`` head is
accepted and dropped). The embedding is the 2048-D global average of ``layer4``, what
``GowthamGottimukkala/I3D_Feature_Extraction_resnet`` saves for the VAD methods.

Architecture (B, 3, T, H, W) -> (B, 2048):

=========  ============================================  =============================
stage      layers                                        T x H for 16 x 224 input
=========  ============================================  =============================
conv1      Conv3d 5x7x7, stride 2x2x2, pad 2x3x3; BN     8 x 112
maxpool1   MaxPool3d 2x3x3, stride 2x2x2, no padding     4 x 55
layer1     3 bottlenecks, 64 wide; temporal 3x1x1 in all 4 x 55
maxpool2   MaxPool3d 2x1x1, stride 2x1x1                 2 x 55
layer2     4 bottlenecks, 128; temporal 3 in blocks 0, 2 2 x 28
layer3     6 bottlenecks, 256; temporal 3 in 0, 2, 4     2 x 14
layer4     3 bottlenecks, 512; temporal 3 in block 1     2 x 7
avgpool    mean over T, H, W                             2048
=========  ============================================  =============================

A bottleneck is ``conv1`` (k x 1 x 1, k = 3 or 1, padded in time), ``conv2`` (1 x 3 x 3, the block's
spatial stride), ``conv3`` (1 x 1 x 1, 4x wide), each followed by BN (eps 1e-5), ReLU after the
first two and after the residual sum; the first block of each layer projects the residual
(``downsample``: 1 x 1 x 1 conv with the spatial stride, and BN).

Clips: the two unpadded max pools need T >= 7 (conv1 leaves ceil(T / 2) >= 4 steps so that
``maxpool2`` still gets 2) and H = W >= 5 (conv1 leaves >= 3 rows for ``maxpool1``'s 3x3
window); T = 6 or H = 4 fail in the port and here. Every larger size runs.

Normalization: the extractor scales pixels to [-1, 1] (``x * 2 / 255 - 1``), i.e. mean = std = 0.5
on the [0, 1] scale, which is the default here.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lit_extract.encoders.i3d_weights import with_batch_counters, without_head
from lit_extract.encoders.spec import ClipLimits, EncoderSpec, WeightsUnavailable, weights_choice
from lit_extract.encoders.weights import load_exact, read_state_dict, strip_prefix

NAME = "i3d_r50"
EMBEDDING_DIM = 2048
EXPECTED_FILE = (
    "i3d_r50_kinetics.pth (converted from i3d_baseline_32x2_IN_pretrain_400k.pkl by "
    "Tushar-N/pytorch-resnet3d's utils/convert_weights.py), with or without its fc head"
)
DEFAULT_WEIGHTS_HELP = (
    f"encoder {NAME} has no downloadable DEFAULT weights: fetch "
    "https://dl.fbaipublicfiles.com/video-nonlocal/i3d_baseline_32x2_IN_pretrain_400k.pkl, convert it with "
    "Tushar-N/pytorch-resnet3d's `python -m utils.convert_weights i3d_baseline_32x2_IN_pretrain_400k.pkl "
    "i3d_r50_kinetics.pth` (see its Readme)"
)
# (bottlenecks, width, spatial stride of the first block, temporal kernel 3 (1) or 1 (0) per block)
STAGES = (
    (3, 64, 1, (1, 1, 1)),
    (4, 128, 2, (1, 0, 1, 0)),
    (6, 256, 2, (1, 0, 1, 0, 1, 0)),
    (3, 512, 2, (0, 1, 0)),
)
EXPANSION = 4


class Bottleneck(nn.Module):
    """Inflated ResNet bottleneck: (B, C_in, T, H, W) -> (B, 4 * width, T, H / stride, W / stride)."""

    def __init__(self, in_channels: int, width: int, stride: int, temporal: bool, project: bool) -> None:
        super().__init__()
        time = 3 if temporal else 1
        self.conv1 = nn.Conv3d(in_channels, width, (time, 1, 1), padding=(time // 2, 0, 0), bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = nn.Conv3d(width, width, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(width)
        self.conv3 = nn.Conv3d(width, width * EXPANSION, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(width * EXPANSION)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(
                nn.Conv3d(in_channels, width * EXPANSION, 1, stride=(1, stride, stride), bias=False),
                nn.BatchNorm3d(width * EXPANSION),
            )
            if project
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


def make_layer(in_channels: int, blocks: int, width: int, stride: int, temporal: tuple[int, ...]) -> nn.Sequential:
    """One ResNet stage; its first block changes the width (and the resolution when ``stride`` is 2)."""
    layers = [Bottleneck(in_channels, width, stride, bool(temporal[0]), project=True)]
    layers += [Bottleneck(width * EXPANSION, width, 1, bool(temporal[i]), project=False) for i in range(1, blocks)]
    return nn.Sequential(*layers)


class I3DResNet50(nn.Module):
    """I3D ResNet-50 without its head: float32 (B, 3, T, H, W), T >= 7, H = W >= 5, pixels in
    [-1, 1] -> float32 (B, 2048), the global average of ``layer4``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, 64, (5, 7, 7), stride=2, padding=(2, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool1 = nn.MaxPool3d((2, 3, 3), stride=2)
        self.maxpool2 = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1))  # after layer1: halves T once more
        in_channels = 64
        for index, (blocks, width, stride, temporal) in enumerate(STAGES, start=1):
            self.add_module(f"layer{index}", make_layer(in_channels, blocks, width, stride, temporal))
            in_channels = width * EXPANSION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool1(self.relu(self.bn1(self.conv1(x))))
        x = self.maxpool2(self.layer1(x))
        x = self.layer4(self.layer3(self.layer2(x)))  # B 2048 t h w
        return x.mean(dim=(2, 3, 4))  # B 2048


def load_i3d_r50(model: I3DResNet50, path: Path) -> None:
    """Load the state dict in ``path`` (the port's layout, ``fc`` head optional) into ``model``."""
    state = strip_prefix(read_state_dict(path), "module.")
    state = without_head(state, "fc", EMBEDDING_DIM, path, NAME, EXPECTED_FILE)
    load_exact(model, with_batch_counters(state, model), path, NAME, EXPECTED_FILE)


def build(weights: str) -> tuple[nn.Module, int]:
    """``--model.weights`` -> (I3D ResNet-50 without ``fc``, 2048); ``DEFAULT`` explains where the
    converted Kinetics weights come from (they cannot be downloaded as one file)."""
    choice = weights_choice(weights)
    if choice == "default":
        raise WeightsUnavailable(DEFAULT_WEIGHTS_HELP, "/path/to/i3d_r50_kinetics.pth")
    model = I3DResNet50()
    if choice == "path":
        load_i3d_r50(model, Path(weights))
    return model, EMBEDDING_DIM


ENCODERS: dict[str, EncoderSpec] = {
    NAME: EncoderSpec(
        name=NAME,
        limits=ClipLimits(min_frames=7, min_img_size=5),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        build=build,
        weights="a converted local file (i3d_r50_kinetics.pth, docs/encoders.md says how to make it) or none "
        "(random init)",
    )
}
