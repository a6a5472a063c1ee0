"""Sanity checks for saliency maps (Adebayo et al., 2018): does the map change when the model is destroyed?

*Cascading randomisation*: re-initialise the network's layers one group at a time, from the output towards the
input, and after each step compare the explanation of the (ever more random) network with the trained network's,
for the same images and the same target classes. A method that explains the model must change as the weights it
explains are thrown away; a map that stays the same is showing something else (edges of the image, the
architecture's prior). The similarity is Spearman's rank correlation of the two maps, per image
(``scipy.stats.spearmanr``), averaged over the images, as in the paper.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from matplotlib.figure import Figure

from .gradcam import _EvalMode, _class_scores, check_images, check_targets, find_layer

def randomization_order(model: nn.Module) -> list[str]:
    """Default cascade for a ResNet-like model: its top-level layers with parameters, stages split into blocks,
    from the output to the input (e.g. ``fc, layer3.2, layer3.1, ..., layer1.0, bn1, conv1``)."""
    names = []
    for name, child in model.named_children():
        parts = list(child.named_children()) if isinstance(child, nn.Sequential) else [("", child)]
        for sub, module in parts:
            if any(True for _ in module.parameters()):
                names.append(f"{name}.{sub}" if sub else name)
    return names[::-1]


def reinitialize(module: nn.Module, generator_seed: int) -> None:
    """Re-draw every parameter of ``module`` by its layers' own ``reset_parameters`` (BN: weight 1, bias 0, fresh
    running statistics), from a fixed seed, without touching the global random state for the caller."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(generator_seed)
        touched = 0
        for m in module.modules():
            if hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False)):
                m.reset_parameters()
                touched += 1
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
    if not touched:
        raise ValueError(f"{type(module).__name__} has no layer with reset_parameters(): nothing to randomise")


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation of each pair of maps (``scipy.stats.spearmanr``, ties ranked by their mean);
    0 where either map is constant (it carries no ranking).

    Shape:
        a, b ``[B, ...]`` -> ``[B]``.
    """
    from scipy.stats import spearmanr

    out = []
    for x, y in zip(a.flatten(1).double().cpu().numpy(), b.flatten(1).double().cpu().numpy()):
        out.append(0.0 if x.min() == x.max() or y.min() == y.max() else float(spearmanr(x, y).statistic))
    return torch.tensor(out, dtype=torch.float64)


@dataclass
class SanityResult:
    """Maps and similarities along a cascading randomisation, step 0 being the trained model."""

    steps: list[str]  # "trained", then the cumulative last group randomised at each step ("fc", "layer3.2", ...)
    maps: dict[str, torch.Tensor]  # method -> [steps, B, H, W], on the CPU
    similarity: dict[str, torch.Tensor] = field(default_factory=dict)  # method -> [steps, B] Spearman vs step 0
    targets: torch.Tensor | None = None  # [B] the class explained at every step

    def mean_similarity(self, method: str) -> list[float]:
        """Mean over images of the rank correlation with the trained model's map, per step."""
        if method not in self.similarity:
            raise ValueError(f"unknown method {method!r}: use one of {', '.join(self.similarity)}")
        return self.similarity[method].mean(1).tolist()

    def plot(self, title: str | None = None) -> Figure:
        """Rank correlation with the trained model's map against the number of layers randomised (mean ± sd)."""
        fig = Figure(figsize=(7.5, 3.6), layout="constrained")
        ax = fig.add_subplot()
        x = range(len(self.steps))
        for method, s in self.similarity.items():
            mean, sd = s.mean(1), s.std(1) if s.shape[1] > 1 else torch.zeros(len(s))
            ax.plot(x, mean, marker="o", label=method)
            ax.fill_between(x, mean - sd, mean + sd, alpha=0.15)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(list(x), ["trained", *[f"+ {s}" for s in self.steps[1:]]], rotation=60, ha="right",
                      fontsize=7)
        ax.set(xlabel="layers re-initialised, cumulatively from the output",
               ylabel="Spearman rank correlation\nwith the trained map", ylim=(-0.5, 1.05))
        ax.legend(fontsize=8)
        if title:
            ax.set_title(title, fontsize=9)
        return fig

    def plot_maps(self, images: torch.Tensor, index: int = 0, steps: Sequence[int] | None = None,
                  size: float = 1.2, title: str | None = None) -> Figure:
        """One image's maps along the cascade: a row per method, a column per step.

        Args:
            images: the images explained (raw or normalised).
            index: which image.
            steps: which steps to show (default: all).
            size: inches per panel.
            title: the figure's title.
        Returns:
            The figure.
        """
        if not 0 <= index < len(images):
            raise ValueError(f"index {index} is out of range: use 0..{len(images) - 1}")
        steps = list(range(len(self.steps))) if steps is None else list(steps)
        fig = Figure(figsize=(size * (len(steps) + 1), size * len(self.maps) + 0.5), layout="constrained")
        axes = fig.subplots(len(self.maps), len(steps) + 1, squeeze=False)
        img = images[index].detach().cpu().float()
        img = ((img - img.min()) / (img.max() - img.min()).clamp_min(1e-12)).permute(1, 2, 0).numpy()
        for r, (method, maps) in enumerate(self.maps.items()):
            axes[r, 0].imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray")
            axes[r, 0].set_ylabel(method, fontsize=8)
            for c, s in enumerate(steps, start=1):
                m = maps[s, index]
                m = (m - m.min()) / (m.max() - m.min()).clamp_min(1e-12)
                axes[r, c].imshow(m.numpy(), cmap="jet", vmin=0, vmax=1)
                if r == 0:
                    axes[r, c].set_title("trained" if s == 0 else f"+ {self.steps[s]}", fontsize=7)
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        if title:
            fig.suptitle(title, fontsize=9)
        return fig


def cascading_randomization(model: nn.Module, images: torch.Tensor, methods: Mapping[str, Callable[..., torch.Tensor]],
                            targets: object = None, layers: Sequence[str] | None = None,
                            seed: int = 0) -> SanityResult:
    """Adebayo et al.'s cascading randomisation test, on a copy of ``model`` (the model itself is not changed).

    Args:
        model: the trained classifier.
        images: a normalised batch on the model's device.
        methods: ``{name: explain(model, images, targets) -> [B, H, W]}``, e.g.
            ``{"Grad-CAM": lambda m, x, t: gradcam(m, x, "layer3", t)}``.
        targets: classes to explain (per image, or one for all); None = the trained model's predictions, kept
            fixed along the cascade.
        layers: module names to re-initialise, in order, cumulatively; default :func:`randomization_order`.
        seed: seeds the re-initialisation (step ``i`` uses ``seed + i``).
    Returns:
        A :class:`SanityResult`.
    Shape:
        images ``[B, C, H, W]``.
    """
    x = check_images(model, images)
    if not methods:
        raise ValueError("methods is empty: pass e.g. {'saliency': lambda m, x, t: saliency(m, x, t)}")
    work = copy.deepcopy(model)
    layers = randomization_order(work) if layers is None else list(layers)
    modules = [find_layer(work, name) for name in layers]        # one-line error for an unknown name
    with _EvalMode(work), torch.no_grad():
        k = work(x[:1]).shape[1]
    t = check_targets(targets, len(x), k)
    if t is None:
        with _EvalMode(work), torch.enable_grad():
            _, t = _class_scores(work, x, None)
    t = t.detach().cpu()
    maps: dict[str, list[torch.Tensor]] = {name: [] for name in methods}

    def explain_all() -> None:
        for name, fn in methods.items():
            m = fn(work, x, t.to(x.device)).detach().float().cpu()
            if m.shape != (len(x), *x.shape[-2:]):
                raise ValueError(f"method {name!r} returned {tuple(m.shape)}, expected [B, H, W] = "
                                 f"{(len(x), *x.shape[-2:])}")
            maps[name].append(m)

    explain_all()
    for i, module in enumerate(modules, start=1):
        reinitialize(module, seed + i)
        explain_all()
    stacked = {name: torch.stack(v) for name, v in maps.items()}
    sim = {name: torch.stack([spearman(m[0], m[s]) for s in range(len(m))]) for name, m in stacked.items()}
    return SanityResult(["trained", *layers], stacked, sim, t)
