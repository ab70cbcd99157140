"""The ``hf:`` family against transformers' own video models (tiny random configs saved here).

The classification models get as many labels as hidden units: their square, random classifier is
invertible, so the logits transformers computes give back exactly the vector its head read.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from lit_extract.encoders import build_encoder, default_normalization
from lit_extract.errors import LitExtractError

transformers = pytest.importorskip("transformers")

HIDDEN = 32
SMALL = {"hidden_size": HIDDEN, "num_hidden_layers": 1, "num_attention_heads": 2, "patch_size": 16, "num_labels": HIDDEN}
CONFIGS = {
    "videomae": lambda: transformers.VideoMAEConfig(**SMALL, intermediate_size=64, image_size=32, num_frames=4,
                                                    tubelet_size=2, use_mean_pooling=True),
    "vjepa2": lambda: transformers.VJEPA2Config(**SMALL, mlp_ratio=2.0, crop_size=32, frames_per_clip=4, tubelet_size=2,
                                                pred_hidden_size=HIDDEN, pred_num_hidden_layers=1,
                                                pred_num_attention_heads=2, num_pooler_layers=1),
    "timesformer": lambda: transformers.TimesformerConfig(**SMALL, intermediate_size=64, image_size=32, num_frames=4),
}


def randomized(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``model`` with every parameter drawn again (LayerNorms and the head included), in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            scale = 1.0 if name.endswith("weight") and parameter.ndim == 1 else 0.0  # norm scales around 1
            parameter.copy_(scale + 0.2 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """save_pretrained folders: one classification model per family, and a V-JEPA 2 pretraining model."""
    root = tmp_path_factory.mktemp("hf")
    folders = {}
    for seed, (family, config) in enumerate(CONFIGS.items()):
        model = randomized(transformers.AutoModelForVideoClassification.from_config(config()), seed)
        model.save_pretrained(root / family)
        folders[family] = root / family
    randomized(transformers.VJEPA2Model(CONFIGS["vjepa2"]()), 7).save_pretrained(root / "vjepa2_pretraining")
    folders["vjepa2_pretraining"] = root / "vjepa2_pretraining"
    return folders


def head_input(model: torch.nn.Module, videos: torch.Tensor) -> torch.Tensor:
    """What ``model.classifier`` (square Linear) read, solved from transformers' logits: (B, T, C, H, W) -> (B, D)."""
    with torch.no_grad():
        logits = model(videos).logits.double()
    weight, bias = model.classifier.weight.double(), model.classifier.bias.double()
    return torch.linalg.solve(weight, (logits - bias).T).T.float()


@pytest.mark.parametrize("family", ["videomae", "vjepa2", "timesformer"])
def test_embedding_is_what_the_classification_head_reads(folders, family) -> None:
    encoder = build_encoder(f"hf:{folders[family]}", weights="DEFAULT", frames=4, img_size=32)
    original = transformers.AutoModelForVideoClassification.from_pretrained(folders[family]).eval()
    clips = torch.randn(3, 3, 4, 32, 32)  # B C T H W
    with torch.no_grad():
        got = encoder.module(clips)
    assert got.shape == (3, encoder.embedding_dim) == (3, HIDDEN)
    torch.testing.assert_close(got, head_input(original, clips.transpose(1, 2)), rtol=1e-3, atol=1e-3)


def test_videomae_embedding_is_the_token_mean_through_fc_norm(folders) -> None:
    encoder = build_encoder(f"hf:{folders['videomae']}", weights="DEFAULT", frames=4, img_size=32)
    original = transformers.VideoMAEForVideoClassification.from_pretrained(folders["videomae"]).eval()
    clips = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        tokens = original(clips.transpose(1, 2), output_hidden_states=True).hidden_states[-1]  # B N D, no final norm
        torch.testing.assert_close(encoder.module(clips), original.fc_norm(tokens.mean(dim=1)))


def test_vjepa2_pretraining_checkpoint_gives_the_mean_of_its_encoder_tokens(folders) -> None:
    encoder = build_encoder(f"hf:{folders['vjepa2_pretraining']}", weights="DEFAULT", frames=4, img_size=32)
    original = transformers.VJEPA2Model.from_pretrained(folders["vjepa2_pretraining"]).eval()
    clips = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        tokens = original.encoder(pixel_values_videos=clips.transpose(1, 2)).last_hidden_state
        torch.testing.assert_close(encoder.module(clips), tokens.mean(dim=1))


def test_vjepa2_takes_other_clip_sizes_and_videomae_only_its_own(folders) -> None:
    vjepa2 = build_encoder(f"hf:{folders['vjepa2']}", weights="none", frames=6, img_size=48)
    assert vjepa2.module(torch.randn(1, 3, 6, 48, 48)).shape == (1, HIDDEN)
    original = transformers.AutoModelForVideoClassification.from_pretrained(folders["videomae"]).eval()
    with pytest.raises(RuntimeError):  # transformers itself cannot run 8 frames on a 4-frame grid
        original(torch.randn(1, 8, 3, 32, 32))
    with pytest.raises(LitExtractError, match=r"exactly 4 frames of 32x32.*--data.frames 4 --data.img_size 32"):
        build_encoder(f"hf:{folders['videomae']}", weights="none", frames=8, img_size=32)
    with pytest.raises(LitExtractError, match="multiple of 2 frames"):
        build_encoder(f"hf:{folders['vjepa2']}", weights="none", frames=5, img_size=32)


def test_default_normalization_is_the_preprocessor_configs(folders, tmp_path) -> None:
    image = tmp_path / "image"
    transformers.VideoMAEConfig().save_pretrained(image)
    transformers.VideoMAEImageProcessor(image_mean=[0.4, 0.5, 0.6], image_std=[0.2, 0.25, 0.3]).save_pretrained(image)
    assert (image / "preprocessor_config.json").is_file()
    assert default_normalization(f"hf:{image}") == ((0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
    video = tmp_path / "video"
    transformers.VJEPA2Config().save_pretrained(video)
    transformers.VJEPA2VideoProcessor(image_mean=[0.1, 0.2, 0.3], image_std=[0.3, 0.2, 0.1]).save_pretrained(video)
    assert (video / "video_preprocessor_config.json").is_file()
    assert default_normalization(f"hf:{video}") == ((0.1, 0.2, 0.3), (0.3, 0.2, 0.1))
    # without a preprocessor config: the processors' own default, ImageNet's
    from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    assert default_normalization(f"hf:{folders['timesformer']}") == (tuple(IMAGENET_DEFAULT_MEAN), tuple(IMAGENET_DEFAULT_STD))


def test_state_dict_file_with_or_without_classifier_gives_the_folders_features(folders, tmp_path) -> None:
    original = transformers.AutoModelForVideoClassification.from_pretrained(folders["timesformer"])
    full, headless = tmp_path / "full.pth", tmp_path / "headless.safetensors"
    torch.save(original.state_dict(), full)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in original.state_dict().items() if not k.startswith("classifier.")}, headless)
    clips = torch.randn(2, 3, 4, 32, 32)
    expected = build_encoder(f"hf:{folders['timesformer']}", weights="DEFAULT", frames=4, img_size=32).module(clips)
    for path in (full, headless):
        loaded = build_encoder(f"hf:{folders['timesformer']}", weights=str(path), frames=4, img_size=32).module(clips)
        torch.testing.assert_close(loaded, expected)
    random = build_encoder(f"hf:{folders['timesformer']}", weights="none", frames=4, img_size=32).module(clips)
    assert (random - expected).abs().max() > 1e-2


def test_weights_of_another_model_are_refused_in_one_line(folders, tmp_path) -> None:
    other = transformers.AutoModelForVideoClassification.from_pretrained(folders["videomae"])
    torch.save(other.state_dict(), tmp_path / "videomae.pth")
    with pytest.raises(LitExtractError) as info:
        build_encoder(f"hf:{folders['timesformer']}", weights=str(tmp_path / "videomae.pth"), frames=4, img_size=32)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "videomae.pth" in message and "missing" in message


def test_unsupported_model_type_is_refused_naming_the_supported_ones(tmp_path) -> None:
    transformers.BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8).save_pretrained(tmp_path)
    with pytest.raises(LitExtractError, match="holds a 'bert' model; hf: takes videomae, vjepa2, timesformer"):
        build_encoder(f"hf:{tmp_path}", weights="none")


def test_hub_id_outside_the_cache_offline_says_how_to_fetch_it(monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(LitExtractError) as info:
        build_encoder("hf:lit-extract-tests/no-such-model", weights="DEFAULT")
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert "hf download lit-extract-tests/no-such-model --local-dir DIR" in message and "hf:DIR" in message


def test_missing_transformers_is_refused_in_one_line_naming_the_extra(monkeypatch, folders) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(LitExtractError) as info:
        build_encoder(f"hf:{folders['videomae']}", weights="none", frames=4, img_size=32)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert message.endswith("pip install 'lit_extract[hf]'")
