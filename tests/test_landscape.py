"""Loss-landscape slices: exact restoration, alpha=0 equals plain evaluation, filter norms, an analytic slice."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_lib.landscape import (loss_landscape_1d, loss_landscape_2d, plot_landscape_1d, plot_landscape_2d,
                                  random_direction)


def small_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))
    net.train()
    with torch.no_grad():  # non-trivial running statistics, so eval mode differs from train mode
        for _ in range(3):
            net(torch.randn(16, 1, 8, 8) * 2 + 0.5)
    return net


def batches(n: int = 3, size: int = 10) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 1, 8, 8, generator=g), torch.randint(0, 3, (size,), generator=g)) for _ in range(n)]


def test_weights_and_mode_restored_bitwise():
    net = small_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    loss_landscape_1d(net, batches(), alphas=[-1.0, 0.3, 0.7])
    loss_landscape_2d(net, batches(), alphas=[-0.5, 0.25], betas=[0.1, 0.9, 1.3])
    after = net.state_dict()
    assert before.keys() == after.keys()
    for k in before:  # bitwise, buffers (BN running stats) included
        assert torch.equal(before[k], after[k]), k
    assert net.training  # the caller's mode is given back


def test_restored_even_when_the_loss_raises():
    net = small_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}

    def bad_loss(logits, y, reduction="sum"):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        loss_landscape_1d(net, batches(), alphas=[0.5], loss_fn=bad_loss)
    for k, v in net.state_dict().items():
        assert torch.equal(before[k], v), k


def test_alpha_zero_equals_plain_evaluation():
    net = small_net()
    data = batches()
    alphas, losses = loss_landscape_1d(net, data, alphas=torch.linspace(-1, 1, 5))
    net.eval()
    with torch.no_grad():
        x = torch.cat([b[0] for b in data])
        y = torch.cat([b[1] for b in data])
        expected = F.cross_entropy(net(x), y).item()
    assert alphas[2].item() == 0.0
    assert losses[2].item() == pytest.approx(expected, rel=1e-5)
    assert not torch.allclose(losses[0], losses[2])  # moving does change the loss
    _, _, grid = loss_landscape_2d(net, data, alphas=[0.0, 0.5], betas=[-0.5, 0.0])
    assert grid.shape == (2, 2)
    assert grid[0, 1].item() == pytest.approx(expected, rel=1e-5)


def test_filter_normalisation_matches_weight_filter_norms():
    net = small_net()
    d = random_direction(net, seed=3)
    for name, p in net.named_parameters():
        if p.dim() <= 1:  # BN weights/biases and biases: zero direction (Li et al. 2018 practice)
            assert torch.count_nonzero(d[name]) == 0, name
            continue
        for i in range(p.shape[0]):  # filter by filter, independently of the vectorised code
            w_norm = torch.sqrt(torch.sum(p[i].detach().double() ** 2))
            d_norm = torch.sqrt(torch.sum(d[name][i].double() ** 2))
            assert d_norm.item() == pytest.approx(w_norm.item(), rel=1e-5), (name, i)
        assert not torch.allclose(d[name], p.detach())  # a random direction, not the weights themselves


def test_direction_seeding_and_other_norms():
    net = small_net()
    a, b, c = random_direction(net, 0), random_direction(net, 0), random_direction(net, 1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["0.weight"], c["0.weight"])
    layer = random_direction(net, 0, norm="layer")
    w = net[3].weight.detach()
    assert layer["3.weight"].norm().item() == pytest.approx(w.norm().item(), rel=1e-5)
    raw = random_direction(net, 0, norm="none")
    assert torch.count_nonzero(raw["1.weight"]) > 0  # "none" perturbs BN parameters too


def test_quadratic_toy_slice_is_analytic():
    # loss(W) = mean_n ||W x_n - y_n||^2 is quadratic in W, so along W + a D it is exactly
    # A a^2 + B a + C with C = mean ||r||^2, B = 2 mean <r, D x>, A = mean ||D x||^2 and r = W x - y.
    torch.manual_seed(0)
    model = nn.Linear(4, 2, bias=False).double()
    x = torch.randn(12, 4, dtype=torch.float64)
    y = torch.randn(12, 2, dtype=torch.float64)
    data = [(x[:5], y[:5]), (x[5:], y[5:])]
    d = random_direction(model, seed=7)
    alphas, losses = loss_landscape_1d(model, data, direction=d, alphas=torch.linspace(-2, 2, 9), loss_fn=F.mse_loss)
    with torch.no_grad():
        r = x @ model.weight.T - y
        dx = x @ d["weight"].T
        A, B, C = (dx ** 2).sum(1).mean(), 2 * (r * dx).sum(1).mean(), (r ** 2).sum(1).mean()
    torch.testing.assert_close(losses, A * alphas ** 2 + B * alphas + C)
    # 2-D: add the cross term with a second direction
    d2 = random_direction(model, seed=8)
    a2, b2, grid = loss_landscape_2d(model, data, directions=(d, d2), alphas=[-1.0, 0.5], betas=[0.25, 2.0],
                                     loss_fn=F.mse_loss)
    with torch.no_grad():
        for i, a in enumerate(a2.tolist()):
            for j, b in enumerate(b2.tolist()):
                res = x @ (model.weight + a * d["weight"] + b * d2["weight"]).T - y
                assert grid[i, j].item() == pytest.approx((res ** 2).sum(1).mean().item(), rel=1e-10)


def test_bad_input_raises_value_error():
    net = small_net()
    with pytest.raises(ValueError, match="norm"):
        random_direction(net, norm="unit")
    with pytest.raises(ValueError, match="direction"):
        loss_landscape_1d(net, batches(), direction={"0.weight": torch.zeros(4, 1, 3, 3)})
    with pytest.raises(ValueError, match="empty"):
        loss_landscape_1d(net, [])
    with pytest.raises(ValueError, match="alphas"):
        loss_landscape_1d(net, batches(), alphas=[])
    with pytest.raises(ValueError, match="pair"):
        loss_landscape_2d(net, batches(), directions=(random_direction(net),))
    with pytest.raises(ValueError, match="losses has shape"):
        plot_landscape_2d([0, 1], [0, 1, 2], torch.zeros(3, 2))


def test_plots_return_figures():
    net = small_net()
    a, l = loss_landscape_1d(net, batches(1), alphas=[-1, 0, 1])
    fig = plot_landscape_1d({"net": (a, l)}, title="t")
    assert isinstance(fig, matplotlib.figure.Figure) and fig.axes[0].get_xlabel()
    a, b, z = loss_landscape_2d(net, batches(1), alphas=[-1, 0, 1], betas=[-1, 0, 1])
    fig2 = plot_landscape_2d(a, b, z, levels=5)
    assert isinstance(fig2, matplotlib.figure.Figure)
    plt.close("all")
