"""Count a model's parameters and multiply-accumulates (MACs) and show the shape after each top-level layer.

MACs come from ``torch.utils.flop_counter.FlopCounterMode`` (convolutions, matrix products: FLOPs = 2 × MACs;
batch norm, ReLU, pooling and additions are not counted, as in torchvision's and the paper's figures)::

    s = summary(resnet18(), (1, 3, 224, 224))
    s.params, s.macs        # 11689512, 1814073344
    print(s)                # a fixed-width table, one row per top-level child (conv1, bn1, ..., layer4, fc)
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class StageRow:
    """One top-level child of the model, in the order the forward pass called it."""

    name: str                              # attribute name, e.g. "layer2"
    kind: str                              # class name, e.g. "Sequential"
    output_shape: tuple[int, ...] | None   # None: the forward pass never called it
    params: int                            # parameters inside this child
    macs: int                              # multiply-accumulates of this child for the whole input batch


@dataclass
class ModelSummary:
    """What :func:`summary` measured. ``print`` it for a table; notebooks render it as HTML."""

    model: str                        # class name of the model
    input_shape: tuple[int, ...]      # (N, C, H, W) that was fed
    output_shape: tuple[int, ...]     # shape of the model's output
    params: int                       # all parameters (shared ones counted once)
    trainable_params: int             # those with requires_grad
    macs: int                         # multiply-accumulates for the whole batch (FLOPs / 2)
    stages: list[StageRow] = field(default_factory=list)

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = [(r.name, r.kind, "not called" if r.output_shape is None else str(tuple(r.output_shape)),
                 f"{r.params:,}", _human(r.macs)) for r in self.stages]
        return rows + [("total", "", str(tuple(self.output_shape)), f"{self.params:,}", _human(self.macs))]

    def __str__(self) -> str:
        header = ("layer", "type", "output shape", "params", "MACs")
        rows = self._rows()
        w = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
        fmt = lambda r: "  ".join(r[i].ljust(w[i]) if i < 3 else r[i].rjust(w[i]) for i in range(5))  # noqa: E731
        rule = "-" * len(fmt(header))
        lines = [f"{self.model}: input {tuple(self.input_shape)} -> output {tuple(self.output_shape)}",
                 fmt(header), rule, *(fmt(r) for r in rows[:-1]), rule, fmt(rows[-1]),
                 f"trainable params: {self.trainable_params:,}"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = lambda r, tag: "".join(  # noqa: E731
            f"<{tag} style='text-align:{'left' if i < 3 else 'right'}'>{html.escape(c)}</{tag}>"
            for i, c in enumerate(r))
        body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in self._rows()[:-1])
        total = self._rows()[-1]
        return (f"<p><b>{html.escape(self.model)}</b>: input {tuple(self.input_shape)} → output "
                f"{tuple(self.output_shape)}, {self.trainable_params:,} trainable parameters</p>"
                f"<table><thead><tr>{cells(('layer', 'type', 'output shape', 'params', 'MACs'), 'th')}</tr></thead>"
                f"<tbody>{body}<tr style='font-weight:bold'>{cells(total, 'td')}</tr></tbody></table>")


def _human(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3f} {unit}"
    return str(n)


def _input_shape(input_size: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(input_size)
    if len(shape) not in (3, 4) or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(f"input_size must be (C, H, W) or (N, C, H, W) of positive ints, got {input_size!r}")
    return shape if len(shape) == 4 else (1, *shape)


def summary(model: nn.Module, input_size: Sequence[int], device: torch.device | str | None = None) -> ModelSummary:
    """Parameters, MACs and per-layer output shapes of ``model`` for one random batch of ``input_size``.

    Runs once in eval mode under ``torch.no_grad()`` and restores every module's train/eval mode afterwards.
    Works on the ``meta`` device too (shapes and MACs without any arithmetic).

    Args:
        model: any module taking one (N, C, H, W) tensor.
        input_size: ``(C, H, W)`` (batch 1) or ``(N, C, H, W)``.
        device: where to create the input; default: where the model's parameters are.
    Returns:
        :class:`ModelSummary`; ``macs`` counts the whole batch.
    """
    shape = _input_shape(input_size)
    first = next(iter(model.parameters()), None)
    model_device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device) if device is not None else model_device
    if first is not None and device != model_device:
        raise ValueError(f"the model is on {model_device} but device={device}: move it first (model.to(device))")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32

    seen: dict[str, tuple[int, ...] | None] = {}
    order: list[str] = []

    def hook(name: str):
        def record(_module: nn.Module, _inputs: object, output: object) -> None:
            if name not in seen:
                order.append(name)
                seen[name] = tuple(output.shape) if isinstance(output, torch.Tensor) else None
        return record

    children = dict(model.named_children())
    handles = [child.register_forward_hook(hook(name)) for name, child in children.items()]
    modes = {m: m.training for m in model.modules()}
    root = type(model).__name__
    try:
        model.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = model(torch.randn(shape, device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training

    counts = counter.get_flop_counts()
    per_module = {name: sum(counts.get(f"{root}.{name}", {}).values()) // 2 for name in children}
    names = order + [n for n in children if n not in seen]
    stages = [StageRow(n, type(children[n]).__name__, seen.get(n), sum(p.numel() for p in children[n].parameters()),
                       per_module[n]) for n in names]
    params = list(model.parameters())  # deduplicated by nn.Module
    return ModelSummary(
        model=root, input_shape=shape,
        output_shape=tuple(out.shape) if isinstance(out, torch.Tensor) else (),
        params=sum(p.numel() for p in params), trainable_params=sum(p.numel() for p in params if p.requires_grad),
        macs=counter.get_total_flops() // 2, stages=stages)
