"""``--model.channels_last`` for encoders built from 2-D layers (image models, 2-D patch embeddings)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class RankwiseMemoryFormat(nn.Module):
    """A module that takes ``.to(memory_format=torch.channels_last_3d)`` (what ``--model.channels_last``
    asks of every encoder) per tensor rank: channels_last_3d for 5-D weights (3-D convolutions),
    channels_last for 4-D ones (2-D convolutions, where torch's own ``.to`` would raise); other
    calls of ``.to`` are ``nn.Module.to``'s."""

    def to(self, *args: Any, **kwargs: Any) -> RankwiseMemoryFormat:
        if kwargs.get("memory_format") is not torch.channels_last_3d:
            return super().to(*args, **kwargs)
        kwargs.pop("memory_format")
        super().to(*args, **kwargs)
        return self._apply(_rankwise_channels_last)


def _rankwise_channels_last(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.dim() == 5:
        return tensor.contiguous(memory_format=torch.channels_last_3d)
    if tensor.dim() == 4:
        return tensor.contiguous(memory_format=torch.channels_last)
    return tensor
