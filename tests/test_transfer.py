"""Transfer helpers: class splits, label fractions, layer groups, per-group learning rates, frozen BN."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

import resnet_lib as rl
from resnet_lib import limits
from resnet_lib import transfer as tf
from resnet_lib.data import load_data

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("single_thread")]


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", val_size=0, seed=0)


def test_split_classes(digits):
    part = tf.split_classes(digits, [7, 2])
    assert part.classes == [digits.classes[7], digits.classes[2]] and part.num_classes == 2
    for split in ("train", "test"):
        x, y = digits.split(split)
        px, py = part.split(split)
        assert torch.equal(px, x[(y == 7) | (y == 2)])
        assert torch.equal(py, (y[(y == 7) | (y == 2)] == 2).long())       # 7 -> 0, 2 -> 1
    assert part.mean == digits.mean
    with pytest.raises(ValueError, match="distinct class indices in 0..9"):
        tf.split_classes(digits, [3, 3])


def test_label_fraction_is_stratified_and_nested(digits):
    small, big = tf.label_fraction(digits, 0.1, seed=4), tf.label_fraction(digits, 0.5, seed=4)
    counts = torch.bincount(digits.y_train, minlength=10)
    assert torch.equal(torch.bincount(small.y_train, minlength=10), (0.1 * counts.double()).round().long())
    assert len(small.y_test) == len(digits.y_test)
    as_rows = {tuple(r.tolist()) for r in big.x_train.flatten(1)}
    assert all(tuple(r.tolist()) in as_rows for r in small.x_train.flatten(1))    # a subset of the larger
    assert tf.label_fraction(digits, 1.0) is digits
    assert len(tf.label_fraction(digits, 0.0001).y_train) == 10                   # at least one per class
    with pytest.raises(ValueError, match="a number in \\(0, 1\\]"):
        tf.label_fraction(digits, 0)


@pytest.mark.parametrize("name", ["resnet20", "preact_resnet20", "resnet18"])
def test_layer_groups_cover_every_parameter_once(name):
    model = rl.get_model(name)
    groups = tf.layer_groups(model)
    assert list(groups)[0] == "stem" and list(groups)[-1] == "head"
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert any(p is model.fc.weight for p in groups["head"])          # (pre-act: with final_bn)


def test_layerwise_lr():
    assert tf.layerwise_lr(rl.resnet20(), 0.5) == {"head": 1.0, "layer3": 0.5, "layer2": 0.25, "layer1": 0.125,
                                                   "stem": 0.0625}
    with pytest.raises(ValueError, match="a number in \\(0, 1\\]"):
        tf.layerwise_lr(rl.resnet20(), 2)


def test_freeze_bn_keeps_the_eval_function(seeded):
    from torchvision.ops.misc import FrozenBatchNorm2d

    model = rl.resnet20(in_channels=1)
    model.train()(torch.randn(16, 1, 12, 12))              # non-trivial running statistics
    x = torch.randn(4, 1, 12, 12)
    want = model.eval()(x)
    frozen = tf.freeze_bn(copy.deepcopy(model))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in frozen.modules())
    assert sum(isinstance(m, FrozenBatchNorm2d) for m in frozen.modules()) == 19
    torch.testing.assert_close(frozen.train()(x), want)     # training mode changes nothing now


def _one_step(digits, lr_mult, frozen_bn=False):
    torch.manual_seed(0)
    model = rl.resnet20(in_channels=1, num_classes=10)
    before = copy.deepcopy(model.state_dict())
    cfg = rl.TrainConfig(epochs=1, batch_size=64, lr=0.1, schedule="constant", precision="fp32", seed=0, quiet=True)
    with limits.limited(limits.RunLimits(epochs=1, train_steps=1, eval_batches=1)):
        r = tf.fine_tune(model, digits, cfg, lr_mult=lr_mult, frozen_bn=frozen_bn)
    return model, before, r


def test_fine_tune_scales_each_groups_step(digits):
    a, a0, ra = _one_step(digits, None)
    b, b0, rb = _one_step(digits, {"layer1": 0.25, "stem": 0.0})
    assert ra.lr_mult["layer1"] == 1.0 and rb.lr_mult == {"stem": 0.0, "layer1": 0.25, "layer2": 1.0,
                                                          "layer3": 1.0, "head": 1.0}
    w = "layer1.0.conv1.weight"     # first step: momentum buffer = gradient, so the step is lr * mult * (g + wd w)
    torch.testing.assert_close(b.state_dict()[w] - b0[w], 0.25 * (a.state_dict()[w] - a0[w]), rtol=1e-4, atol=1e-7)
    assert torch.equal(b.state_dict()["conv1.weight"], b0["conv1.weight"])          # mult 0: frozen
    w = "layer3.2.conv2.weight"
    torch.testing.assert_close(b.state_dict()[w] - b0[w], a.state_dict()[w] - a0[w])
    assert 0 <= ra.test_acc <= 1 and ra.train_images == len(digits.y_train)
    assert rb.trainable_params == ra.trainable_params - b.conv1.weight.numel() - 2 * 16


def test_linear_probe_trains_the_head_only(digits):
    pre = rl.resnet20(in_channels=1, num_classes=3)
    model, mult, frozen = tf.prepare("linear-probe", pre, rl.resnet20(in_channels=1), 10)
    assert frozen and model.fc.out_features == 10 and pre.fc.out_features == 3
    before = copy.deepcopy(model.state_dict())
    cfg = rl.TrainConfig(epochs=1, batch_size=64, lr=0.1, seed=0, quiet=True, schedule="constant")
    with limits.limited(limits.RunLimits(epochs=1, train_steps=2, eval_batches=1)):
        r = tf.fine_tune(model, digits, cfg, lr_mult=mult, frozen_bn=frozen)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"fc.weight", "fc.bias"} and r.trainable_params == 64 * 10 + 10
    with pytest.raises(ValueError, match="unknown method 'probe': use one of scratch, linear-probe"):
        tf.prepare("probe", pre, pre, 10)


def test_fine_tune_errors(digits):
    cfg = rl.TrainConfig(epochs=1, quiet=True)
    with pytest.raises(ValueError, match="unknown layer group 'layer4': use stem, layer1, layer2, layer3, head"):
        tf.fine_tune(rl.resnet20(in_channels=1), digits, cfg, lr_mult={"layer4": 1.0})
    with pytest.raises(ValueError, match="0 freezes the group"):
        tf.fine_tune(rl.resnet20(in_channels=1), digits, cfg, lr_mult={"head": -1})
    with pytest.raises(ValueError, match="no nn.Linear head named fc"):
        tf.replace_head(nn.Sequential(), 3)


def test_imagenet_pretrained_with_the_download_mocked(monkeypatch, seeded):
    """The Colab path (torchvision's ImageNet weights): the download is replaced by a local state_dict."""
    import torchvision
    from torchvision.models import ResNet18_Weights

    state = torchvision.models.resnet18().state_dict()
    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.__class__, "get_state_dict",
                        lambda self, *a, **k: state)
    model = tf.imagenet_pretrained("resnet18", 10)
    assert model.fc.out_features == 10
    torch.testing.assert_close(model.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    with pytest.raises(ValueError, match="unknown network 'resnet20' for ImageNet weights: use one of resnet18"):
        tf.imagenet_pretrained("resnet20")
