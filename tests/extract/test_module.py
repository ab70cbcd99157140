"""FrozenVideoEncoder: normalization on the device equals the notebook's, the encoder stays frozen."""

from __future__ import annotations

import numpy as np
import torch
import torchvision

from lit_extract.extract.module import FrozenVideoEncoder


def expected_normalization(clips: torch.Tensor, mean, std) -> np.ndarray:
    """The notebook's float32 arithmetic on (B, C, T, H, W) uint8 clips."""
    frames = clips.numpy().transpose(0, 2, 3, 4, 1)  # B T H W C, as the notebook held them
    mean, std = np.array(mean, dtype=np.float32), np.array(std, dtype=np.float32)
    return ((frames.astype(np.float32) / 255.0 - mean) / std).transpose(0, 4, 1, 2, 3)


def test_normalize_is_bit_identical_to_the_notebook_arithmetic():
    clips = torch.randint(0, 256, (2, 3, 4, 8, 8), dtype=torch.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # the notebook's
    module = FrozenVideoEncoder("r3d_18", weights="none", frames=4, img_size=8, mean=mean, std=std)
    np.testing.assert_array_equal(module.normalize(clips).numpy(), expected_normalization(clips, mean, std))


def test_default_normalization_is_the_one_the_encoders_weights_declare():
    clips = torch.randint(0, 256, (2, 3, 4, 8, 8), dtype=torch.uint8)
    declared = torchvision.models.video.R3D_18_Weights.DEFAULT.transforms()
    module = FrozenVideoEncoder("r3d_18", weights="none", frames=4, img_size=8)
    np.testing.assert_array_equal(module.normalize(clips).numpy(), expected_normalization(clips, declared.mean, declared.std))
    assert (module.mean_used, module.std_used) == (tuple(declared.mean), tuple(declared.std))


def test_explicit_mean_and_std_win_over_the_declared_ones():
    module = FrozenVideoEncoder("r3d_18", weights="none", frames=4, img_size=8, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    assert (module.mean_used, module.std_used) == ((0.5, 0.5, 0.5), (0.25, 0.5, 1.0))
    white = torch.full((1, 3, 1, 8, 8), 255, dtype=torch.uint8)
    np.testing.assert_array_equal(module.normalize(white)[0, :, 0, 0, 0].numpy(), np.float32([2.0, 1.0, 0.5]))


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

