"""Frame AUROC of the MIL probe against the clip-label probe where anomalies are short segments of long videos.

    python benchmarks/mil_probe.py [--seeds 0 1 2 3 4] [--dim 32] [--shift 3] [--epochs 30] [--mil-loss topk] [--head linear]

For each seed, writes a synthetic extraction run (index CSV of back-to-back 16-frame snippets,
.npy embeddings, complete manifest) and UCF-Crime-style frame truth to a temporary folder, then
runs ``python -m lit_extract probe`` on it twice with the same settings: ``--model.objective clip``
(every snippet of an anomalous video labelled 1) and ``--model.objective mil`` (``--mil-loss``:
top-k MIL or Sultani's ranking loss, from the video labels; ``--head``: linear or the 512-32-1 MLP
for both). Prints one line per seed and objective (test frame AUROC, frame AP, video
AUROC, seconds) and the mean frame AUROC of each objective.

The data: every video has 60-199 snippets of ``dim``-D Gaussian noise plus a per-video offset
(std 0.5 per dimension, the scene); in an anomalous video (half of them) one segment of 6-15
snippets is shifted by ``--shift`` noise standard deviations along one direction, the same for
all videos. So 3-25% of an anomalous video's snippets are anomalous, as in UCF-Crime, where most
of an anomalous video is normal. Takes about a minute and a half on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lit_extract.atomic import write_json_atomic
from lit_extract.commands.cli import run_probe
from lit_extract.evaluate.captured_output import captured_output
from lit_extract.indexing.index import COLUMNS, file_sha256
from lit_extract.store.manifest import split_file_names

SNIPPET = 16  # frames per snippet
VIDEOS = {"train": 120, "val": 40, "test": 60}


def synthetic_videos(rng: np.random.Generator, videos: int, dim: int, direction: np.ndarray, shift: float):
    """``videos`` (embeddings (T, dim), label, anomalous snippet range or None), the first half anomalous."""
    for video in range(videos):
        length = int(rng.integers(60, 200))
        x = rng.standard_normal((length, dim)) + 0.5 * rng.standard_normal(dim)  # T D: noise + the scene
        segment = None
        if video < videos // 2:
            span = int(rng.integers(6, 16))
            start = int(rng.integers(0, length - span))
            x[start : start + span] += shift * direction
            segment = (start, start + span)
        yield x, int(segment is not None), segment


def write_benchmark(folder: Path, seed: int, dim: int, shift: float) -> tuple[Path, Path]:
    """A complete synthetic run and its frame truth in ``folder``: ``(manifest, annotation file)``."""
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(dim)
    direction /= np.linalg.norm(direction)
    index_rows, splits, truth_lines = [], {}, []
    for split, videos in VIDEOS.items():
        embeddings, labels = [], []
        for number, (x, y, segment) in enumerate(synthetic_videos(rng, videos, dim, direction, shift)):
            name = f"{split}_{number:04d}"
            for snippet in range(len(x)):
                index_rows.append({
                    "split": split, "y": y, "category": "Anomaly" if y else "Normal", "path": f"videos/{name}.mp4",
                    "clip_idx": snippet, "start_frame": snippet * SNIPPET, "end_frame": (snippet + 1) * SNIPPET,
                    "clip_len": SNIPPET, "stride": SNIPPET, "fps": 30.0, "n_frames": len(x) * SNIPPET,
                })
            embeddings.append(x)
            labels.append(np.full(len(x), y))
            if split == "test":  # UCF-Crime's format: 1-based, inclusive frame ranges
                first, last = (segment[0] * SNIPPET + 1, segment[1] * SNIPPET) if segment else (-1, -1)
                truth_lines.append(f"{name}.mp4  {'Anomaly' if y else 'Normal'}  {first}  {last}  -1  -1")
        files = split_file_names("synthetic", split)
        np.save(folder / files["embeddings"], np.concatenate(embeddings).astype(np.float16))
        np.save(folder / files["labels"], np.concatenate(labels).astype(np.int8))
        rows = sum(len(x) for x in embeddings)
        np.save(folder / files["status"], np.zeros(rows, np.uint8))
        np.save(folder / files["done"], np.ones(rows, np.uint8))
        splits[split] = {"rows": rows, "files": files}
    index = folder / "index_clips.csv"
    pd.DataFrame(index_rows, columns=list(COLUMNS)).to_csv(index, index=False)
    manifest = folder / "manifest_synthetic.json"
    write_json_atomic(manifest, {"complete": True, "encoder": "synthetic", "embedding_dim": dim, "dtype": "float16",
                                 "index": {"path": str(index), "sha256": file_sha256(index)}, "splits": splits})
    annotations = folder / "annotations.txt"
    annotations.write_text("\n".join(truth_lines) + "\n", encoding="utf-8")
    return manifest, annotations


def probe(manifest: Path, annotations: Path, root: Path, objective: str, epochs: int, mil_loss: str = "topk",
          head: str = "linear") -> tuple[dict, float]:
    """Run the ``probe`` command (its output into ``root/probe.log``); return its metrics.json and wall seconds."""
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with captured_output(root / "probe.log"):
        run_dir = run_probe("probe", [
            "--data.manifest", str(manifest), "--data.annotations", str(annotations), "--model.objective", objective,
            "--model.lr", "0.01", "--data.batch_size", "1024", "--data.bags_per_batch", "16",
            "--trainer.default_root_dir", str(root), "--trainer.max_epochs", str(epochs), "--trainer.logger", "false",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", "--seed_everything", "0",
            "--trainer.accelerator", "cpu", "--plot_videos", "0", "--model.mil_loss", mil_loss, "--model.head", head,
        ])
    return json.loads((Path(run_dir) / "metrics.json").read_text()), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="one synthetic benchmark per seed")
    parser.add_argument("--dim", type=int, default=32, help="embedding width")
    parser.add_argument("--shift", type=float, default=3.0, help="anomalous snippets' shift, in noise std")
    parser.add_argument("--epochs", type=int, default=30, help="--trainer.max_epochs of each probe")
    parser.add_argument("--mil-loss", choices=["topk", "ranking"], default="topk", help="the MIL probe's --model.mil_loss")
    parser.add_argument("--head", choices=["linear", "mlp"], default="linear", help="both probes' --model.head")
    args = parser.parse_args()
    results: dict[str, list[float]] = {"clip": [], "mil": []}
    print(f"{'seed':>4}  {'objective':<9}  {'frame_auroc':>11}  {'frame_ap':>8}  {'video_auroc':>11}  {'seconds':>7}")
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as folder:
            manifest, annotations = write_benchmark(Path(folder), seed, args.dim, args.shift)
            for objective in results:
                metrics, seconds = probe(manifest, annotations, Path(folder) / objective, objective, args.epochs,
                                         args.mil_loss, args.head)
                results[objective].append(metrics["test_frame_auroc"])
                print(f"{seed:>4}  {objective:<9}  {metrics['test_frame_auroc']:>11.4f}  {metrics['test_frame_ap']:>8.4f}  "
                      f"{metrics['test_video_auroc']:>11.4f}  {seconds:>7.1f}", flush=True)
    for objective, values in results.items():
        print(f"mean frame AUROC, {objective}: {statistics.mean(values):.4f} over {len(values)} seeds")


if __name__ == "__main__":
    main()
