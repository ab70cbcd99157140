"""FrozenVideoEncoder: a frozen torchvision video encoder whose ``predict_step`` returns embeddings.

Input batches hold uint8 clips (B, C, T, H, W) as the loader made them (ten-crop: (B, 10, C, T, H, W));
conversion to float, scaling to [0, 1] and mean/std normalization run here, on the device, in
float32 (the same arithmetic as the reference notebook's CPU code, so results match it). The
mean/std default to what the encoder's weights were trained with
(:func:`lit_extract.encoders.default_normalization`).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch

from lit_extract.buffers import release_batch
from lit_extract.device_transform import clips_from_native
from lit_extract.encoders import build_encoder, default_normalization

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FrozenVideoEncoder(pl.LightningModule):
    """A torchvision video model with its head replaced by Identity, frozen, in eval mode.

    Args:
        encoder: name of a registered encoder (:mod:`lit_extract.encoders`), e.g. ``swin3d_t``.
        weights: ``DEFAULT`` (torchvision's pretrained weights), ``none`` (random init) or a path
            to a local ``.pth`` state dict (for clusters without internet).
        frames: T of the clips it will see (linked from ``--data.frames``; checked against the
            encoder's minimum).
        img_size: H = W of the clips (linked from ``--data.img_size``).
        mean: per-channel mean (RGB, on the [0, 1] scale) subtracted before the encoder; ``None`` =
            the one the encoder's ``DEFAULT`` weights were trained with (ImageNet's for swin3d_*).
        std: per-channel std (RGB) divided by before the encoder; ``None`` = the weights' own.
        channels_last: run the encoder in ``channels_last_3d`` memory format (faster convs on GPU).
        compile: wrap the encoder in ``torch.compile``.

    Attributes:
        mean_used, std_used: the mean and std actually applied (recorded in run.json and the manifest).
    """

    def __init__(
        self,
        encoder: str = "swin3d_t",
        weights: str = "DEFAULT",
        frames: int = 8,
        img_size: int = 224,
        mean: tuple[float, float, float] | None = None,
        std: tuple[float, float, float] | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        built = build_encoder(encoder, weights=weights, frames=frames, img_size=img_size)
        self.encoder_name = encoder
        self.weights = weights
        self.embedding_dim = built.embedding_dim
        self.encoder = built.module
        self.channels_last = channels_last
        if channels_last:
            self.encoder = self.encoder.to(memory_format=torch.channels_last_3d)
        if compile:
            self.encoder = torch.compile(self.encoder)
        declared_mean, declared_std = default_normalization(encoder)
        self.mean_used = tuple(float(v) for v in (declared_mean if mean is None else mean))
        self.std_used = tuple(float(v) for v in (declared_std if std is None else std))
        self.register_buffer("mean", torch.tensor(self.mean_used, dtype=torch.float32).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.std_used, dtype=torch.float32).view(1, 3, 1, 1, 1), persistent=False)
        self.eval()

    def train(self, mode: bool = True) -> FrozenVideoEncoder:
        """Always stays in eval mode: the encoder is frozen (BatchNorm/Dropout never train)."""
        return super().train(False)

    def normalize(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 or float (B, C, T, H, W), values in [0, 255] -> float32 (B, C, T, H, W): ``(x / 255 - mean) / std``."""
        x = clips.to(torch.float32) / 255.0
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return x

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 or float (B, C, T, H, W) clips -> (B, D) embeddings."""
        x = self.normalize(clips) if clips.dtype == torch.uint8 else clips
        return self.encoder(x)

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """(B, D) embeddings of ``batch["clips"]`` (or ``batch[0]``); (B, crops, D) for ten-crop
        clips (B, crops, C, T, H, W), whose crops go through the encoder as one batch of B * crops;
        or of the native frames of a ``--data.transform device`` batch (``batch["frames"]``, resized here)."""
        if isinstance(batch, dict) and "frames" in batch:
            clips = clips_from_native(batch["frames"], batch["sizes"], self.hparams.img_size)
            return self.encoder(self.normalize(clips))
        clips = batch["clips"] if isinstance(batch, dict) else batch[0]
        if clips.ndim == 6:
            embeddings = self(clips.flatten(0, 1))  # B*crops C T H W -> B*crops D
            return embeddings.unflatten(0, clips.shape[:2])  # B crops D
        return self(clips)

    def on_predict_batch_end(self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """The step and the writer (a callback: called before this hook) are done with the batch:
        its buffer may go back to its DataLoader worker (on GPU runs that happened when it was pinned)."""
        release_batch(batch)
