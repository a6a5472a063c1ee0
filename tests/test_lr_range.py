"""lr_range_test: torch's schedules, a model left untouched, a real fall and a real divergence, one-line errors."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
import torch.nn as nn

from resnet_lib import limits
from resnet_lib.lr_range import LRRangeResult, lr_range_test
from resnet_lib.train import TrainConfig

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("single_thread")]


def tiny_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))


@pytest.fixture(scope="module")
def data():
    from resnet_lib.data import load_data

    return load_data("digits", train_size=512, val_size=0, test_size=100, seed=0, device="cpu")


CFG = TrainConfig(batch_size=64, momentum=0.9, weight_decay=0.0, precision="fp32", seed=0, quiet=True)


def test_the_rates_are_torchs_exponential_and_linear_schedules(data):
    exp = lr_range_test(tiny_net(), data, CFG, min_lr=1e-4, max_lr=1e-1, steps=20, diverge_factor=100.0)
    gamma = (1e-1 / 1e-4) ** (1 / 19)
    assert not exp.diverged and len(exp.lrs) == 20
    assert exp.lrs == pytest.approx([1e-4 * gamma**k for k in range(20)], rel=1e-9)
    lin = lr_range_test(tiny_net(), data, CFG, min_lr=1e-3, max_lr=1e-1, steps=12, mode="linear",
                        diverge_factor=100.0)
    assert lin.lrs == pytest.approx([1e-3 + k * (1e-1 - 1e-3) / 11 for k in range(12)], rel=1e-9)


def test_the_model_passed_in_is_not_trained(data):
    net = tiny_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    lr_range_test(net, data, CFG, steps=10)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_the_loss_falls_then_explodes_and_the_test_stops(data):
    r = lr_range_test(tiny_net(), data, CFG, min_lr=1e-4, max_lr=1e4, steps=150)
    assert r.diverged and len(r.lrs) < 150                      # stopped before the last, absurd rates
    assert min(r.smoothed) < r.smoothed[0] - 0.3                # it learned on the way (a real fall)
    assert 1e-3 < r.lr_at_min < 1e3 and r.suggestion() == pytest.approx(r.lr_at_min / 10)
    assert r.lrs[0] <= r.lr_steepest <= r.lr_at_min
    fig = r.plot(title="digits")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "learning rate" in ax.get_xlabel() and "loss" in ax.get_ylabel()


def test_nan_loss_is_recorded_and_ignored_by_the_picks():
    r = LRRangeResult(lrs=(0.01, 0.1, 1.0, 10.0), losses=(2.3, 2.0, 1.5, math.nan),
                      smoothed=(2.3, 2.1, 1.8, math.nan), diverged=True)
    assert r.lr_at_min == 1.0 and r.lr_steepest in (0.01, 0.1, 1.0)


def test_a_smoke_run_caps_the_steps(data):
    with limits.limited(limits.RunLimits(train_steps=3)):
        r = lr_range_test(tiny_net(), data, CFG, min_lr=1e-4, max_lr=1e-1, steps=50)
    assert len(r.lrs) == 3 and r.lrs[1] == pytest.approx(1e-4 * (1e3 ** (1 / 49)))   # the full schedule, cut


@pytest.mark.parametrize("kw, match", [
    (dict(min_lr=1.0, max_lr=0.1), "0 < min_lr < max_lr"),
    (dict(steps=1), "steps must be an int >= 2"),
    (dict(mode="cosine"), "mode must be one of exp, linear"),
    (dict(smoothing=1.0), r"smoothing must be in \[0, 1\)"),
    (dict(diverge_factor=1.0), "diverge_factor must be > 1"),
])
def test_bad_arguments_are_one_line_errors(data, kw, match):
    with pytest.raises(ValueError, match=match):
        lr_range_test(tiny_net(), data, CFG, **kw)
