"""VGGish against harritaylor/torchvggish, the PyTorch port it reproduces.

``tests/fixtures/vggish/vggish_reference.npz`` holds what a script run outside the project recorded
with the port's own code (``vggish_input.waveform_to_examples``, ``vggish.VGG``, ``vggish.Postprocessor``):
the log-mel of the first example, the raw embeddings and the postprocessed ones of a seeded
3 s waveform, seeded weights and seeded PCA parameters (see the README there for the command).
The weights, waveform and PCA parameters are regenerated here from the same seeds
(``vggish_reference``), written as files in the releases' layouts and loaded through
``--model.weights`` / ``--model.audio_postprocess``.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from lit_extract.encoders import build_audio_encoder, build_encoder, check_clip, is_audio_encoder
from lit_extract.encoders.vggish import VGGishNetwork
from lit_extract.errors import LitExtractError
from vggish_reference import seeded_pca, seeded_vggish_state, seeded_waveform, vggish_names_shapes

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "vggish" / "vggish_reference.npz"
WINDOW, HOP = 15_600, 15_360  # one example's samples; torchvggish's examples are 0.96 s apart


@pytest.fixture(scope="module")
def recorded() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return dict(data)


@pytest.fixture(scope="module")
def files(tmp_path_factory, recorded) -> dict[str, Path]:
    """The seeded weights (torchvggish's layout) and PCA parameters in both releases' formats."""
    folder = tmp_path_factory.mktemp("vggish")
    weights_seed, _, pca_seed = (int(s) for s in recorded["seeds"])
    torch.save(seeded_vggish_state(weights_seed), folder / "vggish.pth")
    vectors, means = seeded_pca(pca_seed, float(recorded["pca_scale"]))
    # torchvggish's file holds numpy arrays (its loader calls .reshape(-1, 1) and torch.as_tensor on them)
    torch.save({"pca_eigen_vectors": vectors.numpy().astype(np.float64), "pca_means": means.numpy().astype(np.float64)},
               folder / "pca.pth")
    np.savez(folder / "pca.npz", pca_eigen_vectors=vectors.numpy().astype(np.float64),
             pca_means=means.numpy().astype(np.float64))
    return {"weights": folder / "vggish.pth", "pth": folder / "pca.pth", "npz": folder / "pca.npz"}


@pytest.fixture(scope="module")
def windows(recorded) -> torch.Tensor:
    """The port's three back-to-back examples of the seeded waveform, as (3, 15600) windows."""
    wave = seeded_waveform(int(recorded["seeds"][1]), float(recorded["seconds"]))
    return torch.stack([wave[i * HOP: i * HOP + WINDOW] for i in range(len(recorded["raw"]))])


def relative_errors(ours: torch.Tensor, theirs: np.ndarray) -> np.ndarray:
    """Per row: |ours - theirs| / |theirs| (L2)."""
    ours = ours.detach().numpy().reshape(len(theirs), -1)
    theirs = theirs.reshape(len(theirs), -1)
    return np.linalg.norm(ours - theirs, axis=1) / np.linalg.norm(theirs, axis=1)


def test_log_mel_example_equals_torchvggish_input_code(recorded, windows):
    encoder = build_audio_encoder("vggish", weights="none")
    log_mel = encoder.module.log_mel(windows[:1])  # 1 1 96 64
    assert log_mel.shape == (1, 1, 96, 64)
    assert relative_errors(log_mel, recorded["log_mel_first"][None]).max() < 1e-5


def test_raw_embeddings_equal_torchvggish_on_the_same_waveform_and_weights(recorded, files, windows):
    encoder = build_audio_encoder("vggish", weights=str(files["weights"]))
    with torch.no_grad():
        embeddings = encoder.module(windows)
    assert encoder.embedding_dim == 128 and embeddings.shape == (3, 128)
    assert relative_errors(embeddings, recorded["raw"]).max() < 1e-3
    assert not np.allclose(recorded["raw"][0], recorded["raw"][1])  # the examples differ: a real check


@pytest.mark.parametrize("release", ["pth", "npz"])
def test_postprocessed_embeddings_equal_torchvggish_postprocessor(recorded, files, windows, release):
    encoder = build_audio_encoder("vggish", weights=str(files["weights"]), postprocess=str(files[release]))
    with torch.no_grad():
        embeddings = encoder.module(windows)
    assert relative_errors(embeddings, recorded["postprocessed"]).max() < 1e-3
    assert {0.0, 255.0} <= set(recorded["postprocessed"].ravel().tolist())  # the clipping is exercised


def test_network_parameters_have_torchvggish_names_and_shapes():
    ours = [(name, tuple(value.shape)) for name, value in VGGishNetwork().state_dict().items()]
    assert ours == [(name, tuple(shape)) for name, shape in vggish_names_shapes()]


def test_postprocessing_is_off_by_default(files, windows):
    encoder = build_audio_encoder("vggish", weights=str(files["weights"]))
    with torch.no_grad():
        raw = encoder.module(windows)
    assert encoder.module.postprocess is None
    assert not torch.equal(raw, raw.round())  # not quantized


def test_default_weights_offline_name_the_file_to_fetch(tmp_path, monkeypatch):
    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(LitExtractError, match=r"vggish-10086976\.pth.*--model\.weights /path/to/vggish-10086976\.pth"):
        build_audio_encoder("vggish", weights="DEFAULT")
    with pytest.raises(LitExtractError, match=r"vggish_pca_params-970ea276\.pth.*--model\.audio_postprocess"):
        build_audio_encoder("vggish", weights="none", postprocess="DEFAULT")


def test_default_weights_are_read_from_the_hub_cache(tmp_path, monkeypatch, files):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "vggish-10086976.pth").symlink_to(files["weights"])
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    state = build_audio_encoder("vggish", weights="DEFAULT").module.network.state_dict()
    assert torch.equal(state["embeddings.4.weight"], torch.load(files["weights"])["embeddings.4.weight"])


def test_weights_of_another_model_are_refused_in_one_line(tmp_path):
    path = tmp_path / "r3d.pth"
    torch.save(torchvision.models.video.r3d_18().state_dict(), path)
    with pytest.raises(LitExtractError, match=r"does not fit encoder vggish .*vggish-10086976\.pth") as error:
        build_audio_encoder("vggish", weights=str(path))
    assert "\n" not in str(error.value)


def test_pca_file_without_its_arrays_is_refused_in_one_line(tmp_path):
    path = tmp_path / "pca.npz"
    np.savez(path, something=np.zeros(3))
    with pytest.raises(LitExtractError, match=r"holds no pca_eigen_vectors and pca_means"):
        build_audio_encoder("vggish", weights="none", postprocess=str(path))


def test_vggish_is_an_audio_encoder_that_takes_no_clips():
    assert is_audio_encoder("vggish") and not is_audio_encoder("r3d_18")
    check_clip("vggish", frames=1, img_size=1)  # no clip limits
    with pytest.raises(LitExtractError, match="takes sound, not clips"):
        build_encoder("vggish", weights="none")
    with pytest.raises(LitExtractError, match="takes clips, not sound"):
        build_audio_encoder("r3d_18", weights="none")
