"""A tiny Audio Spectrogram Transformer for the ``hf:`` audio tests: seeded parameters, small sizes.

Hidden size 32, one layer, ``max_length`` 100 log-mel frames of 128 bands (the 16,240 samples of
25 ms + 99 x 10 ms at 16 kHz), saved with its ``ASTFeatureExtractor`` as ``save_pretrained`` does.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

HIDDEN, FRAMES, RATE = 32, 100, 16_000
WINDOW = 400 + (FRAMES - 1) * 160  # 25 ms + 99 x 10 ms at 16 kHz: the samples of exactly 100 log-mel frames


def tiny_config(**changes) -> transformers.ASTConfig:
    return transformers.ASTConfig(hidden_size=HIDDEN, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                  max_length=FRAMES, num_mel_bins=128, num_labels=5, **changes)


def extractor(**changes) -> transformers.ASTFeatureExtractor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 128 bands over a 512-point FFT: some empty, as in AST's own
        return transformers.ASTFeatureExtractor(max_length=FRAMES, **changes)


def randomized(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``model`` with every parameter drawn again (AST starts its class and distillation tokens and its
    positions at 0, which would make the two tokens equal), LayerNorm scales around 1."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            scale = 1.0 if name.endswith("weight") and parameter.ndim == 1 else 0.0
            parameter.copy_(scale + 0.2 * torch.randn(parameter.shape, generator=generator))
    return model


def save_tiny_ast(path: Path, seed: int) -> Path:
    """A seeded ``ASTForAudioClassification`` and its feature extractor saved in ``path``."""
    randomized(transformers.ASTForAudioClassification(tiny_config()), seed).save_pretrained(path)
    extractor().save_pretrained(path)
    return path
