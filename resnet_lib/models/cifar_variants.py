"""The CIFAR-layout family tree: Wide ResNets, ResNeXt-29, pre-activation ResNet-1001 and SE-ResNets.

Each builder is a :class:`~resnet_lib.models.cifar.CifarResNet` configuration, built from the same blocks as
ResNet-20, so chapter 6 compares the ideas, not the code. Parameter counts below are for 3-channel input and 10
classes (``tests/test_variants.py`` asserts each); they include batch-norm parameters, which the papers' "68.1 M"
(ResNeXt-29 16×64d) and "10.2 M" (ResNet-1001) leave out.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cifar import CifarResNet


def _builder(name: str, doc: str, **config: Any) -> Callable[..., CifarResNet]:
    def build(**kwargs: Any) -> CifarResNet:
        if kwargs.pop("weights", None) is not None:
            raise ValueError(f"there are no pretrained weights for {name}: pass weights=None")
        fixed = sorted(k for k in kwargs if k in config)
        if fixed:
            raise ValueError(f"{name} fixes {', '.join(fixed)}: build CifarResNet(...) directly to change them")
        return CifarResNet(**config, **kwargs)
    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc + " Other keyword arguments go to :class:`~resnet_lib.models.cifar.CifarResNet`."
    return build


def _wrn(depth: int, k: int, params: str) -> Callable[..., CifarResNet]:
    # WRN-d-k counts the three projection convs in its depth: d = 6n + 4, so n = (d - 4) / 6 blocks per stage.
    return _builder(f"wrn{depth}_{k}", f"Wide ResNet-{depth}-{k} (Zagoruyko & Komodakis, 2016): pre-activation "
                    f"basic blocks {k}× wider, 1×1 projections where width or stride change, the 3×3 stem to 16 "
                    f"channels without BN; {params} parameters. ``drop_rate=0.3`` adds the paper's dropout.",
                    depth=depth - 2, block="preact_basic", shortcut="B", widths=(16 * k, 32 * k, 64 * k),
                    stem_width=16)


def _resnext(cardinality: int, width: int, params: str) -> Callable[..., CifarResNet]:
    return _builder(f"resnext29_{cardinality}x{width}d", f"ResNeXt-29 {cardinality}×{width}d (Xie et al., 2017): "
                    f"post-activation bottlenecks whose 3×3 conv has {cardinality} groups of {width} channels in the "
                    f"first stage, the 3×3 stem to 64 + BN, projection shortcuts at each stage's first block; "
                    f"{params} parameters.",
                    depth=29, block="bottleneck", shortcut="B", widths=(64, 128, 256), stem_width=64,
                    groups=cardinality, width_per_group=width)


def _se(depth: int, params: str) -> Callable[..., CifarResNet]:
    return _builder(f"se_resnet{depth}", f"SE-ResNet-{depth} (Hu et al., 2018): ResNet-{depth} with "
                    f"squeeze-and-excitation (reduction 16, bias-free excitation layers) in every block and "
                    f"projection shortcuts; {params} parameters.",
                    depth=depth, shortcut="B", se_reduction=16, se_bias=False)


wrn16_4 = _wrn(16, 4, "2,748,890")
wrn16_8 = _wrn(16, 8, "10,961,370")
wrn28_10 = _wrn(28, 10, "36,479,194")
wrn40_4 = _wrn(40, 4, "8,949,210")
resnext29_8x64d = _resnext(8, 64, "34,426,698")
resnext29_16x64d = _resnext(16, 64, "68,155,210")
resnext29_32x4d = _resnext(32, 4, "4,775,754")
preact_resnet1001 = _builder("preact_resnet1001", "Pre-activation ResNet-1001 (He et al., 2016b, Table 2): "
                             "bottlenecks, n=111, projection shortcuts; 10,327,706 parameters.",
                             depth=1001, block="preact_bottleneck", shortcut="B")
se_resnet20 = _se(20, "274,490")
se_resnet56 = _se(56, "861,818")
se_resnet110 = _se(110, "1,742,810")
