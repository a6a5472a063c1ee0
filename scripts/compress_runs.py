"""Chapter 9's stored runs: knowledge distillation over seeds, and channel pruning with fine-tuning.

    python scripts/compress_runs.py distill --kinds plain kd --seeds 0 1 2   # -> chapters/results/distill/
    python scripts/compress_runs.py prune --ratios 0.5 0.75                 # -> chapters/results/prune/

Both start from the stored runs of chapters 2-3 (ResNet-20 and ResNet-56, 10 epochs on 30k Fashion-MNIST images,
seed-0 split) and use the same 30k training images (so the same normalisation); every accuracy is on the whole
10k test set. Each run writes one JSON file with its provenance (commit, device, versions, seed, duration).

distill: a ResNet-20 student trained from scratch for a short budget (3 epochs of the 30k images), once with the
plain cross-entropy ("plain") and once with DistillationLoss from the stored ResNet-56 ("kd"); everything else
(data order, augmentation, schedule, initial weights) is the same for a given seed.

prune: the stored ResNet-20 with the fraction ``ratio`` of the channels inside every block removed
(rl.compress.prune_channels with the residual stream kept, which the option-A shortcuts need), evaluated, then
fine-tuned for 2 epochs; the fine-tuned weights are kept (model.pt, a few hundred kB) so that the chapter can time
the pruned network.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import resnet_lib as rl
from resnet_lib.cli import _cpu_model, run_info
from resnet_lib.compress import DistillationLoss, prune_channels, residual_stream_layers

ROOT = Path(__file__).resolve().parent.parent
STORED = ROOT / "chapters" / "results"
TEACHER, STUDENT = "resnet56_fmnist30k_step10", "resnet20_fmnist30k_step10"
# the stored runs' recipe (scripts/stored_runs.sh), shortened: SGD 0.9, wd 1e-4, lr 0.1 / 10 at 50 % and 75 %
STUDENT_RECIPE = dict(epochs=3, batch_size=128, lr=0.1, momentum=0.9, nesterov=False, weight_decay=1e-4,
                      no_decay_bn_bias=False, schedule="step", milestones=(0.5, 0.75), warmup_epochs=0.5,
                      label_smoothing=0.0, augment="crop-flip", quiet=True)
KD = dict(temperature=4.0, alpha=0.5)
FINETUNE_RECIPE = dict(epochs=2, batch_size=128, lr=0.01, momentum=0.9, nesterov=False, weight_decay=1e-4,
                       no_decay_bn_bias=False, schedule="cosine", warmup_epochs=0.0, label_smoothing=0.0,
                       augment="crop-flip", quiet=True)


def stored_model(run: str) -> torch.nn.Module:
    info = json.loads((STORED / run / "run.json").read_text())
    model = rl.get_model(info["config"]["model"], num_classes=10, in_channels=1)
    return rl.book.load_run_weights(STORED / run, model)


def data_like_the_stored_runs() -> rl.DataBundle:
    info = json.loads((STORED / STUDENT / "run.json").read_text())["config"]
    return rl.load_data(info["data"], train_size=info["train_size"], val_size=info["val_size"], seed=info["seed"])


def provenance(cfg: rl.TrainConfig, seconds: float) -> dict:
    info = run_info(cfg, torch.device("cpu"))
    info.update(end_time=time.strftime("%Y-%m-%dT%H:%M:%S%z"), seconds=seconds, cpu_model=_cpu_model(),
                cpu_label=rl.hardware.cpu_label())
    for key in ("config", "final", "status"):
        info.pop(key, None)
    return info


def distill(kinds: list[str], seeds: list[int], out: Path) -> None:
    data = data_like_the_stored_runs()
    teacher = stored_model(TEACHER)
    teacher_acc = rl.evaluate(teacher, data).accuracy
    out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        for kind in kinds:
            cfg = rl.TrainConfig(seed=seed, **STUDENT_RECIPE)
            rl.seed_everything(seed)
            student = rl.get_model("resnet20", num_classes=10, in_channels=1)  # same initial weights per seed
            loss_fn = DistillationLoss(teacher, **KD) if kind == "kd" else None
            start = time.perf_counter()
            hist = rl.fit(student, data, cfg, loss_fn=loss_fn)
            seconds = time.perf_counter() - start
            record = {"kind": kind, "seed": seed, "student": "resnet20", "teacher": TEACHER,
                      "teacher_test_acc": teacher_acc, "kd": KD if kind == "kd" else None,
                      "recipe": STUDENT_RECIPE, "train_size": len(data.y_train), "test_size": len(data.y_test),
                      "test_acc": hist.final("test_acc"), "history": hist.to_dict(),
                      "provenance": provenance(cfg, seconds)}
            path = out / f"{kind}_s{seed}.json"
            path.write_text(json.dumps(record, indent=1))
            print(f"[distill] {kind} seed {seed}: test acc {record['test_acc']:.4f} in {seconds:.0f} s -> {path}")


def prune(ratios: list[float], seed: int, out: Path) -> None:
    data = data_like_the_stored_runs()
    base = stored_model(STUDENT)
    example = torch.randn(2, 1, 28, 28)
    base_acc = rl.evaluate(base, data).accuracy
    out.mkdir(parents=True, exist_ok=True)
    for ratio in ratios:
        pruned = prune_channels(base, example, ratio, ignored_layers=residual_stream_layers(base))
        before = rl.evaluate(pruned, data).accuracy
        cfg = rl.TrainConfig(seed=seed, **FINETUNE_RECIPE)
        start = time.perf_counter()
        hist = rl.fit(pruned, data, cfg)
        seconds = time.perf_counter() - start
        pruned = pruned.eval().to(memory_format=torch.contiguous_format)
        name = f"resnet20_inner{round(100 * ratio)}"
        torch.save(pruned.state_dict(), out / f"{name}.pt")
        size = rl.summary(pruned, (1, 1, 28, 28))
        record = {"ratio": ratio, "base": STUDENT, "base_test_acc": base_acc, "pruned_test_acc": before,
                  "finetuned_test_acc": rl.evaluate(pruned, data).accuracy, "params": size.params,
                  "macs": size.macs, "channels": rl.compress.channel_counts(pruned), "seed": seed,
                  "recipe": FINETUNE_RECIPE, "weights": f"{name}.pt", "history": hist.to_dict(),
                  "provenance": provenance(cfg, seconds)}
        (out / f"{name}.json").write_text(json.dumps(record, indent=1))
        print(f"[prune] ratio {ratio}: {base_acc:.4f} -> {before:.4f} pruned -> "
              f"{record['finetuned_test_acc']:.4f} fine-tuned in {seconds:.0f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="part", required=True)
    d = sub.add_parser("distill")
    d.add_argument("--kinds", nargs="+", choices=("plain", "kd"), default=["plain", "kd"])
    d.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    d.add_argument("--out", type=Path, default=STORED / "distill")
    r = sub.add_parser("prune")
    r.add_argument("--ratios", nargs="+", type=float, default=[0.5, 0.75])
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", type=Path, default=STORED / "prune")
    args = p.parse_args()
    if args.part == "distill":
        distill(args.kinds, args.seeds, args.out)
    else:
        prune(args.ratios, args.seed, args.out)


if __name__ == "__main__":
    main()
