"""Loss-landscape slices along random, filter-normalised directions (Li et al., 2018).

The loss is evaluated at ``w + alpha * d`` (1-D) or ``w + alpha * d1 + beta * d2`` (2-D) for the trained or
initial weights ``w`` and random directions ``d`` whose every filter has the norm of the matching filter of ``w``
("filter normalisation", Li et al. 2018 §4), so that slices of differently scaled networks are comparable.
The model runs in eval mode (BatchNorm uses its running statistics) on a fixed list of batches, and its weights are
restored bit for bit afterwards.

    d = random_direction(model, seed=0)
    alphas, losses = loss_landscape_1d(model, batches, direction=d)
    fig = plot_landscape_1d({"ResNet-56": (alphas, losses)})
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import limits as limits_

Direction = dict[str, Tensor]
NORMS = ("filter", "layer", "none")


def random_direction(model: nn.Module, seed: int = 0, norm: str = "filter") -> Direction:
    """A Gaussian random direction in weight space, one tensor per parameter.

    Args:
        model: the network; only its parameters' shapes, devices and values are read.
        seed: seed of the (CPU) generator, so the same seed gives the same direction on every device.
        norm: ``"filter"`` — each filter ``d[i]`` (slice along the output dimension of a conv/linear weight) is
            rescaled to ``||w[i]||``; ``"layer"`` — each tensor is rescaled to ``||w||``; ``"none"`` — raw Gaussian.
            With ``"filter"`` and ``"layer"``, 1-D parameters (BatchNorm weights, biases) get a zero direction,
            the practice of Li et al. (2018) ("ignore biasbn").
    Returns:
        ``{parameter name: direction tensor}`` with the parameters' shapes, dtypes and devices.
    """
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r} is not supported: use one of {', '.join(map(repr, NORMS))}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    gen = torch.Generator().manual_seed(seed)
    direction: Direction = {}
    for name, p in model.named_parameters():
        w = p.detach()
        d = torch.randn(w.shape, generator=gen, dtype=torch.float32)  # drawn for every tensor: stable stream
        w32 = w.float().cpu()
        if norm != "none" and w.dim() <= 1:
            d.zero_()
        elif norm == "filter":
            # one norm per output filter (dim 0); the small epsilon only guards an all-zero random filter
            dims = tuple(range(1, w.dim()))
            d.mul_(torch.linalg.vector_norm(w32, dim=dims, keepdim=True)
                  / (torch.linalg.vector_norm(d, dim=dims, keepdim=True) + 1e-10))
        elif norm == "layer":
            d.mul_(w32.norm() / (d.norm() + 1e-10))
        direction[name] = d.to(device=w.device, dtype=w.dtype)
    return direction


def _check_direction(model: nn.Module, direction: Mapping[str, Tensor], what: str) -> None:
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(direction))
    extra = sorted(set(direction) - set(params))
    if missing or extra:
        raise ValueError(f"{what} does not match the model's parameters (missing: {missing[:3]}, unknown: "
                         f"{extra[:3]}): build it with random_direction(model)")
    for name, p in params.items():
        if tuple(direction[name].shape) != tuple(p.shape):
            raise ValueError(f"{what}[{name!r}] has shape {tuple(direction[name].shape)}, the parameter has "
                             f"{tuple(p.shape)}: build it with random_direction(model)")


def _as_grid(values: Any, what: str) -> Tensor:
    t = torch.as_tensor(values, dtype=torch.float64).flatten()
    if t.numel() == 0 or not torch.isfinite(t).all():
        raise ValueError(f"{what} must be a non-empty sequence of finite numbers, got {values!r}")
    return t


def _batches(data_batches: Iterable[Any]) -> list[tuple[Tensor, Tensor]]:
    batches = []
    for b in data_batches:
        if not (isinstance(b, (tuple, list)) and len(b) >= 2 and torch.is_tensor(b[0]) and torch.is_tensor(b[1])):
            raise ValueError("data_batches must yield (inputs, targets) tensor pairs, e.g. a list of (x, y)")
        batches.append((b[0], b[1]))
    if not batches:
        raise ValueError("data_batches is empty: pass at least one (inputs, targets) batch")
    return batches


@torch.no_grad()
def _mean_loss(model: nn.Module, batches: list[tuple[Tensor, Tensor]], loss_fn: Callable[..., Tensor],
               device: torch.device) -> float:
    total, count = 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        total += float(loss_fn(model(x), y, reduction="sum"))
        count += x.shape[0]
    return total / count


def _slice(model: nn.Module, data_batches: Iterable[Any], directions: list[Direction], grid: list[Tensor],
           device: torch.device | str | None, loss_fn: Callable[..., Tensor] | None) -> Tensor:
    """Loss on the full grid ``w + sum_k grid_k[i_k] * directions[k]``; weights and mode restored exactly."""
    batches = _batches(data_batches)[: limits_.current().eval_batches]  # capped only in smoke tests
    loss_fn = loss_fn or F.cross_entropy
    params = dict(model.named_parameters())
    dev = torch.device(device) if device is not None else next(iter(params.values())).device
    was_training = model.training
    original = {n: p.detach().clone() for n, p in params.items()}
    losses = torch.empty([len(g) for g in grid], dtype=torch.float64)
    try:
        model.eval()
        for idx in torch.cartesian_prod(*[torch.arange(len(g)) for g in grid]).reshape(-1, len(grid)).tolist():
            with torch.no_grad():
                for n, p in params.items():
                    w = original[n].clone()
                    for k, d in enumerate(directions):
                        w.add_(d[n], alpha=float(grid[k][idx[k]]))
                    p.copy_(w)
            losses[tuple(idx)] = _mean_loss(model, batches, loss_fn, dev)
    finally:
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(original[n])
        model.train(was_training)
    return losses


def loss_landscape_1d(model: nn.Module, data_batches: Iterable[Any], direction: Direction | None = None,
                      alphas: Any = None, device: torch.device | str | None = None,
                      loss_fn: Callable[..., Tensor] | None = None, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Mean loss along ``w + alpha * d`` for each ``alpha``.

    Args:
        model: the network (its parameters must live on ``device``); left with its weights and mode unchanged.
        data_batches: an iterable of ``(x, y)`` batches, read once and reused for every point.
        direction: from :func:`random_direction`; default ``random_direction(model, seed)``.
        alphas: step sizes; default ``torch.linspace(-1, 1, 21)``.
        device: where the batches are moved; default the device of the model's parameters.
        loss_fn: ``loss_fn(logits, y, reduction="sum")``; default cross-entropy.
        seed: seed of the default direction.
    Returns:
        ``(alphas, losses)``, float64 tensors of shape ``[K]``.
    """
    alphas = _as_grid(torch.linspace(-1, 1, 21) if alphas is None else alphas, "alphas")
    direction = random_direction(model, seed) if direction is None else direction
    _check_direction(model, direction, "direction")
    return alphas, _slice(model, data_batches, [direction], [alphas], device, loss_fn)


def loss_landscape_2d(model: nn.Module, data_batches: Iterable[Any],
                      directions: tuple[Direction, Direction] | None = None, alphas: Any = None,
                      betas: Any = None, device: torch.device | str | None = None,
                      loss_fn: Callable[..., Tensor] | None = None, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Mean loss on the plane ``w + alpha * d1 + beta * d2``.

    Args:
        model, data_batches, device, loss_fn: as in :func:`loss_landscape_1d`.
        directions: two directions; default ``random_direction(model, seed)`` and ``(..., seed + 1)``.
        alphas, betas: grid along ``d1`` and ``d2``; default ``torch.linspace(-1, 1, 21)`` each.
        seed: seed of the default directions.
    Returns:
        ``(alphas, betas, losses)`` with ``losses[i, j]`` the loss at ``(alphas[i], betas[j])``, shape ``[K, M]``.
    """
    alphas = _as_grid(torch.linspace(-1, 1, 21) if alphas is None else alphas, "alphas")
    betas = _as_grid(torch.linspace(-1, 1, 21) if betas is None else betas, "betas")
    if directions is None:
        directions = (random_direction(model, seed), random_direction(model, seed + 1))
    if len(directions) != 2:
        raise ValueError(f"directions must be a pair (d1, d2), got {len(directions)} directions")
    for k, d in enumerate(directions):
        _check_direction(model, d, f"directions[{k}]")
    return alphas, betas, _slice(model, data_batches, list(directions), [alphas, betas], device, loss_fn)


def _new_axes(figsize: tuple[float, float]) -> Any:
    from matplotlib.figure import Figure  # no pyplot: nothing global, nothing shown twice in a notebook

    return Figure(figsize=figsize, layout="constrained").add_subplot()


def plot_landscape_1d(curves: Mapping[str, tuple[Any, Any]], ax: Any = None, title: str | None = None,
                      logy: bool = False) -> Any:
    """One line per model: loss against the step ``alpha`` along its filter-normalised direction.

    Args:
        curves: ``{label: (alphas, losses)}`` as returned by :func:`loss_landscape_1d`.
        ax: an existing matplotlib Axes, or ``None`` for a new figure.
        title: axes title (e.g. the provenance label).
        logy: logarithmic loss axis.
    Returns:
        The matplotlib ``Figure``.
    """
    from .plots import log_y  # matplotlib is imported only when something is plotted

    if not curves:
        raise ValueError("curves is empty: pass {label: (alphas, losses)}")
    ax = _new_axes((6.0, 4.0)) if ax is None else ax
    for label, (alphas, losses) in curves.items():
        ax.plot(torch.as_tensor(alphas).tolist(), torch.as_tensor(losses).tolist(), marker=".", label=label)
    ax.set_xlabel(r"step $\alpha$ along a filter-normalised random direction")
    ax.set_ylabel("loss (cross-entropy, eval mode)")
    if logy:
        log_y(ax)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax.figure


def plot_landscape_2d(alphas: Any, betas: Any, losses: Any, ax: Any = None, title: str | None = None,
                      levels: int = 20) -> Any:
    """Contour plot of a 2-D slice from :func:`loss_landscape_2d`.

    Args:
        alphas, betas: grid values, shapes ``[K]`` and ``[M]``.
        losses: shape ``[K, M]``, ``losses[i, j]`` at ``(alphas[i], betas[j])``.
        ax: an existing matplotlib Axes, or ``None`` for a new figure.
        title: axes title.
        levels: number of contour levels.
    Returns:
        The matplotlib ``Figure``.
    """
    a, b, z = (torch.as_tensor(v, dtype=torch.float64) for v in (alphas, betas, losses))
    if z.shape != (a.numel(), b.numel()):
        raise ValueError(f"losses has shape {tuple(z.shape)}, expected ({a.numel()}, {b.numel()}) = (len(alphas), len(betas))")
    ax = _new_axes((5.0, 4.5)) if ax is None else ax
    cs = ax.contour(a.numpy(), b.numpy(), z.T.numpy(), levels=levels)  # contour wants z[y, x]
    ax.clabel(cs, inline=True, fontsize=7)
    ax.plot([0], [0], "k+", markersize=10)
    ax.set_xlabel(r"$\alpha$ (direction 1)")
    ax.set_ylabel(r"$\beta$ (direction 2)")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax.figure
