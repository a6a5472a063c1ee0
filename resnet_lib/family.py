"""The ResNet family as a table: the paper's Table 1 generated from the model zoo.

Each row is built from a real model (block layout, layer count, parameters and multiply-accumulates counted by
:func:`resnet_lib.model_summary.summary`), with the paper's own FLOP figure beside it for comparison::

    rows = family_table()            # ResNet-18 ... ResNet-152 at 224×224, about 5 s on a 2-core CPU
    rows[2]["blocks"]                # [3, 4, 6, 3]
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch.nn as nn

from . import models
from .model_summary import summary

FAMILY = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
STAGES = ("layer1", "layer2", "layer3", "layer4")  # the paper's conv2_x ... conv5_x
# He et al. (2016), Table 1, last row: "FLOPs" at 224×224, which are multiply-adds (MACs), in units of 10^9.
PAPER_GFLOPS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 3.8, "resnet101": 7.6, "resnet152": 11.3}
_SHORTCUT_NAMES = ("downsample", "shortcut")


def _on_main_path(name: str) -> bool:
    return not any(part in _SHORTCUT_NAMES for part in name.split("."))


def weighted_layers(model: nn.Module) -> int:
    """Depth as the paper counts it: convolutions and fully connected layers on the main path (not shortcuts).

    Returns:
        e.g. 50 for ResNet-50 (the 7×7 stem, 16 bottlenecks × 3 convolutions, the fc layer).
    """
    return sum(isinstance(m, (nn.Conv2d, nn.Linear)) and _on_main_path(n) for n, m in model.named_modules())


def block_spec(block: nn.Module) -> str:
    """The residual branch of a block in the paper's notation, e.g. ``"[1×1, 64; 3×3, 64; 1×1, 256]"``."""
    convs = [m for n, m in block.named_modules() if isinstance(m, nn.Conv2d) and _on_main_path(n)]
    if not convs:
        raise ValueError(f"{type(block).__name__} has no convolution on its main path: pass a residual block")
    return "[" + "; ".join(f"{c.kernel_size[0]}×{c.kernel_size[1]}, {c.out_channels}" for c in convs) + "]"


def stage_layout(model: nn.Module) -> list[tuple[str, int]]:
    """Per stage (``layer1`` ... ``layer4``): the first block's spec and the number of blocks.

    Returns:
        ``[("[3×3, 64; 3×3, 64]", 2), ...]`` for ResNet-18.
    """
    missing = [s for s in STAGES if not isinstance(getattr(model, s, None), nn.Sequential)]
    if missing:
        raise ValueError(f"{type(model).__name__} has no stage(s) {', '.join(missing)}: pass an ImageNet-layout ResNet")
    return [(block_spec(getattr(model, s)[0]), len(getattr(model, s))) for s in STAGES]


def family_row(name: str, model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224)) -> dict[str, Any]:
    """One row of the family table for an already built ``model`` called ``name``.

    Returns:
        dict with ``model``, ``blocks`` (per stage), ``stages`` (per-stage spec strings), ``layers``, ``params``,
        ``macs`` (per image of ``input_size``) and ``paper_gflops`` (None if the paper has no figure).
    """
    layout = stage_layout(model)
    s = summary(model, tuple(input_size))
    batch = input_size[0]
    return {
        "model": name,
        "blocks": [n for _, n in layout],
        "stages": [f"{spec} × {n}" for spec, n in layout],
        "layers": weighted_layers(model),
        "params": s.params,
        "macs": s.macs // batch,
        "paper_gflops": PAPER_GFLOPS.get(name),
    }


def family_table(names: Sequence[str] = FAMILY, input_size: Sequence[int] = (1, 3, 224, 224),
                 build: Callable[[str], nn.Module] | None = None, **model_kwargs: Any) -> list[dict[str, Any]]:
    """The paper's Table 1 as rows, one per model, each built once and summarised at ``input_size``.

    Args:
        names: model names known to :func:`resnet_lib.models.registry.get_model` (ImageNet layout).
        input_size: ``(N, C, H, W)`` of the dummy input; MACs are reported per image.
        build: optional ``name -> model`` factory; default: ``get_model(name, num_classes=1000, in_channels=C,
            **model_kwargs)`` with ``C = input_size[1]``.
        model_kwargs: passed to the default factory, e.g. ``stride_in_1x1=True`` for the paper's stride placement.
    Returns:
        A list of :func:`family_row` dicts.
    """
    if len(input_size) != 4:
        raise ValueError(f"input_size={tuple(input_size)!r} must be (N, C, H, W)")
    if build is not None and model_kwargs:
        raise ValueError(f"pass model options {sorted(model_kwargs)} to your own build function, not to family_table")
    if build is None:
        def build(n: str) -> nn.Module:
            return models.get_model(n, **{"num_classes": 1000, "in_channels": input_size[1], **model_kwargs})
    return [family_row(n, build(n), input_size) for n in names]
