"""``hf:<AST folder>`` in the extraction pass: each index row's window, by the anchor rule, through
transformers' own feature extractor and model.

The sound of the test videos encodes time (``conftest.ramp_sound``); one video's sound starts 0.5 s
after its first frame. A row's expected window is built here from the rule written out (the 16,240
samples of 100 log-mel frames of 10 ms ending where the row's last frame ends, frame ``k`` of a
25 fps video ending at ``(k + 1) / 25`` s, or centred on the row's middle), and its expected
embedding is ``ASTFeatureExtractor`` + ``ASTModel``'s ``pooler_output`` run here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import clip_rows, ramp_sound, write_index, write_sound_video
from lit_extract.commands.cli import main

from tiny_ast import HIDDEN, RATE, WINDOW, extractor, save_tiny_ast, transformers

FPS, FRAMES, ROW = 25, 100, 16
AUDIO_STARTS = {"a.mkv": 0.0, "late.mkv": 0.5}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Two 100-frame videos in rows of 16 frames: a.mkv, late.mkv (sound from 0.5 s)."""
    root = tmp_path_factory.mktemp("sound")
    rows = []
    for name, start in AUDIO_STARTS.items():
        rows += clip_rows(write_sound_video(root / name, FRAMES, FPS, audio_start=start), "train", "Normal", FRAMES,
                          clip_len=ROW, stride=ROW)
    return write_index(root / "index.csv", rows)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = save_tiny_ast(tmp_path_factory.mktemp("ast"), seed=5)
    return path


def run(index: Path, out: Path, folder: Path, anchor: str) -> Path:
    main(["predict", "--data.index_path", str(index), "--data.batch_size", "4", "--data.num_workers", "0",
          "--data.crops", "5", "--data.audio_anchor", anchor, "--model.encoder", f"hf:{folder}",
          "--writer.output_dir", str(out), "--writer.flush_interval_s", "0", "--trainer.accelerator", "cpu",
          "--trainer.enable_progress_bar", "false"])
    return out


def window_end(start_frame: int, end_frame: int, anchor: str) -> float:
    """Seconds where the row's window ends: its last frame's end, or half a window past its middle."""
    t0, t1 = start_frame / FPS, end_frame / FPS
    return t1 if anchor == "end" else (t0 + t1) / 2 + WINDOW / (2 * RATE)


def expected_rows(index: Path, folder: Path, anchor: str) -> np.ndarray:
    """(rows, 32): transformers' feature extractor + AST on each row's window, built sample by sample."""
    import pandas as pd

    windows = []
    for row in pd.read_csv(index).itertuples():
        start = AUDIO_STARTS[Path(row.path).name]
        sound = ramp_sound(FRAMES * RATE // FPS) / 32768
        stop = round((window_end(row.start_frame, row.end_frame, anchor) - start) * RATE)
        windows.append(np.array([sound[i] if 0 <= i < len(sound) else 0.0 for i in range(stop - WINDOW, stop)],
                                np.float32))
    model = transformers.ASTModel.from_pretrained(folder).eval()
    features = extractor()(windows, sampling_rate=RATE, return_tensors="pt")
    with torch.no_grad():
        return model(**features).pooler_output.numpy()


@pytest.mark.parametrize("anchor", ["end", "centre"])
def test_each_row_is_the_models_pooled_output_on_its_anchored_window(dataset, folder, tmp_path, anchor):
    out = run(dataset, tmp_path / anchor, folder, anchor)
    [written] = out.glob("emb_hf-*_train.npy")
    ours = np.load(written).astype(np.float32)
    expected = expected_rows(dataset, folder, anchor)
    assert ours.shape == expected.shape == (2 * FRAMES // ROW, HIDDEN)  # (rows, hidden) in a five-crop pass
    assert np.abs(ours - expected).max() < 2e-3 * np.linalg.norm(expected, axis=1).max()  # float16 files


def test_the_run_record_names_the_window_and_the_anchor(dataset, folder, tmp_path):
    out = run(dataset, tmp_path / "out", folder, "end")
    [record] = out.glob("run_hf-*.json")
    run_record = json.loads(record.read_text())
    assert run_record["kind"] == "audio" and run_record["anchor"] == "end" and run_record["postprocess"] is None
    assert (run_record["sample_rate"], run_record["window_samples"], run_record["window_hop"]) == (RATE, WINDOW, 16_000)
    assert run_record["embedding_dim"] == HIDDEN
