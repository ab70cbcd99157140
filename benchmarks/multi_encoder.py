"""One pass with two encoders against two single-encoder runs, side by side in one run.

    python benchmarks/multi_encoder.py                       # both settings, best of 3
    python benchmarks/multi_encoder.py --settings standin --repeats 5

Two settings, each timed both ways over the same index (UCF-Crime-like 320x240 30 fps H.264
videos written by benchmarks/data_path.py, the notebook's 32/16 index, T=8, batch 16, 2
DataLoader workers, a fresh output folder per run):

- ``standin``: two stand-in encoders registered here (``standin_a``, ``standin_b``: a global
  average pool, ~free) at ``--standin-img-size`` (32: the normalization on the host is ~free
  too). This is the situation on a GPU, where decoding on the CPU is the limit: the one pass
  decodes every video once, the two runs twice. Target: the pass >= 1.8x faster.
- ``resnets``: r3d_18 and mc3_18 (``weights none``) at ``--resnet-img-size`` (16), where this
  CPU runs both encoders about as fast as it decodes: the decode saved bounds the ratio.

One pass = ``FrozenVideoEncoder([a, b])``; two runs = ``FrozenVideoEncoder(a)`` then
``FrozenVideoEncoder(b)``; each is ``Trainer.predict`` with an EmbeddingWriter, as
``python -m lit_extract predict`` runs it, in a fresh child process (its own peak RSS: the
process and its largest DataLoader worker), timed from ``trainer.predict`` to its return (worker
start-up included: a second run pays it again; model building left out). Each timing is the best
of ``--repeats`` (other jobs on a shared machine only ever slow a run down). The encoders run on
``--threads`` (1) torch threads, the 2 workers decode beside them. The pass is also run
once on half the videos, to show that peak RSS does not grow with the number of clips.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from lightning.pytorch import Trainer
from torch import nn

from data_path import CLIP_LEN, STRIDE, make_videos, write_index  # benchmarks/ is on sys.path
from lit_extract.commands.cli import quiet_known_warnings
from lit_extract.extract.data import ClipDataModule
from torchvision.models.video import R3D_18_Weights

from lit_extract.encoders import register_encoder
from lit_extract.extract.module import FrozenVideoEncoder
from lit_extract.extract.writer import EmbeddingWriter

SETTINGS = {"standin": ("standin_a", "standin_b"), "resnets": ("r3d_18", "mc3_18")}


@register_encoder(weights_enum=R3D_18_Weights, min_frames=1)  # stand-in: only its normalization is used
def standin_a(weights: str) -> tuple[nn.Module, int]:
    """A near-free stand-in encoder: (B, 3, T, H, W) -> (B, 3) channel means."""
    return nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten()), 3


@register_encoder(weights_enum=R3D_18_Weights, min_frames=1)  # stand-in: only its normalization is used
def standin_b(weights: str) -> tuple[nn.Module, int]:
    """A second near-free stand-in encoder: (B, 3, T, H, W) -> (B, 3) channel maxima."""
    return nn.Sequential(nn.AdaptiveMaxPool3d(1), nn.Flatten()), 3


def peak_rss_mib() -> tuple[float, float]:
    """Peak RSS (MiB) of this process and of its largest finished child (DataLoader workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def child(args) -> None:
    """One ``Trainer.predict`` of ``--child-encoders`` over ``--child-index`` in this fresh process; prints JSON."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    quiet_known_warnings()
    torch.set_num_threads(args.threads)  # the workers decode on the other cores
    encoders = args.child_encoders.split(",")
    model = FrozenVideoEncoder(encoders if len(encoders) > 1 else encoders[0], weights="none",
                               frames=args.T, img_size=args.child_img_size)
    data = ClipDataModule(args.child_index, splits=["test"], frames=args.T, img_size=args.child_img_size,
                          batch_size=args.batch_size, num_workers=args.workers)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                          enable_model_summary=False, callbacks=[EmbeddingWriter(out)])
        start = time.perf_counter()
        trainer.predict(model, datamodule=data, return_predictions=False)
        seconds = time.perf_counter() - start
    rss_main, rss_worker = peak_rss_mib()
    print(json.dumps({"seconds": seconds, "clips": sum(data.split_sizes().values()),
                      "rss_main": rss_main, "rss_worker": rss_worker}))


def run_child(args, encoders: tuple[str, ...], index: Path, img_size: int) -> dict:
    command = [sys.executable, __file__, *sys.argv[1:], "--child-encoders", ",".join(encoders),
               "--child-index", str(index), "--child-img-size", str(img_size)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare_indexes(args) -> tuple[Path, Path]:
    """The index of all benchmark videos, and that of their first half (each worker still gets videos)."""
    args.data_dir.mkdir(parents=True, exist_ok=True)
    videos = make_videos(args.data_dir, "h264", SimpleNamespace(videos=args.videos, frames=args.frames, noise=1.5, gop=32))
    full = args.data_dir / f"multi_encoder_{args.videos}x{args.frames}.csv"
    half = max(1, args.videos // 2)
    small = args.data_dir / f"multi_encoder_{half}x{args.frames}.csv"
    write_index(videos, args.frames, full)
    write_index(videos[:half], args.frames, small)
    return full, small


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--repeats", type=int, default=3, help="timings per measurement; the best is reported")
    parser.add_argument("--videos", type=int, default=4, help="H.264 320x240 videos")
    parser.add_argument("--frames", type=int, default=2000, help="frames per video (124 clips of 32/16)")
    parser.add_argument("--T", type=int, default=8, help="frames per clip")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the process running the encoders")
    parser.add_argument("--standin-img-size", type=int, default=32)
    parser.add_argument("--resnet-img-size", type=int, default=16)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "lit_extract_data_path")
    parser.add_argument("--child-encoders", help=argparse.SUPPRESS)
    parser.add_argument("--child-index", help=argparse.SUPPRESS)
    parser.add_argument("--child-img-size", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child_encoders:
        child(args)
        return
    full, small = prepare_indexes(args)
    clips = args.videos * ((args.frames - CLIP_LEN) // STRIDE + 1)
    print(f"CPU, encoders on {args.threads} thread(s): {args.videos} H.264 320x240 videos, {clips} clips, T={args.T}, "
          f"batch {args.batch_size}, {args.workers} workers; best of {args.repeats}")
    print(f"{'setting':>8}  {'encoders':>18}  {'img':>4}  {'one pass s':>10}  {'two runs s (a + b)':>22}  "
          f"{'speed-up':>8}  {'pass clips/s':>12}  {'peak RSS MiB pass main/worker':>29}  {'half clips':>10}  {'runs main':>9}")
    for setting in args.settings:
        a, b = SETTINGS[setting]
        img = args.standin_img_size if setting == "standin" else args.resnet_img_size
        times: dict[str, list[dict]] = {"pass": [], a: [], b: []}
        for _ in range(args.repeats):  # interleaved, so that a slow minute hits both ways alike
            times["pass"].append(run_child(args, (a, b), full, img))
            times[a].append(run_child(args, (a,), full, img))
            times[b].append(run_child(args, (b,), full, img))
        best = {key: min(runs, key=lambda r: r["seconds"]) for key, runs in times.items()}
        small_pass = run_child(args, (a, b), small, img)
        two = best[a]["seconds"] + best[b]["seconds"]
        one = best["pass"]["seconds"]
        rss_runs = max(r["rss_main"] for key in (a, b) for r in times[key])
        rss_pass = max(r["rss_main"] for r in times["pass"])
        rss_worker = max(r["rss_worker"] for r in times["pass"])
        print(f"{setting:>8}  {a + '+' + b:>18}  {img:>4}  {one:10.2f}  "
              f"{two:10.2f} ({best[a]['seconds']:.2f} + {best[b]['seconds']:.2f})  {two / one:7.2f}x  "
              f"{best['pass']['clips'] / one:12.1f}  {rss_pass:20.0f} / {rss_worker:.0f}  "
              f"{small_pass['rss_main']:10.0f}  {rss_runs:9.0f}", flush=True)


if __name__ == "__main__":
    main()
