"""Re-create chapter 5's stored ablation grid (chapters/results/training/): one trick at a time against a baseline.

The baseline is He et al. (2016)'s CIFAR recipe (§4.2; ``--recipe paper``) on a budget a 2-core CPU affords:
ResNet-20 (option A), 10 000 Fashion-MNIST training images, 5 000 held out for validation (as the paper holds out
5k of CIFAR's 50k), the whole 10 000-image test set, 5 epochs. Every variant changes one setting of it (the
linear-scaling pair changes the batch and the rate together, as the rule says). Each run is one
``python -m resnet_lib.train`` call, so its ``run.json`` holds the full configuration, commit, device and times;
afterwards the final weights are evaluated once more with test-time flip averaging (``flip.json``) and the
checkpoint is deleted (no weights are kept).

    python scripts/training_runs.py                      # every variant, seeds 0 1 2
    python scripts/training_runs.py baseline cosine --seeds 0 1 2
    python scripts/training_runs.py --list
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "chapters" / "results" / "training"

#: the budget shared by every run (on top of --recipe paper, which sets optimizer, schedule and augmentation)
BUDGET = ["--recipe", "paper", "--model", "resnet20", "--data", "fashion-mnist", "--train-size", "10000",
          "--val-size", "5000", "--epochs", "5", "--quiet"]

#: name -> (what it changes, the flags that change it)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "baseline": ("the paper's recipe (step schedule, lr 0.1, wd 1e-4 on all, batch 128, crop + flip)", []),
    "cosine": ("cosine schedule instead of steps", ["--schedule", "cosine"]),
    "onecycle": ("one-cycle schedule instead of steps", ["--schedule", "onecycle"]),
    "warmup_linear": ("1-epoch linear warm-up from 0.01 (Goyal et al.)", ["--warmup-epochs", "1"]),
    "batch512_lr0.4": ("batch 512 with lr 0.4 (linear scaling rule)", ["--batch-size", "512", "--lr", "0.4"]),
    "batch512_lr0.4_warmup": ("batch 512, lr 0.4 and a 1-epoch linear warm-up",
                              ["--batch-size", "512", "--lr", "0.4", "--warmup-epochs", "1"]),
    "wd5e-4": ("weight decay 5e-4", ["--weight-decay", "5e-4"]),
    "no_decay_bn_bias": ("no weight decay on BN and biases", ["--no-decay-bn-bias"]),
    "zero_init": ("last BN of each residual branch starts at gamma = 0", ["--model-options", "zero_init_residual=True"]),
    "nesterov": ("Nesterov momentum", ["--nesterov"]),
    "label_smoothing": ("label smoothing 0.1", ["--label-smoothing", "0.1"]),
    "aug_flip": ("augmentation: flip only", ["--augment", "flip"]),
    "aug_none": ("no augmentation", ["--augment", "none"]),
    "fp32": ("fp32 arithmetic instead of the CPU's bf16 autocast", ["--precision", "fp32"]),
}


def run_one(name: str, seed: int, py_main) -> None:
    """Train one variant with one seed via the CLI, then add the flip-averaged test accuracy and drop the weights."""
    import torch

    import resnet_lib as rl
    from resnet_lib.cli import model_options

    out = OUT / f"{name}_s{seed}"
    if (out / "flip.json").is_file():
        print(f"[training] {out.name} exists, skipped", flush=True)
        return
    for f in ("checkpoint.pt", "history.json", "run.json"):
        (out / f).unlink(missing_ok=True)
    print(f"[training] {out.name}: {VARIANTS[name][0]}", flush=True)
    argv = BUDGET + VARIANTS[name][1] + ["--seed", str(seed), "--out", str(out)]
    if py_main(argv) != 0:
        raise SystemExit(f"run {out.name} failed")
    info = json.loads((out / "run.json").read_text())
    cfg = info["config"]
    data = rl.load_data(cfg["data"], train_size=cfg["train_size"], val_size=cfg["val_size"], seed=cfg["seed"])
    model = rl.get_model(cfg["model"], num_classes=data.num_classes, in_channels=data.in_channels,
                         **model_options(tuple(cfg["model_options"])))
    state = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    t0 = time.perf_counter()
    flip = rl.evaluate(model, data, split="test", tta="flip").accuracy
    plain = rl.evaluate(model, data, split="test").accuracy
    (out / "flip.json").write_text(json.dumps({"tta": "flip", "test_acc": flip, "test_acc_without": plain,
                                               "seconds": round(time.perf_counter() - t0, 1)}, indent=1))
    (out / "checkpoint.pt").unlink()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variants", nargs="*", help="names to run (default: all)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--list", action="store_true", help="list the variants and exit")
    args = p.parse_args()
    if args.list:
        for name, (what, flags) in VARIANTS.items():
            print(f"{name:24s} {what}  {' '.join(flags)}")
        return
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}: use --list to see them")
    from resnet_lib.cli import main as py_main

    OUT.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:                      # seed-major: an interrupted grid still has every variant's seed 0
        for name in args.variants or VARIANTS:
            run_one(name, seed, py_main)


if __name__ == "__main__":
    sys.exit(main())
