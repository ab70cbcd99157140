"""Probe on extracted clip embeddings: data, model, and the benchmarks' test metrics.

``python -m lit_extract probe --config configs/probe.yaml --data.manifest processed/manifest_swin3d_t.json
--trainer.default_root_dir runs/probe`` trains :class:`LinearProbe` on the train split of
:class:`EmbeddingDataModule`, keeps the epoch with the best validation score (``--model.monitor``;
clip AUROC for the binary target ``y``, macro accuracy for ``category``) and tests that checkpoint
on the test split. The outputs (``metrics.json``, ``scores_test.npy``, ``roc_test.png``,
``pr_test.png``, ``scores_over_time_test.png``, ``checkpoints/``) go to the trainer's log dir,
``{default_root_dir}/lightning_logs/version_N``; see :func:`write_outputs`.

Objectives: ``clip`` (default) gives every clip its video's label and trains a clip classifier;
``mil`` (``--model.objective mil``, ``configs/probe_mil.yaml``) learns from video labels only:
each training item is a video, a bag of its snippet rows (:mod:`lit_extract.evaluate.bags`), and
the loss is top-k MIL or Sultani et al.'s ranking loss (:mod:`lit_extract.evaluate.mil_loss`) on
the head's snippet scores. The head is linear, or the UCF-Crime paper's MLP (``--model.head mlp``).

Ten-crop runs (``--data.crops 10``, embeddings (rows, 10, D)): the probe's input row is the mean
of the row's ten crop embeddings, (D,), everywhere (statistics, training, validation, test),
unless ``--data.bag_crops each`` makes each crop a bag of its own (``mil``).

Test metrics (binary): clip-level AUROC, average precision, accuracy and F1 at 0.5; video-level
AUROC; with the frame truth (``--data.annotations``) frame-level AUROC and AP as the benchmarks'
authors compute them, from :mod:`lit_extract.evaluate.metrics`. Multi-class: macro accuracy and
macro F1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from lightning.pytorch import LightningDataModule, LightningModule
from torch import Tensor, nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler
from torchmetrics import MeanMetric, Metric, MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryF1Score,
    MulticlassAccuracy,
    MulticlassF1Score,
)

from lit_extract.atomic import save_figure_atomic, save_npy_atomic, write_json_atomic
from lit_extract.errors import LitExtractError, first_few
from lit_extract.evaluate.memmap_dataset import MemmapDataset
from lit_extract.indexing.index import split_rows
from lit_extract.store.manifest import SplitArrays, load_run_index, open_split, read_manifest
from lit_extract.evaluate.bags import BagBatch, BagCrops, VideoBags, pad_bags, video_rows
from lit_extract.evaluate.metrics import OFFICIAL_METRIC, frame_level, split_metrics
from lit_extract.evaluate.mil_loss import SMOOTHNESS, SPARSITY, TOPK_EVERY, ranking_loss, topk_mil_loss
from lit_extract.evaluate.score_timeline import Timeline, chosen_videos, timeline_figure, timelines
from lit_extract.evaluate.snippet_head import HeadKind, sultani_mlp
from lit_extract.indexing.frame_truth import FrameTruth, read_frame_truth
from lit_extract.evaluate.pr_plot import pr_figure
from lit_extract.evaluate.roc_plot import Curve, roc_figure

Target = Literal["y", "category"]
Objective = Literal["clip", "mil"]
MilLoss = Literal["topk", "ranking"]
Monitor = Literal["official", "clip_auroc", "video_auroc", "frame_auroc", "frame_ap"]


# --- data ---------------------------------------------------------------------------------------


def standardization(embeddings: np.ndarray, chunk_rows: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std (ddof=0) of a (rows, D) array, as float32 ``(D,)`` arrays.

    A (rows, crops, D) array counts each row as the mean of its crops (float64).

    One pass in float64, ``chunk_rows`` rows at a time (memory stays at ``chunk_rows x D``
    whatever the number of rows): each chunk's mean and centred sum of squares are merged into the
    running ones (Chan et al.), which avoids the cancellation of ``E[x^2] - E[x]^2``. Constant
    dimensions get std 1 (they standardize to 0). Raises :class:`LitExtractError` on NaN or inf.
    """
    count, mean, squares = 0, np.zeros(embeddings.shape[-1]), np.zeros(embeddings.shape[-1])
    for start in range(0, embeddings.shape[0], chunk_rows):
        chunk = np.array(embeddings[start : start + chunk_rows], dtype=np.float64)  # rows D | rows crops D
        if chunk.ndim == 3:
            chunk = chunk.mean(axis=1)  # rows crops D -> rows D
        rows = len(chunk)
        chunk_mean = chunk.sum(axis=0) / rows
        chunk -= chunk_mean
        delta = chunk_mean - mean
        squares += np.einsum("ij,ij->j", chunk, chunk) + delta**2 * count * rows / (count + rows)
        mean += delta * rows / (count + rows)
        count += rows
    std = np.sqrt(squares / count)
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        raise LitExtractError("the train embeddings contain NaN or inf; rerun predict for the affected rows")
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


class EmbeddingBatches(MemmapDataset):
    """Standardized float32 batches read from a (rows, D) float16 memmap, one batch per item.

    Index with a sequence of row ids (what a ``BatchSampler`` yields) to get ``(x, target)``:
    ``x`` (B, D) float32 = ``(embeddings[ids] - mean) / std``; from a ten-crop (rows, crops, D)
    memmap, ``embeddings[ids]`` is first averaged over its crops (float32); ``target`` (B,) int64. Contiguous
    ids are read as one slice; others are sorted first (memmap locality), so the batch comes back
    in ascending row order. Only the batch is ever converted; pickling (for worker processes)
    reopens the memmap instead of copying it.
    """

    def __init__(self, embeddings: np.ndarray, targets: np.ndarray, mean: np.ndarray, std: np.ndarray) -> None:
        if len(embeddings) != len(targets):
            raise ValueError(f"{len(embeddings)} embedding rows but {len(targets)} targets")
        self.embeddings, self.targets = embeddings, targets
        self.mean, self.scale = mean.astype(np.float32), (1.0 / std).astype(np.float32)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, ids: Sequence[int]) -> tuple[Tensor, Tensor]:
        ids = np.sort(np.asarray(ids, dtype=np.int64))
        contiguous = ids.size > 0 and ids[-1] - ids[0] + 1 == ids.size
        block = self.embeddings[ids[0] : ids[-1] + 1] if contiguous else self.embeddings[ids]
        x = np.array(block, dtype=np.float32)  # B D (or B crops D), the only copy
        if x.ndim == 3:
            x = x.mean(axis=1)  # B crops D -> B D
        x -= self.mean
        x *= self.scale
        return torch.from_numpy(x), torch.from_numpy(self.targets[ids])


class EmbeddingDataModule(LightningDataModule):
    """The splits of an extraction run, read through its manifest, standardized with train statistics.

    Args:
        manifest: ``manifest_<encoder>.json`` written by ``predict`` (must be complete). Its
            ``index.path`` names the index CSV (videos need not exist), which gives each row's
            video, category and frame range. A ten-crop run's rows (crops, D) are read as the
            mean over their crops, (D,).
        target: ``y`` (binary 0/1, from ``y_<split>.npy``) or ``category`` (multi-class; classes
            are the sorted train categories, see ``classes``).
        batch_size: rows per batch; a linear probe trains well on large batches.
        num_workers: DataLoader worker processes (0 reads in the main process, usually fastest).
        annotations: the test videos' frame truth (UCF-Crime's
            ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``, XD-Violence's ``annotations.txt``
            or ShanghaiTech's ``testing/test_frame_mask/`` folder: :func:`lit_extract.indexing.frame_truth.read_frame_truth`);
            when given, the test adds frame-level AUROC and average precision, and the dataset's
            official metric (:data:`lit_extract.evaluate.metrics.OFFICIAL_METRIC`) is known.
        objective: ``clip`` (row batches) or ``mil`` (video bags, :mod:`lit_extract.evaluate.bags`);
            the CLI links it from ``--model.objective``.
        bag_crops: ``mil`` with a ten-crop run: ``mean`` (a snippet is the mean of its crops) or
            ``each`` (each crop of a video is a bag of its own; val/test scores are the mean over crops).
        segments: ``mil``: resample every train bag to this many segments (32 in the UCF-Crime
            paper's setup); ``None`` keeps every snippet. Val and test bags keep every snippet.
        bags_per_batch: ``mil``: bags (videos) per batch, padded to the longest.

    ``input_dim`` and ``num_classes`` (2 for ``y``) are known after ``__init__``; the CLI links
    them into :class:`LinearProbe`. Train mean/std are computed in ``setup`` (float64, chunked).
    """

    def __init__(
        self,
        manifest: str,
        target: Target = "y",
        batch_size: int = 4096,
        num_workers: int = 0,
        annotations: str | None = None,
        objective: Objective = "clip",
        bag_crops: BagCrops = "mean",
        segments: int | None = None,
        bags_per_batch: int = 32,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if batch_size < 1:
            raise LitExtractError(f"--data.batch_size must be >= 1, got {batch_size}")
        if bags_per_batch < 1:
            raise LitExtractError(f"--data.bags_per_batch must be >= 1, got {bags_per_batch}")
        if segments is not None and segments < 1:
            raise LitExtractError(f"--data.segments must be >= 1, got {segments}")
        if objective == "mil" and target != "y":
            raise LitExtractError("--model.objective mil learns from the binary video label: use --data.target y")
        if num_workers < 0:
            raise LitExtractError(f"--data.num_workers must be >= 0, got {num_workers}")
        if annotations is not None and not Path(annotations).exists():
            raise LitExtractError(f"{annotations}: annotation file not found (--data.annotations)")
        self.manifest_path = Path(manifest)
        self.manifest = read_manifest(self.manifest_path)
        self.index = self._load_index()
        self.classes: list[str] = (
            sorted(set(split_rows(self.index, "train")["category"])) if target == "category" else ["0", "1"]
        )
        if len(self.classes) < 2:
            raise LitExtractError(f"the train split has a single category ({self.classes[0]}); nothing to classify")
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.datasets: dict[str, EmbeddingBatches | VideoBags] = {}
        self._truth: FrameTruth | None = None

    @property
    def input_dim(self) -> int:
        """Embedding width D, from the manifest."""
        return int(self.manifest["embedding_dim"])

    @property
    def num_classes(self) -> int:
        """2 for the binary target, the number of train categories otherwise."""
        return len(self.classes)

    @property
    def truth(self) -> FrameTruth | None:
        """The frame truth of ``annotations`` (read once), ``None`` without annotations."""
        if self._truth is None and self.hparams.annotations is not None:
            self._truth = read_frame_truth(self.hparams.annotations)
        return self._truth

    @property
    def official_metric(self) -> str | None:
        """The benchmark's own frame metric (``frame_auroc``, ``frame_ap``), ``None`` without annotations."""
        return None if self.truth is None else OFFICIAL_METRIC[self.truth.dataset]

    def has_frame_truth(self, split: str) -> bool:
        """Whether the frame truth covers ``split``'s videos (every one for UCF-Crime, the anomalous ones otherwise)."""
        if self.truth is None:
            return False
        rows = self.rows(split)
        try:
            self.truth.check(dict(zip(rows["path"].map(lambda path: Path(path).stem), rows["y"])))
        except LitExtractError:
            return False
        return True

    def split_metrics(self, split: str, scores: np.ndarray) -> dict[str, float]:
        """Video AUROC and, where the frame truth covers ``split``, frame AUROC and AP of its row ``scores``
        (:func:`lit_extract.evaluate.metrics.split_metrics`, keys prefixed with ``split``)."""
        rows = self.rows(split)
        if len(scores) != len(rows):
            raise LitExtractError(f"{len(scores)} {split} scores for {len(rows)} {split} rows; test on a single device")
        truth = self.truth if self.has_frame_truth(split) or split == "test" else None
        return split_metrics(scores, rows, self.targets(split), truth, prefix=split)

    def _load_index(self) -> pd.DataFrame:
        return load_run_index(self.manifest_path, self.manifest)

    def rows(self, split: str) -> pd.DataFrame:
        """Index rows of ``split``, row ``i`` = embedding row ``i``."""
        return split_rows(self.index, split)

    def open(self, split: str) -> SplitArrays:
        """Memory-map ``split``'s arrays; check they line up with the index."""
        arrays = open_split(self.manifest_path, split, self.manifest)
        crops = self.manifest.get("crops", 1)
        rows = len(self.rows(split))
        expected = (rows, self.input_dim) if crops == 1 else (rows, crops, self.input_dim)
        if arrays.embeddings.shape != expected:
            raise LitExtractError(
                f"{self.manifest_path}: {split} embeddings are {arrays.embeddings.shape}, "
                f"the index and manifest say {expected}"
            )
        return arrays

    def targets(self, split: str) -> np.ndarray:
        """``(rows,)`` int64 class ids of ``split``: ``y`` as is, or positions in ``classes``."""
        if self.hparams.target == "y":
            labels = np.asarray(self.open(split).labels, dtype=np.int64)
            if labels.size and (labels.min() < 0 or labels.max() > 1):
                raise LitExtractError(f"{split} labels y are not 0/1; use --data.target category")
            return labels
        categories = self.rows(split)["category"]
        unknown = sorted(set(categories) - set(self.classes))
        if unknown:
            raise LitExtractError(f"{split} has categories absent from train: {first_few(unknown)}")
        return categories.map({name: i for i, name in enumerate(self.classes)}).to_numpy(dtype=np.int64)

    def class_counts(self) -> np.ndarray:
        """Train rows per class, ``(num_classes,)``."""
        return np.bincount(self.targets("train"), minlength=self.num_classes)

    def setup(self, stage: str) -> None:
        if self.mean is None:
            self.mean, self.std = standardization(self.open("train").embeddings)
        splits = {"fit": ("train", "val"), "validate": ("val",)}.get(stage, ("test",))
        for split in splits:
            embeddings = self.open(split).embeddings
            if self.hparams.objective == "mil":
                segments = self.hparams.segments if split == "train" else None
                self.datasets[split] = VideoBags(embeddings, video_rows(self.rows(split)), self.targets(split),
                                                 self.mean, self.std, crops=self.hparams.bag_crops, segments=segments)
            else:
                self.datasets[split] = EmbeddingBatches(embeddings, self.targets(split), self.mean, self.std)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[split]
        if isinstance(dataset, VideoBags):
            return DataLoader(dataset, batch_size=self.hparams.bags_per_batch, shuffle=shuffle, collate_fn=pad_bags,
                              num_workers=self.hparams.num_workers, pin_memory=torch.cuda.is_available())
        order = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
        return DataLoader(
            dataset,
            sampler=BatchSampler(order, self.hparams.batch_size, drop_last=False),
            batch_size=None,  # the dataset returns whole batches
            num_workers=self.hparams.num_workers,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


# --- model --------------------------------------------------------------------------------------


LOSS_TIE_BREAK = 1e-4  # below any AUROC/accuracy difference that means something; above float32 noise


class LinearProbe(LightningModule):
    """A head on standardized embeddings (one linear layer by default), trained with AdamW.

    Binary (``num_classes == 2``): one logit, scores = sigmoid probabilities. Multi-class:
    ``num_classes`` logits, cross-entropy, scores = softmax probabilities; validation logs
    ``val_macro_acc``. Checkpointing and early stopping watch ``val_metric`` (higher is better) =
    the monitored value - ``LOSS_TIE_BREAK`` x val loss: the metric decides, the loss only breaks
    ties (a val AUROC saturated at 1.0 on a small val split would otherwise keep the first, barely
    trained epoch). After ``trainer.test``, ``test_scores`` holds the per-row test scores in row
    order ((rows,) binary, (rows, C) multi-class); test on one device so that the order is the rows'.

    Objectives (binary):

    - ``clip``: every clip carries its video's label; ``BCEWithLogits`` per clip. Validation
      watches clip AUROC (``val_auroc``) unless ``monitor`` says otherwise.
    - ``mil``: a training item is a video (a bag of its snippets, :mod:`lit_extract.evaluate.bags`);
      the head scores every snippet and the loss sees only the video label: top-k MIL or Sultani's
      ranking loss (:mod:`lit_extract.evaluate.mil_loss`). Validation watches ``monitor``
      (default ``official``: the dataset's own frame metric when the frame truth covers the
      validation videos, else video AUROC), logged as ``val_<metric>``.

    Args:
        input_dim: embedding width (linked from the data by the CLI).
        num_classes: 2 for binary (linked from the data by the CLI).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay on the weights (biases are not decayed).
        dropout: dropout on the input embedding during training.
        pos_weight: ``clip``, binary only: weight of positive rows in the loss; ``auto`` = train
            negatives / positives; ``None`` = 1.
        objective: ``clip`` (clip labels) or ``mil`` (video labels, multiple-instance learning).
        head: ``linear`` or ``mlp`` (the UCF-Crime paper's 512-32-1 network with dropout 0.6,
            :func:`lit_extract.evaluate.snippet_head.sultani_mlp`).
        mil_loss: ``topk`` (mean of the k highest snippet scores, BCE with the video label) or
            ``ranking`` (Sultani et al.'s hinge with smoothness and sparsity terms).
        topk_every: ``topk``: k = snippets // topk_every + 1 per video.
        smoothness: ``ranking``: weight of the temporal smoothness term (published: 8e-5).
        sparsity: ``ranking``: weight of the sparsity term (published: 8e-5).
        monitor: the validation value early stopping and checkpointing watch: ``official``,
            ``clip_auroc``, ``video_auroc``, ``frame_auroc`` or ``frame_ap`` (the frame metrics need
            frame truth for the validation videos); default ``clip_auroc`` for ``clip``,
            ``official`` for ``mil``.
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int = 2,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        dropout: float = 0.0,
        pos_weight: float | Literal["auto"] | None = None,
        objective: Objective = "clip",
        head: HeadKind = "linear",
        mil_loss: MilLoss = "topk",
        topk_every: int = TOPK_EVERY,
        smoothness: float = SMOOTHNESS,
        sparsity: float = SPARSITY,
        monitor: Monitor | None = None,
    ) -> None:
        super().__init__()
        if input_dim < 1 or num_classes < 2:
            raise LitExtractError(f"need input_dim >= 1 and num_classes >= 2, got {input_dim} and {num_classes}")
        if lr <= 0 or weight_decay < 0 or not 0 <= dropout < 1:
            raise LitExtractError(
                f"need --model.lr > 0, --model.weight_decay >= 0 and 0 <= --model.dropout < 1; "
                f"got {lr}, {weight_decay}, {dropout}"
            )
        valid_weight = pos_weight == "auto" or (isinstance(pos_weight, (int, float)) and pos_weight > 0)
        if pos_weight is not None and (num_classes != 2 or not valid_weight or objective == "mil"):
            raise LitExtractError(
                f"--model.pos_weight must be > 0 or 'auto', and only with a binary target and --model.objective clip; "
                f"got {pos_weight}"
            )
        if objective == "mil" and num_classes != 2:
            raise LitExtractError("--model.objective mil learns from the binary video label: use --data.target y")
        if topk_every < 1 or smoothness < 0 or sparsity < 0:
            raise LitExtractError(f"need --model.topk_every >= 1, --model.smoothness >= 0 and --model.sparsity >= 0; "
                                  f"got {topk_every}, {smoothness}, {sparsity}")
        if monitor not in (None, "clip_auroc") and num_classes != 2:
            raise LitExtractError(f"--model.monitor {monitor} needs the binary target y")
        self.save_hyperparameters()
        self.binary = num_classes == 2
        self.mil = objective == "mil"
        self.dropout = nn.Dropout(dropout)
        outputs = 1 if self.binary else num_classes
        if head == "linear":
            self.linear = nn.Linear(input_dim, outputs)  # the name keeps older checkpoints loadable
        else:
            self.mlp = sultani_mlp(input_dim, outputs)
        weight = torch.tensor(float(pos_weight)) if isinstance(pos_weight, (int, float)) else None
        self.register_buffer("pos_weight_value", weight, persistent=False)  # "auto" is resolved in setup
        self.monitor = monitor or ("official" if self.mil else "clip_auroc")
        self.val_metric_name = ("val_auroc" if self.monitor == "clip_auroc" else f"val_{self.monitor}") if self.binary \
            else "val_macro_acc"
        self.val_score: Metric = BinaryAUROC() if self.binary else MulticlassAccuracy(num_classes, average="macro")
        self.val_loss_mean = MeanMetric()
        self.test_metrics = MetricCollection(
            {"test_auroc": BinaryAUROC(), "test_ap": BinaryAveragePrecision(),
             "test_acc": BinaryAccuracy(), "test_f1": BinaryF1Score()}
            if self.binary else
            {"test_macro_acc": MulticlassAccuracy(num_classes, average="macro"),
             "test_macro_f1": MulticlassF1Score(num_classes, average="macro")}
        )
        self.test_scores: np.ndarray | None = None
        self._scored: list[tuple[Tensor, Tensor]] = []  # (rows, scores) of the epoch's batches

    def setup(self, stage: str) -> None:
        data = getattr(self.trainer, "datamodule", None)
        if self.hparams.pos_weight == "auto":
            counts = getattr(data, "class_counts", None)
            if counts is None:
                raise LitExtractError("--model.pos_weight auto needs an EmbeddingDataModule")
            negatives, positives = counts()
            if positives == 0:
                raise LitExtractError("--model.pos_weight auto: the train split has no positive rows")
            self.pos_weight_value = torch.tensor(negatives / positives, dtype=torch.float32, device=self.device)
        if self.binary and self.monitor != "clip_auroc":
            self.val_metric_name = f"val_{self._monitored(data)}"
        if self.trainer.world_size > 1 and (self.mil or self.val_metric_name not in ("val_auroc", "val_macro_acc")):
            # Every video's rows must be scored in one process (row order, frame and video metrics)
            raise LitExtractError(f"--model.objective {self.hparams.objective} with --model.monitor {self.monitor} "
                                  "scores whole videos in one process: run the probe with --trainer.devices 1")

    def _monitored(self, data: EmbeddingDataModule | None) -> str:
        """The metric ``monitor`` names on this data: ``official`` resolves to the dataset's frame
        metric where the frame truth covers the val videos, else to ``video_auroc``."""
        if data is None or not hasattr(data, "has_frame_truth"):
            raise LitExtractError(f"--model.monitor {self.monitor} needs an EmbeddingDataModule")
        covered = data.has_frame_truth("val")
        if self.monitor == "official":
            return data.official_metric if covered else "video_auroc"
        if self.monitor.startswith("frame") and not covered:
            raise LitExtractError(f"--model.monitor {self.monitor}: --data.annotations has no frame truth for the "
                                  "val videos; use --model.monitor video_auroc or official")
        return self.monitor

    def forward(self, x: Tensor) -> Tensor:
        """Logits of embeddings ``x`` (..., D): (...) binary, (..., C) multi-class."""
        logits = (self.linear if self.hparams.head == "linear" else self.mlp)(self.dropout(x))  # ... 1|C
        return logits.squeeze(-1) if self.binary else logits

    def scores(self, logits: Tensor) -> Tensor:
        """Probabilities: of the positive class (binary) or of each class."""
        return torch.sigmoid(logits) if self.binary else torch.softmax(logits, dim=-1)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """The ``clip`` objective's loss of row ``logits`` against row targets."""
        if self.binary:
            return F.binary_cross_entropy_with_logits(logits, target.float(), pos_weight=self.pos_weight_value)
        return F.cross_entropy(logits, target)

    def bag_loss(self, scores: Tensor, batch: BagBatch) -> Tensor:
        """The ``mil`` objective's loss of snippet ``scores`` (B, T) against the video labels."""
        if self.hparams.mil_loss == "topk":
            return topk_mil_loss(scores, batch.mask, batch.labels, self.hparams.topk_every)
        return ranking_loss(scores, batch.mask, batch.labels, self.hparams.smoothness, self.hparams.sparsity)

    def _step(self, batch: tuple[Tensor, Tensor] | BagBatch) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(loss, scores, rows, targets)`` of a batch; ``rows`` (n,) are the embedding rows of
        ``scores`` (n,) (-1 for resampled segments; ``None`` for row batches, which come in order)."""
        if self.mil:
            batch = BagBatch(*batch)
            scores = self.scores(self(batch.x))  # B T
            loss = self.bag_loss(scores, batch)
            labels = batch.labels[:, None].expand_as(batch.mask)
            return loss, scores[batch.mask], batch.rows[batch.mask], labels[batch.mask]
        x, target = batch
        logits = self(x)
        return self.loss(logits, target), self.scores(logits), None, target

    def _batch_size(self, batch: tuple[Tensor, Tensor] | BagBatch) -> int:
        """Rows (``clip``) or bags (``mil``) in ``batch``."""
        return len(batch[2] if self.mil else batch[1])

    def training_step(self, batch: tuple[Tensor, Tensor] | BagBatch, batch_idx: int) -> Tensor:
        loss = self._step(batch)[0]
        self.log("train_loss", loss, prog_bar=True, batch_size=self._batch_size(batch))
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor] | BagBatch, batch_idx: int) -> None:
        loss, scores, rows, target = self._step(batch)
        size = self._batch_size(batch)
        self.log("val_loss", loss, batch_size=size)
        self.val_loss_mean.update(loss, weight=size)
        if self.val_metric_name in ("val_auroc", "val_macro_acc"):
            self.val_score.update(scores, target)
        else:
            self._scored.append((rows, scores.detach().float().cpu()))

    def on_validation_epoch_start(self) -> None:
        self._scored = []

    def on_validation_epoch_end(self) -> None:
        loss = self.val_loss_mean.compute()
        self.val_loss_mean.reset()
        if self.val_metric_name in ("val_auroc", "val_macro_acc"):
            value = self.val_score.compute()
            self.val_score.reset()
        elif self.trainer.sanity_checking:  # a few batches, not the split: nothing to score (and nothing watches it)
            self._scored = []
            return
        else:
            scores = self._row_scores("val")
            value = torch.tensor(self.trainer.datamodule.split_metrics("val", scores)[self.val_metric_name])
        self.log(self.val_metric_name, value, prog_bar=True)
        self.log("val_metric", torch.nan_to_num(value, nan=0.0) - LOSS_TIE_BREAK * loss)

    def _row_scores(self, split: str) -> np.ndarray:
        """The epoch's scores in row order: a row scored more than once (one bag per crop) takes the mean."""
        scored, self._scored = self._scored, []
        scores = torch.cat([s for _, s in scored]).double().numpy()
        if not self.mil:
            return scores
        rows = torch.cat([r for r, _ in scored]).cpu().numpy()
        count = len(self.trainer.datamodule.rows(split))
        totals, times = np.bincount(rows, scores, count), np.bincount(rows, minlength=count)
        return totals / np.maximum(times, 1)

    def on_test_epoch_start(self) -> None:
        self._scored = []

    def test_step(self, batch: tuple[Tensor, Tensor] | BagBatch, batch_idx: int) -> None:
        loss, scores, rows, target = self._step(batch)
        self.log("test_loss", loss, batch_size=self._batch_size(batch))
        if not self.mil:
            self.test_metrics.update(scores, target)
        self._scored.append((rows, scores.detach().float().cpu()))

    def on_test_epoch_end(self) -> None:
        scores = self._row_scores("test")
        if self.mil:
            targets = torch.from_numpy(self.trainer.datamodule.targets("test"))
            self.test_metrics.update(torch.from_numpy(scores).float().to(self.device), targets.to(self.device))
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()
        self.test_scores = scores.astype(np.float32)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        weights = [p for p in self.parameters() if p.ndim > 1]
        biases = [p for p in self.parameters() if p.ndim <= 1]
        return torch.optim.AdamW(
            [{"params": weights, "weight_decay": self.hparams.weight_decay}, {"params": biases, "weight_decay": 0.0}],
            lr=self.hparams.lr,
        )


# --- outputs ------------------------------------------------------------------------------------


def grouped_metrics(scores: np.ndarray, data: EmbeddingDataModule) -> dict[str, float]:
    """Video-level AUROC, and with annotations frame-level AUROC and AP (``test_frame_ap``: the
    XD-Violence authors' computation; ``test_frame_ap_sklearn``: step-wise), of binary test ``scores``."""
    return data.split_metrics("test", scores)


def frames_of_test(scores: np.ndarray, data: EmbeddingDataModule) -> tuple[np.ndarray, np.ndarray] | None:
    """Frame-level ``(scores, labels)`` of binary test ``scores`` when ``data`` has annotations, else None."""
    if data.truth is None or scores.ndim != 1:
        return None
    return frame_level(scores, data.rows("test"), data.truth)


def timelines_of_test(scores: np.ndarray, data: EmbeddingDataModule, videos: int | Sequence[str]) -> list[Timeline]:
    """The frame scores over time of the test ``videos`` (:func:`lit_extract.evaluate.score_timeline.chosen_videos`)
    from binary test ``scores``, with their frame truth when ``data`` has annotations."""
    if scores.ndim != 1:
        return []
    rows = data.rows("test")
    return timelines(scores, rows, data.truth, chosen_videos(rows, videos))


def probe_name(objective: str = "clip") -> str:
    """What a figure calls the probe: ``linear probe`` (clip labels) or ``MIL probe`` (video labels)."""
    return "MIL probe" if objective == "mil" else "linear probe"


def roc_title(encoder: str | None, split: str = "test", objective: str = "clip") -> str:
    """The title of a probe's ROC figure: encoder, probe, split and what is plotted."""
    return f"{encoder or 'embeddings'}: {probe_name(objective)} ROC on the {split} split"


def write_outputs(
    run_dir: Path,
    metrics: dict[str, float],
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    encoder: str | None = None,
    frames: tuple[np.ndarray, np.ndarray] | None = None,
    timelines: Sequence[Timeline] = (),
    objective: str = "clip",
) -> list[Path]:
    """Write ``metrics.json`` (NaN as null), ``scores_test.npy`` and, for binary scores, ``roc_test.png``.

    Returns the paths written. ``scores_test.npy`` row ``i`` is test row ``i``: (rows,) positive
    class probabilities, or (rows, C) class probabilities in ``EmbeddingDataModule.classes`` order.
    ``roc_test.png`` (:func:`lit_extract.evaluate.roc_plot.roc_figure`) is titled with ``encoder`` and the
    split; its clip-level panel has the frame-level one beside it when ``frames`` (frame scores,
    frame labels; :func:`frames_of_test`) are given; with them ``pr_test.png``
    (:func:`lit_extract.evaluate.pr_plot.pr_figure`) draws the frame-level precision-recall curve
    whose area is ``test_frame_ap``. With ``timelines``
    (:func:`timelines_of_test`), ``scores_over_time_test.png`` shows each of those videos' frame
    scores over time with its annotated frames shaded (:mod:`lit_extract.evaluate.score_timeline`).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = [run_dir / "metrics.json", run_dir / "scores_test.npy"]
    write_json_atomic(paths[0], {k: None if math.isnan(v) else v for k, v in metrics.items()})
    save_npy_atomic(paths[1], scores)
    if scores.ndim == 1:
        paths.append(run_dir / "roc_test.png")
        panels = {"clip level": [Curve(f"clips, AUROC {metrics.get('test_auroc', math.nan):.3f}", scores, labels)]}
        if frames is not None:
            auroc = metrics.get("test_frame_auroc", math.nan)
            panels["frame level"] = [Curve(f"frames, AUROC {auroc:.3f}", *frames)]
        save_figure_atomic(roc_figure(roc_title(encoder, objective=objective), panels), paths[2], dpi=120)
    if scores.ndim == 1 and frames is not None:
        paths.append(run_dir / "pr_test.png")
        curve = Curve(f"frames, AP {metrics.get('test_frame_ap', math.nan):.3f}", *frames)
        title = f"{encoder or 'embeddings'}: {probe_name(objective)} precision-recall on the test split"
        save_figure_atomic(pr_figure(title, [curve]), paths[-1], dpi=120)
    if scores.ndim == 1 and timelines:
        paths.append(run_dir / "scores_over_time_test.png")
        title = f"{encoder or 'embeddings'}: {probe_name(objective)} scores over time, annotated frames shaded"
        save_figure_atomic(timeline_figure(title, timelines), paths[-1], dpi=110)
    return paths


def results_table(metrics: dict[str, float]) -> str:
    """The metrics as an aligned two-column text table."""
    width = max(len(name) for name in metrics)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ------"]
    lines += [f"{name:<{width}}  {value:.4f}" for name, value in metrics.items()]
    return "\n".join(lines)
