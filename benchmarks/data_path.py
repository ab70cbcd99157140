"""Time the data path on one CPU core: the notebook's loader, lit_extract's loader, decode alone.

    python benchmarks/data_path.py                                   # defaults, a few minutes on a laptop
    python benchmarks/data_path.py --videos 4 --frames 2000 --notebook-clips 80 --repeats 3
    python benchmarks/data_path.py --codecs h264 --parts project ceiling   # just the fast parts
    python benchmarks/data_path.py --codecs h264 --gop 250 --parts notebook project ceiling
    python benchmarks/data_path.py --video-dir /data/UCF_Crime/Videos --videos 16 --parts ceiling workers

Writes UCF-Crime-like videos (320x240, 30 fps, ``--frames`` frames: a textured background with
slow lighting drift, five moving shapes and sensor noise) once per codec into ``--data-dir``
(kept for the next run): H.264 with B-frames (``lit_extract.commands.demo.write_video(codec="h264")``:
libx264, a keyframe every 32 frames; ``--gop 250``, x264's default, writes them with PyAV
directly, and the notebook's seeks get dearer) and mp4v. Builds the notebook's 32/16 clip index
for them and times, in this one process pinned to one core:

- ``notebook``: :class:`lit_extract.decode.reference.NotebookClipDataset` (open + seek per frame, float32
  normalization on the CPU), on ``--notebook-clips`` rows spread evenly over the index;
- ``project``: ``ClipDataModule(...).setup("predict"); predict_dataloader()`` with ``num_workers=0``
  (uint8 clips; the normalization the module does on the device is timed apart, on this CPU);
- ``ceiling``: ``grab()`` every frame of the same videos and discard it (decoding alone);
- ``workers``: the project's loader with 1 and 2 DataLoader workers, each worker pinned to its
  own core (the main process only receives batches), beside decoding alone with as many processes.

Fair threading: OpenCV's FFmpeg backend gives each capture ``cv::getNumberOfCPUs()`` decode
threads, and that count follows the CPU affinity, so pinning the process (and each worker) to
one core makes every capture, the notebook's included, decode on one thread. The script checks
it (``CAP_PROP_N_THREADS`` and the threads the process really has while a capture is open) and
also sets ``cv2.setNumThreads(1)`` and ``torch.set_num_threads(1)``.

``--video-dir`` times your own videos instead (the first ``--videos`` files under it, sorted;
frame counts from their headers), so you can see what share of decoding the workers reach on the
footage you will extract: it depends on how heavy the video is to decode.

Each timing runs ``--repeats`` times; the best run is reported (others' jobs on a shared machine
only ever slow a run down), with the load average beside it. The ``workers`` part runs its rows
in rounds (each row once per round), so a slow spell hits all of them alike. Its rows: ``exact``
(``--data.transform exact``), ``device`` (``--data.transform device``: native-size RGB frames)
and ``device yuv`` (``--data.decoder pyav --data.transform device``: the decoder's YUV planes,
converted on the device). Beside each loader's wall rate it prints its steady rate, from the
first batch received to the last: the workers' start (fork, first batch) and shutdown left out,
which a run pays once per split (meaningful when each worker yields many batches).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from lit_extract.extract.data import ClipDataModule
from lit_extract.commands.demo import write_video
from lit_extract.indexing.index import COLUMNS
from lit_extract.extract.module import IMAGENET_MEAN, IMAGENET_STD, FrozenVideoEncoder
from lit_extract.decode.reference import NotebookClipDataset

WIDTH, HEIGHT, FPS = 320, 240, 30.0
CLIP_LEN, STRIDE = 32, 16  # the notebook's index


def synthetic_frames(n_frames: int, seed: int, noise: float):
    """RGB (240, 320, 3) uint8 frames: textured background, lighting drift, moving shapes, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    background = np.stack([xx * 0.3 + 60, yy * 0.4 + 50, xx * 0.1 + yy * 0.2 + 70], axis=-1)  # H W C
    background += cv2.GaussianBlur(rng.normal(0, 25, (HEIGHT, WIDTH, 3)).astype(np.float32), (0, 0), 1.5)
    grain = [rng.normal(0, noise, (HEIGHT, WIDTH, 1)).astype(np.float32) for _ in range(16)]  # H W 1
    phases = rng.uniform(0, 2 * np.pi, (5, 2))
    for k in range(n_frames):
        frame = background * (1 + 0.05 * np.sin(0.01 * k + phases[0, 0]))
        for j, (px, py) in enumerate(phases):
            x = int(WIDTH / 2 + WIDTH / 3 * np.sin(0.02 * (j + 1) * k + px))
            y = int(HEIGHT / 2 + HEIGHT / 3 * np.cos(0.015 * (j + 2) * k + py))
            colour = ((j * 70) % 255, (j * 130 + 60) % 255, (200 - j * 40) % 255)
            if j % 2:
                cv2.circle(frame, (x, y), 12 + 4 * j, colour, -1)
            else:
                cv2.rectangle(frame, (x - 15, y - 10), (x + 15 + 3 * j, y + 10 + 2 * j), colour, -1)
        frame += grain[rng.integers(len(grain))]
        yield np.clip(frame, 0, 255).astype(np.uint8)


def write_h264(path: Path, frames, gop: int) -> None:
    """H.264 as ``write_video(codec="h264")`` writes it (libx264, 2 B-frames, crf 18), one keyframe per ``gop`` frames."""
    import av

    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"bf": "2", "g": str(gop), "crf": "18", "preset": "veryfast"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def make_videos(folder: Path, codec: str, args) -> list[Path]:
    """The benchmark videos of one codec (written once; existing files are reused)."""
    suffix = f"g{args.gop}_x264" if codec == "h264" else codec
    paths = []
    for i in range(args.videos):
        path = folder / f"Bench{i:03d}_{args.frames}f_n{args.noise:g}_{suffix}.mp4"
        if not path.is_file():
            tmp = path.with_name(f".{path.name}")  # a killed run leaves no half-written video
            frames = synthetic_frames(args.frames, seed=i, noise=args.noise)
            if codec == "h264" and args.gop != 32:
                write_h264(tmp, frames, args.gop)
            else:  # the project's own writer (keyframe every 32 frames for H.264)
                write_video(tmp, frames, fps=FPS, codec=codec)
            tmp.rename(path)
        paths.append(path)
    return paths


# the loaders the workers part times: (transform, decoder) -> row name
ROW_NAMES = {("exact", "opencv"): "exact", ("device", "opencv"): "device", ("device", "pyav"): "device yuv"}

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v"}


def own_videos(folder: Path, count: int) -> tuple[list[Path], list[int], float]:
    """The first ``count`` videos under ``folder`` (sorted), their header frame counts and the first one's fps."""
    from lit_extract.indexing.scan import probe_video

    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)[:count]
    if not paths:
        raise SystemExit(f"error: {folder}: no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) under it")
    infos = [probe_video(p) for p in paths]
    return paths, [info.n_frames for info in infos], infos[0].fps


def write_index(paths: list[Path], n_frames: int | list[int], out: Path, clips: int | None = None,
                fps: float = FPS) -> pd.DataFrame:
    """The notebook's 32/16 index of ``paths`` (all in split ``test``; its first ``clips`` rows), written
    with pandas; ``n_frames`` is every video's frame count, or one count per video."""
    counts = n_frames if isinstance(n_frames, list) else [n_frames] * len(paths)
    rows = [
        ("test", 1, "Bench", str(path), clip_idx, start, start + CLIP_LEN, CLIP_LEN, STRIDE, fps, n)
        for path, n in zip(paths, counts)
        for clip_idx, start in enumerate(range(0, n - CLIP_LEN + 1, STRIDE))
    ]
    index = pd.DataFrame(rows[:clips], columns=list(COLUMNS))
    index.to_csv(out, index=False)
    return index


def decode_threads(path: Path) -> tuple[int, int]:
    """(CAP_PROP_N_THREADS, extra OS threads of this process) while a capture of ``path`` is open."""
    before = len(os.listdir("/proc/self/task"))
    capture = cv2.VideoCapture(str(path))
    capture.grab()
    threads = (int(capture.get(cv2.CAP_PROP_N_THREADS)), len(os.listdir("/proc/self/task")) - before)
    capture.release()
    return threads


def best_rate(run, clips: int, repeats: int) -> tuple[float, float]:
    """(clips per wall-clock second, clips per CPU second of this process), best of ``repeats`` calls of ``run()``.

    CPU seconds barely notice other processes sharing the core, wall seconds do: on a busy
    machine the CPU figure is the steadier measure of what one core can do.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return clips / min(wall), clips / min(cpu)


def time_notebook(index: pd.DataFrame, rows: np.ndarray, args) -> tuple[tuple[float, float], dict[int, np.ndarray]]:
    """clips/s of the notebook's dataset on ``rows``; also its clips, to check the project's against."""
    dataset = NotebookClipDataset(index, T=args.T, img_size=args.img_size)
    clips = {}

    def run() -> None:
        for row in rows:
            clips[int(row)] = dataset[int(row)][0].numpy()

    return best_rate(run, len(rows), args.repeats), clips


def project_loader(index_path: Path, args, workers: int, transform: str = "exact",
                   decoder: str = "opencv") -> torch.utils.data.DataLoader:
    options = {} if transform == "exact" else {"transform": transform}  # older versions have no such option
    if decoder != "opencv":
        options["decoder"] = decoder
    data = ClipDataModule(
        str(index_path), splits=["test"], frames=args.T, img_size=args.img_size,
        batch_size=args.batch_size, num_workers=workers, **options,
    )
    data.setup("predict")
    return data.predict_dataloader()[0]


def time_project(index_path: Path, n_clips: int, args, check: dict[int, np.ndarray]) -> tuple[float, float]:
    """clips/s of the project's loader, num_workers=0; checks its clips equal the notebook's ones."""
    loader = project_loader(index_path, args, workers=0)
    seen = {}

    def run() -> None:
        count = 0
        for batch in loader:
            count += len(batch["rows"])
            for clip, row in zip(batch["clips"], batch["rows"].tolist()):
                if row in check:
                    seen[row] = clip.numpy().copy()
        assert count == n_clips, (count, n_clips)

    rate = best_rate(run, n_clips, args.repeats)
    mean = np.array(IMAGENET_MEAN, np.float32).reshape(3, 1, 1, 1)
    std = np.array(IMAGENET_STD, np.float32).reshape(3, 1, 1, 1)
    for row, expected in check.items():  # the notebook's CPU arithmetic applied to our uint8 clips
        np.testing.assert_array_equal((seen[row].astype(np.float32) / 255.0 - mean) / std, expected)
    return rate


def time_ceiling(paths: list[Path], n_clips: int, args) -> tuple[float, float]:
    """clips/s if producing clips cost nothing but decoding every frame once (grab, discard)."""

    def run() -> None:
        for path in paths:
            capture = cv2.VideoCapture(str(path))
            while capture.grab():
                pass
            capture.release()

    return best_rate(run, n_clips, args.repeats)


def workers_run(index_path: Path, n_clips: int, args, workers: int, cores: list[int], transform: str = "exact",
                decoder: str = "opencv") -> Callable[[], None]:
    """One pass of the project's loader with ``workers`` DataLoader workers, worker i on core i (the
    main process on the first ``workers`` cores), as a function to time.

    The main process only receives batches and hands each one back when done with it, as
    ``predict`` does (``release_batch``; lit_extract versions before buffer reuse have none).
    Each pass also appends to the function's ``steady`` list its clips/s from the first batch
    received to the last: the rate without the workers' start (fork, first batch) and shutdown,
    which a run pays once per split, whatever its length.
    """
    try:
        from lit_extract.decode.buffers import release_batch
    except ImportError:  # a lit_extract from before buffer reuse (--before)
        release_batch = lambda batch: None  # noqa: E731
    loader = project_loader(index_path, args, workers, transform, decoder)

    def pin(worker_id: int) -> None:
        os.sched_setaffinity(0, {cores[worker_id]})
        cv2.setNumThreads(1)

    loader.worker_init_fn = pin

    def run() -> None:
        main_core = os.sched_getaffinity(0)
        os.sched_setaffinity(0, cores[:workers])
        try:
            arrivals = []  # (seconds, clips received so far), one per batch
            for batch in loader:
                arrivals.append((time.perf_counter(), (arrivals[-1][1] if arrivals else 0) + len(batch["rows"])))
                release_batch(batch)
        finally:
            os.sched_setaffinity(0, main_core)
        assert arrivals[-1][1] == n_clips, (arrivals[-1][1], n_clips)
        rate = steady_rate(arrivals, workers)
        if rate is not None:
            run.steady.append(rate)

    run.steady = []
    return run


# Each worker prefetches 2 batches (DataLoader's prefetch_factor): when the first batch arrives,
# up to 2 per worker are ready and arrive at once. Over fewer than 8 batches per worker after the
# first, those would inflate a "steady" rate many times over (a few short videos: 1400%).
STEADY_MIN_BATCHES_PER_WORKER = 8


def steady_rate(arrivals: list[tuple[float, int]], workers: int) -> float | None:
    """Clips/s from the first batch received to the last, given each batch's ``(arrival seconds,
    clips received so far)``; ``None`` when fewer than :data:`STEADY_MIN_BATCHES_PER_WORKER` batches
    per worker follow the first (no steady state to measure)."""
    if len(arrivals) - 1 < STEADY_MIN_BATCHES_PER_WORKER * workers:
        return None
    (first, first_clips), (last, clips) = arrivals[0], arrivals[-1]
    return (clips - first_clips) / (last - first) if last > first else None


def interleaved_rates(runs: dict[str, Callable[[], float | None]], clips: int, repeats: int) -> dict[str, float]:
    """Wall-clock clips/s of each of ``runs``, best of ``repeats`` rounds that run each once in turn:
    a slow spell of a shared machine then hits every row alike instead of one row's every repeat."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            seconds = run()  # a run timed elsewhere (another process) returns its own seconds
            best[name] = min(best[name], seconds if seconds is not None else time.perf_counter() - start)
    return {name: clips / seconds for name, seconds in best.items()}


def decode_all(job: tuple[list[str], int | None]) -> None:
    """Decode every frame of ``job``'s videos (grab, discard) on core ``job[1]`` (None: any core)."""
    paths, core = job
    if core is not None:
        os.sched_setaffinity(0, {core})
    cv2.setNumThreads(1)
    for path in paths:
        capture = cv2.VideoCapture(path)
        while capture.grab():
            pass
        capture.release()


def decode_only_run(paths: list[Path], processes: int, cores: list[int], stack: ExitStack) -> Callable[[], None]:
    """One pass of decoding alone with ``processes`` processes (process i on core i, videos dealt round
    robin), as a function to time; the pool lives as long as ``stack``."""
    import multiprocessing

    jobs = [([str(p) for p in paths[i::processes]], cores[i]) for i in range(processes)]
    pool = stack.enter_context(multiprocessing.get_context("fork").Pool(processes))

    def run() -> None:
        pool.map(decode_all, jobs, chunksize=1)

    return run


def time_workers_before(ref: str, index_path: Path, n_clips: int, args, workers: int, cores: list[int],
                        repeats: int | None = None) -> float:
    """:func:`workers_run` for lit_extract as of git ``ref`` (its ``--before-loader`` loader), in a
    child process that imports that version; ``workers=0``: :func:`time_project` (the in-process
    loader, on the first of ``cores``)."""
    import json
    import subprocess
    import sys

    folder = args.data_dir / f"lit_extract_{ref}"
    if not (folder / "lit_extract").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", ref, "lit_extract"], check=True, capture_output=True,
                                 cwd=Path(__file__).resolve().parents[1]).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    command = [sys.executable, __file__, "--loader-only", str(index_path), str(n_clips), str(workers),
               "--cores", *map(str, cores),
               "--repeats", str(repeats or args.repeats), "--T", str(args.T), "--img-size", str(args.img_size),
               "--batch-size", str(args.batch_size), "--before-loader", *args.before_loader]
    env = {**os.environ, "PYTHONPATH": str(folder)}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])["rate"]


def before_run(ref: str, index_path: Path, n_clips: int, args, workers: int, cores: list[int]) -> Callable[[], float]:
    """One pass of :func:`time_workers_before` as a function to time in rounds; it returns the
    seconds the child measured (its process start and imports left out)."""
    return lambda: n_clips / time_workers_before(ref, index_path, n_clips, args, workers, cores, repeats=1)


def time_normalize(args) -> float:
    """Milliseconds per clip of FrozenVideoEncoder.normalize (uint8 -> float32) on this one CPU core."""
    module = FrozenVideoEncoder("r3d_18", weights="none", frames=args.T, img_size=args.img_size)
    clips = torch.randint(0, 256, (args.batch_size, 3, args.T, args.img_size, args.img_size), dtype=torch.uint8)
    with torch.inference_mode():
        rate = best_rate(lambda: module.normalize(clips), args.batch_size, max(3, args.repeats))[1]
    return 1000 / rate


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=2, help="videos per codec")
    parser.add_argument("--frames", type=int, default=2000, help="frames per video (UCF-Crime: ~2,000 median)")
    parser.add_argument("--codecs", nargs="+", default=["h264", "mp4v"], choices=["h264", "mp4v"])
    parser.add_argument("--parts", nargs="+", default=["notebook", "project", "ceiling", "workers", "normalize"],
                        choices=["notebook", "project", "ceiling", "workers", "normalize"])
    parser.add_argument("--notebook-clips", type=int, default=40, help="index rows the (slow) notebook loader reads")
    parser.add_argument("--repeats", type=int, default=2, help="runs per timing; the best is reported")
    parser.add_argument("--gop", type=int, default=32,
                        help="H.264 keyframe interval: 32 is write_video's; x264's default is 250 (seeks cost more)")
    parser.add_argument("--noise", type=float, default=1.5, help="std of the per-frame sensor noise (grey levels)")
    parser.add_argument("--T", type=int, default=8, help="frames per clip")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--video-dir", type=Path,
                        help="time your own videos: the first --videos files under this folder (instead of --codecs)")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "lit_extract_data_path")
    parser.add_argument("--before", metavar="GIT_REF",
                        help="also time the loader of lit_extract as of this commit (project and workers parts), in the same run")
    parser.add_argument("--before-loader", nargs=2, metavar=("TRANSFORM", "DECODER"), default=["exact", "opencv"],
                        help="which loader of --before to time in the workers part (e.g. device pyav)")
    parser.add_argument("--loader-only", nargs=3, metavar=("INDEX", "CLIPS", "WORKERS"), help=argparse.SUPPRESS)
    parser.add_argument("--cores", nargs="+", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def video_sets(args):
    """Each set of videos to time: ``(label, paths, frame counts, fps, index path)``; one per
    codec of synthetic video, or the ``--video-dir`` videos."""
    if args.video_dir is not None:
        paths, counts, fps = own_videos(args.video_dir, args.videos)
        yield str(args.video_dir), paths, counts, fps or FPS, args.data_dir / f"index_own_{len(paths)}.csv"
        return
    for codec in args.codecs:
        paths = make_videos(args.data_dir, codec, args)
        gop = f", keyframe every {args.gop}" if codec == "h264" else ""
        index_path = args.data_dir / f"index_{paths[0].stem[len('Bench000_'):]}_{args.videos}.csv"
        yield f"{codec}{gop}", paths, [args.frames] * len(paths), FPS, index_path


def main() -> None:
    args = parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if args.loader_only:  # the child of time_workers_before: time the importable lit_extract, print JSON
        import json

        index_path, n_clips, workers = Path(args.loader_only[0]), int(args.loader_only[1]), int(args.loader_only[2])
        if workers == 0:  # the in-process loader, one core, as the "project" part
            os.sched_setaffinity(0, {(args.cores or cores)[0]})
            cv2.setNumThreads(1)
            torch.set_num_threads(1)
            rate = time_project(index_path, n_clips, args, {})[0]
        else:
            transform, decoder = args.before_loader
            run = workers_run(index_path, n_clips, args, workers, args.cores or cores, transform, decoder)
            rate = best_rate(run, n_clips, args.repeats)[0]
        print(json.dumps({"rate": rate}))
        return
    os.sched_setaffinity(0, {cores[0]})  # one process, one core
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    print(f"pinned to core {cores[0]} of {cores}; load average {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    if "normalize" in args.parts:
        print(f"FrozenVideoEncoder.normalize on 1 CPU thread: {time_normalize(args):.2f} ms/clip "
              f"(the notebook loader does the same work on the CPU; ours runs it on the device)")
    for label, paths, counts, fps, index_path in video_sets(args):
        index = write_index(paths, counts, index_path, fps=fps)
        n_clips = len(index)
        kbps = sum(p.stat().st_size for p in paths) * 8 / (sum(counts) / fps) / 1000
        threads, extra = decode_threads(paths[0])
        print(f"\n== {label}: {len(paths)} videos, {sum(counts)} frames, {kbps:.0f} kbit/s, {n_clips} clips "
              f"(T={args.T}, {args.img_size}px, batch {args.batch_size}); FFmpeg threads per capture: "
              f"{threads} (process gains {extra} thread(s) while one is open)")
        rates: dict[str, tuple[float, float]] = {}
        steady: dict[str, float] = {}  # workers part: clips/s from the first batch to the last
        check: dict[int, np.ndarray] = {}
        if "notebook" in args.parts:
            rows = np.linspace(0, n_clips - 1, min(args.notebook_clips, n_clips)).round().astype(int)
            rates["notebook"], check = time_notebook(index, rows, args)
        if "project" in args.parts:
            if args.before:  # the same loader as of --before, in a child process on the same core
                wall = time_workers_before(args.before, index_path, n_clips, args, 0, [cores[0]])
                rates["project before"] = (wall, float("nan"))
            rates["project"] = time_project(index_path, n_clips, args, check)
        if "ceiling" in args.parts:
            rates["ceiling"] = time_ceiling(paths, n_clips, args)
        if "workers" in args.parts:
            for workers in (1, 2):
                if workers > len(cores):
                    continue
                label = f"{workers} worker{'s' if workers > 1 else ''}"
                with ExitStack() as stack:
                    runs = {f"decode only, {workers} proc.": decode_only_run(paths, workers, cores, stack)}
                    if args.before:  # a child process per pass, which imports that version
                        runs[f"before, {label}"] = before_run(args.before, index_path, n_clips, args, workers, cores)
                    for transform, decoder in ROW_NAMES:
                        runs[f"{ROW_NAMES[transform, decoder]}, {label}"] = workers_run(
                            index_path, n_clips, args, workers, cores, transform, decoder)
                    for name, wall in interleaved_rates(runs, n_clips, args.repeats).items():
                        rates[name] = (wall, float("nan"))
                        if name.startswith("decode only"):  # no start-up to leave out: the pool is up
                            steady[name] = wall
                        elif getattr(runs[name], "steady", None):  # --before rows time themselves: none
                            steady[name] = max(runs[name].steady)
        report(rates, len(check), steady)


def report(rates: dict[str, tuple[float, float]], checked: int, steady: dict[str, float]) -> None:
    """Print the clips/s table of one codec and the ratios the issue's targets are about; for the
    workers part also the steady rate (first batch to last; decode only: its wall rate)."""
    print(f"{'':>24}  {'wall clips/s':>12}  {'clips/CPU-s':>11}  {'steady clips/s':>14}")
    for name, (wall, cpu) in rates.items():
        print(f"{name:>24}  {wall:12.1f}  {number(cpu, '11.1f')}  {number(steady.get(name), '14.1f')}")
    for name, (a, b), fmt in (
        ("project / notebook", ("project", "notebook"), "{:12.1f}x"),
        ("project / ceiling", ("project", "ceiling"), "{:12.1%}"),
        ("project / before", ("project", "project before"), "{:12.1%}"),
    ):
        if a in rates and b in rates:
            print(f"{name:>24}  " + "  ".join(fmt.format(rates[a][i] / rates[b][i]) for i in (0, 1)))
    if checked:
        print(f"{'':>24}  (project clips == notebook clips on the {checked} rows the notebook read)")
    for workers in (1, 2):
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        ceiling = f"decode only, {workers} proc."
        for kind in ("before", *ROW_NAMES.values()):
            row = f"{kind}, {label}"
            if ceiling in rates and row in rates:
                share = rates[row][0] / rates[ceiling][0]
                steady_share = steady[row] / steady[ceiling] if row in steady else None
                print(f"{row + ' / decode':>24}  {share:12.1%}  {'':>11}  {number(steady_share, '14.1%')}")
    if any(name not in steady for name in rates if " worker" in name):
        print(f"{'':>24}  steady -: fewer than {STEADY_MIN_BATCHES_PER_WORKER} batches per worker after the first "
              "(prefetched batches arrive at once); give more --videos or --frames")
    print(f"{'load average':>24}  {os.getloadavg()[0]:12.2f}")


def number(value: float | None, spec: str) -> str:
    """``value`` formatted by ``spec``; ``-`` (right-aligned to the same width) when there is none."""
    width = int(spec.split(".")[0] or 0)
    return f"{'-':>{width}}" if value is None or value != value else format(value, spec)


if __name__ == "__main__":
    main()
