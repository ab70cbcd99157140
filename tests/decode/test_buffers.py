"""Reused batch buffers (lit_extract.decode.buffers): a buffer goes back to its worker only when released."""

from __future__ import annotations

from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest
import torch
import torch.multiprocessing  # noqa: F401  (registers the tensor reducers the DataLoader queue uses)

from conftest import clip_rows, read_barcode, write_index
from lit_extract.decode.buffers import BufferPool, ClipBatch, Slot
from lit_extract.extract.data import POOL_CAPACITY, ClipDataModule
from lit_extract.decode.video import sample_frame_ids

T, IMG = 4, 32


@pytest.fixture
def many_batches(tmp_path, make_video):
    """One 400-frame video: 24 clips, i.e. 24 batches of 1 (three times a worker's pool)."""
    path = make_video("long.mp4", 400)
    return write_index(tmp_path / "index.csv", clip_rows(path, "test", "Normal", 400))


def loader(index, workers=1, batch_size=1):
    data = ClipDataModule(str(index), splits=["test"], frames=T, img_size=IMG, batch_size=batch_size, num_workers=workers)
    data.setup("predict")
    return data, data.predict_dataloader()[0]


def barcodes(clip: torch.Tensor) -> list[int]:
    """Frame ids drawn in a uint8 (C, T, H, W) RGB clip."""
    return [read_barcode(clip[:, t].permute(1, 2, 0).numpy()) for t in range(clip.shape[1])]


def expected_ids(data: ClipDataModule, row: int) -> list[int]:
    rows = data.rows["test"]
    return sample_frame_ids(int(rows["start_frame"].iat[row]), int(rows["end_frame"].iat[row]), T).tolist()


def test_batches_never_released_keep_their_frames_while_the_worker_goes_on(many_batches):
    data, batches = loader(many_batches)
    kept = list(batches)  # nothing is released: every buffer stays busy
    assert len(kept) > 2 * POOL_CAPACITY
    for batch in kept:
        assert barcodes(batch["clips"][0]) == expected_ids(data, int(batch["rows"][0]))


def test_released_buffers_are_reused_and_still_carry_the_right_frames(many_batches):
    data, batches = loader(many_batches)
    storages, count = [], 0
    for batch in batches:
        assert barcodes(batch["clips"][0]) == expected_ids(data, int(batch["rows"][0]))
        storages.append(batch["clips"].untyped_storage())  # keeps the main process's mapping alive
        batch.release()
        count += 1
    distinct = {storage.data_ptr() for storage in storages}
    assert count == 24 and len(distinct) <= POOL_CAPACITY


def test_a_busy_slot_is_never_handed_out_again(monkeypatch):
    pool = BufferPool(workers=1, capacity=2)
    monkeypatch.setattr("lit_extract.decode.buffers.get_worker_info", lambda: type("Info", (), {"id": 0})())
    first, slot_a = pool.acquire((4,))
    second, slot_b = pool.acquire((4,))
    third, slot_c = pool.acquire((4,))  # both slots busy: a fresh buffer, not pooled
    assert slot_a[1] != slot_b[1] and slot_c is None
    pointers = {t.untyped_storage().data_ptr() for t in (first, second, third)}
    assert len(pointers) == 3
    ClipBatch(slot=slot_a).release()
    again, slot = pool.acquire((4,))
    assert slot[1] == slot_a[1] and again.untyped_storage().data_ptr() == first.untyped_storage().data_ptr()


def worker_batch(pool: BufferPool, monkeypatch) -> ClipBatch:
    """A batch as worker 0 makes it: pixels in a pooled shared buffer, rows and labels as plain tensors."""
    monkeypatch.setattr("lit_extract.decode.buffers.get_worker_info", lambda: type("Info", (), {"id": 0})())
    clips, slot = pool.acquire((2, 3))
    clips.copy_(torch.arange(6, dtype=torch.uint8).view(2, 3))
    monkeypatch.undo()
    return ClipBatch({"clips": clips, "rows": torch.tensor([7, 3]), "y": torch.tensor([1, 0])}, slot=slot)


def test_a_sent_batch_carries_its_metadata_by_value_and_its_pixels_as_shared_memory(monkeypatch):
    pool = BufferPool(workers=1, capacity=2)
    batch = worker_batch(pool, monkeypatch)
    received = ForkingPickler.loads(ForkingPickler.dumps(batch))  # what the DataLoader's queue does
    assert not batch["rows"].is_shared() and not batch["y"].is_shared()  # not moved into shared memory
    assert received["rows"].tolist() == [7, 3] and received["y"].tolist() == [1, 0]
    batch["clips"][0, 0] = 99  # the worker's buffer and the received clips are one memory
    assert received["clips"].untyped_storage().data_ptr() == batch["clips"].untyped_storage().data_ptr()
    assert received["clips"][0].tolist() == [99, 1, 2]


def test_a_received_batch_releases_the_slot_of_the_worker_that_sent_it(monkeypatch):
    pool = BufferPool(workers=1, capacity=2)
    batch = worker_batch(pool, monkeypatch)
    index = batch.slot.index
    received = ForkingPickler.loads(ForkingPickler.dumps(batch))
    assert pool.flags[0, index] == 1
    received.release()
    assert pool.flags[0, index] == 0


def test_a_slot_moves_with_replace_and_is_released_once():
    flags = torch.ones(1, 3, dtype=torch.uint8)
    batch = ClipBatch({"clips": torch.zeros(1)}, slot=Slot(flags[0], 1))
    moved = batch.replace(clips=torch.ones(1))
    batch.release()  # no longer the holder: must not free the slot
    assert flags[0, 1] == 1
    moved.release()
    assert flags[0, 1] == 0
    flags[0, 1] = 1  # the worker takes the slot again
    moved.release()  # a second release of the same batch must not free the new holder's slot
    assert flags[0, 1] == 1


def test_predict_with_workers_writes_the_same_rows_as_without(tmp_path, many_batches):
    """The whole run (release in on_predict_batch_end) equals the in-process loader's rows."""
    from lightning.pytorch import Trainer

    from lit_extract.extract.module import FrozenVideoEncoder
    from lit_extract.extract.writer import EmbeddingWriter

    outputs = {}
    for workers in (0, 2):
        torch.manual_seed(0)
        model = FrozenVideoEncoder("r3d_18", weights="none", frames=T, img_size=IMG)
        data = ClipDataModule(str(many_batches), splits=["test"], frames=T, img_size=IMG, batch_size=1, num_workers=workers)
        out = tmp_path / f"out{workers}"
        trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                          callbacks=[EmbeddingWriter(str(out))])
        trainer.predict(model, datamodule=data, return_predictions=False)
        outputs[workers] = np.load(out / "emb_r3d_18_test.npy")
    np.testing.assert_allclose(outputs[2].astype(np.float32), outputs[0].astype(np.float32), rtol=2e-3, atol=2e-3)
