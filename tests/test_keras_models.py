"""The Keras rendition of the CIFAR ResNet (chapter 10) is resnet_lib's network: same parameters, same outputs."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip("keras was imported with another backend first", allow_module_level=True)

from resnet_lib import limits  # noqa: E402
from resnet_lib.data.bundle import DataBundle  # noqa: E402
from resnet_lib.keras_models import copy_torch_weights, keras_cifar_resnet, keras_fit, to_nhwc  # noqa: E402
from resnet_lib.models import resnet20, resnet32  # noqa: E402
from resnet_lib.train_config import TrainConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")


def _weights(ws) -> int:
    return sum(int(np.prod(w.shape)) for w in ws)


@pytest.mark.parametrize("depth,shortcut", [(20, "A"), (20, "B"), (32, "B")])
def test_parameter_counts_equal_resnet_lib(depth, shortcut):
    ours = {20: resnet20, 32: resnet32}[depth](in_channels=1, shortcut=shortcut)
    theirs = keras_cifar_resnet(depth, in_channels=1, shortcut=shortcut)
    buffers = sum(b.numel() for n, b in ours.named_buffers() if not n.endswith("num_batches_tracked"))
    assert _weights(theirs.trainable_weights) == sum(p.numel() for p in ours.parameters())
    assert _weights(theirs.non_trainable_weights) == buffers          # Keras counts BN's moving mean and var
    assert theirs.count_params() == sum(p.numel() for p in ours.parameters()) + buffers


def _outputs(shortcut: str, padding: str) -> tuple[np.ndarray, np.ndarray]:
    torch.manual_seed(0)
    ours = resnet20(in_channels=1, shortcut=shortcut).eval()
    with torch.no_grad():                                        # BN statistics that are not (0, 1)
        for m in ours.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2)
                m.bias.uniform_(-0.2, 0.2)
    theirs = keras_cifar_resnet(20, in_channels=1, shortcut=shortcut, padding=padding)
    assert copy_torch_weights(theirs, ours) == 19 * 2 + 1 + (2 * 2 if shortcut == "B" else 0)   # convs, BNs, fc
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        want = ours(x).numpy()
    got = theirs(x.permute(0, 2, 3, 1).numpy(), training=False)
    return want, np.asarray(keras.ops.convert_to_numpy(got))


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_same_weights_same_outputs_with_torch_padding(shortcut):
    want, got = _outputs(shortcut, "torch")
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_keras_same_padding_shifts_strided_convolutions():
    want, got = _outputs("B", "same")
    assert np.abs(got - want).max() > 1e-2                      # pads bottom/right only: another function


def test_copy_refuses_a_different_network():
    with pytest.raises(ValueError, match="no weights for Keras layer 'layer2_0_downsample_0'"):
        copy_torch_weights(keras_cifar_resnet(20, shortcut="B"), resnet20(in_channels=1, shortcut="A"))
    with pytest.raises(ValueError, match="torch weights with no Keras layer: layer2.0.downsample.0.weight"):
        copy_torch_weights(keras_cifar_resnet(20, shortcut="A"), resnet20(in_channels=1, shortcut="B"))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"depth must be 6n \+ 2"):
        keras_cifar_resnet(18)
    with pytest.raises(ValueError, match="shortcut must be one of"):
        keras_cifar_resnet(20, shortcut="C")
    with pytest.raises(ValueError, match="padding must be one of"):
        keras_cifar_resnet(20, padding="valid")


def test_to_nhwc_matches_a_hand_computation():
    x = torch.randint(0, 256, (2, 3, 4, 5), dtype=torch.uint8)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    got = to_nhwc(x, mean, std)
    assert got.shape == (2, 4, 5, 3) and got.dtype == np.float32
    c = 2
    np.testing.assert_allclose(got[..., c], (x[:, c].numpy() / 255 - mean[c]) / std[c], rtol=1e-6)


def _tiny_bundle(n: int = 64) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 1, 12, 12), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    empty_x, empty_y = x[:0], y[:0]
    return DataBundle(name="tiny", x_train=x, y_train=y, x_val=empty_x, y_val=empty_y, x_test=x[:32],
                      y_test=y[:32], mean=(0.5,), std=(0.25,), classes=[str(i) for i in range(10)], augment="none",
                      pad=0, source="generated for a test")


def test_keras_fit_uses_fits_schedule_and_limits():
    data = _tiny_bundle()
    cfg = TrainConfig(lr=0.1, schedule="step", milestones=(0.5,), epochs=2, batch_size=16)
    model = keras_cifar_resnet(8, in_channels=1)
    with limits.limited(limits.RunLimits(epochs=2, train_steps=2, eval_batches=1)):
        out = keras_fit(model, data, epochs=3, batch_size=16, schedule=cfg, seed=0)
    assert out["steps"] == 4 and len(out["train_loss"]) == 2 and 0 <= out["test_acc"] <= 1
    # the schedule of the whole run (3 epochs x 4 steps, /10 at step 6), cut after 2 x 2 steps: still 0.1
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)
    out = keras_fit(model, data, epochs=2, batch_size=16, schedule=cfg, seed=0)      # 8 steps, /10 at step 4
    assert out["steps"] == 8 and float(model.optimizer.learning_rate) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        keras_fit(model, data, epochs=0)


def test_keras_fit_takes_the_smoke_batch_cap_as_fit_does():
    data, model, asked = _tiny_bundle(), keras_cifar_resnet(8, in_channels=1), []
    fit_, predict_ = model.fit, model.predict
    model.fit = lambda *a, **k: (asked.append(("fit", len(a[0]), k["batch_size"])), fit_(*a, **k))[1]
    model.predict = lambda *a, **k: (asked.append(("predict", len(a[0]), k["batch_size"])), predict_(*a, **k))[1]
    with limits.limited(limits.RunLimits(epochs=1, train_steps=2, eval_batches=1, batch_size=8)):
        out = keras_fit(model, data, epochs=3, batch_size=16, seed=0)
    assert asked == [("fit", 16, 8), ("predict", 8, 8)] and out["steps"] == 2
