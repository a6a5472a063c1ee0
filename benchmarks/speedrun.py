"""Time to accuracy on Fashion-MNIST, in one process: the speedrun recipe against the CLI's default and d2l's recipe.

    .venv/bin/python benchmarks/speedrun.py                        # 5 seeds of each speedrun, 1 default, d2l sample
    .venv/bin/python benchmarks/speedrun.py --seeds 0 1 --default-seeds --speedrun94-seeds --d2l-steps 0
                                                                   # the 93 % speedrun only

Every run reads the same files (all 60 000 training images, the 10 000 test images) on the same machine, one after
another in this process, and is timed from the first training step to the last test prediction (the data are
loaded once, before any clock starts). Printed at the end: each run's test accuracy and wall time, and the ratios.

* **speedrun** — ``TrainConfig`` of ``--recipe speedrun`` and its network (``resnet_lib.train_config.RECIPES``:
  Page's ResNet-9 at widths 16-32-64-128, 3 epochs, batch 256, no augmentation), no evaluation between epochs,
  then the test set once (counted in its time). Flip averaging is evaluated too, untimed, for the record: a net
  trained without flips gains nothing from it.
* **speedrun94** — ``--recipe speedrun94``, the second target (94 %): the same network for 6 epochs with random
  flips, read with flip averaging (``evaluate(tta="flip")``, counted in its time; the plain reading untimed).
* **default** — ``TrainConfig()`` (the CLI's default: ResNet-20, 4 epochs, one-cycle), evaluated on the test set
  after every epoch as the CLI does; its last evaluation is its result.
* **d2l** — the recipe of d2l's ResNet chapter (Zhang et al., *Dive into Deep Learning*, §8.6): ResNet-18 built
  from ``d2l.Residual`` blocks, inputs resized to 96×96, Xavier initialisation, plain SGD (lr 0.05, batch 256, the
  ``train_ch6`` loop: fp32, one step per batch). Ten epochs do not fit a CPU session, so ``--d2l-steps`` steps are
  timed and the epoch time is extrapolated (steps per epoch × median seconds per step); the test accuracy is that
  of the sampled steps only and says nothing about the end of their 10 epochs (their book reports ~0.90-0.92).

Writes ``benchmarks/results/speedrun/<date>_<cpu>.json`` (or ``--out``) with every figure, the CPU and versions.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

import resnet_lib as rl
from resnet_lib.cli import _cpu_model, model_options, run_info
from resnet_lib.train_config import from_recipe

ROOT = Path(__file__).resolve().parent.parent


#: How each speedrun recipe reads its result (timed); the other reading is recorded untimed.
TTA = {"speedrun": None, "speedrun94": "flip"}


def _speedrun(data, seed: int, recipe: str = "speedrun") -> dict:
    cfg = from_recipe(recipe, seed=seed, quiet=True, eval_splits=())     # evaluated once, at the end
    torch.manual_seed(seed)
    model = rl.get_model(cfg.model, num_classes=10, in_channels=1, **model_options(cfg.model_options))
    t0 = time.perf_counter()
    hist = rl.fit(model, data, cfg)
    result = rl.evaluate(model, data, tta=TTA[recipe])
    seconds = time.perf_counter() - t0
    other = rl.evaluate(model, data, tta=None if TTA[recipe] else "flip")  # not timed: for the record only
    return {"seed": seed, "test_acc": result.accuracy, "tta": TTA[recipe],
            "test_acc_plain" if TTA[recipe] else "test_acc_flip": other.accuracy, "seconds": seconds,
            "epochs": cfg.epochs, "img_per_s": [e["img_per_s"] for e in hist.epochs]}


def _default(data, seed: int) -> dict:
    cfg = rl.TrainConfig(seed=seed, quiet=True, eval_splits=("test",))
    torch.manual_seed(seed)
    model = rl.get_model(cfg.model, num_classes=10, in_channels=1)
    t0 = time.perf_counter()
    hist = rl.fit(model, data, cfg)
    seconds = time.perf_counter() - t0
    return {"seed": seed, "test_acc": hist.final("test_acc"), "seconds": seconds, "epochs": cfg.epochs,
            "per_epoch_test_acc": [e["test_acc"] for e in hist.epochs],
            "img_per_s": [e["img_per_s"] for e in hist.epochs]}


def d2l_resnet18(num_classes: int = 10) -> nn.Module:
    """d2l's ResNet-18 (§8.6): a 7×7/2 stem and max-pool, then four stages of two ``d2l.Residual`` blocks."""
    from d2l import torch as d2l

    def stage(channels: int, first: bool) -> list[nn.Module]:
        return [d2l.Residual(channels, use_1x1conv=not first, strides=1 if first else 2), d2l.Residual(channels)]

    return nn.Sequential(
        nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        *stage(64, True), *stage(128, False), *stage(256, False), *stage(512, False),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.LazyLinear(num_classes))


def _d2l(data, steps: int, seed: int = 0, batch: int = 256, lr: float = 0.05, size: int = 96) -> dict:
    """``steps`` SGD steps of d2l's recipe (fp32, NCHW), timed one by one; the epoch time is extrapolated."""
    from torchvision.transforms.v2 import functional as TF

    torch.manual_seed(seed)
    net = d2l_resnet18()

    def prep(x: torch.Tensor) -> torch.Tensor:   # ToTensor + Resize(96), as d2l's loader does (batched here)
        return TF.resize(TF.to_dtype(x, torch.float32, scale=True), [size, size], antialias=True)

    net(prep(data.x_train[:2]))                   # materialise the lazy layer, then d2l's Xavier init
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    order = torch.randperm(len(data.y_train), generator=torch.Generator().manual_seed(seed))
    times = []
    net.train()
    for i in range(steps):
        idx = order[i * batch:(i + 1) * batch]
        t0 = time.perf_counter()
        x, y = prep(data.x_train[idx]), data.y_train[idx]
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    net.eval()
    correct, t0 = 0, time.perf_counter()
    with torch.no_grad():
        for j in range(0, len(data.y_test), 512):
            correct += (net(prep(data.x_test[j:j + 512])).argmax(1) == data.y_test[j:j + 512]).sum().item()
    eval_s = time.perf_counter() - t0
    per_step = statistics.median(times[2:] if len(times) > 4 else times)
    steps_per_epoch = -(-len(data.y_train) // batch)
    epoch_s = per_step * steps_per_epoch + eval_s
    return {"steps": steps, "batch": batch, "lr": lr, "size": size, "median_step_s": per_step,
            "steps_per_epoch": steps_per_epoch, "test_eval_s": eval_s, "extrapolated_epoch_s": epoch_s,
            "extrapolated_10_epochs_s": 10 * epoch_s, "test_acc_after_steps": correct / len(data.y_test)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4], help="speedrun seeds")
    p.add_argument("--default-seeds", nargs="*", type=int, default=[0], help="default-recipe seeds")
    p.add_argument("--speedrun94-seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4], help="speedrun94 seeds")
    p.add_argument("--d2l-steps", type=int, default=30, help="timed steps of d2l's recipe (0 = skip it)")
    p.add_argument("--out", default=None, help="JSON file to write (default: benchmarks/results/speedrun/...)")
    args = p.parse_args(argv)

    data = rl.load_data("fashion-mnist", val_size=0)
    cpu = f"{_cpu_model() or platform.machine()} ({rl.hardware.cpu_label()})"
    print(f"[speedrun] {cpu}, torch {torch.__version__}", flush=True)
    record = {"cpu": cpu, "info": run_info(rl.TrainConfig(), torch.device("cpu")), "recipe": from_recipe(
        "speedrun").to_dict(), "recipe94": from_recipe("speedrun94").to_dict(), "speedrun": [], "speedrun94": [],
        "default": [], "d2l": None}
    for seed in args.default_seeds:
        record["default"].append(r := _default(data, seed))
        print(f"[speedrun] default seed {seed}: {r['test_acc']:.2%} in {r['seconds']:.0f} s", flush=True)
    for seed in args.seeds:
        record["speedrun"].append(r := _speedrun(data, seed))
        print(f"[speedrun] speedrun seed {seed}: {r['test_acc']:.2%} in {r['seconds']:.0f} s", flush=True)
    for seed in args.speedrun94_seeds:
        record["speedrun94"].append(r := _speedrun(data, seed, "speedrun94"))
        print(f"[speedrun] speedrun94 seed {seed}: {r['test_acc']:.2%} in {r['seconds']:.0f} s", flush=True)
    if args.d2l_steps:
        record["d2l"] = r = _d2l(data, args.d2l_steps)
        print(f"[speedrun] d2l: {r['median_step_s']:.2f} s per step of 256 -> {r['extrapolated_epoch_s']:.0f} s per "
              f"epoch, 10 epochs ~{r['extrapolated_10_epochs_s'] / 60:.0f} min (extrapolated)", flush=True)
    record["info"]["end_time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    sp, de = record["speedrun"], record["default"]
    for recipe, target in (("speedrun", 0.93), ("speedrun94", 0.94)):
        runs = record[recipe]
        if not runs:
            continue
        print(f"[speedrun] {recipe}: {sum(r['test_acc'] >= target for r in runs)} of {len(runs)} seeds >= "
              f"{target:.1%}, accuracy {min(r['test_acc'] for r in runs):.2%}-{max(r['test_acc'] for r in runs):.2%}, "
              f"{statistics.median(r['seconds'] for r in runs):.0f} s (median)")
        if de:
            ratio = statistics.median(r["seconds"] for r in runs) / statistics.median(r["seconds"] for r in de)
            record[f"time_ratio_{recipe}_over_default"] = ratio
            print(f"[speedrun] {recipe} time / default time = {ratio:.2f}"
                  + (" (target <= 0.33)" if recipe == "speedrun" else ""))
    if sp and record["d2l"]:
        ratio = statistics.median(r["seconds"] for r in sp) / record["d2l"]["extrapolated_10_epochs_s"]
        record["time_ratio_speedrun_over_d2l"] = ratio
        print(f"[speedrun] speedrun time / d2l's 10 epochs (extrapolated) = {ratio:.3f}")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / "speedrun" / (
        time.strftime("%Y-%m-%d") + "_" + rl.hardware.cpu_label().split(", ")[-1].lower() + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    print(f"[speedrun] wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
