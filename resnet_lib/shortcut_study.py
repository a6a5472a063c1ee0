"""He et al. (2016b), §3: what a residual network does when its shortcut is not the identity.

A pre-activation unit ``x_{l+1} = h(x_l) + F(x_l)`` with ``F = conv(relu(bn(conv(relu(bn(x))))))`` and one of the
paper's shortcut forms ``h``: ``"identity"``; ``"scale"`` (``0.5 x``, constant scaling); ``"gate"`` (exclusive
gating: ``(1 - g) x + g F`` with ``g = sigmoid(conv1x1(x) + b)``, ``b = -6`` at init as in the paper); ``"conv"``
(a 1×1 convolution); ``"dropout"`` (dropout 0.5 on the shortcut). Chapter 6 builds the unit in a few lines and shows
it equals :class:`ShortcutFormUnit`; :func:`train_forms` trains a stack of units per form, the way
``python -m resnet_lib.shortcut_study --out FILE`` writes the chapter's stored study.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from . import limits
from .models.blocks import conv1x1, conv3x3

FORMS = ("identity", "scale", "gate", "conv", "dropout")


class ShortcutFormUnit(nn.Module):
    """One pre-activation unit with shortcut ``form`` (see the module docstring); channels and size unchanged.

    Shape:
        (N, channels, H, W) -> (N, channels, H, W)
    """

    def __init__(self, channels: int, form: str = "identity", gate_bias: float = -6.0) -> None:
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        self.form = form
        self.bn1, self.conv1 = nn.BatchNorm2d(channels), conv3x3(channels, channels)
        self.bn2, self.conv2 = nn.BatchNorm2d(channels), conv3x3(channels, channels)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        if form == "gate":
            self.gate = nn.Conv2d(channels, channels, kernel_size=1)
            nn.init.constant_(self.gate.bias, gate_bias)
        if form == "conv":
            self.proj = conv1x1(channels, channels)
            nn.init.normal_(self.proj.weight, std=channels ** -0.5)  # variance-preserving: no ReLU on this path
        if form == "dropout":
            self.drop = nn.Dropout(0.5)

    def forward(self, x: Tensor) -> Tensor:
        f = self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))  # F(x)
        if self.form == "identity":
            return x + f
        if self.form == "scale":
            return 0.5 * x + f
        if self.form == "gate":
            g = torch.sigmoid(self.gate(x))
            return (1 - g) * x + g * f
        if self.form == "conv":
            return self.proj(x) + f
        return self.drop(x) + f


def shortcut_stack(form: str, units: int, channels: int, in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """Stem 3×3 conv → ``units`` units of one form → BN, ReLU, global pool, fc (a pre-activation net, no striding)."""
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise ValueError(f"units must be a positive int, got {units!r}")
    return nn.Sequential(conv3x3(in_channels, channels), *[ShortcutFormUnit(channels, form) for _ in range(units)],
                         nn.BatchNorm2d(channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(channels, num_classes))


def train_forms(x: Tensor, y: Tensor, *, forms: Sequence[str] = FORMS, seeds: Sequence[int] = (0,),
                units: int = 27, channels: int = 16, steps: int = 150, batch_size: int = 128, lr: float = 0.05,
                device: str | torch.device = "cpu") -> list[dict[str, Any]]:
    """Train one stack per form and seed with SGD (momentum 0.9, weight decay 1e-4) on ``(x, y)``.

    Args:
        x, y: normalised images ``(N, C, H, W)`` and labels ``(N,)`` (the training set: this measures how well each
            form *fits*, the paper's point about optimisation).
        steps: SGD steps of ``batch_size`` images drawn with replacement; capped in a smoke run.
    Returns:
        A list with one dict per run, with the keys ``form``, ``seed``, ``loss`` (per step), ``final_loss`` (mean
        of the last 20 steps), ``train_acc`` (the whole ``x`` in eval mode, after training) and ``seconds``.
    """
    cap = limits.current().train_steps
    steps = min(steps, cap) if cap is not None else steps
    dev = torch.device(device)
    x, y = x.to(dev), y.to(dev)
    runs = []
    for form in forms:
        for seed in seeds:
            torch.manual_seed(seed)
            net = shortcut_stack(form, units, channels, x.shape[1], int(y.max()) + 1).to(dev)
            opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
            gen = torch.Generator().manual_seed(seed)
            losses, start = [], time.perf_counter()
            for _ in range(steps):
                idx = torch.randint(0, len(y), (batch_size,), generator=gen).to(dev)
                loss = F.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.item() if math.isfinite(loss.item()) else float("nan"))
            net.eval()
            with torch.no_grad():
                acc = (net(x).argmax(1) == y).float().mean().item()
            tail = losses[-20:]
            runs.append({"form": form, "seed": seed, "loss": losses, "final_loss": sum(tail) / len(tail),
                         "train_acc": acc, "seconds": time.perf_counter() - start})
    return runs


def main(argv: list[str] | None = None) -> int:
    """``python -m resnet_lib.shortcut_study --out FILE``: the chapter's stored study (digits, 3 seeds)."""
    ap = argparse.ArgumentParser(prog="python -m resnet_lib.shortcut_study", description=main.__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--units", type=int, default=27)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--steps", type=int, default=150)
    args = ap.parse_args(argv)
    from .cli import run_info
    from .data import load_data
    from .train_config import TrainConfig

    data = load_data("digits", seed=0)
    x = (data.x_train.float() / 255 - data.mean[0]) / data.std[0]
    info = run_info(TrainConfig(model="shortcut_stack", data="digits", seed=args.seeds[0]), torch.device("cpu"))
    del info["config"]  # provenance only (commit, device, versions, times): the study's settings follow
    info["study"] = {"units": args.units, "channels": args.channels, "steps": args.steps, "batch_size": 128,
                     "lr": 0.05, "seeds": args.seeds, "images": len(data.y_train)}
    info["runs"] = train_forms(x, data.y_train, seeds=args.seeds, units=args.units, channels=args.channels,
                               steps=args.steps)
    info["end_time"], info["status"] = time.strftime("%Y-%m-%dT%H:%M:%S%z"), "finished"
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
