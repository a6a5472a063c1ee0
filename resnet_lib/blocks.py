"""The blocks' former address, kept so that code written against ``resnet_lib.blocks`` still runs.

The blocks and shortcuts now live in :mod:`resnet_lib.models` (``models.blocks``, ``models.shortcuts``); import
them from there, or as ``rl.BasicBlock``, ``rl.make_shortcut``, ...
"""
from .models.blocks import (BasicBlock, Bottleneck, NormLayer, PreActBasicBlock, PreActBottleneck, conv1x1, conv3x3,
                            zero_init_last)
from .models.shortcuts import SHORTCUTS, ShortcutA, make_shortcut

__all__ = ["BasicBlock", "Bottleneck", "NormLayer", "PreActBasicBlock", "PreActBottleneck", "conv1x1", "conv3x3",
           "zero_init_last", "SHORTCUTS", "ShortcutA", "make_shortcut"]
