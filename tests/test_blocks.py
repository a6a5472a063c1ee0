"""Blocks: shapes, the forward formula out = F(x) + shortcut(x) written out by hand, shortcuts A/B/C, plain switch."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from resnet_lib.models import (BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck, ShortcutA, conv1x1,
                               conv3x3, make_shortcut, zero_init_last)

pytestmark = pytest.mark.usefixtures("single_thread")

PUBLIC = (conv3x3, conv1x1, BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck, ShortcutA)


def test_public_blocks_have_teaching_docstrings():
    for obj in PUBLIC:
        assert obj.__doc__ and len(obj.__doc__) > 40, obj
    for cls in (BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck, ShortcutA):
        assert "Shape:" in cls.__doc__, cls


def test_conv_helpers():
    c3, c1 = conv3x3(4, 8, stride=2), conv1x1(4, 8)
    assert c3.bias is None and c1.bias is None
    assert (c3.kernel_size, c3.stride, c3.padding) == ((3, 3), (2, 2), (1, 1))
    x = torch.randn(1, 4, 9, 9)
    assert c3(x).shape == (1, 8, 5, 5) and c1(x).shape == (1, 8, 9, 9)


def test_shortcut_a_subsamples_and_zero_pads():
    x = torch.randn(2, 16, 8, 8)
    s = ShortcutA(16, 32, stride=2)
    y = s(x)
    assert y.shape == (2, 32, 4, 4)
    assert sum(p.numel() for p in s.parameters()) == 0
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 16:]) == 0
    assert torch.equal(ShortcutA(16, 16)(x), x)
    with pytest.raises(ValueError, match="cannot drop"):
        ShortcutA(32, 16)


@pytest.mark.parametrize("stride", [1, 2])
def test_shortcut_a_keeps_channels_last_in_both_passes(stride):
    # As in a block: the input's gradient is the sum of the conv branch's and the shortcut's. It must stay
    # channels-last, or every layer below the block computes with mixed layouts (several times slower on CPU).
    x = torch.randn(4, 16, 12, 12)
    conv = nn.Conv2d(16, 32, 3, stride, 1, bias=False)
    s = ShortcutA(16, 32, stride=stride)
    grads = {}
    for fmt in (torch.contiguous_format, torch.channels_last):
        h = x.clone().to(memory_format=fmt).requires_grad_() * 1  # an activation (not a leaf), as in a network
        y = conv.to(memory_format=fmt)(h) + s(h)  # [4, 32, H', W'], the conv branch first as in BasicBlock
        assert y.is_contiguous(memory_format=fmt)
        (grad,) = torch.autograd.grad(y.relu().square().sum(), h)
        assert grad.is_contiguous(memory_format=fmt), f"{fmt}: gradient strides {grad.stride()}"
        grads[fmt] = (s(h).detach(), grad)
    assert torch.equal(grads[torch.channels_last][0], grads[torch.contiguous_format][0])
    torch.testing.assert_close(grads[torch.channels_last][1], grads[torch.contiguous_format][1])


def test_make_shortcut_options():
    assert make_shortcut("A", 16, 16) is None and make_shortcut("B", 16, 16) is None
    assert isinstance(make_shortcut("A", 16, 32, 2), ShortcutA)
    proj = make_shortcut("B", 16, 32, 2)
    assert [type(m) for m in proj] == [nn.Conv2d, nn.BatchNorm2d] and proj[0].stride == (2, 2)
    assert isinstance(make_shortcut("C", 16, 16), nn.Sequential)  # C projects even where shapes match
    assert [type(m) for m in make_shortcut("B", 16, 32, 2, preact=True)] == [nn.Conv2d]
    with pytest.raises(ValueError, match=r"one of \{'A', 'B', 'C'\}"):
        make_shortcut("D", 16, 32)


@pytest.mark.parametrize("cls,planes,out", [(BasicBlock, 32, 32), (Bottleneck, 8, 32),
                                            (PreActBasicBlock, 32, 32), (PreActBottleneck, 8, 32)])
@pytest.mark.parametrize("stride", [1, 2])
def test_block_shapes(cls, planes, out, stride):
    ds = make_shortcut("B", 16, out, stride, preact=cls.__name__.startswith("PreAct"))
    y = cls(16, planes, stride, ds)(torch.randn(2, 16, 8, 8))
    assert y.shape == (2, out, 8 // stride, 8 // stride)


def test_basic_block_forward_formula_and_plain_switch(seeded):
    res, plain = BasicBlock(8, 8).eval(), BasicBlock(8, 8, residual=False).eval()
    plain.load_state_dict(res.state_dict())  # same layers, same weights
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        branch = res.bn2(res.conv2(F.relu(res.bn1(res.conv1(x)))))  # F(x)
        assert torch.allclose(res(x), F.relu(branch + x), atol=1e-6)
        assert torch.allclose(plain(x), F.relu(branch), atol=1e-6)
    with pytest.raises(ValueError, match="plain block"):
        BasicBlock(8, 16, 2, make_shortcut("B", 8, 16, 2), residual=False)


def test_bottleneck_forward_formula_with_projection(seeded):
    b = Bottleneck(16, 4, 2, make_shortcut("B", 16, 16, 2)).eval()
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        h = F.relu(b.bn1(b.conv1(x)))
        h = F.relu(b.bn2(b.conv2(h)))
        expected = F.relu(b.bn3(b.conv3(h)) + b.downsample(x))
        assert torch.allclose(b(x), expected, atol=1e-6)


def test_preact_forward_has_no_relu_after_addition(seeded):
    b = PreActBasicBlock(8, 8).eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        branch = b.conv2(F.relu(b.bn2(b.conv1(F.relu(b.bn1(x))))))
        y = b(x)
    assert torch.allclose(y, x + branch, atol=1e-6)
    assert (y < 0).any()  # nothing clips the sum: the identity path stays clean
    p = PreActBottleneck(8, 4, 2, make_shortcut("B", 8, 16, 2, preact=True)).eval()
    with torch.no_grad():
        pre = F.relu(p.bn1(x))
        h = p.conv2(F.relu(p.bn2(p.conv1(pre))))
        expected = p.conv3(F.relu(p.bn3(h))) + p.downsample(pre)  # projection of the pre-activated input
        assert torch.allclose(p(x), expected, atol=1e-6)


def test_stride_placement_in_bottleneck():
    v15 = Bottleneck(64, 32, 2, make_shortcut("B", 64, 128, 2))
    v1 = Bottleneck(64, 32, 2, make_shortcut("B", 64, 128, 2), stride_in_1x1=True)
    assert (v15.conv1.stride, v15.conv2.stride) == ((1, 1), (2, 2))
    assert (v1.conv1.stride, v1.conv2.stride) == ((2, 2), (1, 1))
    x = torch.randn(1, 64, 8, 8)
    assert v1(x).shape == v15(x).shape == (1, 128, 4, 4)


def test_basic_block_rejects_unsupported_options():
    with pytest.raises(ValueError, match="groups=1"):
        BasicBlock(8, 8, groups=2)
    with pytest.raises(ValueError, match="dilation"):
        BasicBlock(8, 8, dilation=2)


@pytest.mark.parametrize("block,identity", [(BasicBlock(8, 8), F.relu), (Bottleneck(8, 2), F.relu),
                                            (PreActBasicBlock(8, 8), lambda x: x),
                                            (PreActBottleneck(8, 2), lambda x: x)])
def test_zero_init_last_makes_the_block_an_identity(block, identity):
    zero_init_last(block)
    block.eval()
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        assert torch.allclose(block(x), identity(x), atol=1e-6)
