"""Crop geometry on one decoded frame (``--data.crops 5`` and ``10``, and one centre crop), as pure functions.

The weakly-supervised anomaly-detection methods (RTFM, MGFN, UR-DMU, ...) train on ten-crop clip
features. Each decoded BGR frame (H, W, 3) uint8 is

1. resized so that its shorter side is ``resize_short`` and its longer side keeps the aspect ratio,
   rounded half up (UCF-Crime's 320 x 240 -> 341 x 256), with cv2 ``INTER_LINEAR`` -- the same
   bilinear interpolation as the one-crop path's square resize (:func:`lit_extract.decode.video.resize_frame`);
2. cut into ten ``img_size x img_size`` crops in torchvision ``TenCrop`` order: top-left,
   top-right, bottom-left, bottom-right, centre, then the same five of the horizontally flipped
   frame. The centre crop's offsets are ``int(round((side - img_size) / 2))`` (Python's round,
   as ``torchvision.transforms.functional.center_crop``).

:class:`CropGeometry` generalizes this (``TenCrop`` is its default case, kept as it was): a fixed
``width x height`` resize instead of the shorter side's (``--data.resize 340x256``), five crops
(no flips) or ten, and the order of the five (``--data.crop_order``):

==================  ==========================================  ========================================
order               the five crops (ten: then the same five      whose
                    of the horizontally flipped frame)
==================  ==========================================  ========================================
``torchvision``     tl, tr, bl, br, centre                       ``torchvision.transforms.TenCrop``
``i3d_extractor``   tl, tr, centre, bl, br                       the I3D ResNet-50 extractor of RTFM's
                                                                 UCF-Crime / ShanghaiTech features
``centre_first``    centre, tl, tr, bl, br                       XD-Violence's five-crop I3D files
                                                                 (``__0`` = centre, ``__1..__4`` corners)
==================  ==========================================  ========================================

One crop, ``--data.crops 1 --data.crop_order centre`` (the two-stream I3D recipe of video_features
and the THUMOS'14 features): the frame resized the same way (shorter side ``resize_short``, or
``resize``) and the centre box alone, ``int(round((side - size) / 2))`` -- the five crops' centre.
Its frames are (img_size, img_size, 3), as a one-crop frame: no crops axis. Plain ``--data.crops 1``
(no geometry) resizes the whole frame to ``img_size x img_size`` instead.

Every order cuts the same boxes (the centre at ``int(round((side - size) / 2))``: rows 16:240,
cols 58:282 of a 340 x 256 frame, as the extractor's hard-coded box); only their order differs.
A flipped crop is a box of the mirrored frame, so crop 5 of ``torchvision`` order (tl of the flip)
is the mirror image of the frame's top-right corner.

Crops stay BGR, like the one-crop path's frames; the swap to RGB happens when a clip is copied
into its batch slot (:func:`lit_extract.decode.video.write_clip`). A clip's crop ``c`` is made of crop
``c`` of each of its frames, so every crop of a clip comes from the same decoded frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

CROPS = 10
CROP_COUNTS = (1, 5, 10)  # --data.crops: one resized frame (or its centre crop), five crops, ten crops
CENTRE = "centre"  # the one-crop order: --data.crops 1 --data.crop_order centre

CropOrder = Literal["torchvision", "i3d_extractor", "centre_first", "centre"]
BOX_NAMES = ("top_left", "top_right", "bottom_left", "bottom_right", "centre")  # five_crop_corners' order
CROP_ORDERS: dict[str, tuple[str, ...]] = {
    "torchvision": BOX_NAMES,
    "i3d_extractor": ("top_left", "top_right", "centre", "bottom_left", "bottom_right"),
    "centre_first": ("centre", "top_left", "top_right", "bottom_left", "bottom_right"),
}


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


def default_order(crops: int) -> CropOrder:
    """The crop order ``--data.crop_order auto`` takes: ten crops in torchvision ``TenCrop`` order (as
    they always were), five with the centre first (as XD-Violence's published ``__0``..``__4`` files)."""
    return "torchvision" if crops == CROPS else "centre_first"


def parse_size(text: str) -> tuple[int, int]:
    """``"340x256"`` -> ``(340, 256)`` (width, height); raises ``ValueError`` for anything else."""
    parts = str(text).lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise ValueError(f"{text!r} is not WIDTHxHEIGHT (e.g. 340x256)")
    width, height = (int(part) for part in parts)
    if width < 1 or height < 1:
        raise ValueError(f"{text!r}: width and height must be >= 1")
    return width, height


def crop_boxes(height: int, width: int, size: int, crops: int, order: CropOrder) -> list[tuple[int, int, bool]]:
    """``(top, left, flipped)`` of each of the ``crops`` (1, 5 or 10) ``size x size`` crops of a
    (height, width) frame, in output order. ``flipped``: the box is on the horizontally mirrored frame.
    One crop (``order`` ``centre``): the centre box alone."""
    corners = dict(zip(BOX_NAMES, five_crop_corners(height, width, size)))
    if crops == 1:
        return [(*corners["centre"], False)]
    five = [corners[name] for name in CROP_ORDERS[order]]
    return [(top, left, flipped) for flipped in ((False, True) if crops == CROPS else (False,)) for top, left in five]


@dataclass(frozen=True)
class CropGeometry:
    """The per-frame transform of ``--data.crops 5`` / ``10``: BGR (H, W, 3) -> BGR (crops, img_size, img_size, 3) uint8;
    of ``--data.crops 1 --data.crop_order centre``: BGR (H, W, 3) -> BGR (img_size, img_size, 3) uint8 (no crops axis).

    The frame is resized (cv2 ``INTER_LINEAR``) to ``resize`` = (width, height) when given, else so
    that its shorter side is ``resize_short``; then cut into :func:`crop_boxes` in ``order``
    (``centre`` for one crop, one of :data:`CROP_ORDERS` for five or ten).
    ``crops=10, resize=None, order="torchvision"`` is :class:`TenCrop`, bit for bit. The device path
    (:func:`lit_extract.decode.device_transform.crops_from_native`) cuts the same boxes.
    """

    crops: int
    img_size: int
    resize_short: int = 256
    resize: tuple[int, int] | None = None  # (width, height)
    order: CropOrder = "torchvision"

    def __post_init__(self) -> None:
        if self.crops not in CROP_COUNTS:
            raise ValueError(f"crops must be one of {', '.join(map(str, CROP_COUNTS))}, got {self.crops}")
        if self.crops == 1 and self.order != CENTRE:
            raise ValueError(f"one crop is the centre crop (order {CENTRE!r}), got {self.order!r}")
        if self.crops > 1 and self.order not in CROP_ORDERS:
            raise ValueError(f"crop order {self.order!r}: choose one of {', '.join(CROP_ORDERS)}")
        if self.resize is None and self.resize_short < self.img_size:
            raise ValueError(f"resize_short {self.resize_short} is smaller than the crop size {self.img_size}")
        if self.resize is not None and min(self.resize) < self.img_size:
            raise ValueError(f"resize {self.resize[0]}x{self.resize[1]} is smaller than the crop size {self.img_size}")

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one transformed frame: (crops, img_size, img_size, 3), (img_size, img_size, 3) for one crop."""
        frame = (self.img_size, self.img_size, 3)
        return frame if self.crops == 1 else (self.crops, *frame)

    def resized_shape(self, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` of a (height, width) frame after the resize."""
        if self.resize is not None:
            return self.resize[1], self.resize[0]
        return short_side_shape(height, width, self.resize_short)

    def boxes(self, height: int, width: int) -> list[tuple[int, int, bool]]:
        """The crop boxes of a (height, width) frame, on its resized size (:func:`crop_boxes`)."""
        return crop_boxes(*self.resized_shape(height, width), self.img_size, self.crops, self.order)

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        height, width = self.resized_shape(*bgr.shape[:2])
        resized = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_LINEAR)
        images = (resized, resized[:, ::-1])
        out = np.empty((self.crops, self.img_size, self.img_size, *bgr.shape[2:]), dtype=bgr.dtype)
        for c, (top, left, flipped) in enumerate(crop_boxes(height, width, self.img_size, self.crops, self.order)):
            out[c] = images[flipped][top : top + self.img_size, left : left + self.img_size]
        return out[0] if self.crops == 1 else out  # one crop: a frame, as the one-crop path's
