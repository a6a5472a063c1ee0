"""What the model builders share: block names, argument checks, the input check of ``forward`` and the init."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn as nn
from torch import Tensor

from .blocks import BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck, zero_init_last

BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock, "bottleneck": Bottleneck,
                                      "preact_basic": PreActBasicBlock, "preact_bottleneck": PreActBottleneck}


def positive_int(name: str, value: Any) -> int:
    """``value`` if it is an int >= 1, else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def resolve_block(block: type[nn.Module] | str, allowed: Sequence[type[nn.Module]]) -> type[nn.Module]:
    """The block class for a name in ``BLOCKS`` (or the class itself), if it is one of ``allowed``."""
    cls = BLOCKS.get(block) if isinstance(block, str) else block
    if not (isinstance(cls, type) and issubclass(cls, tuple(allowed))):
        names = [k for k, v in BLOCKS.items() if v in allowed]
        raise ValueError(f"block must be one of {names} (or the class itself), got {block!r}")
    return cls


def check_input(x: Tensor, in_channels: int, min_size: int, net: str) -> None:
    """Cheap shape checks at the top of ``forward``; a clear message instead of a deep convolution error.

    A module that calls it registers it with ``torch.fx.wrap("check_input")``, so that symbolic tracing (and
    torchvision's ``create_feature_extractor``) keeps the check as one node instead of failing on its ``if``.
    """
    if x.dim() != 4:
        raise ValueError(f"{net} expects a 4-D batch (N, C, H, W), got a {x.dim()}-D tensor of shape "
                         f"{tuple(x.shape)}: add a batch dimension with x.unsqueeze(0)")
    if x.shape[1] != in_channels:
        raise ValueError(f"{net} expects {in_channels} input channels, got {x.shape[1]} "
                         f"(build it with in_channels={x.shape[1]})")
    if x.shape[-2] < min_size or x.shape[-1] < min_size:
        raise ValueError(f"{net} downsamples {min_size}x: input must be at least {min_size}x{min_size}, got "
                         f"{x.shape[-2]}x{x.shape[-1]}")


def init_weights(model: nn.Module, zero_init_residual: bool) -> None:
    """He et al. (2015) normal init (``fan_out``, as torchvision and the authors' Torch code), BN at (1, 0)."""
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


def stochastic_depth_probs(stochastic_depth_prob: float, num_blocks: int) -> list[float]:
    """Drop probability of each block, rising linearly to ``stochastic_depth_prob`` at the last one.

    Huang et al. (2016), eq. 4: block l of L (counted from 1 at the input) is dropped with probability
    ``l / L * p_L``; the first blocks, whose features every later block reads, are almost always kept.
    """
    if isinstance(stochastic_depth_prob, bool) or not isinstance(stochastic_depth_prob, (int, float)) \
            or not 0.0 <= stochastic_depth_prob < 1.0:
        raise ValueError(f"stochastic_depth_prob must be a probability in [0, 1) (0.5 in the paper), "
                         f"got {stochastic_depth_prob!r}")
    return [stochastic_depth_prob * (i + 1) / num_blocks for i in range(num_blocks)]
