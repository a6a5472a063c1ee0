"""Learning-rate schedules as pure functions of the step: ``lr_at(step, total_steps, steps_per_epoch, cfg)``.

The trainer calls :func:`lr_at` before every optimizer step and writes the value into the optimizer, so a resumed run
needs nothing but the step counter to continue the schedule exactly (no scheduler state to save).

Schedules (``cfg.schedule``):

- ``"step"``: the paper's (He et al., 2016, §4.2) ÷10 at fixed points: they trained 64k iterations and divided the
  learning rate by 10 at 32k and 48k, i.e. at 50 % and 75 % of training (``cfg.milestones=(0.5, 0.75)``).
- ``"cosine"``: half a cosine from ``lr`` down to ``cfg.min_lr`` over the steps after the warm-up.
- ``"onecycle"``: :class:`torch.optim.lr_scheduler.OneCycleLR` (cosine annealing form): from ``lr/div_factor`` up to
  ``lr`` over ``pct_start`` of training, then down to ``lr/(div_factor*final_div_factor)``. It has its own warm-up.
- ``"constant"``: ``lr`` throughout.

Warm-up (``cfg.warmup_epochs``, fractional is fine): for ``"linear"`` the rate rises linearly from
``lr*warmup_start`` to ``lr``; ``"constant"`` holds ``lr*warmup_start`` — the paper's ResNet-110 recipe (0.01, then 0.1
after about 400 iterations) is ``warmup_mode="constant", warmup_start=0.1, warmup_epochs=400/steps_per_epoch``.
"""
from __future__ import annotations

import math
from typing import Protocol

SCHEDULES = ("step", "cosine", "onecycle", "constant")
WARMUP_MODES = ("linear", "constant")


class ScheduleConfig(Protocol):
    """The fields :func:`lr_at` reads (``TrainConfig`` has them all)."""

    lr: float  # peak learning rate
    schedule: str  # one of SCHEDULES
    warmup_epochs: float  # length of the warm-up, in epochs (0 = none)
    warmup_mode: str  # "linear" ramp or "constant" low rate
    warmup_start: float  # warm-up starts at lr * warmup_start
    milestones: tuple[float, ...]  # "step": fractions of total_steps where the rate is multiplied by gamma
    gamma: float  # "step": factor at each milestone
    min_lr: float  # "cosine": final rate
    pct_start: float  # "onecycle": fraction of steps spent rising
    div_factor: float  # "onecycle": initial rate = lr / div_factor
    final_div_factor: float  # "onecycle": final rate = initial rate / final_div_factor


def warmup_steps(steps_per_epoch: int, cfg: ScheduleConfig) -> int:
    """Number of warm-up steps: ``round(warmup_epochs * steps_per_epoch)``."""
    return int(round(cfg.warmup_epochs * steps_per_epoch))


def lr_at(step: int, total_steps: int, steps_per_epoch: int, cfg: ScheduleConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of a run of ``total_steps`` steps.

    Args:
        step: index of the step about to be taken, ``0 <= step < total_steps`` (later steps get the last rate).
        total_steps: number of optimizer steps in the whole run.
        steps_per_epoch: optimizer steps per epoch (converts ``warmup_epochs`` into steps).
        cfg: anything with the fields of :class:`ScheduleConfig`.
    Returns:
        The learning rate, a float.
    """
    if total_steps <= 0 or steps_per_epoch <= 0:
        raise ValueError(f"total_steps and steps_per_epoch must be positive, got {total_steps} and {steps_per_epoch}")
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule={cfg.schedule!r} is not known: use one of {', '.join(SCHEDULES)}")
    step = min(max(step, 0), total_steps - 1)
    lr = cfg.lr
    if cfg.schedule == "onecycle":
        return _onecycle(step, total_steps, cfg)

    warm = min(warmup_steps(steps_per_epoch, cfg), total_steps)
    if step < warm:
        if cfg.warmup_mode == "constant":
            return lr * cfg.warmup_start
        return lr * (cfg.warmup_start + (1.0 - cfg.warmup_start) * step / warm)

    if cfg.schedule == "constant":
        return lr
    if cfg.schedule == "step":
        # milestones are fractions of the whole run, as in the paper (32k and 48k of 64k iterations)
        passed = sum(step >= int(round(m * total_steps)) for m in cfg.milestones)
        return lr * cfg.gamma**passed
    # cosine over the steps after the warm-up
    span = max(total_steps - warm, 1)
    t = (step - warm) / span
    return cfg.min_lr + 0.5 * (lr - cfg.min_lr) * (1.0 + math.cos(math.pi * t))


def _onecycle(step: int, total_steps: int, cfg: ScheduleConfig) -> float:
    """The formula of ``torch.optim.lr_scheduler.OneCycleLR(anneal_strategy="cos", three_phase=False)``."""
    initial = cfg.lr / cfg.div_factor
    final = initial / cfg.final_div_factor
    up_end = float(cfg.pct_start * total_steps) - 1.0  # same phase boundaries as torch
    down_end = float(total_steps) - 1.0
    if step <= up_end:
        pct = step / up_end if up_end > 0 else 1.0
        return _cos_anneal(initial, cfg.lr, pct)
    pct = (step - up_end) / (down_end - up_end) if down_end > up_end else 1.0
    return _cos_anneal(cfg.lr, final, pct)


def _cos_anneal(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)
