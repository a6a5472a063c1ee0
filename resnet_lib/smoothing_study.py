"""Label smoothing against calibration, over seeds: chapter 7's stored study.

Each run trains one network with :func:`~resnet_lib.train.fit` (He et al.'s §4.2 recipe, ``"paper"``, with a one-epoch
warm-up as in the book's other stored runs) and a given ``label_smoothing``, then measures on the test split the
accuracy, the NLL and the expected calibration error, before and after temperature scaling fitted on the
validation split (held out of the training files, never trained on). ``python -m resnet_lib.smoothing_study --out
FILE`` writes every run with its provenance (commit, device, versions, times); ``scripts/calibration_runs.sh``
makes the chapter's stored files.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch

from .calibration import fit_temperature, nll, reliability
from .hardware import seed_everything
from .models import get_model
from .reports import predict
from .train import fit
from .train_config import from_recipe


def calibration_summary(val_logits: torch.Tensor, val_labels: torch.Tensor, test_logits: torch.Tensor,
                        test_labels: torch.Tensor, n_bins: int = 15) -> dict[str, Any]:
    """Test accuracy, NLL, ECE and mean confidence before and after a temperature fitted on the validation logits.

    Returns:
        A JSON-ready dict (fractions, nats, the temperature and both reliability diagrams' bins).
    """
    t = fit_temperature(val_logits, val_labels)
    before, after = reliability(test_logits, test_labels, n_bins), reliability(test_logits / t, test_labels, n_bins)

    def bins(r: Any) -> dict[str, list[float]]:
        return {"confidence": r.confidence.tolist(), "accuracy": r.accuracy.tolist(), "count": r.count.tolist()}

    return {"test_accuracy": before.overall_accuracy, "test_nll": nll(test_logits, test_labels),
            "test_ece": before.ece, "test_mean_confidence": before.mean_confidence, "temperature": t,
            "test_nll_scaled": nll(test_logits, test_labels, t), "test_ece_scaled": after.ece,
            "test_mean_confidence_scaled": after.mean_confidence,
            "val_ece": reliability(val_logits, val_labels, n_bins).ece, "n_bins": n_bins,
            "bins": bins(before), "bins_scaled": bins(after)}


def smoothing_runs(data: Any, smoothings: Sequence[float] = (0.0, 0.1), seeds: Sequence[int] = (0, 1, 2), *,
                   epochs: int = 4, augment: str = "crop-flip", model: str = "resnet20",
                   device: str | torch.device | None = None) -> list[dict[str, Any]]:
    """Train ``model`` once per (label smoothing, seed) and measure its calibration (:func:`calibration_summary`).

    Args:
        data: a DataBundle with non-empty ``train``, ``val`` (for the temperature) and ``test`` splits.
        smoothings: the ``label_smoothing`` values compared.
        seeds: one run per seed (initial weights, data order and augmentation); the data split is ``data``'s.
        epochs: training length.
        augment: training augmentation policy.
        model: a name for :func:`~resnet_lib.models.registry.get_model`.
        device: where to train; None = the data's device.
    Returns:
        One dict per run, with ``label_smoothing``, ``seed``, ``seconds``, ``final_train_loss`` and the summary's keys.
    """
    if len(data.y_val) == 0 or len(data.y_test) == 0:
        raise ValueError("smoothing_runs needs val and test images: load_data(..., val_size=5000) (the temperature "
                         "is fitted on val)")
    runs = []
    for ls in smoothings:
        for seed in seeds:
            seed_everything(seed)
            net = get_model(model, num_classes=data.num_classes, in_channels=data.in_channels)
            cfg = from_recipe("paper", epochs=epochs, warmup_epochs=1.0, label_smoothing=float(ls), augment=augment,
                              seed=seed, eval_splits=(), quiet=True,
                              device="auto" if device is None else str(device))
            start = time.perf_counter()
            hist = fit(net, data, cfg)
            val, test = predict(net, data, "val"), predict(net, data, "test")
            row = {"label_smoothing": float(ls), "seed": seed, "seconds": time.perf_counter() - start,
                   "final_train_loss": hist.epochs[-1]["train_loss"] if hist.epochs else None,
                   "final_train_acc": hist.epochs[-1]["train_acc"] if hist.epochs else None,
                   "precision": hist.meta.get("precision")}
            row.update(calibration_summary(val.logits, val.labels, test.logits, test.labels))
            runs.append(row)
    return runs


def main(argv: list[str] | None = None) -> int:
    """``python -m resnet_lib.smoothing_study --out FILE``: label smoothing 0 and 0.1, three seeds, one JSON file."""
    ap = argparse.ArgumentParser(prog="python -m resnet_lib.smoothing_study", description=main.__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--smoothings", type=float, nargs="+", default=[0.0, 0.1])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--train-size", type=int, default=12_000)
    ap.add_argument("--val-size", type=int, default=5_000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--augment", default="crop-flip")
    ap.add_argument("--data-seed", type=int, default=0, help="seeds the split into train / val (fixed across runs)")
    args = ap.parse_args(argv)
    from .cli import run_info
    from .data import load_data
    from .hardware import device as pick_device

    dev = pick_device()
    data = load_data(args.data, train_size=args.train_size, val_size=args.val_size, seed=args.data_seed, device=dev)
    cfg = from_recipe("paper", model=args.model, data=args.data, train_size=args.train_size, val_size=args.val_size,
                      epochs=args.epochs, warmup_epochs=1.0, augment=args.augment, seed=args.seeds[0])
    info = run_info(cfg, dev)
    info["config"]["label_smoothing"] = None       # the study varies it: see "study" and each run
    info["study"] = {"smoothings": args.smoothings, "seeds": args.seeds, "model": args.model, "data": args.data,
                     "train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test),
                     "epochs": args.epochs, "augment": args.augment, "data_seed": args.data_seed,
                     "source": data.source}
    info["runs"] = smoothing_runs(data, args.smoothings, args.seeds, epochs=args.epochs, augment=args.augment,
                                  model=args.model)
    info["end_time"], info["status"] = time.strftime("%Y-%m-%dT%H:%M:%S%z"), "finished"
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
