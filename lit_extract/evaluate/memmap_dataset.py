"""A dataset over a memory-mapped ``.npy`` file that DataLoader workers reopen instead of copying.

A worker process gets its dataset pickled; a ``numpy.memmap`` would be pickled as its whole
contents. :class:`MemmapDataset` pickles the map as its file path and maps the file again in the
worker, so a dataset of any size costs each worker a file handle, not a copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset


class MemmapDataset(Dataset):
    """Base of datasets whose ``embeddings`` attribute may be a read-only ``numpy.memmap``."""

    embeddings: np.ndarray

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if isinstance(self.embeddings, np.memmap):
            state["embeddings"] = Path(self.embeddings.filename)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["embeddings"], Path):
            state["embeddings"] = np.load(state["embeddings"], mmap_mode="r")
        self.__dict__.update(state)
