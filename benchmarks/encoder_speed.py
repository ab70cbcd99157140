"""Seconds per 16 x 224 x 224 snippet of several encoders, side by side in one run.

    python benchmarks/encoder_speed.py                                   # i3d_r50, i3d_inception, swin3d_t
    python benchmarks/encoder_speed.py --encoders i3d_r50 swin3d_t --batch 4 --repeats 5 --threads 2

Each encoder is built by ``lit_extract.encoders.build_encoder`` (``weights none``: the time does
not depend on the weights), frozen and in eval mode as ``predict`` runs it, and timed on a float32
(batch, 3, frames, size, size) tensor under ``torch.inference_mode``: one warm-up forward, then
the best of ``--repeats`` forwards (other jobs on a shared machine only ever slow a run down),
divided by ``--batch``. Decoding is left out: this is the encoder's own cost per snippet (for a
ten-crop snippet, ten times it). The encoders are timed in turn, in the order given, on
``--threads`` torch threads (0 = torch's default).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from lit_extract.encoders import build_encoder


def seconds_per_snippet(name: str, batch: int, frames: int, size: int, repeats: int) -> float:
    """Best-of-``repeats`` forward time of ``name`` on a (batch, 3, frames, size, size) clip, per clip."""
    module = build_encoder(name, weights="none", frames=frames, img_size=size).module
    x = torch.randn(batch, 3, frames, size, size)
    times = []
    with torch.inference_mode():
        module(x)  # warm-up: allocator, oneDNN kernels
        for _ in range(repeats):
            start = time.perf_counter()
            module(x)
            times.append(time.perf_counter() - start)
    return min(times) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=["i3d_r50", "i3d_inception", "swin3d_t"])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.processor()
                      or platform.machine(), "batch": args.batch, "clip": [args.frames, args.size, args.size]}))
    for name in args.encoders:
        seconds = seconds_per_snippet(name, args.batch, args.frames, args.size, args.repeats)
        print(f"{name:16s} {seconds:7.3f} s per {args.frames}x{args.size}x{args.size} snippet", flush=True)


if __name__ == "__main__":
    main()
