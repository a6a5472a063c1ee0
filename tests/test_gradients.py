"""Per-layer gradient norms against plain autograd, forward order, no side effects; the plain CNN and its inits."""
from __future__ import annotations

import copy
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from resnet_lib.gradients import (activation_stats, grad_norms, init_weights, layer_depths, plain_cnn,
                                  plot_grad_norms)


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))


def batch(n: int = 8, size: int = 8, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, size, size, generator=g), torch.randint(0, classes, (n,), generator=g)


class Reordered(nn.Module):
    """Defines its layers in the opposite order to the one its forward pass uses."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(5, 2)
        self.body = nn.Conv2d(5, 5, 3, padding=1)
        self.stem = nn.Conv2d(1, 5, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)).relu().mean(dim=(2, 3)))


@pytest.mark.parametrize("train", [True, False])
def test_norms_equal_a_hand_computation(train):
    net, (x, y) = small_net(), batch()
    ref = copy.deepcopy(net).train(train)
    F.cross_entropy(ref(x), y).backward()  # the hand computation: backward, then the norm of each .grad
    expected = {f"{n}.weight": ref[int(n)].weight.grad.norm().item() for n in ("0", "3", "8")}
    got = grad_norms(net, x, y, train=train)
    assert list(got) == ["0.weight", "3.weight", "8.weight"]
    for k in expected:
        assert math.isclose(got[k], expected[k], rel_tol=1e-5), k


def test_custom_loss_is_used():
    net, (x, y) = small_net(), batch()
    doubled = grad_norms(net, x, y, loss_fn=lambda out, t: 2 * F.cross_entropy(out, t))
    plain = grad_norms(net, x, y)
    for k in plain:
        assert math.isclose(doubled[k], 2 * plain[k], rel_tol=1e-5)


def test_tiny_gradients_do_not_underflow_to_zero():
    # vanished gradients are ~1e-24 and more: their squares underflow float32, their norm must not
    net, (x, y) = small_net(), batch()
    tiny = grad_norms(net, x, y, loss_fn=lambda out, t: 1e-30 * F.cross_entropy(out, t))
    plain = grad_norms(net, x, y)
    for k in plain:
        assert math.isclose(tiny[k], 1e-30 * plain[k], rel_tol=1e-4)


def test_keys_follow_the_forward_pass_not_the_definition_order():
    net = Reordered()
    x, y = torch.randn(4, 1, 6, 6), torch.tensor([0, 1, 1, 0])
    norms = grad_norms(net, x, y)
    assert list(norms) == ["stem.weight", "body.weight", "head.weight"]
    assert [(i, n) for i, n, _ in layer_depths(norms)] == [(1, "stem.weight"), (2, "body.weight"), (3, "head.weight")]
    assert list(activation_stats(net, x)) == ["stem", "body", "head"]


def test_modes_buffers_and_grads_are_left_as_they_were():
    net, (x, y) = small_net(), batch()
    net.eval()
    net[1].train()  # mixed modes must come back exactly
    net[0].weight.grad = torch.full_like(net[0].weight, 7.0)  # an existing gradient must survive
    buffers = {k: v.clone() for k, v in net.state_dict().items()}
    grad_norms(net, x, y, train=True)
    activation_stats(net, x, train=True)
    assert [m.training for m in net] == [False, True] + [False] * 7
    for k, v in net.state_dict().items():
        assert torch.equal(v, buffers[k]), k
    assert torch.equal(net[0].weight.grad, torch.full_like(net[0].weight, 7.0))
    assert all(p.grad is None for n, p in net.named_parameters() if n != "0.weight")


def test_activation_stats_match_a_manual_forward():
    net, (x, _) = small_net(), batch()
    net.eval()
    stats = activation_stats(net, x, train=False)
    with torch.no_grad():
        h0 = net[0](x)
        h3 = net[3](net[2](net[1](h0)))
    assert list(stats) == ["0", "3", "8"]
    assert math.isclose(stats["0"], h0.std().item(), rel_tol=1e-5)
    assert math.isclose(stats["3"], h3.std().item(), rel_tol=1e-5)


def test_plot_has_one_line_per_model():
    net, (x, y) = small_net(), batch()
    curves = {"a": grad_norms(net, x, y), "b": grad_norms(net, x, y, train=False)}
    fig = plot_grad_norms(curves, title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2 and ax.get_yscale() == "log"
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]
    _, ax2 = plt.subplots()
    assert plot_grad_norms(curves, ax=ax2, logy=False) is ax2.figure and ax2.get_yscale() == "linear"
    plt.close("all")


@pytest.mark.parametrize("depth,bn", [(8, True), (20, False)])
def test_plain_cnn_layout(depth, bn):
    net = plain_cnn(depth, batch_norm=bn)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == depth  # 6n + 1 convs and one linear layer
    assert [c.out_channels for c in convs] == [16] * (1 + (depth - 2) // 3) + [32] * ((depth - 2) // 3) + \
        [64] * ((depth - 2) // 3)
    assert all((c.bias is None) == bn for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == (len(convs) if bn else 0)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert plain_cnn(8, in_channels=3, num_classes=4)(torch.randn(1, 3, 32, 32)).shape == (1, 4)


def test_inits_have_their_documented_scale():
    torch.manual_seed(0)
    net = plain_cnn(8, width=32, batch_norm=False, init="kaiming")
    w = net.layer2[2].weight  # 64 -> 64 channels, fan_in 576
    assert math.isclose(w.std().item(), math.sqrt(2 / 576), rel_tol=0.05)  # fan_out = fan_in = 576 here
    assert math.isclose(net.layer2[0].weight.std().item(), math.sqrt(2 / 576), rel_tol=0.05)  # 32 -> 64: fan_out
    fc = net.fc.weight.detach().clone()  # the classifier keeps PyTorch's default in every scheme
    assert all(float(c.bias.detach().abs().max()) == 0 for c in net.modules() if isinstance(c, nn.Conv2d))
    init_weights(net, "xavier")
    assert math.isclose(w.std().item(), math.sqrt(2 / (576 + 576)), rel_tol=0.05)
    init_weights(net, "normal0.01")
    assert math.isclose(w.std().item(), 0.01, rel_tol=0.05)
    assert torch.equal(net.fc.weight, fc)
    default = plain_cnn(8, width=32, batch_norm=False, init="default").layer2[2].weight
    assert math.isclose(default.std().item(), 1 / math.sqrt(3 * 576), rel_tol=0.05)


def test_without_bn_and_with_default_init_gradients_vanish_towards_the_input():
    torch.manual_seed(0)
    x, y = torch.randn(16, 1, 16, 16), torch.randint(0, 10, (16,))
    vanishing = list(grad_norms(plain_cnn(20, batch_norm=False, init="default"), x, y).values())
    assert vanishing[0] < 1e-4 * vanishing[-1]
    healthy = list(grad_norms(plain_cnn(20, batch_norm=True, init="kaiming"), x, y).values())
    assert min(healthy) > 0.1 * healthy[-1]


def test_bad_input_raises_value_error():
    net, (x, y) = small_net(), batch()
    for bad in (7, 2, 21):
        with pytest.raises(ValueError, match="6n \\+ 2"):
            plain_cnn(bad)
    with pytest.raises(ValueError, match="init="):
        plain_cnn(20, init="he")
    with pytest.raises(ValueError, match="init="):
        init_weights(net, "orthogonal")
    with pytest.raises(ValueError, match="width"):
        plain_cnn(8, width=0)
    with pytest.raises(ValueError, match="one target per example"):
        grad_norms(net, x, y[:3])
    with pytest.raises(ValueError, match="batch tensor"):
        grad_norms(net, torch.randn(8), y)
    with pytest.raises(ValueError, match="scalar"):
        grad_norms(net, x, y, loss_fn=lambda out, t: F.cross_entropy(out, t, reduction="none"))
    with pytest.raises(ValueError, match="no trainable"):
        grad_norms(net.requires_grad_(False), x, y)
    with pytest.raises(ValueError, match="non-empty"):
        plot_grad_norms({})


def test_block_input_grad_norms_match_a_manual_unrolled_forward():
    """Independent reference: run the stem and the blocks by hand, retain each block input's gradient."""
    from resnet_lib import get_model
    from resnet_lib.gradients import block_input_grad_norms

    torch.manual_seed(0)
    net = get_model("resnet20", num_classes=3, in_channels=1)
    x, y = batch(n=6, size=16)
    before = copy.deepcopy(net.state_dict())
    norms = block_input_grad_norms(net, x, y)
    assert list(norms) == [f"layer{s}.{i}" for s in (1, 2, 3) for i in range(3)] + ["head"]
    assert all(torch.equal(a, b) for a, b in zip(before.values(), net.state_dict().values()))  # BN stats restored
    assert all(p.grad is None for p in net.parameters())
    ref = copy.deepcopy(net).train()
    h = ref.relu(ref.bn1(ref.conv1(x)))
    kept = []
    for stage in (ref.layer1, ref.layer2, ref.layer3):
        for block in stage:
            h.retain_grad()
            kept.append(h)
            h = block(h)
    h.retain_grad()
    kept.append(h)
    F.cross_entropy(ref.fc(torch.flatten(ref.avgpool(h), 1)), y).backward()
    for (name, v), t in zip(norms.items(), kept):
        assert math.isclose(v, float(t.grad.norm()), rel_tol=1e-4), name


def test_block_input_grad_norms_work_with_frozen_weights_and_refuse_other_layouts():
    from resnet_lib import get_model
    from resnet_lib.gradients import block_input_grad_norms

    net = get_model("resnet20", num_classes=3, in_channels=1).requires_grad_(False)
    x, y = batch(n=4, size=16)
    assert len(block_input_grad_norms(net, x, y)) == 10
    with pytest.raises(ValueError, match="no blocks named layerK.i"):
        block_input_grad_norms(small_net(), *batch())


def test_activation_stats_of_batch_norm_outputs_are_the_papers_fig7_responses():
    net = small_net()
    x, _ = batch()
    stats = activation_stats(net, x, train=False, layer_types=(nn.BatchNorm2d,))
    assert list(stats) == ["1", "4"]
    with torch.no_grad():
        net.eval()
        assert math.isclose(stats["1"], float(net[1](net[0](x)).std()), rel_tol=1e-6)
    with pytest.raises(ValueError, match="layer_types"):
        activation_stats(net, x, layer_types=("bn",))
