"""Batch normalisation after training: re-estimate the running statistics from training batches.

In training a BN layer normalises with the statistics of the batch; in evaluation with running averages (momentum
0.1) collected along the way. Those averages lag behind the weights, and after weight averaging (SWA, EMA) they
belong to no model that ever ran. Re-estimating them is one pass over training batches in training mode without
gradients: ``torch.optim.swa_utils.update_bn`` does it (a plain average over the batches, ``momentum=None``); this
wraps it for the book's data and its smoke-run limits, and can instead keep training's exponential average
(``momentum=``) to show how long a BN layer remembers old statistics.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.optim.swa_utils import update_bn

from . import limits as limits_


def recalibrate_bn(model: nn.Module, data: Any, *, batch_size: int = 128, batches: int | None = None,
                   augment: bool | str = False, seed: int = 0, momentum: float | None = None) -> nn.Module:
    """Replace every BatchNorm's running mean and variance by their average over training batches.

    Args:
        model: the network (on the data's device); its train/eval mode is restored afterwards.
        data: a :class:`~resnet_lib.data.bundle.DataBundle`; batches come from its training split, shuffled.
        batch_size: images per batch (the statistics are per batch, as in training).
        batches: how many batches to average over; None = one pass over the training split.
        augment: augmentation of those batches (False: the images as they are; or a policy name).
        seed: the order of the batches.
        momentum: ``None`` (default): a plain average over the batches, the old statistics forgotten. A float in
            (0, 1]: the exponential average that training keeps, ``new = (1 - momentum) * old + momentum *
            batch``, starting from the current statistics — to see how slowly a small momentum forgets.
    Returns:
        ``model``, changed in place.
    """
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ValueError("the model has no BatchNorm layer: there are no statistics to re-estimate")
    if batches is not None and (isinstance(batches, bool) or not isinstance(batches, int) or batches < 1):
        raise ValueError(f"batches must be a positive int or None (one pass), got {batches!r}")
    if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, (int, float))
                                 or not 0 < momentum <= 1):
        raise ValueError(f"momentum must be None (a plain average) or a number in (0, 1], got {momentum!r}")
    loader = data.loader("train", batch_size, shuffle=True, augment=augment, drop_last=True, seed=seed)
    cap = limits_.current().eval_batches                     # a smoke run reads 2 batches
    n = min(b for b in (batches, cap, len(loader)) if b is not None)
    if n == 0:
        raise ValueError(f"the training split has fewer than batch_size={batch_size} images")
    if momentum is None:
        with torch.no_grad():
            update_bn(limits_.take(loader, n), model)
        return model
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved, was_training = [m.momentum for m in bns], model.training
    for m in bns:
        m.momentum = float(momentum)
    model.train()
    try:
        with torch.no_grad():
            for x, _ in limits_.take(loader, n):
                model(x)
    finally:
        for m, value in zip(bns, saved):
            m.momentum = value
        model.train(was_training)
    return model
