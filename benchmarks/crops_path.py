"""Snippets/s of the five- and ten-crop loaders on the device path, beside the one-crop device loader.

    python benchmarks/crops_path.py                          # 2 videos x 2,000 frames, 1 worker, best of 3
    python benchmarks/crops_path.py --videos 4 --workers 1 2 --repeats 5
    python benchmarks/crops_path.py --video-dir /data/UCF_Crime/Videos --videos 8

The videos are :mod:`benchmarks.data_path`'s UCF-Crime-like 320x240 30 fps H.264 (written once
into ``--data-dir``, shared with that script), or your own (``--video-dir``). Their 16/16 snippet
index (``index --clip-len 16 --stride 16``: every frame of each snippet, T = 16) is timed through
``ClipDataModule(...).predict_dataloader()`` with ``--workers`` DataLoader workers, worker i pinned
to core i, the main process only receiving and releasing batches (as ``predict`` does). Rows, each
with the OpenCV decoder (RGB frames) and PyAV (``yuv``: the decoder's YUV planes):

- ``1 crop, device``: ``--data.transform device``, the baseline;
- ``10 crops, device`` / ``5 crops, device``: ``--data.crops 10`` / ``5`` on the device path (the
  workers ship the same native frames; crops are cut where the batch lands);
- ``10 crops, exact``: ``--data.crops 10 --data.transform exact``, the crops made by the workers.

Rows run in rounds (each row once per round, ``--repeats`` rounds, best kept), so a slow spell of
a shared machine hits every row alike. The last column is each row's share of the one-crop device
loader with the same decoder (the target: >= 80% for five and ten crops on the device path).

The on-device cut itself (:func:`lit_extract.decode.device_transform.crops_from_native`) is timed apart
with ``--transform-on`` (``cpu`` or ``cuda``): ms per snippet for 1, 5 and 10 crops of a batch of
16 snippets.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_path import FPS, interleaved_rates, make_videos, own_videos  # noqa: E402

from lit_extract.decode.buffers import release_batch  # noqa: E402
from lit_extract.decode.crops import CropGeometry, default_order  # noqa: E402
from lit_extract.extract.data import ClipDataModule  # noqa: E402
from lit_extract.decode.device_transform import clips_from_native, crops_from_native  # noqa: E402
from lit_extract.indexing.index import COLUMNS  # noqa: E402

SNIPPET = 16
# row name -> ClipDataModule options
ROWS = {
    "1 crop, device": {"transform": "device"},
    "10 crops, device": {"transform": "device", "crops": 10},
    "5 crops, device": {"transform": "device", "crops": 5},
    "10 crops, exact": {"transform": "exact", "crops": 10},
}


def snippet_index(paths: list[Path], counts: list[int], out: Path, fps: float) -> int:
    """The 16/16 snippet index of ``paths`` (split test), written to ``out``; returns its rows."""
    rows = [("test", 1, "Bench", str(path), i, start, start + SNIPPET, SNIPPET, SNIPPET, fps, n)
            for path, n in zip(paths, counts) for i, start in enumerate(range(0, n - SNIPPET + 1, SNIPPET))]
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(out, index=False)
    return len(rows)


def loader_run(index: Path, snippets: int, workers: int, cores: list[int], decoder: str, options: dict, args):
    """One pass of a loader with ``workers`` workers (worker i on core i), as a function to time."""
    data = ClipDataModule(str(index), splits=["test"], frames=SNIPPET, img_size=args.img_size,
                          batch_size=args.batch_size, num_workers=workers, decoder=decoder, **options)
    data.setup("predict")
    loader = data.predict_dataloader()[0]

    def pin(worker_id: int) -> None:
        os.sched_setaffinity(0, {cores[worker_id]})
        cv2.setNumThreads(1)

    loader.worker_init_fn = pin

    def run() -> None:
        main_cores = os.sched_getaffinity(0)
        os.sched_setaffinity(0, cores[:workers])  # as benchmarks/data_path.py: the main process beside its workers
        try:
            count = 0
            for batch in loader:
                count += len(batch["rows"])
                release_batch(batch)
        finally:
            os.sched_setaffinity(0, main_cores)
        assert count == snippets, (count, snippets)

    return run


def time_transform(device: str, args) -> dict[int, float]:
    """ms per snippet of the on-device cut of a batch of ``--batch-size`` 320x240 RGB snippets, by crop count."""
    batch, frames = args.batch_size, SNIPPET
    planes = torch.randint(0, 256, (batch, frames, 3 * 240 * 320), dtype=torch.uint8, device=device)
    sizes = torch.tensor([[240, 320]] * batch)
    cuts = {1: lambda: clips_from_native(planes, sizes, args.img_size).to(torch.uint8)}
    for crops in (5, 10):
        geometry = CropGeometry(crops, args.img_size, 256, None, default_order(crops))
        cuts[crops] = lambda geometry=geometry: crops_from_native(planes, sizes, geometry)
    times = {}
    for crops, cut in cuts.items():
        best = float("inf")
        for _ in range(max(3, args.repeats)):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            cut()
            if device == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        times[crops] = 1000 * best / batch
    return times


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--frames", type=int, default=2000, help="frames per synthetic video")
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--decoders", nargs="+", default=["opencv", "pyav"], choices=["opencv", "pyav"])
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the best pass of each row is kept")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--video-dir", type=Path, help="time your own videos (the first --videos under it)")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "lit_extract_data_path")
    parser.add_argument("--transform-on", choices=["cpu", "cuda"], help="also time the on-device cut there")
    # data_path.make_videos' settings: H.264 with a keyframe every 32 frames, its noise
    parser.add_argument("--gop", type=int, default=32, help=argparse.SUPPRESS)
    parser.add_argument("--noise", type=float, default=1.5, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cores = sorted(os.sched_getaffinity(0))
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if args.video_dir is not None:
        paths, counts, fps = own_videos(args.video_dir, args.videos)
    else:
        paths, counts, fps = make_videos(args.data_dir, "h264", args), [args.frames] * args.videos, FPS
    index = args.data_dir / f"index_snippets16_{paths[0].stem}_{len(paths)}.csv"
    snippets = snippet_index(paths, counts, index, fps or FPS)
    print(f"{len(paths)} videos, {sum(counts)} frames, {snippets} snippets of {SNIPPET} frames "
          f"(T={SNIPPET}, {args.img_size}px crops, batch {args.batch_size}); cores {cores}; "
          f"load average {os.getloadavg()[0]:.2f}")
    for workers in args.workers:
        if workers > len(cores):
            continue
        runs = {f"{name}{', yuv' if decoder == 'pyav' else ''}": loader_run(index, snippets, workers, cores, decoder, options, args)
                for decoder in args.decoders for name, options in ROWS.items()}
        rates = interleaved_rates(runs, snippets, args.repeats)
        print(f"\n{workers} worker{'s' if workers > 1 else ''}, best of {args.repeats}:")
        print(f"{'':>24}  {'snippets/s':>10}  {'/ 1 crop device':>15}")
        for name, rate in rates.items():
            baseline = rates["1 crop, device" + (", yuv" if name.endswith("yuv") else "")]
            print(f"{name:>24}  {rate:10.1f}  {rate / baseline:15.1%}")
    if args.transform_on:
        times = time_transform(args.transform_on, args)
        print(f"\non-device cut on {args.transform_on} ({args.batch_size} snippets of 16 320x240 frames), ms/snippet: "
              + ", ".join(f"{crops} crop{'s' if crops > 1 else ''} {ms:.2f}" for crops, ms in times.items()))
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
