"""Speed on the machine at hand: images per second of a model, in training or inference, measured as ``fit`` runs.

``throughput(model, (128, 1, 28, 28))`` times a few SGD steps (forward, cross-entropy, backward, update) on random
data after a warm-up, with ``fit``'s precision and memory-layout choices (``"auto"``: bf16 autocast where the CPU
has native bf16, channels-last), on a copy of the model, so the caller's weights and BN statistics never change.
Timings are medians over steps; they say something only about this machine, so print them with
``rl.hardware.cpu_label()`` (the book's ``ctx.label`` does). In a smoke run (:mod:`resnet_lib.limits`) the steps
are capped like every training loop's.
"""
from __future__ import annotations

import contextlib
import copy
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import limits
from .precision import resolve_channels_last, resolve_precision


@dataclass(frozen=True)
class Throughput:
    """One measurement: ``images_per_s`` = batch / median seconds per step."""

    images_per_s: float
    ms_per_batch: float  # median wall-clock milliseconds of one step (training) or one forward pass (inference)
    batch: int
    train: bool
    precision: str  # "fp32", "bf16" or "fp16", as resolved for the device
    channels_last: bool
    steps: int  # timed steps (after the warm-up)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(model: nn.Module, input_shape: Sequence[int], *, device: str | torch.device = "cpu",
               train: bool = True, num_classes: int | None = None, precision: str = "auto",
               channels_last: bool | str = "auto", steps: int = 5, warmup: int = 2) -> Throughput:
    """Measure training (or inference) throughput of ``model`` on random inputs of ``input_shape``.

    Args:
        model: any classifier mapping ``(N, C, H, W)`` to ``(N, num_classes)``; it is copied, never changed.
        input_shape: ``(N, C, H, W)``, the batch to time (N = batch size).
        device: where to run.
        train: SGD steps (forward, loss, backward, update) if True, else ``torch.inference_mode`` forwards.
        num_classes: classes of the random labels (default: the model's ``num_classes``, else its output width).
        precision, channels_last: as in :class:`~resnet_lib.train_config.TrainConfig` (``"auto"`` = what ``fit`` uses).
        steps, warmup: timed and untimed steps.
    Returns:
        A :class:`Throughput`.
    Raises:
        ValueError: a shape that is not ``(N, C, H, W)`` with positive sizes, or ``steps``/``warmup`` out of range.
    """
    shape = tuple(input_shape)
    if len(shape) != 4 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(f"input_shape must be (N, C, H, W) with positive ints, got {input_shape!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}")
    cap = limits.current().train_steps
    if cap is not None:  # a smoke run: the code path, not a measurement
        steps, warmup = min(steps, cap), min(warmup, 1)
    dev = torch.device(device)
    prec = resolve_precision(precision, dev)
    nhwc = resolve_channels_last(channels_last, dev, prec)
    net = copy.deepcopy(model).to(dev)
    if nhwc:
        net = net.to(memory_format=torch.channels_last)
    net.train(train)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).to(dev)
    if nhwc:
        x = x.contiguous(memory_format=torch.channels_last)
    autocast = (contextlib.nullcontext() if prec == "fp32" else
                torch.autocast(dev.type, dtype=torch.bfloat16 if prec == "bf16" else torch.float16))
    if train:
        k = num_classes or getattr(model, "num_classes", None)
        if k is None:
            with torch.no_grad():
                k = net(x[:1]).shape[-1]
        y = torch.randint(0, k, (shape[0],), generator=gen).to(dev)
        opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)

        def step() -> None:
            with autocast:
                loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    else:
        def step() -> None:
            with torch.inference_mode(), autocast:
                net(x)
    times = []
    for i in range(warmup + steps):
        _sync(dev)
        start = time.perf_counter()
        step()
        _sync(dev)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return Throughput(images_per_s=shape[0] / seconds, ms_per_batch=1000 * seconds, batch=shape[0], train=train,
                      precision=prec, channels_last=nhwc, steps=steps)
