"""Audio encoders in the extraction pass (five crops for the video encoder): one worker visit per video, rows aligned.

The sound of the test videos encodes time (``conftest.ramp_sound``), one video's sound starts
0.5 s after its first frame and one video has no sound track. An audio row's expected embedding
is computed here from the rule written out (the 15,600 samples ending where the row's last frame
ends: frame ``k`` of a 25 fps video ends at ``(k + 1) / 25`` s) and the encoder module itself
(whose agreement with torchvggish is ``tests/encoders/test_vggish.py``'s business).
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torchvision

from conftest import clip_rows, ramp_sound, write_index, write_sound_video
from lit_extract.commands.cli import main
from lit_extract.encoders import build_audio_encoder
from lit_extract.encoders.vggish import VGGishNetwork
from lit_extract.extract import data as data_module

FPS, FRAMES, ROW, RATE, WINDOW = 25, 100, 16, 16_000, 15_600
SPLITS = ("train", "test")
AUDIO_STARTS = {"a.mkv": 0.0, "late.mkv": 0.5}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Three 100-frame videos in rows of 16 frames: train a.mkv and late.mkv (sound from 0.5 s),
    test mute.mkv (no sound track)."""
    root = tmp_path_factory.mktemp("audio")
    rows = []
    for name, split, category in (("a.mkv", "train", "Normal"), ("late.mkv", "train", "Fighting"),
                                  ("mute.mkv", "test", "Fighting")):
        sound = np.zeros(0, np.int16) if name == "mute.mkv" else None
        path = write_sound_video(root / name, FRAMES, FPS, sound=sound, audio_start=AUDIO_STARTS.get(name, 0.0))
        rows += clip_rows(path, split, category, FRAMES, clip_len=ROW, stride=ROW)
    return write_index(root / "index.csv", rows)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    paths = {"r3d_18": folder / "r3d.pth", "vggish": folder / "vggish.pth"}
    torch.save(torchvision.models.video.r3d_18().state_dict(), paths["r3d_18"])
    torch.save(he_normal(VGGishNetwork().state_dict()), paths["vggish"])
    return paths


def he_normal(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Seeded He-normal weights and zero biases under ``state``'s names (embeddings of a useful size:
    PyTorch's default init leaves VGGish's outputs near 0)."""
    generator = torch.Generator().manual_seed(7)
    return {name: torch.randn(value.shape, generator=generator) * (2.0 / value[0].numel()) ** 0.5
            if value.dim() > 1 else torch.zeros_like(value) for name, value in state.items()}


def args(index: Path, out: Path, encoders: list[str], weights: dict[str, Path], *extra: str) -> list[str]:
    mapping = "{" + ", ".join(f"{name}: {weights[name]}" for name in encoders) + "}"
    return ["predict", "--data.index_path", str(index), "--data.img_size", "16", "--data.frames", "4",
            "--data.decoder", "pyav",
            "--data.batch_size", "3", "--data.num_workers", "0", "--data.crops", "5", "--data.resize_short", "16",
            "--model.encoder", "[" + ", ".join(encoders) + "]",
            "--model.weights", mapping, "--writer.output_dir", str(out), "--writer.flush_interval_s", "0",
            "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false", *extra]


OPENED: dict[str, int] = {}  # video file -> times PyAV opened it during the `together` run


@pytest.fixture(scope="module")
def together(dataset, weights, tmp_path_factory) -> Path:
    """``[r3d_18, vggish]`` in one pass (PyAV frames), every ``av.open`` counted in :data:`OPENED`."""
    out = tmp_path_factory.mktemp("together")
    opened = av.open

    def counted(file, *rest, **options):
        OPENED[str(file)] = OPENED.get(str(file), 0) + 1
        return opened(file, *rest, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(av, "open", counted)
        main(args(dataset, out, ["r3d_18", "vggish"], weights))
    return out


def test_a_pass_with_frames_and_sound_opens_each_video_once(together, dataset):
    assert OPENED == {str(dataset.parent / name): 1 for name in ("a.mkv", "late.mkv", "mute.mkv")}


def load(out: Path, name: str) -> np.ndarray:
    return np.load(out / name)


def expected_audio_rows(index: Path, weights: Path) -> dict[str, np.ndarray]:
    """Per split, (rows, 128) float32: the encoder on the rule's window of each row (written out here)."""
    import pandas as pd

    encoder = build_audio_encoder("vggish", weights=str(weights)).module
    table = pd.read_csv(index)
    expected = {}
    for split in SPLITS:
        windows = []
        for row in table[table["split"] == split].itertuples():
            name = Path(row.path).name
            window = np.zeros(WINDOW, np.float32)
            if name in AUDIO_STARTS:
                sound = ramp_sound(FRAMES * RATE // FPS) / 32768
                stop = round((row.end_frame / FPS - AUDIO_STARTS[name]) * RATE)  # last frame ends at end_frame / 25 s
                for j, i in enumerate(range(stop - WINDOW, stop)):
                    if 0 <= i < len(sound):
                        window[j] = sound[i]
            windows.append(window)
        with torch.no_grad():
            expected[split] = encoder(torch.from_numpy(np.stack(windows))).numpy()
    return expected


def test_audio_rows_are_the_encoder_on_each_rows_window(together, dataset, weights):
    expected = expected_audio_rows(dataset, weights["vggish"])
    for split in SPLITS:
        ours = load(together, f"emb_vggish_{split}.npy").astype(np.float32)
        assert ours.shape == expected[split].shape == (len(expected[split]), 128)
        scale = np.linalg.norm(expected[split], axis=1).max()
        assert np.abs(ours - expected[split]).max() < 2e-3 * scale  # float16 files


@pytest.fixture(scope="module")
def alone(dataset, weights, tmp_path_factory) -> dict[str, Path]:
    """One folder per encoder, each written by a run of that encoder alone; the vggish run with
    frame decoding made to fail (a run of audio encoders only must not decode any frame)."""
    outs = {name: tmp_path_factory.mktemp(name) for name in ("r3d_18", "vggish")}
    main(args(dataset, outs["r3d_18"], ["r3d_18"], weights))

    def no_frames(*args, **kwargs):
        raise AssertionError("frames decoded")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data_module, "decode_clip_frames", no_frames)
        main(args(dataset, outs["vggish"], ["vggish"], weights))
    return outs


@pytest.mark.parametrize("encoder", ["r3d_18", "vggish"])
def test_one_pass_writes_what_a_run_of_each_encoder_alone_writes(together, alone, encoder):
    for split in SPLITS:
        for name in (f"emb_{encoder}_{split}.npy", f"done_{encoder}_{split}.npy"):
            assert (alone[encoder] / name).read_bytes() == (together / name).read_bytes(), name


def test_a_run_of_audio_encoders_only_decodes_no_frame(alone):
    assert json.loads((alone["vggish"] / "manifest_vggish.json").read_text())["complete"]  # made without frames


def test_video_rows_and_audio_rows_are_the_same_index_rows(together):
    for split in SPLITS:
        assert load(together, f"emb_vggish_{split}.npy").shape[0] == load(together, f"emb_r3d_18_{split}.npy").shape[0]
        np.testing.assert_array_equal(load(together, f"y_vggish_{split}.npy"), load(together, f"y_{split}.npy"))


def test_audio_statuses_are_its_own_files_and_counted_in_its_manifest(together, dataset, caplog):
    manifest = json.loads((together / "manifest_vggish.json").read_text())
    test = manifest["splits"]["test"]
    assert test["files"]["status"] == "status_vggish_test.npy"
    assert test["status_counts"] == {"ok": 0, "partly_silent": 0, "silent": 6}
    assert manifest["splits"]["train"]["status_counts"] == {"ok": 12, "partly_silent": 0, "silent": 0}
    assert list(test["affected_videos"]) == [str(dataset.parent / "mute.mkv")]
    assert (load(together, "status_test.npy") == 0).all()  # the frames of mute.mkv are fine
    assert manifest["kind"] == "audio" and manifest["postprocess"] is None and manifest["anchor"] == "end"


def test_a_video_without_sound_is_named_in_one_line(dataset, weights, tmp_path, capsys):
    main(args(dataset, tmp_path / "out", ["vggish"], weights, "--data.splits", "[test]"))
    lines = [line for line in capsys.readouterr().err.splitlines() if "mute.mkv" in line]
    assert len(lines) == 1 and "without a readable sound track" in lines[0] and "Traceback" not in lines[0]


def test_a_five_crop_pass_writes_audio_rows_without_crops(together):
    rows = load(together, "emb_vggish_train.npy").shape[0]
    assert load(together, "emb_r3d_18_train.npy").shape == (rows, 5, 512)
    assert load(together, "emb_vggish_train.npy").shape == (rows, 128)


def test_span_anchor_averages_the_embeddings_of_the_windows_over_the_row(dataset, weights, tmp_path):
    """Rows of 50 frames (2 s): three windows each, 0.96 s apart, the last ending where the row ends."""
    rows = clip_rows(dataset.parent / "a.mkv", "train", "Normal", FRAMES, clip_len=50, stride=50)
    index = write_index(tmp_path / "index.csv", rows)
    out = tmp_path / "span"
    main(args(index, out, ["vggish"], weights, "--data.audio_anchor", "span", "--data.splits", "[train]"))
    assert json.loads((out / "run_vggish.json").read_text())["anchor"] == "span"
    encoder = build_audio_encoder("vggish", weights=str(weights["vggish"])).module
    sound = ramp_sound(FRAMES * RATE // FPS) / 32768
    for row, written in zip(rows, load(out, "emb_vggish_train.npy").astype(np.float32)):
        windows = []
        for j in range(3):
            stop = round(row["end_frame"] / FPS * RATE) - (2 - j) * 15_360
            windows.append(np.array([sound[i] if 0 <= i < len(sound) else 0.0 for i in range(stop - WINDOW, stop)]))
        with torch.no_grad():
            expected = encoder(torch.tensor(np.stack(windows), dtype=torch.float32)).mean(dim=0).numpy()
        assert np.abs(written - expected).max() < 2e-3 * np.linalg.norm(expected)


def test_inspect_names_the_audio_statuses(together):
    from lit_extract.store.manifest import format_report, inspect_manifest

    report = inspect_manifest(together / "manifest_vggish.json")
    assert {split.split: split.status_counts for split in report.splits}["test"] == {"ok": 0, "partly_silent": 0, "silent": 6}
    assert report.ok and "anchor end" in format_report(report).splitlines()[1]
