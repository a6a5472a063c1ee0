"""Residual blocks, written like torchvision's ``models/resnet.py`` so that its weights load into ours.

Every block computes ``out = F(x) + shortcut(x)`` (He et al., 2016, eq. 1). ``residual=False`` removes the addition
and gives the *plain* counterpart with exactly the same layers (§4.1's plain nets). The shortcut lives in the
attribute ``downsample`` (torchvision's name): ``None`` means the identity, otherwise a module made by
:func:`~resnet_lib.models.shortcuts.make_shortcut`.

Two options of every block change the residual branch F(x) just before the addition, as timm places them:
``se_reduction`` appends squeeze-and-excitation (Hu et al., 2018; attribute ``se``) and ``stochastic_depth_prob``
drops the whole branch for a random subset of the batch while training (Huang et al., 2016; attribute
``drop_path``, torchvision's ``StochasticDepth``, mode ``"row"``). Both attributes are ``None`` when unused, so
the state_dict and the printout stay torchvision's.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
from torch import Tensor
from torchvision.ops import StochasticDepth

from .se import SqueezeExcite

NormLayer = Callable[[int], nn.Module]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3×3 convolution with padding ``dilation`` (keeps H×W at stride 1), no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation, groups=groups,
                     bias=False, dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1×1 convolution, no bias: mixes channels (and subsamples when ``stride`` > 1)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _check_plain(residual: bool, downsample: nn.Module | None) -> None:
    if not residual and downsample is not None:
        raise ValueError("a plain block (residual=False) has no shortcut: pass downsample=None")


class _ResidualBlock(nn.Module):
    """What all four blocks share: the options on F(x) and the join with the shortcut."""

    def _set_branch_options(self, channels: int, downsample: nn.Module | None, stride: int, residual: bool,
                            se_reduction: int, se_bias: bool, stochastic_depth_prob: float) -> None:
        if isinstance(se_reduction, bool) or not isinstance(se_reduction, int) or se_reduction < 0:
            raise ValueError(f"se_reduction must be 0 (no squeeze-and-excitation) or a positive int such as 16, "
                             f"got {se_reduction!r}")
        if isinstance(stochastic_depth_prob, bool) or not isinstance(stochastic_depth_prob, (int, float)) \
                or not 0.0 <= stochastic_depth_prob < 1.0:
            raise ValueError(f"stochastic_depth_prob must be a probability in [0, 1), got {stochastic_depth_prob!r}")
        if stochastic_depth_prob > 0 and not residual:
            raise ValueError("stochastic depth drops the residual branch and keeps the shortcut: a plain block "
                             "(residual=False) has none, use stochastic_depth_prob=0")
        self.se = SqueezeExcite(channels, se_reduction, bias=se_bias) if se_reduction else None
        self.drop_path = StochasticDepth(float(stochastic_depth_prob), "row") if stochastic_depth_prob > 0 else None
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def _add_shortcut(self, out: Tensor, x: Tensor, shortcut_input: Tensor) -> Tensor:
        """F(x) -> SE -> stochastic depth -> + shortcut(``shortcut_input``); the identity shortcut adds ``x``."""
        if self.se is not None:
            out = self.se(out)
        if self.drop_path is not None:
            out = self.drop_path(out)
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(shortcut_input))
        return out


class BasicBlock(_ResidualBlock):
    """Two 3×3 convolutions with a shortcut: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` (Fig. 2).

    Args:
        inplanes: input channels.
        planes: output channels (``expansion`` = 1).
        stride: stride of ``conv1`` (2 halves H and W; the shortcut must then subsample too).
        downsample: shortcut module, ``None`` for the identity (needs ``stride == 1`` and ``inplanes == planes``).
        residual: ``False`` drops the addition: the plain block of §4.1 with identical layers.
        se_reduction, se_bias: squeeze-and-excitation on F(x) (0 = none), see :class:`~.se.SqueezeExcite`.
        stochastic_depth_prob: probability of dropping F(x) for a sample while training (0 = never).

    Shape:
        (N, inplanes, H, W) -> (N, planes, ceil(H / stride), ceil(W / stride))
    """

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1, norm_layer: NormLayer | None = None,
                 residual: bool = True, se_reduction: int = 0, se_bias: bool = True,
                 stochastic_depth_prob: float = 0.0) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64: use Bottleneck for ResNeXt/wide")
        if dilation > 1:
            raise ValueError("BasicBlock does not support dilation > 1: use Bottleneck")
        _check_plain(residual, downsample)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self._set_branch_options(planes, downsample, stride, residual, se_reduction, se_bias,
                                 stochastic_depth_prob)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (N, planes, H/s, W/s)
        out = self.bn2(self.conv2(out))           # F(x)
        return self.relu(self._add_shortcut(out, x, x))  # relu(F(x) + shortcut(x))


class Bottleneck(_ResidualBlock):
    """1×1 reduce → 3×3 → 1×1 expand (×4), with a shortcut (Fig. 5 right); ResNet-50/101/152.

    Args:
        inplanes: input channels.
        planes: width of the 3×3 layer; output channels are ``planes * expansion`` (= 4 ``planes``).
        stride: 2 halves H and W. By default on the 3×3 conv (torchvision's "v1.5"); ``stride_in_1x1=True`` puts it
            on the first 1×1 conv as in the paper (and in Caffe's original ResNet), which costs fewer MACs.
        downsample: shortcut module, ``None`` for the identity.
        groups, base_width: ResNeXt / wide ResNet width: 3×3 width = ``planes * base_width / 64 * groups``.
        residual: ``False`` drops the addition (plain block).
        se_reduction, se_bias, stochastic_depth_prob: as in :class:`BasicBlock`.

    Shape:
        (N, inplanes, H, W) -> (N, 4 planes, ceil(H / stride), ceil(W / stride))
    """

    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1, norm_layer: NormLayer | None = None,
                 residual: bool = True, stride_in_1x1: bool = False, se_reduction: int = 0, se_bias: bool = True,
                 stochastic_depth_prob: float = 0.0) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        _check_plain(residual, downsample)
        width = int(planes * (base_width / 64.0)) * groups
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = conv1x1(inplanes, width, s1)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, s3, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self._set_branch_options(planes * self.expansion, downsample, stride, residual, se_reduction, se_bias,
                                 stochastic_depth_prob)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))    # (N, width, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (N, width, H/s, W/s)
        out = self.bn3(self.conv3(out))             # F(x): (N, 4 planes, H/s, W/s)
        return self.relu(self._add_shortcut(out, x, x))


class PreActBasicBlock(_ResidualBlock):
    """Pre-activation basic block (He et al., 2016b, Fig. 1b): ``x + conv2(relu(bn2(conv1(relu(bn1(x))))))``.

    Nothing follows the addition, so the identity path is clean from block to block. Where the shape changes, the
    shortcut (``downsample``) takes the pre-activated input ``relu(bn1(x))``, as in the authors' released code.
    The net must end with BN + ReLU before pooling (:class:`~resnet_lib.models.cifar.CifarResNet` does).
    ``drop_rate`` puts dropout between the two convolutions, as in Wide ResNets (Zagoruyko & Komodakis, 2016);
    ``se_reduction``, ``se_bias`` and ``stochastic_depth_prob`` are as in :class:`BasicBlock`.

    Shape:
        (N, inplanes, H, W) -> (N, planes, ceil(H / stride), ceil(W / stride))
    """

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 norm_layer: NormLayer | None = None, residual: bool = True, drop_rate: float = 0.0,
                 se_reduction: int = 0, se_bias: bool = True, stochastic_depth_prob: float = 0.0) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        _check_plain(residual, downsample)
        if isinstance(drop_rate, bool) or not isinstance(drop_rate, (int, float)) or not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be a probability in [0, 1) (0.3 in the WRN paper), got {drop_rate!r}")
        self.bn1 = norm_layer(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = norm_layer(planes)
        self.dropout = nn.Dropout(float(drop_rate)) if drop_rate > 0 else None
        self.conv2 = conv3x3(planes, planes)
        self._set_branch_options(planes, downsample, stride, residual, se_reduction, se_bias,
                                 stochastic_depth_prob)

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        out = self.relu(self.bn2(self.conv1(pre)))       # (N, planes, H/s, W/s)
        if self.dropout is not None:
            out = self.dropout(out)
        out = self.conv2(out)                            # F(x)
        return self._add_shortcut(out, x, pre)   # the shortcut projects pre; nothing follows the addition


class PreActBottleneck(_ResidualBlock):
    """Pre-activation bottleneck (He et al., 2016b): BN-ReLU-1×1, BN-ReLU-3×3, BN-ReLU-1×1 (×4), plus shortcut.

    Used by ResNet-164/1001 on CIFAR. Stride on the 3×3 conv; the shortcut sees ``relu(bn1(x))`` where it projects.
    ``se_reduction``, ``se_bias`` and ``stochastic_depth_prob`` are as in :class:`BasicBlock`.

    Shape:
        (N, inplanes, H, W) -> (N, 4 planes, ceil(H / stride), ceil(W / stride))
    """

    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 norm_layer: NormLayer | None = None, residual: bool = True, se_reduction: int = 0,
                 se_bias: bool = True, stochastic_depth_prob: float = 0.0) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        _check_plain(residual, downsample)
        self.bn1 = norm_layer(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv1x1(inplanes, planes)
        self.bn2 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = norm_layer(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self._set_branch_options(planes * self.expansion, downsample, stride, residual, se_reduction, se_bias,
                                 stochastic_depth_prob)

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))       # F(x): (N, 4 planes, H/s, W/s)
        return self._add_shortcut(out, x, pre)   # the shortcut projects pre; nothing follows the addition


def zero_init_last(block: nn.Module) -> None:
    """Make a block start as (almost) the identity: zero the last layer of its residual branch.

    Post-activation blocks: the last BN's weight (torchvision's ``zero_init_residual``, Goyal et al., 2017).
    Pre-activation blocks end with a convolution: its weight.
    """
    last = {BasicBlock: "bn2", Bottleneck: "bn3", PreActBasicBlock: "conv2", PreActBottleneck: "conv3"}
    for cls, attr in last.items():
        if isinstance(block, cls):
            weight = getattr(block, attr).weight
            if weight is not None:
                with torch.no_grad():
                    weight.zero_()
            return
