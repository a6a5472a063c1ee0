"""Every model by name: :func:`get_model` and :func:`list_models`."""
from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import torch.nn as nn

from . import cifar, cifar_variants, resnet, resnet9

_MODELS: dict[str, Callable[..., nn.Module]] = {fn.__name__: fn for fn in (
    resnet.resnet18, resnet.resnet34, resnet.resnet50, resnet.resnet101, resnet.resnet152, resnet.resnext50_32x4d,
    resnet.wide_resnet50_2, resnet.resnet26d, resnet.resnet50d, resnet.seresnet50, resnet.plain18, resnet.plain34,
    cifar.cifar_resnet, cifar.resnet20, cifar.resnet32, cifar.resnet44, cifar.resnet56, cifar.resnet110, cifar.resnet1202,
    cifar.plain20, cifar.plain32, cifar.plain44, cifar.plain56, cifar.plain110,
    cifar.preact_resnet20, cifar.preact_resnet56, cifar.preact_resnet110, cifar.preact_resnet164,
    cifar_variants.preact_resnet1001, cifar_variants.wrn16_4, cifar_variants.wrn16_8, cifar_variants.wrn28_10,
    cifar_variants.wrn40_4, cifar_variants.resnext29_8x64d, cifar_variants.resnext29_16x64d,
    cifar_variants.resnext29_32x4d, cifar_variants.se_resnet20, cifar_variants.se_resnet56,
    cifar_variants.se_resnet110, resnet9.resnet9)}


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
