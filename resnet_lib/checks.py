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


def _strided_branch_convs(block: nn.Module) -> list[str]:
    """Names of the convolutions on the residual branch (not the shortcut) whose stride is not 1."""
    return [n for n, m in block.named_modules()
            if isinstance(m, nn.Conv2d) and _on_main_path(n) and max(m.stride) > 1]


def _check_shortcut_is_not_a_branch(block: nn.Module) -> None:
    """A shortcut is the identity, a zero-padded subsample (A) or a 1×1 projection (B, C), never a 3×3 conv stack."""
    shortcut = _shortcut_module(block)
    if shortcut is None:
        return
    for name, m in shortcut.named_modules():
        big = isinstance(m, nn.Conv2d) and max(m.kernel_size) > 1
        if big or isinstance(m, (nn.ReLU, nn.GELU, nn.SiLU)):
            what = f"a {m.kernel_size[0]}×{m.kernel_size[1]} convolution" if big else f"a {type(m).__name__}"
            raise BlockCheckError(f"the shortcut holds {what} ({name or type(m).__name__}): that makes it a "
                                  "second branch, not a shortcut; use the identity, or a 1×1 projection + BN "
                                  "where the shape changes (option B)")


def _no_input_path(block: nn.Module, x: torch.Tensor, branch: list[nn.Module]) -> str:
    """A clause for the identity check's message when no path carries ``x`` past the branch, else ``""``.

    Zeroes every layer of the branch (all its convolutions and normalisations): a residual block then still
    passes ``x`` on through its shortcut, so the output's gradient with respect to the input is non-zero.
    """
    zeroed = copy.deepcopy(block).eval()
    names = {id(m): n for n, m in block.named_modules()}
    targets = {names[id(m)] for m in branch if id(m) in names}
    with torch.no_grad():
        for n, m in zeroed.named_modules():
            if n in targets:
                for p in (getattr(m, "weight", None), getattr(m, "bias", None)):
                    if p is not None:
                        p.zero_()
    xg = x.clone().requires_grad_(True)
    out = _run(zeroed, xg)
    grad = torch.autograd.grad(out.sum(), xg, allow_unused=True)[0] if out.requires_grad else None
    if grad is not None and grad.abs().sum() > 0:
        return ""
    return (f"; with all {len(targets)} layers of the branch zeroed the output no longer depends on x: no path "
            "carries the block's input past the branch (the shortcut must add x itself, not a function of the "
            "branch's output)")


def _run(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    try:
        return block(x)
    except TypeError as err:  # e.g. self.shortcut(out, x) where the shortcut's forward takes one tensor
        if "argument" not in str(err):
            raise
        raise BlockCheckError(f"calling the block raised TypeError: {str(err).splitlines()[0]}: a layer was "
                              "called with arguments its forward does not take (call each submodule as its "
                              "forward is defined, e.g. self.shortcut(x), not self.shortcut(out, x))") from err
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
    _check_shortcut_is_not_a_branch(block)
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
            strided = _strided_branch_convs(block)
            if len(strided) > 1:
                hint += (f" The branch strides {len(strided)} times ({', '.join(strided)}): keep the stride on "
                         "the first 3×3 conv only, the others use stride=1.")
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
                + ("" if preact else " and apply the final ReLU after the addition")
                + _no_input_path(block, x, [m for _, m in executed]))
        checked.append(f"identity: block(x) == {rule} with {last_name} zeroed")
    if verbose:
        print("check_block: all checks passed (" + "; ".join(checked) + ")")


class ModelCheckError(AssertionError):
    """A check of :func:`check_model` failed; the message names the model it resembles and what to fix."""


IMAGENET_FAMILY = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
CIFAR_FAMILY = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")


def _weighted_layers(model: nn.Module) -> int:
    """Depth as the paper counts it, for any way of writing a ResNet: convolutions and linear layers, not shortcuts.

    Shortcuts are the modules called ``downsample`` or ``shortcut`` and any strided 1×1 convolution (a projection,
    whatever its name); every other ``Conv2d`` and ``Linear`` counts one layer.

    Returns:
        The number of weighted layers, an int (18 for ResNet-18, 50 for ResNet-50, 20 for the CIFAR ResNet-20).
    """
    def projection(m: nn.Conv2d) -> bool:
        return max(m.kernel_size) == 1 and max(m.stride) > 1
    return sum(isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and not projection(m))
               for n, m in model.named_modules() if _on_main_path(n))


def check_model(model: nn.Module, reference: str, num_classes: int = 10, in_channels: int = 3,
                candidates: tuple[str, ...] | None = None, verbose: bool = True) -> None:
    """Check that ``model`` is the ResNet it is called: parameters and depth against ``resnet_lib``'s ``reference``.

    The parameter count is compared exactly with the reference built by
    :func:`~resnet_lib.models.registry.get_model` (on the ``meta`` device: nothing is computed), and the depth with
    the paper's count of weighted layers (convolutions and linear layers, not shortcuts). On a mismatch the message names the model of ``candidates`` whose parameter count is
    closest, e.g. "it is closest to resnet34".

    Args:
        model: the network to check (any ``nn.Module``, e.g. an ``nn.Sequential`` built by hand).
        reference: the name it should have, e.g. ``"resnet18"`` (see :func:`~resnet_lib.models.registry.list_models`).
        num_classes: outputs of the final layer, as in ``model``.
        in_channels: input channels, as in ``model``.
        candidates: names to compare with on a mismatch (default: ResNet-18 ... 152, or the CIFAR ResNet-20 ... 110
            for a CIFAR reference).
        verbose: print a one-line report on success.
    Raises:
        ModelCheckError: (an ``AssertionError``) the counts differ; the message says which model it resembles.
        ValueError: an unknown ``reference`` or candidate.
    """
    from .models import get_model, list_models

    names = candidates or (CIFAR_FAMILY if reference in CIFAR_FAMILY else IMAGENET_FAMILY)
    known = set(list_models())
    for name in (reference, *names):
        if name not in known:
            raise ValueError(f"unknown model {name!r}: use a name from resnet_lib.list_models(), e.g. 'resnet18'")

    def counts(name: str) -> tuple[int, int]:
        with torch.device("meta"):
            ref = get_model(name, num_classes=num_classes, in_channels=in_channels)
        return sum(p.numel() for p in ref.parameters()), _weighted_layers(ref)

    params, layers = sum(p.numel() for p in model.parameters()), _weighted_layers(model)
    want_params, want_layers = counts(reference)
    if (params, layers) != (want_params, want_layers):
        table = {name: counts(name) for name in names}
        closest = min(table, key=lambda n: abs(table[n][0] - params))
        raise ModelCheckError(
            f"the model has {params:,} parameters and {layers} weighted layers, {reference} "
            f"(num_classes={num_classes}, in_channels={in_channels}) has {want_params:,} and {want_layers}: it is "
            f"closest to {closest} ({table[closest][0]:,} parameters, {table[closest][1]} layers); check the "
            "blocks per stage, the stem and which model the variable holds")
    if verbose:
        print(f"check_model: {reference}'s {params:,} parameters and {layers} weighted layers")
