"""The family tree (issue 12): exact parameter counts, timm's state_dicts, SE, stochastic depth, ResNeXt's groups."""
from __future__ import annotations

import sys
import types

import pytest
import torch
import torch.nn as nn
from torchvision.ops import SqueezeExcitation, StochasticDepth

from resnet_lib.models import CifarResNet, SqueezeExcite, get_model, resnet20
from resnet_lib.models.common import stochastic_depth_probs

pytestmark = pytest.mark.usefixtures("single_thread")

# 3-channel input, 10 classes; batch-norm parameters included (the papers' 68.1 M and 10.2 M leave them out).
CIFAR_VARIANT_PARAMS = {
    "wrn16_4": 2_748_890, "wrn16_8": 10_961_370, "wrn28_10": 36_479_194, "wrn40_4": 8_949_210,
    "resnext29_8x64d": 34_426_698, "resnext29_16x64d": 68_155_210, "resnext29_32x4d": 4_775_754,
    "preact_resnet164": 1_703_258, "preact_resnet1001": 10_327_706,
    "se_resnet20": 274_490, "se_resnet56": 861_818, "se_resnet110": 1_742_810,
}
TIMM_PARAMS = {"resnet50d": 25_576_264, "resnet26d": 16_014_408, "seresnet50": 28_088_024}


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def on_meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return get_model(name, **kwargs)


@pytest.mark.parametrize(("name", "params"), sorted({**CIFAR_VARIANT_PARAMS, **TIMM_PARAMS}.items()))
def test_parameter_counts_are_exact(name, params):
    assert n_params(on_meta(name)) == params


@pytest.mark.parametrize("name", ["wrn28_10", "resnext29_8x64d", "se_resnet56", "preact_resnet1001"])
def test_100_classes_change_only_the_last_layer(name):
    ten, hundred = on_meta(name), on_meta(name, num_classes=100)
    assert n_params(hundred) - n_params(ten) == 90 * (ten.fc.in_features + 1)


def test_wide_resnet_layout():
    m = on_meta("wrn16_4", drop_rate=0.3)
    assert m.conv1.out_channels == 16 and not hasattr(m, "bn1")  # the stem: 3x3 to 16, no BN
    widths = [layer[0].conv1.out_channels for layer in (m.layer1, m.layer2, m.layer3)]
    assert widths == [64, 128, 256] and len(m.layer1) == 2      # WRN-16: n = (16 - 4) / 6 = 2
    assert all(isinstance(layer[0].downsample[0], nn.Conv2d) and len(layer[0].downsample) == 1
               for layer in (m.layer1, m.layer2, m.layer3))     # 1x1 projection, no BN (pre-activation)
    assert m.layer2[1].dropout.p == 0.3 and all(c.bias is None for c in m.modules() if isinstance(c, nn.Conv2d))


@pytest.mark.parametrize(("name", "cardinality", "group_width"),
                         [("resnext29_8x64d", 8, 64), ("resnext29_16x64d", 16, 64), ("resnext29_32x4d", 32, 4)])
def test_resnext_has_cardinality_groups_of_d_channels(name, cardinality, group_width):
    # A textbook's ResNeXt block passes groups = bottleneck_channels // cardinality to the 3x3 conv: with 8x64d that
    # is 64 groups of 8 channels, the transpose of the paper's 8 paths of 64. This test tells the two apart.
    m = on_meta(name)
    for stage, mult in ((m.layer1, 1), (m.layer2, 2), (m.layer3, 4)):
        conv = stage[0].conv2
        assert conv.groups == cardinality
        assert conv.in_channels // conv.groups == group_width * mult  # channels per path double per stage
    assert m.conv1.out_channels == 64 and m.layer3[0].conv3.out_channels == 1024


def test_se_block_equals_torchvision_squeeze_excitation():
    torch.manual_seed(0)
    ours, ref = SqueezeExcite(64, reduction=16), SqueezeExcitation(64, 4)
    ours.load_state_dict(ref.state_dict(), strict=True)  # same names: fc1, fc2 (weights and biases)
    x = torch.randn(3, 64, 7, 5)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-6, atol=1e-6)
    assert n_params(SqueezeExcite(64, 16, bias=False)) == 2 * 64 * 4


def _perturb_bn(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


@pytest.mark.parametrize("name", sorted(TIMM_PARAMS))
def test_timm_state_dict_loads_strictly_and_outputs_match(name):
    timm = pytest.importorskip("timm", reason="timm is the reference for ResNet-D and SE-ResNet (pip install timm)")
    torch.manual_seed(0)
    ref = timm.create_model(name, pretrained=False).eval()
    _perturb_bn(ref)
    ours = get_model(name).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    for size in (64, 71):  # an odd size: the average-pool shortcut's ceil_mode must agree too
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)


def test_weights_timm_calls_timm_with_pretrained(monkeypatch):
    calls = []

    def create_model(name, pretrained=False):
        calls.append((name, pretrained))
        return get_model(name)  # stands in for the download: same architecture, random weights

    monkeypatch.setitem(sys.modules, "timm", types.SimpleNamespace(create_model=create_model))
    model = get_model("resnet26d", weights="timm")
    assert calls == [("resnet26d", True)] and model.fc.out_features == 1000


@pytest.mark.parametrize(("call", "message"), [
    (lambda: get_model("resnet50d", weights="imagenet"), r"weights must be None or 'timm'"),
    (lambda: get_model("seresnet50", weights="timm", num_classes=10), r"need num_classes=1000"),
    (lambda: get_model("wrn16_4", widths=(1, 2, 3)), r"wrn16_4 fixes widths"),
    (lambda: get_model("wrn16_4", weights="DEFAULT"), r"no pretrained weights for wrn16_4"),
    (lambda: CifarResNet(20, groups=4), r"groups and width_per_group \(ResNeXt\) need block='bottleneck'"),
    (lambda: CifarResNet(20, drop_rate=0.3), r"drop_rate .* needs block='preact_basic'"),
    (lambda: resnet20(se_reduction=-1), r"se_reduction must be 0 .* or a positive int"),
    (lambda: resnet20(stochastic_depth_prob=1.0), r"stochastic_depth_prob must be a probability in \[0, 1\)"),
    (lambda: get_model("plain20", stochastic_depth_prob=0.2), r"a plain block .* has none"),
    (lambda: get_model("resnet18", avg_down=True, shortcut="A"), r"avg_down=True needs projection shortcuts"),
])
def test_bad_options_get_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


def test_stochastic_depth_decays_linearly_and_is_torchvisions():
    assert stochastic_depth_probs(0.5, 4) == [0.125, 0.25, 0.375, 0.5]
    m = get_model("resnet110", stochastic_depth_prob=0.5)  # Huang et al.'s ResNet-110 setting
    drops = [b.drop_path for layer in (m.layer1, m.layer2, m.layer3) for b in layer]
    assert all(isinstance(d, StochasticDepth) and d.mode == "row" for d in drops)
    torch.testing.assert_close(torch.tensor([d.p for d in drops]), torch.arange(1, 55) / 54 * 0.5)
    assert get_model("resnet50", stochastic_depth_prob=0.2).layer4[2].drop_path.p == pytest.approx(0.2)


def test_stochastic_depth_is_the_identity_in_eval_and_drops_whole_branches_in_training():
    torch.manual_seed(0)
    with_sd, without = resnet20(stochastic_depth_prob=0.5).eval(), resnet20().eval()
    without.load_state_dict(with_sd.state_dict(), strict=True)  # StochasticDepth adds no state
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(with_sd(x), without(x), rtol=0, atol=0)
    block = with_sd.layer3[2].train()  # p = 0.5: some rows keep F(x) (scaled by 2), the others drop it
    h = torch.randn(64, 64, 8, 8)
    with torch.no_grad():
        out = block(h)
        kept = ~torch.isclose(out, torch.relu(h)).flatten(1).all(1)
    assert 10 < int(kept.sum()) < 54  # 64 rows at p = 0.5: far outside this is not row-wise dropping


def test_se_and_stochastic_depth_are_options_of_every_family():
    for name, kwargs in (("resnet18", {}), ("resnet50", {}), ("resnet20", {}), ("preact_resnet20", {}),
                         ("preact_resnet164", {}), ("wrn16_4", {}), ("resnext29_32x4d", {})):
        m = on_meta(name, se_reduction=8, stochastic_depth_prob=0.1, **kwargs)
        blocks = [b for b in m.modules() if hasattr(b, "drop_path")]
        assert blocks and all(isinstance(b.se, SqueezeExcite) and b.drop_path is not None for b in blocks), name
