"""A ``resnet_lib`` ResNet as the backbone of torchvision's detection and segmentation models.

Our networks keep torchvision's attribute names (``conv1``, ``bn1``, ``layer1`` ... ``layer4``, ``fc``), so
torchvision's own building blocks take them as they are:

* :func:`fpn_backbone` wraps the stages in torchvision's
  :class:`~torchvision.models.detection.backbone_utils.BackboneWithFPN` (an ``IntermediateLayerGetter`` that returns
  the chosen stages' outputs, plus a feature pyramid network, Lin et al., 2017);
* :func:`faster_rcnn` builds :class:`~torchvision.models.detection.FasterRCNN` on it (Ren et al., 2015);
* :func:`deeplabv3` and :func:`fcn` build :class:`~torchvision.models.segmentation.DeepLabV3` and
  :class:`~torchvision.models.segmentation.FCN` heads on the last stage (and an auxiliary head on the one before).

Both layouts work: the ImageNet one (:class:`~resnet_lib.models.resnet.ResNet`, four stages, 4x to 32x down-sampled)
and the CIFAR one (:class:`~resnet_lib.models.cifar.CifarResNet`, three stages, 1x to 4x). Nothing here downloads:
torchvision's builders (``fasterrcnn_resnet50_fpn`` ...) fetch weights by default, these take the network you pass.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from .transfer import freeze_bn


def stage_names(model: nn.Module) -> list[str]:
    """The residual stages of ``model`` in order: ``["layer1", ..., "layerN"]`` (children named ``layer<k>``)."""
    names = [n for n, _ in model.named_children() if n.startswith("layer") and n[5:].isdigit()]
    if not names:
        raise ValueError(f"{type(model).__name__} has no stages named layer1, layer2, ...: pass a resnet_lib "
                         "ResNet or CifarResNet (or a torchvision ResNet)")
    return sorted(names, key=lambda n: int(n[5:]))


def stage_channels(model: nn.Module, stage: str) -> int:
    """Output channels of ``stage``: those of its last convolution (the last block's final conv)."""
    convs = [m for m in getattr(model, stage).modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


def _check_layers(model: nn.Module, layers: Sequence[str]) -> list[str]:
    allowed = stage_names(model)
    wrong = [n for n in layers if n not in allowed]
    if wrong or not layers or len(set(layers)) != len(layers):
        raise ValueError(f"return_layers={list(layers)!r} is not allowed: use distinct stage names from "
                         f"{', '.join(allowed)}")
    return sorted(layers, key=allowed.index)


def set_trainable_stages(model: nn.Module, trainable_layers: int | None) -> nn.Module:
    """Freeze all but the top ``trainable_layers`` stages (the stem counts as the lowest), as torchvision does.

    Args:
        model: a ResNet; its parameters' ``requires_grad`` is set in place.
        trainable_layers: ``None`` = all trainable; 0 = none; k = the last k of ``[stem, layer1, ..., layerN]``.
    Returns:
        ``model``.
    """
    stages = stage_names(model)
    if trainable_layers is None:
        return model.requires_grad_(True)
    if isinstance(trainable_layers, bool) or not isinstance(trainable_layers, int) \
            or not 0 <= trainable_layers <= len(stages) + 1:
        raise ValueError(f"trainable_layers={trainable_layers!r} is not allowed: use None or an int in "
                         f"0..{len(stages) + 1} (stem + {len(stages)} stages)")
    train = stages[len(stages) - trainable_layers:] if trainable_layers <= len(stages) else stages
    for name, p in model.named_parameters():
        top = name.split(".")[0]
        stem = not top.startswith("layer") and top != "fc"
        p.requires_grad_(top in train or (stem and trainable_layers == len(stages) + 1))
    return model


def fpn_backbone(model: nn.Module, return_layers: Sequence[str] | None = None, out_channels: int = 256, *,
                 trainable_layers: int | None = None,
                 frozen_bn: bool = False) -> nn.Module:
    """The stages of ``model`` with a feature pyramid on top: torchvision's ``BackboneWithFPN``.

    Args:
        model: a ``resnet_lib`` ResNet / CifarResNet (its ``avgpool`` and ``fc`` are dropped; its weights are shared,
            not copied).
        return_layers: stages feeding the pyramid (default all: ``layer1``..``layer4`` or ``layer1``..``layer3``);
            they come out named ``"0"``, ``"1"``, ... in that order, followed by torchvision's ``LastLevelMaxPool``
            level ``"pool"`` (the top level subsampled by 2).
        out_channels: channels of every pyramid level.
        trainable_layers: see :func:`set_trainable_stages` (None = everything trains).
        frozen_bn: replace every ``BatchNorm2d`` by torchvision's ``FrozenBatchNorm2d`` first (torchvision's default
            for detection: small batches make batch statistics noisy).
    Returns:
        A ``BackboneWithFPN``: ``backbone(x)`` is an ordered dict of ``[N, out_channels, h_i, w_i]`` tensors, and
        ``backbone.out_channels == out_channels``.
    """
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    layers = _check_layers(model, return_layers if return_layers is not None else stage_names(model))
    if isinstance(out_channels, bool) or not isinstance(out_channels, int) or out_channels < 1:
        raise ValueError(f"out_channels={out_channels!r} is not allowed: use a positive int")
    if frozen_bn:
        model = freeze_bn(model)
    set_trainable_stages(model, trainable_layers)
    return BackboneWithFPN(model, {n: str(i) for i, n in enumerate(layers)},
                           [stage_channels(model, n) for n in layers], out_channels,
                           extra_blocks=LastLevelMaxPool())


@torch.no_grad()
def pyramid_shapes(backbone: nn.Module, image_shape: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """The shape of every output of ``backbone`` for one zero image of ``image_shape`` ``(C, H, W)``."""
    was = backbone.training
    x = torch.zeros(1, *image_shape, device=next(backbone.parameters()).device)
    out = backbone.eval()(x)
    backbone.train(was)
    return {k: tuple(v.shape) for k, v in out.items()}


def faster_rcnn(model: nn.Module, num_classes: int, *, return_layers: Sequence[str] | None = None,
                fpn_channels: int = 256, anchor_sizes: Sequence[int] | None = None,
                aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0), representation_size: int = 1024,
                trainable_layers: int | None = None, frozen_bn: bool = False, **kwargs: Any) -> nn.Module:
    """torchvision's Faster R-CNN with an FPN on a ``resnet_lib`` ResNet; never downloads anything.

    Args:
        model: the backbone network (see :func:`fpn_backbone`).
        num_classes: classes including the background (class 0).
        return_layers, fpn_channels, trainable_layers, frozen_bn: see :func:`fpn_backbone`.
        anchor_sizes: one anchor side in pixels per pyramid level, finest first (default 32, 64, ... as torchvision's;
            small images need small anchors).
        aspect_ratios: anchor height/width ratios, the same at every level.
        representation_size: width of the two-layer box head (torchvision: 1024).
        **kwargs: passed to :class:`~torchvision.models.detection.FasterRCNN`: ``min_size``/``max_size`` (set both to
            the image side to stop it rescaling to 800 px), ``image_mean``/``image_std`` (one value per channel),
            ``rpn_*`` and ``box_*`` sampling options.
    Returns:
        A ``FasterRCNN``: in training mode ``model(images, targets)`` gives the loss dict, in eval mode
        ``model(images)`` the detections.
    """
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.rpn import RPNHead
    from torchvision.ops import MultiScaleRoIAlign

    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r} is not allowed: use an int >= 2 (the background counts)")
    backbone = fpn_backbone(model, return_layers, fpn_channels, trainable_layers=trainable_layers,
                            frozen_bn=frozen_bn)
    names = list(backbone.body.return_layers.values())
    levels = len(names) + 1  # + the max-pool level
    sizes = list(anchor_sizes) if anchor_sizes is not None else [32 * 2 ** i for i in range(levels)]
    if len(sizes) != levels:
        raise ValueError(f"anchor_sizes has {len(sizes)} sizes: use one per pyramid level ({levels}: "
                         f"{', '.join(names)}, pool)")
    anchors = AnchorGenerator(tuple((int(s),) for s in sizes), (tuple(aspect_ratios),) * levels)
    rpn_head = RPNHead(fpn_channels, anchors.num_anchors_per_location()[0])
    roi_pool = MultiScaleRoIAlign(featmap_names=names, output_size=7, sampling_ratio=2)
    box_head = TwoMLPHead(fpn_channels * 7 * 7, representation_size)
    channels = getattr(model, "in_channels", 3)
    kwargs.setdefault("image_mean", [0.485, 0.456, 0.406] if channels == 3 else [0.5] * channels)
    kwargs.setdefault("image_std", [0.229, 0.224, 0.225] if channels == 3 else [0.5] * channels)
    return FasterRCNN(backbone, rpn_anchor_generator=anchors, rpn_head=rpn_head, box_roi_pool=roi_pool,
                      box_head=box_head, box_predictor=FastRCNNPredictor(representation_size, num_classes),
                      **kwargs)


def _segmentation_backbone(model: nn.Module, aux_loss: bool, trainable_layers: int | None,
                           frozen_bn: bool) -> tuple[nn.Module, int, int | None]:
    from torchvision.models._utils import IntermediateLayerGetter

    stages = stage_names(model)
    if frozen_bn:
        model = freeze_bn(model)
    set_trainable_stages(model, trainable_layers)
    if aux_loss and len(stages) < 2:
        raise ValueError("aux_loss=True needs at least two stages (the auxiliary head reads the one before the last)")
    layers = {stages[-1]: "out"}
    if aux_loss:
        layers[stages[-2]] = "aux"
    body = IntermediateLayerGetter(model, return_layers=layers)
    return body, stage_channels(model, stages[-1]), stage_channels(model, stages[-2]) if aux_loss else None


def deeplabv3(model: nn.Module, num_classes: int, *, aux_loss: bool = False,
              atrous_rates: Sequence[int] = (12, 24, 36), trainable_layers: int | None = None,
              frozen_bn: bool = False) -> nn.Module:
    """torchvision's DeepLabV3 (Chen et al., 2017) on a ``resnet_lib`` ResNet's last stage; never downloads.

    torchvision's ``deeplabv3_resnet50`` uses a ResNet-50 with ``replace_stride_with_dilation=[False, True, True]``
    (output stride 8); build ``rl.resnet50(replace_stride_with_dilation=[False, True, True])`` for the same network
    (its ``state_dict`` then loads into torchvision's and back).

    Args:
        model: the backbone (its ``avgpool`` and ``fc`` are dropped).
        num_classes: classes including the background.
        aux_loss: add torchvision's ``FCNHead`` on the stage before the last (output ``"aux"``).
        atrous_rates: the ASPP's dilation rates (torchvision: 12, 24, 36).
        trainable_layers, frozen_bn: see :func:`fpn_backbone`.
    Returns:
        A ``DeepLabV3``: ``model(x)["out"]`` is ``[N, num_classes, H, W]`` logits at the input's size.
    """
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3
    from torchvision.models.segmentation.fcn import FCNHead

    body, out_ch, aux_ch = _segmentation_backbone(model, aux_loss, trainable_layers, frozen_bn)
    _check_classes(num_classes)
    aux = FCNHead(aux_ch, num_classes) if aux_loss else None
    return DeepLabV3(body, DeepLabHead(out_ch, num_classes, atrous_rates=tuple(atrous_rates)), aux)


def fcn(model: nn.Module, num_classes: int, *, aux_loss: bool = False, trainable_layers: int | None = None,
        frozen_bn: bool = False) -> nn.Module:
    """torchvision's fully convolutional network head (Long et al., 2015) on a ``resnet_lib`` ResNet; no download.

    Args:
        model: the backbone (its ``avgpool`` and ``fc`` are dropped).
        num_classes: classes including the background.
        aux_loss: add a second ``FCNHead`` on the stage before the last (output ``"aux"``).
        trainable_layers, frozen_bn: see :func:`fpn_backbone`.
    Returns:
        An ``FCN``: ``model(x)["out"]`` is ``[N, num_classes, H, W]`` logits at the input's size.
    """
    from torchvision.models.segmentation.fcn import FCN, FCNHead

    body, out_ch, aux_ch = _segmentation_backbone(model, aux_loss, trainable_layers, frozen_bn)
    _check_classes(num_classes)
    return FCN(body, FCNHead(out_ch, num_classes), FCNHead(aux_ch, num_classes) if aux_loss else None)


def _check_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r} is not allowed: use an int >= 2 (the background counts)")


__all__ = ["stage_names", "stage_channels", "set_trainable_stages", "fpn_backbone", "pyramid_shapes", "faster_rcnn",
           "deeplabv3", "fcn"]
