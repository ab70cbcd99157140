"""Hugging Face ``transformers`` video models: the ``hf:`` encoder family.

``--model.encoder hf:<directory>`` (a ``save_pretrained`` folder: ``config.json``, weights,
``preprocessor_config.json``) or ``hf:<hub id>`` (read from the Hugging Face cache; downloaded
there when online). ``transformers`` is imported only here (``pip install 'lit_extract[hf]'``).
Clips (B, 3, T, H, W) go to the model as the (B, T, 3, H, W) videos transformers takes. A folder
whose config is an audio model (AST) is an audio encoder instead: :mod:`~lit_extract.encoders.hf_audio`.

The embedding is what the model's video-classification head reads, per ``config.model_type``:

==============  ====================================================  ============================
model_type      embedding (D = ``hidden_size``)                         clips
==============  ====================================================  ============================
videomae        ``VideoMAEForVideoClassification`` without            exactly ``num_frames`` x
                ``classifier``: the token mean through ``fc_norm``     ``image_size`` (fixed
                (``use_mean_pooling``), else the first token           sinusoidal grid)
vjepa2          a ``VJEPA2ForVideoClassification`` checkpoint: its     T a multiple of
                attentive ``pooler`` output; a pretraining one         ``tubelet_size``, H = W >=
                (``VJEPA2Model``, no pooler weights): the mean of the  ``patch_size`` (3D RoPE)
                encoder's last (normed) tokens
timesformer     ``TimesformerForVideoClassification`` without          exactly ``num_frames`` x
                ``classifier``: the class token after ``layernorm``    ``image_size``
==============  ====================================================  ============================

A VideoMAE pretraining checkpoint has no ``fc_norm``: it starts as transformers initialises a
LayerNorm (weight 1, bias 0), as when the checkpoint is fine-tuned. X-CLIP is not a family here
(its video embedding needs the text model's prompt generator and the whole ``XCLIPModel``).

Default mean/std: ``image_mean``/``image_std`` of the directory's ``preprocessor_config.json`` (or
``video_preprocessor_config.json``); ImageNet's (the processors' own default) when it has neither.
Weights: ``DEFAULT`` = the directory's own weights; a path = a state dict of the model built from
the directory's config (with or without ``classifier``); ``none`` = random init from the config.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from lit_extract.encoders import hf_audio
from lit_extract.encoders.extras import require
from lit_extract.encoders.memory_format import RankwiseMemoryFormat
from lit_extract.encoders.spec import RGB, AudioEncoderSpec, ClipLimits, EncoderSpec, weights_choice
from lit_extract.encoders.weights import load_exact, load_pretrained, read_state_dict, strip_prefix
from lit_extract.errors import LitExtractError

PREFIX = "hf:"
MODEL_TYPES = ("videomae", "vjepa2", "timesformer")
PREPROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json")
IMAGENET_MEAN: RGB = (0.485, 0.456, 0.406)
IMAGENET_STD: RGB = (0.229, 0.224, 0.225)


class VideoEmbedding(RankwiseMemoryFormat):
    """A transformers video model returning what its classification head reads.

    ``forward``: float32 (B, 3, T, H, W) -> (B, D): the model on the (B, T, 3, H, W) videos, then
    ``logits`` of a classification model whose ``classifier`` is Identity, or the token mean of a
    bare ``VJEPA2Model``'s ``last_hidden_state`` (its predictor skipped).
    """

    def __init__(self, model: nn.Module, token_mean: bool) -> None:
        super().__init__()
        self.model = model
        self.token_mean = token_mean

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        videos = clips.transpose(1, 2)  # B T C H W
        if self.token_mean:
            return self.model(videos, skip_predictor=True).last_hidden_state.mean(dim=1)
        return self.model(videos).logits


def spec(model: str) -> EncoderSpec | AudioEncoderSpec:
    """The spec of ``hf:<directory or hub id>`` from its ``config.json`` and preprocessor config
    (no weights are read): an :class:`AudioEncoderSpec` for an audio model
    (:mod:`~lit_extract.encoders.hf_audio`).

    Raises:
        LitExtractError: transformers is missing, no such directory (or cached hub id), or a model
            type outside :data:`MODEL_TYPES` and :data:`hf_audio.MODEL_TYPES`.
    """
    name = PREFIX + model
    transformers = require("transformers", "hf", name)
    directory = _directory(model, name)
    config = _config(transformers, directory, name)
    if config.model_type in hf_audio.MODEL_TYPES:
        return hf_audio.spec(transformers, directory, config, name)
    mean, std = _normalization(directory, name)
    build = partial(_build, directory, name)
    weights = "DEFAULT (the model folder's own weights), none (random init) or a local state dict file"
    return EncoderSpec(name, _limits(config), mean, std, build, weights)


def _directory(model: str, name: str) -> Path:
    """The local folder of ``model``: itself, or the cached snapshot of a hub id (downloaded when online)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.is_absolute() or model.startswith((".", "~")) or model.count("/") != 1:
        raise LitExtractError(f"encoder {name}: no such directory {model}; pass hf:/path/to/a/save_pretrained/folder")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model, local_files_only=True))
    except Exception:  # noqa: BLE001  # not cached: try the hub
        pass
    try:
        return Path(snapshot_download(model))
    except Exception as exc:  # noqa: BLE001  # offline, unknown repo, ...
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise LitExtractError(
            f"encoder {name}: {model} is neither a directory nor in the Hugging Face cache ({reason}); offline, "
            f"download it elsewhere (hf download {model} --local-dir DIR) and pass --model.encoder hf:DIR"
        ) from exc


def _config(transformers: ModuleType, directory: Path, name: str) -> Any:
    """The directory's transformers config, of a supported model type."""
    try:
        config = transformers.AutoConfig.from_pretrained(directory)
    except (OSError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise LitExtractError(f"encoder {name}: {directory} holds no readable config.json ({reason})") from exc
    if config.model_type not in MODEL_TYPES + hf_audio.MODEL_TYPES:
        raise LitExtractError(f"encoder {name}: {directory} holds a {config.model_type!r} model; "
                              f"hf: takes {', '.join(MODEL_TYPES)} (video), {', '.join(hf_audio.MODEL_TYPES)} (audio)")
    return config


def _limits(config: Any) -> ClipLimits:
    """The clips a model of ``config`` takes (see the module's table)."""
    if config.model_type == "vjepa2":
        return ClipLimits(min_frames=config.tubelet_size, frames_multiple=config.tubelet_size,
                          min_img_size=config.patch_size)
    multiple = getattr(config, "tubelet_size", 1)
    return ClipLimits(min_frames=config.num_frames, frames_multiple=multiple,
                      fixed_clip=(config.num_frames, config.image_size))


def _normalization(directory: Path, name: str) -> tuple[RGB, RGB]:
    """``image_mean``/``image_std`` of the directory's preprocessor config (ImageNet's without one)."""
    for file_name in PREPROCESSOR_FILES:
        path = directory / file_name
        if not path.is_file():
            continue
        try:
            processor = json.loads(path.read_text(encoding="utf-8"))
            mean = tuple(float(v) for v in processor["image_mean"])
            std = tuple(float(v) for v in processor["image_std"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LitExtractError(f"{path}: no readable image_mean/image_std ({exc}); fix it or delete it") from exc
        if len(mean) != 3 or len(std) != 3:
            raise LitExtractError(f"{path}: image_mean/image_std must hold 3 values (RGB), got {mean}, {std}")
        return mean, std  # type: ignore[return-value]  # three values, checked
    return IMAGENET_MEAN, IMAGENET_STD


def _build(directory: Path, name: str, weights: str) -> tuple[nn.Module, int]:
    """``weights`` -> (:class:`VideoEmbedding` of the directory's model, D = ``hidden_size``)."""
    transformers = require("transformers", "hf", name)
    config = _config(transformers, directory, name)
    token_mean = config.model_type == "vjepa2" and not _is_classifier(config)
    factory = transformers.VJEPA2Model if token_mean else transformers.AutoModelForVideoClassification
    choice = weights_choice(weights)
    if choice == "default":  # a missing fc_norm LayerNorm starts as weight 1, bias 0 (module doc)
        model = load_pretrained(factory, directory, name, optional=("classifier.", "fc_norm."))
    else:
        model = factory.from_config(config) if not token_mean else factory(config)
    if not token_mean:
        model.classifier = nn.Identity()
    if choice == "path":
        state = strip_prefix(read_state_dict(Path(weights)), "module.")
        state = {key: value for key, value in state.items() if not key.startswith("classifier.")}
        load_exact(model, state, Path(weights), name,
                   f"the state_dict() of the {type(model).__name__} built from {directory}/config.json")
    return VideoEmbedding(model, token_mean), int(config.hidden_size)


def _is_classifier(config: Any) -> bool:
    """Whether ``config`` describes a video-classification checkpoint (``architectures``)."""
    return any(arch.endswith("ForVideoClassification") for arch in (getattr(config, "architectures", None) or []))
