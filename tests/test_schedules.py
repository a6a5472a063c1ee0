"""Learning-rate schedules: hand computations and torch's own schedulers as references."""
from __future__ import annotations

import math

import pytest
import torch

from resnet_lib.schedules import lr_at
from resnet_lib.train import TrainConfig


def cfg(**kw) -> TrainConfig:
    base = dict(epochs=10, lr=0.1, schedule="step", warmup_epochs=0.0)
    base.update(kw)
    return TrainConfig(**base)


def torch_lrs(make_sched, total: int, lr: float) -> list[float]:
    """Rates torch's scheduler gives for steps 0..total-1 (read before each optimizer step)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_sched(opt)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_step_schedule_paper_milestones_by_hand():
    # the paper: 64k iterations, ÷10 at 32k and 48k (50 % and 75 %)
    c = cfg(schedule="step", milestones=(0.5, 0.75), lr=0.1)
    total = 64_000
    assert lr_at(0, total, 100, c) == pytest.approx(0.1)
    assert lr_at(31_999, total, 100, c) == pytest.approx(0.1)
    assert lr_at(32_000, total, 100, c) == pytest.approx(0.01)
    assert lr_at(47_999, total, 100, c) == pytest.approx(0.01)
    assert lr_at(48_000, total, 100, c) == pytest.approx(0.001)
    assert lr_at(63_999, total, 100, c) == pytest.approx(0.001)


def test_step_schedule_equals_multisteplr():
    c = cfg(schedule="step", milestones=(0.3, 0.8), lr=0.2)
    total = 50
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[15, 40], gamma=0.1), total, 0.2)
    ours = [lr_at(s, total, 5, c) for s in range(total)]
    assert ours == pytest.approx(ref, rel=1e-12)


def test_cosine_equals_cosineannealinglr():
    c = cfg(schedule="cosine", lr=0.1, min_lr=0.001)
    total = 37
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total, eta_min=0.001), total, 0.1)
    ours = [lr_at(s, total, 4, c) for s in range(total)]
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_onecycle_equals_onecyclelr():
    c = cfg(schedule="onecycle", lr=0.2, pct_start=0.25, div_factor=25.0, final_div_factor=1e4)
    total = 103
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.2, total_steps=total, pct_start=0.25, div_factor=25.0, final_div_factor=1e4,
        cycle_momentum=False), total, 0.2)
    ours = [lr_at(s, total, 10, c) for s in range(total)]
    assert ours == pytest.approx(ref, rel=1e-9)


def test_linear_warmup_then_cosine_by_hand():
    # 2 warm-up epochs of 10 steps from 0.1*lr to lr, then cosine over the remaining 80 steps
    c = cfg(schedule="cosine", lr=0.4, warmup_epochs=2, warmup_start=0.1)
    total, spe = 100, 10
    assert lr_at(0, total, spe, c) == pytest.approx(0.04)
    assert lr_at(10, total, spe, c) == pytest.approx(0.04 + 0.36 * 10 / 20)
    assert lr_at(20, total, spe, c) == pytest.approx(0.4)  # first cosine step: the peak
    assert lr_at(60, total, spe, c) == pytest.approx(0.2)  # half-way through the cosine part
    assert lr_at(99, total, spe, c) == pytest.approx(0.4 * 0.5 * (1 + math.cos(math.pi * 79 / 80)))


def test_paper_resnet110_constant_warmup():
    # ResNet-110: 0.01 until ~400 iterations, then 0.1 (He et al. 2016, §4.2)
    spe = 391  # CIFAR-10, batch 128
    c = cfg(schedule="step", lr=0.1, warmup_mode="constant", warmup_start=0.1, warmup_epochs=400 / spe)
    assert lr_at(0, 64_000, spe, c) == pytest.approx(0.01)
    assert lr_at(399, 64_000, spe, c) == pytest.approx(0.01)
    assert lr_at(400, 64_000, spe, c) == pytest.approx(0.1)


def test_constant_and_clamping():
    c = cfg(schedule="constant", lr=0.05)
    assert {lr_at(s, 20, 2, c) for s in range(-3, 30)} == {0.05}


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="total_steps"):
        lr_at(0, 0, 1, cfg())
    with pytest.raises(ValueError, match="schedule"):
        cfg(schedule="linear")
    with pytest.raises(ValueError, match="warmup_epochs"):
        cfg(schedule="onecycle", warmup_epochs=1)
    with pytest.raises(ValueError, match="milestones"):
        cfg(milestones=(0.75, 0.5))
