"""Image-folder videos: a folder of numbered images (``000.jpg``, ``img_00001.png``, ...) is a video.

Frame ids come from the numbers in the file names, read numerically (``img_10`` after ``img_9``):
frame ``k`` is the image numbered ``first + k``, ``first`` being the smallest number in the folder
(so ``000.jpg`` and ``img_00001.png`` both start at frame 0). A number missing from the run
(``005.jpg`` absent between ``004`` and ``006``) is a lost frame, as a damaged stretch of a video
file is; it never shifts the frames after it. When the names carry no usable numbers (one without
digits, or two images with the same number) the images are taken in natural sort order instead.
An image that OpenCV cannot decode is a lost frame too. Images are read as 8-bit BGR
(``cv2.IMREAD_COLOR``, EXIF orientation ignored, as a video decoder ignores it), exactly what a
lossless video of the same pictures decodes to.

A folder has no frame rate: the index gives it (``index --image-fps``, default
:data:`DEFAULT_IMAGE_FPS`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_IMAGE_FPS = 30.0
_NUMBER = re.compile(r"(\d+)")


class FrameLog(Protocol):
    """What the reader reports to (:class:`lit_extract.decode.video.DecodeLog` is one)."""

    def frame(self, k: int) -> None: ...

    def gap(self, first: int, last: int) -> None: ...


def is_image_folder(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a folder (a video given as a folder is a folder of images)."""
    return os.path.isdir(path)


def is_image(name: str) -> bool:
    """True for a file name with an image extension (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _natural_key(name: str) -> tuple[Any, ...]:
    """``"img_10.png"`` -> ``("img_", 10, ".png")``: numbers compare as numbers."""
    return tuple(int(part) if part.isdigit() else part for part in _NUMBER.split(name))


def _number(name: str) -> int | None:
    """The last run of digits in a file name's stem, or None."""
    digits = _NUMBER.findall(os.path.splitext(name)[0])
    return int(digits[-1]) if digits else None


def frame_files(folder: str | os.PathLike[str]) -> dict[int, Path]:
    """Frame id -> image file of an image folder (see the module docstring); empty when it has no image."""
    names = sorted((entry.name for entry in os.scandir(folder) if entry.is_file() and is_image(entry.name)),
                   key=_natural_key)
    numbers = [_number(name) for name in names]
    if names and None not in numbers and len(set(numbers)) == len(numbers):
        first = min(numbers)  # type: ignore[type-var]
        return {number - first: Path(folder, name) for number, name in zip(numbers, names)}  # type: ignore[operator]
    return {k: Path(folder, name) for k, name in enumerate(names)}


def read_image(path: str | os.PathLike[str]) -> np.ndarray | None:
    """An image as BGR (H, W, 3) uint8, or None when it cannot be read or decoded."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)


def iter_images(
    folder: str,
    wanted: set[int],
    last: int,
    convert: Callable[[np.ndarray], Any],
    log: FrameLog,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(k, convert(bgr))`` for each frame ``k`` in ``wanted`` (ascending, ``k <= last``) of an image folder.

    Only wanted images are read. ``log`` gets every frame present up to ``last`` (``frame``) and
    the lost ones (``gap``): numbers missing from the run, wanted images that do not decode, and
    frames past the folder's last image up to ``last``.
    """
    files = frame_files(folder)
    expected = 0
    for k in sorted(files):
        if k > last:
            break
        if k > expected:
            log.gap(expected, k - 1)
        expected = k + 1
        if k not in wanted:
            log.frame(k)
            continue
        bgr = read_image(files[k])
        if bgr is None:
            log.gap(k, k)
            continue
        log.frame(k)
        yield k, convert(bgr)
    log.gap(expected, last)
