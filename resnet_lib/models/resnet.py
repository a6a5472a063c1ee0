"""ImageNet-layout :class:`ResNet` (torchvision-compatible) and its builders ``resnet18`` ... ``wide_resnet50_2``.

The ImageNet builders (``resnet18`` ... ``wide_resnet50_2``) have torchvision's exact parameters and state_dict
keys, and ``weights="DEFAULT"`` loads torchvision's pretrained weights. MACs at 224×224 (counted by
:func:`resnet_lib.model_summary.summary`, conv + fc multiply-accumulates): ResNet-18 1.814 G, ResNet-50 4.089 G,
ResNet-152 11.514 G as torchvision lists them; with ``stride_in_1x1=True`` (the paper's stride placement)
ResNet-50 3.86 G, ResNet-101 7.57 G, ResNet-152 11.28 G. The paper's Table 1 "FLOPs" are these multiply-adds of
conv and fc layers printed with one decimal, with two quirks: ResNet-50's 3.858 G is printed 3.8 (truncated; the
other rows round: 7.6, 11.3), and the 34-layer 3.6 G is the plain/option-A net (3.64 G); ResNet-34 with projection
shortcuts (torchvision's) has 3.66 G.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.error import URLError

import torch
import torch.fx
import torch.nn as nn
from torch import Tensor

from .blocks import BasicBlock, Bottleneck, NormLayer, conv3x3
from .common import check_input, init_weights, positive_int, resolve_block, stochastic_depth_probs
from .shortcuts import SHORTCUTS, make_shortcut

torch.fx.wrap("check_input")  # a leaf of symbolic traces: the check stays in the traced module (see common.py)


class ResNet(nn.Module):
    """ImageNet-layout ResNet (He et al., 2016, Table 1), torchvision's structure and attribute names.

    Stem ``conv1`` 7×7/2 + ``maxpool`` 3×3/2, then ``layer1``..``layer4`` (64, 128, 256, 512 × ``expansion``
    channels; H and W halve at ``layer2``..``layer4``), global ``avgpool``, ``fc``. Total downsampling 32×.

    Args:
        block: ``BasicBlock`` / ``Bottleneck`` (or ``"basic"`` / ``"bottleneck"``).
        layers: blocks per stage, e.g. ``[3, 4, 6, 3]`` for ResNet-50.
        num_classes, zero_init_residual, groups, width_per_group, replace_stride_with_dilation, norm_layer:
            as in torchvision.
        in_channels: 3 for RGB, 1 for grayscale.
        residual: ``False`` gives the plain net (no shortcuts, no projections).
        shortcut: ``"B"`` (torchvision, projection where shapes change), ``"A"`` (zero-padded identity) or ``"C"``.
        stride_in_1x1: stride on the bottleneck's first 1×1 conv (the paper) instead of its 3×3 (torchvision).
        deep_stem: three 3×3 convs (32, 32, 64 channels) instead of the 7×7 one: ResNet-C (He et al., 2019).
        avg_down: average-pool before the projection shortcut's 1×1 conv: ResNet-D (He et al., 2019).
        se_reduction: squeeze-and-excitation in every block with this reduction (Hu et al., 2018; 0 = none).
        stochastic_depth_prob: drop probability of the last block, decaying linearly to the first (0 = none).

    Shape:
        (N, in_channels, H, W) with H, W >= 32 -> (N, num_classes)
    """

    def __init__(self, block: type[nn.Module] | str, layers: Sequence[int], num_classes: int = 1000,
                 zero_init_residual: bool = False, groups: int = 1, width_per_group: int = 64,
                 replace_stride_with_dilation: Sequence[bool] | None = None, norm_layer: NormLayer | None = None,
                 *, in_channels: int = 3, residual: bool = True, shortcut: str = "B",
                 stride_in_1x1: bool = False, deep_stem: bool = False, avg_down: bool = False,
                 se_reduction: int = 0, stochastic_depth_prob: float = 0.0) -> None:
        super().__init__()
        block = resolve_block(block, (BasicBlock, Bottleneck))
        if len(layers) != 4 or not all(isinstance(n, int) and n >= 1 for n in layers):
            raise ValueError(f"layers must be 4 positive ints (blocks per stage), got {layers!r}")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {{'A', 'B', 'C'}}, got {shortcut!r}")
        if stride_in_1x1 and not issubclass(block, Bottleneck):
            raise ValueError("stride_in_1x1=True needs the Bottleneck block (BasicBlock has no 1x1 conv)")
        replace_stride_with_dilation = list(replace_stride_with_dilation or [False, False, False])
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(f"replace_stride_with_dilation must be None or 3 bools, "
                             f"got {replace_stride_with_dilation!r}")
        self.num_classes = positive_int("num_classes", num_classes)
        self.in_channels = positive_int("in_channels", in_channels)
        self._norm_layer = norm_layer or nn.BatchNorm2d
        if avg_down and shortcut == "A":
            raise ValueError("avg_down=True needs projection shortcuts: use shortcut='B' or 'C'")
        self.residual, self.shortcut, self.stride_in_1x1 = residual, shortcut, stride_in_1x1
        self.avg_down, self.se_reduction = avg_down, se_reduction
        self._drop_probs = stochastic_depth_probs(stochastic_depth_prob, sum(layers))
        self.min_size = 4 * 2 ** replace_stride_with_dilation.count(False)  # stem 4x, then 2x per strided stage
        self.inplanes = 64
        self.dilation = 1
        self.groups = groups
        self.base_width = width_per_group

        if deep_stem:  # timm's layout (conv1.0 ... conv1.6), so its resnet*d state_dicts load
            self.conv1 = nn.Sequential(conv3x3(in_channels, 32, stride=2), self._norm_layer(32), nn.ReLU(inplace=True),
                                       conv3x3(32, 32), self._norm_layer(32), nn.ReLU(inplace=True),
                                       conv3x3(32, self.inplanes))
        else:
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = self._norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, dilate=replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        del self._drop_probs  # all handed out, one per block
        init_weights(self, zero_init_residual)

    def _make_layer(self, block: type[nn.Module], planes: int, blocks: int, stride: int = 1,
                    dilate: bool = False) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        extra = {"stride_in_1x1": self.stride_in_1x1} if issubclass(block, Bottleneck) else {}
        layers = []
        for i in range(blocks):
            s = stride if i == 0 else 1
            downsample = (make_shortcut(self.shortcut, self.inplanes, planes * block.expansion, s, self._norm_layer,
                                        avg_down=self.avg_down) if self.residual else None)
            drop = self._drop_probs.pop(0)
            layers.append(block(self.inplanes, planes, s, downsample, self.groups, self.base_width,
                                previous_dilation if i == 0 else self.dilation, self._norm_layer,
                                residual=self.residual, se_reduction=self.se_reduction,
                                stochastic_depth_prob=drop, **extra))
            self.inplanes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if not torch.jit.is_scripting():
            check_input(x, self.in_channels, self.min_size, type(self).__name__)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        x = self.layer1(x)                                     # (N, 64 e, H/4, W/4), e = expansion
        x = self.layer2(x)                                     # (N, 128 e, H/8, W/8)
        x = self.layer3(x)                                     # (N, 256 e, H/16, W/16)
        x = self.layer4(x)                                     # (N, 512 e, H/32, W/32)
        x = torch.flatten(self.avgpool(x), 1)                  # (N, 512 e)
        return self.fc(x)                                      # (N, num_classes)


# ---------------------------------------------------------------- pretrained weights (torchvision)

def _load_pretrained(model: ResNet, name: str, weights: Any, progress: bool) -> None:
    from torchvision.models import get_model_weights

    enum = get_model_weights(name)
    try:
        w = enum.verify(weights)
    except (KeyError, TypeError):
        raise ValueError(f"unknown weights {weights!r} for {name}: use one of "
                         f"{list(enum.__members__)} (or None for random init)") from None
    try:
        state = w.get_state_dict(progress=progress, check_hash=True)
    except (URLError, ConnectionError, TimeoutError) as err:
        reason = str(getattr(err, "reason", err)).splitlines()[0] if str(err) else type(err).__name__
        raise RuntimeError(f"could not download the {name} weights {w} from {w.url}: this needs internet access "
                           f"(or the file in {torch.hub.get_dir()}/checkpoints) [{reason}]") from err
    model.load_state_dict(state, strict=True)


def _imagenet(name: str, block: type[nn.Module], layers: list[int], weights: Any, progress: bool,
              **kwargs: Any) -> ResNet:
    if weights is not None:
        wrong = {k: kwargs[k] for k, ok in (("num_classes", 1000), ("in_channels", 3), ("stride_in_1x1", False),
                                            ("residual", True), ("shortcut", "B"))
                 if k in kwargs and kwargs[k] != ok}
        if wrong:
            raise ValueError(f"pretrained weights need the torchvision architecture (num_classes=1000, in_channels=3, "
                             f"defaults otherwise), got {wrong}: load them, then replace the head, e.g. "
                             f"model.fc = nn.Linear(model.fc.in_features, 10)")
    model = ResNet(block, layers, **kwargs)
    if weights is not None:
        _load_pretrained(model, name, weights, progress)
    return model


def resnet18(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-18 (11,689,512 parameters); ``weights="DEFAULT"`` loads torchvision's ImageNet weights."""
    return _imagenet("resnet18", BasicBlock, [2, 2, 2, 2], weights, progress, **kwargs)


def resnet34(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-34 (21,797,672 parameters)."""
    return _imagenet("resnet34", BasicBlock, [3, 4, 6, 3], weights, progress, **kwargs)


def resnet50(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-50 (25,557,032 parameters)."""
    return _imagenet("resnet50", Bottleneck, [3, 4, 6, 3], weights, progress, **kwargs)


def resnet101(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-101 (44,549,160 parameters)."""
    return _imagenet("resnet101", Bottleneck, [3, 4, 23, 3], weights, progress, **kwargs)


def resnet152(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-152 (60,192,808 parameters)."""
    return _imagenet("resnet152", Bottleneck, [3, 8, 36, 3], weights, progress, **kwargs)


def resnext50_32x4d(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-50 32×4d (Xie et al., 2017; 25,028,904 parameters)."""
    return _imagenet("resnext50_32x4d", Bottleneck, [3, 4, 6, 3], weights, progress, groups=32,
                     width_per_group=4, **kwargs)


def wide_resnet50_2(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-50-2 (Zagoruyko & Komodakis, 2016; 68,883,240 parameters)."""
    return _imagenet("wide_resnet50_2", Bottleneck, [3, 4, 6, 3], weights, progress, width_per_group=128, **kwargs)


# ---------------------------------------------------------------- "Bag of tricks" and SE variants, timm's layouts

def _load_timm(model: ResNet, name: str) -> None:
    try:
        import timm
    except ImportError:
        raise ValueError(f"weights='timm' loads timm's pretrained {name}: install timm (pip install timm), "
                         f"or pass weights=None") from None
    try:
        state = timm.create_model(name, pretrained=True).state_dict()
    except (URLError, ConnectionError, TimeoutError, OSError) as err:
        raise RuntimeError(f"could not download timm's {name} weights: this needs internet access (Hugging Face "
                           f"Hub) [{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}]") from err
    model.load_state_dict(state, strict=True)


def _timm_variant(name: str, block: type[nn.Module], layers: list[int], weights: Any, **kwargs: Any) -> ResNet:
    if weights not in (None, "timm"):
        raise ValueError(f"weights must be None or 'timm' (timm's pretrained {name}), got {weights!r}")
    if weights == "timm" and (kwargs.get("num_classes", 1000) != 1000 or kwargs.get("in_channels", 3) != 3):
        raise ValueError(f"timm's {name} weights need num_classes=1000 and in_channels=3: load them, then replace "
                         f"the head, e.g. model.fc = nn.Linear(model.fc.in_features, 10)")
    model = ResNet(block, layers, **kwargs)
    if weights == "timm":
        _load_timm(model, name)
    return model


def resnet26d(*, weights: Any = None, **kwargs: Any) -> ResNet:
    """ResNet-26-D (He et al., 2019): deep stem, average-pool shortcut, bottlenecks [2, 2, 2, 2]; 16,014,408
    parameters; timm's layout (``weights="timm"`` loads timm's ImageNet weights)."""
    return _timm_variant("resnet26d", Bottleneck, [2, 2, 2, 2], weights, deep_stem=True, avg_down=True, **kwargs)


def resnet50d(*, weights: Any = None, **kwargs: Any) -> ResNet:
    """ResNet-50-D (He et al., 2019): ResNet-50 with the deep stem and the average-pool shortcut; 25,576,264
    parameters; ``weights="timm"`` loads timm's ImageNet weights."""
    return _timm_variant("resnet50d", Bottleneck, [3, 4, 6, 3], weights, deep_stem=True, avg_down=True, **kwargs)


def seresnet50(*, weights: Any = None, **kwargs: Any) -> ResNet:
    """SE-ResNet-50 (Hu et al., 2018): squeeze-and-excitation (reduction 16) in every bottleneck; 28,088,024
    parameters; ``weights="timm"`` loads timm's ImageNet weights."""
    return _timm_variant("seresnet50", Bottleneck, [3, 4, 6, 3], weights, se_reduction=16, **kwargs)


def plain18(**kwargs: Any) -> ResNet:
    """Plain-18 (Fig. 3 middle without shortcuts): ResNet-18's layers, no shortcuts."""
    return ResNet(BasicBlock, [2, 2, 2, 2], residual=False, **kwargs)


def plain34(**kwargs: Any) -> ResNet:
    """Plain-34: ResNet-34's layers, no shortcuts."""
    return ResNet(BasicBlock, [3, 4, 6, 3], residual=False, **kwargs)


