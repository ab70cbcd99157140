"""The manifest: what produced an output folder, and whether it is complete.

``{output_dir}/manifest_{encoder}.json`` is written last, atomically (temp file + rename), by
rank 0 once every row of every split is done; an output folder without it is incomplete. Paths
under ``splits.<split>.files`` are relative to the manifest's folder. Layout::

    {"complete": true, "created_at": "...", "encoder": "swin3d_t", "weights": "DEFAULT",
     "frames": 8, "img_size": 224, "batch_size": 16, "mean": [...], "std": [...],
     "embedding_dim": 768, "dtype": "float16",
     "index": {"path": "/abs/index_clips.csv", "sha256": "..."},
     "splits": {"train": {"rows": 106527,
                          "files": {"embeddings": "emb_swin3d_t_train.npy", "labels": "y_train.npy",
                                    "status": "status_train.npy", "done": "done_train.npy"},
                          "label_counts": {"0": 54009, "1": 52518},
                          "embedding_stats": {"min": ..., "max": ..., "mean": ..., "std": ...},
                          "status_counts": {"ok": ..., "repeated_frames": ..., "unreadable": ...},
                          "affected_videos": {"/path/a.mp4": 2, ...}}},
     "versions": {"lit_extract": ..., "torch": ..., ...}, "world_size": 1,
     "wall_time_s": ..., "rows_computed": ..., "clips_per_s": ...}
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lit_extract.errors import LitExtractError

STATUS_NAMES = {0: "ok", 1: "repeated_frames", 2: "unreadable"}


def manifest_path(output_dir: str | Path, encoder: str) -> Path:
    """Where the manifest of ``encoder``'s run in ``output_dir`` lives."""
    return Path(output_dir) / f"manifest_{encoder}.json"


def split_file_names(encoder: str, split: str) -> dict[str, str]:
    """File names (inside the output folder) of one split's outputs."""
    return {
        "embeddings": f"emb_{encoder}_{split}.npy",
        "labels": f"y_{split}.npy",
        "status": f"status_{split}.npy",
        "done": f"done_{split}.npy",
    }


def write_json_atomic(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON so that readers see the old file or the whole new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(path: str | Path, *, require_complete: bool = True) -> dict[str, Any]:
    """Load a manifest; raise :class:`LitExtractError` if it is missing, unreadable or incomplete."""
    path = Path(path)
    if not path.is_file():
        raise LitExtractError(
            f"{path}: manifest not found; run `python -m lit_extract predict` to completion first"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LitExtractError(f"{path}: not a readable manifest ({exc})") from exc
    if require_complete and not manifest.get("complete", False):
        raise LitExtractError(f"{path}: the run is incomplete; rerun the same predict command to finish it")
    return manifest


@dataclass(frozen=True)
class SplitArrays:
    """One split's outputs, memory-mapped read-only.

    ``embeddings``: (rows, D) float16; ``labels``: (rows,) int8; ``status``: (rows,) uint8
    (see ``STATUS_NAMES``); ``done``: (rows,) uint8, 1 where the row is final.
    """

    embeddings: np.ndarray
    labels: np.ndarray
    status: np.ndarray
    done: np.ndarray


def open_split(path: str | Path, split: str, manifest: dict[str, Any] | None = None) -> SplitArrays:
    """Memory-map ``split``'s files listed by the manifest at ``path`` (nothing is copied)."""
    path = Path(path)
    manifest = read_manifest(path) if manifest is None else manifest
    if split not in manifest["splits"]:
        raise LitExtractError(f"{path}: no split '{split}'; it has {', '.join(manifest['splits'])}")
    files = manifest["splits"][split]["files"]
    arrays = {}
    for key in ("embeddings", "labels", "status", "done"):
        file = path.parent / files[key]
        if not file.is_file():
            raise LitExtractError(f"{file}: listed in {path.name} but missing; rerun predict into that folder")
        arrays[key] = np.load(file, mmap_mode="r")
    return SplitArrays(**arrays)


def embedding_stats(embeddings: np.ndarray, chunk_rows: int = 65536) -> dict[str, float]:
    """min/max/mean/std of all values, accumulated in float64 chunk by chunk (finite for float16 data).

    Memory stays at ``chunk_rows x D`` float64 whatever the number of rows. Non-finite values are
    counted under ``nonfinite`` and left out of the other statistics.
    """
    count, total, total_sq, nonfinite = 0, 0.0, 0.0, 0
    low, high = np.inf, -np.inf
    for start in range(0, embeddings.shape[0], chunk_rows):
        chunk = np.asarray(embeddings[start : start + chunk_rows], dtype=np.float64)
        finite = np.isfinite(chunk)
        nonfinite += int(chunk.size - finite.sum())
        values = chunk[finite]
        if values.size == 0:
            continue
        count += values.size
        total += float(values.sum())
        total_sq += float(np.square(values).sum())
        low, high = min(low, float(values.min())), max(high, float(values.max()))
    if count == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "nonfinite": nonfinite}
    mean = total / count
    variance = max(total_sq / count - mean * mean, 0.0)
    return {"min": low, "max": high, "mean": mean, "std": variance ** 0.5, "nonfinite": nonfinite}
