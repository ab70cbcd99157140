"""Seconds per snippet of the ``timm:`` and ``hf:`` encoders beside torchvision's ``swin3d_t``, in one run.

    python benchmarks/encoder_families.py                       # 16 x 224 x 224 snippets, batch 1, CPU
    python benchmarks/encoder_families.py --batch-size 8 --device cuda --repeats 5

Encoders (``weights none``: random init, the same arithmetic as the pretrained weights, no download):

- ``swin3d_t`` (torchvision; the baseline);
- ``timm:vit_base_patch16_clip_quickgelu_224.openai``: OpenAI CLIP ViT-B/16 on each of the 16 frames;
- ``hf:<VideoMAE-base config>``: transformers' ``VideoMAEConfig()`` defaults (ViT-B, 16 frames,
  224, tubelet 2), written to a temporary folder as ``config.json`` only.

Each encoder is built once (``lit_extract.encoders.build_encoder``); the timed call is its module on
one normalized float32 batch (B, 3, 16, 224, 224) under ``torch.inference_mode``, after one warm-up
call. The encoders take turns for ``--repeats`` rounds, so a slow spell of a shared machine hits
all alike; the best round is reported (other jobs only ever slow a run down), as seconds per
snippet (the call's time / B) and snippets per second, with the load average beside it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from lit_extract.encoders import build_encoder

CLIP = "timm:vit_base_patch16_clip_quickgelu_224.openai"


def videomae_base_folder(root: Path) -> str:
    """A folder holding transformers' VideoMAE-base ``config.json`` (its defaults), as ``hf:<folder>``."""
    from transformers import VideoMAEConfig

    VideoMAEConfig().save_pretrained(root / "videomae-base")
    return f"hf:{root / 'videomae-base'}"


def time_call(module: torch.nn.Module, batch: torch.Tensor) -> float:
    """Wall seconds of one ``module(batch)``, synchronised on CUDA."""
    if batch.is_cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    with torch.inference_mode():
        module(batch)
    if batch.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        names = ["swin3d_t", CLIP, videomae_base_folder(Path(tmp))]
        modules = {}
        for name in names:
            modules[name] = build_encoder(name, weights="none", frames=args.frames, img_size=args.img_size).module
            modules[name].to(args.device)
        torch.manual_seed(0)
        batch = torch.randn(args.batch_size, 3, args.frames, args.img_size, args.img_size, device=args.device)
        for module in modules.values():
            time_call(module, batch)  # warm-up
        best = {name: float("inf") for name in names}
        for _ in range(args.repeats):
            for name in names:
                best[name] = min(best[name], time_call(modules[name], batch))
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.frames}x{args.img_size}x{args.img_size} snippets, batch {args.batch_size}, {device}, "
          f"best of {args.repeats}, load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}")
    print(f"{'encoder':<52} {'s/snippet':>10} {'snippets/s':>11} {'vs swin3d_t':>12}")
    for name in names:
        per_snippet = best[name] / args.batch_size
        shown = "hf:<VideoMAE-base config>" if name.startswith("hf:") else name
        print(f"{shown:<52} {per_snippet:>10.3f} {1 / per_snippet:>11.2f} {per_snippet / (best['swin3d_t'] / args.batch_size):>11.2f}x")


if __name__ == "__main__":
    main()
