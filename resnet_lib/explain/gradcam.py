"""What a classifier looks at: input-gradient saliency and Grad-CAM, written with hooks, plus their overlay figure.

* **Saliency** (Simonyan et al., 2014): ``|d logit_c / d x|``, the largest over the colour channels, per pixel.
* **Grad-CAM** (Selvaraju et al., 2017): at a convolutional layer with activations ``A [K, h, w]``, weight each
  channel by the spatial mean of the class score's gradient, ``alpha_k = mean_ij d y_c / d A_kij``, sum
  ``ReLU(sum_k alpha_k A_k)``, and stretch the ``h x w`` map to the image. :func:`gradcam` post-processes the map
  exactly as the maintained ``grad-cam`` package (``pytorch_grad_cam.GradCAM``) does — min-max scaled per image,
  bilinear up-sampling, scaled again — and ``tests/test_explain.py`` checks the two agree to 1e-5. It differs in
  what it leaves alone: it runs batched on the model's device, never touches the parameters' ``.grad``, removes
  its hook and restores the model's train/eval modes.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.figure import Figure


def find_layer(model: nn.Module, name: str | nn.Module) -> nn.Module:
    """The sub-module called ``name`` (in ``model.named_modules()``), or ``name`` itself if it is one of its modules.

    Raises:
        ValueError: no such module; the message lists the allowed names.
    """
    if isinstance(name, nn.Module):
        if any(m is name for m in model.modules()):
            return name
        raise ValueError(f"the target layer {type(name).__name__} is not a module of this "
                         f"{type(model).__name__}: pass one of its modules or a name from model.named_modules()")
    modules = dict(model.named_modules())
    if not isinstance(name, str) or not name or name not in modules:
        allowed = ", ".join(n for n in modules if n)
        raise ValueError(f"target layer {name!r} is not a module of {type(model).__name__}: use one of {allowed}")
    return modules[name]


def input_channels(model: nn.Module) -> int | None:
    """The input channels a model expects: its ``in_channels`` attribute, else its first convolution's."""
    c = getattr(model, "in_channels", None)
    if isinstance(c, int):
        return c
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return None if first is None else first.in_channels


def check_images(model: nn.Module, images: Any) -> torch.Tensor:
    """``images`` as a float ``[B, C, H, W]`` tensor with the model's ``C``; a one-line ValueError otherwise."""
    c = input_channels(model)
    want = f"[B, {c if c is not None else 'C'}, H, W]"
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        got = (f"{tuple(images.shape)} {images.dtype}" if isinstance(images, torch.Tensor)
               else type(images).__name__)
        raise ValueError(f"images must be a normalised float tensor {want}, got {got} (a single image: add a batch "
                         f"dimension with x[None])")
    if c is not None and images.shape[1] != c:
        raise ValueError(f"images must be {want} for this model ({c} input channels), got {tuple(images.shape)}")
    if len(images) == 0:
        raise ValueError("images is an empty batch: pass at least one image")
    return images


def check_targets(targets: Any, n: int, num_classes: int) -> torch.Tensor | None:
    """Class indices as an int64 ``[n]`` tensor (an int applies to every image), or None; one-line errors."""
    if targets is None:
        return None
    if isinstance(targets, bool) or (isinstance(targets, torch.Tensor) and targets.is_floating_point()):
        raise ValueError(f"targets must be class indices (ints), got {targets!r}")
    t = torch.full((n,), targets) if isinstance(targets, int) else torch.as_tensor(targets).long().flatten().cpu()
    if len(t) != n:
        raise ValueError(f"targets must be one class index, or one per image ({n}), got {targets!r}")
    bad = t[(t < 0) | (t >= num_classes)]
    if len(bad):
        raise ValueError(f"class index {int(bad[0])} is out of range: use 0..{num_classes - 1}")
    return t


class _Capture:
    """A forward hook that keeps a module's output (and hands a copy on, so in-place ops later cannot change it)."""

    def __init__(self, module: nn.Module) -> None:
        self.outputs: list[torch.Tensor] = []
        self.handle = module.register_forward_hook(self)

    def __call__(self, module: nn.Module, args: Any, output: Any) -> Any:
        if not isinstance(output, torch.Tensor):
            raise ValueError(f"the target layer {type(module).__name__} returns {type(output).__name__}, not a "
                             "tensor: pick a layer whose output is a feature map")
        self.outputs.append(output)
        return output.clone()    # the network goes on with a copy; `output` stays as it was computed


def _class_scores(model: nn.Module, x: torch.Tensor, targets: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward ``x``; return the chosen class scores ``[B]`` (predicted classes when targets is None) and targets."""
    logits = model(x)
    if logits.dim() != 2:
        raise ValueError(f"the model must return logits [B, K], got {tuple(logits.shape)}")
    t = check_targets(targets, len(x), logits.shape[1])
    t = logits.argmax(1) if t is None else t.to(logits.device)
    return logits.gather(1, t[:, None])[:, 0], t


class _EvalMode:
    """Evaluation mode for the block, every module's previous mode restored afterwards."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> None:
        self.modes = [m.training for m in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc: object) -> None:
        for m, mode in zip(self.model.modules(), self.modes):
            m.training = mode


def _minmax(maps: torch.Tensor) -> torch.Tensor:
    """Per map ``(m - min) / (1e-7 + max)``, as ``pytorch_grad_cam.utils.image.scale_cam_image``."""
    flat = maps.flatten(1)
    flat = flat - flat.amin(1, keepdim=True)
    return (flat / (1e-7 + flat.amax(1, keepdim=True))).view_as(maps)


def gradcam(model: nn.Module, images: torch.Tensor, target_layer: str | nn.Module, targets: Any = None, *,
            raw: bool = False) -> torch.Tensor:
    """Grad-CAM maps (Selvaraju et al., 2017) of ``targets`` at ``target_layer``, one per image.

    Args:
        model: a classifier returning logits; run in evaluation mode here (its modes are restored).
        images: a normalised batch on the model's device.
        target_layer: a module name from ``model.named_modules()`` (e.g. ``"layer3"``, the last stage of a CIFAR
            ResNet) or the module itself; it must be called once per forward pass.
        targets: class index per image, one index for all, or None for each image's predicted class.
        raw: return ``ReLU(sum_k alpha_k A_k)`` at the layer's resolution, not scaled or up-sampled.
    Returns:
        Maps in [0, 1] at the images' resolution (``[B, H, W]``), as ``pytorch_grad_cam.GradCAM`` computes them;
        with ``raw=True`` the unscaled ``[B, h, w]`` maps.
    Shape:
        images ``[B, C, H, W]`` -> ``[B, H, W]``.
    """
    layer = find_layer(model, target_layer)
    x = check_images(model, images)
    capture = _Capture(layer)
    try:
        with _EvalMode(model), torch.enable_grad():
            scores, _ = _class_scores(model, x, targets)
            if len(capture.outputs) != 1:
                raise ValueError(f"the target layer ran {len(capture.outputs)} times in one forward pass: pick a "
                                 "module used once (a block or a stage, e.g. 'layer3')")
            acts = capture.outputs[0]
            if acts.dim() != 4:
                raise ValueError(f"the target layer's output must be a feature map [B, K, h, w], got "
                                 f"{tuple(acts.shape)}")
            grads, = torch.autograd.grad(scores.sum(), acts)      # images are independent in eval mode
    finally:
        capture.handle.remove()
    weights = grads.mean((2, 3), keepdim=True)                    # alpha_k: [B, K, 1, 1]
    cam = F.relu((weights * acts).sum(1)).detach().float()      # [B, h, w]
    if raw:
        return cam
    cam = F.interpolate(_minmax(cam)[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return _minmax(cam.clamp_min(0))


def saliency(model: nn.Module, images: torch.Tensor, targets: Any = None) -> torch.Tensor:
    """Input-gradient saliency (Simonyan et al., 2014): ``max_c |d logit_target / d x_c|`` per pixel.

    Args:
        model: a classifier returning logits; run in evaluation mode here (its modes are restored).
        images: a normalised batch on the model's device.
        targets: class index per image, one index for all, or None for each image's predicted class.
    Returns:
        Non-negative maps, unscaled (``[B, H, W]``).
    Shape:
        images ``[B, C, H, W]`` -> ``[B, H, W]``.
    """
    x = check_images(model, images).detach().clone().requires_grad_(True)
    with _EvalMode(model), torch.enable_grad():
        scores, _ = _class_scores(model, x, targets)
        grad, = torch.autograd.grad(scores.sum(), x)
    return grad.abs().amax(1).detach()


def overlay_figure(images: torch.Tensor, maps: dict[str, torch.Tensor] | torch.Tensor,
                   titles: Sequence[str] | None = None, alpha: float = 0.5, size: float = 1.5,
                   suptitle: str | None = None) -> Figure:
    """Each image, then each method's map over it (a column per image, a row per method).

    Args:
        images: the images the maps explain (raw uint8 or normalised float; shown in grayscale for one channel).
        maps: ``{method name: [B, H, W] maps}`` (or one tensor), each scaled to [0, 1] per image for display.
        titles: one per image (e.g. true and predicted class).
        alpha: opacity of the maps.
        size: inches per panel.
        suptitle: the figure's title.
    Returns:
        The figure.
    Shape:
        images ``[B, C, H, W]``, maps ``[B, H, W]``.
    """
    maps = {"map": maps} if isinstance(maps, torch.Tensor) else dict(maps)
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(f"images must be a [B, C, H, W] tensor, got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    b = len(images)
    for name, m in maps.items():
        if m.shape != (b, *images.shape[-2:]):
            raise ValueError(f"maps[{name!r}] must be [B, H, W] = {(b, *images.shape[-2:])}, got {tuple(m.shape)}")
    fig = Figure(figsize=(size * b, size * (1 + len(maps)) + 0.3), layout="constrained")
    axes = fig.subplots(1 + len(maps), b, squeeze=False)
    shown = images.detach().cpu().float()
    lo, hi = shown.flatten(1).amin(1)[:, None, None, None], shown.flatten(1).amax(1)[:, None, None, None]
    shown = ((shown - lo) / (hi - lo).clamp_min(1e-12)).permute(0, 2, 3, 1).numpy()
    for j in range(b):
        img = shown[j, ..., 0] if shown.shape[-1] == 1 else shown[j]
        axes[0, j].imshow(img, cmap="gray")
        if titles is not None:
            axes[0, j].set_title(titles[j], fontsize=7)
        for i, (name, m) in enumerate(maps.items(), start=1):
            mj = m[j].detach().cpu().float()
            mj = (mj - mj.min()) / (mj.max() - mj.min()).clamp_min(1e-12)
            axes[i, j].imshow(img, cmap="gray")
            axes[i, j].imshow(mj.numpy(), cmap="jet", alpha=alpha, vmin=0, vmax=1)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for i, name in enumerate(["image", *maps], start=0):
        axes[i, 0].set_ylabel(name, fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return fig
