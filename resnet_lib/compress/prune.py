"""Pruning: zeroing single weights (unstructured) and removing whole channels (structured).

Unstructured magnitude pruning (:func:`magnitude_prune`, ``torch.nn.utils.prune``) sets the smallest weights to zero
but keeps every tensor's shape: dense kernels then multiply by the zeros just as fast, so the model is smaller only
once stored sparsely and no faster on a CPU or GPU without sparse kernels. Structured pruning
(:func:`prune_channels`, ``torch-pruning``) removes whole output channels, and every layer that reads them, so the
tensors really shrink: fewer multiply-adds, smaller files, and (often) less time.

In a ResNet the additions tie channels together: a block's output channel ``c`` is added to its shortcut's channel
``c``, so all the blocks of a stage share one set of "residual stream" channels, and the option-A shortcut (a
strided slice, zero-padded) ties the stages too, in a way ``torch-pruning``'s dependency graph does not follow.
:func:`residual_stream_layers` lists the layers that write that stream; passed as ``ignored_layers`` they leave it
alone and only the channels *inside* each block are pruned, which is safe for every shortcut option.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

PRUNABLE = (nn.Conv2d, nn.Linear)


def _weights(model: nn.Module, layers: tuple[type, ...]) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, layers)]


def sparsity(model: nn.Module, layers: tuple[type, ...] = PRUNABLE) -> float:
    """The fraction of weights that are exactly zero, over the ``weight`` tensors of the ``layers`` types.

    Args:
        model: any network.
        layers: the module types whose weights count (default: convolutions and linear layers).
    Returns:
        The fraction in ``[0, 1]``, a float.
    """
    ws = [getattr(m, name) for m, name in _weights(model, layers)]
    if not ws:
        raise ValueError(f"the model has no {', '.join(t.__name__ for t in layers)} layers to count")
    zeros = sum(int((w == 0).sum()) for w in ws)
    return zeros / sum(w.numel() for w in ws)


def magnitude_prune(model: nn.Module, amount: float, *, scope: str = "global",
                    layers: tuple[type, ...] = PRUNABLE) -> nn.Module:
    """A copy of ``model`` with the fraction ``amount`` of its smallest-magnitude weights set to zero.

    ``scope="global"`` ranks all the weights together (``prune.global_unstructured``), so layers with many small
    weights lose more; ``"layer"`` prunes each layer by ``amount`` (``prune.l1_unstructured``). The masks are made
    permanent (``prune.remove``): the copy holds ordinary dense tensors with zeros in them.

    Args:
        model: the trained network (not changed).
        amount: the fraction of weights to zero, in ``[0, 1)``.
        scope: ``"global"`` or ``"layer"``.
        layers: the module types whose ``weight`` is pruned (biases and BatchNorm are kept).
    Returns:
        The pruned copy, an ``nn.Module`` in the original's train/eval mode.
    """
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 <= amount < 1:
        raise ValueError(f"amount must be a fraction in [0, 1), got {amount!r}")
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    net = copy.deepcopy(model)
    params = _weights(net, layers)
    if not params:
        raise ValueError(f"the model has no {', '.join(t.__name__ for t in layers)} layers to prune")
    if scope == "global":
        prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=float(amount))
    else:
        for m, name in params:
            prune.l1_unstructured(m, name, amount=float(amount))
    for m, name in params:
        prune.remove(m, name)  # weight = weight_orig * mask, as a plain parameter: no hooks left
    return net


def residual_stream_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose output channels are the residual stream (or the classes), to keep when pruning channels.

    They are: the stem convolution(s) before the first block, each block's last convolution (``conv2`` of a basic
    block, ``conv3`` of a bottleneck; the one whose output meets the shortcut), every convolution inside a
    ``downsample`` shortcut, and the final linear layer. Pre-activation blocks read the stream through their first
    BN, which ``torch-pruning`` keeps with the convolution that writes it.

    Args:
        model: a ``resnet_lib`` ResNet (CIFAR or ImageNet layout); blocks are found by their ``downsample``
            attribute.
    Returns:
        The modules, in network order (a list).
    """
    blocks = [m for m in model.modules() if hasattr(m, "downsample") and hasattr(m, "conv2")]
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no residual blocks (modules with conv2 and downsample)")
    keep: list[nn.Module] = []
    in_blocks = {id(m) for b in blocks for m in b.modules()}
    for m in model.modules():  # the stem and the classifier: layers outside every block
        if isinstance(m, PRUNABLE) and id(m) not in in_blocks:
            keep.append(m)
    for b in blocks:
        keep.append(b.conv3 if hasattr(b, "conv3") else b.conv2)
        if b.downsample is not None:
            keep.extend(m for m in b.downsample.modules() if isinstance(m, PRUNABLE))
    return keep


def prune_channels(model: nn.Module, example_inputs: torch.Tensor, ratio: float, *,
                   ignored_layers: Iterable[nn.Module] | None = None, p: int = 1,
                   round_to: int | None = None) -> nn.Module:
    """A copy of ``model`` with the fraction ``ratio`` of the channels of each prunable group removed.

    ``torch-pruning``'s ``MetaPruner`` traces the network, builds its dependency graph
    (which layers must lose the same channels: a convolution's outputs, its BatchNorm, the next layer's inputs,
    both sides of an addition) and removes the channels with the smallest L``p`` norm of their weights, group by
    group. Nothing is fine-tuned here: accuracy drops until the copy is trained again (e.g. with ``rl.fit``).

    Args:
        model: the trained network (not changed).
        example_inputs: a batch the network accepts, ``[B, C, H, W]``, to trace it.
        ratio: the fraction of channels to remove from each group, in ``[0, 1)``.
        ignored_layers: layers whose output channels stay (default: the classifier only). Pass
            :func:`residual_stream_layers` to prune only inside the blocks, which an option-A (zero-pad) shortcut
            needs.
        p: the norm that ranks channels (1 or 2).
        round_to: keep channel counts multiples of this (e.g. 8 for fast kernels); None = exact.
    Returns:
        The pruned copy, in evaluation mode.
    Raises:
        ValueError: bad arguments, or the pruned network no longer runs (shapes broken across a shortcut the
            dependency graph does not understand).
    """
    import torch_pruning as tp

    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
        raise ValueError(f"ratio must be a fraction in [0, 1), got {ratio!r}")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p!r}")
    net = copy.deepcopy(model).eval()
    by_id = {id(m): m2 for m, m2 in zip(model.modules(), net.modules())}  # the copies of the caller's layers
    if ignored_layers is None:
        ignored = [m for m in net.modules() if isinstance(m, nn.Linear)][-1:]
    else:
        ignored = [by_id.get(id(m), m) for m in ignored_layers]
    pruner = tp.pruner.MetaPruner(net, example_inputs, importance=tp.importance.MagnitudeImportance(p=p),
                                  pruning_ratio=float(ratio), ignored_layers=ignored, round_to=round_to)
    pruner.step()
    try:
        with torch.no_grad():
            net(example_inputs)
    except RuntimeError as e:
        raise ValueError(f"the pruned network no longer runs ({str(e).splitlines()[0][:120]}): pass "
                         "ignored_layers=residual_stream_layers(model) to prune only inside the blocks") from None
    return net


def channel_counts(model: nn.Module) -> Sequence[int]:
    """The output channels of every convolution, in network order (to show what pruning kept)."""
    return [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
