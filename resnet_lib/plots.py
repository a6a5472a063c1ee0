"""Matplotlib helpers: take recorded results, return a ``Figure``. They never train and never call ``plt.show()``."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, MaxNLocator

from .history import History


def _axes(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.0)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")  # no pyplot: nothing global, nothing shown
    return fig, fig.add_subplot()


class _ReadableLogFormatter(LogFormatterSciNotation):
    """Log-axis tick labels as plain numbers ("20", "0.05") when the axis spans under four decades, else ``10^k``.

    matplotlib's default writes ``6×10^1`` for 60 on a log axis, which nobody reads as a percentage.
    """

    def __call__(self, x: float, pos: int | None = None) -> str:
        label = super().__call__(x, pos)          # decides *whether* this tick is labelled
        lo, hi = sorted(self.axis.get_view_interval())
        if label and lo > 0 and hi / lo < 1e4:
            return f"{x:g}"
        return label


def log_y(ax: Axes) -> None:
    """Make ``ax``'s y axis logarithmic, with readable tick labels: "20", "0.05" over a few decades, ``10^k`` beyond."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_ReadableLogFormatter())
    ax.yaxis.set_minor_formatter(_ReadableLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def plot_history(histories: Mapping[str, History] | History, metrics: Sequence[str] | str = ("train_err", "test_err"),
                 ax: Axes | None = None, title: str | None = None, logy: bool = False) -> Figure:
    """Per-epoch curves of one or several runs.

    Args:
        histories: a :class:`History`, or ``{label: History}`` (one colour per run).
        metrics: names for :meth:`History.series`, e.g. ``"train_err"``, ``"test_acc"``, ``"train_loss"``; errors and
            accuracies are drawn in percent. Several metrics: one line style per metric (train solid, test dashed,
            as in the paper's Fig. 1).
        ax: draw into this axes; default a new figure.
        title: axes title (e.g. a provenance label).
        logy: logarithmic y axis.
    Returns:
        The figure.
    """
    runs = {"": histories} if isinstance(histories, History) else dict(histories)
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not runs or not metrics:
        raise ValueError("plot_history needs at least one History and one metric")
    kinds = {_kind(m) for m in metrics}
    if len(kinds) > 1:
        raise ValueError(f"metrics {metrics} mix units ({', '.join(sorted(kinds))}): plot them on separate axes")
    kind = kinds.pop()
    fig, ax = _axes(ax)
    styles = ("-", "--", ":", "-.")
    for i, (label, h) in enumerate(runs.items()):
        color = f"C{i % 10}"
        for j, m in enumerate(metrics):
            y = np.asarray(h.series(m), dtype=float) * (100.0 if kind == "percent" else 1.0)
            epochs = [e.get("epoch", k + 1) for k, e in enumerate(h.epochs)]
            name = ", ".join(p for p in (label, m.replace("_", " ")) if p)
            ax.plot(epochs, y, styles[j % len(styles)], color=color, label=name, marker="o" if len(y) < 12 else None)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers: no "1.2" ticks
    ax.set_ylabel({"percent": "error (%)" if all(m.endswith("_err") for m in metrics) else "accuracy (%)",
                   "loss": "loss", "lr": "learning rate"}.get(kind, kind))
    if logy:
        log_y(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def _kind(metric: str) -> str:
    if metric.endswith(("_err", "_acc")):
        return "percent"
    if metric.endswith("_loss"):
        return "loss"
    return "lr" if metric == "lr" else metric


def plot_steps(histories: Mapping[str, History] | History, ax: Axes | None = None, title: str | None = None,
               logy: bool = True, smooth: int = 1) -> Figure:
    """Training loss per logged step (``History.steps``), optionally smoothed by a running mean of ``smooth`` points."""
    runs = {"": histories} if isinstance(histories, History) else dict(histories)
    fig, ax = _axes(ax)
    for i, (label, h) in enumerate(runs.items()):
        if not h.steps:
            raise ValueError(f"history {label!r} has no step records: train with log_every_steps > 0")
        s = np.asarray(h.steps, dtype=float)
        loss = s[:, 1]
        if smooth > 1 and len(loss) >= smooth:
            loss = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
        ax.plot(s[len(s) - len(loss):, 0], loss, color=f"C{i % 10}", label=label or None)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss")
    if logy:
        log_y(ax)
    ax.grid(alpha=0.3)
    if any(runs):
        ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def plot_lr(history: History, ax: Axes | None = None, title: str | None = None) -> Figure:
    """The learning rate against the iteration (from ``History.steps``, else per epoch)."""
    fig, ax = _axes(ax)
    if history.steps:
        s = np.asarray(history.steps, dtype=float)
        ax.plot(s[:, 0], s[:, 2], color="C0")
        ax.set_xlabel("iteration")
    else:
        ax.plot(history.series("epoch"), history.series("lr"), "o-", color="C0")
        ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def plot_confusion(confusion: Any, classes: Sequence[str], ax: Axes | None = None, title: str | None = None,
                   normalize: bool = True) -> Figure:
    """Confusion matrix as an image: rows = true class, columns = predicted class.

    Args:
        confusion: ``[K, K]`` counts (tensor or array), ``confusion[i, j]`` = images of class i predicted as j.
        classes: the K class names.
        normalize: show each row as a percentage of its class (counts otherwise).
    """
    m = np.asarray(confusion.cpu() if hasattr(confusion, "cpu") else confusion, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(classes):
        raise ValueError(f"confusion must be [K, K] with K = len(classes) = {len(classes)}, got shape {m.shape}")
    if normalize:
        m = 100.0 * m / np.maximum(m.sum(axis=1, keepdims=True), 1.0)
    fig, ax = _axes(ax, figsize=(0.55 * len(classes) + 2.5, 0.5 * len(classes) + 2.0))
    im = ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:.0f}", ha="center", va="center", fontsize="x-small",
                    color="white" if m[i, j] > 0.6 * m.max() else "black")
    fig.colorbar(im, ax=ax, label="% of true class" if normalize else "images")
    if title:
        ax.set_title(title)
    return fig
