"""Several encoders from one decode, sharing one output folder: each writes what it writes alone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torchvision.models import get_model_weights

from conftest import assert_same_outputs, read_outputs
from lit_extract.decode import video
from lit_extract.commands.cli import main
from lit_extract.errors import LitExtractError
from lit_extract.indexing.index import load_index, split_rows
from lit_extract.extract.module import weights_per_encoder

SPLITS = ("train", "val", "test")
ENCODERS = ("r3d_18", "mc3_18")


@pytest.fixture(scope="module")
def dataset(six_videos):
    """Six videos of 112 frames (6 clips each): train 4, val 1, test 1 (conftest's shared index)."""
    return six_videos


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Seeded state dicts of both encoders: the same weights whichever order the encoders are built in."""
    folder = tmp_path_factory.mktemp("weights")
    paths = {}
    for seed, name in enumerate(ENCODERS):
        torch.manual_seed(seed)
        paths[name] = folder / f"{name}.pth"
        torch.save(getattr(torchvision.models.video, name)().state_dict(), paths[name])
    return paths


def args(index: Path, out: Path, encoder: str, weights: str, *extra: str) -> list[str]:
    return ["predict", "--data.index_path", str(index), "--data.img_size", "32", "--data.batch_size", "2",
            "--data.num_workers", "0", "--model.encoder", encoder, "--model.weights", weights,
            "--writer.output_dir", str(out), "--writer.flush_interval_s", "0",
            "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false", *extra]


def both(weights: dict[str, Path]) -> tuple[str, str]:
    """``--model.encoder`` and ``--model.weights`` (a mapping by name) for both encoders."""
    return "[" + ", ".join(ENCODERS) + "]", "{" + ", ".join(f"{n}: {weights[n]}" for n in ENCODERS) + "}"


@pytest.fixture(scope="module")
def singles(dataset, weights, tmp_path_factory) -> dict[str, Path]:
    """One folder per encoder, each written by a run of that encoder alone."""
    outs = {}
    for name in ENCODERS:
        outs[name] = tmp_path_factory.mktemp(f"single_{name}")
        main(args(dataset, outs[name], name, str(weights[name])))
    return outs


@pytest.fixture(scope="module")
def multi(dataset, weights, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("multi_out")
    main(args(dataset, out, *both(weights)))
    return out


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def manifest(folder: Path, encoder: str) -> dict:
    return json.loads((folder / f"manifest_{encoder}.json").read_text())


@pytest.mark.parametrize("encoder", ENCODERS)
def test_one_pass_writes_each_encoder_bit_identical_to_its_single_run(multi, singles, encoder):
    assert read_outputs(multi, SPLITS, encoder) == read_outputs(singles[encoder], SPLITS, encoder)
    together, alone = manifest(multi, encoder), manifest(singles[encoder], encoder)
    for key in ("encoder", "weights", "frames", "img_size", "mean", "std", "embedding_dim", "index", "splits"):
        assert together[key] == alone[key], key


def test_each_encoder_records_its_own_weights_and_normalization(multi, weights):
    for name in ENCODERS:
        entry = manifest(multi, name)
        run = json.loads((multi / f"run_{name}.json").read_text())
        assert entry["weights"] == run["weights"] == str(weights[name])
        declared = get_model_weights(name).DEFAULT.transforms()  # torchvision's own declaration
        np.testing.assert_allclose(entry["mean"], declared.mean, rtol=1e-6)
        np.testing.assert_allclose(run["std"], declared.std, rtol=1e-6)


def test_weights_take_one_value_a_list_in_order_or_a_mapping():
    assert weights_per_encoder(["a", "b"], "none") == {"a": "none", "b": "none"}
    assert weights_per_encoder(["a", "b"], ["x.pth", "none"]) == {"a": "x.pth", "b": "none"}
    assert weights_per_encoder(["a", "b"], {"b": "none", "a": "x.pth"}) == {"a": "x.pth", "b": "none"}
    with pytest.raises(LitExtractError, match="1 value"):
        weights_per_encoder(["a", "b"], ["none"])
    with pytest.raises(LitExtractError, match="exactly these encoders"):
        weights_per_encoder(["a", "b"], {"a": "none", "c": "none"})


def test_an_encoder_that_cannot_take_the_clips_is_named_before_anything_is_written(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(args(dataset, out, "[r3d_18, s3d]", "none"))
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1
    assert message.startswith("error: encoder s3d needs at least 13 frames")
    assert not out.exists()


def test_each_video_is_decoded_once_per_pass_whatever_the_number_of_encoders(dataset, tmp_path, monkeypatch):
    calls: list[str] = []
    reader = video.FRAME_READERS["opencv"]

    def counting_reader(path, *rest):
        calls.append(path)
        return reader(path, *rest)

    monkeypatch.setitem(video.FRAME_READERS, "opencv", counting_reader)
    videos = sorted(set(split_rows(load_index(dataset), "train")["path"]))
    for i, encoders in enumerate(["r3d_18", "[r3d_18, mc3_18, r2plus1d_18]"]):
        calls.clear()
        main(args(dataset, tmp_path / f"out{i}", encoders, "none", "--data.img_size", "16", "--data.splits", "[train]"))
        assert sorted(calls) == videos


def test_ddp_on_two_processes_writes_the_files_of_one_process(dataset, weights, multi, tmp_path):
    out = tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "lit_extract", *args(dataset, out, *both(weights)),
         "--trainer.devices", "2", "--trainer.strategy", "ddp"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ENCODERS:
        assert manifest(out, name)["world_size"] == 2
        assert_same_outputs(out, multi, SPLITS, name)


def test_killed_pass_resumes_and_computes_every_encoders_rows_once(dataset, weights, singles, tmp_path):
    out = tmp_path / "killed"
    # batch_size 1: a row's bytes do not depend on which rows share its batch
    command = [sys.executable, "-m", "lit_extract", *args(dataset, out, *both(weights), "--data.batch_size", "1")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done_file = out / "done_mc3_18_train.npy"
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if done_file.is_file() and np.load(done_file).any():
            break
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_at_kill = {name: sum(int(np.load(out / f"done_{name}_{s}.npy").sum()) for s in SPLITS) for name in ENCODERS}
    total = sum(len(np.load(out / f"y_{s}.npy")) for s in SPLITS)
    assert all(0 < done < total for done in done_at_kill.values()), done_at_kill
    assert not list(out.glob("manifest_*.json"))

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for name in ENCODERS:
        assert manifest(out, name)["rows_computed"] == total - done_at_kill[name]
        assert_same_outputs(out, singles[name], SPLITS, name)


def test_second_encoder_added_to_a_finished_folder_leaves_the_first_files_byte_identical(
    dataset, weights, singles, tmp_path
):
    out = tmp_path / "added"
    shutil.copytree(singles["r3d_18"], out)
    before = folder_bytes(out)
    main(args(dataset, out, "mc3_18", str(weights["mc3_18"])))
    after = folder_bytes(out)
    assert {name: after[name] for name in before} == before
    assert read_outputs(out, SPLITS, "mc3_18") == read_outputs(singles["mc3_18"], SPLITS, "mc3_18")
    assert manifest(out, "mc3_18")["splits"]["train"]["files"]["labels"] == "y_train.npy"  # shared: same clips


def test_pass_with_a_finished_encoder_writes_only_the_other(dataset, weights, singles, tmp_path, capsys):
    out = tmp_path / "half_done"
    shutil.copytree(singles["r3d_18"], out)
    before = {name: data for name, data in folder_bytes(out).items() if name.endswith(".npy")}
    main(args(dataset, out, *both(weights)))
    finished = [line for line in capsys.readouterr().out.splitlines() if line.startswith("nothing to do: ")]
    assert len(finished) == 1 and finished[0].endswith("manifest_r3d_18.json")
    assert {name: (out / name).read_bytes() for name in before} == before
    assert manifest(out, "r3d_18")["rows_computed"] == 0
    assert read_outputs(out, SPLITS, "mc3_18") == read_outputs(singles["mc3_18"], SPLITS, "mc3_18")


def test_encoder_with_other_clips_gets_its_own_labels_and_statuses(dataset, singles, tmp_path):
    out = tmp_path / "other_clips"
    shutil.copytree(singles["r3d_18"], out)
    before = folder_bytes(out)
    main(args(dataset, out, "mc3_18", "none", "--data.frames", "4"))
    assert {name: (out / name).read_bytes() for name in before} == before
    files = manifest(out, "mc3_18")["splits"]["val"]["files"]
    assert (files["labels"], files["status"]) == ("y_mc3_18_val.npy", "status_mc3_18_val.npy")
    expected = split_rows(load_index(dataset), "val")["y"].to_numpy(np.int8)
    np.testing.assert_array_equal(np.load(out / "y_mc3_18_val.npy"), expected)


def test_overwrite_starts_one_encoder_over_and_leaves_the_others(dataset, multi, tmp_path):
    out = tmp_path / "overwrite"
    shutil.copytree(multi, out)
    kept = {n: d for n, d in folder_bytes(out).items() if "r3d_18" not in n}
    main(args(dataset, out, "r3d_18", "none", "--data.frames", "4", "--data.splits", "[test]",
              "--writer.overwrite", "true"))
    assert {name: (out / name).read_bytes() for name in kept} == kept  # mc3_18 and the shared y/status
    redone = manifest(out, "r3d_18")
    assert redone["frames"] == 4 and list(redone["splits"]) == ["test"]
    assert redone["splits"]["test"]["files"]["labels"] == "y_r3d_18_test.npy"  # other clips than mc3_18's
    assert not (out / "emb_r3d_18_train.npy").exists()


def make_old_layout(folder: Path, encoder: str) -> None:
    """Turn a finished folder into one as the release before shared folders wrote it: ``run.json``
    with the keys it held, ``done_{split}.npy``."""
    run = json.loads((folder / f"run_{encoder}.json").read_text())
    old_keys = ("encoder", "weights", "frames", "img_size", "mean", "std", "embedding_dim", "index")
    (folder / "run.json").write_text(json.dumps({key: run[key] for key in old_keys}))
    (folder / f"run_{encoder}.json").unlink()
    for split in SPLITS:
        (folder / f"done_{encoder}_{split}.npy").rename(folder / f"done_{split}.npy")


def test_folder_of_the_old_layout_resumes_with_the_same_command(dataset, weights, singles, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(singles["r3d_18"], out)
    make_old_layout(out, "r3d_18")
    (out / "manifest_r3d_18.json").unlink()
    done = np.load(out / "done_train.npy")
    done[5:] = 0  # killed after 5 train rows
    np.save(out / "done_train.npy", done)
    main(args(dataset, out, "r3d_18", str(weights["r3d_18"])))
    resumed = manifest(out, "r3d_18")
    assert resumed["rows_computed"] == len(done) - 5
    assert resumed["splits"]["train"]["files"]["done"] == "done_train.npy"
    assert not list(out.glob("run_*.json")) and not list(out.glob("done_r3d_18_*"))
    for split in SPLITS:
        assert np.load(out / f"done_{split}.npy").all()
        np.testing.assert_allclose(np.load(out / f"emb_r3d_18_{split}.npy").astype(np.float32),
                                   np.load(singles["r3d_18"] / f"emb_r3d_18_{split}.npy").astype(np.float32),
                                   rtol=2e-3, atol=2e-3)


def test_folder_of_the_old_layout_takes_a_second_encoder(dataset, weights, singles, tmp_path):
    out = tmp_path / "old_plus"
    shutil.copytree(singles["r3d_18"], out)
    make_old_layout(out, "r3d_18")
    before = folder_bytes(out)
    main(args(dataset, out, "mc3_18", str(weights["mc3_18"])))
    assert {name: (out / name).read_bytes() for name in before} == before
    # the old run.json names no decoder: sharing y/status is not provable, so mc3_18 gets its own
    assert manifest(out, "mc3_18")["splits"]["test"]["files"]["labels"] == "y_mc3_18_test.npy"
    for split in SPLITS:
        assert (out / f"emb_mc3_18_{split}.npy").read_bytes() == (singles["mc3_18"] / f"emb_mc3_18_{split}.npy").read_bytes()
        assert (out / f"y_mc3_18_{split}.npy").read_bytes() == (singles["mc3_18"] / f"y_{split}.npy").read_bytes()
