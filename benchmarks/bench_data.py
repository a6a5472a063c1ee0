"""Data-path throughput: one augmented training epoch of Fashion-MNIST, device loader vs DataLoader + transforms.v2.

    python benchmarks/bench_data.py                      # 12k images, batch 128, workers 0 and 2
    python benchmarks/bench_data.py --train-size 55000 --device cuda
    python benchmarks/bench_data.py --threads 1          # on a busy CPU: no intra-op thread-pool stalls

Only the data path is timed (no model): the batches are produced and, on CUDA, synchronised; the DataLoader's CPU
batches are moved to the device, as a training loop would. All timings run in one process, one after the other,
each after one warm-up epoch. Times on a shared machine vary with its load: read the ratios, not the absolutes.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from resnet_lib.data import load_data


def epoch_time(batches, device: torch.device) -> tuple[float, int]:
    """Seconds to iterate ``batches`` once (moving each to ``device``), and the number of images."""
    n = 0
    t = time.perf_counter()
    for x, y in batches:
        x = x.to(device, non_blocking=True)
        n += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t, n


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-size", type=int, default=12_000, help="training images per epoch (<= 55000)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader num_workers to time")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3, help="epochs timed per path (the best is reported)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's); 1 avoids thread-pool stalls on a busy machine")
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    data = load_data("fashion-mnist", train_size=args.train_size, device=dev)
    print(f"{data}\ntorch {torch.__version__}, {torch.get_num_threads()} intra-op threads, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}; load average {os.getloadavg()[0]:.1f} (shared machine)")

    rows = []
    paths = [("DeviceLoader (batched on-device crop+flip)",
              lambda e: data.loader("train", args.batch_size, seed=0, epoch=e))]
    for w in args.workers:
        paths.append((f"DataLoader + transforms.v2, num_workers={w}",
                      lambda e, w=w: data.dataloader("train", args.batch_size, num_workers=w, seed=e)))
    for name, make in paths:
        epoch_time(make(0), dev)  # warm-up: worker start-up, caches, lazy imports
        best, n = min(epoch_time(make(e + 1), dev) for e in range(args.repeats))
        rows.append((name, n / best, best))
        print(f"{name:48s} {n / best:10,.0f} img/s  ({best:.2f} s for {n} images, best of {args.repeats})")
    base = rows[0][1]
    for name, ips, _ in rows[1:]:
        print(f"DeviceLoader / [{name}]: {base / ips:.1f}x")


if __name__ == "__main__":
    main()
