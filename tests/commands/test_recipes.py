"""The recipes in configs/ that reproduce published VAD feature sets, run end to end (index, predict, export).

Each recipe runs twice on tiny videos with random weights (``--model.weights none``):

- with ``r3d_18`` in place of its encoder and small frames (``--data.img_size 32`` and a resize to
  match): the recipe's pipeline (snippets, crop count and order, resize, scaling, export) runs
  on every checkout;
- with its own encoder (``i3d_r50``, ``i3d_inception``, ``timm:vit_base_patch16_clip_quickgelu_224.openai``)
  and the recipe's own geometry, one snippet per video (those encoders at 224 px are slow on a CPU).

Also here: the snippets ``index --clip-len 16 --stride 16`` makes are those of the I3D extractor
the RTFM-family features come from, checked against that extractor's formula.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml

from lit_extract.commands.cli import main
from recipe_config import printed_config
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.store.file_stem import file_stem
from lit_extract.indexing.scan import clip_ranges

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RECIPES = ["rtfm_i3d.yaml", "xd_i3d.yaml", "clip_vitb16.yaml"]
WIDTH, HEIGHT = 64, 48


def extractor_chunk_starts(n_frames: int, chunk: int = 16, frequency: int = 16) -> list[int]:
    """First frames of the I3D extractor's chunks (GowthamGottimukkala/I3D_Feature_Extraction_resnet,
    ``extract_features.run``): the last chunk starts at ``(n - chunk) // frequency * frequency``; it
    refuses videos of ``chunk`` frames or fewer."""
    last = (n_frames - chunk) // frequency * frequency
    return list(range(0, last + 1, frequency))


def test_16_16_snippets_are_the_i3d_extractors_chunks():
    for n in range(17, 600):
        assert [start for start, _ in clip_ranges(n, 16, 16)] == extractor_chunk_starts(n), n
        assert all(end - start == 16 for start, end in clip_ranges(n, 16, 16))


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_keys_are_flags_of_predict(recipe, capsys):
    printed_config(CONFIGS / recipe, capsys)


def write_videos(root: Path, lengths: dict[str, int]) -> Path:
    """<root>/<split>/<category>/<split>.mp4: one video per split, of ``lengths[split]`` frames."""
    for split, n in lengths.items():
        category = "Normal" if split == "train" else "Fighting"
        write_video(root / split / category / f"{split}.mp4",
                    (barcode_frame(k, WIDTH, HEIGHT, category, n) for k in range(n)))
    return root


# train: two snippets (frames 32-39 are in none, as with the extractor); test: one
LENGTHS = {"train": 40, "test": 16}
SNIPPETS = {"train": 2, "test": 1}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    return write_videos(tmp_path_factory.mktemp("recipe_videos"), LENGTHS)


def run_recipe(recipe: str, videos: Path, out: Path, *overrides: str) -> tuple[dict, dict[str, np.ndarray]]:
    """index (16/16) -> predict with the recipe -> export rtfm; returns the manifest and the exported files by stem."""
    index = out / "index_16.csv"
    main(["index", "--root", str(videos), "--out", str(index), "--layout", "tree", "--clip-len", "16",
          "--stride", "16", "--val-fraction", "0", "--workers", "1", "--no-progress"])
    main(["predict", "--config", str(CONFIGS / recipe), "--data.index_path", str(index),
          "--writer.output_dir", str(out / "run"), "--model.weights", "none", "--data.num_workers", "0",
          "--data.splits", "[train, test]",  # no val videos here
          "--data.batch_size", "2", "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
          *overrides])
    (manifest,) = (out / "run").glob("manifest_*.json")
    main(["export", "--manifest", str(manifest), "--format", "rtfm", "--out", str(out / "features")])
    features = {path.stem: np.load(path) for path in (out / "features").glob("*.npy")}
    return json.loads(manifest.read_text()), features


def check_recipe_outputs(recipe: str, manifest: dict, features: dict[str, np.ndarray],
                         snippets: dict[str, int] = SNIPPETS, **overridden) -> None:
    config = yaml.safe_load((CONFIGS / recipe).read_text())
    data = {"resize": None, "resize_short": None, **config["data"], **overridden}
    crops = data["crops"]
    for key in ("crops", "crop_order", "frames", "resize"):
        assert manifest[key] == data[key], key
    if data["resize"] is None:
        assert manifest["resize_short"] == (data["resize_short"] or 256)  # the default shorter side
    assert manifest["mean"] == config["model"].get("mean", manifest["mean"])
    encoder = manifest["encoder"]
    assert {stem: array.shape for stem, array in features.items()} == {
        f"{split}_{file_stem(encoder)}": (n, crops, manifest["embedding_dim"]) for split, n in snippets.items()
    }
    for array in features.values():
        assert array.dtype == np.float32 and np.isfinite(array).all()
        assert all(np.abs(array[:, 0] - array[:, c]).max() > 0 for c in range(1, crops))  # the crops differ


# Small frames for r3d_18: the recipe's crop count and order, its resize scaled down to 32-px crops.
SMALL = {"rtfm_i3d.yaml": {"resize": "48x40"}, "xd_i3d.yaml": {"resize": "48x40"}, "clip_vitb16.yaml": {"resize_short": 40}}


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_pipeline_runs_end_to_end_with_r3d_18(recipe, videos, tmp_path):
    small = [word for key, value in SMALL[recipe].items() for word in (f"--data.{key}", str(value))]
    manifest, features = run_recipe(recipe, videos, tmp_path, "--model.encoder", "r3d_18", "--data.img_size", "32", *small)
    check_recipe_outputs(recipe, manifest, features, **SMALL[recipe])


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_runs_end_to_end_with_its_own_encoder(recipe, tmp_path):
    one_each = {"train": 16, "test": 16}  # one snippet per video: the recipe's encoder at 224 px is slow on a CPU
    manifest, features = run_recipe(recipe, write_videos(tmp_path / "videos", one_each), tmp_path)
    check_recipe_outputs(recipe, manifest, features, {"train": 1, "test": 1})


def export_command(text: str) -> dict[str, str]:
    """``--manifest``, ``--format`` and ``--out`` of the first ``lit_extract export`` command in ``text``."""
    line = next(line for line in text.replace("\\\n", " ").splitlines() if "lit_extract export" in line)
    tokens = shlex.split(line.lstrip("# "))
    flags = tokens[tokens.index("export") + 1:]
    pairs = dict(zip(flags[0::2], flags[1::2]))
    return {flag: pairs[flag] for flag in ("--manifest", "--format", "--out")}


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_header_and_docs_give_one_export_command(recipe):
    docs = (CONFIGS.parent / "docs" / "vad.md").read_text(encoding="utf-8")
    block = next(block for block in re.findall(r"```bash\n(.*?)```", docs, flags=re.S)
                 if f"predict --config configs/{recipe}" in block and "lit_extract export" in block)
    assert export_command((CONFIGS / recipe).read_text(encoding="utf-8")) == export_command(block)
