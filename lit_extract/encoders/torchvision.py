"""Torchvision's Kinetics video models, head-less: the ``torchvision`` encoder family.

Each builder is registered with its torchvision weights enum and the clip sizes its model accepts,
and returns the torchvision model with its classification head replaced by
:class:`torch.nn.Identity`, plus the head's input width. The mean/std of each encoder are read
from torchvision's own ``weights.transforms()`` (nothing is downloaded).

==============  =====  ==========  ============================
name            D      min frames  clip size
==============  =====  ==========  ============================
swin3d_t / _s   768    1           any H = W >= 1
swin3d_b        1024   1           any H = W >= 1
r3d_18          512    1           any H = W >= 1
mc3_18          512    1           any H = W >= 1
r2plus1d_18     512    1           any H = W >= 1
s3d             1024   13          H = W >= 209
mvit_v1_b       768    16          exactly 16 x 224 x 224
mvit_v2_s       768    16          exactly 16 x 224 x 224
==============  =====  ==========  ============================

D is read from each model (the replaced head's input width); the table is for reading only.
The limits were found by running randomly initialised models on small clips (see each builder).

Normalization and training clips of the ``DEFAULT`` weights (read from ``weights.transforms()``
when each builder is registered, so this table is for reading only):

==============  ============================  ============================  =========
name            mean (RGB, [0, 1] scale)      std                           crop
==============  ============================  ============================  =========
swin3d_t/_s/_b  (0.485, 0.456, 0.406)         (0.229, 0.224, 0.225)         224 x 224
r3d_18          (0.43216, 0.394666, 0.37645)  (0.22803, 0.22145, 0.216989)  112 x 112
mc3_18          same as r3d_18                same as r3d_18                112 x 112
r2plus1d_18     same as r3d_18                same as r3d_18                112 x 112
s3d             same as r3d_18                same as r3d_18                224 x 224
mvit_v1_b/v2_s  (0.45, 0.45, 0.45)            (0.225, 0.225, 0.225)         224 x 224
==============  ============================  ============================  =========
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import nn
from torchvision.models import WeightsEnum, video

from lit_extract.encoders.spec import RGB, ClipLimits, EncoderSpec, WeightsUnavailable
from lit_extract.encoders.weights import load_exact, read_state_dict

WEIGHTS = "DEFAULT (torchvision's Kinetics-400 weights, downloaded once), none (random init) or a local .pth state dict"

HeadlessBuilder = Callable[[str], tuple[nn.Module, int]]

ENCODERS: dict[str, EncoderSpec] = {}


def register_encoder(
    *,
    weights_enum: type[WeightsEnum],
    min_frames: int,
    min_img_size: int = 1,
    fixed_clip: tuple[int, int] | None = None,
) -> Callable[[HeadlessBuilder], HeadlessBuilder]:
    """Register the decorated builder under its function name, with its torchvision weights enum
    (which gives the mean/std) and the clip sizes it accepts."""

    def register(builder: HeadlessBuilder) -> HeadlessBuilder:
        mean, std = _normalization(weights_enum)
        limits = ClipLimits(min_frames=min_frames, min_img_size=min_img_size, fixed_clip=fixed_clip)
        ENCODERS[builder.__name__] = EncoderSpec(builder.__name__, limits, mean, std, builder, WEIGHTS)
        return builder

    return register


def _normalization(weights_enum: type[WeightsEnum]) -> tuple[RGB, RGB]:
    """``(mean, std)`` of ``weights_enum.DEFAULT``, read from torchvision's ``transforms()``."""
    transforms = weights_enum.DEFAULT.transforms()
    mean = tuple(float(value) for value in transforms.mean)
    std = tuple(float(value) for value in transforms.std)
    return mean, std  # type: ignore[return-value]  # three channels each


def _headless(
    factory: Callable[..., nn.Module], weights_enum: type[WeightsEnum], weights: str, *, head: str
) -> tuple[nn.Module, int]:
    """Build ``factory``'s model with ``weights``, replace its ``head`` attribute by Identity.

    Returns the model and the head's input width. A local state dict that holds ``head`` keys is
    loaded into the full model before the head is dropped, otherwise into the head-less one.
    """
    choice = weights.strip().lower()
    state = None if choice in ("default", "none") else read_state_dict(Path(weights))
    model = _download(factory, weights_enum) if choice == "default" else factory(weights=None)
    has_head = state is not None and any(key.startswith(f"{head}.") for key in state)
    if state is not None and has_head:
        load_exact(model, state, Path(weights), factory.__name__, _expected_file(factory.__name__))
    width = _head_width(getattr(model, head))
    setattr(model, head, nn.Identity())
    if state is not None and not has_head:
        load_exact(model, state, Path(weights), factory.__name__, _expected_file(factory.__name__))
    return model, width


def _expected_file(name: str) -> str:
    """What a local weights file of torchvision's ``name`` must hold."""
    return f"the state_dict() of torchvision.models.video.{name}, with or without its head"


def _download(factory: Callable[..., nn.Module], weights_enum: type[WeightsEnum]) -> nn.Module:
    """``factory(weights=weights_enum.DEFAULT)``, downloaded to (or read from) the torch hub cache."""
    pretrained = weights_enum.DEFAULT
    try:
        return factory(weights=pretrained)
    except OSError as exc:  # URLError, timeouts, a read-only cache
        raise WeightsUnavailable(
            f"could not download {factory.__name__} weights from {pretrained.url} ({exc}); "
            "offline, download that file elsewhere", "/path/to/it.pth"
        ) from exc


def _head_width(head: nn.Module) -> int:
    """Input width of a classification head: its Linear's ``in_features`` or 1x1 Conv3d's ``in_channels``."""
    layers = [layer for layer in head.modules() if isinstance(layer, (nn.Linear, nn.Conv3d))]
    if len(layers) != 1:
        raise TypeError(f"expected one Linear or Conv3d in the head, found {len(layers)}: {head}")
    layer = layers[0]
    return layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels


# Swin3D: PatchEmbed3d pads T, H, W up to the (2, 4, 4) patch, patch merging pads odd H, W, and
# windows shrink to the token grid, so every T >= 1 and H = W >= 1 runs (tried T = 1..3 with
# H = 1..64, and 10-17 x 100-250). The embedding is the mean of the last stage's normed tokens.
@register_encoder(weights_enum=video.Swin3D_T_Weights, min_frames=1)
def swin3d_t(weights: str) -> tuple[nn.Module, int]:
    """Swin3D-T without ``head`` (Linear): (B, 3, T, H, W) -> (B, 768) pooled tokens."""
    return _headless(video.swin3d_t, video.Swin3D_T_Weights, weights, head="head")


@register_encoder(weights_enum=video.Swin3D_S_Weights, min_frames=1)
def swin3d_s(weights: str) -> tuple[nn.Module, int]:
    """Swin3D-S without ``head`` (Linear): (B, 3, T, H, W) -> (B, 768) pooled tokens."""
    return _headless(video.swin3d_s, video.Swin3D_S_Weights, weights, head="head")


@register_encoder(weights_enum=video.Swin3D_B_Weights, min_frames=1)
def swin3d_b(weights: str) -> tuple[nn.Module, int]:
    """Swin3D-B without ``head`` (Linear): (B, 3, T, H, W) -> (B, 1024) pooled tokens."""
    return _headless(video.swin3d_b, video.Swin3D_B_Weights, weights, head="head")


# Video ResNets: every conv and max pool is padded and the final pool is adaptive, so a
# 1 x 1 x 1 clip still runs (tried T = 1, 2 with H = 1..32). The embedding is the global average
# of layer4, which ``fc`` used to classify.
@register_encoder(weights_enum=video.R3D_18_Weights, min_frames=1)
def r3d_18(weights: str) -> tuple[nn.Module, int]:
    """R3D-18 without ``fc``: (B, 3, T, H, W) -> (B, 512) pooled layer4 features."""
    return _headless(video.r3d_18, video.R3D_18_Weights, weights, head="fc")


@register_encoder(weights_enum=video.MC3_18_Weights, min_frames=1)
def mc3_18(weights: str) -> tuple[nn.Module, int]:
    """MC3-18 without ``fc``: (B, 3, T, H, W) -> (B, 512) pooled layer4 features."""
    return _headless(video.mc3_18, video.MC3_18_Weights, weights, head="fc")


@register_encoder(weights_enum=video.R2Plus1D_18_Weights, min_frames=1)
def r2plus1d_18(weights: str) -> tuple[nn.Module, int]:
    """R(2+1)D-18 without ``fc``: (B, 3, T, H, W) -> (B, 512) pooled layer4 features."""
    return _headless(video.r2plus1d_18, video.R2Plus1D_18_Weights, weights, head="fc")


# S3D: the features shrink T by 8 and H, W by 32 (padded stages round up, the last (2, 2, 2) max
# pool rounds down), then an unpadded AvgPool3d((2, 7, 7)) needs a 2 x 7 x 7 map: T >= 13 and
# H = W >= 209 (T = 12 or H = 208 fail). ``classifier`` (Dropout + 1x1 Conv3d) becomes Identity,
# so S3D.forward's mean over dims (2, 3, 4) averages the pooled (B, 1024, t, h, w) map to (B, 1024).
@register_encoder(weights_enum=video.S3D_Weights, min_frames=13, min_img_size=209)
def s3d(weights: str) -> tuple[nn.Module, int]:
    """S3D without ``classifier``: (B, 3, T, H, W) -> (B, 1024) averaged pooled features."""
    return _headless(video.s3d, video.S3D_Weights, weights, head="classifier")


# MViT: the positional embedding (v1) and the pooling grid (v2) are sized when the model is built,
# for 16 x 224 x 224 clips (torchvision's default and its pretrained weights); T = 8 or 17, or
# H = 112 or 225, fail with shape errors. ``head`` (Dropout + Linear) reads the class token.
@register_encoder(weights_enum=video.MViT_V1_B_Weights, min_frames=16, fixed_clip=(16, 224))
def mvit_v1_b(weights: str) -> tuple[nn.Module, int]:
    """MViT-v1-B without ``head``: (B, 3, 16, 224, 224) -> (B, 768) class token."""
    return _headless(video.mvit_v1_b, video.MViT_V1_B_Weights, weights, head="head")


@register_encoder(weights_enum=video.MViT_V2_S_Weights, min_frames=16, fixed_clip=(16, 224))
def mvit_v2_s(weights: str) -> tuple[nn.Module, int]:
    """MViT-v2-S without ``head``: (B, 3, 16, 224, 224) -> (B, 768) class token."""
    return _headless(video.mvit_v2_s, video.MViT_V2_S_Weights, weights, head="head")
