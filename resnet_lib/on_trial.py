"""Chapter 10's measurements: the same ResNet-20 in PyTorch and in Keras, and cross-entropy against MSE.

Both train ``resnet_lib``'s ResNet-20 (option-B shortcuts) with one recipe, :func:`recipe`: SGD with Nesterov
momentum 0.9, learning rate 0.1 divided by 10 at 50 % and 75 % of the steps, batch 128, weight decay 5e-4 on the
convolution and dense weights, no label smoothing, no augmentation. Chapter 10 loads the stored runs that
``python -m resnet_lib.on_trial`` writes (one seed and one study per command)::

    python -m resnet_lib.on_trial --study keras --seed 0 --out chapters/results/on_trial/keras_seed0.json
    python -m resnet_lib.on_trial --study loss --seed 0 --out chapters/results/on_trial/loss_seed0.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .data import load_data
from .hardware import device as pick_device
from .metrics import evaluate
from .models import resnet20
from .train import fit
from .train_config import TrainConfig

STUDIES = ("keras", "loss")
LOSSES = ("cross_entropy", "mse")


def recipe(epochs: int, seed: int, precision: str = "fp32") -> TrainConfig:
    """The recipe both frameworks (and both losses) train with; ``precision`` is PyTorch's.

    Returns:
        A :class:`~resnet_lib.train_config.TrainConfig` without per-epoch evaluation (only training is timed).
    """
    return TrainConfig(epochs=epochs, lr=0.1, batch_size=128, momentum=0.9, nesterov=True, weight_decay=5e-4,
                       no_decay_bn_bias=True, schedule="step", milestones=(0.5, 0.75), label_smoothing=0.0,
                       augment=False, precision=precision, channels_last=False, eval_splits=(), quiet=True,
                       log_every_steps=0, seed=seed)


def mse_on_probabilities(logits: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The "MSE as a classification loss" of some posts: ``MSELoss()(softmax(logits), one_hot(y))``.

    Args:
        logits: (B, K) scores.
        y: (B,) integer labels.
        x: the batch (unused: the signature of ``fit``'s ``loss_fn``).
    Returns:
        The mean squared error over the batch and the K classes, a scalar tensor.
    """
    return F.mse_loss(logits.softmax(1), F.one_hot(y, logits.shape[1]).to(logits.dtype))


def train_torch(data: Any, cfg: TrainConfig, loss: str = "cross_entropy") -> dict[str, Any]:
    """Train ``resnet20(shortcut="B")`` (initial weights from ``cfg.seed``) and test it.

    Returns:
        The run's results in a dict with ``train_loss`` and ``train_acc`` per epoch, ``test_acc``, ``seconds``
        (training only), ``steps``, ``images_per_s`` and ``precision``.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    torch.manual_seed(cfg.seed)
    model = resnet20(num_classes=len(data.classes), in_channels=data.in_channels, shortcut="B")
    start = time.perf_counter()
    h = fit(model, data, cfg, loss_fn=mse_on_probabilities if loss == "mse" else None)
    seconds = time.perf_counter() - start
    steps = (len(data.y_train) // cfg.batch_size) * len(h.epochs)          # fit drops the short batch
    return {"train_loss": h.series("train_loss"), "train_acc": h.series("train_acc"),
            "test_acc": evaluate(model, data).accuracy, "seconds": seconds, "steps": steps,
            "images_per_s": sum(e["img_per_s"] * e["time_s"] for e in h.epochs) / sum(h.series("time_s")),
            "precision": h.meta.get("precision")}


def train_keras(data: Any, cfg: TrainConfig) -> dict[str, Any]:
    """The same network, recipe and data in Keras 3 on the torch backend (:mod:`resnet_lib.keras_models`).

    Returns:
        :func:`~resnet_lib.keras_models.keras_fit`'s dict, with ``precision`` "fp32".
    """
    from .keras_models import _keras, keras_cifar_resnet, keras_fit

    keras = _keras()                     # keras on the torch backend
    keras.utils.set_random_seed(cfg.seed)
    model = keras_cifar_resnet(20, num_classes=len(data.classes), in_channels=data.in_channels, shortcut="B",
                               weight_decay=cfg.weight_decay)
    out = keras_fit(model, data, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum,
                    nesterov=cfg.nesterov, schedule=cfg, seed=cfg.seed)
    return {**out, "precision": "fp32"}


def main(argv: list[str] | None = None) -> int:
    """``python -m resnet_lib.on_trial --study keras|loss --seed N --out FILE``: one seed of one study."""
    from .cli import run_info

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", choices=STUDIES, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-size", type=int, default=8192)
    p.add_argument("--test-size", type=int, default=None)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    dev = pick_device("cpu")
    data = load_data("fashion-mnist", train_size=args.train_size, val_size=0, test_size=args.test_size,
                     seed=args.seed, device=dev)
    precision = "fp32" if args.study == "keras" else "auto"
    cfg = recipe(args.epochs, args.seed, precision)
    info = run_info(cfg, dev)
    start = time.perf_counter()
    if args.study == "keras":           # alternate the order, so that neither always runs on a warmer machine
        order = ("torch", "keras") if args.seed % 2 == 0 else ("keras", "torch")
        runs = {name: train_torch(data, cfg) if name == "torch" else train_keras(data, cfg) for name in order}
        from .keras_models import _keras
        info["versions"]["keras"] = _keras().__version__
    else:
        runs = {loss: train_torch(data, cfg, loss) for loss in LOSSES}
    info.update(study=args.study, seed=args.seed, runs=runs, seconds=time.perf_counter() - start,
                data={"name": "fashion-mnist", "train": len(data.y_train), "test": len(data.y_test),
                      "source": data.source},
                end_time=time.strftime("%Y-%m-%dT%H:%M:%S%z"), status="done", threads=torch.get_num_threads())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(info, indent=1))
    print(f"{args.study} seed {args.seed}: " + ", ".join(f"{k} test acc {v['test_acc']:.4f} in {v['seconds']:.0f} s"
                                                         for k, v in runs.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
