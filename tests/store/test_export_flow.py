"""XD-Violence's flow files and lists, and two-stream files, from passes with a flow encoder.

XDVioDet (Roc-Ng/XDVioDet, ``dataset.py``) with modality ``MIX`` opens the RGB list and
``flow.list`` (one line per crop file each): item ``index`` loads line ``index`` of both and
concatenates them along the features when their rows are equal, else drops the RGB file's last row
("the frames of flow is one less than that of rgb"); ``MIX_ALL`` adds ``audio.list`` line
``index // 5`` and drops its last row too in that case. Those rules are written out below (their
code is not copied) and run on every item of a small XD-Violence tree with real names, exported
from one five-crop ``[r3d_18, tiny_flow, vggish]`` pass (``tiny_flow``: ``tests/tiny_flow.py``).
Videos of 32 frames end on their last 16-frame snippet (no next frame: one flow row fewer); videos
of 40 frames do not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import optical_flow

from conftest import clip_rows, write_index, write_sound_video
from tiny_flow import NAME, SPEC, tiny_flow  # noqa: F401  (fixture)
from lit_extract.commands.cli import main
from lit_extract.encoders import i3d_inception_flow
from lit_extract.errors import LitExtractError
from lit_extract.store.export import export_features
from lit_extract.store.flow_export import export_flow, export_flow_crops, export_two_stream

CROPS, SNIPPET = 5, 16
VIDEOS = {  # name (XD-Violence's), split, frames
    "Bad.Boys.1995__#00-26-51_00-27-53_label_B2-0-0": ("train", 32),
    "Before.Sunrise.1995__#00-05-02_00-05-28_label_A": ("train", 40),
    "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6": ("test", 40),
    "A.Beautiful.Mind.2001__#00-01-45_00-02-50_label_A": ("test", 32),
}
COMMON = ["--data.img_size", "16", "--data.frames", "2", "--data.num_workers", "0", "--data.batch_size", "4",
          "--model.weights", "none", "--model.flow", "raft_small", "--model.flow_updates", "1",
          "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"]


def raft_weights(folder: Path) -> str:
    torch.manual_seed(5)
    path = folder / "raft_small.pth"
    torch.save(optical_flow.raft_small(weights=None).state_dict(), path)
    return str(path)


@pytest.fixture(scope="module")
def xd(tmp_path_factory) -> Path:
    """The run folder of one five-crop [r3d_18, tiny_flow, vggish] pass over VIDEOS, exported into
    features/RGB, features/Flow and features/Audio (XD-Violence's published folders)."""
    root = tmp_path_factory.mktemp("xd")
    rows = []
    for name, (split, frames) in VIDEOS.items():
        path = write_sound_video(root / f"{name}.mp4", frames, 24, codec="aac")
        rows += clip_rows(path, split, "Normal" if name.endswith("_label_A") else "Violence", frames, SNIPPET, SNIPPET)
    index = write_index(root / "index.csv", rows)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(i3d_inception_flow.ENCODERS, NAME, SPEC)  # the tiny_flow fixture, for a module
        main(["predict", "--data.index_path", str(index), "--data.crops", str(CROPS), "--data.resize_short", "16",
              "--model.encoder", "[r3d_18, tiny_flow, vggish]", "--model.flow_weights", raft_weights(root),
              "--writer.output_dir", str(root / "run"), *COMMON])
    features = root / "features"
    export_features(root / "run" / "manifest_r3d_18.json", "per-crop", features / "RGB")
    export_features(root / "run" / "manifest_vggish.json", "per-crop", features / "Audio")
    export_flow_crops(root / "run" / "manifest_tiny_flow.json", features / "Flow")
    return root


def lines(path: Path) -> list[str]:
    return list(open(path))


def xdviodet_item(rgb_list, flow_list, audio_list, index: int, crops: int = CROPS) -> np.ndarray:
    """XDVioDet's ``MIX`` item (``audio_list`` None) or ``MIX_ALL`` item ``index``: (snippets, D) features."""
    rgb = np.array(np.load(rgb_list[index].strip("\n")), dtype=np.float32)
    flow = np.array(np.load(flow_list[index].strip("\n")), dtype=np.float32)
    if audio_list is None:
        return np.concatenate((rgb, flow) if rgb.shape[0] == flow.shape[0] else (rgb[:-1], flow), axis=1)
    audio = np.array(np.load(audio_list[index // crops].strip("\n")), dtype=np.float32)
    if rgb.shape[0] == flow.shape[0]:
        return np.concatenate((rgb, flow, audio), axis=1)
    return np.concatenate((rgb[:-1], flow, audio[:-1]), axis=1)


@pytest.mark.parametrize("audio", [False, True], ids=["MIX", "MIX_ALL"])
@pytest.mark.parametrize(("rgb", "flow", "sound"), [("train.list", "flow.list", "audio.list"),
                                                     ("test.list", "flow_test.list", "audio_test.list")])
def test_xdviodet_loads_every_item_with_rgb_flow_and_audio_rows_aligned(xd, audio, rgb, flow, sound) -> None:
    features = xd / "features"
    rgb_list, flow_list = lines(features / "RGB" / rgb), lines(features / "Flow" / flow)
    audio_list = lines(features / "Audio" / sound) if audio else None
    assert len(rgb_list) == len(flow_list) == CROPS * 2
    for index in range(len(rgb_list)):
        rgb_file, flow_file = Path(rgb_list[index].strip()), Path(flow_list[index].strip())
        assert rgb_file.name == flow_file.name  # the same video and crop on line `index` of both lists
        video = rgb_file.name.rsplit("__", 1)[0]
        snippets = VIDEOS[video][1] // SNIPPET
        one_fewer = VIDEOS[video][1] % SNIPPET == 0  # the last snippet ends the video: no next frame
        assert np.load(flow_file).shape[0] == snippets - one_fewer
        item = xdviodet_item(rgb_list, flow_list, audio_list, index)
        assert item.shape == (snippets - one_fewer, 512 + 8 + (128 if audio else 0))


OPTION_DEFAULTS = {  # XDVioDet option.py (f846d8c) lines 5-10: the lists its Dataset opens, from its folder
    "train": ("list/rgb.list", "list/flow.list", "list/audio.list"),
    "test": ("list/rgb_test.list", "list/flow_test.list", "list/audio_test.list"),
}


@pytest.mark.parametrize("audio", [False, True], ids=["MIX", "MIX_ALL"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_names_xdviodet_places_rgb_flow_and_audio_where_its_options_read_them(xd, tmp_path, monkeypatch, audio,
                                                                               split) -> None:
    run = xd / "run"
    for manifest in ("manifest_vggish.json", "manifest_tiny_flow.json", "manifest_r3d_18.json"):
        main(["export", "--manifest", str(run / manifest), "--out", str(tmp_path), "--names", "xdviodet"])
    monkeypatch.chdir(tmp_path)  # XDVioDet's scripts run from its folder: the lists are relative paths
    rgb_path, flow_path, audio_path = OPTION_DEFAULTS[split]
    rgb_list, flow_list = lines(Path(rgb_path)), lines(Path(flow_path))
    audio_list = lines(Path(audio_path)) if audio else None
    assert len(rgb_list) == len(flow_list) == CROPS * 2
    for index in range(len(rgb_list)):
        rgb_file, flow_file = Path(rgb_list[index].strip()), Path(flow_list[index].strip())
        assert rgb_file.parent == tmp_path / "features" and flow_file.parent == tmp_path / "features" / "Flow"
        assert rgb_file.name == flow_file.name  # the same video and crop on line `index` of both lists
        video = rgb_file.name.rsplit("__", 1)[0]
        if audio:
            assert Path(audio_list[index // CROPS].strip()).name == f"{video}__vggish.npy"
        snippets = VIDEOS[video][1] // SNIPPET
        one_fewer = VIDEOS[video][1] % SNIPPET == 0  # the last snippet ends the video: no next frame
        assert np.load(rgb_file).shape[0] == snippets and np.load(flow_file).shape[0] == snippets - one_fewer
        item = xdviodet_item(rgb_list, flow_list, audio_list, index)
        assert item.shape == (snippets - one_fewer, 512 + 8 + (128 if audio else 0))


def test_names_without_flow_lists_are_refused_for_a_flow_manifest(xd, tmp_path) -> None:
    with pytest.raises(LitExtractError, match="--names urdmu: UR-DMU's code reads no flow files"):
        export_flow(xd / "run" / "manifest_tiny_flow.json", None, tmp_path, names="urdmu")


def test_flow_files_hold_each_videos_flow_rows_that_have_a_next_frame(xd) -> None:
    manifest = json.loads((xd / "run" / "manifest_tiny_flow.json").read_text())
    rows = np.load(xd / "run" / manifest["splits"]["train"]["files"]["embeddings"])  # rows crops 8
    first, second = list(VIDEOS)[:2]  # the index's first two videos: rows 0-1 (32 frames), 2-3 (40)
    np.testing.assert_array_equal(np.load(xd / "features" / "Flow" / f"{first}__3.npy"), rows[:1, 3])
    np.testing.assert_array_equal(np.load(xd / "features" / "Flow" / f"{second}__0.npy"), rows[2:4, 0])


def test_flow_export_into_an_rgb_exports_folder_is_refused(xd) -> None:
    with pytest.raises(LitExtractError, match="holds an RGB export .*export the flow into a folder of its own"):
        export_flow_crops(xd / "run" / "manifest_tiny_flow.json", xd / "features" / "RGB")


def test_a_flow_manifest_exports_only_per_crop(xd, tmp_path) -> None:
    with pytest.raises(LitExtractError, match="flow encoder's manifest; export it with --format per-crop"):
        export_flow(xd / "run" / "manifest_tiny_flow.json", "rtfm", tmp_path)
    with pytest.raises(LitExtractError, match="is a flow encoder; export it with lit_extract.store.flow_export"):
        export_features(xd / "run" / "manifest_tiny_flow.json", "per-crop", tmp_path)


def test_two_stream_files_need_one_crop(xd, tmp_path) -> None:
    with pytest.raises(LitExtractError, match="5 crops; two-stream files are one crop's"):
        export_two_stream(xd / "run" / "manifest_r3d_18.json", tmp_path)


# --- two-stream (THUMOS-style) --------------------------------------------------------------------


def test_two_stream_files_are_rgb_then_flow_of_every_row(tmp_path, tiny_flow) -> None:
    """16-frame snippets every 4 frames, one crop: one (snippets, 512 + 8) file per video."""
    rows = []
    for name, frames in (("video_validation_0000051", 40), ("video_test_0000004", 28)):
        path = write_sound_video(tmp_path / f"{name}.mp4", frames, 24)
        rows += clip_rows(path, "test", "Normal", frames, 16, 4)
    index = write_index(tmp_path / "index.csv", rows)
    main(["predict", "--data.index_path", str(index), "--model.encoder", "[r3d_18, tiny_flow]",
          "--model.flow_weights", raft_weights(tmp_path), "--writer.output_dir", str(tmp_path / "run"), *COMMON])
    main(["export", "--manifest", str(tmp_path / "run" / "manifest_r3d_18.json"), "--format", "two-stream",
          "--out", str(tmp_path / "thumos")])
    run = tmp_path / "run"
    rgb = np.load(run / json.loads((run / "manifest_r3d_18.json").read_text())["splits"]["test"]["files"]["embeddings"])
    flow = np.load(run / json.loads((run / "manifest_tiny_flow.json").read_text())["splits"]["test"]["files"]["embeddings"])
    first = np.load(tmp_path / "thumos" / "video_validation_0000051.npy")
    second = np.load(tmp_path / "thumos" / "video_test_0000004.npy")
    assert first.shape == (7, 520) and second.shape == (4, 520) and first.dtype == np.float32  # (40-16)/4+1, (28-16)/4+1
    np.testing.assert_array_equal(first, np.concatenate([rgb[:7], flow[:7]], axis=1).astype(np.float32))
    np.testing.assert_array_equal(second, np.concatenate([rgb[7:], flow[7:]], axis=1).astype(np.float32))


def test_two_stream_is_exported_from_the_rgb_manifest(xd, tmp_path) -> None:
    with pytest.raises(LitExtractError, match="is the flow stream's manifest; pass the RGB encoder's"):
        export_two_stream(xd / "run" / "manifest_tiny_flow.json", tmp_path)
