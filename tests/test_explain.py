"""resnet_lib.explain: Grad-CAM against the grad-cam package, saliency and receptive fields against direct
computations, the sanity check's behaviour, features and probes against scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from matplotlib.figure import Figure

import resnet_lib as rl
from resnet_lib.explain import (cascading_randomization, extract_features, feature_maps_figure, gradcam,
                                linear_probe, nearest_neighbours, overlay_figure, randomization_order,
                                receptive_fields, saliency, spearman, stage_nodes, stage_outputs)

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("single_thread")]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    m = rl.get_model("resnet20", num_classes=10, in_channels=1)
    with torch.no_grad():                      # BN statistics of a few batches: a less degenerate random network
        m.train()
        for _ in range(3):
            m(torch.randn(32, 1, 28, 28))
    return m.eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("layer", ["layer3", "layer2.1"])
def test_gradcam_equals_the_grad_cam_package(net, images, layer):
    pytest.importorskip("pytorch_grad_cam", reason="grad-cam is not installed (pip install grad-cam)")
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    targets = [3, 0, 9, 1, 1, 5]
    module = dict(net.named_modules())[layer]
    with GradCAM(net, target_layers=[module]) as cam:
        ref = torch.from_numpy(cam(images, targets=[ClassifierOutputTarget(t) for t in targets]))
        ref_pred = torch.from_numpy(cam(images, targets=None))
    net.zero_grad(set_to_none=True)
    ours = gradcam(net, images, layer, targets)
    assert ours.shape == (6, 28, 28) and float(ours.max()) > 0.99
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(gradcam(net, images, module), ref_pred, atol=1e-5, rtol=0)
    assert not torch.allclose(gradcam(net, images, layer, 2), ours, atol=1e-2)   # the class matters


def test_gradcam_leaves_the_model_as_it_was(net, images):
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    gradcam(net, images, "layer3", 1)
    assert net.training and all(m.training for m in net.modules())
    assert all(p.grad is None for p in net.parameters())
    net.eval()
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())   # BN statistics untouched too
    assert not net.layer3._forward_hooks


def test_gradcam_raw_is_the_weighted_sum_of_activations(net, images):
    acts = stage_outputs(net, images, ["layer3"])["layer3"].requires_grad_(True)
    logits = net.fc(torch.flatten(net.avgpool(acts), 1))              # the rest of the network after layer3
    logits[:, 4].sum().backward()
    want = torch.relu((acts.grad.mean((2, 3), keepdim=True) * acts).sum(1)).detach()
    torch.testing.assert_close(gradcam(net, images, "layer3", 4, raw=True), want, atol=1e-6, rtol=1e-5)


def test_saliency_of_a_linear_model_is_its_weights():
    lin = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    x = torch.randn(5, 2, 4, 4)
    w = lin[1].weight.detach().view(3, 2, 4, 4)
    s = saliency(lin, x, [0, 1, 2, 2, 0])
    for i, c in enumerate([0, 1, 2, 2, 0]):
        torch.testing.assert_close(s[i], w[c].abs().amax(0))


def test_one_line_errors(net, images):
    with pytest.raises(ValueError, match=r"target layer 'layer4' is not a module of CifarResNet: use one of conv1, "
                                         r"bn1, relu, layer1, layer1\.0"):
        gradcam(net, images, "layer4")
    with pytest.raises(ValueError, match=r"images must be \[B, 1, H, W\] for this model \(1 input channels\)"):
        gradcam(net, torch.randn(2, 3, 28, 28), "layer3")
    with pytest.raises(ValueError, match=r"images must be a normalised float tensor \[B, 1, H, W\].*x\[None\]"):
        saliency(net, images[0])
    with pytest.raises(ValueError, match=r"class index 12 is out of range: use 0\.\.9"):
        gradcam(net, images, "layer3", 12)
    with pytest.raises(ValueError, match=r"one per image \(6\)"):
        saliency(net, images, [1, 2])
    with pytest.raises(ValueError, match="ran 2 times in one forward pass"):
        gradcam(net, images, "layer1.0.relu")            # a block's ReLU module is used twice
    with pytest.raises(ValueError, match="does not look like a ResNet"):
        stage_nodes(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()))
    with pytest.raises(ValueError, match=r"unknown node 'layer9': use one of stem, layer1"):
        stage_outputs(net, images, ["layer9"])


def test_cascading_randomization(net, images):
    order = randomization_order(net)
    assert order == ["fc", "layer3.2", "layer3.1", "layer3.0", "layer2.2", "layer2.1", "layer2.0", "layer1.2",
                     "layer1.1", "layer1.0", "bn1", "conv1"]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    edges = lambda m, x, t: torch.nn.functional.pad((x[:, 0, :, 1:] - x[:, 0, :, :-1]).abs(), (0, 1))  # noqa: E731
    res = cascading_randomization(net, images, {"saliency": lambda m, x, t: saliency(m, x, t),
                                                "Grad-CAM": lambda m, x, t: gradcam(m, x, "layer3", t),
                                                "edges (ignores the model)": edges})
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())   # worked on a copy
    assert res.steps == ["trained", *order] and res.maps["saliency"].shape == (13, 6, 28, 28)
    assert res.mean_similarity("saliency")[0] == pytest.approx(1.0)
    assert res.mean_similarity("edges (ignores the model)") == pytest.approx([1.0] * 13)   # the test sees it
    assert res.mean_similarity("saliency")[-1] < 0.5 and res.mean_similarity("Grad-CAM")[-1] < 0.5
    assert isinstance(res.plot(), Figure) and isinstance(res.plot_maps(images, 1, steps=[0, 1, 12]), Figure)
    with pytest.raises(ValueError, match="unknown method 'x': use one of saliency"):
        res.mean_similarity("x")


def test_spearman_equals_scipy():
    from scipy.stats import spearmanr

    a, b = torch.rand(3, 5, 5), torch.rand(3, 5, 5)
    b[1] = a[1] ** 3                                       # monotone: rank correlation 1
    a[2, :2] = 0                                           # ties
    got = spearman(a, b)
    for i in range(3):
        assert got[i] == pytest.approx(spearmanr(a[i].flatten(), b[i].flatten()).statistic, abs=1e-12)
    assert got[1] == pytest.approx(1.0) and spearman(torch.zeros(1, 4), torch.rand(1, 4)).item() == 0.0


def test_features_are_pooled_stage_outputs(net, images):
    loader = [(images[:4], torch.arange(4)), (images[4:], torch.arange(4, 6))]
    feats = extract_features(net, loader)
    raw = stage_outputs(net, images)
    assert list(feats.tensors) == ["stem", "layer1", "layer2", "layer3", "embedding", "logits"]
    for name in ("stem", "layer1", "layer2", "layer3"):
        torch.testing.assert_close(feats[name], raw[name].mean((2, 3)))
    torch.testing.assert_close(feats["logits"], net(images), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(feats["embedding"], feats["layer3"])       # ResNet-20 pools layer3 into fc
    assert torch.equal(feats.labels, torch.arange(6))
    assert extract_features(net, loader, nodes=["layer2"], pool=2)["layer2"].shape == (6, 32 * 4)
    assert stage_nodes(rl.resnet18())["stem"] == "maxpool"
    assert isinstance(feature_maps_figure(raw, index=2, channels=4), Figure)


def test_linear_probe_separable_and_chance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 5, generator=g)
    y = (x[:, 0] > 0).long()                           # linearly separable
    assert linear_probe(x[:200], y[:200], x[200:], y[200:]) > 0.95
    noise = torch.randint(0, 4, (400,), generator=g)    # labels unrelated to x: chance level
    assert linear_probe(x[:200], noise[:200], x[200:], noise[200:]) < 0.4


def test_receptive_fields_analytic():
    r20 = receptive_fields(rl.get_model("resnet20", in_channels=1), (1, 1, 28, 28))
    assert {k: (v.size, v.jump) for k, v in r20.items()} == {
        "stem": (3, 1), "layer1": (15, 1), "layer2": (37, 2), "layer3": (81, 4), "embedding": (None, 4)}
    r18 = receptive_fields(rl.resnet18(), (1, 3, 64, 64))
    assert r18["layer4"].size == 435 and r18["layer4"].jump == 32      # ResNet-18's published receptive field
    se = receptive_fields(rl.get_model("se_resnet20", in_channels=1), (1, 1, 28, 28))
    assert se["stem"].size == 3 and se["layer1"].size is None           # an SE gate reads the whole map


def _empirical_extent(model: nn.Module, node: str, size: int, channels: int) -> int:
    """Rows of the input on which the centre output position of ``node`` depends (non-zero gradient)."""
    from torchvision.models.feature_extraction import create_feature_extractor

    x = torch.randn(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    out = create_feature_extractor(model.double(), {stage_nodes(model)[node]: "out"})(x)["out"]
    h = out.shape[2] // 2
    out[0, :, h, h].sum().backward()                      # the centre position, all channels
    rows = (x.grad[0].abs().sum((0, 2)) > 0).nonzero().flatten()
    return int(rows.max() - rows.min() + 1)


def test_receptive_fields_empirical():
    torch.manual_seed(0)
    model = rl.get_model("resnet20", in_channels=1).eval()
    rf = receptive_fields(model, (1, 1, 100, 100))
    for node in ("stem", "layer1", "layer2", "layer3"):
        assert _empirical_extent(model, node, 100, 1) == rf[node].size, node


def test_nearest_neighbours_equal_scikit_learn():
    from sklearn.neighbors import NearestNeighbors

    g = torch.Generator().manual_seed(0)
    q, gal = torch.randn(7, 16, generator=g), torch.randn(50, 16, generator=g)
    ref = NearestNeighbors(n_neighbors=4, metric="cosine", algorithm="brute").fit(gal.numpy())
    np.testing.assert_array_equal(nearest_neighbours(q, gal, 4).numpy(), ref.kneighbors(q.numpy())[1])
    with pytest.raises(ValueError, match=r"k must be an int in 1\.\.50"):
        nearest_neighbours(q, gal, 51)


def test_overlay_figure(net, images):
    fig = overlay_figure(images[:3], {"Grad-CAM": gradcam(net, images[:3], "layer3")}, ["a", "b", "c"])
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    with pytest.raises(ValueError, match=r"maps\['m'\] must be \[B, H, W\]"):
        overlay_figure(images[:3], {"m": torch.zeros(3, 7, 7)})
