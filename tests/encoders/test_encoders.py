"""The encoder registry against torchvision's models, built independently here (random init, CPU)."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torchvision.models import get_model_weights, video

from lit_extract.encoders import Encoder, build_encoder, default_normalization, encoder_names
from lit_extract.encoders import torchvision as torchvision_family
from lit_extract.errors import LitExtractError
from lit_extract.decode.reference import NotebookClipDataset

# Where torchvision keeps each head, and that head's input width: known here independently of encoders.py.
HEAD_WIDTH = {
    "swin3d_t": lambda model: model.head.in_features,
    "swin3d_s": lambda model: model.head.in_features,
    "swin3d_b": lambda model: model.head.in_features,
    "r3d_18": lambda model: model.fc.in_features,
    "mc3_18": lambda model: model.fc.in_features,
    "r2plus1d_18": lambda model: model.fc.in_features,
    "mvit_v1_b": lambda model: model.head[1].in_features,
    "mvit_v2_s": lambda model: model.head[1].in_features,
    "s3d": lambda model: model.classifier[1].in_channels,
}
# Models cheap enough for a real CPU forward pass, with their heads (s3d has its own test below).
# The others run on the meta device: shapes only, which is where their clip-size limits show.
HEAD_NAME = {"r3d_18": "fc", "mc3_18": "fc", "r2plus1d_18": "fc", "swin3d_t": "head"}
SMALL_CLIP = {"r3d_18": (4, 32), "mc3_18": (4, 32), "r2plus1d_18": (4, 32), "swin3d_t": (4, 64)}  # frames, img_size


@pytest.fixture(scope="module")
def on_meta() -> dict[str, Encoder]:
    """Every registered encoder built with weights="none" on the meta device (no memory, no init time)."""
    with torch.device("meta"):
        return {name: build_encoder(name, weights="none", frames=16, img_size=224) for name in encoder_names()}


def reference_model(name: str, seed: int) -> nn.Module:
    """torchvision's ``name`` with seeded weights and non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = getattr(video, name)(weights=None).eval()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    return model


def test_registry_names_are_sorted_and_cover_torchvision_video_models() -> None:
    names = encoder_names()
    assert names == sorted(names)
    assert set(HEAD_WIDTH) <= set(names)


@pytest.mark.parametrize("name", sorted(HEAD_WIDTH))
def test_embedding_dim_is_torchvision_head_input_width(on_meta: dict[str, Encoder], name: str) -> None:
    with torch.device("meta"):
        original = getattr(video, name)(weights=None)
    assert on_meta[name].embedding_dim == HEAD_WIDTH[name](original)


@pytest.mark.parametrize("name", sorted(HEAD_WIDTH))
def test_encoder_is_frozen_and_in_eval_mode(on_meta: dict[str, Encoder], name: str) -> None:
    module = on_meta[name].module
    assert not any(parameter.requires_grad for parameter in module.parameters())
    assert not any(submodule.training for submodule in module.modules())


@pytest.mark.parametrize("name", sorted(HEAD_NAME))
def test_full_state_dict_file_gives_original_features(tmp_path: Path, name: str) -> None:
    frames, size = SMALL_CLIP[name]
    original = reference_model(name, seed=0)
    path = tmp_path / f"{name}.pth"
    torch.save(original.state_dict(), path)
    torch.manual_seed(1)  # a random init that ignored the file would differ
    encoder = build_encoder(name, weights=str(path), frames=frames, img_size=size)
    setattr(original, HEAD_NAME[name], nn.Identity())
    x = torch.randn(2, 3, frames, size, size)
    with torch.no_grad():
        expected, got = original(x), encoder.module(x)
    assert got.shape == (2, encoder.embedding_dim)
    torch.testing.assert_close(got, expected)


def test_s3d_embedding_is_mean_of_pooled_features(tmp_path: Path) -> None:
    original = reference_model("s3d", seed=0)
    torch.save(original.state_dict(), tmp_path / "s3d.pth")
    torch.manual_seed(1)
    encoder = build_encoder("s3d", weights=str(tmp_path / "s3d.pth"), frames=21, img_size=209)
    x = torch.randn(1, 3, 21, 209, 209)
    with torch.no_grad():
        pooled = original.avgpool(original.features(x))  # B 1024 t h w
        got = encoder.module(x)
    assert pooled.shape[1:] == (1024, 2, 1, 1)  # 21 frames leave two pooled steps to average
    assert got.shape == (1, 1024)
    torch.testing.assert_close(got, pooled.mean(dim=(2, 3, 4)))


@pytest.mark.parametrize("wrapper", [None, "state_dict", "model"])
def test_headless_state_dict_file_loads(tmp_path: Path, wrapper: str | None) -> None:
    torch.manual_seed(0)
    source = build_encoder("mc3_18", weights="NONE", frames=4, img_size=32).module
    state = source.state_dict()
    torch.save(state if wrapper is None else {wrapper: state, "epoch": 3}, tmp_path / "headless.pth")
    torch.manual_seed(1)
    loaded = build_encoder("mc3_18", weights=str(tmp_path / "headless.pth"), frames=4, img_size=32).module
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), source(x))


@pytest.mark.parametrize("name", sorted(HEAD_WIDTH))
def test_output_is_batch_by_embedding_dim_at_min_frames(on_meta: dict[str, Encoder], name: str) -> None:
    encoder = on_meta[name]
    out = encoder.module(torch.empty(2, 3, encoder.min_frames, 224, 224, device="meta"))
    assert out.shape == (2, encoder.embedding_dim)


@pytest.mark.parametrize(
    ("name", "frames", "size"),
    [("s3d", 12, 209), ("s3d", 13, 208), ("mvit_v1_b", 8, 224), ("mvit_v2_s", 16, 112)],
)
def test_clips_torchvision_cannot_run_are_rejected(name: str, frames: int, size: int) -> None:
    with torch.device("meta"):
        original = getattr(video, name)(weights=None).eval()
        with pytest.raises(RuntimeError):
            original(torch.empty(1, 3, frames, size, size))
    with pytest.raises(LitExtractError, match=name):
        build_encoder(name, weights="none", frames=frames, img_size=size)


def test_unknown_name_lists_choices() -> None:
    with pytest.raises(LitExtractError) as info:
        build_encoder("swin4d", weights="none")
    assert "swin4d" in str(info.value)
    assert all(name in str(info.value) for name in encoder_names())


def test_too_few_frames_names_encoder_minimum_and_flag() -> None:
    with pytest.raises(LitExtractError) as info:
        build_encoder("s3d", weights="none", frames=8, img_size=224)
    message = str(info.value)
    assert "s3d" in message and "13" in message and "--data.frames 13" in message


def test_img_size_below_minimum_names_flag() -> None:
    with pytest.raises(LitExtractError, match="--data.img_size 209"):
        build_encoder("s3d", weights="none", frames=16, img_size=112)


@pytest.mark.parametrize("name", ["mvit_v1_b", "mvit_v2_s"])
@pytest.mark.parametrize(("frames", "size"), [(8, 224), (32, 224), (16, 112), (16, 256)])
def test_mvit_rejects_other_clip_sizes(name: str, frames: int, size: int) -> None:
    with pytest.raises(LitExtractError, match=f"{name}.*--data.frames 16 --data.img_size 224"):
        build_encoder(name, weights="none", frames=frames, img_size=size)


def test_missing_weights_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "swin.pth"
    with pytest.raises(LitExtractError, match="not found") as info:
        build_encoder("r3d_18", weights=str(path), frames=4, img_size=32)
    assert str(path) in str(info.value)


def test_unreadable_weights_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"this is not a torch file")
    with pytest.raises(LitExtractError) as info:
        build_encoder("r3d_18", weights=str(path), frames=4, img_size=32)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_state_dict_of_another_model_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "mc3.pth"
    torch.save(video.mc3_18(weights=None).state_dict(), path)
    with pytest.raises(LitExtractError, match="r2plus1d_18") as info:
        build_encoder("r2plus1d_18", weights=str(path), frames=4, img_size=32)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_failed_download_of_default_weights_is_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    with pytest.raises(LitExtractError, match="--model.weights") as info:
        build_encoder("mc3_18", frames=4, img_size=32)
    assert video.MC3_18_Weights.DEFAULT.url in str(info.value)


# --- normalization ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(torchvision_family.ENCODERS))
def test_default_normalization_is_the_one_torchvision_declares_for_the_default_weights(name: str) -> None:
    declared = get_model_weights(name).DEFAULT.transforms()
    mean, std = default_normalization(name)
    assert mean == pytest.approx(tuple(declared.mean), abs=0) and std == pytest.approx(tuple(declared.std), abs=0)


@pytest.mark.parametrize(
    "name, mean, std",
    [
        ("r3d_18", (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)),
        ("s3d", (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)),
        ("mvit_v2_s", (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
    ],
)
def test_kinetics_trained_encoders_do_not_default_to_imagenet_statistics(name: str, mean, std) -> None:
    assert default_normalization(name) == (mean, std)


def test_swin3d_default_normalization_is_the_reference_notebooks() -> None:
    notebook = NotebookClipDataset(pd.DataFrame(columns=["path", "start_frame", "end_frame", "y"]), T=8, img_size=224)
    mean, std = default_normalization("swin3d_t")
    np.testing.assert_array_equal(np.float32(mean), notebook.mean)
    np.testing.assert_array_equal(np.float32(std), notebook.std)


def test_default_normalization_of_an_unknown_encoder_lists_the_choices() -> None:
    with pytest.raises(LitExtractError, match="unknown encoder 'r3d_19'.*r3d_18"):
        default_normalization("r3d_19")
