"""The record of lost frames: which frame ranges of which video could not be decoded, per split.

Readers find lost frames while decoding (:class:`lit_extract.decode.video.DecodeLog`); batches carry them
as ``(row, first, last)`` rows (:mod:`lit_extract.extract.data`). Each process appends them to its own
file in the output folder, ``lost_frames_{split}.{rank}.jsonl`` (one JSON object per line,
``{"row": r, "lost": [[first, last], ...]}``), synced before the rows of that batch are marked
done, so a killed run keeps them and a resumed run, or another world size, only adds lines. The
manifest merges every file of a split: per video, the union of its ranges
(``{"/path/a.mp4": [[147, 147]], ...}``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

PATTERN = "lost_frames_*.jsonl"


def record_path(directory: Path, split: str, rank: int) -> Path:
    """This process's record of ``split``'s lost frames."""
    return directory / f"lost_frames_{split}.{rank}.jsonl"


def merge_ranges(ranges: Iterable[Sequence[int]]) -> list[list[int]]:
    """Inclusive ``[first, last]`` ranges -> their union as sorted, disjoint, non-touching ranges."""
    merged: list[list[int]] = []
    for first, last in sorted((int(a), int(b)) for a, b in ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return merged


class LostFramesRecord:
    """Appends one split's lost frame ranges to this process's file (opened lazily, kept open)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def add(self, lost: np.ndarray) -> None:
        """Append the ``(row, first, last)`` int rows of ``lost`` (L, 3), one line per row id."""
        if len(lost) == 0:
            return
        by_row: dict[int, list[list[int]]] = {}
        for row, first, last in np.asarray(lost, np.int64).tolist():
            by_row.setdefault(row, []).append([first, last])
        lines = "".join(json.dumps({"row": row, "lost": ranges}) + "\n" for row, ranges in by_row.items())
        if self.fd is None:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)  # 0o666 & ~umask, like open()
        os.write(self.fd, lines.encode("utf-8"))

    def sync(self) -> None:
        """Push what was added to disk (before the rows it came with are marked done)."""
        if self.fd is not None:
            os.fdatasync(self.fd)

    def close(self) -> None:
        if self.fd is not None:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = None


def read_lost_frames(directory: Path, split: str, paths: np.ndarray) -> dict[str, list[list[int]]]:
    """Every process's record of ``split`` merged: video path -> its lost frame ranges (union).

    ``paths[row]`` is the video of row ``row`` of the split. A line cut short by a kill is skipped
    (its rows were not marked done, so the rerun wrote it again).
    """
    ranges: dict[str, list[list[int]]] = {}
    for path in sorted(directory.glob(f"lost_frames_{split}.*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            ranges.setdefault(str(paths[int(entry["row"])]), []).extend(entry["lost"])
    return {video: merge_ranges(found) for video, found in sorted(ranges.items())}
