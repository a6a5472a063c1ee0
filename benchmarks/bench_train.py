"""Training throughput: ``resnet_lib.fit``'s default path vs a plain eager fp32 loop written like the tutorials.

    python benchmarks/bench_train.py                      # ResNet-20, Fashion-MNIST 28×28, batch 128
    python benchmarks/bench_train.py --steps 60 --model plain56
    python benchmarks/bench_train.py --time-to-accuracy   # the CLI's default recipe: wall time and test accuracy

Both sides train the same architecture from the same initial weights on the same images; warm-up steps are not
timed (``fit``: its first epoch is the warm-up and the second is timed, from ``History.img_per_s``, which counts
training steps only). Prints img/s of each and the ratio.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from resnet_lib.data import load_data  # noqa: E402
from resnet_lib.models import get_model  # noqa: E402
from resnet_lib.train import TrainConfig, fit, resolve_channels_last, resolve_precision  # noqa: E402


def tutorial_loop(model: nn.Module, loader, steps: int, warmup: int) -> float:
    """The popular-tutorial loop: fp32 NCHW, ``zero_grad``, forward, ``backward``, ``step``. Returns img/s.

    ``loader`` yields (images, labels); the first ``warmup`` steps are not timed.
    """
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    done, n, t0 = 0, 0, None
    while done < warmup + steps:
        for xb, yb in loader:
            if done == warmup:
                t0 = time.perf_counter()
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            done += 1
            n += len(yb) if done > warmup else 0
            if done == warmup + steps:
                break
    return n / (time.perf_counter() - t0)


def throughput(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    n = args.batch_size * (args.steps + args.warmup + 1)
    data = load_data(args.data, train_size=n, val_size=0, test_size=args.batch_size, seed=0, device="cpu")
    model = get_model(args.model, num_classes=data.num_classes, in_channels=data.in_channels)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    dev = torch.device("cpu")
    print(f"{args.model} on {args.data} {tuple(data.x_train.shape[1:])}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, {args.rounds} rounds (medians reported)")

    # (a) the tutorial step alone: normalised float32 images already in memory, NCHW, no augmentation
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    x = (data.x_train.float() / 255 - mean) / std
    tensors = DataLoader(TensorDataset(x, data.y_train), batch_size=args.batch_size, shuffle=True, drop_last=True)
    # (b) the tutorial as written: a DataLoader over a per-image Dataset with the dataset's augmentation
    #     (transforms.v2), num_workers=2 as in PyTorch's CIFAR-10 tutorial
    per_image = data.dataloader("train", args.batch_size, augment=True, num_workers=args.workers)
    # (c) resnet_lib.fit's default path (device-resident data with the same augmentation, precision/layout "auto")
    cfg = TrainConfig(epochs=2, batch_size=args.batch_size, lr=0.05, schedule="constant", quiet=True,
                      eval_splits=(), log_every_steps=10)
    rows = []
    for r in range(args.rounds):  # alternate the sides, so that a change in machine load hits all of them
        row = {}
        for side, loader in (("a", tensors), ("b", per_image)):
            model.load_state_dict(init)
            row[side] = tutorial_loop(model, loader, args.steps, args.warmup)
        model.load_state_dict(init)
        row["c"] = fit(model, data, cfg).epochs[1]["img_per_s"]  # epoch 1 warms up, epoch 2 is timed
        rows.append(row)
        print(f"round {r + 1}: (a) {row['a']:5.0f}  (b) {row['b']:5.0f}  (c) {row['c']:5.0f} img/s   "
              f"(c)/(b) {row['c'] / row['b']:.2f}x  (c)/(a) {row['c'] / row['a']:.2f}x", flush=True)
    med = {k: statistics.median(row[k] for row in rows) for k in "abc"}
    ratio = {k: statistics.median(row["c"] / row[k] for row in rows) for k in "ab"}
    p = resolve_precision(cfg.precision, dev)
    cl = resolve_channels_last(cfg.channels_last, dev, p)
    print(f"medians over {len(rows)} rounds:")
    print(f"(a) tutorial step, tensors in memory, fp32 NCHW           : {med['a']:8.0f} img/s")
    print(f"(b) tutorial loop, DataLoader + transforms ({args.workers} workers), fp32: {med['b']:8.0f} img/s")
    print(f"(c) resnet_lib.fit default (precision={p}, channels_last={cl}) : {med['c']:8.0f} img/s")
    print(f"ratio (c)/(b), default path vs the tutorial as written    : {ratio['b']:8.2f}x")
    print(f"ratio (c)/(a), compute only (precision and memory layout)  : {ratio['a']:8.2f}x")


def time_to_accuracy(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "resnet_lib.train", "--out", tmp, *args.extra]
        print("running:", " ".join(cmd), flush=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True)
        wall = time.perf_counter() - t0
        run = json.loads((Path(tmp) / "run.json").read_text())
    final = run["final"]
    print(f"wall time {wall:.0f} s ({wall / 60:.1f} min), test accuracy {final.get('test_acc', float('nan')):.4f}, "
          f"epochs {final['epoch']}, device {run['device_name']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet20")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=40, help="timed steps per side")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps of the tutorial loop")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the tutorial loop (b)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are reported")
    p.add_argument("--time-to-accuracy", action="store_true", help="run the CLI default recipe instead")
    p.add_argument("extra", nargs="*", help="with --time-to-accuracy: extra CLI arguments (after --)")
    args = p.parse_args()
    time_to_accuracy(args) if args.time_to_accuracy else throughput(args)


if __name__ == "__main__":
    main()
