"""The model zoo: ImageNet-layout :class:`ResNet` (torchvision-compatible) and CIFAR-layout :class:`CifarResNet`.

``get_model("resnet56", num_classes=10, in_channels=1)`` builds any network by name; ``list_models()`` lists them.
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

import difflib
from collections.abc import Callable, Sequence
from typing import Any
from urllib.error import URLError

import torch
import torch.nn as nn
from torch import Tensor

from .blocks import (SHORTCUTS, BasicBlock, Bottleneck, NormLayer, PreActBasicBlock, PreActBottleneck,
                     make_shortcut, zero_init_last)

_BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock, "bottleneck": Bottleneck,
                                       "preact_basic": PreActBasicBlock, "preact_bottleneck": PreActBottleneck}


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _resolve_block(block: type[nn.Module] | str, allowed: Sequence[type[nn.Module]]) -> type[nn.Module]:
    cls = _BLOCKS.get(block) if isinstance(block, str) else block
    if not (isinstance(cls, type) and issubclass(cls, tuple(allowed))):
        names = [k for k, v in _BLOCKS.items() if v in allowed]
        raise ValueError(f"block must be one of {names} (or the class itself), got {block!r}")
    return cls


def _check_input(x: Tensor, in_channels: int, min_size: int, net: str) -> None:
    """Cheap shape checks at the top of ``forward``; a clear message instead of a deep conv error."""
    if x.ndim != 4:
        raise ValueError(f"{net} expects a 4-D batch (N, C, H, W), got a {x.ndim}-D tensor of shape "
                         f"{tuple(x.shape)}: add a batch dimension with x.unsqueeze(0)")
    if x.shape[1] != in_channels:
        raise ValueError(f"{net} expects {in_channels} input channels, got {x.shape[1]} "
                         f"(build it with in_channels={x.shape[1]})")
    if x.shape[-2] < min_size or x.shape[-1] < min_size:
        raise ValueError(f"{net} downsamples {min_size}x: input must be at least {min_size}x{min_size}, got "
                         f"{x.shape[-2]}x{x.shape[-1]}")


def _init_weights(model: nn.Module, zero_init_residual: bool) -> None:
    # He et al. (2015) normal init, fan_out as in torchvision and in the authors' Torch code.
    if zero_init_residual and not getattr(model, "residual", True):
        raise ValueError("zero_init_residual=True needs residual=True: a plain net with zeroed blocks outputs zeros")
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    if zero_init_residual:  # each residual block starts as the identity (Goyal et al., 2017)
        for m in model.modules():
            zero_init_last(m)


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

    Shape:
        (N, in_channels, H, W) with H, W >= 32 -> (N, num_classes)
    """

    def __init__(self, block: type[nn.Module] | str, layers: Sequence[int], num_classes: int = 1000,
                 zero_init_residual: bool = False, groups: int = 1, width_per_group: int = 64,
                 replace_stride_with_dilation: Sequence[bool] | None = None, norm_layer: NormLayer | None = None,
                 *, in_channels: int = 3, residual: bool = True, shortcut: str = "B",
                 stride_in_1x1: bool = False) -> None:
        super().__init__()
        block = _resolve_block(block, (BasicBlock, Bottleneck))
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
        self.num_classes = _positive_int("num_classes", num_classes)
        self.in_channels = _positive_int("in_channels", in_channels)
        self._norm_layer = norm_layer or nn.BatchNorm2d
        self.residual, self.shortcut, self.stride_in_1x1 = residual, shortcut, stride_in_1x1
        self.min_size = 4 * 2 ** replace_stride_with_dilation.count(False)  # stem 4x, then 2x per strided stage
        self.inplanes = 64
        self.dilation = 1
        self.groups = groups
        self.base_width = width_per_group

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
        _init_weights(self, zero_init_residual)

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
            downsample = (make_shortcut(self.shortcut, self.inplanes, planes * block.expansion, s, self._norm_layer)
                          if self.residual else None)
            layers.append(block(self.inplanes, planes, s, downsample, self.groups, self.base_width,
                                previous_dilation if i == 0 else self.dilation, self._norm_layer,
                                residual=self.residual, **extra))
            self.inplanes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.in_channels, self.min_size, type(self).__name__)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        x = self.layer1(x)                                     # (N, 64 e, H/4, W/4), e = expansion
        x = self.layer2(x)                                     # (N, 128 e, H/8, W/8)
        x = self.layer3(x)                                     # (N, 256 e, H/16, W/16)
        x = self.layer4(x)                                     # (N, 512 e, H/32, W/32)
        x = torch.flatten(self.avgpool(x), 1)                  # (N, 512 e)
        return self.fc(x)                                      # (N, num_classes)


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
        widths: channels of the three stages' 3×3 layers.
        zero_init_residual: start every residual branch at zero (see :func:`resnet_lib.blocks.zero_init_last`).

    Shape:
        (N, in_channels, H, W) with H, W >= 4 -> (N, num_classes)
    """

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3,
                 block: type[nn.Module] | str = "basic", shortcut: str = "A", residual: bool = True,
                 widths: Sequence[int] = (16, 32, 64), zero_init_residual: bool = False,
                 norm_layer: NormLayer | None = None) -> None:
        super().__init__()
        block = _resolve_block(block, tuple(_BLOCKS.values()))
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
        self.num_classes = _positive_int("num_classes", num_classes)
        self.in_channels = _positive_int("in_channels", in_channels)
        self.depth, self.shortcut, self.residual = depth, shortcut, residual
        self.preact = issubclass(block, (PreActBasicBlock, PreActBottleneck))
        self.min_size = 4
        norm_layer = norm_layer or nn.BatchNorm2d
        n = (depth - 2) // (3 * per_block)

        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
        if not self.preact:
            self.bn1 = norm_layer(widths[0])
            self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, widths[0], n, 1, norm_layer)
        self.layer2 = self._make_layer(block, widths[1], n, 2, norm_layer)
        self.layer3 = self._make_layer(block, widths[2], n, 2, norm_layer)
        if self.preact:
            self.final_bn = norm_layer(self.inplanes)
            self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, num_classes)
        _init_weights(self, zero_init_residual)

    def _make_layer(self, block: type[nn.Module], planes: int, blocks: int, stride: int,
                    norm_layer: NormLayer) -> nn.Sequential:
        layers = []
        for i in range(blocks):
            s = stride if i == 0 else 1
            downsample = (make_shortcut(self.shortcut, self.inplanes, planes * block.expansion, s, norm_layer,
                                        preact=self.preact) if self.residual else None)
            layers.append(block(self.inplanes, planes, s, downsample, norm_layer=norm_layer, residual=self.residual))
            self.inplanes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.in_channels, self.min_size, type(self).__name__)
        x = self.conv1(x)                        # (N, 16, H, W)
        if not self.preact:
            x = self.relu(self.bn1(x))
        x = self.layer1(x)                       # (N, 16 e, H, W)
        x = self.layer2(x)                       # (N, 32 e, H/2, W/2)
        x = self.layer3(x)                       # (N, 64 e, H/4, W/4)
        if self.preact:
            x = self.relu(self.final_bn(x))
        x = torch.flatten(self.avgpool(x), 1)    # (N, 64 e)
        return self.fc(x)                        # (N, num_classes)


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


def plain18(**kwargs: Any) -> ResNet:
    """Plain-18 (Fig. 3 middle without shortcuts): ResNet-18's layers, no shortcuts."""
    return ResNet(BasicBlock, [2, 2, 2, 2], residual=False, **kwargs)


def plain34(**kwargs: Any) -> ResNet:
    """Plain-34: ResNet-34's layers, no shortcuts."""
    return ResNet(BasicBlock, [3, 4, 6, 3], residual=False, **kwargs)


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

_MODELS: dict[str, Callable[..., nn.Module]] = {fn.__name__: fn for fn in (
    resnet18, resnet34, resnet50, resnet101, resnet152, resnext50_32x4d, wide_resnet50_2, plain18, plain34,
    resnet20, resnet32, resnet44, resnet56, resnet110, resnet1202, plain20, plain32, plain44, plain56, plain110,
    preact_resnet20, preact_resnet56, preact_resnet110, preact_resnet164)}


def list_models() -> list[str]:
    """Names accepted by :func:`get_model`, sorted."""
    return sorted(_MODELS)


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by name, e.g. ``get_model("plain56", num_classes=10, in_channels=1)``.

    Raises:
        ValueError: unknown ``name`` (with the closest valid names).
    """
    if name not in _MODELS:
        close = difflib.get_close_matches(str(name), _MODELS, n=3)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise ValueError(f"unknown model {name!r}{hint}; valid names: {', '.join(list_models())}")
    return _MODELS[name](**kwargs)
