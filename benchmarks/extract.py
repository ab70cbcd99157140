"""End-to-end clips/s of ``predict`` beside the encoder-only ceiling, and peak RSS for two dataset sizes.

One GPU (the defaults: swin3d_t, T=8, 224x224, batch 16, 16 workers, fp32 then bf16-mixed;
2,000 and 8,000 clips)::

    python benchmarks/extract.py
    python benchmarks/extract.py --precision bf16-mixed --batch-size 64 --channels-last

What Lightning's loop and the writer cost (issue: >= 95% of the loader alone), with a stand-in
encoder registered here that costs nothing (``free``; normalization bypassed too)::

    python benchmarks/extract.py --loop-share --workers 2 --clips 592 --distinct-videos 4 --frames 1200 \
        --gop 250 --img-size 224 --transform exact

A CPU, shrunk (what benchmarks/README.md reports for a 2-core machine)::

    python benchmarks/extract.py --encoder r3d_18 --img-size 112 --batch-size 8 --workers 2 \\
        --clips 48 384 --distinct-videos 1 --frames 500 --ceiling-seconds 30

End to end runs what ``python -m lit_extract predict`` runs, in-process: a Trainer (``--precision``,
one device, accelerator auto) with FrozenVideoEncoder (``weights none``: random init, the same
speed, no download), ClipDataModule and EmbeddingWriter, over UCF-Crime-like H.264 videos
(benchmarks/data_path.py writes ``--distinct-videos`` of them; the index names each several
times through symlinks to reach ``--clips`` clips). Its rate counts the clips after the first
batch over the time after it, so worker start-up and warm-up are left out; the total time of
``trainer.predict`` is printed beside it.

The encoder-only ceiling feeds a synthetic uint8 batch, already on the device, straight to
``FrozenVideoEncoder.predict_step`` under ``torch.inference_mode`` and the autocast context
Lightning uses for ``--precision``.

Every measurement runs in a fresh child process, so the peak RSS it reports (``getrusage``: the
process itself, and its largest DataLoader worker) is its own. Flat in the number of clips means
the two ``--clips`` sizes show the same peak.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import torch
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.plugins.precision import MixedPrecision

from data_path import CLIP_LEN, STRIDE, make_videos, write_index  # benchmarks/ is on sys.path
from torch import nn

from lit_extract.decode.buffers import release_batch
from lit_extract.commands.cli import quiet_known_warnings
from lit_extract.extract.data import ClipDataModule
from torchvision.models.video import R3D_18_Weights

from lit_extract.encoders import register_encoder
from lit_extract.extract.module import FrozenVideoEncoder, NormalizedEncoder
from lit_extract.extract.writer import EmbeddingWriter

PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_rss_mib() -> tuple[float, float]:
    """Peak RSS (MiB) of this process and of its largest finished child (DataLoader workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


@register_encoder(weights_enum=R3D_18_Weights, min_frames=1)  # stand-in: only its normalization is used
def free(weights: str) -> tuple[nn.Module, int]:
    """A stand-in encoder that costs nothing: (B, 3, T, H, W) -> (B, 3) channel means of one pixel."""
    return FreeEncoder(), 3


class FreeEncoder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, 0, 0, 0].float()  # B C T H W -> B C


def build_model(args) -> FrozenVideoEncoder:
    return FrozenVideoEncoder(
        args.encoder, weights="none", frames=args.T, img_size=args.img_size,
        channels_last=args.channels_last, compile=args.compile,
    )


def loader_only(args, index: Path) -> dict:
    """Clips/s of the DataLoader alone (each batch released as predict releases it), after the first batch."""
    data = ClipDataModule(
        str(index), splits=["test"], frames=args.T, img_size=args.img_size,
        batch_size=args.batch_size, num_workers=args.workers, transform=args.transform, decoder=args.decoder,
    )
    data.setup("predict")
    start, clips = None, 0
    for batch in data.predict_dataloader()[0]:
        if start is None:
            start = time.perf_counter()
        else:
            clips += len(batch["rows"])
        release_batch(batch)
    return {"rate": clips / (time.perf_counter() - start)}


class ClipMeter(Callback):
    """Clips and seconds after the first batch (worker start-up and warm-up left out)."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.clips = 0
        self.seconds = math.nan

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self.start is None:
            synchronize()
            self.start = time.perf_counter()
        else:
            self.clips += len(batch["rows"])

    def on_predict_end(self, trainer, pl_module) -> None:
        synchronize()
        self.seconds = time.perf_counter() - self.start


def end_to_end(args, precision: str, index: Path) -> dict:
    """Trainer.predict over ``index`` as ``python -m lit_extract predict`` runs it."""
    quiet_known_warnings()
    meter = ClipMeter()
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(
            accelerator="auto", devices=1, precision=precision, logger=False,
            enable_progress_bar=False, enable_model_summary=False,
            callbacks=[EmbeddingWriter(out, overwrite=True), meter],
        )
        data = ClipDataModule(
            str(index), splits=["test"], frames=args.T, img_size=args.img_size,
            batch_size=args.batch_size, num_workers=args.workers, transform=args.transform, decoder=args.decoder,
        )
        start = time.perf_counter()
        trainer.predict(build_model(args), datamodule=data, return_predictions=False)
        total = time.perf_counter() - start
    clips = sum(data.split_sizes().values())
    return {"clips": clips, "rate": meter.clips / meter.seconds, "total_s": total}


def encoder_only(args, precision: str) -> dict:
    """Clips/s of predict_step on a synthetic uint8 batch already on the device."""
    model = build_model(args).to(device())
    shape = (args.batch_size, 3, args.T, args.img_size, args.img_size)  # B C T H W
    batch = {"clips": torch.randint(0, 256, shape, dtype=torch.uint8, device=device())}
    autocast = MixedPrecision(precision, device()).forward_context() if "mixed" in precision else nullcontext()
    return {"rate": predict_step_rate(model, batch, autocast, args.ceiling_seconds)}


def predict_step_rate(model, batch: dict, autocast, seconds: float) -> float:
    """Clips/s of ``model.predict_step(batch)`` under ``autocast``: 3 warm-up steps (cuDNN,
    allocator, compile), then steps for at least ``seconds`` (and at least 3)."""
    with torch.inference_mode(), autocast:
        for step in range(3):
            model.predict_step(batch, step)
        synchronize()
        start, steps = time.perf_counter(), 0
        while steps < 3 or time.perf_counter() - start < seconds:
            model.predict_step(batch, steps)
            steps += 1
            if steps % 10 == 0:
                synchronize()
        synchronize()
    return steps * len(batch["clips"]) / (time.perf_counter() - start)


def child(args) -> None:
    """One measurement in this fresh process; prints its result and peak RSS as JSON."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no "GPU available"/tips lines
    if args.encoder == "free":  # what the loop costs: no normalization either (on a GPU it is ~free,
        NormalizedEncoder.normalize = lambda self, clips: clips  # on this CPU 12 ms a 224px clip)
    if args.child == "encoder":
        result = encoder_only(args, args.child_precision)
    elif args.child == "loader":
        result = loader_only(args, Path(args.child_index))
    else:
        result = end_to_end(args, args.child_precision, Path(args.child_index))
    result["rss_main"], result["rss_worker"] = peak_rss_mib()
    print(json.dumps(result))


def run_child(kind: str, precision: str, index: Path | None = None) -> dict:
    command = [sys.executable, __file__, *sys.argv[1:], "--child", kind, "--child-precision", precision]
    if index is not None:
        command += ["--child-index", str(index)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def link_copies(sources: list[Path], frames: int, clips: int, folder: Path) -> list[Path]:
    """Symlinks in ``folder`` naming ``sources`` round robin, as many as ``clips`` clips of the 32/16
    index need (``frames`` frames each); existing links are reused."""
    per_video = (frames - CLIP_LEN) // STRIDE + 1
    links = []
    for i in range(math.ceil(clips / per_video)):
        link = folder / f"{sources[i % len(sources)].stem}_copy{i:04d}.mp4"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(sources[i % len(sources)])
        links.append(link)
    return links


def prepare_index(args, clips: int) -> Path:
    """An index of ``clips`` clips over the benchmark videos, each video named as often as needed."""
    folder = args.data_dir
    sources = make_videos(folder, "h264", SimpleNamespace(
        videos=args.distinct_videos, frames=args.frames, noise=1.5, gop=args.gop))
    links = link_copies(sources, args.frames, clips, folder / "links")
    index = folder / f"extract_{links[0].stem.split('_copy')[0]}_{clips}.csv"
    write_index(links, args.frames, index, clips=clips)
    return index


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="swin3d_t", help="a name from lit_extract.encoders (r3d_18 for a CPU)")
    parser.add_argument("--T", type=int, default=8, help="frames per clip")
    parser.add_argument("--img-size", type=int, default=224, help="H = W of the clips")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per batch (the project's default)")
    parser.add_argument("--workers", type=int, default=16, help="DataLoader workers")
    parser.add_argument("--precision", nargs="+", default=["32-true", "bf16-mixed"], choices=PRECISIONS)
    parser.add_argument("--clips", type=int, nargs="+", default=[2000, 8000],
                        help="dataset sizes; all run with the first precision, the largest with the others")
    parser.add_argument("--channels-last", action="store_true", help="--model.channels_last true")
    parser.add_argument("--compile", action="store_true", help="--model.compile true")
    parser.add_argument("--ceiling-seconds", type=float, default=10.0, help="how long the encoder-only loop runs")
    parser.add_argument("--repeats", type=int, default=3, help="runs per --loop-share figure; the best is kept")
    parser.add_argument("--distinct-videos", type=int, default=4, help="H.264 videos written (then repeated)")
    parser.add_argument("--frames", type=int, default=2000, help="frames per video")
    parser.add_argument("--gop", type=int, default=32, help="H.264 keyframe interval (see data_path.py)")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "lit_extract_data_path")
    parser.add_argument("--transform", default="auto", choices=["auto", "exact", "device"], help="--data.transform")
    parser.add_argument("--decoder", default="opencv", choices=["opencv", "pyav"],
                        help="--data.decoder (pyav with the device transform: YUV planes, converted on the device)")
    parser.add_argument("--loop-share", action="store_true",
                        help="only compare predict with the 'free' stand-in encoder against the loader alone")
    parser.add_argument("--child", choices=["encoder", "e2e", "loader"], help=argparse.SUPPRESS)
    parser.add_argument("--child-precision", help=argparse.SUPPRESS)
    parser.add_argument("--child-index", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    args.data_dir.mkdir(parents=True, exist_ok=True)
    sizes = sorted(args.clips)
    indexes = {clips: prepare_index(args, clips) for clips in sizes}
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    print(f"{name}: {args.encoder}, T={args.T}, {args.img_size}px, batch {args.batch_size}, "
          f"{args.workers} workers, weights none")
    if args.loop_share:  # what Lightning's loop and the writer cost, with an encoder that costs nothing
        args.encoder = "free"
        sys.argv += ["--encoder", "free"]
        for clips in sizes:
            runs = [(run_child("loader", args.precision[0], indexes[clips])["rate"],
                     run_child("e2e", args.precision[0], indexes[clips])["rate"]) for _ in range(args.repeats)]
            loader, e2e = max(r[0] for r in runs), max(r[1] for r in runs)
            print(f"{clips} clips, {args.workers} workers, transform {args.transform}, decoder {args.decoder}: loader alone {loader:.1f} "
                  f"clips/s, predict with the free encoder {e2e:.1f} clips/s = {e2e / loader:.1%} of the loader "
                  f"(best of {args.repeats})", flush=True)
        return
    print(f"{'precision':>10}  {'clips':>6}  {'end-to-end clips/s':>18}  {'(total s)':>9}  "
          f"{'encoder-only clips/s':>20}  {'e2e / encoder':>13}  {'peak RSS MiB (main / worker)':>28}")
    for i, precision in enumerate(args.precision):
        ceiling = run_child("encoder", precision)
        for clips in sizes if i == 0 else sizes[-1:]:
            e2e = run_child("e2e", precision, indexes[clips])
            print(f"{precision:>10}  {clips:>6}  {e2e['rate']:18.1f}  {e2e['total_s']:9.1f}  "
                  f"{ceiling['rate']:20.1f}  {e2e['rate'] / ceiling['rate']:13.0%}  "
                  f"{e2e['rss_main']:19.0f} / {e2e['rss_worker']:.0f}", flush=True)
        print(f"{'':>10}  encoder-only peak RSS: {ceiling['rss_main']:.0f} MiB")


if __name__ == "__main__":
    main()
