"""Shortcut connections: the paper's options A, B and C (He et al., 2016, §3.3 and Table 3).

A block's shortcut lives in its ``downsample`` attribute (torchvision's name); ``None`` is the identity.
"""
from __future__ import annotations

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .blocks import NormLayer, conv1x1

SHORTCUTS = ("A", "B", "C")


def zero_pad_subsample(x: Tensor, stride: int, extra: int) -> Tensor:
    """``x[:, :, ::stride, ::stride]`` followed by ``extra`` zero channels, in the input's memory layout.

    Shape:
        (N, C, H, W) -> (N, C + extra, ceil(H / stride), ceil(W / stride))
    """
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        # The same ops on the NHWC view. The backward of slicing and padding allocates a contiguous gradient; here
        # that is channels-last again, where on the NCHW view it would be NCHW, and every layer below would then
        # mix layouts (measured: BatchNorm and ReLU backward ~3x slower on a 2-core CPU).
        y = x.permute(0, 2, 3, 1)[:, ::stride, ::stride]  # (N, H', W', C)
        return F.pad(y, [0, extra]).permute(0, 3, 1, 2)
    if stride > 1:
        x = x[:, :, ::stride, ::stride]
    return F.pad(x, [0, 0, 0, 0, 0, extra])  # zeros after the old channels


# torch.fx records the call as one node instead of tracing into the layout test (a Python `if` on a tensor
# property, which symbolic tracing cannot follow); the traced module still takes the same branch at run time.
torch.fx.wrap("zero_pad_subsample")


class ShortcutA(nn.Module):
    """Option A shortcut (§4.2): parameter-free identity that subsamples and zero-pads the new channels.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (``>= in_channels``); the extra ones are zeros.
        stride: spatial subsampling, ``x[:, :, ::stride, ::stride]``.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride))
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"ShortcutA pads channels, it cannot drop them: got {in_channels} -> {out_channels}; "
                             "use a projection (shortcut='B') to reduce channels")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: Tensor) -> Tensor:
        return zero_pad_subsample(x, self.stride, self.out_channels - self.in_channels)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


def make_shortcut(kind: str, in_channels: int, out_channels: int, stride: int = 1,
                  norm_layer: NormLayer | None = None, preact: bool = False,
                  avg_down: bool = False) -> nn.Module | None:
    """The shortcut of one block, ``None`` meaning the identity.

    Args:
        kind: ``"A"`` zero-padded identity where shapes change; ``"B"`` 1×1 projection (+ BN) where shapes change;
            ``"C"`` projection on every block (the paper's Table 3).
        preact: pre-activation blocks project the already normalised input, so their projection has no BN.
        avg_down: ResNet-D (He et al., 2019): a projection that subsamples averages 2×2 windows first and then
            applies a stride-1 1×1 conv, instead of a stride-2 1×1 conv that reads one pixel in four.
    Returns:
        ``None`` (identity), a :class:`ShortcutA`, ``nn.Sequential(conv1x1, norm)`` (torchvision's layout) or, with
        ``avg_down``, ``nn.Sequential(pool, conv1x1, norm)`` (timm's layout; ``pool`` is ``nn.Identity`` at stride 1).
    """
    if kind not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {{'A', 'B', 'C'}}, got {kind!r}")
    if avg_down and kind == "A":
        raise ValueError("avg_down applies to projection shortcuts: use shortcut='B' or 'C'")
    same_shape = stride == 1 and in_channels == out_channels
    if kind == "A":
        return None if same_shape else ShortcutA(in_channels, out_channels, stride)
    if kind == "B" and same_shape:
        return None
    layers: list[nn.Module] = []
    if avg_down:
        layers.append(nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride > 1
                      else nn.Identity())
        stride = 1
    layers.append(conv1x1(in_channels, out_channels, stride))
    if not preact:
        layers.append((norm_layer or nn.BatchNorm2d)(out_channels))
    return nn.Sequential(*layers)
