"""Architecture diagrams drawn with matplotlib: each function returns a ``Figure`` (never shown, no pyplot state).

Like :mod:`resnet_lib.plots`, nothing here trains or touches a device. Every figure carries a short text
alternative for screen readers in the attribute ``fig.alt_text`` (a one- or two-sentence ``str``), so a chapter can
pass it on, e.g. ``display(Image(...), metadata={"alt": fig.alt_text})`` or into a MyST ``:alt:`` option::

    fig = rl.diagrams.stage_layout_diagram("resnet50")
    fig.alt_text   # 'Stage layout of resnet50 (224×224 input): stem conv 7×7, 64, stride 2 ...'

The stage layout is read off the real model (block counts, widths and strides from
:func:`resnet_lib.models.registry.get_model`, output shapes from a forward pass on PyTorch's ``meta`` device, which computes
shapes without allocating or computing anything), so it cannot drift from the library.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Ellipse, FancyBboxPatch, Rectangle

# one colour per role, the same in every diagram
_WEIGHT = ("#dbe8f5", "#2c5d8f")    # (face, edge) of a weight layer (conv + BN)
_RELU = ("#fde7cf", "#b86a1b")      # nonlinearity
_POOL = ("#e4f1df", "#3f7a35")      # pooling / fc / input
_SHORTCUT = "#b03a2e"               # the shortcut path and its label
_TEXT = "#1a1a1a"
_FONT = 9.5                          # body text (pt); nothing below 8 pt


def _canvas(figsize: tuple[float, float], xlim: tuple[float, float], ylim: tuple[float, float]) -> tuple[Figure, Axes]:
    fig = Figure(figsize=figsize, layout="constrained")  # no pyplot: nothing global, nothing shown
    ax = fig.add_subplot()
    _blank(ax, xlim, ylim)
    return fig, ax


def _blank(ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()


def _box(ax: Axes, cx: float, cy: float, w: float, h: float, text: str, colors: tuple[str, str] = _WEIGHT,
         fontsize: float = _FONT, **text_kw: Any) -> FancyBboxPatch:
    pad = min(w, h) * 0.12
    patch = FancyBboxPatch((cx - w / 2 + pad, cy - h / 2 + pad), w - 2 * pad, h - 2 * pad,
                           boxstyle=f"round,pad={pad}", facecolor=colors[0], edgecolor=colors[1], linewidth=1.3)
    ax.add_patch(patch)
    if text:
        ax.text(cx, cy, text, ha="center", va="center", fontsize=fontsize, color=_TEXT, linespacing=1.25, **text_kw)
    return patch


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], color: str = _TEXT, lw: float = 1.3) -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops={"arrowstyle": "-|>,head_length=0.5,head_width=0.25", "color": color, "lw": lw,
                            "shrinkA": 0, "shrinkB": 0})


def _path_arrow(ax: Axes, points: Sequence[tuple[float, float]], color: str = _SHORTCUT, lw: float = 1.6) -> None:
    """A polyline whose last segment ends in an arrow head (used for shortcuts)."""
    xs, ys = zip(*points[:-1])
    ax.plot(xs, ys, color=color, lw=lw, solid_capstyle="round", solid_joinstyle="round")
    _arrow(ax, points[-2], points[-1], color=color, lw=lw)


def _add(ax: Axes, cx: float, cy: float, r: float) -> None:
    ax.add_patch(Circle((cx, cy), r, facecolor="white", edgecolor=_TEXT, linewidth=1.3, zorder=3))
    ax.plot([cx - 0.6 * r, cx + 0.6 * r], [cy, cy], color=_TEXT, lw=1.3, zorder=4)
    ax.plot([cx, cx], [cy - 0.6 * r, cy + 0.6 * r], color=_TEXT, lw=1.3, zorder=4)


def _dot(ax: Axes, x: float, y: float, color: str = _TEXT) -> None:
    ax.add_patch(Circle((x, y), 0.09, color=color, zorder=4))


# ---------------------------------------------------------------- 1. the residual block

def residual_block_diagram() -> Figure:
    """The residual block: two weight layers compute F(x), the identity shortcut adds x, a ReLU follows the sum.

    Drawn left to right: input ``x`` → weight layer (conv 3×3 + BN) → ReLU → weight layer (conv 3×3 + BN) →
    ⊕ (adds the identity shortcut) → ReLU. The idea of He et al. (2016), Fig. 2, in our own drawing.

    Returns:
        The figure, with its text alternative in ``fig.alt_text``.
    """
    fig, ax = _canvas((9.6, 2.9), (-0.4, 20.9), (-2.1, 2.9))
    y, h = 0.0, 1.7
    ax.text(0.0, y, "x", ha="center", va="center", fontsize=_FONT + 3, style="italic")
    split = 1.4
    _arrow(ax, (0.35, y), (split, y))
    _dot(ax, split, y, _SHORTCUT)
    _arrow(ax, (split, y), (2.2, y))
    _box(ax, 3.9, y, 3.4, h, "weight layer\nconv 3×3 + BN")
    _arrow(ax, (5.6, y), (6.3, y))
    _box(ax, 7.1, y, 1.6, h * 0.75, "ReLU", _RELU)
    _arrow(ax, (7.9, y), (8.6, y))
    _box(ax, 10.3, y, 3.4, h, "weight layer\nconv 3×3 + BN")
    plus_x, r = 14.0, 0.42
    _arrow(ax, (12.0, y), (plus_x - r, y))
    ax.text(12.75, y + 0.3, "F(x)", ha="center", va="bottom", fontsize=_FONT + 1, style="italic")
    _add(ax, plus_x, y, r)
    _arrow(ax, (plus_x + r, y), (17.0, y))
    ax.text((plus_x + r + 17.0) / 2, y + 0.3, "F(x) + x", ha="center", va="bottom", fontsize=_FONT + 1,
            style="italic")
    _box(ax, 17.8, y, 1.6, h * 0.75, "ReLU", _RELU)
    _arrow(ax, (18.6, y), (19.5, y))
    ax.text(19.6, y, "out", ha="left", va="center", fontsize=_FONT)
    # the identity shortcut: up from the split point, across, down into the addition
    top = 2.2
    _path_arrow(ax, [(split, y), (split, top), (plus_x, top), (plus_x, y + r)])
    ax.text((split + plus_x) / 2, top + 0.2, "x (identity)", ha="center", va="bottom", fontsize=_FONT + 1,
            color=_SHORTCUT)
    # a bracket under the residual branch
    lo = -1.25
    ax.plot([2.2, 2.2, 12.0, 12.0], [lo + 0.25, lo, lo, lo + 0.25], color="#555555", lw=1.0)
    ax.text(7.1, lo - 0.2, "residual branch F(x): the layers learn only the change to x", ha="center", va="top",
            fontsize=_FONT, color="#333333")
    fig.alt_text = ("Diagram of a residual block: input x passes through a weight layer (conv 3×3 + BN), a ReLU and "
                    "a second weight layer, giving F(x); an identity shortcut carries x around both layers to an "
                    "addition, and a ReLU is applied to F(x) + x.")
    return fig


# ---------------------------------------------------------------- 2. basic vs bottleneck

def _branch(block: Any) -> list[Any]:
    """The convolutions on a block's main path (not its shortcut), in order."""
    import torch.nn as nn

    return [m for n, m in block.named_modules() if isinstance(m, nn.Conv2d) and "downsample" not in n.split(".")]


def _draw_block_column(ax: Axes, cx: float, title: str, in_ch: int, convs: Sequence[Any], top: float) -> float:
    """One block drawn top to bottom at column ``cx``; returns the lowest y used."""
    w, h, step = 3.0, 0.85, 1.55
    ax.text(cx, top + 1.75, title, ha="center", va="bottom", fontsize=_FONT + 1, weight="bold")
    ax.text(cx, top + 1.3, f"{in_ch}-d input", ha="center", va="center", fontsize=_FONT)
    split = top + 0.45
    _arrow(ax, (cx, top + 1.05), (cx, split))
    _dot(ax, cx, split, _SHORTCUT)
    y = split
    for i, c in enumerate(convs):
        centre = y - 0.45 - h / 2 if i == 0 else y - step
        _arrow(ax, (cx, (y if i == 0 else y - h / 2)), (cx, centre + h / 2))
        k = f"{c.kernel_size[0]}×{c.kernel_size[1]}"
        _box(ax, cx, centre, w, h, f"{k} conv, {c.out_channels}")
        if i < len(convs) - 1:
            ax.text(cx + 0.18, centre - step / 2, "ReLU", ha="left", va="center", fontsize=_FONT - 1,
                    color=_RELU[1])
        y = centre
    plus, r = y - h / 2 - 0.75, 0.3
    _arrow(ax, (cx, y - h / 2), (cx, plus + r))
    _add(ax, cx, plus, r)
    _arrow(ax, (cx, plus - r), (cx, plus - 0.95))
    ax.text(cx + 0.18, plus - 0.55, "ReLU", ha="left", va="center", fontsize=_FONT - 1, color=_RELU[1])
    out_ch = convs[-1].out_channels
    ax.text(cx, plus - 1.2, f"{out_ch}-d output", ha="center", va="center", fontsize=_FONT)
    # identity shortcut on the right
    side = cx + w / 2 + 0.55
    _path_arrow(ax, [(cx, split), (side, split), (side, plus), (cx + r, plus)])
    ax.text(side + 0.12, (split + plus) / 2, f"identity\n({in_ch}-d)", ha="left", va="center",
            fontsize=_FONT - 0.5, color=_SHORTCUT)
    weights = sum(c.weight.numel() for c in convs)
    ax.text(cx, plus - 1.7, f"{weights:,} conv weights", ha="center", va="center", fontsize=_FONT - 0.5,
            color="#333333")
    return plus - 2.0


def basic_vs_bottleneck_diagram() -> Figure:
    """The two residual blocks side by side, as built by :mod:`resnet_lib.models.blocks`.

    Left: :class:`~resnet_lib.models.blocks.BasicBlock` on a 64-d input (3×3, 64 → 3×3, 64; ResNet-18/34). Right:
    :class:`~resnet_lib.models.blocks.Bottleneck` on a 256-d input (1×1, 64 → 3×3, 64 → 1×1, 256; ResNet-50/101/152).
    Kernel sizes, channel counts and conv weight counts are read from real blocks; each has its identity shortcut.
    The idea of He et al. (2016), Fig. 5, in our own drawing.

    Returns:
        The figure, with its text alternative in ``fig.alt_text``.
    """
    from .models import BasicBlock, Bottleneck

    basic, bottleneck = BasicBlock(64, 64), Bottleneck(256, 64)
    cb, cn = _branch(basic), _branch(bottleneck)
    fig, ax = _canvas((8.0, 5.9), (-0.6, 13.6), (-7.75, 2.6))
    _draw_block_column(ax, 2.6, "basic block (ResNet-18/34)", cb[0].in_channels, cb, 0.0)
    _draw_block_column(ax, 9.6, "bottleneck (ResNet-50/101/152)", cn[0].in_channels, cn, 0.0)
    ax.text(6.5, -7.65, "each conv is followed by BN; every block adds its input back before the last ReLU",
            ha="center", va="bottom", fontsize=_FONT - 0.5, color="#333333")

    def spec(convs: Sequence[Any]) -> str:
        return " → ".join(f"{c.kernel_size[0]}×{c.kernel_size[1]}, {c.out_channels}" for c in convs)

    fig.alt_text = (f"Two residual blocks side by side. Left, the basic block on a {cb[0].in_channels}-d input: "
                    f"{spec(cb)}, with an identity shortcut. Right, the bottleneck block on a "
                    f"{cn[0].in_channels}-d input: {spec(cn)}, with an identity shortcut; the 1×1 layers reduce "
                    f"and then restore the channels so the 3×3 layer works on {cn[1].in_channels}.")
    return fig


# ---------------------------------------------------------------- 3. the stage layout of a real network

def _stage_info(model_name: str, input_size: int | None) -> dict[str, Any]:
    """Everything the stage diagram shows, read off the model and a forward pass on the meta device."""
    import torch
    import torch.nn as nn

    from . import models
    from .family import block_spec, weighted_layers

    with torch.device("meta"):  # shapes only: no memory, no arithmetic, no weight init cost
        model = models.get_model(model_name)
    model.eval()
    size = input_size or (224 if isinstance(model, models.ResNet) else 32)
    stages = [s for s in ("layer1", "layer2", "layer3", "layer4") if isinstance(getattr(model, s, None), nn.Sequential)]
    watch = ["conv1", "maxpool", *stages, "avgpool", "fc"]
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [getattr(model, n).register_forward_hook(
        lambda _m, _i, out, n=n: shapes.__setitem__(n, tuple(out.shape[1:])))
        for n in watch if hasattr(model, n)]
    try:
        with torch.no_grad():
            model(torch.empty(1, model.in_channels, size, size, device="meta"))
    finally:
        for hd in handles:
            hd.remove()
    rows = []
    for s in stages:
        layer = getattr(model, s)
        convs = _branch(layer[0])
        groups = max(c.groups for c in convs)
        spec = block_spec(layer[-1])
        if groups > 1:
            spec += f", 3×3 in {groups} groups"
        rows.append({"name": s, "blocks": len(layer), "block": type(layer[0]).__name__, "spec": spec,
                     "stride": int(np.prod([c.stride[0] for c in convs])),
                     "shortcut": type(layer[0].downsample).__name__ if layer[0].downsample is not None else None,
                     "out": shapes[s]})
    stem = model.conv1
    return {"model": model_name, "size": size, "in_channels": model.in_channels, "imagenet": hasattr(model, "maxpool"),
            "residual": getattr(model, "residual", True), "preact": getattr(model, "preact", False),
            "stem": {"kernel": stem.kernel_size[0], "stride": stem.stride[0], "out": shapes["conv1"]},
            "pool": ({"kernel": model.maxpool.kernel_size, "stride": model.maxpool.stride, "out": shapes["maxpool"]}
                     if hasattr(model, "maxpool") else None),
            "stages": rows, "classes": shapes["fc"][0], "features": shapes["avgpool"][0],
            "layers": weighted_layers(model), "params": sum(p.numel() for p in model.parameters())}


def _shape(s: Sequence[int]) -> str:
    return " × ".join(str(v) for v in s)


def stage_layout_diagram(model_name: str, input_size: int | None = None) -> Figure:
    """The stage layout of a network from the model zoo, read off the real model so that it cannot drift.

    One row of labelled boxes per stage: the stem (7×7 conv + max-pool for the ImageNet layout, a 3×3 conv for
    the CIFAR layout), each stage (``layer1`` ...) with its block, its number of blocks (one small square each;
    the darker one halves H×W) and its output shape C × H × W, then global average pooling and the fc layer.

    Args:
        model_name: a name from :func:`resnet_lib.models.registry.list_models`, e.g. ``"resnet18"``, ``"resnet50"``,
            ``"resnet20"``, ``"resnet56"``.
        input_size: side of the square input image; default 224 for the ImageNet layout, 32 for CIFAR.
    Returns:
        The figure, with its text alternative in ``fig.alt_text``.
    Raises:
        ValueError: unknown ``model_name`` (the message lists the allowed names) or a bad ``input_size``.
    """
    from .models import list_models

    allowed = list_models()
    if model_name not in allowed:
        raise ValueError(f"stage_layout_diagram: unknown model {model_name!r}; allowed: {', '.join(allowed)}")
    if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 32):
        raise ValueError(f"input_size must be an int >= 32 (or None for the default), got {input_size!r}")
    info = _stage_info(model_name, input_size)
    rows = 3 + len(info["stages"])  # input, stem, stages, head
    step = 1.15
    height = rows * step + 1.3
    fig, ax = _canvas((9.8, 0.9 * height), (-0.1, 11.3), (-rows * step + 0.2, 1.3))
    cx, w, h = 4.1, 4.2, 0.85               # spec boxes: centre, width, height
    sq_x0, sq_w = 6.45, 0.2                 # block squares
    out_x = 9.4
    kind = "ImageNet" if info["imagenet"] else "CIFAR"
    title = (f"{model_name}: {kind} layout, {info['size']}×{info['size']} input, {info['layers']} weighted layers, "
             f"{info['params'] / 1e6:.2f} M parameters" + ("" if info["residual"] else " (plain: no shortcuts)"))
    ax.text(5.6, 1.15, title, ha="center", va="top", fontsize=_FONT + 0.5, weight="bold")
    for x, label in ((0.85, "stage"), (cx, "layers"), (sq_x0 + 0.9, "blocks"), (out_x + 0.7, "output C × H × W")):
        ax.text(x, 0.45, label, ha="center", va="center", fontsize=_FONT, color="#555555", style="italic")

    def row(i: int, name: str, sub: str | None, text: str, colors: tuple[str, str], out: str) -> float:
        y = -i * step - 0.35
        ax.text(0.85, y + (0.13 if sub else 0), name, ha="center", va="center", fontsize=_FONT + 0.5, weight="bold")
        if sub:
            ax.text(0.85, y - 0.22, sub, ha="center", va="center", fontsize=_FONT - 1, color="#555555")
        _box(ax, cx, y, w, h, text, colors, fontsize=_FONT - 0.5)
        ax.text(out_x + 0.7, y, out, ha="center", va="center", fontsize=_FONT)
        if i:
            _arrow(ax, (cx, y + step - h / 2), (cx, y + h / 2))
        return y

    row(0, "input", None, "image", _POOL, _shape((info["in_channels"], info["size"], info["size"])))
    st = info["stem"]
    stem_text = f"conv {st['kernel']}×{st['kernel']}, {st['out'][0]}"
    stem_text += (f", stride {st['stride']}" if st["stride"] > 1 else "") + ("" if info["preact"] else " + BN + ReLU")
    out = st["out"]
    if info["pool"]:
        p = info["pool"]
        stem_text += f"  ({_shape(out[1:])})\nmax-pool {p['kernel']}×{p['kernel']}, stride {p['stride']}"
        out = p["out"]
    row(1, "stem", "conv1", stem_text, _WEIGHT, _shape(out))
    cap = 8
    for j, s in enumerate(info["stages"]):
        paper = f"conv{j + 2}_x" if info["imagenet"] else None
        label = f"{s['blocks']} × {s['block']}\n{s['spec']}"
        y = row(2 + j, s["name"], paper, label, _WEIGHT, _shape(s["out"]))
        n = s["blocks"]
        shown = list(range(n)) if n <= cap else [*range(cap - 2), None, n - 1]
        for k, b in enumerate(shown):
            x = sq_x0 + k * (sq_w + 0.02)
            if b is None:
                ax.text(x + sq_w / 2, y, "…", ha="center", va="center", fontsize=_FONT)
                continue
            dark = b == 0 and s["stride"] > 1
            ax.add_patch(Rectangle((x, y - 0.2), sq_w, 0.4, facecolor=_WEIGHT[1] if dark else _WEIGHT[0],
                                   edgecolor=_WEIGHT[1], linewidth=0.8))
        ax.text(sq_x0 + len(shown) * (sq_w + 0.02) + 0.05, y, f"×{n}", ha="left", va="center", fontsize=_FONT)
    head = f"global avg-pool → {info['features']}\nfc → {info['classes']}"
    if info["preact"]:  # pre-activation nets normalise once more before pooling
        head = "BN + ReLU, " + head
    y_head = row(2 + len(info["stages"]), "head", "avgpool, fc", head, _POOL, f"{info['classes']} scores")
    ax.add_patch(Rectangle((sq_x0, y_head - 0.15), sq_w, 0.3, facecolor=_WEIGHT[1], edgecolor=_WEIGHT[1]))
    ax.text(sq_x0 + sq_w + 0.1, y_head, "stride-2 block\n(halves H × W)", ha="left", va="center",
            fontsize=_FONT - 1, color="#333333")

    stem_alt = f"stem conv {st['kernel']}×{st['kernel']}, {st['out'][0]}" + (
        f", stride {st['stride']}" if st["stride"] > 1 else "") + (
        f", then max-pool to {_shape(info['pool']['out'])}" if info["pool"] else "")
    stages_alt = "; ".join(f"{s['name']}: {s['blocks']} blocks, output {_shape(s['out'])}" for s in info["stages"])
    fig.alt_text = (f"Stage layout of {model_name} ({info['size']}×{info['size']} input): {stem_alt}; {stages_alt}; "
                    f"then global average pooling and a fully connected layer to {info['classes']} classes.")
    return fig


# ---------------------------------------------------------------- 4. nested function classes

def _closest(e: Ellipse, p: tuple[float, float]) -> tuple[float, float]:
    """The point of ellipse ``e`` (boundary or inside) closest to ``p``, by dense sampling."""
    t = np.linspace(0, 2 * np.pi, 2000)
    a, b, th = e.width / 2, e.height / 2, np.deg2rad(e.angle)
    x = e.center[0] + a * np.cos(t) * np.cos(th) - b * np.sin(t) * np.sin(th)
    y = e.center[1] + a * np.cos(t) * np.sin(th) + b * np.sin(t) * np.cos(th)
    i = int(np.argmin((x - p[0]) ** 2 + (y - p[1]) ** 2))
    return float(x[i]), float(y[i])


def _classes_panel(ax: Axes, ellipses: Sequence[tuple[tuple[float, float], float, float, float]],
                   label_at: Sequence[tuple[float, float]], target: tuple[float, float], title: str,
                   note: str) -> list[float]:
    colors = ("#2c5d8f", "#3f7a35", "#b86a1b")
    _blank(ax, (-3.2, 3.2), (-3.3, 2.9))
    dists = []
    for k, ((c, w, h, ang), lab) in enumerate(zip(ellipses, label_at)):
        e = Ellipse(c, w, h, angle=ang, facecolor=colors[k], alpha=0.13, edgecolor=colors[k], linewidth=1.8)
        ax.add_patch(e)
        ax.add_patch(Ellipse(c, w, h, angle=ang, fill=False, edgecolor=colors[k], linewidth=1.8))
        ax.text(*lab, f"$\\mathcal{{F}}_{k + 1}$", ha="center", va="center", fontsize=_FONT + 3, color=colors[k])
        q = _closest(e, target)
        dists.append(float(np.hypot(q[0] - target[0], q[1] - target[1])))
        ax.plot([q[0], target[0]], [q[1], target[1]], ls=(0, (3, 2)), color=colors[k], lw=1.2)
        ax.plot(*q, "o", color=colors[k], ms=5)
    ax.plot(*target, marker="*", ms=15, color=_SHORTCUT, zorder=5)
    ax.text(target[0] + 0.22, target[1] + 0.12, "$f^*$", ha="left", va="bottom", fontsize=_FONT + 3, color=_SHORTCUT)
    ax.text(0, 2.85, title, ha="center", va="top", fontsize=_FONT + 1.5, weight="bold")
    ax.text(0, -2.75, note, ha="center", va="top", fontsize=_FONT, color="#333333", linespacing=1.3)
    return dists


def nested_function_classes_diagram() -> Figure:
    """Nested versus non-nested function classes, and how close each gets to the target function f*.

    Left: non-nested classes F1 ⊄ F2 ⊄ F3; the best function in the bigger class F3 (dot at the end of the dashed
    line) can be farther from f* than the best in F2. Right: nested classes F1 ⊂ F2 ⊂ F3, as when each added block
    can be the identity (a residual block with F(x) = 0); a bigger class is never farther from f*. The idea of the
    d2l.ai chapter on ResNets, drawn our own way.

    Returns:
        The figure, with its text alternative in ``fig.alt_text``; ``fig.distances`` holds the distances from f* to
        the closest point of F1, F2, F3, ``{"non-nested": [...], "nested": [...]}``.
    """
    fig = Figure(figsize=(9.6, 4.9), layout="constrained")
    left, right = fig.subplots(1, 2)
    target = (-1.55, 1.45)
    d_non = _classes_panel(
        left, [((-0.15, -0.55), 2.1, 1.4, 20), ((-0.95, 0.3), 1.9, 1.6, -10), ((1.15, -0.25), 2.6, 3.5, 15)],
        [(-0.55, -0.9), (-1.15, 0.3), (1.75, 0.2)], target,
        "non-nested: $\\mathcal{F}_1 \\nsubset \\mathcal{F}_2 \\nsubset \\mathcal{F}_3$",
        "a bigger class can move away from $f^*$:\nthe best function in $\\mathcal{F}_3$ is farther than in "
        "$\\mathcal{F}_2$")
    d_nest = _classes_panel(
        right, [((0.8, -0.75), 1.4, 1.0, 20), ((0.55, -0.45), 2.8, 2.1, 25), ((0.1, -0.15), 4.5, 3.5, 30)],
        [(0.8, -0.75), (1.1, 0.25), (0.25, 1.1)], target,
        "nested: $\\mathcal{F}_1 \\subset \\mathcal{F}_2 \\subset \\mathcal{F}_3$",
        "a block that can be the identity keeps the old class:\neach bigger class gets closer to $f^*$")
    fig.distances = {"non-nested": d_non, "nested": d_nest}
    fig.alt_text = ("Two panels of function classes drawn as ellipses, with the target function f* marked by a star. "
                    "Left, non-nested classes F1, F2, F3 that overlap without containing each other: the largest, "
                    "F3, ends up farther from f* than F2. Right, nested classes F1 inside F2 inside F3: each larger "
                    "class contains the previous one and gets closer to f*.")
    return fig
