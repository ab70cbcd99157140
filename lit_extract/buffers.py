"""Batch buffers that DataLoader workers reuse, and the batch type that gives them back.

A worker's batch reaches the main process through shared memory. Allocating a fresh shared
buffer for every batch costs the worker a page fault per 4 KiB the first time it writes the
buffer (on a 2-core VM, ~1.2 ms per 8 x 224 x 224 clip: a third of what decoding the clip costs;
benchmarks/README.md) and the main process another mapping per batch. Reusing a few buffers per
worker avoids both: the pages stay mapped on both sides.

Reuse is safe only when nobody may still read the buffer. The protocol:

- a worker takes a slot of its :class:`BufferPool` only while that slot's flag (a byte in shared
  memory, one row of flags per worker) is 0, and sets it to 1 before writing the buffer;
- the main process sets it back to 0 (:meth:`ClipBatch.release`) once nothing will read that
  batch's buffer again: right after the batch was copied into pinned memory
  (:meth:`ClipBatch.pin_memory`, which the DataLoader's pin-memory thread calls on GPU runs), or
  after ``predict_step`` and the writer are done with it (``FrozenVideoEncoder.on_predict_batch_end``
  on CPU runs);
- a batch nobody releases keeps its slot forever: when every slot is taken, the worker allocates a
  fresh buffer (slower, never wrong). So a consumer that keeps batches (a test, a notebook) sees
  them unchanged.

Outside a worker (``num_workers=0``) buffers are plain private tensors and nothing is pooled.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.data import get_worker_info


class BufferPool:
    """Up to ``capacity`` reusable shared-memory byte buffers per DataLoader worker.

    Create it in the main process before the DataLoader starts its workers (the flags are shared
    memory, inherited by every worker); each worker then fills its own slots.
    """

    def __init__(self, workers: int, capacity: int) -> None:
        self.capacity = capacity
        self.flags = torch.zeros((max(1, workers), capacity), dtype=torch.uint8).share_memory_()
        self._storages: dict[int, torch.UntypedStorage] = {}  # slot -> its buffer, in this worker only
        self.fresh = 0  # buffers this process allocated (a pooled slot's first use counts once)

    def acquire(self, shape: tuple[int, ...]) -> tuple[torch.Tensor, tuple[torch.Tensor, int] | None]:
        """A uint8 tensor of ``shape`` to fill, and the slot to release it with (None: not pooled).

        The tensor's content is arbitrary (a reused buffer holds an older batch).
        """
        nbytes = math.prod(shape)
        info = get_worker_info()
        if info is None:  # the main process: private memory, nothing to send anywhere
            self.fresh += 1
            return torch.empty(shape, dtype=torch.uint8), None
        flags = self.flags[info.id]
        free = [slot for slot in range(self.capacity) if int(flags[slot]) == 0]
        if not free:  # every buffer is still in use: a fresh one, never a busy one
            self.fresh += 1
            return _shared_tensor(torch.UntypedStorage._new_shared(nbytes), shape), None
        slot = next((s for s in free if s in self._storages and self._storages[s].nbytes() >= nbytes), free[0])
        storage = self._storages.get(slot)
        if storage is None or storage.nbytes() < nbytes:
            storage = self._storages[slot] = torch.UntypedStorage._new_shared(nbytes)
            self.fresh += 1
        flags[slot] = 1  # taken before it is written; the main process clears it on release
        return _shared_tensor(storage, shape), (flags, slot)


def _shared_tensor(storage: torch.UntypedStorage, shape: tuple[int, ...]) -> torch.Tensor:
    """The first ``prod(shape)`` bytes of ``storage`` as a uint8 tensor of ``shape``."""
    return torch.empty(0, dtype=torch.uint8).set_(storage, 0, (math.prod(shape),)).view(shape)


class ClipBatch(dict):
    """A batch (``dict`` of tensors) whose buffer may belong to a worker's :class:`BufferPool` slot.

    Behaves as a plain dict everywhere; :meth:`release` hands the buffer back (idempotent).
    """

    def __init__(self, *args: Any, slot: tuple[torch.Tensor, int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slot = slot

    def replace(self, **items: Any) -> ClipBatch:
        """A new batch with ``items`` replaced; the slot moves to it (only one object may release a slot)."""
        moved = ClipBatch({**self, **items}, slot=self.slot)
        self.slot = None
        return moved

    def release(self) -> None:
        """Let the worker reuse this batch's buffer: call only once nothing will read it again."""
        if self.slot is not None:
            flags, index = self.slot
            self.slot = None
            flags[index] = 0

    def pin_memory(self, device: Any = None) -> ClipBatch:
        """A copy in pinned memory (what the DataLoader's pin-memory thread sends on); releases this one."""
        pinned = ClipBatch({key: value.pin_memory() for key, value in self.items()})
        self.release()  # the pinned copy is complete: the shared buffer is no longer read
        return pinned


def release_batch(batch: Any) -> None:
    """Release ``batch``'s buffer if it is a :class:`ClipBatch` (anything else: nothing to do)."""
    if isinstance(batch, ClipBatch):
        batch.release()
