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
and under 1% relative error in the embeddings of every encoder (tests/decode/test_device_transform.py).

With ``--data.decoder pyav`` the workers do not convert colours either: frames in YUV 4:2:0
arrive as the decoder's planes and are converted here by a table of the decoder's own conversion,
bit for bit (:mod:`lit_extract.decode.yuv`), so the clips equal those made from RGB frames.

Several crops (``--data.crops 5`` / ``10``) or the centre crop (``--data.crops 1 --data.crop_order
centre``), :func:`crops_from_native`: the workers ship the same
native-size frames; here each frame is resized to the crop geometry's size (its shorter side, or a
fixed ``--data.resize``) by the same formula, and the crops (and, for ten, the crops of the
mirrored frame) are cut from it: the boxes of :class:`lit_extract.decode.crops.CropGeometry`, so the crops
are the exact path's crops within the resize's rounding. The data module does it when a batch
reaches the device (``ClipDataModule.on_after_batch_transfer``), so ``predict_step`` receives
(B, crops, C, T, H, W) clips (the centre crop: (B, C, T, H, W)) as from the exact path.

Batch layout (made by :class:`lit_extract.extract.data.VideoClipStream`)::

    frames  uint8 (B, T, S)   per frame: its R, G, B planes (3, h, w), or its packed Y, U, V planes
                              (lit_extract.decode.yuv), first, then padding
    sizes   int64 (B, 2)      h, w of each clip's video (a batch may mix videos of several sizes)
    colour  int64 (B, T)      per frame: 0 for R, G, B planes, else its lit_extract.decode.yuv.colour_code
                              (absent: every frame is R, G, B planes)
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from lit_extract.decode.crops import CropGeometry
from lit_extract.decode.yuv import RGB, yuv420_to_rgb


def resize_bilinear(images: torch.Tensor, img_size: int) -> torch.Tensor:
    """float (N, C, H, W) -> float (N, C, img_size, img_size): cv2.INTER_LINEAR's formula, rounded."""
    return resize_bilinear_to(images, img_size, img_size)


def resize_bilinear_to(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """float (N, C, H, W) -> float (N, C, height, width): cv2.INTER_LINEAR's formula, rounded."""
    if images.shape[-2:] == (height, width):
        return images
    resized = F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False, antialias=False)
    return resized.round_().clamp_(0.0, 255.0)


def frames_to_rgb(planes: torch.Tensor, height: int, width: int, colour: torch.Tensor) -> torch.Tensor:
    """uint8 (N, S) frames of one size, each R, G, B planes or packed YUV 4:2:0 as ``colour`` (N,) says,
    -> uint8 RGB (N, 3, h, w) on ``planes``' device."""
    out = torch.empty((planes.shape[0], 3, height, width), dtype=torch.uint8, device=planes.device)
    for code in torch.unique(colour).tolist():
        members = (colour == code).nonzero().flatten().to(planes.device)
        if code == RGB:
            out[members] = planes[members, : 3 * height * width].view(len(members), 3, height, width)
        else:
            out[members] = yuv420_to_rgb(planes[members], height, width, code)
    return out


def clips_from_native(
    frames: torch.Tensor, sizes: torch.Tensor, img_size: int, colour: torch.Tensor | None = None
) -> torch.Tensor:
    """A device-path batch -> float32 RGB clips (B, 3, T, img_size, img_size) with whole values in [0, 255].

    ``frames`` uint8 (B, T, S) on the device, ``sizes`` int64 (B, 2) and ``colour`` int64 (B, T) (None:
    every frame is R, G, B planes) on the host, as the module docstring lays them out; the clips of
    each frame size are converted and resized together.
    """
    batch, length = frames.shape[:2]
    out = torch.empty((batch, length, 3, img_size, img_size), dtype=torch.float32, device=frames.device)  # B T C H W
    for members, _, _, rgb in rgb_by_size(frames, sizes, colour):
        resized = resize_bilinear(rgb.float(), img_size)
        out[members] = resized.view(len(members), length, 3, img_size, img_size)
    return out.permute(0, 2, 1, 3, 4)  # B T C H W -> B C T H W


def rgb_by_size(
    frames: torch.Tensor, sizes: torch.Tensor, colour: torch.Tensor | None
) -> Iterator[tuple[torch.Tensor, int, int, torch.Tensor]]:
    """The clips of a device-path batch grouped by frame size: for each (height, width), the clips'
    positions in the batch (on ``frames``' device) and their frames as uint8 RGB ((B' T), 3, H, W)."""
    batch, length = frames.shape[:2]
    sizes = sizes.cpu()
    colour = torch.zeros((batch, length), dtype=torch.int64) if colour is None else colour.cpu()
    for height, width in torch.unique(sizes, dim=0).tolist():
        members = (sizes == torch.tensor([height, width])).all(dim=1).nonzero().flatten()
        # the bytes a frame of this size takes, as R, G, B planes (YUV planes take half)
        planes = frames[members.to(frames.device), :, : 3 * height * width].flatten(0, 1)  # (B' T) S
        yield members.to(frames.device), height, width, frames_to_rgb(planes, height, width, colour[members].flatten())


def crops_from_native(
    frames: torch.Tensor, sizes: torch.Tensor, geometry: CropGeometry, colour: torch.Tensor | None = None
) -> torch.Tensor:
    """A device-path batch -> uint8 RGB crops (B, crops, 3, T, img_size, img_size) on ``frames``' device;
    the centre crop of one-crop geometry (``--data.crop_order centre``) -> (B, 3, T, img_size, img_size), as
    the exact path's one-crop clips.

    The inputs are :func:`clips_from_native`'s. Each frame is resized to
    ``geometry.resized_shape(h, w)`` (cv2.INTER_LINEAR's formula, rounded to whole grey levels) and
    cut into ``geometry.boxes(h, w)``; a flipped box is cut from the horizontally mirrored frame.
    """
    batch, length = frames.shape[:2]
    size = geometry.img_size
    out = torch.empty((batch, geometry.crops, 3, length, size, size), dtype=torch.uint8, device=frames.device)
    for members, height, width, rgb in rgb_by_size(frames, sizes, colour):
        resized = resize_bilinear_to(rgb.float(), *geometry.resized_shape(height, width)).to(torch.uint8)
        images = (resized, resized.flip(-1) if geometry.crops == 10 else None)  # the frame; its mirror for flipped boxes
        crops = torch.stack(
            [images[flipped][:, :, top : top + size, left : left + size] for top, left, flipped in geometry.boxes(height, width)],
            dim=1,
        )  # (B' T) crops C S S
        crops = crops.view(len(members), length, geometry.crops, 3, size, size)  # B' T crops C S S
        out[members] = crops.permute(0, 2, 3, 1, 4, 5)  # -> B' crops C T S S
    return out[:, 0] if geometry.crops == 1 else out  # one crop: B C T S S, no crops axis
