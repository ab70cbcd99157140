"""Time the linear probe on 100k x 768 float16 embeddings (the size of UCF-Crime's train clips).

    python benchmarks/probe.py [--rows 100000] [--dim 768] [--epochs 5] [--accelerator cpu]

Writes a synthetic extraction run (index CSV, .npy memmaps, complete manifest) to a temporary
folder, fits :class:`~lit_extract.evaluate.probe.LinearProbe` on :class:`~lit_extract.evaluate.probe.EmbeddingDataModule`
with the data module's defaults (batch 4096, standardization with train statistics), and prints
the setup time, seconds per train epoch and per validation pass, and the test AUROC. The classes
differ along one random direction, so the AUROC should approach the Bayes value printed beside it.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from lightning.pytorch import Callback, Trainer, seed_everything
from numpy.lib.format import open_memmap

from lit_extract.indexing.index import COLUMNS, file_sha256
from lit_extract.store.manifest import split_file_names, write_json_atomic
from lit_extract.evaluate.probe import EmbeddingDataModule, LinearProbe

SHIFT = 1.5  # distance between the class means, in units of the noise std; Bayes AUROC = Phi(SHIFT / sqrt 2)


def write_split(folder: Path, split: str, rows: int, dim: int, direction: np.ndarray, rng: np.random.Generator) -> dict:
    """Stream one split's embeddings to a float16 .npy memmap, 8192 rows at a time; return its manifest entry."""
    files = split_file_names("bench", split)
    labels = rng.integers(0, 2, rows).astype(np.int8)
    embeddings = open_memmap(folder / files["embeddings"], mode="w+", dtype=np.float16, shape=(rows, dim))
    for start in range(0, rows, 8192):
        y = labels[start : start + 8192, None]
        noise = rng.standard_normal((len(y), dim), dtype=np.float32)
        embeddings[start : start + len(y)] = noise + SHIFT * y * direction  # rows D
    embeddings.flush()
    np.save(folder / files["labels"], labels)
    np.save(folder / files["status"], np.zeros(rows, np.uint8))
    np.save(folder / files["done"], np.ones(rows, np.uint8))
    return {"rows": rows, "files": files, "labels": labels}


def write_run(folder: Path, rows: dict[str, int], dim: int, seed: int = 0) -> Path:
    """A complete synthetic extraction run in ``folder`` (8 clips per video); returns the manifest path."""
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(dim).astype(np.float32)
    direction /= np.linalg.norm(direction)
    splits, frames = {}, []
    for split, n in rows.items():
        entry = write_split(folder, split, n, dim, direction, rng)
        clip = np.arange(n) % 8
        frames.append(pd.DataFrame({
            "split": split, "y": entry.pop("labels"), "category": "synthetic",
            "path": [f"videos/{split}_{v}.mp4" for v in np.arange(n) // 8], "clip_idx": clip,
            "start_frame": clip * 16, "end_frame": clip * 16 + 16, "clip_len": 16, "stride": 16,
            "fps": 30.0, "n_frames": 128,
        }))
        splits[split] = entry
    index = folder / "index_clips.csv"
    pd.concat(frames)[list(COLUMNS)].to_csv(index, index=False)
    manifest = folder / "manifest_bench.json"
    write_json_atomic(manifest, {
        "complete": True, "encoder": "bench", "embedding_dim": dim, "dtype": "float16",
        "index": {"path": str(index), "sha256": file_sha256(index)}, "splits": splits,
    })
    return manifest


class EpochTimer(Callback):
    """Wall seconds of each train epoch (without validation) and of each validation pass."""

    def __init__(self) -> None:
        self.train: list[float] = []
        self.val: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._train_start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.train.append(time.perf_counter() - self._train_start)

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._val_start = time.perf_counter()

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.val.append(time.perf_counter() - self._val_start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="train rows (val and test get a fifth each)")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--accelerator", default="cpu")
    args = parser.parse_args()
    seed_everything(0, verbose=False)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        manifest = write_run(Path(tmp), {"train": args.rows, "val": args.rows // 5, "test": args.rows // 5}, args.dim)
        print(f"wrote {args.rows} x {args.dim} float16 train embeddings (+2 x {args.rows // 5}) "
              f"in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        data = EmbeddingDataModule(str(manifest))  # reads the manifest, checks and loads the index
        print(f"EmbeddingDataModule(): {time.perf_counter() - start:.2f} s (manifest + index CSV)")
        start = time.perf_counter()
        data.setup("fit")  # train mean/std in float64, chunked
        print(f"setup('fit'): {time.perf_counter() - start:.2f} s (train mean/std over the memmap)")
        model = LinearProbe(input_dim=data.input_dim, num_classes=data.num_classes)
        timer = EpochTimer()
        trainer = Trainer(accelerator=args.accelerator, devices=1, max_epochs=args.epochs, callbacks=[timer],
                          logger=False, enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(model, datamodule=data)
        val_auroc = float(trainer.callback_metrics["val_auroc"])
        trainer.test(model, datamodule=data, verbose=False)
        steps = math.ceil(args.rows / data.hparams.batch_size)
        print(f"train epoch: {np.median(timer.train):.2f} s median ({steps} steps of {data.hparams.batch_size}; "
              f"all: {', '.join(f'{t:.2f}' for t in timer.train)}), "
              f"{args.rows / np.median(timer.train):,.0f} rows/s")
        print(f"validation pass ({args.rows // 5} rows): {np.median(timer.val):.2f} s median")
        bayes = 0.5 * (1 + math.erf(SHIFT / 2))  # Phi(SHIFT / sqrt 2)
        print(f"val AUROC {val_auroc:.4f} (last epoch), "
              f"test AUROC {float(trainer.callback_metrics['test_auroc']):.4f} (Bayes {bayes:.4f})")


if __name__ == "__main__":
    main()
