"""The sound of each row: the audio data path's rows/s, and ``[i3d_inception, vggish]`` in one pass
against two runs (rows equal, time ratio). A few minutes on a 2-core CPU.

    python benchmarks/audio_pass.py                # 2 videos of 12 s, once
    python benchmarks/audio_pass.py --seconds 60 --repeats 3
    python benchmarks/audio_pass.py --video-encoder r3d_18   # a lighter video encoder beside vggish

Videos (written once to ``$TMPDIR/lit_extract_audio/``): 320x240 H.264 at 24 fps with AAC
44.1 kHz stereo sound (so the sound is decoded, resampled to 16 kHz and averaged to mono), indexed
in 16-frame snippets (XD-Violence's). Measured in this process, in the main process
(``num_workers 0``), ``torch`` on ``--threads`` threads:

1. the data path alone (``VideoClipStream`` batches, no encoder): rows/s with sound only (what a
   run of audio encoders only reads: no frame decoded), frames only (T = 16 at 112 px) and
   frames + sound (``--data.decoder pyav``: one pass over each file feeds both) and, for
   comparison, OpenCV's frames with the sound in a PyAV pass of its own; the times PyAV opened
   each file and how many times its bytes were read (``/proc/self/io``);
2. ``Trainer.predict`` with an EmbeddingWriter and ``--data.decoder pyav``:
   ``[i3d_inception, vggish]`` (``weights none``, 16 frames of ``--img-size`` px: the CPU is the
   encoders' too) in one pass, against ``i3d_inception`` then ``vggish`` alone; each encoder's
   rows (shape, rows done) are compared (random weights differ between runs: that the rows of one
   pass equal a run of each encoder alone, byte for byte, is ``tests/extract/test_audio_pass.py``).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import Trainer

from lit_extract.commands.cli import quiet_known_warnings
from lit_extract.decode.sound import SoundRequest
from lit_extract.extract.data import ClipDataModule, VideoClipStream, group_by_video, shard_videos
from lit_extract.extract.module import FrozenVideoEncoder
from lit_extract.extract.writer import EmbeddingWriter

FPS, SNIPPET, SOURCE_RATE = 24, 16, 44_100
VGGISH_SOUND = SoundRequest("end", 16_000, 15_600, 15_360)


def write_video(path: Path, seconds: float) -> None:
    """320x240 H.264 (moving noise blocks) with AAC 44.1 kHz stereo (two tones and noise), the two
    streams handed to the muxer in time order, as a camera or FFmpeg writes them (interleaved)."""
    import av

    rng = np.random.default_rng(0)
    t = np.arange(round(seconds * SOURCE_RATE)) / SOURCE_RATE
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1250 * t * (1 + t / seconds))
    wave = wave + rng.normal(0, 0.02, len(t))
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = container.add_stream("aac", rate=SOURCE_RATE)
        audio.layout = "stereo"
        base = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
        sample = 0  # the next audio sample to encode
        for k in range(round(seconds * FPS)):
            while sample < len(t) and sample <= (k + 1) * SOURCE_RATE / FPS:  # the sound up to this frame's end
                chunk = wave[sample:sample + 1024].astype(np.float32)
                frame = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = SOURCE_RATE, sample, Fraction(1, SOURCE_RATE)
                for packet in audio.encode(frame):
                    container.mux(packet)
                sample += 1024
            image = np.kron(np.roll(base, k, axis=1), np.ones((8, 8, 1), np.uint8))
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, FPS)
            for packet in video.encode(frame):
                container.mux(packet)
        for stream in (audio, video):
            for packet in stream.encode():
                container.mux(packet)


def make_index(folder: Path, videos: int, seconds: float) -> Path:
    rows = []
    frames = round(seconds * FPS)
    for v in range(videos):
        path = folder / f"v{v}_{seconds:g}s_interleaved.mp4"
        if not path.is_file():
            write_video(path, seconds)
        for i, start in enumerate(range(0, frames - SNIPPET + 1, SNIPPET)):
            rows.append({"split": "test", "y": v % 2, "category": "A", "path": str(path), "clip_idx": i,
                         "start_frame": start, "end_frame": start + SNIPPET, "clip_len": SNIPPET, "stride": SNIPPET,
                         "fps": FPS, "n_frames": frames})
    index = folder / f"index_{videos}x{seconds:g}s.csv"
    pd.DataFrame(rows).to_csv(index, index=False)
    return index


def bytes_read() -> int | None:
    """Bytes this process has read through system calls so far (Linux ``/proc/self/io`` rchar;
    page-cache hits count too), None where it cannot be read."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def data_path_rows_per_s(index: Path, sound: bool, frames: bool, repeats: int,
                         decoder: str = "pyav") -> tuple[float, int, float, float | None]:
    """Best rows/s of the data path alone over the index's rows (no encoder, no writer), its rows,
    PyAV's opens of each file per pass, and the bytes read per byte of the files (None off Linux)."""
    import av

    table = pd.read_csv(index)
    works = group_by_video(table, np.ones(len(table), bool), SNIPPET)
    best, opens, opened = 0.0, 0, av.open

    def counted(*args, **kwargs):
        nonlocal opens
        opens += 1
        return opened(*args, **kwargs)

    av.open = counted
    size = sum(Path(work.path).stat().st_size for work in works)
    before = bytes_read()
    try:
        for _ in range(repeats):
            stream = VideoClipStream(shard_videos(works, 0, 1, 0), table["y"].to_numpy(np.int64), SNIPPET, 112, 16,
                                     decoder, sound=VGGISH_SOUND if sound else None, frames_needed=frames)
            start, rows = time.perf_counter(), 0
            for batch in stream:
                rows += len(batch["rows"])
                batch.release()
            best = max(best, rows / (time.perf_counter() - start))
    finally:
        av.open = opened
    after = bytes_read()
    ratio = None if before is None or after is None else (after - before) / (repeats * size)
    return best, rows, opens / (repeats * len(works)), ratio


def predict(index: Path, encoders: list[str], out: Path, img_size: int) -> float:
    data = ClipDataModule(str(index), frames=SNIPPET, img_size=img_size, batch_size=16, num_workers=0, decoder="pyav")
    model = FrozenVideoEncoder(encoders, weights="none", frames=SNIPPET, img_size=img_size)
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                      callbacks=[EmbeddingWriter(str(out), flush_interval_s=60)])
    start = time.perf_counter()
    trainer.predict(model, datamodule=data, return_predictions=False)
    return time.perf_counter() - start


def rows_done(out: Path, encoder: str) -> tuple[tuple[int, ...], int]:
    """(shape of the encoder's embeddings, rows marked done) in ``out``."""
    return np.load(out / f"emb_{encoder}_test.npy").shape, int(np.load(out / f"done_{encoder}_test.npy").sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--video-encoder", default="i3d_inception")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--data-path-only", action="store_true", help="measure the data path only (no predict runs)")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "lit_extract_audio")
    args = parser.parse_args()
    quiet_known_warnings()
    logging.getLogger("lightning").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    index = make_index(args.data_dir, args.videos, args.seconds)
    for label, sound, frames, decoder in (
        ("sound only", True, False, "pyav"),
        ("frames only (T=16, 112 px)", False, True, "pyav"),
        ("frames + sound, one pass (decoder pyav)", True, True, "pyav"),
        ("frames (decoder opencv) + sound (its own PyAV pass)", True, True, "opencv"),
    ):
        rate, rows, opens, read = data_path_rows_per_s(index, sound, frames, args.repeats, decoder)
        read_text = "" if read is None else f", {read:.2f} x its bytes read"
        print(f"data path, {label}: {rate:.1f} rows/s ({rows} rows); PyAV opens each file {opens:g} time(s){read_text}")
    if args.data_path_only:
        return
    video = args.video_encoder
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        torch.manual_seed(0)
        one = min(predict(index, [video, "vggish"], root / f"pass{i}", args.img_size) for i in range(args.repeats))
        seen = min(predict(index, [video], root / f"{video}{i}", args.img_size) for i in range(args.repeats))
        heard = min(predict(index, ["vggish"], root / f"vggish{i}", args.img_size) for i in range(args.repeats))
        same = {encoder: rows_done(root / "pass0", encoder) == rows_done(root / f"{encoder}0", encoder)
                for encoder in (video, "vggish")}
        rows = len(np.load(root / "pass0" / "emb_vggish_test.npy"))
    print(f"[{video}, vggish] at {args.img_size} px, one pass: {one:.2f} s; two runs: {seen + heard:.2f} s "
          f"({seen:.2f} + {heard:.2f}); ratio {(seen + heard) / one:.2f}x; {rows} rows each; rows equal: {same}")


if __name__ == "__main__":
    main()
