"""``hf:<directory>`` of an audio model (AST) against transformers' own feature extractor and model.

A tiny ``ASTForAudioClassification`` with seeded random parameters (hidden size 32, one layer, ``max_length`` 100
frames, 128 mel bins) is saved with its ``ASTFeatureExtractor(max_length=100)``; the expected
embeddings are transformers' ``feature_extractor(windows, sampling_rate=16000, return_tensors="pt")``
and the saved model's forward, run here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lit_extract.encoders import SoundInput, build_audio_encoder, build_encoder, check_clip, encoder_spec, is_audio_encoder
from lit_extract.errors import LitExtractError

from tiny_ast import FRAMES, HIDDEN, RATE, WINDOW, extractor, save_tiny_ast, tiny_config, transformers


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A save_pretrained folder: a seeded ASTForAudioClassification and its feature extractor."""
    return save_tiny_ast(tmp_path_factory.mktemp("ast"), seed=3)


@pytest.fixture(scope="module")
def reference(folder) -> transformers.ASTModel:
    """The saved model's AST, as transformers loads it."""
    return transformers.ASTForAudioClassification.from_pretrained(folder).audio_spectrogram_transformer.eval()


@pytest.fixture(scope="module")
def windows() -> torch.Tensor:
    return torch.rand(3, WINDOW, generator=torch.Generator().manual_seed(0)) * 2 - 1  # B S, [-1, 1]


def transformers_forward(model: transformers.ASTModel, windows: torch.Tensor, **output) -> object:
    features = extractor()([w.numpy() for w in windows], sampling_rate=RATE, return_tensors="pt")
    with torch.no_grad():
        return model(**features, **output)


def test_an_ast_folder_is_an_audio_encoder_taking_no_clips(folder):
    name = f"hf:{folder}"
    assert is_audio_encoder(name)
    check_clip(name, frames=1, img_size=1)  # any clip size: it takes none
    with pytest.raises(LitExtractError, match="takes sound, not clips"):
        build_encoder(name, weights="none")


def test_window_is_the_extractors_max_length_frames_at_its_sampling_rate(folder):
    assert encoder_spec(f"hf:{folder}").sound == SoundInput(sample_rate=RATE, samples=WINDOW, hop=FRAMES * 160)


def test_embedding_is_transformers_feature_extractor_and_models_pooled_output(folder, reference, windows):
    encoder = build_audio_encoder(f"hf:{folder}", weights="DEFAULT")
    with torch.no_grad():
        ours = encoder.module(windows)
    expected = transformers_forward(reference, windows).pooler_output
    assert ours.shape == (3, encoder.embedding_dim) == (3, HIDDEN)
    assert (ours - expected).abs().max() <= 1e-4 * expected.norm(dim=1).max()


def test_pooled_output_is_the_mean_of_the_class_and_distillation_tokens(folder, reference, windows):
    with torch.no_grad():
        ours = build_audio_encoder(f"hf:{folder}", weights="DEFAULT").module(windows)
    tokens = transformers_forward(reference, windows).last_hidden_state  # B N D, after the final layernorm
    expected = (tokens[:, 0] + tokens[:, 1]) / 2
    assert (ours - expected).abs().max() <= 1e-4 * expected.norm(dim=1).max()


def test_a_state_dict_of_the_classifier_loads_as_the_folders_own_weights(folder, windows, tmp_path):
    path = tmp_path / "ast.pth"
    torch.save(transformers.ASTForAudioClassification.from_pretrained(folder).state_dict(), path)
    with torch.no_grad():
        from_file = build_audio_encoder(f"hf:{folder}", weights=str(path)).module(windows)
        own = build_audio_encoder(f"hf:{folder}", weights="DEFAULT").module(windows)
        random = build_audio_encoder(f"hf:{folder}", weights="none").module(windows)
    assert torch.equal(from_file, own)
    assert not torch.allclose(random, own)


def test_weights_of_another_model_are_refused_in_one_line(folder, tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(LitExtractError) as error:
        build_audio_encoder(f"hf:{folder}", weights=str(path))
    assert len(str(error.value).splitlines()) == 1 and "missing" in str(error.value) and "ASTModel" in str(error.value)


def test_audio_postprocess_is_refused_for_a_model_without_one(folder):
    with pytest.raises(LitExtractError, match="--model.audio_postprocess DEFAULT: encoder hf:.* has no postprocessing"):
        build_audio_encoder(f"hf:{folder}", weights="none", postprocess="DEFAULT")


def test_a_feature_extractor_that_does_not_fit_its_model_is_refused(tmp_path):
    transformers.ASTConfig(**tiny_config().to_dict()).save_pretrained(tmp_path)
    extractor(num_mel_bins=64).save_pretrained(tmp_path)
    with pytest.raises(LitExtractError, match=r"makes 100 x 64 log-mel inputs, its model takes 100 x 128"):
        encoder_spec(f"hf:{tmp_path}")


def test_a_folder_without_a_feature_extractor_is_refused_in_one_line(tmp_path):
    tiny_config().save_pretrained(tmp_path)
    with pytest.raises(LitExtractError, match="holds no readable preprocessor_config.json"):
        encoder_spec(f"hf:{tmp_path}")


def test_an_audio_model_without_a_fixed_window_is_refused_naming_the_types(tmp_path):
    transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(LitExtractError, match=r"holds a 'wav2vec2' model; hf: takes .* audio-spectrogram-transformer \(audio\)"):
        encoder_spec(f"hf:{tmp_path}")
