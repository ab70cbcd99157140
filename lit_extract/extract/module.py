"""FrozenVideoEncoder: frozen torchvision video encoders whose ``predict_step`` returns embeddings.

Input batches hold uint8 clips (B, C, T, H, W) as the loader made them (ten-crop: (B, 10, C, T, H, W);
``--data.transform device``: native-size frames, resized here by
:mod:`lit_extract.decode.device_transform`); conversion to float, scaling to [0, 1] and mean/std
normalization run here, on the device, in float32 (the same arithmetic as the reference
notebook's CPU code, so results match it). Each encoder's mean/std default to what its weights
were trained with (:func:`lit_extract.encoders.default_normalization`).

Several encoders in one pass (``--model.encoder '[swin3d_t, r3d_18]'``): every batch, decoded
once, goes through each encoder. Each encoder has its own weights and its own normalization
(encoders that share a mean/std share one normalized copy of the batch); each encoder's
embeddings are bit-identical to those of a run with that encoder alone.

Audio encoders (``--model.encoder '[i3d_inception, vggish]'``) hear the batch's sound instead:
each row's windows ``batch["audio"]`` (B, K, S) go through the encoder as B * K windows, and a
row's embedding is the mean over its ``batch["audio_examples"]`` windows (K = 1 unless the data's
``audio_anchor`` is ``span``). Audio has no crops: its rows are (B, D) in any crop setting.

Flow encoders (``--model.encoder '[i3d_inception, i3d_inception_flow]'``) see the batch's optical
flow: the data then decodes T + 1 frames per row, the video encoders get the first T (the clips of
a run without flow) and the run's flow model turns the T + 1 into T flows once per batch, for every
flow encoder (:mod:`lit_extract.extract.flow_stream`); their rows are aligned with the video rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from lit_extract.decode.buffers import release_batch
from lit_extract.decode.device_transform import clips_from_native
from lit_extract.encoders import (
    SoundInput, WeightsUnavailable, build_audio_encoder, build_encoder, check_clip, default_normalization,
    is_audio_encoder, is_flow_encoder, weights_advice,
)
from lit_extract.encoders.optical_flow import DEFAULT_UPDATES, FLOW_MODELS
from lit_extract.extract.flow_stream import FLOW_FLIPS, FlowFlip, FlowMember, build_flow_stream
from lit_extract.errors import LitExtractError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def encoder_list(encoder: str | Sequence[str]) -> list[str]:
    """``--model.encoder`` as a list of distinct names (one name or a non-empty list)."""
    names = [encoder] if isinstance(encoder, str) else list(encoder)
    if not names or len(set(names)) != len(names):
        raise LitExtractError(f"--model.encoder {names}: give one encoder name or a list of distinct names")
    return names


def weights_per_encoder(names: Sequence[str], weights: str | Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    """``--model.weights`` resolved per encoder: one value for all, a list in ``names`` order, or a mapping by name."""
    if isinstance(weights, str):
        return {name: weights for name in names}
    if isinstance(weights, Mapping):
        if set(weights) != set(names):
            raise LitExtractError(
                f"--model.weights names {sorted(weights)}, --model.encoder {list(names)}; "
                "give the weights of exactly these encoders (or one value for all)"
            )
        return {name: str(weights[name]) for name in names}
    values = list(weights)
    if len(values) != len(names):
        raise LitExtractError(
            f"--model.weights gives {len(values)} value(s) for {len(names)} encoder(s) {list(names)}; "
            "give one value for all, one per encoder in the same order, or a mapping encoder: weights"
        )
    return {name: str(value) for name, value in zip(names, values)}


class NormalizedEncoder(nn.Module):
    """One frozen encoder and the normalization its weights expect.

    ``normalize``: uint8 (B, C, T, H, W) -> float32 ``(x / 255 - mean) / std``; ``encoder``: the
    head-less torchvision model (see :func:`lit_extract.encoders.build_encoder`), float32
    (B, C, T, H, W) -> (B, embedding_dim). ``mean``/``std`` None = what the encoder's weights
    declare; ``mean_used``/``std_used`` are the values applied (recorded in its run record).
    """

    def __init__(
        self,
        name: str,
        weights: str,
        frames: int,
        img_size: int,
        mean: Sequence[float] | None,
        std: Sequence[float] | None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        declared_mean, declared_std = default_normalization(name)
        self.mean_used = tuple(float(v) for v in (declared_mean if mean is None else mean))
        self.std_used = tuple(float(v) for v in (declared_std if std is None else std))
        built = build_encoder(name, weights=weights, frames=frames, img_size=img_size)
        self.name, self.weights, self.embedding_dim = name, weights, built.embedding_dim
        self.channels_last = channels_last
        self.encoder = built.module
        if channels_last:
            self.encoder = self.encoder.to(memory_format=torch.channels_last_3d)
        if compile:
            self.encoder = torch.compile(self.encoder)
        self.register_buffer("mean", torch.tensor(self.mean_used, dtype=torch.float32).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.std_used, dtype=torch.float32).view(1, 3, 1, 1, 1), persistent=False)

    @property
    def normalization(self) -> tuple[list[float], list[float]]:
        """``(mean, std)`` as lists of 3 floats (RGB, [0, 1] scale), as the run records them."""
        return list(self.mean_used), list(self.std_used)

    def normalize(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 or float (B, C, T, H, W), values in [0, 255] -> float32 (B, C, T, H, W): ``(x / 255 - mean) / std``."""
        x = clips.to(torch.float32) / 255.0
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return x


class SoundEncoder(nn.Module):
    """One frozen audio encoder (:func:`lit_extract.encoders.build_audio_encoder`): a row's windows
    of sound -> its embedding. ``postprocess`` is the encoder's output option (VGGish: the AudioSet
    PCA parameters, ``DEFAULT`` or a path; None: raw embeddings), recorded in its run record."""

    def __init__(self, name: str, weights: str, postprocess: str | None = None) -> None:
        super().__init__()
        built = build_audio_encoder(name, weights=weights, postprocess=postprocess)
        self.name, self.weights, self.postprocess = name, weights, postprocess
        self.embedding_dim, self.sound = built.embedding_dim, built.sound
        self.encoder = built.module

    def embed_rows(self, audio: torch.Tensor, examples: torch.Tensor) -> torch.Tensor:
        """float32 (B, K, S) windows, int64 (B,) windows used per row -> float32 (B, D): each row's
        mean embedding over its first ``examples`` windows."""
        embeddings = self.encoder(audio.flatten(0, 1)).unflatten(0, audio.shape[:2])  # B*K S -> B K D
        if audio.shape[1] == 1:
            return embeddings[:, 0]  # B D
        used = torch.arange(audio.shape[1], device=audio.device)[None] < examples.to(audio.device)[:, None]  # B K
        total = (embeddings * used[..., None]).sum(dim=1)  # B D
        return total / used.sum(dim=1, keepdim=True).clamp(min=1)


class FrozenVideoEncoder(pl.LightningModule):
    """Torchvision video models with their heads replaced by Identity, frozen, in eval mode.

    Args:
        encoder: registry name (see ``lit_extract.encoders.encoder_names()``), e.g. ``swin3d_t``,
            ``timm:<model>`` or ``hf:<directory>``, or a list of names: every batch then goes
            through each of them.
        weights: ``DEFAULT`` (the family's pretrained weights: torchvision's and timm's download,
            an ``hf:`` directory's own), ``none`` (random init) or a path to a local state dict
            (for clusters without internet); one value for all encoders, a list (one per
            encoder, same order) or a mapping ``{encoder: weights}``.
        frames: T of the clips it will see (linked from ``--data.frames``; checked against every
            encoder's requirement before any encoder is built).
        img_size: H = W of the clips (linked from ``--data.img_size``).
        mean: per-channel mean (RGB, on the [0, 1] scale) subtracted before each encoder; ``None`` =
            the one each encoder's ``DEFAULT`` weights were trained with (ImageNet's for swin3d_*).
        std: per-channel std (RGB) divided by before each encoder; ``None`` = the weights' own.
        channels_last: run the encoders in ``channels_last_3d`` memory format (faster convs on GPU).
        compile: wrap each encoder in ``torch.compile``.
        audio_postprocess: the audio encoders' output option: for ``vggish``, the AudioSet
            postprocessing (PCA with whitening, 8-bit quantization) with the PCA parameters
            ``DEFAULT`` (torchvggish's release, downloaded once) or a path (torchvggish's
            ``vggish_pca_params-970ea276.pth`` or the TensorFlow release's ``vggish_pca_params.npz``);
            None (default): raw embeddings. Recorded in the audio encoders' run records.
        flow: the flow encoders' optical flow model: ``raft_large`` or ``raft_small``
            (torchvision's RAFT; :mod:`lit_extract.encoders.optical_flow`), run on the device
            between each row's consecutive frames (T + 1 frames -> T flows).
        flow_weights: the flow model's weights: ``DEFAULT`` (torchvision's, downloaded once),
            ``none`` or the path of a state dict in torchvision's layout.
        flow_updates: RAFT's recurrent refinements (20: video_features' ``extract_i3d.py``).
        flow_quantize: round the flow to the 8 bits of a stored flow image ([-20, 20] -> 0..255)
            before it is scaled to [-1, 1], as video_features and JPEG-flow extractors feed I3D.
        flow_flip: ten crops only: ``physical`` (the mirrored crops' flow is the mirrored motion,
            its x negated) or ``mirrored_images`` (the sign the published extractors' mirrored
            flow images keep); :mod:`lit_extract.extract.flow_stream`.

    ``predict_step`` returns (B, D) embeddings when ``encoder`` is one name, and a dict
    ``{name: (B, D_name)}`` when it is a list.
    """

    def __init__(
        self,
        encoder: str | list[str] = "swin3d_t",
        weights: str | list[str] | dict[str, str] = "DEFAULT",
        frames: int = 8,
        img_size: int = 224,
        mean: tuple[float, float, float] | None = None,
        std: tuple[float, float, float] | None = None,
        channels_last: bool = False,
        compile: bool = False,
        audio_postprocess: str | None = None,
        flow: str = "raft_large",
        flow_weights: str = "DEFAULT",
        flow_updates: int = DEFAULT_UPDATES,
        flow_quantize: bool = False,
        flow_flip: FlowFlip = "physical",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        names = encoder_list(encoder)
        weights_by_name = weights_per_encoder(names, weights)
        self.audio_names = [name for name in names if is_audio_encoder(name)]
        self.flow_names = [name for name in names if is_flow_encoder(name)]
        for name in names:  # every encoder's clip requirement, before any weights are loaded
            check_clip(name, frames=frames, img_size=img_size)
        if self.flow_names:
            check_flow_settings(flow, flow_updates, flow_flip)
        # A list, not a ModuleDict: module names may not hold the "." of ``timm:<model>.<tag>``.
        self.members = nn.ModuleList()
        for name in names:
            try:
                member = (SoundEncoder(name, weights_by_name[name], audio_postprocess) if name in self.audio_names
                          else FlowMember(name, weights_by_name[name], frames, img_size, flow_quantize)
                          if name in self.flow_names
                          else NormalizedEncoder(name, weights_by_name[name], frames, img_size, mean, std,
                                                 channels_last, compile))
            except WeightsUnavailable as exc:  # what to pass, in the form that fits one or several encoders
                raise LitExtractError(weights_advice(name, exc.reason, exc.value, weights_by_name)) from None
            self.members.append(member)
        # The flow model, built once for every flow encoder (None without one).
        self.flow_stream = build_flow_stream(flow, flow_weights, flow_updates, flow_flip) if self.flow_names else None
        self._position = {name: position for position, name in enumerate(names)}
        sounds = {self.member(name).sound for name in self.audio_names}
        if len(sounds) > 1:
            raise LitExtractError(f"--model.encoder {names}: the audio encoders take different sound ({sounds}); "
                                  "run them in separate passes")
        self.returns_dict = not isinstance(encoder, str)
        self.active: list[str] = list(names)  # encoders predict_step runs (the writer drops finished ones)
        first = self.member(names[0])
        # The first encoder's attributes, under the names a single-encoder module has always had.
        self.encoder_name, self.weights, self.embedding_dim = first.name, first.weights, first.embedding_dim
        self.mean_used, self.std_used = getattr(first, "mean_used", None), getattr(first, "std_used", None)
        self.eval()

    @property
    def encoder_names(self) -> list[str]:
        """The encoders, in ``--model.encoder`` order."""
        return list(self._position)

    def member(self, name: str) -> NormalizedEncoder | SoundEncoder | FlowMember:
        """The encoder called ``name`` (with its normalization, for a video encoder)."""
        return self.members[self._position[name]]

    @property
    def video_names(self) -> list[str]:
        """The video encoders (pixels: neither audio nor flow), in ``--model.encoder`` order."""
        return [name for name in self.encoder_names if name not in self.audio_names and name not in self.flow_names]

    @property
    def needs_next_frame(self) -> bool:
        """True while some flow encoder still runs (the data then decodes each row's next frame too)."""
        return any(name in self.flow_names for name in self.active)

    @property
    def needs_frames(self) -> bool:
        """True while some video encoder still runs (the data then decodes frames)."""
        return any(name not in self.audio_names for name in self.active)

    @property
    def sound_input(self) -> SoundInput | None:
        """The sound the audio encoders still running take (the data then reads it), else None."""
        hearing = [name for name in self.active if name in self.audio_names]
        return self.member(hearing[0]).sound if hearing else None

    def describe(self) -> dict[str, dict[str, Any]]:
        """Per encoder: what produced its numbers (name, weights, mean/std, D; an audio encoder:
        name, weights, postprocess, the sound it takes, D), for its run record."""
        described = {}
        for name, member in zip(self.encoder_names, self.members):
            if isinstance(member, SoundEncoder):
                described[name] = {"encoder": name, "kind": "audio", "weights": str(member.weights),
                                   "postprocess": member.postprocess, "sample_rate": member.sound.sample_rate,
                                   "window_samples": member.sound.samples, "window_hop": member.sound.hop,
                                   "embedding_dim": int(member.embedding_dim)}
                continue
            if isinstance(member, FlowMember):
                described[name] = {"encoder": name, "kind": "flow", "weights": str(member.weights),
                                   "flow": self.flow_stream.describe() | {"quantize": bool(member.quantize)},
                                   "embedding_dim": int(member.embedding_dim)}
                continue
            mean, std = member.normalization
            described[name] = {"encoder": name, "weights": str(member.weights), "mean": mean, "std": std,
                               "embedding_dim": int(member.embedding_dim)}
        return described

    def train(self, mode: bool = True) -> FrozenVideoEncoder:
        """Always stays in eval mode: the encoders are frozen (BatchNorm/Dropout never train)."""
        return super().train(False)

    def normalize(self, clips: torch.Tensor) -> torch.Tensor:
        """The first encoder's normalization: uint8 (B, C, T, H, W) -> float32 ``(x / 255 - mean) / std``."""
        return self.member(self.encoder_name).normalize(clips)

    def embed(self, clips: torch.Tensor, names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """uint8 or float (B, C, T, H, W) clips -> ``{name: (B, D_name)}`` for ``names`` (default: all).

        uint8 clips are normalized once per distinct (mean, std) and shared by the encoders that
        use it; float clips are taken as already normalized.
        """
        normalized: dict[tuple, torch.Tensor] = {}
        embeddings = {}
        for name in self.video_names if names is None else names:
            member = self.member(name)
            x = clips
            if clips.dtype == torch.uint8:
                key = (*member.normalization[0], *member.normalization[1], member.channels_last)
                if key not in normalized:
                    normalized[key] = member.normalize(clips)
                x = normalized[key]
            embeddings[name] = member.encoder(x)
        return embeddings

    def forward(self, clips: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """uint8 or float (B, C, T, H, W) clips -> (B, D) embeddings (a dict by encoder for a list)."""
        if not self.returns_dict:
            return self.embed(clips, [self.encoder_name])[self.encoder_name]
        return self.embed(clips, [name for name in self.active if name in self.video_names])

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor | dict[str, torch.Tensor]:
        """(B, D) embeddings of ``batch["clips"]`` (or ``batch[0]``); ``{name: (B, D_name)}`` for a list.

        Ten-crop clips (B, crops, C, T, H, W) go through each encoder as one batch of B * crops and
        come back as (B, crops, D). A ``--data.transform device`` batch (``batch["frames"]``) is
        resized here first (whole values in [0, 255], so uint8 holds them exactly). Audio encoders
        embed ``batch["audio"]`` (:meth:`SoundEncoder.embed_rows`): (B, D) whatever the crops.
        """
        hearing = [name for name in self.active if name in self.audio_names]
        embeddings = {name: self.member(name).embed_rows(batch["audio"], batch["audio_examples"]) for name in hearing}
        if self.needs_frames or not self.audio_names:
            embeddings = {**self._embed_frames(batch), **embeddings}
        if not self.returns_dict:
            return embeddings[self.encoder_name]
        return {name: embeddings[name] for name in self.encoder_names if name in embeddings}

    def _embed_frames(self, batch: Any) -> dict[str, torch.Tensor]:
        """``{name: (B, D) or (B, crops, D)}`` of the video and flow encoders still running, from
        the batch's clips (T + 1 frames when a flow encoder runs: the video encoders see the first T)."""
        if isinstance(batch, dict) and "frames" in batch:
            clips = clips_from_native(batch["frames"], batch["sizes"], self.hparams.img_size, batch.get("colour"))
            clips = clips.to(torch.uint8)
        else:
            clips = batch["clips"] if isinstance(batch, dict) else batch[0]
        running = [self.encoder_name] if not self.returns_dict else self.active
        names = [name for name in running if name in self.video_names]
        flowing = [name for name in running if name in self.flow_names]
        pixels = clips.narrow(-3, 0, self.hparams.frames)  # the row's T frames (a flow run decodes T + 1)
        crops = clips.shape[:2] if clips.ndim == 6 else None
        embeddings = self.embed(pixels.flatten(0, 1) if crops else pixels, names)  # B[*crops] D
        if flowing:
            flows = self.flow_stream(clips)  # B*crops 2 T H W, once for every flow encoder
            embeddings |= {name: self.member(name).embed(flows) for name in flowing}  # B*crops D
        if crops:
            return {name: e.unflatten(0, crops) for name, e in embeddings.items()}  # B crops D
        return embeddings

    def on_predict_batch_end(self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """The step and the writer (a callback: called before this hook) are done with the batch:
        its buffer may go back to its DataLoader worker (on GPU runs that happened when it was pinned)."""
        release_batch(batch)


def check_flow_settings(flow: str, updates: int, flip: str) -> None:
    """``--model.flow``, ``--model.flow_updates`` and ``--model.flow_flip`` checked before any weights load."""
    if flow not in FLOW_MODELS:
        raise LitExtractError(f"--model.flow {flow!r}: choose one of {', '.join(FLOW_MODELS)} "
                              "(tvl1 is not offered: docs/encoders.md, Optical flow)")
    if updates < 1:
        raise LitExtractError(f"--model.flow_updates {updates}: RAFT needs at least 1 update")
    if flip not in FLOW_FLIPS:
        raise LitExtractError(f"--model.flow_flip {flip!r}: choose {', '.join(FLOW_FLIPS)}")
