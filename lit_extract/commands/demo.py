"""The built-in demo's synthetic videos, and the barcode videos the tests read frame by frame.

The demo (:func:`write_demo_videos`, :data:`DEMO_DATA` says it in words): every video shows four
shapes (discs and squares of random colours and sizes) gliding and bouncing over a textured
background of a random colour, with sensor noise. Class ``Normal`` (y=0) and class ``Fighting``
(y=1) draw shapes, colours, sizes and backgrounds from the same distributions and differ only in
how fast the shapes move (:data:`SPEEDS`, ranges that overlap): no single frame tells the class,
a clip's motion does, and not always. So a probe has something to learn, and encoders that see
motion differently score differently (``compare``'s order means something).

The test videos (:func:`barcode_frame`): every frame carries its own index as a barcode
(``BARCODE_BITS`` black/white vertical stripes in the top band, most significant bit first), so a
reader can prove which frame it got; ``Normal`` shows a slow grey disc on a dark background,
``Fighting`` a fast red square on a light one. Videos are laid out as
``<root>/videos/<split>/<category>/*.mp4``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

BARCODE_BITS = 10  # frame ids up to 1023
CLASSES = {"Normal": 0, "Fighting": 1}
# Speed of the demo's shapes, pixels per frame at 160 pixels of width, drawn per shape: the ranges
# overlap between 1.6 and 2.2, so some videos of either class move alike.
SPEEDS = {"Normal": (0.4, 2.2), "Fighting": (1.6, 5.0)}
SHAPES = 4
DEMO_SPLITS = {"train": 16, "val": 4, "test": 8}  # videos per split, half of each class
DEMO_DATA = ("synthetic videos of four shapes moving over a textured background; Normal and Fighting differ "
             "only in how fast the shapes move (speeds overlap), not in colour, size or background")


def barcode_frame(k: int, width: int, height: int, category: str, seed: int = 0) -> np.ndarray:
    """Frame ``k`` of a demo video as RGB (height, width, 3) uint8; its top half is the barcode of ``k``."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi)
    frame = np.empty((height, width, 3), np.uint8)
    if CLASSES[category] == 0:
        frame[:] = (40, 40, 50)
        x = int(width / 2 + width / 4 * np.sin(phase + 0.05 * k))
        cv2.circle(frame, (x, int(height * 0.75)), height // 8, (150, 150, 150), -1)
    else:
        frame[:] = (200, 200, 190)
        x = int(width / 2 + width / 3 * np.sin(phase + 0.4 * k))
        side = height // 6
        cv2.rectangle(frame, (x - side, int(height * 0.75) - side), (x + side, int(height * 0.75) + side), (220, 30, 30), -1)
    stripe = width // BARCODE_BITS
    for bit in range(BARCODE_BITS):
        on = (k >> (BARCODE_BITS - 1 - bit)) & 1
        frame[: height // 2, bit * stripe : (bit + 1) * stripe] = 255 if on else 0
    return frame


def demo_frames(n_frames: int, width: int, height: int, category: str, seed: int) -> Iterator[np.ndarray]:
    """The ``n_frames`` RGB (height, width, 3) uint8 frames of one demo video of ``category`` (see the
    module docstring); the same ``seed`` gives the same video."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    tilt = rng.uniform(-0.1, 0.1, (2, 3)) * 160 / width  # a gentle colour gradient, (x, y) x RGB
    background = rng.uniform(80, 170, 3) + xx[..., None] * tilt[0] + yy[..., None] * tilt[1]  # H W C
    background += cv2.GaussianBlur(rng.normal(0, 20, (height, width, 3)).astype(np.float32), (0, 0), 3)
    low, high = SPEEDS[category]
    shapes = []
    for _ in range(SHAPES):
        speed, angle = rng.uniform(low, high) * width / 160, rng.uniform(0, 2 * np.pi)
        start, velocity = rng.uniform(0.2, 0.8, 2) * (width, height), speed * np.array([np.cos(angle), np.sin(angle)])
        radius, colour = int(rng.uniform(0.08, 0.16) * height), tuple(rng.uniform(0, 255, 3).tolist())
        shapes.append((start, velocity, radius, colour, rng.random() < 0.5))
    for k in range(n_frames):
        frame = background.copy()
        for start, velocity, radius, colour, disc in shapes:
            x, y = start + velocity * k
            x, y = int(width - abs(x % (2 * width) - width)), int(height - abs(y % (2 * height) - height))  # bouncing
            if disc:
                cv2.circle(frame, (x, y), radius, colour, -1)
            else:
                cv2.rectangle(frame, (x - radius, y - radius), (x + radius, y + radius), colour, -1)
        frame += rng.normal(0, 4, frame.shape).astype(np.float32)  # sensor noise
        yield np.clip(frame, 0, 255).astype(np.uint8)


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 30.0, codec: str = "mp4v") -> Path:
    """Write RGB uint8 frames to ``path``. ``codec``: ``mp4v`` (OpenCV) or ``h264`` (PyAV/libx264, with B-frames)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    if codec == "h264":
        import av

        with av.open(str(path), mode="w") as container:
            stream = container.add_stream("libx264", rate=int(round(fps)))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"bf": "2", "g": "32", "crf": "18", "preset": "veryfast"}
            for frame in (first, *frames):
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return path
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV can't write codec {codec!r}")
    try:
        for frame in (first, *frames):
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def write_demo_videos(
    root: str | Path,
    videos_per_split: dict[str, int] | None = None,
    n_frames: int = 80,
    width: int = 160,
    height: int = 120,
) -> list[Path]:
    """Write the demo videos (half per class in each split) under ``root/videos``; return their paths.

    Existing files are kept, so a second call costs nothing, unless ``root/videos/DEMO_DATA.txt`` is
    missing or describes other data (videos of an older demo): then every video is written anew.
    """
    videos_per_split = videos_per_split or DEMO_SPLITS
    current = demo_data_is_current(root)
    written = []
    seed = 0
    for split, count in videos_per_split.items():
        for i in range(count):
            category = list(CLASSES)[i % len(CLASSES)]
            path = Path(root) / "videos" / split / category / f"{category}_{split}_{i:03d}.mp4"
            seed += 1
            if not (current and path.is_file()):
                write_video(path, demo_frames(n_frames, width, height, category, seed))
            written.append(path)
    marker = demo_data_marker(root)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(DEMO_DATA + "\n")
    return written


def demo_data_marker(root: str | Path) -> Path:
    """The file that says which demo data ``root/videos`` holds (:data:`DEMO_DATA`)."""
    return Path(root) / "videos" / "DEMO_DATA.txt"


def demo_data_is_current(root: str | Path) -> bool:
    """Whether ``root/videos`` holds this version's demo videos (written by :func:`write_demo_videos`)."""
    marker = demo_data_marker(root)
    return marker.is_file() and marker.read_text().strip() == DEMO_DATA
