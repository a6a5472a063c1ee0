"""CIFAR-layout ResNets (He et al., 2016, §4.2): :class:`CifarResNet` and the builders ``resnet20`` ... ``resnet1202``,
``plain20`` ... ``plain110`` and ``preact_resnet20`` ... ``preact_resnet164``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.fx
import torch.nn as nn
from torch import Tensor

from .blocks import Bottleneck, NormLayer, PreActBasicBlock, PreActBottleneck
from .common import BLOCKS, check_input, init_weights, positive_int, resolve_block, stochastic_depth_probs
from .shortcuts import SHORTCUTS, make_shortcut

torch.fx.wrap("check_input")  # a leaf of symbolic traces: the check stays in the traced module (see common.py)


class CifarResNet(nn.Module):
    """CIFAR-layout ResNet (He et al., 2016, §4.2), also plain (``residual=False``) and pre-activation.

    3×3 conv, 16 channels → three stages of n blocks at 16, 32, 64 channels (× ``expansion``; H×W 32, 16, 8 for a
    32×32 input) → global average pool → fc. Depth 6n+2 for two-conv blocks, 9n+2 for bottlenecks. Pre-activation
    nets have no BN-ReLU after ``conv1`` but a final ``final_bn`` + ReLU before pooling (He et al., 2016b).

    Args:
        depth: number of weighted layers on the main path (20, 32, 44, 56, 110, 1202, ...; 164 for bottlenecks).
        num_classes: output classes (default 10).
        in_channels: 3 for RGB (CIFAR), 1 for grayscale (Fashion-MNIST 28×28 works too).
        block: ``"basic"``, ``"bottleneck"``, ``"preact_basic"``, ``"preact_bottleneck"`` or the block class.
        shortcut: ``"A"`` zero-padded identity (paper's CIFAR default, parameter-free), ``"B"`` projection where
            shapes change, ``"C"`` projection everywhere (Table 3).
        residual: ``False`` removes every shortcut (the plain nets of Fig. 6); same layers, same parameters for A.
        widths: channels of the three stages' 3×3 layers (bottlenecks: their ``planes``; outputs are 4×).
        zero_init_residual: start every residual branch at zero (see :func:`~resnet_lib.models.blocks.zero_init_last`).
        stem_width: output channels of ``conv1`` (default ``widths[0]``; Wide ResNets keep 16, ResNeXt-29 uses 64).
        stem_pool: a 2×2 max-pool after the stem, so the three stages run at H/2, H/4, H/8 (4× fewer positions
            everywhere; the speedrun of chapter 5 spends the saving on width).
        groups, width_per_group: grouped bottlenecks (ResNeXt), as in :class:`~resnet_lib.models.resnet.ResNet`.
        drop_rate: dropout between the two convolutions of pre-activation basic blocks (Wide ResNets).
        se_reduction, se_bias: squeeze-and-excitation in every block (0 = none).
        stochastic_depth_prob: drop probability of the last block, decaying linearly to the first (Huang et al.).

    Shape:
        (N, in_channels, H, W) with H, W >= 4 -> (N, num_classes)
    """

    # let torch.jit.script skip the branches for layers a network lacks (pre-activation: bn1; no stem_pool: maxpool)
    __constants__ = ["preact", "stem_pool"]

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3,
                 block: type[nn.Module] | str = "basic", shortcut: str = "A", residual: bool = True,
                 widths: Sequence[int] = (16, 32, 64), zero_init_residual: bool = False,
                 norm_layer: NormLayer | None = None, *, stem_width: int | None = None, stem_pool: bool = False, groups: int = 1,
                 width_per_group: int = 64, drop_rate: float = 0.0, se_reduction: int = 0, se_bias: bool = True,
                 stochastic_depth_prob: float = 0.0) -> None:
        super().__init__()
        block = resolve_block(block, tuple(BLOCKS.values()))
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {{'A', 'B', 'C'}}, got {shortcut!r}")
        per_block = 2 if block.expansion == 1 else 3
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 3 * per_block + 2 \
                or (depth - 2) % (3 * per_block):
            examples = "20, 32, 44, 56, 110" if per_block == 2 else "29, 56, 110, 164"
            raise ValueError(f"depth must be {3 * per_block}n+2 with n >= 1 for {block.__name__} "
                             f"(e.g. {examples}), got {depth!r}")
        if len(widths) != 3:
            raise ValueError(f"widths must be 3 channel counts, got {widths!r}")
        if (groups != 1 or width_per_group != 64) and block is not Bottleneck:
            raise ValueError(f"groups and width_per_group (ResNeXt) need block='bottleneck', got {block.__name__}")
        if drop_rate and block is not PreActBasicBlock:
            raise ValueError(f"drop_rate (dropout between the convolutions, as in Wide ResNets) needs "
                             f"block='preact_basic', got {block.__name__}")
        self.num_classes = positive_int("num_classes", num_classes)
        self.in_channels = positive_int("in_channels", in_channels)
        self.depth, self.shortcut, self.residual = depth, shortcut, residual
        self.preact = issubclass(block, (PreActBasicBlock, PreActBottleneck))
        if not isinstance(stem_pool, bool):
            raise ValueError(f"stem_pool must be True or False, got {stem_pool!r}")
        self.stem_pool = stem_pool
        self.min_size = 8 if stem_pool else 4
        norm_layer = norm_layer or nn.BatchNorm2d
        n = (depth - 2) // (3 * per_block)
        self.inplanes = positive_int("stem_width", widths[0] if stem_width is None else stem_width)
        options: dict[str, Any] = {"se_reduction": se_reduction, "se_bias": se_bias}
        if block is Bottleneck:
            options.update(groups=groups, base_width=width_per_group)
        if block is PreActBasicBlock:
            options["drop_rate"] = drop_rate
        drop_probs = stochastic_depth_probs(stochastic_depth_prob, 3 * n)

        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
        if not self.preact:
            self.bn1 = norm_layer(self.inplanes)
            self.relu = nn.ReLU(inplace=True)
        if stem_pool:
            self.maxpool = nn.MaxPool2d(kernel_size=2)
        self.layer1 = self._make_layer(block, widths[0], n, 1, norm_layer, drop_probs[:n], options)
        self.layer2 = self._make_layer(block, widths[1], n, 2, norm_layer, drop_probs[n:2 * n], options)
        self.layer3 = self._make_layer(block, widths[2], n, 2, norm_layer, drop_probs[2 * n:], options)
        if self.preact:
            self.final_bn = norm_layer(self.inplanes)
            self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, num_classes)
        init_weights(self, zero_init_residual)

    def _make_layer(self, block: type[nn.Module], planes: int, blocks: int, stride: int, norm_layer: NormLayer,
                    drop_probs: Sequence[float], options: dict[str, Any]) -> nn.Sequential:
        layers = []
        for i in range(blocks):
            s = stride if i == 0 else 1
            downsample = (make_shortcut(self.shortcut, self.inplanes, planes * block.expansion, s, norm_layer,
                                        preact=self.preact) if self.residual else None)
            layers.append(block(self.inplanes, planes, s, downsample, norm_layer=norm_layer, residual=self.residual,
                                stochastic_depth_prob=drop_probs[i], **options))
            self.inplanes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if not torch.jit.is_scripting():
            check_input(x, self.in_channels, self.min_size, type(self).__name__)
        x = self.conv1(x)                        # (N, 16, H, W)
        if not self.preact:
            x = self.relu(self.bn1(x))
        if self.stem_pool:
            x = self.maxpool(x)                  # (N, 16, H/2, W/2): every stage below runs at half the size
        x = self.layer1(x)                       # (N, 16 e, H, W)
        x = self.layer2(x)                       # (N, 32 e, H/2, W/2)
        x = self.layer3(x)                       # (N, 64 e, H/4, W/4)
        if self.preact:
            x = self.relu(self.final_bn(x))
        x = torch.flatten(self.avgpool(x), 1)    # (N, 64 e)
        return self.fc(x)                        # (N, num_classes)


# ---------------------------------------------------------------- CIFAR family (§4.2)

def _cifar(depth: int, **defaults: Any) -> Callable[..., CifarResNet]:
    def build(**kwargs: Any) -> CifarResNet:
        if kwargs.pop("weights", None) is not None:
            raise ValueError("there are no pretrained weights for the CIFAR-layout models: pass weights=None")
        return CifarResNet(depth=depth, **{**defaults, **kwargs})
    return build


def _named(fn: Callable[..., CifarResNet], name: str, doc: str) -> Callable[..., CifarResNet]:
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + " Keyword arguments go to :class:`CifarResNet` (num_classes=10, in_channels=3, shortcut, ...)."
    return fn


def cifar_resnet(**kwargs: Any) -> CifarResNet:
    """Any CIFAR-layout network by name: ``CifarResNet(**kwargs)``, e.g. for the command line,
    ``--model cifar_resnet --model-options depth=8 block=preact_basic "widths=(32, 64, 128)"``."""
    if kwargs.pop("weights", None) is not None:
        raise ValueError("there are no pretrained weights for the CIFAR-layout models: pass weights=None")
    return CifarResNet(**kwargs)


resnet20 = _named(_cifar(20), "resnet20", "ResNet-20 for CIFAR (n=3; 269,722 parameters with option A).")
resnet32 = _named(_cifar(32), "resnet32", "ResNet-32 for CIFAR (n=5; 464,154 parameters).")
resnet44 = _named(_cifar(44), "resnet44", "ResNet-44 for CIFAR (n=7; 658,586 parameters).")
resnet56 = _named(_cifar(56), "resnet56", "ResNet-56 for CIFAR (n=9; 853,018 parameters).")
resnet110 = _named(_cifar(110), "resnet110", "ResNet-110 for CIFAR (n=18; 1,727,962 parameters).")
resnet1202 = _named(_cifar(1202), "resnet1202", "ResNet-1202 for CIFAR (n=200; 19,421,274 parameters).")
plain20 = _named(_cifar(20, residual=False), "plain20", "Plain-20: ResNet-20's layers without shortcuts.")
plain32 = _named(_cifar(32, residual=False), "plain32", "Plain-32: ResNet-32's layers without shortcuts.")
plain44 = _named(_cifar(44, residual=False), "plain44", "Plain-44: ResNet-44's layers without shortcuts.")
plain56 = _named(_cifar(56, residual=False), "plain56", "Plain-56: ResNet-56's layers without shortcuts.")
plain110 = _named(_cifar(110, residual=False), "plain110", "Plain-110: ResNet-110's layers without shortcuts.")
# Pre-activation nets project where shapes change (option B, 1×1 conv), as in the authors' released code.
preact_resnet20 = _named(_cifar(20, block="preact_basic", shortcut="B"), "preact_resnet20",
                         "Pre-activation ResNet-20 (He et al., 2016b).")
preact_resnet56 = _named(_cifar(56, block="preact_basic", shortcut="B"), "preact_resnet56",
                         "Pre-activation ResNet-56.")
preact_resnet110 = _named(_cifar(110, block="preact_basic", shortcut="B"), "preact_resnet110",
                          "Pre-activation ResNet-110 (He et al., 2016b, Table 3).")
preact_resnet164 = _named(_cifar(164, block="preact_bottleneck", shortcut="B"), "preact_resnet164",
                          "Pre-activation ResNet-164, bottleneck blocks, n=18 (He et al., 2016b, Table 3).")
