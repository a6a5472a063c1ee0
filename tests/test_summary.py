"""summary(): parameters and MACs against a hand computation, per-layer rows, mode restoration, rendering."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from resnet_lib.models import get_model
from resnet_lib.model_summary import ModelSummary, summary

pytestmark = pytest.mark.usefixtures("single_thread")


def tiny() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, 10))


def test_hand_computed_params_and_macs():
    s = summary(tiny(), (3, 8, 8))
    conv_macs = 8 * 8 * 8 * 3 * 9   # output positions x output channels x (in channels x 3 x 3)
    fc_macs = 8 * 8 * 8 * 10
    assert isinstance(s, ModelSummary)
    assert s.params == s.trainable_params == 8 * 3 * 9 + 2 * 8 + 512 * 10 + 10
    assert s.macs == conv_macs + fc_macs
    assert s.input_shape == (1, 3, 8, 8) and s.output_shape == (1, 10)
    assert [(r.name, r.kind, r.output_shape, r.params, r.macs) for r in s.stages] == [
        ("0", "Conv2d", (1, 8, 8, 8), 216, conv_macs), ("1", "BatchNorm2d", (1, 8, 8, 8), 16, 0),
        ("2", "ReLU", (1, 8, 8, 8), 0, 0), ("3", "Flatten", (1, 512), 0, 0), ("4", "Linear", (1, 10), 5130, fc_macs)]


def test_batch_scales_macs_and_input_size_forms_agree():
    m = tiny()
    assert summary(m, (1, 3, 8, 8)).macs == summary(m, (3, 8, 8)).macs
    assert summary(m, (4, 3, 8, 8)).macs == 4 * summary(m, (3, 8, 8)).macs


def test_stage_macs_add_up_for_a_resnet():
    s = summary(get_model("resnet20"), (1, 3, 32, 32))
    assert s.params == 269_722 and sum(r.macs for r in s.stages) == s.macs > 40_000_000
    assert [r.name for r in s.stages] == ["conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", "fc"]


def test_restores_modes_and_leaves_statistics_and_grads_alone():
    m = tiny().train()
    m[1].eval()  # a frozen BN inside a training model must stay frozen
    before = m[1].running_mean.clone(), m[1].num_batches_tracked.clone()
    summary(m, (2, 3, 8, 8))
    assert m.training and not m[1].training and m[0].training
    assert torch.equal(m[1].running_mean, before[0]) and torch.equal(m[1].num_batches_tracked, before[1])
    assert all(p.grad is None for p in m.parameters())
    m.eval()
    summary(m, (3, 8, 8))
    assert not any(x.training for x in m.modules())


def test_trainable_params_excludes_frozen():
    m = tiny()
    m[0].weight.requires_grad_(False)
    s = summary(m, (3, 8, 8))
    assert s.params - s.trainable_params == 216


def test_bad_arguments():
    for bad in [(8, 8), (1, 1, 3, 8, 8), (3, 0, 8), (3, 8.0, 8)]:
        with pytest.raises(ValueError, match=r"input_size must be \(C, H, W\) or \(N, C, H, W\)"):
            summary(tiny(), bad)
    with pytest.raises(ValueError, match="the model is on cpu but device=meta"):
        summary(tiny(), (3, 8, 8), device="meta")


def test_str_is_a_fixed_width_table_and_html_renders():
    s = summary(get_model("resnet20"), (1, 3, 32, 32))
    text = str(s)
    lines = text.splitlines()
    assert lines[0] == "CifarResNet: input (1, 3, 32, 32) -> output (1, 10)"
    table = lines[1:-1]
    assert len({len(line.rstrip()) for line in table if not line.startswith("-")} | {len(table[1])}) == 1
    assert "layer3" in text and "(1, 64, 8, 8)" in text and "269,722" in text
    assert lines[-1] == "trainable params: 269,722"
    page = s._repr_html_()
    assert page.count("<tr") == len(s.stages) + 2 and "269,722" in page and "&lt;" not in page


class WithSpare(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body, self.spare = tiny(), nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # spare never runs


def test_unused_children_are_listed_as_not_called():
    s = summary(WithSpare(), (3, 8, 8))
    assert [(r.name, r.output_shape, r.params) for r in s.stages] == [("body", (1, 10), 5362), ("spare", None, 6)]
    assert s.stages[0].macs == s.macs and "not called" in str(s)


def test_package_level_summary_is_the_function_after_the_module_was_imported():
    import resnet_lib as rl
    import resnet_lib.model_summary  # noqa: F401  (a submodule import must not shadow rl.summary)

    s = rl.summary(tiny(), (3, 8, 8))
    assert isinstance(s, ModelSummary) and s.macs == summary(tiny(), (3, 8, 8)).macs
