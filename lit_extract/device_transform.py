"""The device-side transform: decoded RGB frames at native size -> clips of ``img_size`` on the GPU.

With ``--data.transform device`` the DataLoader workers decode and convert colours (the decoder's
own BGR conversion, the same as the exact path's) but do not resize: each sampled frame is
shipped at the video's native size, and the bilinear resize runs here, on the device, where it
is nearly free. On a CPU-bound GPU machine this removes the largest cost after decoding
(cv2.resize: ~0.12 ms a frame, 1 ms per 8-frame clip; benchmarks/README.md).

The resize is cv2.INTER_LINEAR's formula (bilinear, half-pixel centres, no antialiasing, which is
``F.interpolate(mode="bilinear", align_corners=False, antialias=False)``), rounded to whole grey
levels and clipped to [0, 255] as an 8-bit image is. It differs from the exact path only in
rounding (OpenCV interpolates in fixed point): about 0.1 grey levels on average, at most a few,
and under 1% relative error in the embeddings of every encoder (tests/test_device_transform.py).

Batch layout (made by :class:`lit_extract.data.VideoClipStream`)::

    frames  uint8 (B, T, S)   per frame: its R, G, B planes (3, h, w) packed first, then padding
    sizes   int64 (B, 2)      h, w of each clip's video (a batch may mix videos of several sizes)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_bilinear(images: torch.Tensor, img_size: int) -> torch.Tensor:
    """float (N, C, H, W) -> float (N, C, img_size, img_size): cv2.INTER_LINEAR's formula, rounded."""
    if images.shape[-2:] == (img_size, img_size):
        return images
    resized = F.interpolate(images, size=(img_size, img_size), mode="bilinear", align_corners=False, antialias=False)
    return resized.round_().clamp_(0.0, 255.0)


def clips_from_native(frames: torch.Tensor, sizes: torch.Tensor, img_size: int) -> torch.Tensor:
    """A device-path batch -> float32 RGB clips (B, 3, T, img_size, img_size) with whole values in [0, 255].

    ``frames`` uint8 (B, T, S) on the device and ``sizes`` int64 (B, 2) on the host, as the module
    docstring lays them out; the clips of each frame size are resized together.
    """
    batch, length = frames.shape[:2]
    out = torch.empty((batch, length, 3, img_size, img_size), dtype=torch.float32, device=frames.device)  # B T C H W
    sizes = sizes.cpu()
    for height, width in torch.unique(sizes, dim=0).tolist():
        members = (sizes == torch.tensor([height, width])).all(dim=1).nonzero().flatten().to(frames.device)
        planes = frames[members, :, : 3 * height * width].reshape(len(members) * length, 3, height, width)  # (B' T) C H W
        resized = resize_bilinear(planes.float(), img_size)
        out[members] = resized.view(len(members), length, 3, img_size, img_size)
    return out.permute(0, 2, 1, 3, 4)  # B T C H W -> B C T H W
