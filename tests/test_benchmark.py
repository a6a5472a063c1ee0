"""rl.benchmark.throughput: a copy is timed (the model is untouched), smoke limits cap it, bad input is one line."""
from __future__ import annotations

import pytest
import torch

from resnet_lib import limits
from resnet_lib.benchmark import throughput
from resnet_lib.models import resnet20

pytestmark = pytest.mark.usefixtures("single_thread")


def test_training_steps_leave_the_model_unchanged_and_count_the_steps():
    model = resnet20(in_channels=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = []
    model.fc.register_forward_hook(lambda *a: calls.append(1))  # deepcopy keeps the hook: it counts the copy's calls
    r = throughput(model, (8, 1, 28, 28), steps=3, warmup=1, precision="fp32", channels_last=False)
    assert len(calls) == 4 and r.steps == 3 and r.batch == 8 and r.train
    assert r.images_per_s == pytest.approx(8 / (r.ms_per_batch / 1000))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # weights and BN statistics


def test_inference_and_smoke_limits():
    calls = []
    model = resnet20(in_channels=1)
    model.fc.register_forward_hook(lambda *a: calls.append(1))
    with limits.limited(limits.SMOKE_LIMITS):
        r = throughput(model, (4, 1, 28, 28), train=False, steps=10, warmup=5)
    assert not r.train and r.steps == 2 and len(calls) == 3  # 1 warm-up + 2 timed, the smoke caps
    assert r.precision in ("fp32", "bf16") and r.channels_last  # "auto" on a CPU, as fit resolves it


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"input_shape": (1, 28, 28)}, r"input_shape must be \(N, C, H, W\)"),
    ({"input_shape": (0, 1, 28, 28)}, r"input_shape must be"),
    ({"steps": 0}, r"steps must be a positive int"),
    ({"warmup": -1}, r"warmup must be an int >= 0"),
    ({"precision": "fp16"}, r"precision='fp16' needs CUDA"),
])
def test_bad_arguments(kwargs, message):
    args = {"input_shape": (2, 1, 28, 28), **kwargs}
    with pytest.raises(ValueError, match=message):
        throughput(resnet20(in_channels=1), args.pop("input_shape"), **args)
