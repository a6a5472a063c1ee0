"""recalibrate_bn: the running statistics become the average over the batches it reads, computed here directly."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from resnet_lib import limits
from resnet_lib.bn import recalibrate_bn

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("single_thread")]


@pytest.fixture(scope="module")
def data():
    from resnet_lib.data import load_data

    return load_data("digits", train_size=512, val_size=0, test_size=100, seed=0, device="cpu")


def net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 64, 10))


def test_running_stats_become_the_average_of_the_batch_statistics(data):
    model = net().eval()
    model[1].running_mean.fill_(5.0)                       # stale statistics
    model[1].running_var.fill_(9.0)
    recalibrate_bn(model, data, batch_size=64, batches=4, seed=3)
    assert not model.training                              # mode restored
    means, variances = [], []
    for x, _ in list(data.loader("train", 64, shuffle=True, augment=False, drop_last=True, seed=3))[:4]:
        with torch.no_grad():
            z = model[0](x)                                # the BN's input: [64, 8, 8, 8]
        means.append(z.mean((0, 2, 3)))
        variances.append(z.var((0, 2, 3), unbiased=True))  # BN keeps the unbiased batch variance
    torch.testing.assert_close(model[1].running_mean, torch.stack(means).mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model[1].running_var, torch.stack(variances).mean(0), rtol=1e-5, atol=1e-6)
    assert model[1].momentum == 0.1                        # update_bn puts the momentum back


def test_a_momentum_gives_the_exponential_average_training_keeps(data):
    model = net().eval()
    model[1].running_mean.fill_(5.0)
    recalibrate_bn(model, data, batch_size=64, batches=3, seed=2, momentum=0.25)
    assert not model.training and model[1].momentum == 0.1            # mode and momentum restored
    expected = torch.full((8,), 5.0)
    for x, _ in list(data.loader("train", 64, shuffle=True, augment=False, drop_last=True, seed=2))[:3]:
        with torch.no_grad():
            expected = 0.75 * expected + 0.25 * model[0](x).mean((0, 2, 3))
    torch.testing.assert_close(model[1].running_mean, expected, rtol=1e-5, atol=1e-6)
    for bad in (0, 1.5, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match="momentum must be None"):
            recalibrate_bn(net(), data, momentum=bad)


def test_a_smoke_run_reads_two_batches_and_bad_input_is_a_one_line_error(data):
    with limits.limited(limits.RunLimits(eval_batches=2)):
        a = recalibrate_bn(net(), data, batch_size=64, seed=1)
    b = recalibrate_bn(net(), data, batch_size=64, batches=2, seed=1)
    torch.testing.assert_close(a[1].running_mean, b[1].running_mean)
    with pytest.raises(ValueError, match="no BatchNorm layer"):
        recalibrate_bn(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), data)
    with pytest.raises(ValueError, match="batches must be a positive int"):
        recalibrate_bn(net(), data, batches=0)
