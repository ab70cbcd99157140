"""``timm:`` and ``hf:`` encoders through the whole pipeline: predict (one pass, both families),
ten-crop, DDP, resume, compare and export, each row against timm's / transformers' own forward of
the same frames (random weights saved here; float16 rounding)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.transforms import TenCrop as TorchTenCrop

from conftest import assert_same_outputs, clip_rows, read_outputs, write_index
from lit_extract.commands.cli import main
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.store.file_stem import file_stem
from lit_extract.indexing.index import load_index, split_rows
from lit_extract.decode.reference import NotebookClipDataset, uniform_sample_indices

timm = pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")

SPLITS = ("train", "val", "test")
T, IMG, SNIPPET = 4, 32, 16
NOTEBOOK_MEAN, NOTEBOOK_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # NotebookClipDataset's normalization
VIDEOMAE_MEAN, VIDEOMAE_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)  # written into the folder's preprocessor config
TIMM = "timm:resnet18"
PROBE_YAML = "seed_everything: 0\ntrainer:\n  max_epochs: 2\n  enable_progress_bar: false\n  enable_model_summary: false\n"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Twelve 80x60 videos of 48 frames (three back-to-back 16-frame snippets each): train 6, val 3,
    test 3, both classes in every split."""
    root = tmp_path_factory.mktemp("families")
    rows = []
    for i, split in enumerate(["train"] * 6 + ["val"] * 3 + ["test"] * 3):
        category = ("Normal", "Fighting")[i % 2]
        path = write_video(root / f"video{i}.mp4", (barcode_frame(k, 80, 60, category, i) for k in range(48)))
        rows += clip_rows(path, split, category, 48, SNIPPET, SNIPPET)
    return write_index(root / "index_clips.csv", rows)


def calibrated(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with random BatchNorm scales and shifts and running statistics measured on random
    images (a train-mode pass), in eval mode: with default statistics a random-init ResNet gives
    every input the same features."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.bias, -0.2, 0.2)
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration pass
    with torch.no_grad():
        model.train()(torch.randn(32, 3, IMG, IMG))
    return model.eval()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, object]:
    """timm's resnet18 (checkpoint with its classifier, random BatchNorm statistics) and a tiny
    VideoMAE save_pretrained folder with its preprocessor config; the encoder names and weights."""
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    resnet = calibrated(timm.create_model("resnet18"))
    torch.save(resnet.state_dict(), root / "resnet18.pth")
    config = transformers.VideoMAEConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                         image_size=IMG, patch_size=16, num_frames=T, tubelet_size=2, num_labels=3)
    videomae = transformers.VideoMAEForVideoClassification(config).eval()
    with torch.no_grad():
        videomae.fc_norm.weight.uniform_(0.5, 1.5)
        videomae.fc_norm.bias.uniform_(-0.5, 0.5)
    videomae.save_pretrained(root / "videomae")
    transformers.VideoMAEImageProcessor(image_mean=list(VIDEOMAE_MEAN), image_std=list(VIDEOMAE_STD)).save_pretrained(
        root / "videomae")
    hf = f"hf:{root / 'videomae'}"
    return {"names": [TIMM, hf], "weights": {TIMM: str(root / "resnet18.pth"), hf: "DEFAULT"},
            "resnet": resnet, "videomae": videomae, "hf": hf}


def library_forward(models, name: str, clips: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) clips in [0, 1] -> (B, D) by the library's own model, normalized as its config says."""
    with torch.no_grad():
        if name == TIMM:
            x = (clips - torch.tensor(NOTEBOOK_MEAN).view(1, 3, 1, 1, 1)) / torch.tensor(NOTEBOOK_STD).view(1, 3, 1, 1, 1)
            frames = x.transpose(1, 2).flatten(0, 1)  # B*T 3 H W
            resnet = models["resnet"]
            per_frame = resnet.forward_head(resnet.forward_features(frames), pre_logits=True)
            return per_frame.view(len(clips), clips.shape[2], -1).mean(dim=1)
        x = (clips - torch.tensor(VIDEOMAE_MEAN).view(1, 3, 1, 1, 1)) / torch.tensor(VIDEOMAE_STD).view(1, 3, 1, 1, 1)
        videomae = models["videomae"]
        tokens = videomae(x.transpose(1, 2), output_hidden_states=True).hidden_states[-1]
        return videomae.fc_norm(tokens.mean(dim=1))


def reference_rows(models, index: Path, split: str, name: str) -> np.ndarray:
    """The notebook's decoding (OpenCV, uniform sampling, resize) of every row of ``split``, then the library's forward."""
    dataset = NotebookClipDataset(split_rows(load_index(index), split), T=T, img_size=IMG)
    mean, std = torch.tensor(NOTEBOOK_MEAN).view(3, 1, 1, 1), torch.tensor(NOTEBOOK_STD).view(3, 1, 1, 1)
    clips = torch.stack([dataset[i][0] * std + mean for i in range(len(dataset))])  # back to [0, 1]
    return library_forward(models, name, clips).numpy()


def predict(index: Path, out: Path, names: list[str], weights: dict[str, str], *extra: str, module: bool = False):
    args = ["predict", "--data.index_path", str(index), "--data.frames", str(T), "--data.img_size", str(IMG),
            "--data.batch_size", "4", "--data.num_workers", "0",
            "--model.encoder", "[" + ", ".join(names) + "]", "--model.weights", "[" + ", ".join(weights[n] for n in names) + "]",
            "--writer.output_dir", str(out), "--writer.flush_interval_s", "0",
            "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false", *extra]
    if module:
        return subprocess.run([sys.executable, "-m", "lit_extract", *args[0:]], capture_output=True, text=True, timeout=400)
    main(args)


@pytest.fixture(scope="module")
def one_pass(dataset, models, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one_pass")
    predict(dataset, out, models["names"], models["weights"])
    return out


@pytest.mark.parametrize("family", ["timm", "hf"])
def test_rows_equal_the_libraries_own_forward_of_the_same_frames(dataset, models, one_pass, family):
    name = TIMM if family == "timm" else models["hf"]
    for split in SPLITS:
        written = np.load(one_pass / f"emb_{file_stem(name)}_{split}.npy")
        expected = reference_rows(models, dataset, split, name)
        assert written.dtype == np.float16 and written.shape == expected.shape
        np.testing.assert_allclose(written.astype(np.float32), expected, rtol=2e-3, atol=2e-3)
        assert np.abs(np.diff(expected, axis=0)).max() > 1e-2  # clips differ: a constant row would not pass


def test_files_carry_the_stem_and_records_the_full_name(models, one_pass):
    assert not [path.name for path in one_pass.iterdir() if ":" in path.name or " " in path.name]
    for name in models["names"]:
        stem = file_stem(name)
        manifest = json.loads((one_pass / f"manifest_{stem}.json").read_text())
        record = json.loads((one_pass / f"run_{stem}.json").read_text())
        assert manifest["encoder"] == record["encoder"] == name
        assert manifest["splits"]["train"]["files"]["embeddings"] == f"emb_{stem}_train.npy"
    assert json.loads((one_pass / f"manifest_{file_stem(models['hf'])}.json").read_text())["mean"] == list(VIDEOMAE_MEAN)


def test_one_pass_writes_what_a_run_of_the_timm_encoder_alone_writes(dataset, models, one_pass, tmp_path):
    predict(dataset, tmp_path, [TIMM], models["weights"])
    assert read_outputs(tmp_path, SPLITS, file_stem(TIMM)) == read_outputs(one_pass, SPLITS, file_stem(TIMM))


def ten_crop_reference(models, index: Path, name: str, short: int) -> np.ndarray:
    """OpenCV frames, shorter side resized to ``short`` (80x60 -> 48x36), torchvision's TenCrop of
    IMG, the library's forward: (rows, 10, D)."""
    out = []
    for row in split_rows(load_index(index), "test").itertuples():
        capture = cv2.VideoCapture(row.path)
        frames = []
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (80 * short // 60, short), interpolation=cv2.INTER_LINEAR)
            frames.append(torch.from_numpy(rgb).permute(2, 0, 1))
        capture.release()
        crops = [TorchTenCrop(IMG)(frames[k]) for k in uniform_sample_indices(row.start_frame, row.end_frame, T)]
        clips = torch.stack([torch.stack([c[i] for c in crops], dim=1) for i in range(10)]).float() / 255  # 10 3 T H W
        out.append(library_forward(models, name, clips).numpy())
    return np.stack(out)


def test_ten_crop_rows_equal_torchvision_tencrop_and_the_libraries_forward(dataset, models, tmp_path):
    predict(dataset, tmp_path, models["names"], models["weights"], "--data.splits", "[test]",
            "--data.crops", "10", "--data.resize_short", "36")
    for name in models["names"]:
        written = np.load(tmp_path / f"emb_{file_stem(name)}_test.npy")
        expected = ten_crop_reference(models, dataset, name, short=36)
        assert written.shape == expected.shape == (9, 10, expected.shape[-1])
        np.testing.assert_allclose(written.astype(np.float32), expected, rtol=2e-3, atol=2e-3)


def test_ddp_on_two_processes_writes_what_one_process_writes(dataset, models, one_pass, tmp_path):
    result = predict(dataset, tmp_path, models["names"], models["weights"], "--data.splits", "[test]",
                     "--trainer.devices", "2", "--trainer.strategy", "ddp", module=True)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in models["names"]:
        assert json.loads((tmp_path / f"manifest_{file_stem(name)}.json").read_text())["world_size"] == 2
        assert_same_outputs(tmp_path, one_pass, ["test"], file_stem(name))


def test_rows_not_done_are_computed_again_on_resume(dataset, models, one_pass, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(one_pass, out)
    stem = file_stem(models["hf"])
    (out / f"manifest_{stem}.json").unlink()
    embeddings = np.load(out / f"emb_{stem}_train.npy", mmap_mode="r+")
    done = np.load(out / f"done_{stem}_train.npy", mmap_mode="r+")
    embeddings[2:5], done[2:5] = 0, 0
    embeddings.flush(), done.flush()
    del embeddings, done
    predict(dataset, out, models["names"], models["weights"])
    assert json.loads((out / f"manifest_{stem}.json").read_text())["rows_computed"] == 3
    assert_same_outputs(out, one_pass, SPLITS, stem)


def test_compare_names_each_encoder_and_probes_into_its_stem(models, one_pass, tmp_path):
    (tmp_path / "probe.yaml").write_text(PROBE_YAML)
    main(["compare", str(one_pass), "--out", str(tmp_path / "compare"), "--probe_config", str(tmp_path / "probe.yaml")])
    table = pd.read_csv(tmp_path / "compare" / "compare.csv").set_index("encoder")
    assert sorted(table.index) == sorted(models["names"])
    assert table.loc[TIMM, "dim"] == 512 and table.loc[models["hf"], "dim"] == 32
    assert sorted(path.name for path in (tmp_path / "compare").iterdir() if path.is_dir()) == sorted(
        file_stem(name) for name in models["names"])


def test_export_writes_each_videos_rows_under_the_stem(dataset, models, one_pass, tmp_path):
    stem = file_stem(models["hf"])
    main(["export", "--manifest", str(one_pass / f"manifest_{stem}.json"), "--out", str(tmp_path)])
    rows = split_rows(load_index(dataset), "train")
    written = np.load(one_pass / f"emb_{stem}_train.npy")
    for video in sorted(set(rows["path"])):
        features = np.load(tmp_path / f"{Path(video).stem}_{stem}.npy")
        np.testing.assert_array_equal(features.reshape(len(features), -1),
                                      written[np.flatnonzero(rows["path"].to_numpy() == video)])
