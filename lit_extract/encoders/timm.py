"""Any ``timm`` image model, frame by frame: the ``timm:`` encoder family.

``--model.encoder timm:<model>[.<pretrained tag>]`` applies the image model to each of a clip's T
frames (one batch of B x T images) and averages the T per-frame embeddings: (B, 3, T, H, W) ->
(B, D). ``timm`` is imported only here, when such a name is used (``pip install 'lit_extract[timm]'``).

The embedding is the model's image representation; which one follows from the head that timm's
pretrained config (``timm.models.get_pretrained_cfg``) declares for the tag:

- a **classifier** (``num_classes`` is the label count of a classification data set timm's weights
  were trained on: :data:`LABEL_COUNTS`, e.g. 1000 for ImageNet-1k): the head is removed
  (``num_classes=0``, timm's ``reset_classifier(0)``), so the embedding is the pooled pre-logits
  features (``forward_head(x, pre_logits=True)``), D = ``head_hidden_size`` (2048 for
  ``timm:resnet50``);
- an **image-text projection** (any other ``num_classes`` > 0: CLIP-family image towers, whose
  ``num_classes`` is the joint embedding width): the head is kept, so the embedding is the projected
  CLIP embedding (what ``encode_image`` returns), D = ``num_classes``. For
  ``timm:vit_base_patch16_clip_quickgelu_224.openai`` (the OpenAI ViT-B/16 exactly: QuickGELU) timm
  loads OpenAI's ``visual.proj`` as ``head`` and pools ``ln_post`` of the class token: D = 512;
- no head (``num_classes`` 0: self-supervised towers, ``*_clip_gap``): the pooled features.

Across timm's registry this tells every CLIP-style tag from every classifier (checked in the tests
over ``timm.list_pretrained()``). The tag matters: ``timm:vit_base_patch16_clip_quickgelu_224``
without one means timm's default tag (``metaclip_2pt5b``).

Clip sizes: any T >= 1. Models whose pretrained config says ``fixed_input_size`` (ViTs, whose
positional grid is sized when built) take exactly that H = W (224 for the CLIP ViT-B/16);
the others any H = W >= their ``min_input_size`` (1 when none is declared). Default mean/std: the
pretrained config's (``timm.data.resolve_data_config``; OpenAI CLIP's for the CLIP towers).

Weights: ``DEFAULT`` = timm's pretrained download (Hugging Face hub, ``timm/<model>.<tag>``, or the
config's URL, cached); a path = a checkpoint timm reads (``.pth``/``.bin``/``.safetensors``, as
downloaded: loaded by timm itself through ``pretrained_cfg_overlay=dict(file=PATH)`` so the model's
own checkpoint filter converts original layouts such as OpenAI's ``visual.*``), or the head-less
``state_dict()`` of the encoder's timm model; ``none`` = random init.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from lit_extract.encoders.extras import require
from lit_extract.encoders.memory_format import RankwiseMemoryFormat
from lit_extract.encoders.spec import ClipLimits, EncoderSpec, WeightsUnavailable, weights_choice
from lit_extract.encoders.weights import load_exact, read_state_dict, strip_prefix
from lit_extract.errors import LitExtractError

PREFIX = "timm:"
# Class counts of the classification data sets timm's pretrained heads were trained on: ImageNet-1k,
# its 21k/22k variants and subsets (timm.data.imagenet_info), ImageNet-W21k (MViTv2), Bamboo.
LABEL_COUNTS = frozenset({1000, 11221, 11821, 19168, 21841, 21842, 21843, 115217})


class PerFrame(RankwiseMemoryFormat):
    """An image model applied to every frame of a clip, embeddings averaged over time.

    ``forward``: float32 (B, 3, T, H, W) -> (B, D), the mean over T of ``image_model`` on the
    (B * T, 3, H, W) frames.
    """

    def __init__(self, image_model: nn.Module) -> None:
        super().__init__()
        self.image_model = image_model

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        batch, channels, frames, height, width = clips.shape
        images = clips.transpose(1, 2).reshape(batch * frames, channels, height, width)
        return self.image_model(images).view(batch, frames, -1).mean(dim=1)


def keeps_head(num_classes: int) -> bool:
    """Whether a pretrained head of ``num_classes`` outputs embeds (an image-text projection: kept)
    rather than classifies (dropped); 0 = no head."""
    return num_classes > 0 and num_classes not in LABEL_COUNTS


def spec(model: str) -> EncoderSpec:
    """The spec of ``timm:<model>``, from timm's pretrained config (nothing is built or downloaded).

    Raises:
        LitExtractError: timm is missing, or timm knows no such model or tag.
    """
    name = PREFIX + model
    timm = require("timm", "timm", name)
    cfg = _pretrained_cfg(timm, model, name)
    data = timm.data.resolve_data_config(pretrained_cfg=cfg)
    _, height, width = data["input_size"]
    mean, std = tuple(float(v) for v in data["mean"]), tuple(float(v) for v in data["std"])
    if len(mean) != 3 or len(std) != 3:
        raise LitExtractError(f"encoder {name}: its pretrained config is for {len(mean)}-channel images, not RGB")
    if cfg.get("fixed_input_size") and height != width:
        raise LitExtractError(f"encoder {name} only takes {height}x{width} images; lit_extract's frames are square")
    min_size = (cfg.get("min_input_size") or (3, 1, 1))[-1]
    limits = ClipLimits(
        min_frames=1, min_img_size=int(min_size), fixed_img_size=int(height) if cfg.get("fixed_input_size") else None
    )
    build = partial(_build, model, name, keeps_head(int(cfg.get("num_classes", 0))), cfg)
    weights = "DEFAULT (timm's pretrained weights, downloaded once), none (random init) or a local weights file"
    return EncoderSpec(name, limits, mean, std, build, weights)  # type: ignore[arg-type]  # three channels, checked


def _pretrained_cfg(timm: ModuleType, model: str, name: str) -> dict[str, Any]:
    """timm's pretrained config of ``model`` (``arch`` or ``arch.tag``) as a dict; defaults for an
    architecture without pretrained weights."""
    if not timm.is_model(model):
        raise LitExtractError(f"unknown encoder {name}: timm has no model {model!r}; see timm.list_models()")
    try:
        cfg = timm.models.get_pretrained_cfg(model)
    except RuntimeError as exc:  # an unknown tag of a known architecture
        raise LitExtractError(f"unknown encoder {name}: {exc} See timm.list_pretrained('{model.split('.')[0]}*')") from exc
    return (cfg or timm.models.PretrainedCfg()).to_dict()


def _build(model: str, name: str, keep_head: bool, cfg: dict[str, Any], weights: str) -> tuple[nn.Module, int]:
    """``weights`` -> (:class:`PerFrame` of the timm model with or without its head, D)."""
    timm = require("timm", "timm", name)
    head = {} if keep_head else {"num_classes": 0}
    choice = weights_choice(weights)
    if choice == "none":
        image_model = timm.create_model(model, pretrained=False, **head)
    elif choice == "default":
        image_model = _download(timm, model, name, cfg, head)
    else:
        image_model = _from_file(timm, model, name, Path(weights), keep_head)
    width = image_model.num_classes if keep_head else getattr(image_model, "head_hidden_size", image_model.num_features)
    return PerFrame(image_model), int(width)


def _download(timm: ModuleType, model: str, name: str, cfg: dict[str, Any], head: dict[str, int]) -> nn.Module:
    """``timm.create_model(model, pretrained=True)``: timm's download (or its cache)."""
    try:
        return timm.create_model(model, pretrained=True, **head)
    except Exception as exc:  # noqa: BLE001  # offline: hub/HTTP errors of several libraries
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WeightsUnavailable(
            f"could not download the weights of encoder {name} ({reason}); offline, fetch {_source(cfg)} "
            "elsewhere", "/path/to/that/file"
        ) from exc


def _source(cfg: dict[str, Any]) -> str:
    """Where timm downloads a pretrained config's weights from, in words."""
    if cfg.get("hf_hub_id"):
        hub = f"https://huggingface.co/{cfg['hf_hub_id']}"
        return f"{cfg['hf_hub_filename']} from {hub}" if cfg.get("hf_hub_filename") else f"model.safetensors from {hub}"
    if cfg.get("url"):
        return str(cfg["url"])
    return "the checkpoint of this model (timm declares no download for it)"


def _from_file(timm: ModuleType, model: str, name: str, path: Path, keep_head: bool) -> nn.Module:
    """The timm model with the weights of the checkpoint at ``path``.

    A checkpoint as timm publishes it (with its head, or in an original layout timm's filter
    converts) is loaded strictly by timm, then a classifier head is dropped; otherwise the file
    must be the exact ``state_dict()`` of the encoder's timm model (head-less for classifiers).
    """
    state = strip_prefix(read_state_dict(path), "module.")  # a clear line for missing or unreadable files
    overlay = {"file": str(path), "custom_load": False}
    try:
        image_model = timm.create_model(model, pretrained=True, pretrained_cfg_overlay=overlay)
    except Exception:  # noqa: BLE001  # not timm's layout: must be the encoder's own state dict
        image_model = timm.create_model(model, pretrained=False, **({} if keep_head else {"num_classes": 0}))
        expected = f"a {model} checkpoint as timm publishes it, or the state_dict() of timm.create_model({model!r}" + (
            ")" if keep_head else ", num_classes=0)")
        load_exact(image_model, state, path, name, expected)
        return image_model
    if not keep_head:
        image_model.reset_classifier(0)
    return image_model
