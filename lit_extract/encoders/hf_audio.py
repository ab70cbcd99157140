"""Hugging Face ``transformers`` audio models: ``hf:<directory>`` whose config is an audio model.

:mod:`~lit_extract.encoders.hf` reads the directory's ``config.json``; an audio model type
(:data:`MODEL_TYPES`) is an audio encoder of the same kind as ``vggish``: it hears each index
row's window of sound, placed by ``--data.audio_anchor`` (:mod:`lit_extract.decode.sound`), and
its rows are (rows, D) in every crop setting.

The window is what the directory's own feature extractor (``preprocessor_config.json``, read by
``AutoFeatureExtractor``) turns into exactly the input the model takes, at the extractor's
``sampling_rate``:

=================================  ==============================================================
feature extractor                  window (S samples at ``sampling_rate``; hop H of ``span``)
=================================  ==============================================================
``ASTFeatureExtractor`` (AST)      ``max_length`` log-mel frames of 25 ms every 10 ms:
                                   S = 25 ms + (``max_length`` - 1) x 10 ms, H = ``max_length`` x
                                   10 ms (``max_length`` 1024 at 16 kHz: S = 164,080 = 10.255 s,
                                   H = 163,840 = 10.24 s)
=================================  ==============================================================

The embedding (D = ``hidden_size``) is the model's pooled output, computed by transformers' own
feature extractor (on the CPU, float32 windows in [-1, 1]) and model (on the windows' device):
AST's ``pooler_output`` is the mean of its class and distillation tokens after the final
``layernorm`` (what ``ASTForAudioClassification``'s head reads).

Weights: ``DEFAULT`` = the directory's own (an ``...ForAudioClassification`` folder's base model,
or a bare model's); a path = a state dict of either (``classifier.*`` dropped); ``none`` = random
init from the config. Audio models whose feature extractor takes any length (wav2vec2, HuBERT,
...) or a 30 s chunk with a decoder to run (Whisper) are not offered: their config names no window.
"""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from lit_extract.encoders.extras import require
from lit_extract.encoders.spec import AudioEncoderSpec, SoundInput, weights_choice
from lit_extract.encoders.weights import load_exact, load_pretrained, read_state_dict, strip_prefix
from lit_extract.errors import LitExtractError

MODEL_TYPES = ("audio-spectrogram-transformer",)
# ASTFeatureExtractor's log-mel frames: with torchaudio, Kaldi's fbank of 25 ms every 10 ms; without,
# transformers' numpy spectrogram of 400 samples every 160 (the same at 16 kHz, AST's rate).
KALDI_FRAME_S = (0.025, 0.010)
NUMPY_FRAME_SAMPLES = (400, 160)
WEIGHTS = "DEFAULT (the model folder's own weights), none (random init) or a local state dict file"


class AudioEmbedding(nn.Module):
    """A transformers audio model and its feature extractor: the model's pooled output.

    ``forward``: float32 (B, S) windows of mono sound in [-1, 1] at ``sample_rate`` Hz -> float32
    (B, D): ``extractor(list of B windows, sampling_rate=sample_rate)`` on the CPU, its
    ``input_values`` moved to the windows' device, ``model(input_values=...).pooler_output``.
    """

    def __init__(self, extractor: Any, model: nn.Module, sample_rate: int) -> None:
        super().__init__()
        self.extractor = extractor  # not a module: it stays on the CPU
        self.model = model
        self.sample_rate = sample_rate

    def forward(self, sound: torch.Tensor) -> torch.Tensor:
        windows = list(sound.detach().to("cpu", torch.float32).numpy())  # B x (S,)
        features = self.extractor(windows, sampling_rate=self.sample_rate, return_tensors="pt")["input_values"]
        return self.model(input_values=features.to(sound.device, torch.float32)).pooler_output  # B D


def spec(transformers: ModuleType, directory: Path, config: Any, name: str) -> AudioEncoderSpec:
    """The :class:`AudioEncoderSpec` of the audio model in ``directory`` (``config`` of one of
    :data:`MODEL_TYPES`): its window from the feature extractor (module doc), nothing built."""
    extractor = _extractor(transformers, directory, name)
    sound = window(extractor, config, name, transformers.utils.is_speech_available())
    return AudioEncoderSpec(name, sound, partial(_build, directory, name), WEIGHTS)


def window(extractor: Any, config: Any, name: str, speech: bool) -> SoundInput:
    """The sound a model of ``config`` takes through ``extractor`` (the module's table); ``speech``:
    torchaudio is there (transformers' ``is_speech_available``: the extractor runs Kaldi's fbank)."""
    if type(extractor).__name__ != "ASTFeatureExtractor":
        raise LitExtractError(f"encoder {name}: its feature extractor is a {type(extractor).__name__}; "
                              "hf: audio models take an ASTFeatureExtractor (its max_length fixes the window)")
    rate, frames = int(extractor.sampling_rate), int(extractor.max_length)
    if (frames, extractor.num_mel_bins) != (config.max_length, config.num_mel_bins):
        raise LitExtractError(
            f"encoder {name}: its feature extractor makes {frames} x {extractor.num_mel_bins} log-mel inputs, its model "
            f"takes {config.max_length} x {config.num_mel_bins} (max_length x num_mel_bins); save the model's own "
            "feature extractor in the folder"
        )
    if speech:
        length, hop = (round(seconds * rate) for seconds in KALDI_FRAME_S)
    else:
        length, hop = NUMPY_FRAME_SAMPLES
    return SoundInput(sample_rate=rate, samples=length + (frames - 1) * hop, hop=frames * hop)


def _extractor(transformers: ModuleType, directory: Path, name: str) -> Any:
    """The directory's feature extractor (``AutoFeatureExtractor``)."""
    try:
        with warnings.catch_warnings():  # AST's 128 Kaldi bands leave some 512-point FFT bands empty: expected
            warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
            return transformers.AutoFeatureExtractor.from_pretrained(directory)
    except (OSError, ValueError, KeyError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise LitExtractError(f"encoder {name}: {directory} holds no readable preprocessor_config.json ({reason}); "
                              "save the model's feature extractor there with save_pretrained") from exc


def _build(directory: Path, name: str, weights: str, postprocess: str | None) -> tuple[nn.Module, int]:
    """``weights`` -> (:class:`AudioEmbedding` of the directory's model, D = ``hidden_size``)."""
    if postprocess is not None:
        raise LitExtractError(f"--model.audio_postprocess {postprocess}: encoder {name} has no postprocessing "
                              "(it is VGGish's AudioSet PCA); run vggish in a separate pass to use it")
    transformers = require("transformers", "hf", name)
    config = transformers.AutoConfig.from_pretrained(directory)
    extractor = _extractor(transformers, directory, name)
    choice = weights_choice(weights)
    if choice == "default":
        classifier = any(arch.endswith("ForAudioClassification") for arch in (config.architectures or []))
        factory = transformers.AutoModelForAudioClassification if classifier else transformers.AutoModel
        model = load_pretrained(factory, directory, name, optional=("classifier.",)).base_model
    else:
        model = transformers.AutoModel.from_config(config)
    if choice == "path":
        path = Path(weights)
        state = strip_prefix(read_state_dict(path), "module.")
        state = strip_prefix({k: v for k, v in state.items() if not k.startswith("classifier.")},
                             f"{model.base_model_prefix}.")
        load_exact(model, state, path, name, f"the state_dict() of the {type(model).__name__} built from "
                                             f"{directory}/config.json (or of its audio classifier)")
    return AudioEmbedding(extractor, model, int(extractor.sampling_rate)), int(config.hidden_size)
