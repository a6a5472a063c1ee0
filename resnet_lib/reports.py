"""Evaluation reports beyond accuracy: logits of a split, the per-class table, top-k, confusions and their images.

:func:`resnet_lib.metrics.evaluate` counts; this module keeps the logits (so that calibration and any other metric
can be computed without another pass over the data), turns an :class:`~resnet_lib.metrics.EvalResult` into the
per-class table with macro and support-weighted averages (checked against scikit-learn's ``classification_report``
in ``tests/test_reports.py``), and draws the confusion matrix and a gallery of misclassified images.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from matplotlib.figure import Figure

from . import limits as limits_
from .metrics import EvalResult, evaluate


def batches_of(data_or_loader: Any, split: str = "test", batch_size: int = 512) -> Iterator[tuple[Any, Any]]:
    """The ``(x, y)`` batches of a DataBundle's split (normalised, no augmentation, in order), or of any iterable.

    Capped in smoke runs (:func:`resnet_lib.limits.current`'s ``eval_batches``), as every evaluation is.
    """
    if hasattr(data_or_loader, "loader") and hasattr(data_or_loader, "classes"):
        batches: Iterable = data_or_loader.loader(split, batch_size, shuffle=False, augment=False)
    elif isinstance(data_or_loader, Iterable) and not isinstance(data_or_loader, torch.Tensor):
        batches = data_or_loader
    else:
        raise ValueError(f"expected a DataBundle or an iterable of (x, y) batches, got {type(data_or_loader).__name__}")
    return limits_.take(batches, limits_.current().eval_batches)


@dataclass
class Predictions:
    """A model's logits on a split, with the true labels (CPU tensors, in the split's order)."""

    logits: torch.Tensor  # [N, K] float32
    labels: torch.Tensor  # [N] int64

    @property
    def predicted(self) -> torch.Tensor:
        """Top-1 classes ``[N]``."""
        return self.logits.argmax(1)

    @property
    def confidence(self) -> torch.Tensor:
        """Top-1 softmax probabilities ``[N]``."""
        return self.logits.softmax(1).amax(1)

    def evaluate(self) -> EvalResult:
        """The same :class:`~resnet_lib.metrics.EvalResult` as :func:`~resnet_lib.metrics.evaluate`, from the logits."""
        return evaluate_logits(self.logits, self.labels)


def predict(model: nn.Module, data_or_loader: Any, split: str = "test", *, device: str | torch.device | None = None,
            batch_size: int = 512) -> Predictions:
    """Run ``model`` in evaluation mode over a split and keep its logits (its train/eval modes are restored).

    Args:
        model: maps ``x [B, C, H, W]`` to logits ``[B, K]``.
        data_or_loader: a DataBundle (its ``split``, without augmentation) or an iterable of ``(x, y)`` batches.
        split: which split of a DataBundle.
        device: where to compute; None = the model's device.
        batch_size: batch size for a DataBundle.
    Returns:
        :class:`Predictions` on the CPU.
    """
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    modes = [m.training for m in model.modules()]
    model.eval()
    logits, labels = [], []
    try:
        with torch.inference_mode():
            for x, y in batches_of(data_or_loader, split, batch_size):
                logits.append(model(x.to(dev)).float().cpu())
                labels.append(y.cpu())
    finally:
        for m, mode in zip(model.modules(), modes):
            m.training = mode
    if not logits:
        raise ValueError("nothing to predict: the loader yielded no batches")
    return Predictions(torch.cat(logits), torch.cat(labels).long())


def evaluate_logits(logits: torch.Tensor, labels: torch.Tensor) -> EvalResult:
    """:func:`~resnet_lib.metrics.evaluate` on stored logits (the same torchmetrics counting, no model run).

    Args:
        logits: a model's outputs.
        labels: true classes.
    Returns:
        An :class:`~resnet_lib.metrics.EvalResult`.
    Shape:
        logits ``[N, K]``, labels ``[N]``.
    """
    _check_logits(logits, labels)
    # one batch of (logits, labels) through an identity "model": evaluate's own code computes every number
    with limits_.limited(limits_.NO_LIMITS):
        return evaluate(nn.Identity(), [(logits.float(), labels.long())], torch.device("cpu"),
                        num_classes=logits.shape[1])


def _check_logits(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must be a [N, K] tensor with K >= 2, got "
                         f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__}")
    if not isinstance(labels, torch.Tensor) or labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must be a [N] tensor with N={logits.shape[0]} (the logits' rows), got "
                         f"{tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__}")
    k = logits.shape[1]
    if len(labels) and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must be class indices in 0..{k - 1}, got values from {int(labels.min())} "
                         f"to {int(labels.max())}")


def _check_classes(classes: Sequence[str], k: int) -> list[str]:
    classes = [str(c) for c in classes]
    if len(classes) != k:
        raise ValueError(f"classes must name the {k} classes, got {len(classes)} names")
    return classes


def classification_table(result: EvalResult, classes: Sequence[str]) -> Any:
    """Per-class precision, recall, F1 and support, with macro and support-weighted averages (a pandas DataFrame).

    The rows and numbers are scikit-learn's ``classification_report`` (``zero_division=0``): the macro average is
    the plain mean over classes, the weighted one weights each class by its number of true images.

    Args:
        result: from :func:`~resnet_lib.metrics.evaluate` or :func:`evaluate_logits`.
        classes: the class names, in index order.
    Returns:
        A ``pandas.DataFrame`` indexed by class name plus ``"macro avg"`` and ``"weighted avg"``, with columns
        ``precision``, ``recall``, ``f1-score`` (fractions) and ``support`` (images).
    """
    import pandas as pd

    support = result.confusion.sum(1).double()                  # true images per class
    classes = _check_classes(classes, len(support))
    per_class = torch.tensor([result.precision, result.recall, result.f1], dtype=torch.float64)   # [3, K]
    macro = per_class.mean(1)
    weighted = (per_class * support).sum(1) / support.sum()
    rows = {name: [*per_class[:, i].tolist(), int(support[i])] for i, name in enumerate(classes)}
    rows["macro avg"] = [*macro.tolist(), int(support.sum())]
    rows["weighted avg"] = [*weighted.tolist(), int(support.sum())]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["precision", "recall", "f1-score", "support"])
    table["support"] = table["support"].astype(int)
    return table


def top_k_accuracy(logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 2, 3, 5)) -> dict[int, float]:
    """Fraction of images whose true class is among the ``k`` highest logits, for each ``k`` (torchmetrics).

    Args:
        logits: a model's outputs.
        labels: true classes.
        ks: the values of ``k``, each in ``1..K``.
    Returns:
        A dict from each ``k`` to its accuracy.
    Shape:
        logits ``[N, K]``, labels ``[N]``.
    """
    from torchmetrics.classification import MulticlassAccuracy

    _check_logits(logits, labels)
    n_classes = logits.shape[1]
    bad = [k for k in ks if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n_classes]
    if bad or not ks:
        raise ValueError(f"ks must be ints in 1..{n_classes} (the number of classes), got {list(ks)!r}")
    return {k: float(MulticlassAccuracy(n_classes, top_k=k, average="micro")(logits.float(), labels.long()))
            for k in ks}


def most_confused(confusion: torch.Tensor, classes: Sequence[str], k: int = 6) -> list[tuple[str, str, int]]:
    """The ``k`` largest off-diagonal cells of a confusion matrix: ``(true class, predicted class, images)``.

    Args:
        confusion: rows = true class, columns = predicted class (as in :class:`~resnet_lib.metrics.EvalResult`).
        classes: class names in index order.
        k: how many cells.
    Returns:
        A list of ``(true name, predicted name, count)``, largest count first.
    """
    c = torch.as_tensor(confusion).clone()
    if c.dim() != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"confusion must be a square [K, K] matrix, got shape {tuple(c.shape)}")
    classes = _check_classes(classes, c.shape[0])
    c.fill_diagonal_(-1)
    counts, flat = c.flatten().sort(descending=True)
    kk = c.shape[0]
    return [(classes[int(i) // kk], classes[int(i) % kk], int(n)) for n, i in zip(counts[:k], flat[:k]) if n > 0]


def confusion_figure(confusion: torch.Tensor, classes: Sequence[str], normalize: str | None = "true",
                     title: str | None = None) -> Figure:
    """The confusion matrix as a heat map (scikit-learn's ``ConfusionMatrixDisplay``).

    Args:
        confusion: counts, rows = true class, columns = predicted class.
        classes: class names in index order.
        normalize: ``"true"`` shows each row as fractions of the true class (recall on the diagonal), None counts.
        title: axes title.
    Returns:
        The figure.
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    if normalize not in ("true", None):
        raise ValueError(f"normalize must be 'true' or None, got {normalize!r}")
    c = torch.as_tensor(confusion).double()
    classes = _check_classes(classes, c.shape[0])
    shown = c / c.sum(1, keepdim=True).clamp_min(1) if normalize == "true" else c
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.add_subplot()
    ConfusionMatrixDisplay(shown.numpy(), display_labels=classes).plot(
        ax=ax, cmap="Blues", values_format=".2f" if normalize else "d", colorbar=True, xticks_rotation=45)
    for text in ax.texts:
        text.set_fontsize(7)
    ax.set(xlabel="predicted class", ylabel="true class")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def image_grid(images: torch.Tensor, titles: Sequence[str], ncols: int = 8, size: float = 1.3,
               suptitle: str | None = None) -> Figure:
    """Raw images in a grid with one title each (grayscale for one channel).

    Args:
        images: uint8 (0-255) or float (shown min-max scaled per image) pixels.
        titles: one per image.
        ncols: images per row.
        size: inches per image.
        suptitle: the figure's title.
    Returns:
        The figure.
    Shape:
        images ``[N, C, H, W]`` with C = 1 or 3.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be a [N, C, H, W] tensor with C = 1 or 3, got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    if len(titles) != len(images):
        raise ValueError(f"titles must give one title per image ({len(images)}), got {len(titles)}")
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig = Figure(figsize=(size * ncols, (size + 0.35) * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        img = images[i].detach().cpu().float()
        if images.dtype != torch.uint8:
            img = (img - img.min()) / (img.max() - img.min()).clamp_min(1e-12) * 255
        img = img.permute(1, 2, 0).numpy() / 255
        ax.imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray" if img.shape[2] == 1 else None,
                  vmin=0, vmax=1)
        ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return fig


def misclassified(predictions: Predictions, pairs: Sequence[tuple[int, int]] | None = None) -> torch.Tensor:
    """Indices of the misclassified images, most confident mistake first.

    Args:
        predictions: from :func:`predict`.
        pairs: keep only these ``(true class, predicted class)`` index pairs; None = every mistake.
    Returns:
        An int64 tensor of indices into the split.
    """
    wrong = predictions.predicted != predictions.labels
    if pairs is not None:
        k = predictions.logits.shape[1]
        bad = [p for p in pairs if len(p) != 2 or not all(isinstance(c, int) and 0 <= c < k for c in p)]
        if bad:
            raise ValueError(f"pairs must be (true, predicted) class indices in 0..{k - 1}, got {bad[0]!r}")
        keep = torch.zeros_like(wrong)
        for t, p in pairs:
            keep |= (predictions.labels == t) & (predictions.predicted == p)
        wrong &= keep
    idx = wrong.nonzero().flatten()
    return idx[predictions.confidence[idx].argsort(descending=True, stable=True)]


def gallery_figure(images: torch.Tensor, predictions: Predictions, classes: Sequence[str], indices: torch.Tensor,
                   ncols: int = 8, suptitle: str | None = None) -> Figure:
    """Images of a split with their true and predicted classes and the model's confidence in its prediction.

    Args:
        images: the split's raw images (e.g. ``data.x_test``), aligned with ``predictions``.
        predictions: from :func:`predict` on the same split.
        classes: class names.
        indices: which images (e.g. from :func:`misclassified`).
        ncols: images per row.
        suptitle: the figure's title.
    Returns:
        The figure.
    """
    classes = _check_classes(classes, predictions.logits.shape[1])
    if len(images) != len(predictions.labels):
        raise ValueError(f"images ({len(images)}) and predictions ({len(predictions.labels)}) must be the same split")
    idx = torch.as_tensor(indices).long().cpu()
    conf, pred = predictions.confidence, predictions.predicted
    titles = [f"{classes[int(predictions.labels[i])]}\n→ {classes[int(pred[i])]} ({100 * float(conf[i]):.0f} %)"
              for i in idx]
    return image_grid(images[idx.to(images.device)].cpu(), titles, ncols=ncols, suptitle=suptitle)
