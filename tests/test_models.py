"""Model zoo against torchvision (parameters, state_dict, outputs, init, MACs), the paper's tables, bad inputs."""
from __future__ import annotations

import importlib
import math
import urllib.error
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torchvision

import resnet_lib as rl
from resnet_lib import models
from resnet_lib.models import BasicBlock, PreActBottleneck, ShortcutA
from resnet_lib.models import CifarResNet, ResNet, get_model, list_models
from resnet_lib.model_summary import summary

pytestmark = pytest.mark.usefixtures("single_thread")

IMAGENET_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                   "resnet101": 44_549_160, "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904,
                   "wide_resnet50_2": 68_883_240}
CIFAR_PARAMS = {"resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586, "resnet56": 853_018,
                "resnet110": 1_727_962, "resnet1202": 19_421_274}  # option A, 10 classes (§4.2, Table 6)
ALL_NAMES = [*IMAGENET_PARAMS, "plain18", "plain34", *CIFAR_PARAMS, "plain20", "plain32", "plain44", "plain56",
             "plain110", "preact_resnet20", "preact_resnet56", "preact_resnet110", "preact_resnet164",
             # the family tree (tests/test_variants.py), and any CIFAR-layout configuration by name
             "cifar_resnet",
             "resnet26d", "resnet50d", "seresnet50", "preact_resnet1001", "wrn16_4", "wrn16_8", "wrn28_10", "wrn40_4",
             "resnext29_8x64d", "resnext29_16x64d", "resnext29_32x4d", "se_resnet20", "se_resnet56", "se_resnet110",
             "resnet9"]   # Page (2018), chapter 5's speedrun


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def on_meta(build, *args, **kwargs):
    """Build on the meta device: shapes, parameter counts and MACs without allocating or initialising weights."""
    with torch.device("meta"):
        return build(*args, **kwargs)


def gmacs(model: nn.Module, size: int = 224) -> float:
    return summary(model, (1, 3, size, size)).macs / 1e9


# ---------------------------------------------------------------- registry

def test_list_models_sorted_and_complete():
    names = list_models()
    assert names == sorted(names) and set(names) == set(ALL_NAMES)


def test_builders_importable_by_name_and_from_the_package():
    for name in ALL_NAMES:
        fn = getattr(importlib.import_module("resnet_lib.models"), name)
        assert callable(fn) and fn.__name__ == name and fn.__doc__
    assert rl.resnet50 is models.resnet50 and rl.get_model is get_model


def test_get_model_unknown_name_lists_and_suggests():
    with pytest.raises(ValueError, match=r"unknown model 'resnet-50' \(did you mean 'resnet50'.*valid names: .*plain1"):
        get_model("resnet-50")


# ---------------------------------------------------------------- ImageNet family vs torchvision

@pytest.mark.parametrize("name", IMAGENET_PARAMS)
def test_imagenet_parameter_counts(name):
    ours = n_params(on_meta(get_model, name))
    assert ours == IMAGENET_PARAMS[name] == n_params(on_meta(getattr(torchvision.models, name)))


@pytest.mark.parametrize("name", IMAGENET_PARAMS)
def test_torchvision_state_dict_loads_strictly_and_outputs_match(name):
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)().eval()
    with torch.no_grad():  # random BN statistics, so that a swapped BN would show
        for m in tv.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1), m.running_var.uniform_(0.5, 1.5), m.bias.normal_(0, 0.1)
    if name in ("resnet18", "resnet50"):  # literally as a reader would
        ours = get_model(name)
        ours.load_state_dict(tv.state_dict(), strict=True)
    else:  # same strict key and shape check, without initialising weights that are replaced anyway (faster)
        ours = on_meta(get_model, name)
        ours.load_state_dict(tv.state_dict(), strict=True, assign=True)
    ours.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert (ours(x) - tv(x)).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_init_identical_to_torchvision_including_zero_init_residual(name):
    torch.manual_seed(0)
    ours = get_model(name, zero_init_residual=True).state_dict()
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)(zero_init_residual=True).state_dict()
    assert list(ours) == list(tv) and all(torch.equal(ours[k], tv[k]) for k in tv)
    last_bn = "layer1.0.bn2.weight" if name == "resnet18" else "layer1.0.bn3.weight"
    assert torch.count_nonzero(ours[last_bn]) == 0


def test_imagenet_stage_shapes_halve():
    for name, e in (("resnet18", 1), ("resnet50", 4)):
        s = summary(on_meta(get_model, name), (1, 3, 224, 224))
        shapes = {r.name: r.output_shape for r in s.stages}
        assert shapes["conv1"] == (1, 64, 112, 112) and shapes["maxpool"] == (1, 64, 56, 56)
        assert [shapes[f"layer{i}"] for i in range(1, 5)] == [
            (1, 64 * e, 56, 56), (1, 128 * e, 28, 28), (1, 256 * e, 14, 14), (1, 512 * e, 7, 7)]
        assert s.output_shape == (1, 1000)


@pytest.mark.parametrize("name,gmac,weights", [("resnet18", 1.814, "ResNet18_Weights"),
                                               ("resnet50", 4.089, "ResNet50_Weights"),
                                               ("resnet152", 11.514, "ResNet152_Weights")])
def test_macs_match_torchvision_figures(name, gmac, weights):
    ours = gmacs(on_meta(get_model, name))
    assert round(ours, 3) == gmac == getattr(torchvision.models, weights).DEFAULT.meta["_ops"]
    assert ours == gmacs(on_meta(getattr(torchvision.models, name)))  # independent model, same count


def test_macs_real_device_equal_meta_device():
    assert summary(get_model("resnet18"), (1, 3, 224, 224)).macs == 1_814_073_344


@pytest.mark.parametrize("name,two_decimals,paper", [("resnet50", 3.86, 3.8), ("resnet101", 7.57, 7.6),
                                                     ("resnet152", 11.28, 11.3)])
def test_macs_with_stride_in_1x1_match_paper_table_1(name, two_decimals, paper):
    g = gmacs(on_meta(get_model, name, stride_in_1x1=True))
    assert round(g, 2) == two_decimals
    # Table 1 prints one decimal: 7.57 -> 7.6 and 11.28 -> 11.3 round, but 3.858 is printed 3.8 (truncated, not
    # rounded, which would give 3.9); no shortcut option explains it: option A (no projections) gives 3.50 G.
    assert (math.floor(g * 10) / 10 if name == "resnet50" else round(g, 1)) == paper
    if name == "resnet50":
        assert round(gmacs(on_meta(get_model, name, stride_in_1x1=True, shortcut="A")), 2) == 3.50


def test_paper_34_layer_figure_is_plain_or_option_a():
    # Table 1 / §3.3: "3.6 billion FLOPs" for 34 layers. ResNet-34 with projections (B) has 3.66 G; the plain net
    # and option A (parameter-free shortcuts) have 3.64 G, which is the paper's 3.6.
    assert round(gmacs(on_meta(get_model, "resnet34")), 2) == 3.66
    assert round(gmacs(on_meta(get_model, "plain34")), 1) == round(gmacs(on_meta(get_model, "resnet34",
                                                                                 shortcut="A")), 1) == 3.6
    assert round(gmacs(on_meta(get_model, "plain18")), 1) == 1.8


def test_stride_placement_option():
    v15, v1 = on_meta(get_model, "resnet50"), on_meta(get_model, "resnet50", stride_in_1x1=True)
    assert (v15.layer2[0].conv1.stride, v15.layer2[0].conv2.stride) == ((1, 1), (2, 2))
    assert (v1.layer2[0].conv1.stride, v1.layer2[0].conv2.stride) == ((2, 2), (1, 1))
    with pytest.raises(ValueError, match="Bottleneck"):
        get_model("resnet18", stride_in_1x1=True)


def test_dilation_matches_torchvision():
    kw = dict(replace_stride_with_dilation=[False, True, True])
    ours, tv = on_meta(get_model, "resnet50", **kw), on_meta(torchvision.models.resnet50, **kw)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in tv.state_dict().items()}
    s = summary(ours, (1, 3, 224, 224))
    assert s.macs == summary(tv, (1, 3, 224, 224)).macs and s.stages[7].output_shape == (1, 2048, 28, 28)
    assert ours.min_size == 8


# ---------------------------------------------------------------- pretrained weights (torchvision's files)

@pytest.fixture
def empty_hub(tmp_path, monkeypatch) -> Path:
    """A fresh torch.hub cache, so the download code path really runs."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    return tmp_path


def test_pretrained_download_failure_is_one_clear_line(empty_hub, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)  # what no internet looks like
    with pytest.raises(RuntimeError, match=r"could not download the resnet18 weights .* needs internet") as err:
        models.resnet18(weights="DEFAULT")
    assert "\n" not in str(err.value)


def test_pretrained_weights_load_from_the_hub_cache(empty_hub):
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url  # resnet18's DEFAULT
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().state_dict()
    (empty_hub / "checkpoints").mkdir()
    torch.save(reference, empty_hub / "checkpoints" / Path(url).name)  # as if downloaded before
    for weights in ("IMAGENET1K_V1", "DEFAULT", torchvision.models.ResNet18_Weights.IMAGENET1K_V1):
        model = models.resnet18(weights=weights, progress=False)
        assert all(torch.equal(v, reference[k]) for k, v in model.state_dict().items())


def test_pretrained_needs_the_imagenet_architecture():
    with pytest.raises(ValueError, match=r"num_classes=1000.*'num_classes': 10.*model.fc = nn.Linear"):
        models.resnet18(weights="DEFAULT", num_classes=10)
    with pytest.raises(ValueError, match="'in_channels': 1"):
        models.resnet18(weights="DEFAULT", in_channels=1)
    with pytest.raises(ValueError, match=r"unknown weights 'IMAGENET1K_V9' for resnet50: use one of .*IMAGENET1K_V2"):
        models.resnet50(weights="IMAGENET1K_V9")


# ---------------------------------------------------------------- CIFAR family (§4.2)

@pytest.mark.parametrize("name", CIFAR_PARAMS)
def test_cifar_parameter_counts_option_a(name):
    assert n_params(on_meta(get_model, name, num_classes=10)) == CIFAR_PARAMS[name]


@pytest.mark.parametrize("in_channels,size", [(3, 32), (1, 28)])
def test_cifar_stage_shapes(in_channels, size):
    s = summary(get_model("resnet20", in_channels=in_channels), (2, in_channels, size, size))
    shapes = {r.name: r.output_shape for r in s.stages}
    assert [shapes[f"layer{i}"] for i in (1, 2, 3)] == [(2, 16, size, size), (2, 32, size // 2, size // 2),
                                                        (2, 64, size // 4, size // 4)]
    assert s.output_shape == (2, 10)


def test_cifar_shortcut_options_b_and_c_add_exactly_the_projections():
    def proj(cin, cout):  # 1x1 conv + BN (weight, bias)
        return cin * cout + 2 * cout
    base = CIFAR_PARAMS["resnet20"]
    assert n_params(CifarResNet(20, shortcut="B")) == base + proj(16, 32) + proj(32, 64)
    assert n_params(CifarResNet(20, shortcut="C")) == base + 3 * proj(16, 16) + proj(16, 32) + 2 * proj(32, 32) \
        + proj(32, 64) + 2 * proj(64, 64)
    assert isinstance(get_model("resnet20").layer2[0].downsample, ShortcutA)


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_plain_nets_have_identical_layers_and_parameters(depth):
    res, plain = on_meta(get_model, f"resnet{depth}"), on_meta(get_model, f"plain{depth}")
    assert [(n, p.shape) for n, p in res.named_parameters()] == [(n, p.shape) for n, p in plain.named_parameters()]
    assert n_params(plain) == CIFAR_PARAMS[f"resnet{depth}"]
    blocks = [m for m in plain.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == (depth - 2) // 2 and all(not b.residual and b.downsample is None for b in blocks)


def test_imagenet_plain_nets_are_resnets_without_projections():
    for depth in (18, 34):
        res = on_meta(get_model, f"resnet{depth}").state_dict()
        plain = on_meta(get_model, f"plain{depth}").state_dict()
        assert {k: v.shape for k, v in plain.items()} == {k: v.shape for k, v in res.items() if "downsample" not in k}


def test_preact_nets():
    m = on_meta(get_model, "preact_resnet164")
    assert [len(getattr(m, f"layer{i}")) for i in (1, 2, 3)] == [18, 18, 18]
    assert all(isinstance(b, PreActBottleneck) for b in m.layer3)
    assert [getattr(m, f"layer{i}")[-1].conv3.out_channels for i in (1, 2, 3)] == [64, 128, 256]
    assert not hasattr(m, "bn1") and isinstance(m.final_bn, nn.BatchNorm2d) and m.fc.in_features == 256
    # He et al. (2016b) Table 3: 1.7M parameters for both pre-act ResNet-110 and ResNet-164.
    assert round(n_params(m) / 1e6, 1) == 1.7 == round(n_params(on_meta(get_model, "preact_resnet110")) / 1e6, 1)
    x = torch.randn(2, 1, 28, 28)
    assert get_model("preact_resnet20", in_channels=1, num_classes=5)(x).shape == (2, 5)
    assert CifarResNet(depth=29, block="preact_bottleneck", shortcut="B")(torch.randn(2, 3, 8, 8)).shape == (2, 10)


def test_cifar_kaiming_normal_init(seeded):
    w = get_model("resnet56").layer3[1].conv1.weight  # 64 x 64 x 3 x 3, fan_out = 64 * 9
    assert abs(w.std().item() / math.sqrt(2 / (64 * 9)) - 1) < 0.03 and abs(w.mean().item()) < 3e-3


def test_tiny_plain_net_directly():
    m = CifarResNet(depth=8, residual=False, in_channels=1)
    assert len(m.layer1) == 1 and m(torch.randn(2, 1, 28, 28)).shape == (2, 10)


# ---------------------------------------------------------------- bad options and bad inputs

@pytest.mark.parametrize("build,match", [
    (lambda: CifarResNet(depth=21), r"depth must be 6n\+2"),
    (lambda: CifarResNet(depth=22, block="preact_bottleneck"), r"depth must be 9n\+2"),
    (lambda: CifarResNet(depth=20, shortcut="D"), r"shortcut must be one of \{'A', 'B', 'C'\}, got 'D'"),
    (lambda: get_model("resnet18", shortcut="D"), r"one of \{'A', 'B', 'C'\}"),
    (lambda: get_model("resnet20", num_classes=0), "num_classes must be a positive int, got 0"),
    (lambda: get_model("resnet50", in_channels=0), "in_channels must be a positive int, got 0"),
    (lambda: CifarResNet(block="fancy"), r"block must be one of \['basic', 'bottleneck'"),
    (lambda: ResNet("basic", [2, 2, 2]), "layers must be 4 positive ints"),
    (lambda: get_model("plain20", zero_init_residual=True), "zero_init_residual=True needs residual=True"),
    (lambda: get_model("resnet20", weights="DEFAULT"), "no pretrained weights for the CIFAR-layout models"),
])
def test_invalid_options(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_inputs_raise_clear_errors():
    cifar, imagenet = get_model("resnet20"), get_model("resnet18")
    with pytest.raises(ValueError, match="expects 3 input channels, got 1 .*in_channels=1"):
        cifar(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"4-D batch .*got a 3-D tensor .*unsqueeze\(0\)"):
        cifar(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match="downsamples 32x: input must be at least 32x32, got 16x16"):
        imagenet(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="downsamples 4x: input must be at least 4x4, got 2x2"):
        cifar(torch.randn(2, 3, 2, 2))
    assert imagenet.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 1000)  # the minimum works


# ---------------------------------------------------------------- training-related behaviour

def test_gradients_reach_the_stem_of_resnet110(seeded):
    m = get_model("resnet110")
    loss = nn.functional.cross_entropy(m(torch.randn(2, 3, 8, 8)), torch.tensor([1, 2]))
    loss.backward()
    g = m.conv1.weight.grad.norm().item()
    assert g > 0 and math.isfinite(g)


@pytest.mark.parametrize("name,size", [("resnet20", 28), ("preact_resnet20", 32)])
def test_autocast_bf16_and_channels_last_on_cpu(name, size, seeded):
    m = get_model(name).eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        ref = m(x)
        m_cl = m.to(memory_format=torch.channels_last)
        out_cl = m_cl(x.to(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out_bf = m_cl(x.to(memory_format=torch.channels_last))
    assert torch.allclose(out_cl, ref, atol=1e-4)
    assert out_bf.dtype == torch.bfloat16 and torch.isfinite(out_bf).all()
    assert torch.allclose(out_bf.float(), ref, atol=0.1 * ref.abs().max().item() + 1e-2)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_forward_backward_autocast_channels_last():
    dev = torch.device("cuda")
    for name in ("resnet20", "resnet18"):
        m = get_model(name).to(dev, memory_format=torch.channels_last)
        x = torch.randn(4, 3, 32, 32, device=dev).to(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = m(x).float().logsumexp(1).mean()
        loss.backward()
        assert torch.isfinite(m.conv1.weight.grad).all() and m.conv1.weight.grad.norm() > 0


def test_stem_pool_halves_every_stage_and_checks_its_argument():
    from resnet_lib.models import CifarResNet

    net = CifarResNet(depth=8, in_channels=1, widths=(32, 64, 128), stem_width=16, stem_pool=True, shortcut="B")
    s = rl.summary(net, (1, 1, 28, 28))
    assert [tuple(r.output_shape[-2:]) for r in s.stages if r.name.startswith("layer")] == [(14, 14), (7, 7), (4, 4)]
    plain = CifarResNet(depth=8, in_channels=1, widths=(32, 64, 128), stem_width=16, shortcut="B")
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in plain.parameters())
    assert 3 < rl.summary(plain, (1, 1, 28, 28)).macs / s.macs < 4.5   # ~4x fewer positions (7x7 -> 4x4 rounds up)
    with pytest.raises(ValueError, match="stem_pool must be True or False"):
        CifarResNet(stem_pool=1)
    with pytest.raises(ValueError, match="at least 8"):
        net(torch.randn(1, 1, 6, 6))


def test_resnet9_matches_pages_layout_and_checks_its_arguments():
    from resnet_lib.models import ResNet9, resnet9

    net = resnet9()                                   # Page (2018): widths 64-128-256-512, CIFAR input
    convs = [(3, 64), (64, 128), (128, 128), (128, 128), (128, 256), (256, 512), (512, 512), (512, 512)]
    want = sum(9 * i * o + 2 * o for i, o in convs) + 512 * 10      # 3x3 convs + BN (gamma, beta) + bias-free fc
    assert sum(p.numel() for p in net.parameters()) == want == 6_573_120
    assert len([m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]) == 9
    small = get_model("resnet9", in_channels=1, widths=(16, 32, 64, 128))
    s = rl.summary(small, (1, 1, 28, 28))
    assert [tuple(r.output_shape[-2:]) for r in s.stages if r.name.startswith("layer")] == [(14, 14), (7, 7), (4, 4)]
    pair, x = small.layer1[1].eval(), torch.randn(2, 32, 14, 14)
    with torch.no_grad():                             # the residual: identity plus two conv-BN-ReLU units
        torch.testing.assert_close(pair(x), x + pair.unit2(pair.unit1(x)))
        x = torch.randn(2, 1, 28, 28)
        small.eval()
        feats = small.layer3(small.layer2(small.layer1(small.relu(small.bn1(small.conv1(x))))))
        logits = small(x)                             # max over positions, then the scaled bias-free classifier
        torch.testing.assert_close(logits, small.fc(feats.amax(dim=(2, 3))) * 0.125)
    assert logits.shape == (2, 10) and isinstance(small, ResNet9)
    with pytest.raises(ValueError, match="widths must be 4 positive channel counts"):
        resnet9(widths=(16, 32, 64))
    with pytest.raises(ValueError, match="head_scale must be a positive number"):
        resnet9(head_scale=0)
    with pytest.raises(ValueError, match="at least 8"):
        small(torch.randn(1, 1, 6, 6))
