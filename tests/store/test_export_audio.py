"""XD-Violence's audio files and lists, read the way XDVioDet (Roc-Ng/XDVioDet, ``dataset.py``) reads them.

XDVioDet's ``Dataset`` with modality ``MIX2`` (its default) opens the RGB list (one line per crop
file) and ``audio.list`` (one line per video); item ``index`` loads RGB line ``index`` and audio
line ``index // 5``, and concatenates them along the features when their rows are equal (else it
drops the RGB file's last row); the label is 0 when the RGB path holds ``_label_A``. That rule is
written out in :func:`xdviodet_mix2_item` (their code is not copied) and run on every item of a small
XD-Violence tree with real names, exported from one five-crop ``[r3d_18, vggish]`` pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import clip_rows, write_index, write_sound_video
from lit_extract.commands.cli import main
from lit_extract.errors import LitExtractError
from lit_extract.store.export import export_features

CROPS, FRAMES, SNIPPET = 5, 48, 16
VIDEOS = {  # name (XD-Violence's: the label code after _label_), split
    "Bad.Boys.1995__#00-26-51_00-27-53_label_B2-0-0": "train",
    "Black.Hawk.Down.2001__#01-02-41_01-03-00_label_B2-0-0": "train",
    "Before.Sunrise.1995__#00-05-02_00-05-28_label_A": "train",
    "v=wVey5JDRf_I__#1_label_A": "train",
    "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6": "test",
    "A.Beautiful.Mind.2001__#00-01-45_00-02-50_label_A": "test",
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("xd")
    rows = []
    for name, split in VIDEOS.items():
        path = write_sound_video(root / f"{name}.mp4", FRAMES, 24, codec="aac")
        category = "Normal" if name.endswith("_label_A") else "Violence"
        rows += clip_rows(path, split, category, FRAMES, clip_len=SNIPPET, stride=SNIPPET)
    index = write_index(root / "index.csv", rows)
    out = root / "run"
    main(["predict", "--data.index_path", str(index), "--data.img_size", "16", "--data.frames", "4",
          "--data.crops", str(CROPS), "--data.resize_short", "16", "--data.batch_size", "4", "--data.num_workers", "0",
          "--model.encoder", "[r3d_18, vggish]", "--model.weights", "none", "--writer.output_dir", str(out),
          "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"])
    features = root / "features"
    export_features(out / "manifest_r3d_18.json", "per-crop", features)
    export_features(out / "manifest_vggish.json", "per-crop", features)
    return features


def xdviodet_mix2_item(rgb_list: list[str], audio_list: list[str], index: int, crops: int = CROPS):
    """XDVioDet's MIX2 item ``index``: (features (snippets, D_rgb + D_audio), label)."""
    rgb = np.array(np.load(rgb_list[index].strip("\n")), dtype=np.float32)
    audio = np.array(np.load(audio_list[index // crops].strip("\n")), dtype=np.float32)
    features = np.concatenate((rgb, audio) if rgb.shape[0] == audio.shape[0] else (rgb[:-1], audio), axis=1)
    return features, 0.0 if "_label_A" in rgb_list[index] else 1.0


@pytest.mark.parametrize(("rgb", "audio"), [("train.list", "audio.list"), ("test.list", "audio_test.list")])
def test_xdviodet_mix2_loads_every_item_with_rgb_and_audio_rows_aligned(exported, rgb, audio):
    rgb_list = list(open(exported / rgb))
    audio_list = list(open(exported / audio))
    assert len(rgb_list) == CROPS * len(audio_list)
    for index in range(len(rgb_list)):
        features, label = xdviodet_mix2_item(rgb_list, audio_list, index)
        rgb_file, audio_file = Path(rgb_list[index].strip()), Path(audio_list[index // CROPS].strip())
        video = rgb_file.name.rsplit("__", 1)[0]
        assert audio_file.name == f"{video}__vggish.npy"  # each crop file is paired with its own video's audio
        assert np.load(rgb_file).shape[0] == np.load(audio_file).shape[0] == FRAMES // SNIPPET  # no row dropped
        assert features.shape == (FRAMES // SNIPPET, 512 + 128)
        assert label == (0.0 if video.endswith("_label_A") else 1.0)


def test_audio_files_are_the_vggish_rows_of_each_video_as_float32(exported):
    run = exported.parent / "run"
    manifest = json.loads((run / "manifest_vggish.json").read_text())
    rows = np.load(run / manifest["splits"]["train"]["files"]["embeddings"])
    first = [name for name, split in VIDEOS.items() if split == "train"][0]  # the index's first video
    written = np.load(exported / f"{first}__vggish.npy")
    assert written.dtype == np.float32 and written.shape == (FRAMES // SNIPPET, 128)
    np.testing.assert_array_equal(written, rows[: FRAMES // SNIPPET].astype(np.float32))


def test_audio_export_keeps_the_rgb_lists(exported):
    assert (exported / "train.list").is_file() and (exported / "test.csv").is_file()
    assert all(line.strip().endswith(tuple(f"__{k}.npy" for k in range(CROPS))) for line in open(exported / "train.list"))


def test_audio_manifest_exports_only_per_crop(exported):
    with pytest.raises(LitExtractError, match="audio encoder; export it with --format per-crop"):
        export_features(exported.parent / "run" / "manifest_vggish.json", "rtfm", exported.parent / "other")


def test_names_xdviodet_puts_the_audio_lists_where_its_options_read_them(exported, tmp_path):
    run = exported.parent / "run"
    export_features(run / "manifest_vggish.json", "per-crop", tmp_path, names="xdviodet")
    export_features(run / "manifest_r3d_18.json", "per-crop", tmp_path, names="xdviodet")  # keeps the audio lists
    rgb_list = list(open(tmp_path / "list" / "rgb.list"))
    audio_list = list(open(tmp_path / "list" / "audio.list"))
    assert len(rgb_list) == CROPS * len(audio_list) and (tmp_path / "list" / "audio_test.list").is_file()
    for index in range(len(rgb_list)):
        features, _ = xdviodet_mix2_item(rgb_list, audio_list, index)
        assert features.shape == (FRAMES // SNIPPET, 512 + 128)
        assert Path(audio_list[index // CROPS].strip()).parent == tmp_path / "features"
