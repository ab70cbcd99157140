"""Comparing features with features recorded on another machine.

A fixture recorded by a reference implementation on one CPU is compared on every CPU the suite runs
on (AMD and Intel; AVX2 and AVX-512 kernels), and those kernels sum a convolution's products in
other orders. Float32's unit roundoff is u = 2^-24 = 6e-8; a dot product of n terms summed in
another order moves by about sqrt(n) * u of its magnitude, and a deep network adds up one such error
per layer: about L * sqrt(n) * u relative to the output. For the I3Ds (L ~ 60 layers, n up to
3 x 3 x 3 x 832 ~ 22,000 products per output) that is ~ 60 * 150 * 6e-8 ~ 5e-4. The bound here is
therefore on each feature vector as a whole, relative to its norm:

    ||got - recorded||_2 <= 1e-3 * ||recorded||_2        (per row)

and not elementwise (an element near zero has no meaningful relative error). Measured: the I3D
fixtures recorded on an Intel CPU differ on an AMD EPYC (AVX-512) by up to 1.5e-5 of the norm; a
wrong padding rule, layer order or key mapping moves features by 1e-1 of the norm or more, so the
check keeps its power to fail.
"""

from __future__ import annotations

import numpy as np
import torch

RELATIVE_TO_NORM = 1e-3


def relative_errors(got: torch.Tensor | np.ndarray, recorded: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``||got - recorded|| / ||recorded||`` of each row (the last axis is the feature axis), float64."""
    got = torch.as_tensor(np.asarray(got), dtype=torch.float64)
    recorded = torch.as_tensor(np.asarray(recorded), dtype=torch.float64)
    assert got.shape == recorded.shape, (tuple(got.shape), tuple(recorded.shape))
    return (got - recorded).norm(dim=-1) / recorded.norm(dim=-1).clamp_min(1e-30)


def assert_close_to_recorded(got: torch.Tensor | np.ndarray, recorded: torch.Tensor | np.ndarray,
                             bound: float = RELATIVE_TO_NORM) -> None:
    """Every row of ``got`` within ``bound`` of its recorded row, relative to the recorded row's norm."""
    errors = relative_errors(got, recorded)
    assert bool((errors <= bound).all()), f"relative errors per row {errors.tolist()} exceed {bound:g} of the norm"
