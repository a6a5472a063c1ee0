"""Squeeze-and-excitation (Hu et al., 2018): reweight each channel by a gate computed from the whole feature map.

Written out because the CIFAR SE-ResNets use excitation layers without biases, which torchvision's
``torchvision.ops.SqueezeExcitation`` cannot build; with ``bias=True`` this module computes exactly what that one
does (``tests/test_variants.py``), and its attribute names (``fc1``, ``fc2``) are timm's, so timm's SE-ResNet
state_dicts load.
"""
from __future__ import annotations

import torch.nn as nn
from torch import Tensor


class SqueezeExcite(nn.Module):
    """``x * sigmoid(fc2(relu(fc1(mean_hw(x)))))`` with 1×1 convolutions as the two fully connected layers.

    Args:
        channels: channels of the input (and of the output).
        reduction: the squeeze keeps ``channels // reduction`` channels (at least 1); the paper's default is 16.
        bias: biases on the two excitation layers (timm, torchvision: yes; the CIFAR SE-ResNets here: no).

    Shape:
        (N, channels, H, W) -> (N, channels, H, W)
    """

    def __init__(self, channels: int, reduction: int = 16, bias: bool = True) -> None:
        super().__init__()
        if isinstance(reduction, bool) or not isinstance(reduction, int) or reduction < 1:
            raise ValueError(f"reduction must be a positive int (16 in the paper), got {reduction!r}")
        squeezed = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, squeezed, kernel_size=1, bias=bias)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeezed, channels, kernel_size=1, bias=bias)
        self.gate = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = x.mean((2, 3), keepdim=True)                  # squeeze: (N, C, 1, 1)
        scale = self.gate(self.fc2(self.act(self.fc1(scale))))  # excitation: one weight in (0, 1) per channel
        return x * scale
