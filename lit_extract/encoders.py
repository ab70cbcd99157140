"""Registry of frozen torchvision video encoders: one small builder per name.

Each builder is registered with its torchvision weights enum and the clip sizes its model accepts,
and returns the torchvision model with its classification head replaced by
:class:`torch.nn.Identity`, plus the head's input width. :func:`build_encoder` checks the clip size
first, then builds, freezes and wraps the result in an :class:`Encoder`;
:func:`default_normalization` reads the mean/std the encoder's ``DEFAULT`` weights expect from
torchvision's own transforms. Nothing outside this file needs to know where a model keeps its head.

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

Normalization and training clips of the ``DEFAULT`` weights (``weights.transforms()``; read by
:func:`default_normalization`, so this table is for reading only):

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
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.models import WeightsEnum, video

from lit_extract.errors import LitExtractError, first_few

HeadlessBuilder = Callable[[str], tuple[nn.Module, int]]


@dataclass(frozen=True)
class Encoder:
    """A frozen video encoder without its classification head.

    ``module(x)`` takes float32 clips ``x`` of shape (B, 3, T, H, W), normalised as its weights
    expect, with ``T >= min_frames``, and returns float32 embeddings of shape (B, embedding_dim).
    The module is in eval mode and none of its parameters requires grad.

    Attributes:
        module: the torchvision model with its head replaced by ``nn.Identity``.
        embedding_dim: D, the width of ``module(x)`` (the replaced head's input width).
        min_frames: the smallest T the model accepts.
    """

    module: nn.Module
    embedding_dim: int
    min_frames: int


@dataclass(frozen=True)
class _Entry:
    """A registered builder and the clip sizes (T, and H = W) its model accepts."""

    builder: HeadlessBuilder
    weights_enum: type[WeightsEnum]  # torchvision's weights of this model: URL, transforms, meta
    min_frames: int
    min_img_size: int
    fixed_clip: tuple[int, int] | None  # (frames, img_size) the model is built for, if it takes no other


_REGISTRY: dict[str, _Entry] = {}


def register_encoder(
    *,
    weights_enum: type[WeightsEnum],
    min_frames: int,
    min_img_size: int = 1,
    fixed_clip: tuple[int, int] | None = None,
) -> Callable[[HeadlessBuilder], HeadlessBuilder]:
    """Register the decorated builder under its function name, with its torchvision weights enum
    and the clip sizes it accepts."""

    def register(builder: HeadlessBuilder) -> HeadlessBuilder:
        _REGISTRY[builder.__name__] = _Entry(builder, weights_enum, min_frames, min_img_size, fixed_clip)
        return builder

    return register


def encoder_names() -> list[str]:
    """The registered encoder names, sorted."""
    return sorted(_REGISTRY)


def _entry(name: str) -> _Entry:
    """The registry entry of ``name``; an unknown name raises :class:`LitExtractError` listing the choices."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise LitExtractError(f"unknown encoder {name!r}; choose one of: {', '.join(encoder_names())}")
    return entry


def default_normalization(name: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """``(mean, std)``, per RGB channel on the [0, 1] scale, that the ``DEFAULT`` weights of encoder
    ``name`` were trained with, read from torchvision's ``weights.transforms()`` (nothing is downloaded).

    Raises:
        LitExtractError: unknown name.
    """
    transforms = _entry(name).weights_enum.DEFAULT.transforms()
    mean = tuple(float(value) for value in transforms.mean)
    std = tuple(float(value) for value in transforms.std)
    return mean, std  # type: ignore[return-value]  # three channels each


def build_encoder(name: str, *, weights: str = "DEFAULT", frames: int = 8, img_size: int = 224) -> Encoder:
    """Build the frozen, head-less encoder ``name`` for clips of ``frames`` x ``img_size`` x ``img_size``.

    Args:
        name: one of :func:`encoder_names`.
        weights: ``DEFAULT`` (torchvision's pretrained weights, downloaded once to the torch hub
            cache), ``none`` (random init; both case-insensitive), or the path of a local ``.pth``
            state dict of the full torchvision model or of its head-less module, possibly wrapped
            under a ``state_dict`` or ``model`` key.
        frames: T of the clips the encoder will see.
        img_size: H = W of the clips the encoder will see.

    Raises:
        LitExtractError: unknown name, a clip size the model cannot take, or weights that cannot
            be downloaded, read or loaded.
    """
    check_clip(name, frames=frames, img_size=img_size)
    entry = _entry(name)
    module, embedding_dim = entry.builder(weights)
    module.eval()
    module.requires_grad_(False)
    return Encoder(module=module, embedding_dim=embedding_dim, min_frames=entry.min_frames)


def check_clip(name: str, *, frames: int, img_size: int) -> None:
    """Raise :class:`LitExtractError` unless ``name`` is registered and takes ``frames`` x ``img_size``
    x ``img_size`` clips (cheap: nothing is built, so several encoders are checked before any loads)."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise LitExtractError(f"unknown encoder {name!r}; choose one of: {', '.join(encoder_names())}")
    _check_clip(name, entry, frames, img_size)


def _check_clip(name: str, entry: _Entry, frames: int, img_size: int) -> None:
    """Raise :class:`LitExtractError` unless ``entry``'s model accepts (frames, img_size) clips."""
    if entry.fixed_clip is not None and (frames, img_size) != entry.fixed_clip:
        fixed_frames, fixed_size = entry.fixed_clip
        raise LitExtractError(
            f"encoder {name} only takes clips of exactly {fixed_frames} frames of {fixed_size}x{fixed_size} "
            f"(its positional grid is fixed), got frames={frames}, img_size={img_size}; "
            f"pass --data.frames {fixed_frames} --data.img_size {fixed_size}"
        )
    if frames < entry.min_frames:
        raise LitExtractError(
            f"encoder {name} needs at least {entry.min_frames} frames per clip, got frames={frames}; "
            f"pass --data.frames {entry.min_frames} (or more)"
        )
    if img_size < entry.min_img_size:
        raise LitExtractError(
            f"encoder {name} needs img_size >= {entry.min_img_size}, got img_size={img_size}; "
            f"pass --data.img_size {entry.min_img_size} (or more)"
        )


def _headless(
    factory: Callable[..., nn.Module], weights_enum: type[WeightsEnum], weights: str, *, head: str
) -> tuple[nn.Module, int]:
    """Build ``factory``'s model with ``weights``, replace its ``head`` attribute by Identity.

    Returns the model and the head's input width. A local state dict that holds ``head`` keys is
    loaded into the full model before the head is dropped, otherwise into the head-less one.
    """
    choice = weights.strip().lower()
    state = None if choice in ("default", "none") else _read_state_dict(Path(weights))
    model = _download(factory, weights_enum) if choice == "default" else factory(weights=None)
    has_head = state is not None and any(key.startswith(f"{head}.") for key in state)
    if state is not None and has_head:
        _load_exact(model, state, Path(weights), factory.__name__)
    width = _head_width(getattr(model, head))
    setattr(model, head, nn.Identity())
    if state is not None and not has_head:
        _load_exact(model, state, Path(weights), factory.__name__)
    return model, width


def _download(factory: Callable[..., nn.Module], weights_enum: type[WeightsEnum]) -> nn.Module:
    """``factory(weights=weights_enum.DEFAULT)``, downloaded to (or read from) the torch hub cache."""
    pretrained = weights_enum.DEFAULT
    try:
        return factory(weights=pretrained)
    except OSError as exc:  # URLError, timeouts, a read-only cache
        raise LitExtractError(
            f"could not download {factory.__name__} weights from {pretrained.url} ({exc}); "
            f"offline, download that file elsewhere and pass --model.weights /path/to/it.pth"
        ) from exc


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The ``name -> tensor`` mapping saved in ``path``, unwrapped from ``state_dict``/``model`` keys."""
    if not path.is_file():
        raise LitExtractError(
            f"{path}: weights file not found; pass --model.weights DEFAULT, none, or the path of a .pth state dict"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # arbitrary bytes make the unpickler fail in many ways (IndexError, ...)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LitExtractError(
            f"{path}: not a readable torch file ({reason}); save one with torch.save(model.state_dict(), path)"
        ) from exc
    for key in ("state_dict", "model"):
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            payload = payload[key]
            break
    if not isinstance(payload, dict) or not all(isinstance(value, torch.Tensor) for value in payload.values()):
        raise LitExtractError(
            f"{path}: holds no state dict (name -> tensor); save one with torch.save(model.state_dict(), path)"
        )
    return payload


def _load_exact(model: nn.Module, state: dict[str, torch.Tensor], path: Path, name: str) -> None:
    """Load ``state`` into ``model`` strictly; a mismatch raises one :class:`LitExtractError` line."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    wrong_shape = [key for key in expected if key in state and state[key].shape != expected[key].shape]
    if missing or unexpected or wrong_shape:
        problems = [
            f"{label}: {first_few(keys, 3)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape))
            if keys
        ]
        raise LitExtractError(
            f"{path}: does not fit encoder {name} ({'; '.join(problems)}); pass the state_dict() of "
            f"torchvision.models.video.{name}, with or without its head"
        )
    model.load_state_dict(state, strict=True)


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
