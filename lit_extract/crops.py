"""Ten-crop geometry on one decoded frame (``--data.crops 10``), as pure functions.

The weakly-supervised anomaly-detection methods (RTFM, MGFN, UR-DMU, ...) train on ten-crop clip
features. Each decoded BGR frame (H, W, 3) uint8 is

1. resized so that its shorter side is ``resize_short`` and its longer side keeps the aspect ratio,
   rounded half up (UCF-Crime's 320 x 240 -> 341 x 256), with cv2 ``INTER_LINEAR`` -- the same
   bilinear interpolation as the one-crop path's square resize (:func:`lit_extract.video.resize_frame`);
2. cut into ten ``img_size x img_size`` crops in torchvision ``TenCrop`` order: top-left,
   top-right, bottom-left, bottom-right, centre, then the same five of the horizontally flipped
   frame. The centre crop's offsets are ``int(round((side - img_size) / 2))`` (Python's round,
   as ``torchvision.transforms.functional.center_crop``).

Crops stay BGR, like the one-crop path's frames; the swap to RGB happens when a clip is copied
into its batch slot (:func:`lit_extract.video.write_clip`). A clip's crop ``c`` is made of crop
``c`` of each of its frames, so every crop of a clip comes from the same decoded frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CROPS = 10


def short_side_shape(height: int, width: int, resize_short: int) -> tuple[int, int]:
    """``(height, width)`` after resizing the shorter side to ``resize_short``; the longer side is
    scaled by the same factor and rounded half up (integer arithmetic, no float ties)."""
    if height <= width:
        return resize_short, (2 * width * resize_short + height) // (2 * height)
    return (2 * height * resize_short + width) // (2 * width), resize_short


def resize_short_side(bgr: np.ndarray, resize_short: int) -> np.ndarray:
    """One (H, W, 3) uint8 frame resized so that its shorter side is ``resize_short`` (cv2 INTER_LINEAR)."""
    height, width = short_side_shape(bgr.shape[0], bgr.shape[1], resize_short)
    return cv2.resize(bgr, (width, height), interpolation=cv2.INTER_LINEAR)


def five_crop_corners(height: int, width: int, size: int) -> list[tuple[int, int]]:
    """``(top, left)`` of torchvision's five crops of a (height, width) image: tl, tr, bl, br, centre."""
    bottom, right = height - size, width - size
    centre = (int(round(bottom / 2.0)), int(round(right / 2.0)))
    return [(0, 0), (0, right), (bottom, 0), (bottom, right), centre]


def ten_crop(frame: np.ndarray, size: int) -> np.ndarray:
    """The ten ``size x size`` crops of an (H, W, 3) frame in torchvision ``TenCrop`` order, as (10, size, size, 3).

    Crops 0-4: tl, tr, bl, br, centre of ``frame``; crops 5-9: the same five of ``frame[:, ::-1]``
    (horizontal flip). Raises ``ValueError`` when ``size`` exceeds either side.
    """
    height, width = frame.shape[:2]
    if size > height or size > width:
        raise ValueError(f"crop size {size} is bigger than the frame ({height} x {width})")
    out = np.empty((CROPS, size, size, *frame.shape[2:]), dtype=frame.dtype)
    corners = five_crop_corners(height, width, size)
    for half, image in enumerate((frame, frame[:, ::-1])):
        for i, (top, left) in enumerate(corners):
            out[half * 5 + i] = image[top : top + size, left : left + size]
    return out


@dataclass(frozen=True)
class TenCrop:
    """The per-frame transform of ``--data.crops 10``: BGR (H, W, 3) -> BGR (10, img_size, img_size, 3) uint8.

    ``resize_short_side`` then ``ten_crop``; ``shape`` is the output shape (for the zeros that
    stand in for an unreadable frame).
    """

    resize_short: int
    img_size: int

    def __post_init__(self) -> None:
        if self.resize_short < self.img_size:
            raise ValueError(f"resize_short {self.resize_short} is smaller than the crop size {self.img_size}")

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (CROPS, self.img_size, self.img_size, 3)

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        return ten_crop(resize_short_side(bgr, self.resize_short), self.img_size)
