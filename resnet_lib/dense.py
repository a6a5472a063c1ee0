"""Training and measuring detectors and segmenters on torchvision-format data (boxes, labels, masks).

:func:`train_detector` and :func:`train_segmenter` are short SGD loops (momentum, linear warm-up, cosine decay) for
torchvision's detection and segmentation models — ``fit`` trains classifiers only. :func:`detection_map` measures
mean average precision with torchmetrics' ``MeanAveragePrecision`` (COCO's definition: AP averaged over IoU
thresholds 0.50:0.05:0.95 and over classes; it needs ``pycocotools`` or ``faster-coco-eval``), and
:func:`segmentation_miou` the mean intersection over union of a segmentation with torchmetrics'
``MulticlassJaccardIndex`` (per class over all pixels of the set, then the mean over classes).

The data are datasets whose items are ``(image, target)`` as in :mod:`resnet_lib.data.composed`: ``image`` float
``[C, H, W]`` in [0, 1], ``target`` with ``boxes``, ``labels`` and ``masks``; segmentation reads
``dataset.semantic(i)`` when the dataset has it, and builds the class map from the masks otherwise.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import limits as limits_


def _lr(step: int, total: int, warmup: int) -> float:
    """Multiplier of the peak rate: linear warm-up over ``warmup`` steps, then half a cosine to 0."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _order(n: int, steps: int, batch_size: int, seed: int) -> list[list[int]]:
    """``steps`` batches of indices: shuffled passes over ``0..n-1`` from one seeded generator."""
    g = torch.Generator().manual_seed(seed)
    flat: list[int] = []
    while len(flat) < steps * batch_size:
        flat += torch.randperm(n, generator=g).tolist()
    return [flat[i * batch_size:(i + 1) * batch_size] for i in range(steps)]


def _semantic(dataset: Any, i: int) -> torch.Tensor:
    if hasattr(dataset, "semantic"):
        return dataset.semantic(i)
    image, target = dataset[i]
    out = torch.zeros(image.shape[-2:], dtype=torch.int64)
    for m, lab in zip(target["masks"], target["labels"]):
        out[m.bool()] = lab
    return out


def _check_run(steps: int, batch_size: int, lr: float) -> None:
    for name, v in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} is not allowed: use a positive int")
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr={lr!r} is not allowed: use a positive number")


def _optimizer(model: nn.Module, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    rest = [p for p in params if p.ndim <= 1]
    return torch.optim.SGD([{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}],
                           lr=lr, momentum=momentum)


def train_detector(model: nn.Module, dataset: Any, *, steps: int, batch_size: int = 8, lr: float = 0.02,
                   momentum: float = 0.9, weight_decay: float = 1e-4, warmup: int = 50, seed: int = 0,
                   device: str | torch.device = "cpu") -> dict[str, Any]:
    """Train a torchvision detector (e.g. :func:`resnet_lib.backbones.faster_rcnn`) for ``steps`` SGD steps.

    Args:
        model: in training mode it must return a dict of losses for ``model(images, targets)``.
        dataset: items ``(image, target)`` with ``target["boxes"]`` and ``target["labels"]``.
        steps: optimizer steps (capped in smoke runs by :mod:`resnet_lib.limits`).
        batch_size: canvases per step.
        lr, momentum, weight_decay: SGD's (no decay on biases and norm parameters).
        warmup: steps of linear warm-up before the cosine decay.
        seed: the order of the canvases and torch's global RNG (the heads sample proposals randomly).
        device: where to train.
    Returns:
        ``{"loss": [total loss per step], "parts": {name: [per step]}, "seconds": float, "steps": int}``.
    """
    _check_run(steps, batch_size, lr)
    dev = torch.device(device)
    model.to(dev).train()
    torch.manual_seed(seed)
    opt = _optimizer(model, lr, momentum, weight_decay)
    lim = limits_.current()
    run = steps if lim.train_steps is None else min(steps, lim.train_steps * (lim.epochs or 1))
    total, parts, t0 = [], {}, time.perf_counter()
    for step, idx in enumerate(_order(len(dataset), run, batch_size, seed)):
        items = [dataset[i] for i in idx]
        images = [im.to(dev) for im, _ in items]
        targets = [{"boxes": t["boxes"].to(dev), "labels": t["labels"].to(dev)} for _, t in items]
        for g in opt.param_groups:
            g["lr"] = lr * _lr(step, steps, warmup)
        losses = model(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"train_detector diverged at step {step} (loss {loss.item()}): lower lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total.append(loss.item())
        for k, v in losses.items():
            parts.setdefault(k, []).append(v.item())
    return {"loss": total, "parts": parts, "seconds": time.perf_counter() - t0, "steps": run}


def train_segmenter(model: nn.Module, dataset: Any, *, steps: int, batch_size: int = 16, lr: float = 0.02,
                    momentum: float = 0.9, weight_decay: float = 1e-4, warmup: int = 50, aux_weight: float = 0.5,
                    image_mean: Sequence[float] = (0.5,), image_std: Sequence[float] = (0.5,), seed: int = 0,
                    device: str | torch.device = "cpu") -> dict[str, Any]:
    """Train a torchvision segmenter (e.g. :func:`resnet_lib.backbones.deeplabv3`) with per-pixel cross-entropy.

    Args:
        model: ``model(x)["out"]`` is ``[N, K, H, W]`` logits (and ``["aux"]`` when it has an auxiliary head).
        dataset: items ``(image, target)``; the class map comes from ``dataset.semantic(i)`` (or the masks).
        steps, batch_size, lr, momentum, weight_decay, warmup, seed, device: as in :func:`train_detector`.
        aux_weight: weight of the auxiliary head's loss (torchvision's reference scripts: 0.5).
        image_mean, image_std: per-channel normalisation applied to the [0, 1] images (the detectors do it inside).
    Returns:
        ``{"loss": [per step], "seconds": float, "steps": int}``.
    """
    _check_run(steps, batch_size, lr)
    dev = torch.device(device)
    model.to(dev).train()
    torch.manual_seed(seed)
    mean = torch.tensor(image_mean, device=dev).view(1, -1, 1, 1)
    std = torch.tensor(image_std, device=dev).view(1, -1, 1, 1)
    opt = _optimizer(model, lr, momentum, weight_decay)
    lim = limits_.current()
    run = steps if lim.train_steps is None else min(steps, lim.train_steps * (lim.epochs or 1))
    total, t0 = [], time.perf_counter()
    for step, idx in enumerate(_order(len(dataset), run, batch_size, seed)):
        x = (torch.stack([dataset[i][0] for i in idx]).to(dev) - mean) / std
        y = torch.stack([_semantic(dataset, i) for i in idx]).to(dev)
        for g in opt.param_groups:
            g["lr"] = lr * _lr(step, steps, warmup)
        out = model(x)
        loss = F.cross_entropy(out["out"], y)
        if "aux" in out:
            loss = loss + aux_weight * F.cross_entropy(out["aux"], y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"train_segmenter diverged at step {step} (loss {loss.item()}): lower lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total.append(loss.item())
    return {"loss": total, "seconds": time.perf_counter() - t0, "steps": run}


def _batches(n: int, batch_size: int) -> list[range]:
    out = [range(i, min(n, i + batch_size)) for i in range(0, n, batch_size)]
    return list(limits_.take(out, limits_.current().eval_batches))


@torch.no_grad()
def detect(model: nn.Module, dataset: Any, indices: Sequence[int], device: str | torch.device = "cpu") -> list[dict]:
    """The detections of ``model`` (eval mode) for the canvases ``indices``, on the CPU."""
    was = model.training
    model.eval()
    out = model([dataset[i][0].to(device) for i in indices])
    model.train(was)
    return [{k: v.cpu() for k, v in o.items()} for o in out]


def detection_map(model: nn.Module, dataset: Any, *, batch_size: int = 32, device: str | torch.device = "cpu",
                  class_metrics: bool = False) -> dict[str, Any]:
    """COCO-style mean average precision of a detector on ``dataset`` (torchmetrics ``MeanAveragePrecision``).

    Args:
        model: a torchvision detector; evaluated in eval mode, its mode restored.
        dataset: items ``(image, target)`` with ``boxes`` (xyxy) and ``labels``.
        batch_size: canvases per forward pass (capped to a few batches in smoke runs).
        device: where to compute.
        class_metrics: also return AP per class (``"map_per_class"``).
    Returns:
        The scores as a dict of floats — ``map`` (IoU 0.50:0.95), ``map_50``, ``map_75``, ``mar_100`` (recall at
        100 detections), and ``images`` (how many were evaluated).
    """
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=class_metrics)
    n = 0
    for rng in _batches(len(dataset), batch_size):
        preds = detect(model, dataset, rng, device)
        targets = [{"boxes": dataset[i][1]["boxes"], "labels": dataset[i][1]["labels"]} for i in rng]
        metric.update(preds, targets)
        n += len(rng)
    r = metric.compute()
    out: dict[str, Any] = {k: float(r[k]) for k in ("map", "map_50", "map_75", "mar_100")}
    if class_metrics:
        out["map_per_class"] = [float(v) for v in r["map_per_class"]]
    out["images"] = n
    return out


@torch.no_grad()
def segment(model: nn.Module, images: torch.Tensor, *, image_mean: Sequence[float] = (0.5,),
            image_std: Sequence[float] = (0.5,)) -> torch.Tensor:
    """Class maps ``[N, H, W]`` (int64) of a segmenter for images ``[N, C, H, W]`` in [0, 1], in eval mode."""
    dev = next(model.parameters()).device
    mean = torch.tensor(image_mean, device=dev).view(1, -1, 1, 1)
    std = torch.tensor(image_std, device=dev).view(1, -1, 1, 1)
    was = model.training
    model.eval()
    out = model((images.to(dev) - mean) / std)["out"].argmax(1).cpu()
    model.train(was)
    return out


def mean_iou(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> tuple[float, list[float]]:
    """Mean IoU over classes of two class maps (torchmetrics ``MulticlassJaccardIndex``, accumulated over pixels).

    Args:
        pred, target: int64 class maps of the same shape, e.g. ``[N, H, W]``, values in ``0..num_classes - 1``.
        num_classes: K, the background included.
    Returns:
        ``(mean IoU, [IoU per class])``; the mean is over the classes present in ``pred`` or ``target`` (a class in
        neither has no IoU and is left out, reported as nan).
    """
    from torchmetrics.classification import MulticlassJaccardIndex

    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have one shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    metric = MulticlassJaccardIndex(num_classes, average=None, zero_division=float("nan"))
    per_class = metric(pred.reshape(-1), target.reshape(-1))
    present = torch.bincount(torch.cat([pred.reshape(-1), target.reshape(-1)]), minlength=num_classes) > 0
    per_class = torch.where(present, per_class, torch.full_like(per_class, float("nan")))
    return float(per_class[present].mean()), [float(v) for v in per_class]


def segmentation_miou(model: nn.Module, dataset: Any, *, batch_size: int = 64, image_mean: Sequence[float] = (0.5,),
                      image_std: Sequence[float] = (0.5,)) -> dict[str, Any]:
    """Mean IoU and pixel accuracy of a segmenter on ``dataset`` (all its canvases, few batches in smoke runs).

    Returns:
        ``{"miou": float, "iou_per_class": [...], "pixel_acc": float, "images": int}``.
    """
    preds, targets = [], []
    for rng in _batches(len(dataset), batch_size):
        images = torch.stack([dataset[i][0] for i in rng])
        preds.append(segment(model, images, image_mean=image_mean, image_std=image_std))
        targets.append(torch.stack([_semantic(dataset, i) for i in rng]))
    pred, target = torch.cat(preds), torch.cat(targets)
    k = dataset.num_classes if hasattr(dataset, "num_classes") else int(max(pred.max(), target.max())) + 1
    miou, per_class = mean_iou(pred, target, k)
    return {"miou": miou, "iou_per_class": per_class, "pixel_acc": float((pred == target).float().mean()),
            "images": len(pred)}
