"""``i3d_inception_flow`` against the published ports' flow networks and video_features' flow input.

``tests/fixtures/i3d_flow/`` holds what a script run outside the project recorded from the ports'
own code (piergiaj/pytorch-i3d ``InceptionI3d(in_channels=2)``, hassony2/kinetics_i3d_pytorch
``I3D(modality='flow')``) on seeded weights and a seeded flow clip in pixels: the features of the
clip clipped and scaled to [-1, 1] (``x / 20``) and of the clip through video_features' own
``Clamp(-20, 20)``, ``ToUInt8``, ``ScaleTo1_1`` (the 8-bit quantized input). The README there
gives the command. Weights and clips are regenerated here from the recorded seeds and names
(``i3d_reference``, ``i3d_flow_reference``); features are compared within 1e-3 of each feature
vector's norm (``recorded_features``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from i3d_flow_reference import flow_clips, unit_flow as reference_unit_flow
from i3d_reference import calibrate, seeded_state
from recorded_features import assert_close_to_recorded, relative_errors
from lit_extract.encoders import build_flow_encoder, check_clip, is_flow_encoder
from lit_extract.encoders.i3d_inception_flow import unit_flow
from lit_extract.errors import LitExtractError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "i3d_flow"
LAYOUT = json.loads((FIXTURES / "i3d_inception_flow_layout.json").read_text())
COUNTER = "num_batches_tracked"


def recorded() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "i3d_inception_flow_features.npz") as data:
        return dict(data)


def fixture_flow(key: str) -> torch.Tensor:
    return flow_clips(LAYOUT["seeds"][f"flow_{key}"], *LAYOUT["clips"][key])


def piergiaj_state() -> dict[str, torch.Tensor]:
    """The seeded weights under piergiaj's names (``logits`` included)."""
    return seeded_state(LAYOUT["piergiaj_state_dict"], LAYOUT["seeds"]["flow_weights"])


def as_hassony2(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` renamed by the recorded piergiaj -> hassony2 pairs, without the batch counters."""
    return {hassony2: state[piergiaj] for piergiaj, hassony2 in LAYOUT["piergiaj_to_hassony2"]
            if piergiaj in state and not piergiaj.endswith(COUNTER)}


def built(state: dict[str, torch.Tensor], path: Path) -> torch.nn.Module:
    """``i3d_inception_flow`` from ``state`` saved at ``path``, BatchNorm measured as the recording did."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    encoder = build_flow_encoder("i3d_inception_flow", weights=str(path), frames=16, img_size=224)
    assert encoder.embedding_dim == 1024
    calibrate(encoder.module, encoder.module, reference_unit_flow(fixture_flow("calibration")))
    return encoder.module


@pytest.fixture(scope="module")
def piergiaj(tmp_path_factory) -> torch.nn.Module:
    return built(piergiaj_state(), tmp_path_factory.mktemp("piergiaj") / "flow_imagenet.pt")


@pytest.fixture(scope="module")
def main_features(piergiaj) -> dict[str, torch.Tensor]:
    """Features of the recorded clip fed as scaled and as quantized flow (one forward)."""
    raw = fixture_flow("main")
    with torch.no_grad():
        scaled, quantized = piergiaj(torch.cat([unit_flow(raw), unit_flow(raw, quantize=True)])).chunk(2)
    return {"scaled": scaled, "quantized": quantized}


def test_fixture_layout_is_the_two_channel_inception() -> None:
    assert ["Conv3d_1a_7x7.conv3d.weight", [64, 2, 7, 7, 7]] in LAYOUT["piergiaj_state_dict"]
    assert ["conv3d_1a_7x7.conv3d.weight", [64, 2, 7, 7, 7]] in LAYOUT["hassony2_state_dict"]


def test_i3d_inception_flow_equals_both_ports_on_flow_scaled_to_unit_range(main_features) -> None:
    got = main_features["scaled"]
    assert got.shape == (1, 1024)
    assert_close_to_recorded(got, recorded()["piergiaj_scaled"])
    assert_close_to_recorded(got, recorded()["hassony2_scaled"])


def test_i3d_inception_flow_equals_the_ports_fed_video_features_quantized_flow(main_features) -> None:
    got = main_features["quantized"]
    assert_close_to_recorded(got, recorded()["piergiaj_quantized"])
    assert_close_to_recorded(got, recorded()["hassony2_quantized"])
    assert (relative_errors(got, recorded()["piergiaj_scaled"]) > 0.005).all()  # quantization is visible: ~1 %


@pytest.mark.parametrize("head", [True, False])
def test_i3d_inception_flow_loads_hassony2s_model_flow_layout_as_piergiajs(tmp_path, head) -> None:
    """hassony2's names (renamed by the recorded pairs) give the very tensors piergiaj's names give."""
    state = as_hassony2(piergiaj_state())
    if not head:
        state = {key: value for key, value in state.items() if not key.startswith("conv3d_0c_1x1.")}
    torch.save(state, tmp_path / "model_flow.pth")
    torch.save(piergiaj_state(), tmp_path / "flow_imagenet.pt")
    hassony2 = build_flow_encoder("i3d_inception_flow", weights=str(tmp_path / "model_flow.pth")).module.state_dict()
    piergiaj = build_flow_encoder("i3d_inception_flow", weights=str(tmp_path / "flow_imagenet.pt")).module.state_dict()
    assert hassony2.keys() == piergiaj.keys()
    for key in piergiaj:
        torch.testing.assert_close(hassony2[key], piergiaj[key], rtol=0, atol=0, msg=key)


def test_unit_flow_clips_at_20_pixels_and_scales_to_unit_range() -> None:
    flow = torch.tensor([-30.0, -20.0, -10.0, 0.0, 5.0, 20.0, 25.0])
    torch.testing.assert_close(unit_flow(flow), torch.tensor([-1.0, -1.0, -0.5, 0.0, 0.25, 1.0, 1.0]))


def test_unit_flow_quantized_is_video_features_8_bit_levels() -> None:
    flow = torch.tensor([-25.0, -20.0, -0.1, 0.0, 0.08, 10.0, 20.0])
    levels = torch.tensor([0.0, 0.0, 127.0, 128.0, 129.0, 192.0, 256.0])  # round(128 + 6.375 x), half to even
    torch.testing.assert_close(unit_flow(flow, quantize=True), levels * 2 / 255 - 1)


def test_i3d_inception_flow_is_a_flow_encoder_with_the_rgb_streams_clip_limits() -> None:
    assert is_flow_encoder("i3d_inception_flow") and not is_flow_encoder("i3d_inception")
    check_clip("i3d_inception_flow", frames=9, img_size=193)
    with pytest.raises(LitExtractError, match="at least 9 frames"):
        check_clip("i3d_inception_flow", frames=8, img_size=224)


def test_rgb_weights_are_refused_by_the_flow_stream_in_one_line(tmp_path) -> None:
    state = piergiaj_state()
    state["Conv3d_1a_7x7.conv3d.weight"] = torch.zeros(64, 3, 7, 7, 7)
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(state, path)
    with pytest.raises(LitExtractError, match=r"rgb_imagenet.pt: does not fit encoder i3d_inception_flow .*wrong shape.*flow_imagenet.pt"):
        build_flow_encoder("i3d_inception_flow", weights=str(path), frames=16, img_size=224)


def test_i3d_inception_flow_default_offline_is_one_line_naming_the_flow_files(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def offline(url: str, **kwargs: object) -> None:
        asked.append(url)
        raise OSError("no network")

    monkeypatch.setattr("lit_extract.encoders.i3d_inception.load_state_dict_from_url", offline)
    with pytest.raises(LitExtractError) as info:
        build_flow_encoder("i3d_inception_flow", weights="DEFAULT", frames=16, img_size=224)
    message = str(info.value)
    assert [url.rsplit("/", 1)[1] for url in asked] == ["flow_imagenet.pt"]
    assert "\n" not in message and "i3d_inception_flow" in message
    assert "flow_imagenet.pt" in message and "model/model_flow.pth" in message and "rgb" not in message
