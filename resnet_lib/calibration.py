"""Calibration of a classifier's confidence: expected calibration error, reliability diagrams, temperature scaling.

A classifier is *calibrated* when, among the images it labels with confidence ``p`` (its top softmax probability),
a fraction ``p`` is right. Guo et al. (2017) measure the gap with the **expected calibration error** (ECE): sort the
confidences into ``n_bins`` equal-width bins, and average ``|accuracy(bin) - mean confidence(bin)|`` over the bins,
weighted by the share of images in each. They found modern deep networks over-confident and repaired them with
**temperature scaling**: divide the logits by one scalar ``T`` fitted on held-out images by minimising the negative
log-likelihood (NLL); ``T`` does not change which class wins, so accuracy is untouched.

Bins here are ``(k/n, (k+1)/n]`` (Guo et al.'s convention; a confidence is at least ``1/K``, never 0).
:class:`torchmetrics.classification.MulticlassCalibrationError` (``norm="l1"``) computes the same number except for
confidences lying exactly on a bin edge, which it puts in the bin above (``[k/n, (k+1)/n)``, and 1.0 in a bin of
its own); ``tests/test_calibration.py`` checks the two agree where no confidence sits on an edge.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter


def _check(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``(logits [N, K], labels [N])`` and return them as float64 / int64 CPU tensors."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[1] < 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a [N, K] tensor with K >= 2 classes, got {shape}")
    if not isinstance(labels, torch.Tensor) or labels.shape != logits.shape[:1]:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a [N] tensor matching logits' N={logits.shape[0]}, got {shape}")
    if len(labels) == 0:
        raise ValueError("logits and labels are empty: calibration needs at least one image")
    labels = labels.detach().cpu().long()
    k = logits.shape[1]
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"labels must be class indices in 0..{k - 1}, got values from {int(labels.min())} "
                         f"to {int(labels.max())}")
    return logits.detach().cpu().double(), labels


def _check_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram's data: per confidence bin, the mean confidence, the accuracy and the count."""

    edges: torch.Tensor  # [n_bins + 1] bin edges in [0, 1]
    confidence: torch.Tensor  # [n_bins] mean top-1 confidence of the bin's images (0 for an empty bin)
    accuracy: torch.Tensor  # [n_bins] fraction of the bin's images classified correctly (0 for an empty bin)
    count: torch.Tensor  # [n_bins] images per bin (int64)
    ece: float  # expected calibration error: sum over bins of count / N * |accuracy - confidence|
    mean_confidence: float  # over all images
    overall_accuracy: float  # over all images

    def plot(self, ax: Axes | None = None, title: str | None = None, label: str | None = None) -> Figure:
        """Bars of accuracy per bin against the diagonal of perfect calibration, the gap shaded.

        Args:
            ax: draw into this axes; default a new figure.
            title: axes title (e.g. a provenance label).
            label: legend label of the bars (the ECE is appended).
        Returns:
            The figure.
        """
        if ax is None:
            fig = Figure(figsize=(4.2, 4.0), layout="constrained")
            ax = fig.add_subplot()
        width = (self.edges[1:] - self.edges[:-1]).numpy()
        left, used = self.edges[:-1].numpy(), (self.count > 0).numpy()
        text = f"ECE {100 * self.ece:.2f} %"
        ax.bar(left[used], self.accuracy.numpy()[used], width=width[used], align="edge", edgecolor="black",
               linewidth=0.5, color="tab:blue", alpha=0.8, label=f"{label}: {text}" if label else f"accuracy, {text}")
        gap = self.confidence.numpy() - self.accuracy.numpy()
        ax.bar(left[used], gap[used], bottom=self.accuracy.numpy()[used], width=width[used], align="edge",
               color="tab:red", alpha=0.3, hatch="//", edgecolor="tab:red", linewidth=0.0,
               label="gap to the mean confidence")
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect calibration")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top-1 softmax probability)",
               ylabel="accuracy in the bin", aspect="equal")
        ax.legend(fontsize=7, loc="upper left")
        if title:
            ax.set_title(title, fontsize=9)
        return ax.figure


def reliability(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> Reliability:
    """Bin the top-1 confidences of ``softmax(logits)`` and compare each bin's accuracy with its mean confidence.

    Args:
        logits: unnormalised scores (divide by a temperature first to see its effect).
        labels: true classes.
        n_bins: equal-width confidence bins over [0, 1] (Guo et al. used 15).
    Returns:
        A :class:`Reliability`; its ``ece`` is :func:`expected_calibration_error`.
    Shape:
        logits ``[N, K]``, labels ``[N]``.
    """
    logits, labels = _check(logits, labels)
    _check_bins(n_bins)
    conf, pred = logits.softmax(1).max(1)                     # [N], float64
    correct = (pred == labels).double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    idx = (torch.bucketize(conf, edges, right=False) - 1).clamp(0, n_bins - 1)   # bin k holds (e_k, e_k+1]
    count = torch.bincount(idx, minlength=n_bins)
    safe = count.clamp_min(1).double()
    mean_conf = torch.bincount(idx, conf, minlength=n_bins) / safe
    acc = torch.bincount(idx, correct, minlength=n_bins) / safe
    ece = float(((count.double() / len(labels)) * (acc - mean_conf).abs()).sum())
    return Reliability(edges, mean_conf, acc, count, ece, float(conf.mean()), float(correct.mean()))


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    """Expected calibration error (Guo et al., 2017) of the top-1 confidences, a fraction in [0, 1].

    Args:
        logits: unnormalised scores.
        labels: true classes.
        n_bins: equal-width confidence bins over [0, 1].
    Returns:
        The ECE, a float; the bins' ``|accuracy - mean confidence|`` weighted by their share of the images.
    Shape:
        logits ``[N, K]``, labels ``[N]``.
    """
    return reliability(logits, labels, n_bins).ece


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood (cross-entropy) of ``softmax(logits / temperature)``, in nats.

    Args:
        logits: unnormalised scores.
        labels: true classes.
        temperature: a positive scale dividing the logits.
    Returns:
        The mean NLL, a float.
    Shape:
        logits ``[N, K]``, labels ``[N]``.
    """
    logits, labels = _check(logits, labels)
    _check_temperature(temperature)
    return float(F.cross_entropy(logits / temperature, labels))


def _check_temperature(t: Any) -> None:
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
        raise ValueError(f"temperature must be a positive number, got {t!r}")


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 100) -> float:
    """Temperature scaling (Guo et al., 2017): the ``T > 0`` minimising the NLL of ``softmax(logits / T)``.

    Fit it on held-out (validation) logits, never on the images you report on. The NLL is convex in ``1/T``, so
    L-BFGS (strong Wolfe line search) on ``log T`` finds the one minimum from ``T = 1``.

    Args:
        logits: the validation split's logits.
        labels: its true classes.
        max_iter: L-BFGS iterations at most.
    Returns:
        The fitted temperature, a float (``> 1`` softens an over-confident model, ``< 1`` sharpens an
        under-confident one).
    Shape:
        logits ``[N, K]``, labels ``[N]``.
    """
    logits, labels = _check(logits, labels)
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}")
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, tolerance_grad=1e-10, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def temperature_figure(logits: torch.Tensor, labels: torch.Tensor, temperature: float,
                       eval_logits: torch.Tensor | None = None, eval_labels: torch.Tensor | None = None,
                       ax: Axes | None = None, title: str | None = None) -> Figure:
    """NLL against the temperature on the fitting split (and optionally on another), the fitted ``T`` marked.

    Args:
        logits, labels: the split ``temperature`` was fitted on.
        temperature: the fitted value, drawn as a vertical line.
        eval_logits, eval_labels: another split (e.g. test) drawn as a second curve.
        ax: draw into this axes; default a new figure.
        title: axes title.
    Returns:
        The figure.
    """
    _check_temperature(temperature)
    if ax is None:
        fig = Figure(figsize=(4.8, 3.4), layout="constrained")
        ax = fig.add_subplot()
    lo, hi = min(0.25, temperature / 2), max(4.0, temperature * 2)
    ts = torch.logspace(torch.log10(torch.tensor(lo)), torch.log10(torch.tensor(hi)), 60).tolist()
    curves = [("fitting split", logits, labels)]
    if eval_logits is not None and eval_labels is not None:
        curves.append(("evaluation split", eval_logits, eval_labels))
    for name, lg, lb in curves:
        ax.plot(ts, [nll(lg, lb, t) for t in ts], label=name)
    ax.axvline(temperature, color="black", ls=":", lw=1, label=f"fitted T = {temperature:.3f}")
    ax.set_xscale("log")
    ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8, 16) if lo <= t <= hi]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())              # no 3x10^-1 between the readable ticks
    ax.set(xlabel="temperature T (logits divided by T)", ylabel="NLL (nats per image)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure
