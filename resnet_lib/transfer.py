"""Transfer learning: class splits, label fractions, layer groups with their own learning rates, frozen BN, probes.

The three ways to reuse a pretrained network on a new task, as chapter 8 compares them:

* **from scratch** — a fresh network, every layer trained (the baseline);
* **linear probe** — the pretrained network frozen (BatchNorm included), only a new last layer trained;
* **fine-tuning** — every layer trained from the pretrained weights, the lower layers (generic features) with a
  smaller learning rate than the top (:func:`layerwise_lr`), BatchNorm's statistics either frozen or updated.

:func:`fine_tune` trains any of them with one loop: :func:`resnet_lib.train.fit`'s recipe (a
:class:`~resnet_lib.train_config.TrainConfig`: SGD with momentum, its learning-rate schedule, precision, the data's
augmentation) plus a learning-rate multiplier per layer group, which ``fit`` (one rate for all) does not take.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn as nn

from . import limits as limits_
from .metrics import evaluate
from .precision import autocast, resolve_channels_last, resolve_precision
from .schedules import lr_at

METHODS = ("scratch", "linear-probe", "fine-tune", "fine-tune-frozen-bn")


def split_classes(data: Any, classes: Sequence[int]) -> Any:
    """The images of ``classes`` only, relabelled ``0..len(classes) - 1`` in the order given (every split).

    Args:
        data: a :class:`~resnet_lib.data.bundle.DataBundle`.
        classes: class indices of ``data`` to keep, e.g. ``[5, 6, 7, 8, 9]``.
    Returns:
        A new DataBundle (``name`` gains the kept classes). Its normalisation stays the parent's, so a network
        pretrained on the other classes sees inputs scaled as it was trained.
    """
    classes = list(classes)
    k = data.num_classes
    if not classes or len(set(classes)) != len(classes) or any(
            isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < k for c in classes):
        raise ValueError(f"classes={classes!r} is not allowed: use distinct class indices in 0..{k - 1}")
    lut = torch.full((k,), -1, dtype=torch.int64)
    lut[classes] = torch.arange(len(classes))
    parts = {}
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        keep = lut.to(y.device)[y] >= 0
        parts[f"x_{split}"], parts[f"y_{split}"] = x[keep], lut.to(y.device)[y[keep]]
    return replace(data, name=f"{data.name}[{','.join(map(str, classes))}]",
                   classes=[data.classes[c] for c in classes], **parts)


def label_fraction(data: Any, fraction: float, seed: int = 0) -> Any:
    """A class-stratified random ``fraction`` of the training split (at least one image per class); others kept.

    Args:
        data: a DataBundle.
        fraction: in (0, 1]; 1 returns ``data`` unchanged.
        seed: which images; a smaller fraction with the same seed is a subset of a larger one.
    Returns:
        A new DataBundle with ``round(fraction * n_c)`` (>= 1) training images of each class ``c``.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction!r} is not allowed: use a number in (0, 1]")
    if fraction == 1:
        return data
    g = torch.Generator().manual_seed(seed)
    y = data.y_train.cpu()
    keep = []
    for c in range(data.num_classes):
        idx = (y == c).nonzero()[:, 0]
        if len(idx):
            keep.append(idx[torch.randperm(len(idx), generator=g)[: max(1, round(fraction * len(idx)))]])
    keep = torch.cat(keep).sort().values.to(data.y_train.device)
    return replace(data, x_train=data.x_train[keep], y_train=data.y_train[keep])


def layer_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Parameters by layer group, lowest first: ``stem``, ``layer1`` .. ``layerN``, ``head``.

    The stem is every top-level module before ``layer1``; the head every one after the last stage (``fc``, and a
    pre-activation net's ``final_bn``).
    """
    names = [n for n, _ in model.named_children()]
    stages = [n for n in names if n.startswith("layer") and n[5:].isdigit()]
    if not stages:
        raise ValueError(f"{type(model).__name__} has no stages named layer1, layer2, ...: layer groups need a ResNet")
    first, last = names.index(stages[0]), names.index(stages[-1])
    groups: dict[str, list[nn.Parameter]] = {"stem": []}
    groups.update({s: [] for s in stages})
    groups["head"] = []
    for i, (name, child) in enumerate(model.named_children()):
        key = "stem" if i < first else "head" if i > last else name if name in stages else None
        if key is None:
            raise ValueError(f"module {name!r} sits between the stages: layer groups cannot place it")
        groups[key] += list(child.parameters())
    return groups


def layerwise_lr(model: nn.Module, decay: float = 0.5) -> dict[str, float]:
    """Learning-rate multipliers falling by ``decay`` per group below the head: head 1, last stage ``decay``, ...

    Args:
        model: a ResNet (its groups as in :func:`layer_groups`).
        decay: in (0, 1]; 1 gives every group the same rate.
    Returns:
        ``{group: multiplier}``, e.g. for ResNet-20 and 0.5: head 1, layer3 0.5, layer2 0.25, layer1 0.125,
        stem 0.0625.
    """
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay <= 1:
        raise ValueError(f"decay={decay!r} is not allowed: use a number in (0, 1]")
    names = list(layer_groups(model))[::-1]
    return {n: float(decay) ** i for i, n in enumerate(names)}


def freeze_bn(model: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm2d`` by torchvision's ``FrozenBatchNorm2d`` with the same statistics and affine.

    A frozen BN normalises with its running statistics in training too and has no trainable parameters (its
    affine becomes buffers), whatever ``model.train()`` says — torchvision's detection models do this.

    Args:
        model: modified in place (its BN children are swapped).
    Returns:
        ``model``.
    """
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name, child in list(model.named_children()):
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps).to(child.weight.device)
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(frozen, key).copy_(getattr(child, key).detach())
            setattr(model, name, frozen)
        else:
            freeze_bn(child)
    return model


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """A fresh ``fc`` (``nn.Linear``, PyTorch's default initialisation) with ``num_classes`` outputs, in place."""
    if not isinstance(getattr(model, "fc", None), nn.Linear):
        raise ValueError(f"{type(model).__name__} has no nn.Linear head named fc to replace")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r} is not allowed: use a positive int")
    old = model.fc
    model.fc = nn.Linear(old.in_features, num_classes).to(old.weight.device)
    if hasattr(model, "num_classes"):
        model.num_classes = num_classes
    return model


@dataclass
class TransferResult:
    """What :func:`fine_tune` measured."""

    test_acc: float  # accuracy on the data's test split after training
    train_loss: list[float]  # mean training loss per epoch
    seconds: float  # training and evaluation time
    train_images: int  # training images in the data
    trainable_params: int  # parameters that were trained
    lr_mult: dict[str, float] = field(default_factory=dict)  # the multiplier of every layer group
    frozen_bn: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (for JSON)."""
        return dict(self.__dict__)


def fine_tune(model: nn.Module, data: Any, config: Any, *, lr_mult: Mapping[str, float] | None = None,
              frozen_bn: bool = False) -> TransferResult:
    """Train ``model`` on ``data`` with a learning rate per layer group; evaluate on the test split.

    Args:
        model: a ResNet whose ``fc`` fits ``data``'s classes (see :func:`replace_head`); trained in place.
        data: a DataBundle.
        config: a :class:`~resnet_lib.train_config.TrainConfig`: ``epochs``, ``batch_size``, ``lr``, ``schedule`` and
            warm-up, ``momentum``, ``nesterov``, ``weight_decay``, ``no_decay_bn_bias``, ``label_smoothing``,
            ``augment``, ``precision``, ``channels_last`` and ``seed`` are used as ``fit`` uses them.
        lr_mult: ``{group: multiplier}`` (groups of :func:`layer_groups`; missing groups get 1); a group at 0 is
            frozen (``requires_grad=False``). None = 1 everywhere.
        frozen_bn: freeze every BatchNorm first (:func:`freeze_bn`).
    Returns:
        A :class:`TransferResult`.
    """
    t0 = time.perf_counter()
    if frozen_bn:
        freeze_bn(model)
    groups = layer_groups(model)
    mult = {g: 1.0 for g in groups}
    for g, m in (lr_mult or {}).items():
        if g not in groups:
            raise ValueError(f"unknown layer group {g!r}: use {', '.join(groups)}")
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) or m < 0:
            raise ValueError(f"lr_mult[{g!r}]={m!r} is not allowed: use a number >= 0 (0 freezes the group)")
        mult[g] = float(m)
    dev = data.device
    model.to(dev)
    precision = resolve_precision(config.precision, dev)
    cl = resolve_channels_last(config.channels_last, dev, precision)
    if cl:
        model.to(memory_format=torch.channels_last)
    param_groups = []
    for g, params in groups.items():
        for p in params:
            p.requires_grad_(mult[g] > 0)
        live = [p for p in params if mult[g] > 0]
        decay = [p for p in live if p.ndim > 1 or not config.no_decay_bn_bias]
        rest = [p for p in live if not (p.ndim > 1 or not config.no_decay_bn_bias)]
        param_groups += [{"params": ps, "mult": mult[g], "weight_decay": wd}
                         for ps, wd in ((decay, config.weight_decay), (rest, 0.0)) if ps]
    if not param_groups:
        raise ValueError("every layer group has lr_mult 0: nothing to train")
    opt = torch.optim.SGD(param_groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    n = len(data.y_train)
    bs = min(config.batch_size, n)
    lim = limits_.current()
    steps_per_epoch = n // bs
    total = steps_per_epoch * config.epochs
    epochs = config.epochs if lim.epochs is None else min(config.epochs, lim.epochs)
    torch.manual_seed(config.seed)
    step, losses = 0, []
    model.train()
    for epoch in range(epochs):
        batches = data.loader("train", bs, shuffle=True, augment=config.augment, drop_last=True, seed=config.seed,
                              epoch=epoch, channels_last=cl)
        run, seen = torch.zeros((), dtype=torch.float64, device=dev), 0
        for x, y in limits_.take(batches, lim.train_steps):
            base = lr_at(step, total, steps_per_epoch, config)
            for pg in opt.param_groups:
                pg["lr"] = base * pg["mult"]
            with autocast(dev, precision):
                loss = loss_fn(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run += loss.detach().double() * len(y)
            seen += len(y)
            step += 1
        losses.append(float(run) / max(seen, 1))
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"fine_tune diverged at epoch {epoch + 1}: lower config.lr")
    acc = evaluate(model, data, split="test").accuracy
    trainable = sum(p.numel() for pg in param_groups for p in pg["params"])
    return TransferResult(acc, losses, time.perf_counter() - t0, n, trainable, mult, frozen_bn)


def prepare(method: str, pretrained: nn.Module, fresh: nn.Module, num_classes: int, *,
            decay: float = 0.5) -> tuple[nn.Module, dict[str, float], bool]:
    """The network, learning-rate multipliers and BN mode of one of ``METHODS``.

    Args:
        method: ``"scratch"``, ``"linear-probe"``, ``"fine-tune"`` or ``"fine-tune-frozen-bn"``.
        pretrained: the source network (copied, never changed).
        fresh: a randomly initialised network of the same architecture (used by ``"scratch"``; copied).
        num_classes: the target task's classes (the head is replaced).
        decay: :func:`layerwise_lr`'s factor for the two fine-tuning methods.
    Returns:
        ``(model, lr_mult, frozen_bn)`` to pass to :func:`fine_tune`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    model = replace_head(copy.deepcopy(fresh if method == "scratch" else pretrained), num_classes)
    if method == "scratch":
        return model, {}, False
    if method == "linear-probe":
        return model, {g: 1.0 if g == "head" else 0.0 for g in layer_groups(model)}, True
    return model, layerwise_lr(model, decay), method == "fine-tune-frozen-bn"


def imagenet_pretrained(name: str = "resnet18", num_classes: int = 10, *, weights: str = "DEFAULT") -> nn.Module:
    """A ``resnet_lib`` ImageNet-layout ResNet with torchvision's ImageNet weights and a fresh ``num_classes`` head.

    The weights download on first use (Colab); offline it raises ``RuntimeError`` saying so
    (see ``rl.resnet18(weights=...)``).

    Args:
        name: ``"resnet18"``, ``"resnet34"``, ``"resnet50"``, ``"resnet101"``, ``"resnet152"``,
            ``"resnext50_32x4d"`` or ``"wide_resnet50_2"``.
        num_classes: classes of the target task.
        weights: torchvision's weights name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ...).
    Returns:
        The network, its ``fc`` replaced.
    """
    from . import models

    allowed = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2")
    if name not in allowed:
        raise ValueError(f"unknown network {name!r} for ImageNet weights: use one of {', '.join(allowed)}")
    return replace_head(getattr(models, name)(weights=weights), num_classes)
