"""The model zoo. ``get_model("resnet56", num_classes=10, in_channels=1)`` builds any network by name.

- :mod:`.blocks` — ``conv3x3``/``conv1x1``, the four residual blocks (post- and pre-activation, basic and
  bottleneck), ``zero_init_last``.
- :mod:`.shortcuts` — the paper's shortcut options A, B, C (``make_shortcut``, ``ShortcutA``).
- :mod:`.resnet` — ImageNet layout, torchvision-compatible (``ResNet``, ``resnet18`` ... ``wide_resnet50_2``,
  ResNet-D and SE-ResNet-50 in timm's layout).
- :mod:`.cifar` — CIFAR layout (``CifarResNet``, ``resnet20`` ... ``resnet1202``, plain and pre-activation nets).
- :mod:`.cifar_variants` — the CIFAR family tree: Wide ResNets, ResNeXt-29, pre-activation ResNet-1001, SE-ResNets.
- :mod:`.resnet9` — Page (2018)'s ResNet-9 of the DAWNBench speedruns (``ResNet9``, ``resnet9``): chapter 5's
  speedrun network.
- :mod:`.se` — squeeze-and-excitation (``SqueezeExcite``), an option of every block.
- :mod:`.registry` — ``get_model`` and ``list_models``.

Every model traces with ``torch.fx`` (hence torchvision's ``create_feature_extractor``), scripts with
``torch.jit.script`` and exports with ``torch.export``, with outputs equal to eager mode (``tests/test_tracing.py``).
"""
from .blocks import (BasicBlock, Bottleneck, NormLayer, PreActBasicBlock, PreActBottleneck, conv1x1, conv3x3,
                     zero_init_last)
from .cifar import (CifarResNet, cifar_resnet, plain20, plain32, plain44, plain56, plain110, preact_resnet20, preact_resnet56,
                    preact_resnet110, preact_resnet164, resnet20, resnet32, resnet44, resnet56, resnet110,
                    resnet1202)
from .cifar_variants import (preact_resnet1001, resnext29_8x64d, resnext29_16x64d, resnext29_32x4d, se_resnet20,
                             se_resnet56, se_resnet110, wrn16_4, wrn16_8, wrn28_10, wrn40_4)
from .registry import get_model, list_models
from .resnet import (ResNet, plain18, plain34, resnet18, resnet26d, resnet34, resnet50, resnet50d, resnet101,
                     resnet152, resnext50_32x4d, seresnet50, wide_resnet50_2)
from .resnet9 import ResNet9, resnet9
from .se import SqueezeExcite
from .shortcuts import SHORTCUTS, ShortcutA, make_shortcut, zero_pad_subsample

__all__ = [
    "BasicBlock", "Bottleneck", "NormLayer", "PreActBasicBlock", "PreActBottleneck", "conv1x1", "conv3x3",
    "zero_init_last", "SHORTCUTS", "ShortcutA", "make_shortcut", "zero_pad_subsample",
    "ResNet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2",
    "resnet26d", "resnet50d", "seresnet50", "plain18", "plain34",
    "CifarResNet", "cifar_resnet", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202",
    "plain20", "plain32", "plain44", "plain56", "plain110",
    "preact_resnet20", "preact_resnet56", "preact_resnet110", "preact_resnet164", "preact_resnet1001",
    "wrn16_4", "wrn16_8", "wrn28_10", "wrn40_4", "resnext29_8x64d", "resnext29_16x64d", "resnext29_32x4d",
    "se_resnet20", "se_resnet56", "se_resnet110", "SqueezeExcite", "ResNet9", "resnet9",
    "get_model", "list_models",
]
