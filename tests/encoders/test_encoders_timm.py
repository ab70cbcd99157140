"""The ``timm:`` family against timm's own forward (and OpenAI CLIP's image tower, written out here)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lit_extract.encoders import build_encoder, default_normalization
from lit_extract.errors import LitExtractError

timm = pytest.importorskip("timm")
from timm.data.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD  # noqa: E402

CLIP_B16 = "vit_base_patch16_clip_quickgelu_224.openai"


def seeded_timm_model(name: str, seed: int, **kwargs) -> nn.Module:
    """timm's ``name`` with seeded weights, random BatchNorm scales and shifts, and running statistics
    measured on random images (a train-mode pass), in eval mode: with default statistics a random-init
    ResNet gives every input the same features."""
    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False, **kwargs)
    norms = [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    for module in norms:
        nn.init.uniform_(module.weight, 0.5, 1.5)
        nn.init.uniform_(module.bias, -0.2, 0.2)
        module.reset_running_stats()
        module.momentum = None  # cumulative average over the calibration pass
    if norms:  # a ViT has none, and takes only its own input size
        with torch.no_grad():
            model.train()(torch.randn(16, 3, 32, 32))
    return model.eval()


def per_frame_mean(image_embedding, clips: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B, D): ``image_embedding`` of each frame, one frame at a time, averaged over T."""
    with torch.no_grad():
        return torch.stack([
            torch.stack([image_embedding(clip[:, t][None])[0] for t in range(clip.shape[1])]).mean(dim=0)
            for clip in clips
        ])


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv3_small_050"])
def test_classifier_embedding_is_per_frame_pre_logits_averaged_over_frames(tmp_path: Path, name: str) -> None:
    original = seeded_timm_model(name, seed=0)  # with its classifier, as timm publishes checkpoints
    torch.save(original.state_dict(), tmp_path / f"{name}.pth")
    torch.manual_seed(1)  # a random init that ignored the file would differ
    encoder = build_encoder(f"timm:{name}", weights=str(tmp_path / f"{name}.pth"), frames=3, img_size=32)
    clips = torch.randn(2, 3, 3, 32, 32)
    expected = per_frame_mean(lambda x: original.forward_head(original.forward_features(x), pre_logits=True), clips)
    with torch.no_grad():
        got = encoder.module(clips)
    assert got.shape == (2, encoder.embedding_dim) == expected.shape  # mobilenetv3: 1024, not num_features 288
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-4)
    assert (expected[0] - expected[1]).abs().max() > 1e-2  # different clips, different features


def test_headless_state_dict_of_the_timm_model_loads(tmp_path: Path) -> None:
    source = seeded_timm_model("resnet18", seed=0, num_classes=0)
    torch.save({"state_dict": source.state_dict()}, tmp_path / "headless.pth")
    encoder = build_encoder("timm:resnet18", weights=str(tmp_path / "headless.pth"), frames=2, img_size=32)
    clips = torch.randn(1, 3, 2, 32, 32)
    torch.testing.assert_close(encoder.module(clips), per_frame_mean(source, clips), rtol=1e-3, atol=1e-4)


def test_weights_of_another_model_are_refused_in_one_line_naming_keys(tmp_path: Path) -> None:
    torch.save(timm.create_model("resnet34").state_dict(), tmp_path / "resnet34.pth")
    with pytest.raises(LitExtractError) as info:
        build_encoder("timm:resnet18", weights=str(tmp_path / "resnet34.pth"), frames=2, img_size=32)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert "resnet34.pth" in message and "timm:resnet18" in message and "unexpected" in message


def openai_layout_clip_b16(seed: int) -> dict[str, torch.Tensor]:
    """Random weights of OpenAI CLIP ViT-B/16's image tower under OpenAI's own names (``visual.*``,
    as ``torch.jit.load("ViT-B-16.pt").state_dict()`` holds them), plus a text key the tower ignores."""
    generator = torch.Generator().manual_seed(seed)
    width, layers, patch, grid, out = 768, 12, 16, 14, 512

    def randn(*shape: int, std: float = 0.02) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * std

    state = {
        "visual.conv1.weight": randn(width, 3, patch, patch),
        "visual.class_embedding": randn(width, std=0.5),
        "visual.positional_embedding": randn(grid * grid + 1, width, std=0.5),
        "visual.proj": randn(width, out, std=0.05),
        "token_embedding.weight": randn(10, 512),
    }
    norms = ["visual.ln_pre", "visual.ln_post"] + [f"visual.transformer.resblocks.{i}.ln_{k}" for i in range(layers) for k in (1, 2)]
    for norm in norms:
        state[f"{norm}.weight"], state[f"{norm}.bias"] = 1 + randn(width, std=0.1), randn(width, std=0.1)
    for i in range(layers):
        block = f"visual.transformer.resblocks.{i}"
        state |= {
            f"{block}.attn.in_proj_weight": randn(3 * width, width), f"{block}.attn.in_proj_bias": randn(3 * width),
            f"{block}.attn.out_proj.weight": randn(width, width), f"{block}.attn.out_proj.bias": randn(width),
            f"{block}.mlp.c_fc.weight": randn(4 * width, width), f"{block}.mlp.c_fc.bias": randn(4 * width),
            f"{block}.mlp.c_proj.weight": randn(width, 4 * width), f"{block}.mlp.c_proj.bias": randn(width),
        }
    return state


def openai_encode_image(state: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """CLIP's ``encode_image`` for ViT-B/16 (Radford et al. 2021), written from the architecture:
    16x16 patches without bias, class token and positions, ln_pre, 12 pre-norm blocks of 12-head
    attention and a QuickGELU MLP, ln_post of the class token, times ``proj``. (N, 3, 224, 224) -> (N, 512)."""
    v = {key[len("visual."):]: value for key, value in state.items() if key.startswith("visual.")}
    width = v["class_embedding"].shape[0]

    def norm(x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, (width,), v[f"{name}.weight"], v[f"{name}.bias"], eps=1e-5)

    x = F.conv2d(images, v["conv1.weight"], stride=16).flatten(2).transpose(1, 2)  # N 196 768
    x = torch.cat([v["class_embedding"].expand(len(x), 1, width), x], dim=1) + v["positional_embedding"]
    x = norm(x, "ln_pre").transpose(0, 1)  # L N D, as nn.MultiheadAttention takes it
    for i in range(12):
        b = f"transformer.resblocks.{i}"
        h = norm(x, f"{b}.ln_1")
        h, _ = F.multi_head_attention_forward(
            h, h, h, width, 12, v[f"{b}.attn.in_proj_weight"], v[f"{b}.attn.in_proj_bias"], None, None, False, 0.0,
            v[f"{b}.attn.out_proj.weight"], v[f"{b}.attn.out_proj.bias"], training=False, need_weights=False)
        x = x + h
        h = F.linear(norm(x, f"{b}.ln_2"), v[f"{b}.mlp.c_fc.weight"], v[f"{b}.mlp.c_fc.bias"])
        x = x + F.linear(h * torch.sigmoid(1.702 * h), v[f"{b}.mlp.c_proj.weight"], v[f"{b}.mlp.c_proj.bias"])
    return norm(x[0], "ln_post") @ v["proj"]


def test_openai_clip_b16_is_the_projected_clip_embedding_of_each_frame_averaged(tmp_path: Path) -> None:
    state = openai_layout_clip_b16(seed=0)
    torch.save(state, tmp_path / "openai_vit_b16_state_dict.pth")
    encoder = build_encoder(f"timm:{CLIP_B16}", weights=str(tmp_path / "openai_vit_b16_state_dict.pth"),
                            frames=2, img_size=224)
    clips = torch.randn(2, 3, 2, 224, 224)
    with torch.no_grad():
        got = encoder.module(clips)
        per_frame = openai_encode_image(state, clips.transpose(1, 2).flatten(0, 1)).view(2, 2, 512)
    assert encoder.embedding_dim == 512
    torch.testing.assert_close(got, per_frame.mean(dim=1), rtol=1e-3, atol=1e-4)
    assert (per_frame[:, 0] - per_frame[:, 1]).abs().max() > 1e-2  # frames differ: the mean is a real average


def test_clip_tower_keeps_timms_projection_head(tmp_path: Path) -> None:
    original = seeded_timm_model("vit_xsmall_patch16_clip_224.tinyclip_yfcc15m", seed=0)
    assert original.num_classes == 512  # timm's pretrained head of this tag: the projection
    torch.save(original.state_dict(), tmp_path / "tinyclip.pth")
    encoder = build_encoder("timm:vit_xsmall_patch16_clip_224.tinyclip_yfcc15m", weights=str(tmp_path / "tinyclip.pth"),
                            frames=2, img_size=224)
    clips = torch.randn(1, 3, 2, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(encoder.module(clips), per_frame_mean(original, clips), rtol=1e-4, atol=1e-5)


def test_head_rule_keeps_exactly_the_image_text_projections_of_timms_registry() -> None:
    """Over every pretrained tag timm lists: the head is kept iff the tag is an image-text (CLIP-style)
    pretraining, told here from the names: 'clip' or Perception Encoder 'pe_core', not fine-tuned on
    ImageNet classes, and not a ``_clip_gap`` tower (timm ships those without the attention-pool projection)."""
    from lit_extract.encoders.timm import keeps_head

    wrong = []
    for tag in timm.list_pretrained():
        architecture, _, pretraining = tag.partition(".")
        image_text = (("clip" in tag or "pe_core" in architecture) and "_clip_gap" not in architecture
                      and not re.search(r"_ft_in|in1k|in12k|in21k|in22k", pretraining))
        if keeps_head(timm.models.get_pretrained_cfg(tag).num_classes) != image_text:
            wrong.append(tag)
    assert wrong == []


def test_default_normalization_is_the_pretrained_configs() -> None:
    assert default_normalization(f"timm:{CLIP_B16}") == (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
    assert default_normalization("timm:resnet18") == (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)


def test_fixed_size_vit_takes_only_its_pretrained_size_checked_before_building() -> None:
    with torch.device("meta"):
        original = timm.create_model("vit_tiny_patch16_224").eval()
        with pytest.raises(AssertionError):  # timm itself cannot run 112 x 112 images
            original(torch.empty(1, 3, 112, 112))
        built = build_encoder("timm:vit_tiny_patch16_224", weights="none", frames=5, img_size=224)
    assert built.module(torch.empty(2, 3, 5, 224, 224, device="meta")).shape == (2, 192)
    with pytest.raises(LitExtractError, match=r"exactly 224x224.*--data.img_size 224"):
        build_encoder("timm:vit_tiny_patch16_224", weights="none", frames=5, img_size=112)


def test_unknown_model_or_tag_is_one_line() -> None:
    with pytest.raises(LitExtractError, match="timm has no model 'resnet_nope'"):
        build_encoder("timm:resnet_nope", weights="none")
    with pytest.raises(LitExtractError, match="timm:resnet18.nope"):
        build_encoder("timm:resnet18.nope", weights="none")


def test_offline_default_names_the_file_to_fetch_and_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # what no network gives, without waiting
    with pytest.raises(LitExtractError) as info:
        build_encoder("timm:resnet18.a1_in1k", weights="DEFAULT", frames=2, img_size=32)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert "model.safetensors from https://huggingface.co/timm/resnet18.a1_in1k" in message
    assert "--model.weights /path/to/that/file" in message


def test_missing_timm_is_refused_in_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ImportError
    with pytest.raises(LitExtractError) as info:
        build_encoder("timm:resnet18", weights="none", frames=2, img_size=32)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert message.startswith("encoder timm:resnet18 needs the timm package")
    assert message.endswith("pip install 'lit_extract[timm]'")
