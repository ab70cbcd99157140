"""Linear probe on extracted clip embeddings: data, model, and the UCF-Crime test metrics.

``python -m lit_extract probe --config configs/probe.yaml --data.manifest processed/manifest_swin3d_t.json
--trainer.default_root_dir runs/probe`` trains :class:`LinearProbe` on the train split of
:class:`EmbeddingDataModule`, keeps the epoch with the best validation score (AUROC for the binary
target ``y``, macro accuracy for ``category``) and tests that checkpoint on the test split. The
outputs (``metrics.json``, ``scores_test.npy``, ``roc_test.png``, ``checkpoints/``) go to the
trainer's log dir, ``{default_root_dir}/lightning_logs/version_N``; see :func:`write_outputs`.

Ten-crop runs (``--data.crops 10``, embeddings (rows, 10, D)): the probe's input row is the mean
of the row's ten crop embeddings, (D,), everywhere (statistics, training, validation, test).

Test metrics (binary): clip-level AUROC, average precision, accuracy and F1 at 0.5; video-level
AUROC and frame-level AUROC (when UCF-Crime's temporal annotation file is given), from
:mod:`lit_extract.evaluate.metrics` (which states the annotation file's 1-based inclusive frame convention).
Multi-class: macro accuracy and macro F1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from lightning.pytorch import LightningDataModule, LightningModule
from torch import Tensor, nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler
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
from lit_extract.indexing.index import split_rows
from lit_extract.store.manifest import SplitArrays, load_run_index, open_split, read_manifest
from lit_extract.evaluate.metrics import frame_auroc, frame_level, video_auroc
from lit_extract.indexing.frame_truth import read_frame_truth
from lit_extract.evaluate.roc_plot import Curve, roc_figure

Target = Literal["y", "category"]


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


class EmbeddingBatches(Dataset):
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

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if isinstance(self.embeddings, np.memmap):
            state["embeddings"] = Path(self.embeddings.filename)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["embeddings"], Path):
            state["embeddings"] = np.load(state["embeddings"], mmap_mode="r")
        self.__dict__.update(state)


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
            when given, the test adds frame-level AUROC.

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
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if batch_size < 1:
            raise LitExtractError(f"--data.batch_size must be >= 1, got {batch_size}")
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
        self.datasets: dict[str, EmbeddingBatches] = {}

    @property
    def input_dim(self) -> int:
        """Embedding width D, from the manifest."""
        return int(self.manifest["embedding_dim"])

    @property
    def num_classes(self) -> int:
        """2 for the binary target, the number of train categories otherwise."""
        return len(self.classes)

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
            self.datasets[split] = EmbeddingBatches(embeddings, self.targets(split), self.mean, self.std)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[split]
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
    """One linear layer on standardized embeddings, trained with AdamW.

    Binary (``num_classes == 2``): one logit, ``BCEWithLogits``, scores = sigmoid probabilities;
    validation logs ``val_auroc``. Multi-class: ``num_classes`` logits, cross-entropy, scores =
    softmax probabilities; validation logs ``val_macro_acc``. Checkpointing and early stopping
    watch ``val_metric`` (higher is better) = that value - ``LOSS_TIE_BREAK`` x val loss: the
    metric decides, the loss only breaks ties (a val AUROC saturated at 1.0 on a small val split
    would otherwise keep the first, barely trained epoch).
    After ``trainer.test``, ``test_scores`` holds the per-row test scores in row order
    ((rows,) binary, (rows, C) multi-class); test on one device so that the order is the rows'.

    Args:
        input_dim: embedding width (linked from the data by the CLI).
        num_classes: 2 for binary (linked from the data by the CLI).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay on the weights (the bias is not decayed).
        dropout: dropout on the input embedding during training.
        pos_weight: binary only: weight of positive rows in the loss; ``auto`` = train
            negatives / positives; ``None`` = 1.
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int = 2,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        dropout: float = 0.0,
        pos_weight: float | Literal["auto"] | None = None,
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
        if pos_weight is not None and (num_classes != 2 or not valid_weight):
            raise LitExtractError(
                f"--model.pos_weight must be > 0 or 'auto', and only with a binary target; got {pos_weight}"
            )
        self.save_hyperparameters()
        self.binary = num_classes == 2
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(input_dim, 1 if self.binary else num_classes)
        weight = torch.tensor(float(pos_weight)) if isinstance(pos_weight, (int, float)) else None
        self.register_buffer("pos_weight_value", weight, persistent=False)  # "auto" is resolved in setup
        self.val_metric_name = "val_auroc" if self.binary else "val_macro_acc"
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
        self._test_batches: list[Tensor] = []

    def setup(self, stage: str) -> None:
        if self.hparams.pos_weight == "auto":
            counts = getattr(self.trainer.datamodule, "class_counts", None)
            if counts is None:
                raise LitExtractError("--model.pos_weight auto needs an EmbeddingDataModule")
            negatives, positives = counts()
            if positives == 0:
                raise LitExtractError("--model.pos_weight auto: the train split has no positive rows")
            self.pos_weight_value = torch.tensor(negatives / positives, dtype=torch.float32, device=self.device)

    def forward(self, x: Tensor) -> Tensor:
        """Logits: (B,) binary, (B, C) multi-class."""
        logits = self.linear(self.dropout(x))  # B 1|C
        return logits.squeeze(1) if self.binary else logits

    def scores(self, logits: Tensor) -> Tensor:
        """Probabilities: of the positive class (binary) or of each class."""
        return torch.sigmoid(logits) if self.binary else torch.softmax(logits, dim=1)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        if self.binary:
            return F.binary_cross_entropy_with_logits(logits, target.float(), pos_weight=self.pos_weight_value)
        return F.cross_entropy(logits, target)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, target = batch
        loss = self.loss(self(x), target)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(target))
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, target = batch
        logits = self(x)
        loss = self.loss(logits, target)
        self.log("val_loss", loss, batch_size=len(target))
        self.val_loss_mean.update(loss, weight=len(target))
        self.val_score.update(self.scores(logits), target)

    def on_validation_epoch_end(self) -> None:
        value, loss = self.val_score.compute(), self.val_loss_mean.compute()
        self.val_score.reset()
        self.val_loss_mean.reset()
        self.log(self.val_metric_name, value, prog_bar=True)
        self.log("val_metric", value - LOSS_TIE_BREAK * loss)

    def on_test_epoch_start(self) -> None:
        self._test_batches = []

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, target = batch
        logits = self(x)
        scores = self.scores(logits)
        self.log("test_loss", self.loss(logits, target), batch_size=len(target))
        self.test_metrics.update(scores, target)
        self._test_batches.append(scores.detach().float().cpu())

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()
        self.test_scores = torch.cat(self._test_batches).numpy()
        self._test_batches = []

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            [{"params": [self.linear.weight], "weight_decay": self.hparams.weight_decay},
             {"params": [self.linear.bias], "weight_decay": 0.0}],
            lr=self.hparams.lr,
        )


# --- outputs ------------------------------------------------------------------------------------


def grouped_metrics(scores: np.ndarray, data: EmbeddingDataModule) -> dict[str, float]:
    """Video-level AUROC, and frame-level AUROC when ``data`` has annotations, of binary test ``scores``."""
    rows = data.rows("test")
    if len(scores) != len(rows):
        raise LitExtractError(f"{len(scores)} test scores for {len(rows)} test rows; test on a single device")
    metrics = {"test_video_auroc": video_auroc(scores, data.targets("test"), rows["path"])}
    if data.hparams.annotations is not None:
        metrics["test_frame_auroc"] = frame_auroc(scores, rows, read_frame_truth(data.hparams.annotations))
    return metrics


def frames_of_test(scores: np.ndarray, data: EmbeddingDataModule) -> tuple[np.ndarray, np.ndarray] | None:
    """Frame-level ``(scores, labels)`` of binary test ``scores`` when ``data`` has annotations, else None."""
    if data.hparams.annotations is None or scores.ndim != 1:
        return None
    return frame_level(scores, data.rows("test"), read_frame_truth(data.hparams.annotations))


def roc_title(encoder: str | None, split: str = "test") -> str:
    """The title of a probe's ROC figure: encoder, split and what is plotted."""
    return f"{encoder or 'embeddings'}: linear probe ROC on the {split} split"


def write_outputs(
    run_dir: Path,
    metrics: dict[str, float],
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    encoder: str | None = None,
    frames: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[Path]:
    """Write ``metrics.json`` (NaN as null), ``scores_test.npy`` and, for binary scores, ``roc_test.png``.

    Returns the paths written. ``scores_test.npy`` row ``i`` is test row ``i``: (rows,) positive
    class probabilities, or (rows, C) class probabilities in ``EmbeddingDataModule.classes`` order.
    ``roc_test.png`` (:func:`lit_extract.evaluate.roc_plot.roc_figure`) is titled with ``encoder`` and the
    split; its clip-level panel has the frame-level one beside it when ``frames`` (frame scores,
    frame labels; :func:`frames_of_test`) are given.
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
        save_figure_atomic(roc_figure(roc_title(encoder), panels), paths[2], dpi=120)
    return paths


def results_table(metrics: dict[str, float]) -> str:
    """The metrics as an aligned two-column text table."""
    width = max(len(name) for name in metrics)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ------"]
    lines += [f"{name:<{width}}  {value:.4f}" for name, value in metrics.items()]
    return "\n".join(lines)
