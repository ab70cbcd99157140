"""The built-in demo: a small synthetic video dataset of two classes that look different.

Every frame carries its own index as a barcode (``BARCODE_BITS`` black/white vertical stripes in
the top band, most significant bit first), so a reader can prove which frame it got. Class
``Normal`` (y=0) shows a slow grey disc on a dark background; class ``Fighting`` (y=1) a fast
red square on a light background. Videos are laid out as ``<root>/videos/<split>/<category>/*.mp4``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

BARCODE_BITS = 10  # frame ids up to 1023
CLASSES = {"Normal": 0, "Fighting": 1}


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
    n_frames: int = 96,
    width: int = 160,
    height: int = 120,
) -> list[Path]:
    """Write the demo videos (half per class in each split) under ``root/videos``; return their paths.

    Existing files are kept, so a second call costs nothing.
    """
    videos_per_split = videos_per_split or {"train": 12, "val": 4, "test": 4}
    written = []
    seed = 0
    for split, count in videos_per_split.items():
        for i in range(count):
            category = list(CLASSES)[i % len(CLASSES)]
            path = Path(root) / "videos" / split / category / f"{category}_{split}_{i:03d}.mp4"
            seed += 1
            if not path.is_file():
                frames = (barcode_frame(k, width, height, category, seed) for k in range(n_frames))
                write_video(path, frames)
            written.append(path)
    return written
