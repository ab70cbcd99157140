"""FrozenVideoEncoder: normalization on the device equals the notebook's, the encoder stays frozen."""

from __future__ import annotations

import numpy as np
import torch
import torchvision

from lit_extract.module import FrozenVideoEncoder


def test_normalize_is_bit_identical_to_the_notebook_arithmetic():
    clips = torch.randint(0, 256, (2, 3, 4, 8, 8), dtype=torch.uint8)
    module = FrozenVideoEncoder("r3d_18", weights="none", frames=4, img_size=8)
    frames = clips.numpy().transpose(0, 2, 3, 4, 1)  # B T H W C, as the notebook held them
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    expected = ((frames.astype(np.float32) / 255.0 - mean) / std).transpose(0, 4, 1, 2, 3)
    np.testing.assert_array_equal(module.normalize(clips).numpy(), expected)


def test_encoder_stays_frozen_and_in_eval_mode():
    module = FrozenVideoEncoder("r3d_18", weights="none", frames=4, img_size=16)
    module.train()
    assert not module.training and not any(m.training for m in module.modules())
    assert not any(p.requires_grad for p in module.parameters())


def test_predict_step_returns_the_headless_torchvision_features(tmp_path):
    torch.manual_seed(1)
    reference = torchvision.models.video.r3d_18()
    torch.save(reference.state_dict(), tmp_path / "w.pth")
    reference.fc = torch.nn.Identity()
    reference.eval()
    module = FrozenVideoEncoder("r3d_18", weights=str(tmp_path / "w.pth"), frames=4, img_size=16)
    clips = torch.randint(0, 256, (2, 3, 4, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        expected = reference(module.normalize(clips))
        got = module.predict_step({"clips": clips}, 0)
    assert got.shape == (2, module.embedding_dim) == (2, 512)
    torch.testing.assert_close(got, expected)


def test_channels_last_gives_the_same_embeddings():
    torch.manual_seed(2)
    plain = FrozenVideoEncoder("r3d_18", weights="none", frames=4, img_size=16)
    fast = FrozenVideoEncoder("r3d_18", weights="none", frames=4, img_size=16, channels_last=True)
    fast.load_state_dict(plain.state_dict())
    clips = torch.randint(0, 256, (2, 3, 4, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(fast(clips), plain(clips), rtol=1e-4, atol=1e-4)


def test_bf16_autocast_stays_close_to_float32():
    module = FrozenVideoEncoder("r3d_18", weights="none", frames=4, img_size=16)
    clips = torch.randint(0, 256, (2, 3, 4, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        full = module(clips)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = module(clips)
    torch.testing.assert_close(half.float(), full, rtol=0.05, atol=0.05)
