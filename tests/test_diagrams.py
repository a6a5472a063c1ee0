"""diagrams: architecture figures are returned (never shown), readable, and drawn from the real models."""
from __future__ import annotations

import itertools
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from resnet_lib import diagrams
from resnet_lib.models import get_model

BUILDERS = {
    "residual_block": diagrams.residual_block_diagram,
    "basic_vs_bottleneck": diagrams.basic_vs_bottleneck_diagram,
    "nested": diagrams.nested_function_classes_diagram,
    **{f"stages_{m}": (lambda m=m: diagrams.stage_layout_diagram(m))
       for m in ("resnet18", "resnet50", "resnet20", "resnet56", "resnet110", "resnext50_32x4d", "preact_resnet164",
                 "plain20")},
}


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


@pytest.mark.parametrize("name", BUILDERS)
def test_every_diagram_is_a_readable_figure_with_alt_text(name):
    before = plt.get_fignums()
    fig = BUILDERS[name]()
    assert plt.get_fignums() == before  # built without pyplot: nothing left open
    assert isinstance(fig, Figure)
    assert isinstance(fig.alt_text, str) and len(fig.alt_text) > 40 and "\n" not in fig.alt_text
    w, h = fig.get_size_inches()
    assert w <= 11 and h <= 11
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    shown = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text() and t.get_visible()]
    assert len(shown) >= 8
    assert all(t.get_fontsize() >= 8 for t in shown), [(t.get_text(), t.get_fontsize()) for t in shown]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in shown]
    page = fig.bbox
    for text, b in boxes:  # every label on the page
        assert b.x0 >= page.x0 - 1 and b.x1 <= page.x1 + 1 and b.y0 >= page.y0 - 1 and b.y1 <= page.y1 + 1, text
    for (t1, b1), (t2, b2) in itertools.combinations(boxes, 2):  # and no two labels overlap
        assert not b1.overlaps(b2), f"{t1!r} overlaps {t2!r}"


def test_residual_block_labels():
    fig = diagrams.residual_block_diagram()
    t = texts(fig)
    assert t.count("weight layer\nconv 3×3 + BN") == 2 and t.count("ReLU") == 2
    for label in ("F(x)", "x (identity)", "F(x) + x", "x"):
        assert label in t
    assert len(fig.axes[0].patches) >= 6  # 2 weight layers, 2 ReLUs, the addition, the split point


def test_basic_vs_bottleneck_reads_the_real_blocks():
    t = texts(diagrams.basic_vs_bottleneck_diagram())
    assert t.count("3×3 conv, 64") == 3  # twice in the basic block, once in the bottleneck
    assert t.count("1×1 conv, 64") == 1 and t.count("1×1 conv, 256") == 1
    for label in ("64-d input", "256-d input", "64-d output", "256-d output", "identity\n(64-d)", "identity\n(256-d)"):
        assert label in t
    # 2 · 3·3·64·64 against 256·64 + 3·3·64·64 + 64·256: the bottleneck costs no more than the basic block
    assert "73,728 conv weights" in t and "69,632 conv weights" in t


def test_stage_layout_resnet50():
    fig = diagrams.stage_layout_diagram("resnet50")
    t = texts(fig)
    assert [s for s in t if re.fullmatch(r"layer\d", s)] == ["layer1", "layer2", "layer3", "layer4"]
    for n, planes, out in ((3, 64, "256 × 56 × 56"), (4, 128, "512 × 28 × 28"), (6, 256, "1024 × 14 × 14"),
                           (3, 512, "2048 × 7 × 7")):
        assert f"{n} × Bottleneck\n[1×1, {planes}; 3×3, {planes}; 1×1, {4 * planes}]" in t
        assert out in t
    assert [s for s in t if s.startswith("×")] == ["×3", "×4", "×6", "×3"]
    assert "conv 7×7, 64, stride 2 + BN + ReLU  (112 × 112)\nmax-pool 3×3, stride 2" in t
    assert "3 × 224 × 224" in t and "64 × 56 × 56" in t and "1000 scores" in t
    assert any("50 weighted layers, 25.56 M parameters" in s for s in t)
    assert "layer4: 3 blocks, output 2048 × 7 × 7" in fig.alt_text
    squares = [p for p in fig.axes[0].patches if type(p).__name__ == "Rectangle"]
    assert len(squares) == 3 + 4 + 6 + 3 + 1  # one per block, and the legend's


def test_stage_layout_resnet20_cifar():
    fig = diagrams.stage_layout_diagram("resnet20")
    t = texts(fig)
    assert [s for s in t if re.fullmatch(r"layer\d", s)] == ["layer1", "layer2", "layer3"]
    for w, out in ((16, "16 × 32 × 32"), (32, "32 × 16 × 16"), (64, "64 × 8 × 8")):
        assert f"3 × BasicBlock\n[3×3, {w}; 3×3, {w}]" in t and out in t
    assert [s for s in t if s.startswith("×")] == ["×3"] * 3
    assert "conv 3×3, 16 + BN + ReLU" in t and "3 × 32 × 32" in t and "10 scores" in t
    assert not any("max-pool" in s or "conv2_x" in s for s in t)
    assert any("20 weighted layers" in s for s in t)


def test_stage_layout_long_stages_are_elided_and_input_size_is_used():
    t = texts(diagrams.stage_layout_diagram("resnet110"))
    assert t.count("…") == 3 and t.count("×18") == 3
    t = texts(diagrams.stage_layout_diagram("resnet18", input_size=64))
    assert "3 × 64 × 64" in t and "512 × 2 × 2" in t


@pytest.mark.parametrize("name,size", [("resnet18", 224), ("resnet20", 32)])
def test_stage_layout_matches_a_real_forward_pass(name, size):
    # the diagram's shapes come from the meta device: check them against real tensors
    model = get_model(name).eval()
    shapes = {}
    for s in ("layer1", "layer2", "layer3", "layer4"):
        if hasattr(model, s):
            getattr(model, s).register_forward_hook(lambda _m, _i, out, s=s: shapes.__setitem__(s, out.shape[1:]))
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    t = texts(diagrams.stage_layout_diagram(name))
    for s, shape in shapes.items():
        assert " × ".join(map(str, shape)) in t, (s, shape)
        assert f"×{len(getattr(model, s))}" in t


def test_stage_layout_rejects_bad_names_and_sizes():
    with pytest.raises(ValueError, match="allowed: .*resnet20.*resnet50") as err:
        diagrams.stage_layout_diagram("resnet51")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="input_size"):
        diagrams.stage_layout_diagram("resnet18", input_size=16)


def _inside(small: Ellipse, big: Ellipse) -> bool:
    t = np.linspace(0, 2 * np.pi, 400)
    boundary = small.get_patch_transform().transform(np.c_[np.cos(t), np.sin(t)])
    unit = big.get_patch_transform().inverted().transform(boundary)
    return bool(np.all(np.hypot(unit[:, 0], unit[:, 1]) < 1.0))


def test_nested_function_classes():
    before = plt.get_fignums()
    fig = diagrams.nested_function_classes_diagram()
    assert plt.get_fignums() == before
    left, right = fig.axes
    for ax in (left, right):
        labels = [t.get_text() for t in ax.texts]
        assert [s for s in labels if s.startswith("$\\mathcal{F}_")] == [f"$\\mathcal{{F}}_{k}$" for k in (1, 2, 3)]
        assert "$f^*$" in labels
    assert any(t.get_text().startswith("non-nested:") for t in left.texts)
    assert any(t.get_text().startswith("nested:") for t in right.texts)
    ell_left = [p for p in left.patches if isinstance(p, Ellipse) and p.get_fill()]
    ell_right = [p for p in right.patches if isinstance(p, Ellipse) and p.get_fill()]
    assert len(ell_left) == len(ell_right) == 3
    # right: F1 ⊂ F2 ⊂ F3; left: no class contains the one before it
    assert _inside(ell_right[0], ell_right[1]) and _inside(ell_right[1], ell_right[2])
    assert not _inside(ell_left[0], ell_left[1]) and not _inside(ell_left[1], ell_left[2])
    d_non, d_nest = fig.distances["non-nested"], fig.distances["nested"]
    assert d_non[2] > d_non[1]                     # the bigger class moved away from f*
    assert d_nest[0] > d_nest[1] > d_nest[2] > 0   # nested: each bigger class is closer
