"""EmbeddingWriter: its documented example runs, rows land at their own positions, a row is marked
done only after its bytes were synced, and staged (GPU) copies are each written once, in place."""

from __future__ import annotations

import json
import os
import stat
import textwrap
import types
from pathlib import Path

import lightning
import numpy as np
import pytest
import torch
from torchvision.models import get_model_weights

import lit_extract.extract.writer as writer_module
from lit_extract.commands.cli import main
from lit_extract.extract.data import ClipDataModule
from lit_extract.indexing.index import load_index, split_rows
from lit_extract.extract.module import FrozenVideoEncoder
from lit_extract.extract.writer import EmbeddingWriter, SplitFiles, contiguous_runs


def docstring_example(obj) -> str:
    text = obj.__doc__.split("::", 1)[1]
    return textwrap.dedent(text.split('"""')[0])


def test_docstring_example_writes_a_complete_output_folder(small_dataset, tmp_path):
    output_dir = tmp_path / "out"
    exec(docstring_example(EmbeddingWriter), {"index_path": str(small_dataset), "output_dir": str(output_dir)})
    manifest = json.loads((output_dir / "manifest_r3d_18.json").read_text())
    assert manifest["complete"] and manifest["embedding_dim"] == 512
    index = load_index(small_dataset)
    for split in ("train", "val", "test"):
        rows = split_rows(index, split)
        np.testing.assert_array_equal(np.load(output_dir / f"y_{split}.npy"), rows["y"].to_numpy(np.int8))
        assert np.load(output_dir / f"emb_r3d_18_{split}.npy").shape == (len(rows), 512)


def test_contiguous_runs_split_at_gaps():
    assert contiguous_runs(np.array([2, 3, 4, 7, 9, 10])) == [(0, 3), (3, 4), (4, 6)]
    assert contiguous_runs(np.array([], np.int64)) == []


def test_rows_are_written_at_their_positions_whatever_the_batch_order(tmp_path):
    files = SplitFiles(tmp_path, "enc", "val", rows=6, dim=3)
    files.create()
    writer = EmbeddingWriter(str(tmp_path), flush_interval_s=0)
    writer.add_files("enc", "val", files, files.open())
    expected = np.arange(18, dtype=np.float32).reshape(6, 3)
    for rows in ([5, 0], [3, 1, 2], [4]):
        batch = {"rows": torch.tensor(rows), "y": torch.tensor(rows) % 2, "status": torch.zeros(len(rows), dtype=torch.uint8)}
        writer.write_on_batch_end(None, None, torch.from_numpy(expected[rows]), None, batch, 0, 0)
    files.close()
    np.testing.assert_array_equal(np.load(files.paths["embeddings"]), expected.astype(np.float16))
    np.testing.assert_array_equal(np.load(files.paths["labels"]), np.arange(6) % 2)
    np.testing.assert_array_equal(np.load(files.paths["done"]), 1)


def test_rows_of_another_shape_than_the_files_are_refused_not_broadcast(tmp_path):
    files = SplitFiles(tmp_path, "enc", "val", rows=2, dim=3, crops=10)
    files.create()
    writer = EmbeddingWriter(str(tmp_path), flush_interval_s=0)
    writer.add_files("enc", "val", files, files.open())
    batch = {"rows": torch.tensor([0, 1]), "y": torch.tensor([0, 1]), "status": torch.zeros(2, dtype=torch.uint8)}
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*\(10, 3\)"):
        writer.write_on_batch_end(None, None, torch.ones(2, 3), None, batch, 0, 0)  # one crop's rows
    files.close()
    assert not np.load(files.paths["done"]).any()


@pytest.fixture
def run_under_umask_022(small_dataset, tmp_path):
    """A finished ``predict`` run (r3d_18, mean/std left to their defaults) made under umask 022."""
    out = tmp_path / "out"
    previous = os.umask(0o022)
    try:
        main(["predict", "--data.index_path", str(small_dataset), "--data.img_size", "16", "--data.num_workers", "0",
              "--model.encoder", "r3d_18", "--model.weights", "none", "--writer.output_dir", str(out),
              "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"])
    finally:
        os.umask(previous)
    return out


def test_every_output_is_readable_by_others_under_umask_022(run_under_umask_022):
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in run_under_umask_022.iterdir()}
    assert {"run_r3d_18.json", "manifest_r3d_18.json", "emb_r3d_18_train.npy"} <= set(modes)
    assert modes == {name: 0o644 for name in modes}


def test_run_json_and_manifest_record_the_encoders_declared_normalization(run_under_umask_022):
    declared = get_model_weights("r3d_18").DEFAULT.transforms()
    for name in ("run_r3d_18.json", "manifest_r3d_18.json"):
        recorded = json.loads((run_under_umask_022 / name).read_text())
        assert (recorded["mean"], recorded["std"]) == (list(declared.mean), list(declared.std)), name


# ------------------------------------------------------------------ durability order
class FakeClock:
    """The writer's clock, moved by the test: one second per predicted batch."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class FileOperations:
    """Every positioned write and sync of an ``.npy`` file in ``folder``, in order, with the fake clock's time."""

    def __init__(self, folder: Path, clock: FakeClock) -> None:
        self.folder, self.clock, self.events = folder.resolve(), clock, []

    def _name(self, fd: int) -> str | None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        return path.name if path.parent == self.folder and path.suffix == ".npy" else None  # not the folder's lock

    def install(self, monkeypatch) -> None:
        real_pwrite, real_fdatasync, real_fsync = os.pwrite, os.fdatasync, os.fsync

        def pwrite(fd, data, offset):
            name = self._name(fd)
            if name is not None:
                self.events.append(("write", name, offset, len(data), self.clock.now))
            return real_pwrite(fd, data, offset)

        def syncing(real):
            def sync(fd):
                name = self._name(fd)
                real(fd)
                if name is not None:
                    self.events.append(("sync", name, None, None, self.clock.now))
            return sync

        monkeypatch.setattr(os, "pwrite", pwrite)
        monkeypatch.setattr(os, "fdatasync", syncing(real_fdatasync))
        monkeypatch.setattr(os, "fsync", syncing(real_fsync))


def written_rows(folder: Path, name: str, offset: int, length: int) -> range:
    """Rows of the ``.npy`` file ``name`` that a write of ``length`` bytes at ``offset`` covers."""
    array = np.load(folder / name, mmap_mode="r")
    row_bytes = array.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
    first = (offset - array.offset) // row_bytes
    return range(first, first + length // row_bytes)


def run_with_file_log(index: Path, out: Path, flush_interval_s: float, monkeypatch) -> FileOperations:
    """``predict`` (batches of 1) with the writer's clock advanced one second per batch, its file operations logged."""
    clock = FakeClock()
    monkeypatch.setattr(writer_module, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    real_step = FrozenVideoEncoder.predict_step

    def timed_step(self, *args, **kwargs):
        clock.now += 1.0
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(FrozenVideoEncoder, "predict_step", timed_step)
    operations = FileOperations(out, clock)
    out.mkdir()
    operations.install(monkeypatch)
    main(["predict", "--data.index_path", str(index), "--data.img_size", "16", "--data.batch_size", "1",
          "--data.num_workers", "0", "--model.encoder", "r3d_18", "--model.weights", "none",
          "--writer.output_dir", str(out), "--writer.flush_interval_s", str(flush_interval_s),
          "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"])
    monkeypatch.undo()
    return operations


DATA_FILES = ("emb_r3d_18_{}.npy", "y_{}.npy", "status_{}.npy")


def replay(operations: FileOperations, out: Path):
    """Walk the logged operations; yield (split, rows marked done, their data files' rows still unsynced,
    when each marked row's embedding was written, the time of the mark)."""
    unsynced: dict[str, set[int]] = {}
    written_at: dict[tuple[str, int], float] = {}
    for kind, name, offset, length, now in operations.events:
        if kind == "sync":
            unsynced[name] = set()
            continue
        rows = written_rows(out, name, offset, length)
        if name.startswith("done_r3d_18_"):
            split = name[len("done_r3d_18_"):-len(".npy")]
            pending = {data.format(split): unsynced.get(data.format(split), set()) & set(rows) for data in DATA_FILES}
            yield split, rows, pending, [written_at[split, row] for row in rows], now
        else:
            unsynced.setdefault(name, set()).update(rows)
            if name.startswith("emb_r3d_18_"):
                for row in rows:
                    written_at[name[len("emb_r3d_18_"):-len(".npy")], row] = now


def test_a_row_is_marked_done_only_after_its_data_files_were_synced(small_dataset, tmp_path, monkeypatch):
    out = tmp_path / "out"
    operations = run_with_file_log(small_dataset, out, 3.0, monkeypatch)
    marks = list(replay(operations, out))
    assert sum(len(rows) for _, rows, _, _, _ in marks) == 10 + 4 + 1  # every row marked once
    for split, rows, pending, _, _ in marks:
        assert not any(pending.values()), f"{split} rows {list(rows)} marked done before these were synced: {pending}"


def test_at_most_flush_interval_s_of_finished_rows_wait_to_be_marked_done(small_dataset, tmp_path, monkeypatch):
    out = tmp_path / "out"
    operations = run_with_file_log(small_dataset, out, 3.0, monkeypatch)
    waits = [now - written for _, _, _, written_at, now in replay(operations, out) for written in written_at]
    assert len(waits) == 15 and max(waits) <= 3.0  # a row written at t is marked by t + flush_interval_s
    assert len({now for *_, now in replay(operations, out)}) > 3  # marked along the way, not only at the end


# ------------------------------------------------------------------ staged (GPU) copies
class LateCopy:
    """Stands in for a CUDA copy to pinned memory: the host tensor holds NaN until ``synchronize()``."""

    def __init__(self, values: torch.Tensor, host: torch.Tensor, log: list, number: int) -> None:
        self.values, self.host, self.log, self.number = values, host, log, number

    def synchronize(self) -> None:
        self.log.append(("synchronize", self.number))
        with torch.inference_mode():  # the host tensor was made in predict's inference mode
            self.host.copy_(self.values)


class StagingWriter(EmbeddingWriter):
    """The writer with its device-to-host copy replaced by :class:`LateCopy` (the CUDA branch's order, on CPU)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.order: list = []

    def copy_to_host(self, values):
        host = torch.full(values.shape, float("nan"), dtype=torch.float16)
        number = len([kind for kind, _ in self.order if kind == "copy"])
        self.order.append(("copy", number))
        return host, LateCopy(values.detach().to(torch.float16), host, self.order, number)


def predict_with(writer: EmbeddingWriter, model: FrozenVideoEncoder, index: Path) -> None:
    data = ClipDataModule(str(index), frames=8, img_size=16, batch_size=2, num_workers=0)
    trainer = lightning.Trainer(accelerator="cpu", logger=False, callbacks=[writer], enable_progress_bar=False)
    trainer.predict(model, datamodule=data, return_predictions=False)


def test_staged_copies_are_each_written_once_in_place_including_the_last(small_dataset, tmp_path, monkeypatch):
    model = FrozenVideoEncoder("r3d_18", weights="none", frames=8, img_size=16)
    predict_with(EmbeddingWriter(str(tmp_path / "direct")), model, small_dataset)
    staging = StagingWriter(str(tmp_path / "staged"), flush_interval_s=3600)  # synced once, at the end
    operations = FileOperations(tmp_path / "staged", FakeClock())
    operations.install(monkeypatch)
    predict_with(staging, model, small_dataset)
    monkeypatch.undo()

    for split in ("train", "val", "test"):
        name = f"emb_r3d_18_{split}.npy"
        staged, direct = np.load(tmp_path / "staged" / name), np.load(tmp_path / "direct" / name)
        np.testing.assert_array_equal(staged, direct)  # no NaN: nothing was written before its copy finished
        rows = [row for kind, file, offset, length, _ in operations.events if kind == "write" and file == name
                for row in written_rows(tmp_path / "staged", name, offset, length)]
        assert sorted(rows) == list(range(len(direct)))  # every row exactly once, the last batch's too
    copies = [key for kind, key in staging.order if kind == "copy"]
    synced = [key for kind, key in staging.order if kind == "synchronize"]
    assert sorted(synced) == copies == list(range(5 + 2 + 1))  # batches of 2: 10, 4 and 1 rows; each waited for once
    for later, earlier in zip(copies[1:], copies):  # each copy is waited for only after the next one started
        assert staging.order.index(("copy", later)) < staging.order.index(("synchronize", earlier))
