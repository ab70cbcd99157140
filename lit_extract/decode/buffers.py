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

What travels from a worker to the main process (:meth:`ClipBatch.__reduce__`): only the pixel
buffer as shared memory (its file descriptor, mapped once and then reused with the buffer); the
small tensors (rows, labels, statuses, frame sizes, lost ranges) by value in the pipe, and the
slot as three integers that the main process resolves to its own view of the pool's flags. Sent
as tensors, each small one would be a fresh shared-memory segment per batch and a
file-descriptor handshake with the worker (3-4% of a worker's throughput: benchmarks/README.md).
"""

from __future__ import annotations

import math
import uuid
import weakref
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import get_worker_info

# pool token -> its flags, in the process that made the pool (gone with the pool)
_POOL_FLAGS: weakref.WeakValueDictionary[str, torch.Tensor] = weakref.WeakValueDictionary()


class Slot(NamedTuple):
    """A pooled buffer's place: ``flags[index]`` is its busy byte; ``pool`` and ``worker`` name it
    across processes (``flags`` is the row of worker ``worker`` in the pool's flags)."""

    flags: torch.Tensor
    index: int
    pool: str = ""
    worker: int = 0


class BufferPool:
    """Up to ``capacity`` reusable shared-memory byte buffers per DataLoader worker.

    Create it in the main process before the DataLoader starts its workers (the flags are shared
    memory, inherited by every worker); each worker then fills its own slots.
    """

    def __init__(self, workers: int, capacity: int) -> None:
        self.capacity = capacity
        self.flags = torch.zeros((max(1, workers), capacity), dtype=torch.uint8).share_memory_()
        self.token = uuid.uuid4().hex
        _POOL_FLAGS[self.token] = self.flags  # how batches from the workers find them again (in this process)
        self._storages: dict[int, torch.UntypedStorage] = {}  # slot -> its buffer, in this worker only
        self.fresh = 0  # buffers this process allocated (a pooled slot's first use counts once)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A pool arriving in a spawned worker: batches copied there find its flags too."""
        self.__dict__.update(state)
        _POOL_FLAGS.setdefault(self.token, self.flags)

    def acquire(self, shape: tuple[int, ...]) -> tuple[torch.Tensor, Slot | None]:
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
        return _shared_tensor(storage, shape), Slot(flags, slot, self.token, info.id)


def _shared_tensor(storage: torch.UntypedStorage, shape: tuple[int, ...]) -> torch.Tensor:
    """The first ``prod(shape)`` bytes of ``storage`` as a uint8 tensor of ``shape``."""
    return torch.empty(0, dtype=torch.uint8).set_(storage, 0, (math.prod(shape),)).view(shape)


class ClipBatch(dict):
    """A batch (``dict`` of tensors) whose buffer may belong to a worker's :class:`BufferPool` slot.

    Behaves as a plain dict everywhere; :meth:`release` hands the buffer back (idempotent).
    """

    def __init__(self, *args: Any, slot: Slot | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slot = slot

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (a worker sending it): small tensors by value, the slot as integers (module docstring)."""
        items = {key: _by_value(value) for key, value in self.items()}
        slot = self.slot
        if isinstance(slot, Slot) and slot.pool:
            slot = (slot.pool, slot.worker, slot.index)
        return _rebuild_batch, (items, slot)

    def replace(self, **items: Any) -> ClipBatch:
        """A new batch with ``items`` replaced; the slot moves to it (only one object may release a slot)."""
        moved = ClipBatch({**self, **items}, slot=self.slot)
        self.slot = None
        return moved

    def release(self) -> None:
        """Let the worker reuse this batch's buffer: call only once nothing will read it again."""
        if self.slot is not None:
            slot, self.slot = self.slot, None
            slot.flags[slot.index] = 0

    def pin_memory(self, device: Any = None) -> ClipBatch:
        """A copy in pinned memory (what the DataLoader's pin-memory thread sends on); releases this one."""
        pinned = ClipBatch({key: value.pin_memory() for key, value in self.items()})
        self.release()  # the pinned copy is complete: the shared buffer is no longer read
        return pinned


def release_batch(batch: Any) -> None:
    """Release ``batch``'s buffer if it is a :class:`ClipBatch` (anything else: nothing to do)."""
    if isinstance(batch, ClipBatch):
        batch.release()


def _by_value(value: Any) -> Any:
    """A CPU tensor outside shared memory (rows, labels, ...: small) as a numpy array, pickled by
    value; a tensor in shared memory (the pixel buffer) as it is, sent as its file descriptor."""
    if isinstance(value, torch.Tensor) and value.device.type == "cpu" and not value.is_shared():
        return value.numpy()
    return value


def _rebuild_batch(items: dict[str, Any], slot: Any) -> ClipBatch:
    """Unpickle a :class:`ClipBatch`: arrays back to tensors; a slot sent as (pool, worker, index)
    back to this process's flags (None if this process did not make that pool: never released)."""
    if isinstance(slot, tuple) and len(slot) == 3 and isinstance(slot[0], str):
        pool, worker, index = slot
        flags = _POOL_FLAGS.get(pool)
        slot = None if flags is None else Slot(flags[worker], index, pool, worker)
    tensors = {key: torch.from_numpy(value) if isinstance(value, np.ndarray) else value for key, value in items.items()}
    return ClipBatch(tensors, slot=slot)
