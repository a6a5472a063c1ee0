"""check_block passes correct blocks and catches the usual mistakes with a message that says what to fix."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from resnet_lib.models import BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck, conv3x3, make_shortcut
from resnet_lib.checks import BlockCheckError, check_block

pytestmark = pytest.mark.usefixtures("single_thread")


class ExerciseBlock(nn.Module):
    """A reader's basic block with switchable mistakes."""

    def __init__(self, cin: int, cout: int, stride: int = 1, mistake: str | None = None) -> None:
        super().__init__()
        self.mistake = mistake
        self.conv1 = conv3x3(cin, cout, 1 if mistake == "stride" else stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = make_shortcut("A", cin, cout, 1 if mistake == "stride" else stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mistake == "detach":
            x = x.detach()
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.mistake != "no_shortcut":
            out = out + (x if self.shortcut is None else self.shortcut(x))
        return out if self.mistake == "no_final_relu" else F.relu(out)


@pytest.mark.parametrize("block,args", [
    (BasicBlock(16, 16), dict(in_channels=16)),
    (BasicBlock(16, 32, 2, make_shortcut("B", 16, 32, 2)), dict(in_channels=16, out_channels=32, stride=2)),
    (Bottleneck(16, 8, 2, make_shortcut("B", 16, 32, 2)), dict(in_channels=16, out_channels=32, stride=2)),
    (PreActBasicBlock(16, 32, 2, make_shortcut("B", 16, 32, 2, preact=True)),
     dict(in_channels=16, out_channels=32, stride=2)),
    (PreActBottleneck(16, 4), dict(in_channels=16)),
    (ExerciseBlock(16, 32, 2), dict(in_channels=16, out_channels=32, stride=2)),
])
def test_correct_blocks_pass(block, args, capsys):
    check_block(block, **args)
    out = capsys.readouterr().out
    assert out.startswith("check_block: all checks passed") and "identity" in out


def test_rules_reported_for_post_and_pre_activation(capsys):
    check_block(BasicBlock(8, 8), 8)
    assert "block(x) == relu(shortcut(x)) with bn2 zeroed" in capsys.readouterr().out
    check_block(PreActBasicBlock(8, 8), 8)
    assert "block(x) == shortcut(x) with conv2 zeroed" in capsys.readouterr().out


@pytest.mark.parametrize("mistake,match", [
    ("stride", r"output shape \(2, 32, 8, 8\) != \(2, 32, 4, 4\).*stride=2"),
    ("no_shortcut", r"should return relu\(shortcut\(x\)\).*out = F\(x\) \+ shortcut\(x\)"),
    ("detach", "no gradient reaches the input"),
    ("no_final_relu", "final ReLU after the addition"),
])
def test_broken_blocks_are_caught(mistake, match):
    with pytest.raises(BlockCheckError, match=match):
        check_block(ExerciseBlock(16, 32, 2, mistake), 16, 32, stride=2, verbose=False)


def test_mismatched_shortcut_and_unused_layer():
    with pytest.raises(BlockCheckError, match="the block failed on an input of shape .*same stride"):
        check_block(BasicBlock(16, 32, 2), 16, 32, stride=2)  # no downsample although the shape changes
    block = BasicBlock(8, 8)
    block.conv3 = conv3x3(8, 8)  # defined, never used
    with pytest.raises(BlockCheckError, match="no gradient: conv3.weight"):
        check_block(block, 8)


def test_block_check_error_is_an_assertion_error_and_block_is_untouched():
    assert issubclass(BlockCheckError, AssertionError)
    block = Bottleneck(16, 4).train()
    before = {k: v.clone() for k, v in block.state_dict().items()}
    check_block(block, 16, verbose=False)
    assert block.training and all(p.grad is None for p in block.parameters())
    assert all(torch.equal(v, before[k]) for k, v in block.state_dict().items())


def test_plain_block_skips_identity_check(capsys):
    check_block(BasicBlock(8, 8, residual=False), 8)
    assert "identity check skipped (plain block)" in capsys.readouterr().out


def test_bad_arguments():
    with pytest.raises(ValueError, match="stride must be a positive int"):
        check_block(BasicBlock(8, 8), 8, stride=0)
    with pytest.raises(ValueError, match="block must be an nn.Module"):
        check_block("block", 8)
