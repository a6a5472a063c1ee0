"""The plain CNN of the paper's CIFAR experiments (§4.2), with switchable BatchNorm and initialisation.

Three stages of 2n 3×3 convolutions (16, 32, 64 channels), global average pooling and a linear classifier: 6n + 2
weighted layers and no shortcuts. Unlike ``resnet_lib.plain20`` and friends (the exact twins of the ResNets),
this one can drop BatchNorm and change the initialisation, which is what chapter 2's gradient measurements vary.
:mod:`resnet_lib.gradients` re-exports it.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

INITS = ("kaiming", "xavier", "normal0.01", "default")


def init_weights(model: nn.Module, init: str = "kaiming") -> nn.Module:
    """Re-initialise every conv weight (conv biases to zero) in place; returns ``model``.

    ``"kaiming"``: He et al. (2015), normal with std ``sqrt(2 / fan_out)`` (fan_out as in torchvision and in
    :func:`resnet_lib.get_model`'s nets); ``"xavier"``: Glorot & Bengio (2010), std ``sqrt(2 / (fan_in + fan_out))``;
    ``"normal0.01"``: fixed std 0.01 (the VGG-era recipe); ``"default"``: PyTorch's default (uniform, std
    ``1 / sqrt(3 fan_in)``), left as it is. Linear layers keep PyTorch's default in every scheme, as in
    torchvision, so the schemes differ only in the convolutions.
    """
    if init not in INITS:
        raise ValueError(f"init={init!r} is not supported: use one of {', '.join(map(repr, INITS))}")
    if init == "default":
        return model
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            if init == "kaiming":
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif init == "xavier":
                nn.init.xavier_normal_(m.weight)
            else:
                nn.init.normal_(m.weight, std=0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class PlainCNN(nn.Module):
    """A plain (shortcut-free) CIFAR-layout CNN with optional BatchNorm; see :func:`plain_cnn`."""

    def __init__(self, depth: int, width: int = 16, batch_norm: bool = True, in_channels: int = 1,
                 num_classes: int = 10) -> None:
        super().__init__()
        n = (depth - 2) // 6
        self.batch_norm = batch_norm
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(width) if batch_norm else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_stage(width, width, n, stride=1)
        self.layer2 = self._make_stage(width, 2 * width, n, stride=2)
        self.layer3 = self._make_stage(2 * width, 4 * width, n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def _make_stage(self, in_ch: int, out_ch: int, n: int, stride: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i in range(2 * n):  # 2n conv layers per stage; the first one may halve the resolution
            layers.append(nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, 3, stride=stride if i == 0 else 1,
                                    padding=1, bias=not self.batch_norm))
            if self.batch_norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.ReLU(inplace=True))
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, C, H, W) -> (N, w, H, W)
        x = self.layer3(self.layer2(self.layer1(x)))  # -> (N, 4w, H/4, W/4)
        return self.fc(torch.flatten(self.avgpool(x), 1))  # -> (N, num_classes)


def plain_cnn(depth: int, width: int = 16, batch_norm: bool = True, init: str = "kaiming", in_channels: int = 1,
              num_classes: int = 10) -> PlainCNN:
    """Build the plain CNN of the paper's §4.2 with a chosen normalisation and initialisation.

    Args:
        depth: weighted layers, ``6n + 2`` (8, 14, 20, 32, 44, 56, 110, ...).
        width: channels of the first stage (the paper: 16; stages have w, 2w, 4w).
        batch_norm: a BatchNorm after every conv (the paper's setting); without it the convs get biases.
        init: ``"kaiming"``, ``"xavier"``, ``"normal0.01"`` or ``"default"`` (see :func:`init_weights`).
        in_channels: image channels (1 for Fashion-MNIST, 3 for CIFAR-10).
        num_classes: outputs of the classifier.
    Returns:
        A :class:`PlainCNN`; input ``(N, in_channels, H, W)`` -> logits ``(N, num_classes)``.
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {depth!r}")
    for what, v in (("width", width), ("in_channels", in_channels), ("num_classes", num_classes)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{what} must be a positive int, got {v!r}")
    if init not in INITS:
        raise ValueError(f"init={init!r} is not supported: use one of {', '.join(map(repr, INITS))}")
    model = PlainCNN(depth, width, batch_norm, in_channels, num_classes)
    return init_weights(model, init)
