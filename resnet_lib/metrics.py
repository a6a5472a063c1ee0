"""Evaluation of a classifier on a split: loss, accuracy, top-5, per-class precision/recall/F1, confusion matrix.

The counting is torchmetrics' (``MulticlassAccuracy``, ``MulticlassPrecision``/``Recall``/``F1Score`` with
``average=None``, ``MulticlassConfusionMatrix``); the tests check it against scikit-learn.
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import limits as limits_

TTA_MODES = (None, "flip")


@dataclass
class EvalResult:
    """Metrics of one model on one split (fractions in [0, 1])."""

    loss: float  # mean cross-entropy of the logits (no label smoothing)
    accuracy: float  # top-1
    top5: float | None  # top-5 accuracy; None with 5 classes or fewer (it would be 1 trivially)
    precision: list[float]  # per class; 0 for a class never predicted
    recall: list[float]  # per class; 0 for a class absent from the split
    f1: list[float]  # per class
    macro_f1: float  # unweighted mean of f1
    confusion: torch.Tensor  # [K, K] int64 on CPU: rows = true class, columns = predicted class
    n: int  # images evaluated

    @property
    def error(self) -> float:
        """Top-1 error, the paper's figure of merit."""
        return 1.0 - self.accuracy

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the confusion matrix as nested lists)."""
        d = asdict(self)
        d["confusion"] = self.confusion.tolist()
        return d

    def __str__(self) -> str:
        top5 = "" if self.top5 is None else f", top-5 {self.top5:.2%}"
        return (f"n={self.n}: loss {self.loss:.4f}, accuracy {self.accuracy:.2%}{top5}, "
                f"macro-F1 {self.macro_f1:.4f}")


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def evaluate(model: nn.Module, data_or_loader: Any, device: str | torch.device | None = None, *, split: str = "test",
             batch_size: int = 512, num_classes: int | None = None, amp: bool | None = None,
             tta: str | None = None) -> EvalResult:
    """Evaluate ``model`` in eval mode under ``torch.inference_mode()``; its previous train/eval modes are restored.

    Args:
        model: maps ``x [B, C, H, W]`` to logits ``[B, K]``.
        data_or_loader: a :class:`~resnet_lib.data.bundle.DataBundle` (its ``split`` is read without augmentation), or
            any iterable of ``(x, y)`` batches (a DeviceLoader, a DataLoader).
        device: where to compute; None = the model's device.
        split: which split of a DataBundle.
        batch_size: batch size for a DataBundle.
        num_classes: K; None = the bundle's, else the width of the model's output.
        amp: bfloat16 autocast; None = on for CUDA, off elsewhere.
        tta: test-time augmentation. ``"flip"`` averages the class probabilities of each image and its horizontal
            mirror (the loss is then that of the averaged probabilities); None = the image alone.
    Returns:
        An :class:`EvalResult`.
    """
    from torchmetrics import MetricCollection
    from torchmetrics.classification import (MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score,
                                             MulticlassPrecision, MulticlassRecall)

    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                    or num_classes < 2):
        raise ValueError(f"num_classes must be an int >= 2 (or None), got {num_classes!r}")
    if tta not in TTA_MODES:
        raise ValueError(f"tta must be None or 'flip', got {tta!r}")
    dev = _model_device(model) if device is None else torch.device(device)
    if hasattr(data_or_loader, "loader") and hasattr(data_or_loader, "classes"):
        num_classes = num_classes or data_or_loader.num_classes
        batches: Iterable = data_or_loader.loader(split, batch_size, shuffle=False, augment=False)
    elif isinstance(data_or_loader, Iterable):
        batches = data_or_loader
    else:
        raise ValueError(f"evaluate needs a DataBundle or an iterable of (x, y) batches, got "
                         f"{type(data_or_loader).__name__}")
    use_amp = dev.type == "cuda" if amp is None else bool(amp)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16) if use_amp else nullcontext()

    modes = [m.training for m in model.modules()]
    model.eval()
    metrics, losses, n = None, [], 0
    try:
        with torch.inference_mode():
            for x, y in limits_.take(batches, limits_.current().eval_batches):  # capped only in smoke tests
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                with autocast:
                    logits = model(x).float()  # [B, K]
                    if tta == "flip":           # log of the mean probability of x and its mirror: [B, K]
                        mirrored = model(x.flip(-1)).float()
                        logits = torch.logsumexp(torch.stack([logits.log_softmax(1), mirrored.log_softmax(1)]),
                                                 0) - math.log(2)
                if metrics is None:  # built at the first batch: K may come from the model's output
                    k = num_classes or logits.shape[1]
                    metrics = MetricCollection({
                        "accuracy": MulticlassAccuracy(k, top_k=1, average="micro"),
                        "precision": MulticlassPrecision(k, average=None, zero_division=0),
                        "recall": MulticlassRecall(k, average=None, zero_division=0),
                        "f1": MulticlassF1Score(k, average=None, zero_division=0),
                        "confusion": MulticlassConfusionMatrix(k),
                        **({"top5": MulticlassAccuracy(k, top_k=5, average="micro")} if k > 5 else {}),
                    }).to(dev)
                if logits.shape[1] != k:
                    raise ValueError(f"the model outputs {logits.shape[1]} logits but num_classes={k}")
                metrics.update(logits, y)
                losses.append(F.cross_entropy(logits, y, reduction="sum"))  # stays on the device: no sync per batch
                n += len(y)
            if metrics is None:
                raise ValueError("nothing to evaluate: the loader yielded no batches")
            r = {key: v.cpu() for key, v in metrics.compute().items()}
            loss_sum = float(torch.stack(losses).cpu().double().sum())
    finally:
        for m, mode in zip(model.modules(), modes):
            m.training = mode
    f1 = r["f1"].tolist()
    return EvalResult(loss=loss_sum / n, accuracy=float(r["accuracy"]),
                      top5=float(r["top5"]) if "top5" in r else None, precision=r["precision"].tolist(),
                      recall=r["recall"].tolist(), f1=f1, macro_f1=sum(f1) / len(f1),
                      confusion=r["confusion"].to(torch.int64), n=n)
