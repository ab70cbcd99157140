"""Registry of frozen encoders, video, flow and audio: one contract, one module per family.

Every encoder is described by an :class:`~lit_extract.encoders.spec.EncoderSpec` (the clips it
takes, the mean/std of its weights, a builder); the registry finds the spec of a name and never
asks which family it holds. A family is one module:

- named encoders: the module holds ``ENCODERS: dict[str, EncoderSpec]``
  (:mod:`~lit_extract.encoders.torchvision`: torchvision's Kinetics models);
- prefixed encoders (``timm:<model>``, ``hf:<directory>``): the module holds ``PREFIX`` and
  ``spec(model: str) -> EncoderSpec``, and imports its library only when asked for a spec.

Audio encoders (``vggish``; ``hf:<directory>`` of an audio model, e.g. AST) take sound instead of clips: their spec is an
:class:`~lit_extract.encoders.spec.AudioEncoderSpec` (:func:`is_audio_encoder` tells them apart,
:func:`build_audio_encoder` builds them); clip checks and mean/std do not apply to them.

Flow encoders (``i3d_inception_flow``) take optical flow made from the frames on the device: their
spec is a :class:`~lit_extract.encoders.spec.FlowEncoderSpec` (:func:`is_flow_encoder`,
:func:`build_flow_encoder`); the flow models themselves are :mod:`~lit_extract.encoders.optical_flow`.

Adding an encoder touches its family's module; adding a family adds a module and one line below.

Modules:

- :mod:`~lit_extract.encoders.spec`: the contract (``EncoderSpec``, ``ClipLimits``, ``Encoder``).
- :mod:`~lit_extract.encoders.torchvision`: torchvision's Kinetics video models.
- :mod:`~lit_extract.encoders.i3d_resnet`: I3D ResNet-50 (``i3d_r50``).
- :mod:`~lit_extract.encoders.i3d_inception`: Inception-v1 I3D (``i3d_inception``).
- :mod:`~lit_extract.encoders.i3d_inception_flow`: its flow stream (``i3d_inception_flow``).
- :mod:`~lit_extract.encoders.optical_flow`: RAFT flow between frames (``--model.flow``).
- :mod:`~lit_extract.encoders.i3d_weights`: the published I3D weight files' layouts.
- :mod:`~lit_extract.encoders.timm`: ``timm:<model>``, image models per frame.
- :mod:`~lit_extract.encoders.hf`: ``hf:<directory>``, Hugging Face video models.
- :mod:`~lit_extract.encoders.hf_audio`: ``hf:<directory>`` of an audio model (AST), an audio encoder.
- :mod:`~lit_extract.encoders.vggish`: VGGish (``vggish``), AudioSet audio embeddings.
- :mod:`~lit_extract.encoders.weights`: ``--model.weights`` words (``DEFAULT``, a path, ``none``).
- :mod:`~lit_extract.encoders.extras`: optional extras, refused in one line when missing.
- :mod:`~lit_extract.encoders.memory_format`: `--model.channels_last` for 2-D layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from lit_extract.encoders import hf, i3d_inception, i3d_inception_flow, i3d_resnet, timm, torchvision, vggish
from lit_extract.encoders.spec import (
    RGB, AudioEncoder, AudioEncoderSpec, ClipLimits, Encoder, EncoderSpec, FlowEncoder, FlowEncoderSpec, SoundInput,
    WeightsUnavailable,
)
from lit_extract.encoders.torchvision import register_encoder
from lit_extract.errors import LitExtractError
from lit_extract.store.file_stem import file_stem

__all__ = [
    "AudioEncoder", "AudioEncoderSpec", "ClipLimits", "Encoder", "EncoderSpec", "FlowEncoder", "FlowEncoderSpec",
    "SoundInput", "WeightsUnavailable", "audio_encoder_names", "build_audio_encoder", "build_encoder",
    "build_flow_encoder", "check_clip", "default_normalization", "encoder_names", "encoder_spec", "file_stem",
    "flow_encoder_names", "is_audio_encoder", "is_flow_encoder", "register_encoder", "weights_advice",
]

NAMED_FAMILIES: tuple[ModuleType, ...] = (torchvision, i3d_resnet, i3d_inception)
FLOW_FAMILIES: tuple[ModuleType, ...] = (i3d_inception_flow,)  # named flow encoders: ``ENCODERS`` of FlowEncoderSpec
AUDIO_FAMILIES: tuple[ModuleType, ...] = (vggish,)  # named audio encoders: ``ENCODERS`` of AudioEncoderSpec
PREFIXED_FAMILIES: tuple[ModuleType, ...] = (timm, hf)


def encoder_names() -> list[str]:
    """The named video encoders, sorted (prefixed families take any model name after their prefix)."""
    return sorted(name for family in NAMED_FAMILIES for name in family.ENCODERS)


def flow_encoder_names() -> list[str]:
    """The flow encoders, sorted."""
    return sorted(name for family in FLOW_FAMILIES for name in family.ENCODERS)


def audio_encoder_names() -> list[str]:
    """The audio encoders, sorted."""
    return sorted(name for family in AUDIO_FAMILIES for name in family.ENCODERS)


def encoder_choices() -> str:
    """The names and prefixes a user may give, for messages and ``--help``."""
    prefixes = [f"{family.PREFIX}<model>" for family in PREFIXED_FAMILIES]
    return ", ".join(encoder_names() + prefixes + flow_encoder_names() + audio_encoder_names())


def encoder_spec(name: str) -> EncoderSpec | AudioEncoderSpec | FlowEncoderSpec:
    """The spec of encoder ``name`` (an :class:`AudioEncoderSpec` for an audio encoder, a
    :class:`FlowEncoderSpec` for a flow encoder); an unknown name raises :class:`LitExtractError`
    listing the choices."""
    for family in PREFIXED_FAMILIES:
        if name.startswith(family.PREFIX):
            return family.spec(name[len(family.PREFIX):])
    for family in (*NAMED_FAMILIES, *FLOW_FAMILIES, *AUDIO_FAMILIES):
        if name in family.ENCODERS:
            return family.ENCODERS[name]
    raise LitExtractError(f"unknown encoder {name!r}; choose one of: {encoder_choices()}")


def default_normalization(name: str) -> tuple[RGB, RGB]:
    """``(mean, std)``, per RGB channel on the [0, 1] scale, that the ``DEFAULT`` weights of encoder
    ``name`` were trained with (nothing is downloaded).

    Raises:
        LitExtractError: unknown name.
    """
    spec = video_spec(name)
    return spec.mean, spec.std


def weights_advice(name: str, reason: str, value: str, weights_by_name: Mapping[str, str]) -> str:
    """``reason``, what ``--model.weights`` takes for encoder ``name``, and how to pass ``value`` for it:
    ``--model.weights VALUE`` for one encoder, the mapping form (the others' weights kept) for several.

    >>> weights_advice("i3d_r50", "x.pth: not found", "/path/to/i3d_r50_kinetics.pth",
    ...                {"r3d_18": "DEFAULT", "i3d_r50": "x.pth"}).split("; ")[-1]
    "pass --model.weights '{r3d_18: DEFAULT, i3d_r50: /path/to/i3d_r50_kinetics.pth}' (one value per encoder)"
    """
    takes = f"encoder {name} takes {encoder_spec(name).weights}"
    if len(weights_by_name) <= 1:
        return f"{reason}; {takes}; pass --model.weights {value}"
    pairs = ", ".join(f"{other}: {value if other == name else given}" for other, given in weights_by_name.items())
    return f"{reason}; {takes}; pass --model.weights '{{{pairs}}}' (one value per encoder)"


def is_audio_encoder(name: str) -> bool:
    """True when ``name`` takes sound, not frames (raises like :func:`encoder_spec` for an unknown name)."""
    return isinstance(encoder_spec(name), AudioEncoderSpec)


def video_spec(name: str) -> EncoderSpec:
    """The :class:`EncoderSpec` of video encoder ``name``; an audio encoder is refused in one line."""
    spec = encoder_spec(name)
    if isinstance(spec, AudioEncoderSpec):
        raise LitExtractError(f"encoder {name} takes sound, not clips: build it with build_audio_encoder")
    if isinstance(spec, FlowEncoderSpec):
        raise LitExtractError(f"encoder {name} takes optical flow, not pixels: build it with build_flow_encoder")
    return spec


def check_clip(name: str, *, frames: int, img_size: int) -> None:
    """Raise :class:`LitExtractError` unless ``name`` is known and takes ``frames`` x ``img_size``
    x ``img_size`` clips (cheap: nothing is built, so several encoders are checked before any loads).
    An audio encoder takes no clips: any size passes."""
    spec = encoder_spec(name)
    if isinstance(spec, (EncoderSpec, FlowEncoderSpec)):  # a flow encoder: T flows of img_size
        spec.limits.check(name, frames, img_size)


def build_encoder(name: str, *, weights: str = "DEFAULT", frames: int = 8, img_size: int = 224) -> Encoder:
    """Build the frozen, head-less encoder ``name`` for clips of ``frames`` x ``img_size`` x ``img_size``.

    Args:
        name: one of :func:`encoder_names`, or ``<prefix><model>`` of a prefixed family.
        weights: ``DEFAULT`` (the family's pretrained weights; downloaded once where the family
            downloads), ``none`` (random init; both case-insensitive), or the path of a local file
            (a state dict, or a checkpoint file the family's library reads).
        frames: T of the clips the encoder will see.
        img_size: H = W of the clips the encoder will see.

    Raises:
        LitExtractError: unknown name, a clip size the model cannot take, or weights that cannot
            be downloaded, read or loaded.
    """
    spec = video_spec(name)
    spec.limits.check(name, frames, img_size)
    module, embedding_dim = spec.build(weights)
    module.eval()
    module.requires_grad_(False)
    return Encoder(module=module, embedding_dim=embedding_dim, min_frames=spec.limits.min_frames)


def build_audio_encoder(name: str, *, weights: str = "DEFAULT", postprocess: str | None = None) -> AudioEncoder:
    """Build the frozen audio encoder ``name`` (see :class:`AudioEncoderSpec`).

    Args:
        name: an audio encoder's name (:func:`is_audio_encoder`).
        weights: ``DEFAULT``, ``none`` or a local file path, as for :func:`build_encoder`.
        postprocess: the encoder's output transform (VGGish: ``DEFAULT`` or the path of the
            AudioSet PCA parameters), None for raw embeddings.

    Raises:
        LitExtractError: not an audio encoder, or weights that cannot be downloaded, read or loaded.
    """
    spec = encoder_spec(name)
    if not isinstance(spec, AudioEncoderSpec):
        raise LitExtractError(f"encoder {name} takes clips, not sound: build it with build_encoder")
    module, embedding_dim = spec.build(weights, postprocess)
    module.eval()
    module.requires_grad_(False)
    return AudioEncoder(module=module, embedding_dim=embedding_dim, sound=spec.sound)


def is_flow_encoder(name: str) -> bool:
    """True when ``name`` takes optical flow, not pixels (raises like :func:`encoder_spec` for an unknown name)."""
    return isinstance(encoder_spec(name), FlowEncoderSpec)


def build_flow_encoder(name: str, *, weights: str = "DEFAULT", frames: int = 16, img_size: int = 224) -> FlowEncoder:
    """Build the frozen flow encoder ``name`` for clips of ``frames`` flows of ``img_size`` x
    ``img_size`` (see :class:`FlowEncoderSpec`); ``weights`` as for :func:`build_encoder`.

    Raises:
        LitExtractError: not a flow encoder, a clip size it cannot take, or weights that cannot be
            downloaded, read or loaded.
    """
    spec = encoder_spec(name)
    if not isinstance(spec, FlowEncoderSpec):
        raise LitExtractError(f"encoder {name} takes {'sound' if isinstance(spec, AudioEncoderSpec) else 'pixels'}, "
                              "not optical flow: build it with "
                              f"{'build_audio_encoder' if isinstance(spec, AudioEncoderSpec) else 'build_encoder'}")
    spec.limits.check(name, frames, img_size)
    module, embedding_dim = spec.build(weights)
    module.eval()
    module.requires_grad_(False)
    return FlowEncoder(module=module, embedding_dim=embedding_dim, min_frames=spec.limits.min_frames,
                       prepare=spec.prepare)
