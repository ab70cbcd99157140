"""Shared fixtures: small barcode videos, hand-written index CSVs, and a barcode reader.

Every test video's frame ``k`` carries ``k`` as a barcode (see ``lit_extract.commands.demo.barcode_frame``);
``read_barcode`` recovers it from a decoded, resized RGB frame, independently of lit_extract.
"""

from __future__ import annotations

import csv
import os
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from lit_extract.commands.demo import BARCODE_BITS, barcode_frame, write_video


def share_cores_between_workers() -> None:
    """Under pytest-xdist (``-n``), give each of the N workers cores / N intra-op threads, in
    this process (torch) and in the processes its tests start (``OMP_NUM_THREADS``): N workers
    that each used every core would oversubscribe them and run slower than one."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = max(1, len(os.sched_getaffinity(0)) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


share_cores_between_workers()

COLUMNS = ["split", "y", "category", "path", "clip_idx", "start_frame", "end_frame", "clip_len", "stride", "fps", "n_frames"]


def read_barcode(frame: np.ndarray) -> int:
    """Frame index encoded in the top half of an RGB (H, W, 3) uint8 frame."""
    height, width = frame.shape[:2]
    band = frame[: max(1, height // 2 - max(1, height // 16))].astype(np.float32).mean(axis=(0, 2))  # W
    stripe = width / BARCODE_BITS
    value = 0
    for bit in range(BARCODE_BITS):
        centre = band[int((bit + 0.3) * stripe) : int((bit + 0.7) * stripe) + 1].mean()
        value = (value << 1) | int(centre > 127)
    return value


@contextmanager
def saved_figures() -> Iterator[dict[Path, object]]:
    """Record every matplotlib ``Figure`` saved inside the block, by the path it was saved to.

    The figures are still written (``Figure.savefig`` is wrapped, not replaced), so a test can check
    the plotted data (``figure.axes[i].lines``, ``.collections``) of a PNG the code wrote. A figure
    saved atomically (to ``.<name>.<random>.tmp``, then renamed) is keyed by its final path.
    """
    from matplotlib.figure import Figure

    saved: dict[Path, Figure] = {}
    original = Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        path = Path(fname)
        temp = re.fullmatch(r"\.(.+)\.[^.]+\.tmp", path.name)  # lit_extract.atomic's temp name
        saved[path.with_name(temp.group(1)) if temp else path] = self
        return original(self, fname, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "savefig", savefig)
        yield saved


def mdat_payload(data: bytes) -> tuple[int, int]:
    """``[start, end)`` byte offsets of the top-level ``mdat`` box's payload of an MP4 file."""
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[offset + 8 : offset + 16])[0], 16
        if kind == b"mdat":
            return offset + header, offset + size
        offset += size
    raise AssertionError("no mdat box")


def damage(path: Path, seed: int, size: int = 48) -> Path:
    """Overwrite ``size`` bytes at a seeded offset in the middle half of the frame data with random bytes."""
    data = bytearray(path.read_bytes())
    start, end = mdat_payload(bytes(data))
    rng = np.random.default_rng(seed)
    offset = int(rng.integers(start + (end - start) // 4, end - (end - start) // 4))
    data[offset : offset + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    damaged = path.with_name(f"{path.stem}_damaged_{seed}.mp4")
    damaged.write_bytes(bytes(data))
    return damaged


def clip_rows(path: Path, split: str, category: str, n_frames: int, clip_len: int = 32, stride: int = 16) -> list[dict]:
    """Index rows of one video, the notebook's way: starts 0, stride, ... while start + clip_len <= n_frames."""
    y = 0 if category == "Normal" else 1
    starts = list(range(0, n_frames - clip_len + 1, stride)) or [0]
    return [
        {"split": split, "y": y, "category": category, "path": str(path), "clip_idx": i,
         "start_frame": s, "end_frame": min(s + clip_len, n_frames), "clip_len": clip_len,
         "stride": stride, "fps": 30.0, "n_frames": n_frames}
        for i, s in enumerate(starts)
    ]


def write_index(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_outputs(out: Path, splits, encoder: str = "r3d_18") -> dict[str, bytes]:
    """The bytes of every per-split output file in ``out`` (for byte-for-byte comparisons)."""
    names = [f"{kind}_{split}.npy" for kind in (f"emb_{encoder}", "y", "status", f"done_{encoder}") for split in splits]
    return {name: (out / name).read_bytes() for name in names}


def assert_same_outputs(out: Path, expected: Path, splits, encoder: str = "r3d_18") -> None:
    """Labels, status and done byte for byte; embeddings within float16 rounding (other process or
    thread counts may round a last bit differently)."""
    written, wanted = read_outputs(out, splits, encoder), read_outputs(expected, splits, encoder)
    for name in wanted:
        if name.startswith("emb_"):
            np.testing.assert_allclose(np.load(out / name).astype(np.float32),
                                       np.load(expected / name).astype(np.float32), rtol=2e-3, atol=2e-3)
        else:
            assert written[name] == wanted[name], name


def six_video_index(root: Path) -> Path:
    """Six 160x120 barcode videos of 112 frames (6 clips each), train 4, val 1, test 1, classes
    alternating; returns the index path."""
    rows = []
    for i, split in enumerate(["train"] * 4 + ["val", "test"]):
        category = ("Normal", "Fighting")[i % 2]
        path = write_video(root / f"v{i}.mp4", (barcode_frame(k, 160, 120, category, i) for k in range(112)))
        rows += clip_rows(path, split, category, 112)
    return write_index(root / "index_clips.csv", rows)


@pytest.fixture(scope="session")
def six_videos(tmp_path_factory) -> Path:
    """The index of :func:`six_video_index`, built once per test run (once per xdist worker) and
    shared by the resume, fault and multi-encoder tests (they write only into their own folders)."""
    return six_video_index(tmp_path_factory.mktemp("six_videos"))


@pytest.fixture
def make_video(tmp_path):
    """``make_video(name, n_frames, category="Normal", codec="mp4v", size=(160, 120))`` -> path."""

    def make(name: str, n_frames: int, category: str = "Normal", codec: str = "mp4v", size=(160, 120), seed: int = 0) -> Path:
        width, height = size
        frames = (barcode_frame(k, width, height, category, seed) for k in range(n_frames))
        return write_video(tmp_path / "videos" / name, frames, codec=codec)

    return make


@pytest.fixture
def small_dataset(tmp_path, make_video):
    """Three splits, two classes, videos of different lengths (one split holds a single video).

    Returns the index path. Clip counts per split: train 3+5+2=10 (odd widths on purpose), val 4, test 1.
    """
    rows = []
    specs = [
        ("train", "Normal", 64), ("train", "Fighting", 96), ("train", "Normal", 48),
        ("val", "Fighting", 80), ("test", "Normal", 40),
    ]
    for i, (split, category, n_frames) in enumerate(specs):
        path = make_video(f"{split}_{i}.mp4", n_frames, category, seed=i)
        rows += clip_rows(path, split, category, n_frames)
    return write_index(tmp_path / "index_clips.csv", rows)


@pytest.fixture(autouse=True, scope="session")
def parser_records_in_a_temporary_folder(tmp_path_factory) -> Iterator[None]:
    """The command line's parser records (``lit_extract.commands.parser_cache``) go to a folder of this
    session, for the tests and the commands they start, never to the user's ~/.cache."""
    import os

    saved = os.environ.get("LIT_EXTRACT_CACHE")
    os.environ["LIT_EXTRACT_CACHE"] = str(tmp_path_factory.mktemp("parser_records"))
    yield
    if saved is None:
        os.environ.pop("LIT_EXTRACT_CACHE", None)
    else:
        os.environ["LIT_EXTRACT_CACHE"] = saved


def ramp_sound(count: int) -> np.ndarray:
    """int16 (count,): sample ``i`` is ``(i mod 32000) - 16000``, so any 15,600 consecutive samples
    say where they come from (the sound of :func:`write_sound_video` encodes time)."""
    return ((np.arange(count) % 32000) - 16000).astype(np.int16)


def write_sound_video(
    path: Path,
    frames: int = 100,
    fps: int = 25,
    sound: np.ndarray | None = None,
    rate: int = 16000,
    audio_start: float = 0.0,
    codec: str = "pcm_s16le",
    audio_gap: tuple[float, float] | None = None,
) -> Path:
    """A 32x32 H.264 video of ``frames`` frames at ``fps`` with a sound track (PyAV): ``sound``
    int16 (samples,) mono or (samples, channels), default :func:`ramp_sound` as long as the video;
    its first sample at ``audio_start`` seconds; no sound track when ``sound`` is an empty array.
    ``audio_gap`` = (start, end) seconds of the sound left out (the later sound keeps its times).
    ``codec`` ``pcm_s16le`` (exact samples; .mkv) or ``aac`` (.mp4)."""
    import av
    from fractions import Fraction

    sound = ramp_sound(round(frames / fps * rate)) if sound is None else sound
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = video.height = 32
        video.pix_fmt = "yuv420p"
        audio = None
        if sound.size:
            channels = 1 if sound.ndim == 1 else sound.shape[1]
            audio = container.add_stream(codec, rate=rate)
            audio.layout = "mono" if channels == 1 else "stereo"
        for k in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), (k * 7) % 256, np.uint8), format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        if audio is not None:
            chunk = 1024
            start = round(audio_start * rate)
            for i in range(0, len(sound), chunk):
                if audio_gap is not None and audio_gap[0] * rate <= i < audio_gap[1] * rate:
                    continue
                data = sound[i:i + chunk]
                data = data[None] if data.ndim == 1 else np.ascontiguousarray(data.reshape(1, -1))  # packed s16
                frame = av.AudioFrame.from_ndarray(data, format="s16", layout=audio.layout.name)
                frame.sample_rate, frame.pts, frame.time_base = rate, start + i, Fraction(1, rate)
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    return path
