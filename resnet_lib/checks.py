"""``check_block``: test a residual block you wrote in an exercise, with messages that say what to fix.

    block = MyBasicBlock(16, 32, stride=2)
    check_block(block, in_channels=16, out_channels=32, stride=2)   # prints "check_block: all checks passed ..."
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _NormBase

_SHORTCUT_NAMES = ("downsample", "shortcut")


class BlockCheckError(AssertionError):
    """A check of :func:`check_block` failed; the message says what is wrong and what to change."""


def _shortcut_module(block: nn.Module) -> nn.Module | None:
    for name in _SHORTCUT_NAMES:
        module = getattr(block, name, None)
        if isinstance(module, nn.Module) and not isinstance(module, nn.Identity):
            return module
    return None


def _on_main_path(name: str) -> bool:
    return not any(part in _SHORTCUT_NAMES for part in name.split("."))


def _run(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    try:
        return block(x)
    except Exception as err:  # turn a deep conv error into a hint about the block's layers
        raise BlockCheckError(f"the block failed on an input of shape {tuple(x.shape)}: "
                              f"{type(err).__name__}: {str(err).splitlines()[0]} "
                              "(check the convs' in/out channels, and that the branch and the shortcut "
                              "use the same stride so that F(x) and shortcut(x) have the same shape)") from err


def check_block(block: nn.Module, in_channels: int, out_channels: int | None = None, stride: int = 1,
                size: int = 8, verbose: bool = True) -> None:
    """Check a residual block: output shape, gradient flow to the input, identity behaviour.

    The checks run on a copy (your block, its weights and batch-norm statistics are left untouched):

    1. shape: (2, ``in_channels``, ``size``, ``size``) -> (2, ``out_channels``, ``size/stride``, ``size/stride``);
    2. gradients: the input's gradient is non-zero and finite, and every parameter receives a gradient;
    3. identity: with the residual branch zeroed (its last layer's weight and bias set to 0), the block reduces to
       its shortcut: ``block(x) == relu(shortcut(x))`` for post-activation blocks (ending in BN, then ReLU after
       the addition), ``block(x) == shortcut(x)`` for pre-activation blocks (ending in a conv). The shortcut is
       ``block.downsample`` or ``block.shortcut`` when one is set (its actual output is used), else the identity.
       Skipped for plain blocks (``block.residual is False``).

    Args:
        block: the block to test (any ``nn.Module`` taking one (N, C, H, W) tensor).
        in_channels: channels the block expects.
        out_channels: channels it should produce (default: ``in_channels``).
        stride: its spatial stride (1 or 2).
        size: height and width of the test input.
        verbose: print a one-line report on success.
    Raises:
        BlockCheckError: (an ``AssertionError``) naming the failed check and what to fix.
        ValueError: bad arguments to ``check_block`` itself.
    """
    out_channels = in_channels if out_channels is None else out_channels
    if not isinstance(block, nn.Module):
        raise ValueError(f"block must be an nn.Module, got {type(block).__name__}")
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("stride", stride),
                        ("size", size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    block = copy.deepcopy(block).train()
    first = next(iter(block.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, in_channels, size, size, generator=gen).to(device)
    out_size = -(-size // stride)
    checked = []

    # 1. shape
    out = _run(block, x.clone().requires_grad_(True))
    expected = (2, out_channels, out_size, out_size)
    if tuple(out.shape) != expected:
        hint = ""
        if out.shape[1] != out_channels:
            hint = f" channels: got {out.shape[1]}, expected {out_channels} (check the last conv's out_channels)."
        if tuple(out.shape[2:]) != expected[2:]:
            hint += (f" H×W: got {tuple(out.shape[2:])}, expected {expected[2:]}"
                     f" (a stride-{stride} block puts stride={stride} on one conv of the branch and on the shortcut;"
                     " 3×3 convs need padding=1).")
        raise BlockCheckError(f"output shape {tuple(out.shape)} != {expected}:{hint}")
    checked.append(f"shape {expected}")

    # 2. gradients reach the input and every parameter
    block.zero_grad(set_to_none=True)
    xg = x.clone().requires_grad_(True)
    out = _run(block, xg)
    (out * torch.randn(out.shape, generator=gen).to(out)).sum().backward()
    if xg.grad is None or xg.grad.abs().sum() == 0:
        raise BlockCheckError("no gradient reaches the input: the forward must not detach x (no x.detach(), "
                              "no torch.no_grad(), no .data) and both paths must start from x")
    if not torch.isfinite(xg.grad).all():
        raise BlockCheckError("the input's gradient has NaN/inf values: check for divisions or logs in forward")
    unused = [n for n, p in block.named_parameters() if p.requires_grad and p.grad is None]
    if unused:
        raise BlockCheckError(f"parameters that got no gradient: {', '.join(unused)}: "
                              "every layer defined in __init__ should be used in forward")
    checked.append("gradients reach the input and all parameters")

    # 3. identity when the residual branch is zeroed
    if getattr(block, "residual", True) is False:
        checked.append("identity check skipped (plain block)")
    else:
        executed: list[tuple[str, nn.Module]] = []
        names = {m: n for n, m in block.named_modules()}
        hooks = [m.register_forward_hook(lambda mod, i, o: executed.append((names[mod], mod)))
                 for n, m in block.named_modules()
                 if n and _on_main_path(n) and isinstance(m, (nn.Conv2d, _NormBase, nn.GroupNorm, nn.LayerNorm))]
        captured: list[torch.Tensor] = []
        shortcut = _shortcut_module(block)
        if shortcut is not None:
            hooks.append(shortcut.register_forward_hook(lambda mod, i, o: captured.append(o)))
        block.eval()
        with torch.no_grad():
            _run(block, x)
            if not executed:
                raise BlockCheckError("found no convolution or normalisation layer on the residual branch")
            last_name, last = executed[-1]
            for p in (getattr(last, "weight", None), getattr(last, "bias", None)):
                if p is not None:
                    p.zero_()
            captured.clear()
            out = _run(block, x)
        for h in hooks:
            h.remove()
        preact = isinstance(last, nn.Conv2d)
        short = captured[-1] if captured else x
        want = short if preact else F.relu(short)
        rule = "shortcut(x)" if preact else "relu(shortcut(x))"
        if want.shape != out.shape or not torch.allclose(out, want, atol=1e-5):
            raise BlockCheckError(
                f"with the residual branch zeroed ({last_name} = 0) the block should return {rule}, but it does "
                "not: add the shortcut to the branch's output (out = F(x) + shortcut(x))"
                + ("" if preact else " and apply the final ReLU after the addition"))
        checked.append(f"identity: block(x) == {rule} with {last_name} zeroed")
    if verbose:
        print("check_block: all checks passed (" + "; ".join(checked) + ")")
