"""The GPU check: one command that says how fast extraction runs on this GPU machine and what limits it.

    python benchmarks/gpu_check.py                     # one NVIDIA GPU, ~16 cores; under 8 minutes
    python benchmarks/gpu_check.py --clips 300 --workers 2 --videos 2 --frames 600 --compile-modes off \\
        --batch-sizes 4 --seconds 2 --encoder r3d_18 --img-size 32 --flow none   # a smoke run on a CPU

It writes UCF-Crime-like videos (320x240, 30 fps, H.264 with B-frames, x264's default keyframe
interval; ``--videos`` distinct ones, written in parallel, then named as often as needed through
symlinks to reach ``--clips`` clips of the 32/16 index) and prints one table:

- decode only: ``--workers`` processes decode every frame of the clips' videos (``grab()``);
- loader only: ``ClipDataModule`` with ``--workers`` DataLoader workers: ``transform`` exact, and
  device with each decoder (``pyav`` ships the decoder's YUV planes, converted on the GPU), each
  batch released as ``predict`` releases it;
- encoder only: swin3d_t (random init: the same speed), T=8, 224, bf16-mixed, channels_last,
  ``torch.compile`` off and on, batch 16 and 64, on a synthetic batch already on the GPU;
- two streams, encoder only: Inception I3D RGB alone, and RGB + flow (``i3d_inception_flow`` on
  ``--flow``'s RAFT, 20 updates, on the batch's frame pairs), T=16, 224, bf16, batch
  ``--flow-batch``, random init (``--flow none`` skips it): snippets/s;
- end to end: ``predict`` (Trainer + FrozenVideoEncoder + ClipDataModule + EmbeddingWriter) with the
  best encoder setting found and the device transform with the faster decoder, GPU utilisation
  sampled by nvidia-smi.

It ends by naming the stage that limits the run. Nothing here needs the internet; packages the
machine lacks are installed from wheels carried to it (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import extract  # noqa: E402
from extract import device, synchronize  # noqa: E402
from data_path import ROW_NAMES, decode_all, synthetic_frames, write_h264, write_index  # noqa: E402

from lit_extract.commands.cli import quiet_known_warnings  # noqa: E402
from lit_extract.extract.data import ClipDataModule  # noqa: E402
from lit_extract.extract.module import FrozenVideoEncoder  # noqa: E402
from lit_extract.extract.writer import EmbeddingWriter  # noqa: E402


def write_one(job: tuple[str, int, int, float]) -> str:
    """Video ``i`` of the check, named and made as data_path.make_videos makes it (written once, then reused)."""
    folder, i, frames, noise = job
    cv2.setNumThreads(1)
    path = Path(folder) / f"Bench{i:03d}_{frames}f_n{noise:g}_g250_x264.mp4"
    if not path.is_file():
        tmp = path.with_name(f".{path.name}")
        write_h264(tmp, synthetic_frames(frames, seed=i, noise=noise), gop=250)
        tmp.rename(path)
    return str(path)


def prepare(args) -> tuple[Path, list[Path], int]:
    """Write the videos (in parallel, once) and an index of ``--clips`` clips over symlinks to them."""
    folder = args.data_dir
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(min(args.videos, args.workers)) as pool:
        sources = [Path(p) for p in pool.map(write_one, [(str(folder), i, args.frames, args.noise) for i in range(args.videos)])]
    kbps = sum(p.stat().st_size for p in sources) * 8 / (len(sources) * args.frames / 30) / 1000
    links = extract.link_copies(sources, args.frames, args.clips, folder / f"links_n{args.noise:g}")
    index = folder / f"gpu_check_{args.clips}_n{args.noise:g}.csv"
    clips = len(write_index(links, args.frames, index, clips=args.clips))
    print(f"videos: {len(sources)} x {args.frames} frames 320x240 H.264, {kbps:.0f} kbit/s (written in {time.perf_counter() - start:.0f} s), "
          f"{clips} clips via {len(links)} links", flush=True)
    return index, links, clips


def decode_only(links: list[Path], clips: int, workers: int) -> float:
    jobs = [([str(p) for p in links[i::workers]], None) for i in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        start = time.perf_counter()
        pool.map(decode_all, jobs, chunksize=1)
        return clips / (time.perf_counter() - start)


def data_module(args, index: Path, transform: str, decoder: str = "opencv") -> ClipDataModule:
    return ClipDataModule(str(index), splits=["test"], frames=8, img_size=args.img_size, batch_size=args.loader_batch,
                          num_workers=args.workers, transform=transform, decoder=decoder)


def loader_only(args, index: Path, transform: str, decoder: str = "opencv") -> float:
    """Clips/s of the DataLoader alone, after the first batch (benchmarks/extract.py's measure)."""
    options = SimpleNamespace(T=8, img_size=args.img_size, batch_size=args.loader_batch, workers=args.workers,
                              transform=transform, decoder=decoder)
    return extract.loader_only(options, index)["rate"]


def encoder_only(args, batch_size: int, compiled: bool) -> float:
    model = FrozenVideoEncoder(args.encoder, weights="none", frames=8, img_size=args.img_size, channels_last=True,
                               compile=compiled).to(device())
    size = args.img_size
    batch = {"clips": torch.randint(0, 256, (batch_size, 3, 8, size, size), dtype=torch.uint8, device=device())}
    return extract.predict_step_rate(model, batch, torch.autocast(device(), dtype=torch.bfloat16), args.seconds)


def two_stream_only(args) -> tuple[float, float]:
    """Snippets/s of Inception I3D RGB alone and of RGB + flow (RAFT ``args.flow``, 20 updates), T=16,
    224 px, bf16, batch ``args.flow_batch``, on synthetic batches already on the GPU."""
    shape = (args.flow_batch, 3, 16, 224, 224)
    clips = torch.randint(0, 256, shape, dtype=torch.uint8, device=device())
    with_next = torch.randint(0, 256, (*shape[:2], 17, *shape[3:]), dtype=torch.uint8, device=device())
    autocast = torch.autocast(device(), dtype=torch.bfloat16)
    rgb = FrozenVideoEncoder("i3d_inception", weights="none", frames=16, img_size=224).to(device())
    rgb_rate = extract.predict_step_rate(rgb, {"clips": clips}, autocast, args.seconds)
    del rgb
    both = FrozenVideoEncoder(["i3d_inception", "i3d_inception_flow"], weights="none", frames=16, img_size=224,
                              flow=args.flow, flow_weights="none").to(device())
    return rgb_rate, extract.predict_step_rate(both, {"clips": with_next}, autocast, args.seconds)


class GpuSampler:
    """nvidia-smi's utilization.gpu every 200 ms while the end-to-end run goes (nothing without nvidia-smi)."""

    def __enter__(self) -> GpuSampler:
        self.out = tempfile.TemporaryFile(mode="w+")
        try:
            self.process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200"],
                stdout=self.out, stderr=subprocess.DEVNULL)
        except OSError:
            self.process = None
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
        self.out.seek(0)
        self.samples = [float(line) for line in self.out.read().split() if line.strip().replace(".", "").isdigit()]

    def summary(self) -> str:
        if not self.samples:
            return "n/a"
        samples = sorted(self.samples)
        return f"mean {sum(samples) / len(samples):.0f}%, median {samples[len(samples) // 2]:.0f}%"


def end_to_end(args, index: Path, batch_size: int, compiled: bool, decoder: str) -> tuple[float, str]:
    quiet_known_warnings()
    clips_seen, start = 0, None

    from lightning.pytorch import Callback, Trainer

    class Meter(Callback):
        def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
            nonlocal clips_seen, start
            if start is None:
                start = time.perf_counter()
            else:
                clips_seen += len(batch["rows"])

    data = data_module(args, index, "device", decoder)
    data.batch_size = batch_size
    model = FrozenVideoEncoder(args.encoder, weights="none", frames=8, img_size=args.img_size, channels_last=True,
                               compile=compiled)
    precision = "bf16-mixed" if torch.cuda.is_available() else "32-true"
    with tempfile.TemporaryDirectory() as out, GpuSampler() as sampler:
        trainer = Trainer(accelerator="auto", devices=1, precision=precision, logger=False,
                          enable_progress_bar=False, enable_model_summary=False,
                          callbacks=[EmbeddingWriter(out, overwrite=True), Meter()])
        trainer.predict(model, datamodule=data, return_predictions=False)
        synchronize()
        rate = clips_seen / (time.perf_counter() - start)
    return rate, sampler.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=max(1, len(__import__("os").sched_getaffinity(0)) - 1))
    parser.add_argument("--videos", type=int, default=16, help="distinct videos written (then repeated via links)")
    parser.add_argument("--frames", type=int, default=2000, help="frames per video (UCF-Crime's median is ~2,000)")
    parser.add_argument("--noise", type=float, default=1.5,
                        help="sensor noise (grey levels): 1.5 gives light ~250 kbit/s video (cheap decoding), 4 ~1.8 Mbit/s")
    parser.add_argument("--loader-batch", type=int, default=16)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--compile-modes", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each encoder-only timing")
    parser.add_argument("--encoder", default="swin3d_t")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--flow", default="raft_large", help="RAFT of the two-stream row (none: skip it)")
    parser.add_argument("--flow-batch", type=int, default=4)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "lit_extract_gpu_check")
    args = parser.parse_args()
    began = time.perf_counter()
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU (CPU smoke run)"
    print(f"{name}; {args.workers} workers; torch {torch.__version__}", flush=True)
    index, links, clips = prepare(args)
    rows: list[tuple[str, float, str]] = []

    def record(stage: str, rate: float, note: str = "") -> None:
        rows.append((stage, rate, note))
        print(f"  {stage:<48} {rate:9.1f} clips/s  {note}", flush=True)

    record(f"decode only, {args.workers} processes", decode_only(links, clips, args.workers))
    device_loaders = {}
    for transform, decoder in ROW_NAMES:  # data_path's loaders: (transform, decoder)
        rate = loader_only(args, index, transform, decoder)
        record(f"loader only, {args.workers} workers, transform {transform}, decoder {decoder}", rate)
        if transform == "device":
            device_loaders[decoder] = rate
    decoder = max(device_loaders, key=device_loaders.get)
    best = (0.0, 16, False)
    for compiled in (mode == "on" for mode in args.compile_modes):
        for batch_size in args.batch_sizes:
            rate = encoder_only(args, batch_size, compiled)
            record(f"encoder only, {args.encoder} bf16 channels_last, compile {'on' if compiled else 'off'}, "
                   f"batch {batch_size}", rate)
            best = max(best, (rate, batch_size, compiled))
    if args.flow != "none":
        rgb_rate, both_rate = two_stream_only(args)
        record("encoder only, i3d_inception bf16, T=16, 224, batch " + str(args.flow_batch), rgb_rate, "snippets/s")
        record(f"encoder only, i3d_inception + i3d_inception_flow ({args.flow}, 20 updates)", both_rate,
               f"snippets/s, {both_rate / rgb_rate:.0%} of RGB alone")
    _, batch_size, compiled = best
    e2e, utilisation = end_to_end(args, index, batch_size, compiled, decoder)
    record(f"end to end predict, device transform, decoder {decoder}, batch {batch_size}, "
           f"compile {'on' if compiled else 'off'}", e2e, f"GPU utilisation {utilisation}")
    loader = max(rate for stage, rate, _ in rows if stage.startswith("loader only"))
    stages = {"the CPU workers (decoding)": loader, "the encoder on the GPU": best[0]}
    limit = min(stages, key=stages.get)
    print(f"\n| stage | clips/s | note |\n|---|---|---|")
    for stage, rate, note in rows:
        print(f"| {stage} | {rate:.0f} | {note} |")
    print(f"\nlimit: {limit} ({stages[limit]:.0f} clips/s; end to end reached {e2e:.0f} = "
          f"{e2e / stages[limit]:.0%} of it); whole check {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
