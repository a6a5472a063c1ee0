"""plots: figures are returned (never shown), with the data and labels asked for."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from resnet_lib import plots
from resnet_lib.history import History


def fake_history(acc0: float, n: int = 4) -> History:
    # hand-written records: only the plotting is under test here
    return History(epochs=[{"epoch": i + 1, "lr": 0.1 / (i + 1), "train_loss": 1.0 / (i + 1),
                            "train_acc": acc0 + 0.05 * i, "test_loss": 1.2 / (i + 1), "test_acc": acc0 + 0.04 * i,
                            "time_s": 1.0, "img_per_s": 100.0} for i in range(n)],
                   steps=[[10 * i, 2.0 / (i + 1), 0.1] for i in range(20)])


def test_plot_history_two_runs_two_metrics():
    h20, h56 = fake_history(0.7), fake_history(0.6)
    fig = plots.plot_history({"plain-20": h20, "plain-56": h56}, metrics=("train_err", "test_err"), title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) == 4
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "error (%)" and ax.get_title() == "t"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["plain-20, train err", "plain-20, test err", "plain-56, train err", "plain-56, test err"]
    # errors are drawn in percent: 100 * (1 - acc)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [100 * (1 - a) for a in h20.series("train_acc")])
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [1, 2, 3, 4])


def test_plot_history_single_history_loss_logy_and_given_axes():
    fig0 = plots.plot_history(fake_history(0.5), metrics="train_loss", logy=True)
    ax = fig0.axes[0]
    assert ax.get_ylabel() == "loss" and ax.get_yscale() == "log" and len(ax.lines) == 1
    target = Figure().add_subplot()
    fig = plots.plot_history(fake_history(0.5), metrics=("test_acc",), ax=target)
    assert fig is target.figure and target.get_ylabel() == "accuracy (%)"


def test_plot_history_rejects_mixed_units_and_unknown_metric():
    with pytest.raises(ValueError, match="units"):
        plots.plot_history(fake_history(0.5), metrics=("train_loss", "test_err"))
    with pytest.raises(ValueError, match="not recorded"):
        plots.plot_history(fake_history(0.5), metrics=("val_err",))


def test_plot_lr_and_steps():
    h = fake_history(0.5)
    ax = plots.plot_lr(h).axes[0]
    assert ax.get_ylabel() == "learning rate" and ax.get_xlabel() == "iteration" and len(ax.lines[0].get_xdata()) == 20
    ax = plots.plot_steps({"a": h}, smooth=5).axes[0]
    assert ax.get_ylabel() == "training loss" and len(ax.lines[0].get_ydata()) == 16


def test_plot_confusion():
    conf = np.array([[8, 2], [1, 9]])
    fig = plots.plot_confusion(conf, ["cat", "dog"])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog"]
    np.testing.assert_allclose(ax.images[0].get_array(), [[80, 20], [10, 90]])
    with pytest.raises(ValueError, match="len\\(classes\\)"):
        plots.plot_confusion(conf, ["a", "b", "c"])


def test_plot_history_epoch_ticks_are_whole_numbers():
    fig = plots.plot_history(fake_history(0.7, n=2), metrics="train_err")
    fig.canvas.draw()  # tick positions are decided at draw time
    ticks = fig.axes[0].get_xticks()
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)


def _labels(ax) -> list[str]:
    ax.figure.canvas.draw()
    return [t.get_text() for t in ax.get_yticklabels(which="both") if t.get_text()]


def test_log_axes_label_percentages_as_plain_numbers_and_wide_ranges_as_powers():
    # matplotlib's default writes 6x10^1 for an error of 60 %
    fig = Figure(layout="constrained")
    narrow, wide = fig.add_subplot(121), fig.add_subplot(122)
    narrow.plot([1, 2], [8.0, 65.0])
    wide.plot([1, 2], [1e-23, 1e-2])
    plots.log_y(narrow)
    plots.log_y(wide)
    got = _labels(narrow)
    assert "10" in got and ("20" in got or "50" in got) and not any("times" in t or "^" in t for t in got), got
    assert any("10^{-" in t for t in _labels(wide))
