"""resnet_lib.calibration against torchmetrics, scipy and hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from resnet_lib.calibration import (expected_calibration_error, fit_temperature, nll, reliability,
                                    temperature_figure)


def sampled(n: int = 20_000, k: int = 10, scale: float = 1.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels drawn from softmax(logits): a perfectly calibrated model by construction, times ``scale``."""
    g = torch.Generator().manual_seed(seed)
    logits = 2.5 * torch.randn(n, k, generator=g, dtype=torch.float64)
    labels = torch.multinomial(logits.softmax(1), 1, generator=g)[:, 0]
    return logits * scale, labels


def test_ece_equals_torchmetrics():
    from torchmetrics.classification import MulticlassCalibrationError

    logits, labels = sampled(5000, scale=1.7)
    conf = logits.softmax(1).amax(1)
    edges = torch.linspace(0, 1, 16, dtype=torch.float64)
    assert (conf[:, None] == edges).sum() == 0         # no confidence on a bin edge: both conventions agree
    ours = expected_calibration_error(logits, labels, n_bins=15)
    ref = MulticlassCalibrationError(num_classes=10, n_bins=15, norm="l1")(logits.softmax(1), labels)
    assert ours == pytest.approx(float(ref), abs=1e-6)     # torchmetrics counts in float32
    assert 0.02 < ours < 0.5                               # over-confident by construction: the check has teeth


def test_ece_by_hand_and_bins_right_closed():
    # two classes: confidence = sigmoid(|difference|)
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 0.5], [0.0, 0.0]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    conf = torch.sigmoid(torch.tensor([2.0, 1.0, 3.0, 0.5, 0.0]))   # the last is exactly 0.5: an edge
    correct = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0])                # the tie predicts class 0 (argmax)
    hi = conf > 0.5
    by_hand = (hi.sum() * (correct[hi].mean() - conf[hi].mean()).abs() + (~hi).sum() * (correct[~hi].mean()
               - conf[~hi].mean()).abs()) / 5
    r = reliability(logits, labels, n_bins=2)
    assert r.count.tolist() == [1, 4]                    # 0.5 belongs to (0, 0.5], Guo et al.'s convention
    assert r.ece == pytest.approx(float(by_hand), abs=1e-7)
    assert r.accuracy[1] == pytest.approx(0.75) and r.overall_accuracy == pytest.approx(0.6)


def test_a_calibrated_model_has_small_ece_and_overconfidence_is_seen():
    logits, labels = sampled()
    assert expected_calibration_error(logits, labels) < 0.015
    r = reliability(logits * 3, labels)                   # sharpened: more confident than accurate
    assert r.ece > 0.1 and r.mean_confidence > r.overall_accuracy + 0.1
    assert int(r.count.sum()) == len(labels)


def test_fit_temperature_matches_scipy_and_recovers_the_scale():
    from scipy.optimize import minimize_scalar

    logits, labels = sampled(scale=3.0)
    t = fit_temperature(logits, labels)
    ref = minimize_scalar(lambda v: F.cross_entropy(logits / v, labels).item(), bounds=(0.05, 20),
                          method="bounded", options={"xatol": 1e-8}).x
    assert t == pytest.approx(ref, rel=1e-4)
    assert t == pytest.approx(3.0, rel=0.05)              # the model was the calibrated one times 3
    assert nll(logits, labels, t) < nll(logits, labels) - 0.1
    assert expected_calibration_error(logits / t, labels) < 0.015
    under = fit_temperature(logits / 6, labels)           # under-confident: T < 1 sharpens
    assert under == pytest.approx(0.5, rel=0.05)


def test_nll_is_cross_entropy():
    logits, labels = sampled(500)
    assert nll(logits, labels, 2.0) == pytest.approx(F.cross_entropy(logits / 2, labels).item(), rel=1e-12)


def test_one_line_errors():
    logits, labels = sampled(10)
    with pytest.raises(ValueError, match=r"logits must be a \[N, K\] tensor"):
        expected_calibration_error(logits[0], labels)
    with pytest.raises(ValueError, match=r"labels must be a \[N\] tensor matching logits' N=10"):
        expected_calibration_error(logits, labels[:5])
    with pytest.raises(ValueError, match=r"labels must be class indices in 0\.\.9"):
        expected_calibration_error(logits, labels + 10)
    with pytest.raises(ValueError, match="n_bins must be a positive int"):
        reliability(logits, labels, n_bins=0)
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        nll(logits, labels, -1.0)
    with pytest.raises(ValueError, match="max_iter must be a positive int"):
        fit_temperature(logits, labels, max_iter=0)


def test_figures_are_returned_not_shown():
    logits, labels = sampled(2000, scale=2.0)
    r = reliability(logits, labels)
    fig = r.plot(title="t", label="model")
    assert isinstance(fig, Figure) and fig.axes[0].get_xlabel().startswith("confidence")
    fig = temperature_figure(logits, labels, fit_temperature(logits, labels), logits, labels)
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 3
    assert math.isfinite(r.ece) and np.isfinite(r.confidence.numpy()).all()


def test_smoothing_runs_record_every_setting():
    from resnet_lib import limits
    from resnet_lib.data import load_data
    from resnet_lib.smoothing_study import calibration_summary, smoothing_runs

    data = load_data("digits", val_size=300)
    with limits.limited(limits.RunLimits(epochs=1, train_steps=2, eval_batches=1)):
        runs = smoothing_runs(data, (0.0, 0.1), (0,), epochs=2, augment="none")
    assert [(r["label_smoothing"], r["seed"]) for r in runs] == [(0.0, 0), (0.1, 0)]
    for r in runs:
        assert r["temperature"] > 0 and 0 <= r["test_ece"] <= 1 and r["final_train_loss"] > 0
        assert sum(r["bins"]["count"]) == sum(r["bins_scaled"]["count"]) == len(data.y_test)
    logits, labels = sampled(3000, scale=2.0)
    s = calibration_summary(logits[:1500], labels[:1500], logits[1500:], labels[1500:])
    assert s["temperature"] == pytest.approx(fit_temperature(logits[:1500], labels[:1500]))
    assert s["test_ece_scaled"] < s["test_ece"]
    with pytest.raises(ValueError, match="smoothing_runs needs val and test images"):
        smoothing_runs(load_data("digits", val_size=0), (0.0,), (0,))
