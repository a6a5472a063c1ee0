"""check_block passes correct blocks and catches the usual mistakes with a message that says what to fix."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from resnet_lib.models import BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck, conv3x3, make_shortcut
from resnet_lib.checks import BlockCheckError, ModelCheckError, check_block, check_model

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


# --- the mistakes of popular posts (chapter 10): each is named by a check -------------------------------------


class TwoBranchBlock(nn.Module):
    """Two convolution branches of the input, summed, both strided: no identity path."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv_a, self.bn_a = conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv_b, self.bn_b = conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn_a(self.conv_a(x))) + F.relu(self.bn_b(self.conv_b(x)))


class OutputProjection(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + x


class OutputShortcutBlock(nn.Module):
    """A "shortcut" that is a 1x1 conv of the block's output added to that output; both 3x3 convs strided."""

    def __init__(self, c: int, stride: int = 1, call_with_input: bool = False) -> None:
        super().__init__()
        self.call_with_input = call_with_input
        self.conv1, self.bn1 = conv3x3(c, c, stride), nn.BatchNorm2d(c)
        self.conv2, self.residual = conv3x3(c, c, stride), OutputProjection(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.bn1(self.conv1(x))))
        return self.residual(out, x) if self.call_with_input else self.residual(out)


@pytest.mark.parametrize("stride", [1, 2])
def test_two_convolution_branches_have_no_path_from_the_input(stride):
    with pytest.raises(BlockCheckError, match="no path carries the block's input past the branch"):
        check_block(TwoBranchBlock(16, 32 if stride == 2 else 16, stride), 16, 32 if stride == 2 else 16,
                    stride=stride, verbose=False)


def test_a_shortcut_of_the_output_is_caught():
    with pytest.raises(BlockCheckError, match=r"takes 2 positional arguments but 3 were given: a layer was called "
                                              r"with arguments its forward does not take"):
        check_block(OutputShortcutBlock(8, call_with_input=True), 8, verbose=False)
    with pytest.raises(BlockCheckError, match=r"residual.conv = 0.*output no longer depends on x"):
        check_block(OutputShortcutBlock(8), 8, verbose=False)
    with pytest.raises(BlockCheckError, match=r"\(2, 8, 2, 2\) != \(2, 8, 4, 4\).*strides 2 times \(conv1, conv2\)"):
        check_block(OutputShortcutBlock(8, stride=2), 8, stride=2, verbose=False)


def test_no_path_clause_is_absent_for_a_missing_relu_only():
    with pytest.raises(BlockCheckError, match="final ReLU") as err:
        check_block(ExerciseBlock(16, 32, 2, "no_final_relu"), 16, 32, stride=2, verbose=False)
    assert "no path" not in str(err.value)


def test_a_shortcut_with_a_3x3_convolution_is_a_second_branch():
    block = BasicBlock(16, 32, 2, downsample=nn.Sequential(conv3x3(16, 32, 2), nn.BatchNorm2d(32)))
    with pytest.raises(BlockCheckError, match=r"shortcut holds a 3×3 convolution \(0\).*second branch"):
        check_block(block, 16, 32, stride=2, verbose=False)
    relu_short = BasicBlock(16, 16, downsample=nn.ReLU())
    with pytest.raises(BlockCheckError, match="shortcut holds a ReLU"):
        check_block(relu_short, 16, verbose=False)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50"])
def test_check_model_accepts_torchvision(name, capsys):
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        model = getattr(torchvision.models, name)(num_classes=10)
    check_model(model, name, num_classes=10)
    depth = int(name[len("resnet"):])
    assert f"{depth} weighted layers" in capsys.readouterr().out


def test_check_model_names_the_model_it_resembles():
    from resnet_lib.models import resnet20, resnet34, resnet56
    with torch.device("meta"):
        r34 = resnet34(num_classes=10)
    with pytest.raises(ModelCheckError, match=r"21,289,802 parameters and 34 weighted layers, resnet18 .* has "
                                              r"11,181,642 and 18: it is closest to resnet34"):
        check_model(r34, "resnet18")
    with pytest.raises(ModelCheckError, match="closest to resnet56"):
        check_model(resnet56(in_channels=1), "resnet20", in_channels=1)
    check_model(resnet20(in_channels=1), "resnet20", in_channels=1, verbose=False)
    assert issubclass(ModelCheckError, AssertionError)


def test_check_model_bad_names():
    with pytest.raises(ValueError, match="unknown model 'resnet19'"):
        check_model(nn.Linear(2, 2), "resnet19")
