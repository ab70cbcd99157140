"""Video bags for multiple-instance learning: each video's snippet rows, batched with padding and a mask.

A bag is one video of a split (its index rows in clip order), or with ``crops="each"`` one crop of
one video (RTFM-family training treats each of the ten crops as its own video); with
``crops="mean"`` a ten-crop row enters as the mean of its crops, as the clip probe reads it.
:class:`VideoBags` reads one bag per item, standardized with the train mean and std;
:func:`pad_bags` batches bags of different lengths by padding them to the longest with zeros and
a mask (True on real snippets), so no snippet is ever dropped. With ``segments`` (32 in the
UCF-Crime paper's setup, Sultani et al. 2018) a bag is resampled to that many segments first:
:func:`segment_bounds` states the authors' rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from lit_extract.errors import LitExtractError
from lit_extract.evaluate.memmap_dataset import MemmapDataset

BagCrops = Literal["mean", "each"]


class BagBatch(NamedTuple):
    """A batch of bags: ``x`` (B, T, D) float32, ``mask`` (B, T) bool (True on real snippets),
    ``labels`` (B,) int64 video labels, ``rows`` (B, T) int64 embedding row of each snippet (-1 on
    padding and on resampled segments)."""

    x: Tensor
    mask: Tensor
    labels: Tensor
    rows: Tensor


def video_rows(rows: pd.DataFrame) -> list[np.ndarray]:
    """Row positions (int64) of each video of ``rows`` (index rows, position ``i`` = embedding row ``i``):
    videos in order of first appearance, each video's rows in ``start_frame`` order."""
    ordered = rows.assign(position=np.arange(len(rows))).sort_values(["start_frame"], kind="stable")
    groups = ordered.groupby("path", sort=False)["position"]
    first = {path: index for index, path in enumerate(pd.unique(rows["path"]))}
    return [positions.to_numpy(np.int64) for _, positions in sorted(groups, key=lambda item: first[item[0]])]


def segment_bounds(n: int, segments: int) -> np.ndarray:
    """Snippet bounds (segments + 1,) int64 of ``segments`` segments of an ``n``-snippet video.

    The authors' ``Save_C3DFeatures_32Segments.m``: ``round(linspace(1, n, 33))`` (1-based; MATLAB
    rounds halves away from zero), segment ``i`` = snippets ``b[i] .. b[i+1] - 1``, or snippet
    ``b[i]`` alone when that is empty. In 0-based terms, bounds ``b = round(linspace(0, n - 1, 33))``
    and segment ``i`` = snippets ``[b[i], max(b[i+1], b[i] + 1))``: the last snippet of the video is
    in no segment when ``n > segments`` (as in their code).
    """
    return np.floor(np.linspace(0, n - 1, segments + 1) + 0.5).astype(np.int64)


def resample(x: np.ndarray, segments: int) -> np.ndarray:
    """``segments`` rows (segments, D) of ``x`` (n, D): the mean of each segment's snippets (:func:`segment_bounds`)."""
    bounds = segment_bounds(len(x), segments)
    return np.stack([x[start : max(end, start + 1)].mean(axis=0) for start, end in zip(bounds[:-1], bounds[1:])])


class VideoBags(MemmapDataset):
    """One bag per item, standardized: ``(x (T, D) float32, label, rows (T,) int64)``.

    Args:
        embeddings: the split's (rows, D) or (rows, crops, D) embeddings (a memmap is read bag by bag).
        videos: each video's row positions (:func:`video_rows`).
        labels: (rows,) 0/1 labels; a video's label is the max of its rows'.
        mean, std: (D,) train statistics: ``x = (embedding - mean) / std``.
        crops: ``mean`` (a row is the mean of its crops) or ``each`` (one bag per video and crop).
        segments: resample every bag to this many segments (:func:`resample`); ``None`` keeps every snippet.
    """

    def __init__(
        self,
        embeddings: np.ndarray,
        videos: Sequence[np.ndarray],
        labels: np.ndarray,
        mean: np.ndarray,
        std: np.ndarray,
        crops: BagCrops = "mean",
        segments: int | None = None,
    ) -> None:
        if segments is not None and segments < 1:
            raise LitExtractError(f"--data.segments must be >= 1, got {segments}")
        self.embeddings, self.videos, self.segments = embeddings, list(videos), segments
        self.video_labels = np.array([int(np.max(labels[rows])) for rows in self.videos], dtype=np.int64)
        self.mean, self.scale = mean.astype(np.float32), (1.0 / std).astype(np.float32)
        per_video = embeddings.shape[1] if crops == "each" and embeddings.ndim == 3 else 1
        self.items = [(video, crop) for video in range(len(self.videos)) for crop in range(per_video)]
        self.crops = crops

    def __len__(self) -> int:
        return len(self.items)

    def label(self, item: int) -> int:
        """The video label of bag ``item``."""
        return int(self.video_labels[self.items[item][0]])

    def __getitem__(self, item: int) -> tuple[np.ndarray, int, np.ndarray]:
        video, crop = self.items[item]
        rows = self.videos[video]
        contiguous = rows[-1] - rows[0] + 1 == rows.size and bool(np.all(np.diff(rows) == 1))
        block = np.array(self.embeddings[rows[0] : rows[-1] + 1] if contiguous else self.embeddings[rows],
                         dtype=np.float32)  # T D | T crops D
        if block.ndim == 3:
            block = block[:, crop] if self.crops == "each" else block.mean(axis=1)  # T crops D -> T D
        block -= self.mean
        block *= self.scale
        if self.segments is not None:
            block, rows = resample(block, self.segments), np.full(self.segments, -1, np.int64)  # segments D
        return block, int(self.video_labels[video]), rows


def pad_bags(items: Sequence[tuple[np.ndarray, int, np.ndarray]]) -> BagBatch:
    """Batch bags of different lengths: zeros after each bag's snippets, ``mask`` False there, rows -1."""
    longest = max(len(x) for x, _, _ in items)
    dim = items[0][0].shape[1]
    x = torch.zeros(len(items), longest, dim)
    mask = torch.zeros(len(items), longest, dtype=torch.bool)
    rows = torch.full((len(items), longest), -1, dtype=torch.int64)
    for position, (bag, _, bag_rows) in enumerate(items):
        x[position, : len(bag)] = torch.as_tensor(np.array(bag, dtype=np.float32))  # a copy: bag may be read-only
        mask[position, : len(bag)] = True
        rows[position, : len(bag)] = torch.as_tensor(np.array(bag_rows, dtype=np.int64))  # a copy: bag_rows may be read-only
    labels = torch.tensor([label for _, label, _ in items], dtype=torch.int64)
    return BagBatch(x, mask, labels, rows)
