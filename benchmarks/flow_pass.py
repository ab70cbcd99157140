"""Two-stream Inception I3D (RGB + RAFT flow) against RGB alone: snippets/s of the module.

    python benchmarks/flow_pass.py                                   # this CPU: tiny sizes, best of 2
    python benchmarks/flow_pass.py --frames 16 --img-size 224 --batch 4 --flows raft_large --seconds 10  # a GPU

Times ``FrozenVideoEncoder.predict_step`` on a synthetic uint8 batch already on the device (no
decoding: the data path is the same for both, one more frame per row for flow), random weights
(the same speed as the published ones):

- ``rgb``: ``i3d_inception`` alone on (B, 3, T, S, S) clips;
- ``two-stream <flow>``: ``[i3d_inception, i3d_inception_flow]`` on (B, 3, T + 1, S, S): RAFT
  (``--updates`` refinements) on the B x T frame pairs, then both I3Ds;
- ``flow model only``: the RAFT share of the two-stream step.

Each timing is the best of ``--repeats`` (other jobs only slow a run down), float32 (bf16 autocast
on a GPU).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract import device, synchronize  # noqa: E402

from lit_extract.commands.cli import quiet_known_warnings  # noqa: E402
from lit_extract.extract.module import FrozenVideoEncoder  # noqa: E402


def rate(step, batch: int, seconds: float, repeats: int) -> float:
    """Snippets/s of ``step()`` (one batch of ``batch`` snippets): one warm-up, then steps for at
    least ``seconds`` (at least 1), the best of ``repeats``."""
    best = 0.0
    with torch.inference_mode():
        step()
        for _ in range(repeats):
            synchronize()
            start, steps = time.perf_counter(), 0
            while steps < 1 or time.perf_counter() - start < seconds:
                step()
                steps += 1
            synchronize()
            best = max(best, steps * batch / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=9, help="T (the I3Ds' smallest: 9)")
    parser.add_argument("--img-size", type=int, default=200, help="S (the I3Ds' smallest: 193; RAFT pads to 8s)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--flows", nargs="+", default=["raft_small", "raft_large"])
    parser.add_argument("--updates", type=int, default=20, help="RAFT refinements (video_features: 20)")
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    quiet_known_warnings()
    torch.set_num_threads(args.threads)
    where = device()
    autocast = torch.autocast(where, dtype=torch.bfloat16) if where == "cuda" else contextlib.nullcontext()
    name = torch.cuda.get_device_name() if where == "cuda" else f"CPU, {args.threads} torch threads"
    print(f"{name}; T={args.frames}, {args.img_size} px, batch {args.batch}, {args.updates} RAFT updates; "
          f"torch {torch.__version__}")
    shape = (args.batch, 3, args.frames, args.img_size, args.img_size)
    clips = torch.randint(0, 256, shape, dtype=torch.uint8, device=where)
    with_next = torch.randint(0, 256, (*shape[:2], args.frames + 1, *shape[3:]), dtype=torch.uint8, device=where)
    rgb = FrozenVideoEncoder("i3d_inception", weights="none", frames=args.frames, img_size=args.img_size).to(where)
    with autocast:
        rows = [("rgb: i3d_inception", rate(lambda: rgb.predict_step({"clips": clips}, 0), args.batch,
                                           args.seconds, args.repeats))]
    for flow in args.flows:
        both = FrozenVideoEncoder(["i3d_inception", "i3d_inception_flow"], weights="none", frames=args.frames,
                                  img_size=args.img_size, flow=flow, flow_weights="none",
                                  flow_updates=args.updates).to(where)
        with autocast:
            rows.append((f"two-stream, {flow}", rate(lambda: both.predict_step({"clips": with_next}, 0),
                                                     args.batch, args.seconds, args.repeats)))
            rows.append((f"flow model only, {flow}", rate(lambda: both.flow_stream(with_next), args.batch,
                                                          args.seconds, args.repeats)))
    print("\n| step | snippets/s |\n|---|---|")
    for step, value in rows:
        print(f"| {step} | {value:.3f} |")


if __name__ == "__main__":
    main()
