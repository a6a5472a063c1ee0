"""Gradients and signals through depth: per-layer gradient norms and activation statistics.

The measurements behind "vanishing gradients" (Bengio et al., 1994; Glorot & Bengio, 2010): one forward/backward
pass on a real batch, then the L2 norm of the loss gradient of every conv/linear weight, from input to output.
Nothing leaks out of a measurement: the model's train/eval flags, its buffers (BatchNorm running statistics) and
its ``.grad`` fields are as they were before.

    model = plain_cnn(56, batch_norm=False, init="default")
    norms = grad_norms(model, x, y)  # on a Fashion-MNIST batch: {"conv1.weight": 1.8e-23, ..., "fc.weight": 1.4e-02}
    fig = plot_grad_norms({"plain-56": norms})

The plain CNN these examples measure lives in :mod:`resnet_lib.plain_cnn` (re-exported here).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .plain_cnn import INITS, PlainCNN, init_weights, plain_cnn  # noqa: F401 (re-exported: chapter 2 imports them here)

if TYPE_CHECKING:  # matplotlib is imported only when a plot is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@contextmanager
def _measurement(model: nn.Module, train: bool) -> Iterator[None]:
    """Set every module's mode to ``train``; afterwards restore modes, buffers and ``.grad`` exactly."""
    modes = {m: m.training for m in model.modules()}
    buffers = {k: b.clone() for k, b in model.named_buffers()}
    grads = {p: (None if p.grad is None else p.grad.clone()) for p in model.parameters()}
    model.train(train)
    try:
        yield
    finally:
        for m, mode in modes.items():
            m.training = mode
        with torch.no_grad():
            for k, b in model.named_buffers():
                b.copy_(buffers[k])
        for p, g in grads.items():
            p.grad = g


@contextmanager
def _forward_order(model: nn.Module, types: tuple[type[nn.Module], ...] = _WEIGHTED
                   ) -> Iterator[list[tuple[str, nn.Module]]]:
    """Collect ``(name, module)`` of the layers of ``types`` in the order the forward pass first calls them."""
    names = {m: n for n, m in model.named_modules() if isinstance(m, types)}
    order: list[tuple[str, nn.Module]] = []
    seen: set[int] = set()

    def hook(mod: nn.Module, _i: tuple[Tensor, ...], _o: Tensor) -> None:  # returns None: output unchanged
        if id(mod) not in seen:
            seen.add(id(mod))
            order.append((names[mod], mod))

    hooks = [m.register_forward_hook(hook) for m in names]
    try:
        yield order
    finally:
        for h in hooks:
            h.remove()


def _check_batch(model: nn.Module, x: Tensor, y: Tensor | None = None) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, Tensor) or x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"x must be a batch tensor of shape (N, ...), N >= 1; got {getattr(x, 'shape', x)!r}")
    if y is not None and (not isinstance(y, Tensor) or y.shape[0] != x.shape[0]):
        raise ValueError(f"y must be a tensor with one target per example ({x.shape[0]}), "
                         f"got {getattr(y, 'shape', y)!r}")


def grad_norms(model: nn.Module, x: Tensor, y: Tensor,
               loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None, train: bool = True) -> dict[str, float]:
    """L2 norm of the loss gradient of every conv/linear weight, after one forward/backward pass on a batch.

    Args:
        model: the network (its modes, buffers and ``.grad`` fields are left as they were).
        x: input batch, shape ``(N, C, H, W)``, on the model's device.
        y: targets, shape ``(N,)`` (class indices for the default loss).
        loss_fn: ``loss_fn(logits, y) -> scalar``; default ``F.cross_entropy`` (mean over the batch).
        train: run the pass in train mode (BatchNorm uses batch statistics, as during training).
    Returns:
        ``{"<module>.weight": ||dL/dW||_2}``, ordered from input to output (the order the forward pass calls the
        layers), e.g. ``{"conv1.weight": ..., "layer1.0.conv1.weight": ..., "fc.weight": ...}``.
    """
    _check_batch(model, x, y)
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    with _measurement(model, train):
        with _forward_order(model) as layers:
            out = model(x)  # (N, num_classes)
        layers = [(n, m) for n, m in layers if m.weight.requires_grad]
        if not layers:
            raise ValueError("model has no trainable conv/linear weight to measure")
        loss = loss_fn(out, y)
        if loss.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
        # autograd.grad leaves every .grad untouched; the context restores modes and BN statistics
        grads = torch.autograd.grad(loss, [m.weight for _, m in layers])
    return {f"{n}.weight": _l2(g) for (n, _), g in zip(layers, grads)}


def block_input_grad_norms(model: nn.Module, x: Tensor, y: Tensor,
                           loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
                           train: bool = True) -> dict[str, float]:
    """L2 norm of the loss gradient with respect to each residual block's *input*, ``||dL/dx_l||``.

    The quantity of He et al. 2016b, eq. 5 (``dE/dx_l``), as opposed to :func:`grad_norms`' weight gradients.
    Blocks are the children of the stages ``layer1`` … ``layer4`` (torchvision's names, which ``resnet_lib``'s
    models keep); the last entry, ``"head"``, is the input of ``avgpool``, i.e. the last block's output ``x_L``.

    Args:
        model: a network with ``layerK`` stages (modes, buffers and ``.grad`` fields are left as they were).
        x: input batch, shape ``(N, C, H, W)``; y: targets, shape ``(N,)``.
        loss_fn: ``loss_fn(logits, y) -> scalar``; default ``F.cross_entropy`` (mean over the batch).
        train: run the pass in train mode (BatchNorm uses batch statistics).
    Returns:
        ``{"layer1.0": ||dL/dx||, ..., "head": ||dL/dx_L||}`` in forward order (input side first).
    """
    import re

    _check_batch(model, x, y)
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    names = [n for n, _ in model.named_modules() if re.fullmatch(r"layer\d+\.\d+", n)]
    modules = dict(model.named_modules())
    if not names:
        raise ValueError(f"{type(model).__name__} has no blocks named layerK.i (torchvision's layout): "
                         "use a resnet_lib or torchvision ResNet")
    if isinstance(modules.get("avgpool"), nn.Module):
        names.append("avgpool")
    inputs: dict[str, Tensor] = {}

    def capture(name: str) -> Callable[..., None]:
        def hook(_m: nn.Module, args: tuple[Tensor, ...]) -> None:  # returns None: input unchanged
            inputs.setdefault(name, args[0])
        return hook

    with _measurement(model, train):
        hooks = [modules[n].register_forward_pre_hook(capture(n)) for n in names]
        try:
            with torch.enable_grad():
                loss = loss_fn(model(x.detach().requires_grad_(True)), y)
        finally:
            for h in hooks:
                h.remove()
        if loss.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
        grads = torch.autograd.grad(loss, [inputs[n] for n in names])
    return {("head" if n == "avgpool" else n): _l2(g) for n, g in zip(names, grads)}


def _l2(g: Tensor) -> float:
    """L2 norm that survives tiny values: squaring 1e-24 underflows float32, so divide by the max first."""
    g = g.detach().float()
    scale = float(g.abs().max())
    return 0.0 if scale == 0.0 else scale * float((g / scale).norm())


def layer_depths(norms: Mapping[str, float]) -> list[tuple[int, str, float]]:
    """``[(layer index, name, norm), ...]`` with index 1 for the layer next to the input (a table's rows)."""
    return [(i, name, float(v)) for i, (name, v) in enumerate(norms.items(), start=1)]


def activation_stats(model: nn.Module, x: Tensor, train: bool = True,
                     layer_types: tuple[type[nn.Module], ...] = _WEIGHTED) -> dict[str, float]:
    """Standard deviation of the output of every conv/linear layer in one forward pass (signal propagation).

    Args:
        model: the network (modes and buffers restored afterwards).
        x: input batch, shape ``(N, C, H, W)``.
        train: run in train mode (BatchNorm normalises with batch statistics).
        layer_types: the layers whose outputs are measured; ``(nn.BatchNorm2d,)`` gives the responses of the
            paper's Fig. 7 (He et al. 2016, "after BN and before nonlinearity"; in a residual block the second
            one is the branch's output, before the addition).
    Returns:
        ``{"<module>": std of its output}``, from input to output. With the default types these are
        pre-activations: BatchNorm and ReLU come after.
    """
    _check_batch(model, x)
    stats: dict[str, float] = {}

    def record(name: str) -> Callable[..., None]:
        def hook(_m: nn.Module, _i: tuple[Tensor, ...], out: Tensor) -> None:  # returns None: output unchanged
            stats.setdefault(name, float(out.float().std()))
        return hook

    if not layer_types or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in layer_types):
        raise ValueError(f"layer_types must be a non-empty tuple of nn.Module classes, got {layer_types!r}")
    layer_types = tuple(layer_types)
    with _measurement(model, train), _forward_order(model, layer_types) as order:
        hooks = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if isinstance(m, layer_types)]
        try:
            with torch.no_grad():
                model(x)
        finally:
            for h in hooks:
                h.remove()
    return {n: stats[n] for n, _ in order}


def plot_grad_norms(curves: Mapping[str, Mapping[str, float]], ax: Axes | None = None, logy: bool = True,
                    title: str | None = None,
                    ylabel: str = r"gradient norm $\|\partial \mathcal{E}/\partial W_\ell\|_2$",
                    xlabel: str = "layer index (1 = next to the input)") -> Figure:
    """One line per model: layer index (input → output) against the gradient norm of that layer's weight.

    Args:
        curves: ``{"label": grad_norms(...)}``.
        ax: matplotlib axes to draw on; a new figure when ``None``.
        logy: log-scale y axis (vanishing gradients span orders of magnitude).
        title: axes title (put the provenance label here).
        ylabel: y-axis label (e.g. for :func:`activation_stats` curves).
        xlabel: x-axis label (e.g. "block index" for :func:`block_input_grad_norms` curves).
    Returns:
        The matplotlib ``Figure``.
    """
    from matplotlib.figure import Figure  # no pyplot: nothing global, nothing shown twice in a notebook

    from .plots import log_y

    if not curves or any(len(c) == 0 for c in curves.values()):
        raise ValueError("curves must map at least one label to a non-empty {layer: norm} dict")
    if ax is None:
        fig = Figure(figsize=(6.4, 3.6), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    for label, norms in curves.items():
        rows = layer_depths(norms)
        ax.plot([r[0] for r in rows], [r[2] for r in rows], marker=".", markersize=3, label=label)
    if logy:
        log_y(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title, fontsize="small")
    return fig
