"""ResNet-9, the small residual network of the DAWNBench CIFAR-10 speedruns (Page, 2018, "How to train your
ResNet"; Myrtle.ai's entry): chapter 5's speedrun network, scaled down for Fashion-MNIST on a CPU.

Nine weighted layers: a 3×3 stem, three stages that each open with conv → 2×2 max-pool → BN → ReLU (the pool
halves the positions right after the first convolution, so most layers run at 1/4, 1/16 and 1/64 of them), a
residual pair of conv-BN-ReLU units after the first and the last stage, a global *max* pool and a bias-free
classifier whose logits are scaled by ``head_scale`` (Page's 0.125). Unlike the paper's CIFAR nets the unit's
ReLU comes before the addition and none after it, as in Page's network.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.fx
import torch.nn as nn
from torch import Tensor

from .blocks import conv3x3
from .common import check_input, positive_int

torch.fx.wrap("check_input")  # a leaf of symbolic traces (see common.py)


def conv_bn_relu(in_planes: int, out_planes: int, pool: bool = False) -> nn.Sequential:
    """3×3 conv (no bias) → [2×2 max-pool] → BN → ReLU. Shape: (N, C_in, H, W) -> (N, C_out, H', W'),
    H' = ⌈H/2⌉ with the pool, H without."""
    layers: list[nn.Module] = [conv3x3(in_planes, out_planes)]
    if pool:
        layers.append(nn.MaxPool2d(2, ceil_mode=True))   # ceil: 28 -> 14 -> 7 -> 4, no row dropped
    layers += [nn.BatchNorm2d(out_planes), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class ResidualPair(nn.Module):
    """``x + unit2(unit1(x))`` with two conv-BN-ReLU units of ``planes`` channels (Page's residual)."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.unit1 = conv_bn_relu(planes, planes)
        self.unit2 = conv_bn_relu(planes, planes)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.unit2(self.unit1(x))


class ResNet9(nn.Module):
    """Page (2018)'s ResNet-9. Shapes for a 28×28 input: stem (N, w0, 28, 28) → layer1 (N, w1, 14, 14) →
    layer2 (N, w2, 7, 7) → layer3 (N, w3, 4, 4) → max over positions (N, w3) → fc (N, num_classes).

    Args:
        num_classes: output classes.
        in_channels: input channels (1 for Fashion-MNIST).
        widths: channels of the stem and the three stages (Page: 64, 128, 256, 512; the speedrun: 16, 32, 64, 128).
        head_scale: the logits are multiplied by it (Page: 0.125).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, widths: Sequence[int] = (64, 128, 256, 512),
                 head_scale: float = 0.125) -> None:
        super().__init__()
        if len(widths) != 4 or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
            raise ValueError(f"widths must be 4 positive channel counts (stem and three stages), got {widths!r}")
        if isinstance(head_scale, bool) or not isinstance(head_scale, (int, float)) or not head_scale > 0:
            raise ValueError(f"head_scale must be a positive number, got {head_scale!r}")
        self.num_classes = positive_int("num_classes", num_classes)
        self.in_channels = positive_int("in_channels", in_channels)
        self.head_scale = float(head_scale)
        self.min_size = 8
        w0, w1, w2, w3 = widths
        self.conv1 = conv3x3(self.in_channels, w0)
        self.bn1 = nn.BatchNorm2d(w0)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(conv_bn_relu(w0, w1, pool=True), ResidualPair(w1))
        self.layer2 = nn.Sequential(conv_bn_relu(w1, w2, pool=True))
        self.layer3 = nn.Sequential(conv_bn_relu(w2, w3, pool=True), ResidualPair(w3))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(w3, self.num_classes, bias=False)
        # PyTorch's default initialisation throughout, as in Page's network (and in the runs the speedrun measured).

    def forward(self, x: Tensor) -> Tensor:
        if not torch.jit.is_scripting():
            check_input(x, self.in_channels, self.min_size, type(self).__name__)
        x = self.relu(self.bn1(self.conv1(x)))   # (N, w0, H, W)
        x = self.layer1(x)                       # (N, w1, H/2, W/2)
        x = self.layer2(x)                       # (N, w2, H/4, W/4)
        x = self.layer3(x)                       # (N, w3, H/8, W/8), rounded up
        x = torch.flatten(self.pool(x), 1)       # (N, w3)
        return self.fc(x) * self.head_scale


def resnet9(num_classes: int = 10, in_channels: int = 3, widths: Sequence[int] = (64, 128, 256, 512),
            head_scale: float = 0.125) -> ResNet9:
    """Page (2018)'s ResNet-9 (6.5 M parameters at its CIFAR widths); chapter 5's speedrun uses widths 16-32-64-128."""
    return ResNet9(num_classes=num_classes, in_channels=in_channels, widths=widths, head_scale=head_scale)
