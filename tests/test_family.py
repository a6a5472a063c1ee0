"""resnet_lib.family: the paper's Table 1 generated from the zoo, checked against torchvision and hand counts."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from resnet_lib import family, models
from resnet_lib.models import BasicBlock, Bottleneck, make_shortcut


def _tv_macs(model: nn.Module, size: tuple[int, ...]) -> int:
    """Independent reference: torchvision's model, counted directly with torch's FlopCounterMode (FLOPs = 2 MACs)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(size))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("name, depth", [("resnet18", 18), ("resnet34", 34), ("resnet50", 50), ("resnet101", 101),
                                         ("resnet152", 152)])
def test_weighted_layers_match_the_names(name: str, depth: int) -> None:
    assert family.weighted_layers(getattr(torchvision.models, name)()) == depth  # reference implementation
    assert family.weighted_layers(models.get_model(name)) == depth


def test_weighted_layers_ignore_shortcuts() -> None:
    # option C adds a projection to every block; depth as the paper counts it does not change
    assert family.weighted_layers(models.resnet34(shortcut="C")) == 34
    assert family.weighted_layers(models.CifarResNet(depth=20, shortcut="C")) == 20


def test_block_spec_reads_the_residual_branch() -> None:
    assert family.block_spec(Bottleneck(256, 64)) == "[1×1, 64; 3×3, 64; 1×1, 256]"
    block = BasicBlock(64, 128, 2, make_shortcut("B", 64, 128, 2))  # the projection is not part of the spec
    assert family.block_spec(block) == "[3×3, 128; 3×3, 128]"


def test_stage_layout_of_resnet50() -> None:
    layout = family.stage_layout(models.resnet50())
    assert [n for _, n in layout] == [3, 4, 6, 3]
    assert layout[3][0] == "[1×1, 512; 3×3, 512; 1×1, 2048]"


def test_family_row_against_torchvision_and_hand_count() -> None:
    (row,) = family.family_table(("resnet18",), input_size=(2, 3, 64, 64))
    ref = torchvision.models.resnet18()
    assert row["params"] == sum(p.numel() for p in ref.parameters()) == 11_689_512
    assert row["macs"] == _tv_macs(ref, (1, 3, 64, 64))  # per image, although the batch was 2
    # the stem alone, by hand: 7·7·3·64 weights at 32×32 output positions
    assert row["macs"] > 7 * 7 * 3 * 64 * 32 * 32
    assert row["blocks"] == [2, 2, 2, 2] and row["layers"] == 18 and row["paper_gflops"] == 1.8
    assert row["stages"][0] == "[3×3, 64; 3×3, 64] × 2"


def test_stride_in_1x1_is_passed_to_the_models() -> None:
    size = (1, 3, 64, 64)
    (v15,) = family.family_table(("resnet50",), input_size=size)
    (v1,) = family.family_table(("resnet50",), input_size=size, stride_in_1x1=True)
    assert v15["macs"] == _tv_macs(torchvision.models.resnet50(), size)
    # the stride-2 1×1 of stages 2-4 runs on a quarter of the positions: 3/4 · C_in · w · R² saved per stage
    saved = sum(3 * c_in * w * r * r // 4 for c_in, w, r in [(256, 128, 16), (512, 256, 8), (1024, 512, 4)])
    assert v15["macs"] - v1["macs"] == saved
    assert v15["params"] == v1["params"]


def test_bad_input_raises_value_error() -> None:
    with pytest.raises(ValueError, match="N, C, H, W"):
        family.family_table(("resnet18",), input_size=(3, 224, 224))
    with pytest.raises(ValueError, match="ImageNet-layout"):
        family.stage_layout(models.CifarResNet(depth=20))
    with pytest.raises(ValueError, match="no convolution"):
        family.block_spec(nn.ReLU())
    with pytest.raises(ValueError, match="build function"):
        family.family_table(("resnet18",), build=models.resnet18, stride_in_1x1=True)
