"""The one contract every encoder family fulfils: a spec per encoder name.

Three kinds of encoders: video encoders take clips of frames (:class:`EncoderSpec`), audio encoders
take windows of sound (:class:`AudioEncoderSpec`: the sound they take is a :class:`SoundInput`),
flow encoders take clips of optical flow made on the device from one frame more
(:class:`FlowEncoderSpec`).

A family module (``torchvision``, ``i3d_resnet``, ``i3d_inception``, ``timm``, ``hf``) describes each
of its encoders by an :class:`EncoderSpec`: the clips it takes (:class:`ClipLimits`, checked before
anything is built or loaded), the mean/std its pretrained weights expect, and a builder that turns a
``--model.weights`` value into the head-less model and its embedding width. The registry
(:mod:`lit_extract.encoders`) only ever talks to specs, so nothing outside a family module knows
where a model keeps its head, how its weights are named or which library it comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lit_extract.errors import LitExtractError

RGB = tuple[float, float, float]
# (flow in pixels, quantize) -> a flow encoder's input (FlowEncoderSpec.prepare).
FlowInput = Callable[[torch.Tensor, bool], torch.Tensor]
# ``--model.weights`` value (``DEFAULT``, ``none`` or a path) -> (head-less module, embedding width D).
Builder = Callable[[str], tuple[nn.Module, int]]


@dataclass(frozen=True)
class ClipLimits:
    """The clips (B, 3, T, H, W), H = W, an encoder's model accepts.

    Attributes:
        min_frames: the smallest T.
        min_img_size: the smallest H = W.
        fixed_clip: ``(frames, img_size)`` when the model takes no other (a positional grid sized
            when it is built), else ``None``.
        frames_multiple: T must be a multiple of this (a tubelet size), 1 when any T runs.
        fixed_img_size: H = W when the model takes no other size but any T (an image model with a
            fixed positional grid, applied frame by frame), else ``None``.
    """

    min_frames: int = 1
    min_img_size: int = 1
    fixed_clip: tuple[int, int] | None = None
    frames_multiple: int = 1
    fixed_img_size: int | None = None

    def check(self, name: str, frames: int, img_size: int) -> None:
        """Raise :class:`LitExtractError` naming the flag to pass unless ``name`` takes
        ``frames`` x ``img_size`` x ``img_size`` clips."""
        if self.fixed_clip is not None and (frames, img_size) != self.fixed_clip:
            fixed_frames, fixed_size = self.fixed_clip
            raise LitExtractError(
                f"encoder {name} only takes clips of exactly {fixed_frames} frames of {fixed_size}x{fixed_size} "
                f"(its positional grid is fixed), got frames={frames}, img_size={img_size}; "
                f"pass --data.frames {fixed_frames} --data.img_size {fixed_size}"
            )
        if self.fixed_img_size is not None and img_size != self.fixed_img_size:
            raise LitExtractError(
                f"encoder {name} only takes frames of exactly {self.fixed_img_size}x{self.fixed_img_size} "
                f"(its positional grid is fixed), got img_size={img_size}; pass --data.img_size {self.fixed_img_size}"
            )
        if frames < self.min_frames:
            raise LitExtractError(
                f"encoder {name} needs at least {self.min_frames} frames per clip, got frames={frames}; "
                f"pass --data.frames {self.min_frames} (or more)"
            )
        if frames % self.frames_multiple:
            raise LitExtractError(
                f"encoder {name} needs a multiple of {self.frames_multiple} frames per clip, got frames={frames}; "
                f"pass --data.frames {frames + self.frames_multiple - frames % self.frames_multiple}"
            )
        if img_size < self.min_img_size:
            raise LitExtractError(
                f"encoder {name} needs img_size >= {self.min_img_size}, got img_size={img_size}; "
                f"pass --data.img_size {self.min_img_size} (or more)"
            )


@dataclass(frozen=True)
class EncoderSpec:
    """One encoder: what it takes, how its inputs are normalised, and how it is built.

    Attributes:
        name: the full ``--model.encoder`` name (``i3d_r50``, ``timm:resnet50``, ``hf:/models/videomae``).
        limits: the clips it accepts.
        mean: per-channel mean (RGB, [0, 1] scale) its ``DEFAULT`` weights were trained with.
        std: per-channel std, likewise.
        build: ``weights -> (module, D)``; ``module(x)`` maps float32 (B, 3, T, H, W) clips,
            normalised with mean/std, to float32 (B, D) embeddings. ``weights`` is ``DEFAULT``
            (the family's pretrained weights), ``none`` (random init; both case-insensitive) or a
            local file path. Failures raise :class:`LitExtractError` in one line; weights it can't
            get (a failed download, no ``DEFAULT``) raise :class:`WeightsUnavailable`.
        weights: what ``--model.weights`` takes for this encoder, as messages name it.
    """

    name: str
    limits: ClipLimits
    mean: RGB
    std: RGB
    build: Builder
    weights: str = "DEFAULT (its pretrained weights, downloaded once), none (random init) or a local state dict file"


class WeightsUnavailable(LitExtractError):
    """An encoder's weights can't be had as asked (a download failed, it has no ``DEFAULT``).

    ``reason`` says what happened, ``value`` what to pass instead (``/path/to/rgb_imagenet.pt``);
    the message is for one encoder (``...; pass --model.weights <value>``): a caller that builds
    several renders the list or mapping form instead (:func:`lit_extract.encoders.weights_advice`).
    """

    def __init__(self, reason: str, value: str) -> None:
        super().__init__(f"{reason}; pass --model.weights {value}")
        self.reason, self.value = reason, value


@dataclass(frozen=True)
class Encoder:
    """A frozen video encoder without its classification head.

    ``module(x)`` takes float32 clips ``x`` of shape (B, 3, T, H, W), normalised as its weights
    expect, with ``T >= min_frames``, and returns float32 embeddings of shape (B, embedding_dim).
    The module is in eval mode and none of its parameters requires grad.

    Attributes:
        module: the model without its classification head.
        embedding_dim: D, the width of ``module(x)``.
        min_frames: the smallest T the model accepts.
    """

    module: nn.Module
    embedding_dim: int
    min_frames: int


@dataclass(frozen=True)
class SoundInput:
    """The sound an audio encoder takes: mono float32 windows, values in [-1, 1].

    Attributes:
        sample_rate: samples per second (Hz) the sound is resampled to.
        samples: the length of one window (VGGish: 15,600 samples, the 0.975 s its 96 x 64
            log-mel example of 0.96 s reads).
        hop: samples between back-to-back windows (VGGish: 15,360 = 0.96 s), the step of the
            ``span`` anchor (:mod:`lit_extract.decode.sound`).
    """

    sample_rate: int
    samples: int
    hop: int


# (``--model.weights``, ``--model.audio_postprocess`` or None) -> (head-less module, embedding width D).
AudioBuilder = Callable[[str, "str | None"], tuple[nn.Module, int]]


@dataclass(frozen=True)
class AudioEncoderSpec:
    """One audio encoder: it takes sound, not frames (no clip limits, no crops, no mean/std).

    Attributes:
        name: the ``--model.encoder`` name (``vggish``).
        sound: the windows it takes.
        build: ``(weights, postprocess) -> (module, D)``; ``module(x)`` maps float32 (B, samples)
            windows of ``sound`` to float32 (B, D) embeddings. ``weights`` is ``DEFAULT``,
            ``none`` or a local file path as for every encoder; ``postprocess`` is the encoder's
            optional output transform (VGGish: the AudioSet PCA parameters, ``DEFAULT`` or a
            path), None for raw embeddings. Failures raise :class:`LitExtractError` in one line.
        weights: what ``--model.weights`` takes for this encoder, as messages name it.
    """

    name: str
    sound: SoundInput
    build: AudioBuilder
    weights: str = "DEFAULT (its pretrained weights, downloaded once), none (random init) or a local state dict file"


@dataclass(frozen=True)
class AudioEncoder:
    """A frozen audio encoder: ``module(x)`` takes float32 windows (B, ``sound.samples``) at
    ``sound.sample_rate`` and returns float32 (B, embedding_dim); eval mode, no grad."""

    module: nn.Module
    embedding_dim: int
    sound: SoundInput


@dataclass(frozen=True)
class FlowEncoderSpec:
    """One flow encoder: it takes optical flow, not pixels (no mean/std).

    A row's clip of T flows is made on the device from T + 1 frames (its T sampled frames and the
    next one) by the run's flow model (``--model.flow``, :mod:`lit_extract.encoders.optical_flow`;
    :mod:`lit_extract.extract.flow_stream`).

    Attributes:
        name: the ``--model.encoder`` name (``i3d_inception_flow``).
        limits: the flow clips (B, 2, T, H, W) it accepts (T flows of H x W).
        prepare: ``(flow, quantize) -> input``: float32 flow in pixels, (x, y) = (right, down), any
            shape with the (x, y) axis where the model reads it -> what ``module`` reads (e.g.
            clipped and scaled to [-1, 1]); ``quantize`` (``--model.flow_quantize``) rounds it to
            the 8 bits of a stored flow image first.
        build: ``weights -> (module, D)``; ``module(prepare(flow, quantize))`` maps float32
            (B, 2, T, H, W) flow to float32 (B, D). ``weights`` is ``DEFAULT``, ``none`` or a local
            file path as for every encoder. Failures raise :class:`LitExtractError` in one line.
    """

    name: str
    limits: ClipLimits
    prepare: FlowInput
    build: Builder


@dataclass(frozen=True)
class FlowEncoder:
    """A frozen flow encoder: ``module(prepare(flow, quantize))`` maps float32 (B, 2, T, H, W) flow in
    pixels, ``T >= min_frames``, to float32 (B, embedding_dim); eval mode, no grad."""

    module: nn.Module
    embedding_dim: int
    min_frames: int
    prepare: FlowInput


def weights_choice(weights: str) -> str:
    """``default``, ``none`` or ``path`` for a ``--model.weights`` value."""
    choice = weights.strip().lower()
    return choice if choice in ("default", "none") else "path"
