"""The probe's head: the layers between a standardized snippet embedding and its logit(s).

- ``linear``: one ``nn.Linear`` (the linear probe).
- ``mlp``: the network of the UCF-Crime paper (Sultani et al., CVPR 2018; the authors'
  ``TrainingAnomalyDetector_public.py``): fully connected 512 units with ReLU, dropout 0.6,
  32 units (no activation), dropout 0.6, 1 unit; Glorot-normal weights and zero biases, as
  Keras initialized them there. The sigmoid of their last layer is the probe's own ``scores``.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

HeadKind = Literal["linear", "mlp"]
MLP_WIDTHS = (512, 32)  # the paper's hidden layers
MLP_DROPOUT = 0.6  # the paper's dropout between the fully connected layers


def sultani_mlp(input_dim: int, outputs: int = 1) -> nn.Sequential:
    """``input_dim`` -> 512 (ReLU) -> dropout 0.6 -> 32 -> dropout 0.6 -> ``outputs``."""
    first, second = MLP_WIDTHS
    layers = nn.Sequential(
        nn.Linear(input_dim, first), nn.ReLU(), nn.Dropout(MLP_DROPOUT),
        nn.Linear(first, second), nn.Dropout(MLP_DROPOUT),
        nn.Linear(second, outputs),
    )
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
    return layers
