"""The learning-rate range test (Smith, 2017, §3.3): train briefly while the learning rate grows; watch the loss.

Start far too low and raise the learning rate every step up to far too high, recording the training loss. Where the
loss starts to fall, the rate is large enough to learn; where it turns and climbs, it is too large. A good maximum
rate lies in between. Smith grows the rate linearly over a few epochs (``mode="linear"``); the exponential sweep
over a few hundred steps (``mode="exp"``, the default, as in fastai's ``lr_find``) covers many decades in one short
run. The schedules are torch's own (``ExponentialLR``, ``LinearLR``); the model passed in is left untouched.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from . import limits as limits_
from .precision import autocast, resolve_channels_last, resolve_precision
from .train import build_optimizer
from .train_config import TrainConfig

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MODES = ("exp", "linear")


@dataclass(frozen=True)
class LRRangeResult:
    """What a range test measured, one entry per SGD step."""

    lrs: tuple[float, ...]  # the learning rate of each step
    losses: tuple[float, ...]  # the training loss of each step's mini-batch
    smoothed: tuple[float, ...]  # bias-corrected exponential moving average of ``losses``
    diverged: bool  # stopped early: the loss became NaN/inf or rose above diverge_factor x its smoothed minimum

    def _argmin(self) -> int:
        finite = [i for i, v in enumerate(self.smoothed) if math.isfinite(v)]
        if not finite:
            raise ValueError("the range test has no finite loss: lower min_lr")
        return min(finite, key=self.smoothed.__getitem__)

    @property
    def lr_at_min(self) -> float:
        """The learning rate at which the smoothed loss was lowest."""
        return self.lrs[self._argmin()]

    @property
    def lr_steepest(self) -> float:
        """The learning rate where the smoothed loss fell fastest per decade, before its minimum (a common pick)."""
        end = self._argmin()
        if end < 2:
            return self.lrs[end]
        slope = [(self.smoothed[i + 1] - self.smoothed[i]) / (math.log10(self.lrs[i + 1] / self.lrs[i]))
                 for i in range(end)]
        return self.lrs[min(range(len(slope)), key=slope.__getitem__)]

    def suggestion(self) -> float:
        """A maximum learning rate to start from: a tenth of :attr:`lr_at_min` (a rule of thumb, not a law)."""
        return self.lr_at_min / 10

    def plot(self, ax: Axes | None = None, title: str | None = None) -> Figure:
        """Loss against learning rate (log axis), raw and smoothed, with the minimum and the suggestion marked."""
        from matplotlib.figure import Figure

        if ax is None:
            fig = Figure(figsize=(6.4, 3.8), layout="constrained")
            ax = fig.add_subplot()
        ax.plot(self.lrs, self.losses, color="C0", alpha=0.25, lw=0.8, label="loss of each mini-batch")
        ax.plot(self.lrs, self.smoothed, color="C0", label="smoothed")
        for lr, style, name in ((self.lr_at_min, ":", "minimum"), (self.suggestion(), "--", "minimum / 10")):
            ax.axvline(lr, color="C3", ls=style, lw=1, label=f"{name}: {lr:.3g}")
        ax.set_xscale("log")
        start, low = self.smoothed[0], self.smoothed[self._argmin()]
        ax.set_ylim(low - 0.1 * (start - low) - 1e-3, start + 0.5 * (start - low) + 1e-3)  # not the explosion
        ax.set(xlabel="learning rate (log scale)", ylabel="training loss (cross-entropy)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
        if title:
            ax.set_title(title, fontsize="small")
        return ax.figure


def lr_range_test(model: nn.Module, data: Any, config: TrainConfig | None = None, *, min_lr: float = 1e-5,
                  max_lr: float = 10.0, steps: int = 200, mode: str = "exp", smoothing: float = 0.9,
                  diverge_factor: float = 4.0) -> LRRangeResult:
    """Train a copy of ``model`` for ``steps`` steps while the learning rate grows from ``min_lr`` to ``max_lr``.

    Args:
        model: the network; a deep copy is trained, ``model`` itself is not changed.
        data: a :class:`~resnet_lib.data.bundle.DataBundle`; its training split is used, as ``fit`` uses it.
        config: the rest of the recipe (batch size, momentum, weight decay, augmentation, precision, seed,
            device, grad_clip) as in :func:`~resnet_lib.train.fit`; its ``lr`` and schedule are ignored (and fp16
            runs without loss scaling: a range test is short and ends in divergence anyway).
        min_lr, max_lr: the first and the last learning rate.
        steps: SGD steps (cycling through epochs of the training split as needed); capped in a smoke run.
        mode: ``"exp"`` (the same factor every step) or ``"linear"`` (the same increment).
        smoothing: the moving average's factor, in [0, 1) (0 = no smoothing).
        diverge_factor: stop once the smoothed loss exceeds this multiple of its minimum so far (> 1).
    Returns:
        An :class:`LRRangeResult` (``.plot()`` draws it).
    """
    if not (isinstance(min_lr, (int, float)) and isinstance(max_lr, (int, float)) and 0 < min_lr < max_lr):
        raise ValueError(f"need 0 < min_lr < max_lr, got min_lr={min_lr!r}, max_lr={max_lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2, got {steps!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
    if not diverge_factor > 1:
        raise ValueError(f"diverge_factor must be > 1, got {diverge_factor!r}")
    cfg = config or TrainConfig()
    dev = torch.device(data.device) if cfg.device == "auto" else torch.device(cfg.device)
    precision = resolve_precision(cfg.precision, dev)
    cl = resolve_channels_last(cfg.channels_last, dev, precision)
    net = copy.deepcopy(model).to(dev).train()
    if cl:
        net.to(memory_format=torch.channels_last)
    opt = build_optimizer(net, cfg)
    if mode == "exp":
        for g in opt.param_groups:
            g["lr"] = min_lr
        sched: Any = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=(max_lr / min_lr) ** (1 / (steps - 1)))
    else:
        for g in opt.param_groups:
            g["lr"] = max_lr
        sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=min_lr / max_lr, end_factor=1.0,
                                                  total_iters=steps - 1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    cap = limits_.current().train_steps
    todo = steps if cap is None else min(steps, cap)  # the schedule is the full one, then cut (as fit does)
    torch.manual_seed(cfg.seed)
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    avg, diverged, epoch = 0.0, False, 0
    while len(lrs) < todo and not diverged:
        batches = data.loader("train", cfg.batch_size, shuffle=True, augment=cfg.augment, drop_last=True,
                              seed=cfg.seed, epoch=epoch, channels_last=cl)
        if len(batches) == 0:
            raise ValueError(f"the training split has fewer than batch_size={cfg.batch_size} images")
        for x, y in batches:
            lrs.append(opt.param_groups[0]["lr"])
            with autocast(dev, precision):
                loss = loss_fn(net(x.to(dev)).float(), y.to(dev))
            value = loss.item()
            losses.append(value)
            if not math.isfinite(value):
                smoothed.append(float("nan"))
                diverged = True
                break
            avg = smoothing * avg + (1 - smoothing) * value
            smoothed.append(avg / (1 - smoothing ** len(losses)))   # bias-corrected (the average starts at 0)
            if smoothed[-1] > diverge_factor * min(smoothed):
                diverged = True
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            if len(lrs) == todo:
                break
        epoch += 1
    return LRRangeResult(tuple(lrs), tuple(losses), tuple(smoothed), diverged)
