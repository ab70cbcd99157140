"""The deterministic weights, waveform and PCA parameters the VGGish reference fixture was recorded with.

The recording script (run outside the project against harritaylor/torchvggish's own code; its
command is in ``tests/fixtures/vggish/README.md``) and the VGGish tests both use these functions,
so the test regenerates from seeds exactly what the port saw (the ~290 MB state dict is never
stored).
"""

from __future__ import annotations

import math

import torch

SAMPLE_RATE = 16000
# torchvggish's VGG layout: features.{0,3,6,8,11,13} are the six 3x3 convolutions (64, 128, 256,
# 256, 512, 512 channels; ReLUs and max pools hold no parameters), embeddings.{0,2,4} the three
# linear layers 12288 -> 4096 -> 4096 -> 128.
CONVOLUTIONS = ((0, 1, 64), (3, 64, 128), (6, 128, 256), (8, 256, 256), (11, 256, 512), (13, 512, 512))
LINEARS = ((0, 512 * 4 * 6, 4096), (2, 4096, 4096), (4, 4096, 128))


def vggish_names_shapes() -> list[tuple[str, tuple[int, ...]]]:
    """The parameter names and shapes of torchvggish's ``VGG`` (its ``state_dict()`` order)."""
    names = []
    for index, cin, cout in CONVOLUTIONS:
        names += [(f"features.{index}.weight", (cout, cin, 3, 3)), (f"features.{index}.bias", (cout,))]
    for index, fin, fout in LINEARS:
        names += [(f"embeddings.{index}.weight", (fout, fin)), (f"embeddings.{index}.bias", (fout,))]
    return names


def seeded_vggish_state(seed: int) -> dict[str, torch.Tensor]:
    """A VGGish state dict drawn from ``seed`` in :func:`vggish_names_shapes` order: weights He
    normal (std sqrt(2 / fan_in)), biases uniform [-0.2, 0.2]."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in vggish_names_shapes():
        if name.endswith("weight"):
            state[name] = torch.randn(shape, generator=generator) * math.sqrt(2.0 / math.prod(shape[1:]))
        else:
            state[name] = (torch.rand(shape, generator=generator) - 0.5) * 0.4
    return state


def seeded_waveform(seed: int, seconds: float) -> torch.Tensor:
    """float32 (seconds x 16000,) mono sound in [-1, 1]: four tones of seeded frequency (100-6000 Hz)
    and amplitude whose loudness swells at a seeded rate, plus seeded noise (so every 0.96 s differs)."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(round(seconds * SAMPLE_RATE), dtype=torch.float64) / SAMPLE_RATE
    frequencies = 100 + torch.rand(4, generator=generator, dtype=torch.float64) * 5900
    amplitudes = 0.05 + torch.rand(4, generator=generator, dtype=torch.float64) * 0.2
    swells = 0.2 + torch.rand(4, generator=generator, dtype=torch.float64) * 2
    tones = amplitudes[:, None] * torch.sin(2 * math.pi * frequencies[:, None] * t) * (
        0.55 + 0.45 * torch.sin(2 * math.pi * swells[:, None] * t)
    )
    noise = torch.randn(t.shape, generator=generator, dtype=torch.float64) * 0.02
    return (tones.sum(0) + noise).clamp(-1, 1).to(torch.float32)


def seeded_pca(seed: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pca_eigen_vectors (128, 128), pca_means (128,))`` float32 drawn from ``seed``: a random
    linear map of std ``scale`` (PCA and whitening are one matrix) and means uniform [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    vectors = torch.randn(128, 128, generator=generator) * scale
    means = torch.rand(128, generator=generator)
    return vectors, means
