"""resnet_lib.compress: distillation loss against a hand computation, pruning against direct counts and sliced
networks, PT2E int8 quantization against the float model."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import resnet_lib as rl
from resnet_lib import limits
from resnet_lib.compress import (DistillationLoss, magnitude_prune, prune_channels, quantize_pt2e,
                                 residual_stream_layers, sparsity, split_reused_modules, state_dict_bytes)


# ------------------------------------------------------------------ distillation
def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class _FixedTeacher(nn.Module):
    """Returns given logits, whatever the input; has a BatchNorm so that its mode matters."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(1)
        self.register_buffer("logits", logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits + 0 * self.bn(x.flatten(1)[:, :1]).sum()


@pytest.mark.parametrize(("temperature", "alpha"), [(4.0, 0.5), (1.0, 0.0), (2.5, 0.9)])
def test_distillation_loss_equals_a_hand_computation(temperature, alpha):
    gen = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 7, generator=gen), torch.randn(5, 7, generator=gen)
    y = torch.tensor([0, 3, 6, 2, 2])
    loss = DistillationLoss(_FixedTeacher(t), temperature=temperature, alpha=alpha)(s, y, torch.randn(5, 3))
    # by hand: T^2 * mean over the batch of sum_k p_t log(p_t / p_s), softened by T; CE with the hard labels
    p_s, p_t = _softmax(s.numpy() / temperature), _softmax(t.numpy() / temperature)
    kl = (p_t * (np.log(p_t) - np.log(p_s))).sum(axis=1).mean() * temperature ** 2
    ce = -np.log(_softmax(s.numpy())[np.arange(5), y.numpy()]).mean()
    assert math.isclose(loss.item(), alpha * ce + (1 - alpha) * kl, rel_tol=1e-5)


def test_distillation_gradient_reaches_the_student_only_and_the_teacher_stays_in_eval():
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.BatchNorm1d(4)).train()
    loss_fn = DistillationLoss(teacher, temperature=3, alpha=0.3)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    teacher.train()  # switched back by someone: the loss puts it in eval again
    before = teacher[2].running_mean.clone()
    logits = torch.randn(6, 4, requires_grad=True)
    loss_fn(logits, torch.randint(0, 4, (6,)), torch.randn(6, 3, 2, 2)).backward()
    assert not teacher.training and torch.equal(teacher[2].running_mean, before)  # no BN update
    assert logits.grad is not None and all(p.grad is None for p in teacher.parameters())
    assert "distillation(T=3, alpha=0.3)" == loss_fn.__name__


def test_distillation_with_alpha_one_is_cross_entropy_and_the_arguments_are_checked():
    s, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    loss = DistillationLoss(_FixedTeacher(torch.randn(4, 3)), alpha=1.0)(s, y, torch.randn(4, 1))
    torch.testing.assert_close(loss, F.cross_entropy(s, y))
    with pytest.raises(ValueError, match="temperature must be a number > 0"):
        DistillationLoss(nn.Linear(2, 2), temperature=0)
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
        DistillationLoss(nn.Linear(2, 2), alpha=1.5)
    with pytest.raises(ValueError, match="teacher must be an nn.Module"):
        DistillationLoss(lambda x: x)


def test_fit_trains_a_student_with_the_distillation_loss():
    data = rl.load_data("digits", seed=0)
    torch.manual_seed(0)
    teacher, student = rl.resnet20(in_channels=1), rl.resnet20(in_channels=1)
    loss_fn = DistillationLoss(teacher, temperature=4, alpha=0.5)
    with limits.limited(limits.RunLimits(epochs=1, train_steps=2, eval_batches=1)):
        hist = rl.fit(student, data, rl.TrainConfig(epochs=1, batch_size=32, quiet=True, precision="fp32",
                                                    warmup_epochs=0), loss_fn=loss_fn)
    assert hist.meta["loss"] == "distillation(T=4, alpha=0.5)" and len(hist.epochs) == 1


# ------------------------------------------------------------------ unstructured pruning
def test_global_magnitude_prune_zeroes_the_smallest_weights_of_a_copy():
    torch.manual_seed(0)
    model = rl.resnet20(in_channels=1)
    pruned = magnitude_prune(model, 0.6)
    ws = lambda m: torch.cat([x.weight.detach().flatten() for x in m.modules()  # noqa: E731
                              if isinstance(x, (nn.Conv2d, nn.Linear))])
    orig, new = ws(model), ws(pruned)
    n_zero = int((new == 0).sum())
    assert n_zero == round(0.6 * orig.numel())               # exactly the fraction asked for
    assert math.isclose(sparsity(pruned), n_zero / orig.numel())
    assert orig.abs()[new == 0].max() <= orig.abs()[new != 0].min()  # the smallest magnitudes went
    torch.testing.assert_close(new[new != 0], orig[new != 0], rtol=0, atol=0)
    assert sparsity(model) == 0.0                              # the original is untouched
    assert not any(n.endswith("_orig") for n, _ in pruned.named_parameters())  # masks made permanent


def test_layerwise_prune_gives_each_layer_the_fraction_and_arguments_are_checked():
    torch.manual_seed(0)
    pruned = magnitude_prune(rl.resnet20(in_channels=1), 0.5, scope="layer")
    for m in pruned.modules():
        if isinstance(m, nn.Conv2d):
            assert int((m.weight == 0).sum()) == round(0.5 * m.weight.numel())
    with pytest.raises(ValueError, match=r"amount must be a fraction in \[0, 1\)"):
        magnitude_prune(nn.Linear(2, 2), 1.0)
    with pytest.raises(ValueError, match="scope must be 'global' or 'layer'"):
        magnitude_prune(nn.Linear(2, 2), 0.5, scope="net")
    with pytest.raises(ValueError, match="has no Conv2d, Linear layers"):
        sparsity(nn.ReLU())


# ------------------------------------------------------------------ structured pruning
def _nontrivial(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 1.5), m.bias.uniform_(-0.2, 0.2)
    return model.eval()


def test_channel_pruning_of_option_b_shrinks_every_group():
    torch.manual_seed(0)
    model = _nontrivial(rl.resnet20(in_channels=1, shortcut="B"))
    x = torch.randn(2, 1, 28, 28)
    pruned = prune_channels(model, x, 0.5)
    before, after = rl.summary(model, (1, 1, 28, 28)), rl.summary(pruned, (1, 1, 28, 28))
    assert pruned(x).shape == (2, 10) and after.macs < 0.35 * before.macs   # ~1/4 of the MACs are left
    assert pruned.layer3[0].conv2.out_channels == 32 and model.layer3[0].conv2.out_channels == 64


def test_option_a_needs_the_residual_stream_kept_and_then_equals_a_sliced_network():
    torch.manual_seed(0)
    model = _nontrivial(rl.resnet20(in_channels=1))                  # option A: zero-pad shortcuts
    x = torch.randn(3, 1, 28, 28)
    with pytest.raises(ValueError, match="no longer runs.*residual_stream_layers"):
        prune_channels(model, x, 0.5)
    pruned = prune_channels(model, x, 0.5, ignored_layers=residual_stream_layers(model))
    for b_old, b_new in zip(model.layer1, pruned.layer1):
        assert b_new.conv1.out_channels == 8 and b_new.conv2.out_channels == 16
    # the same network by hand: keep, in each block, the conv1 rows torch-pruning kept, and the matching BN and
    # conv2 columns; the outputs must be equal
    ref = rl.resnet20(in_channels=1).eval()
    ref.load_state_dict(model.state_dict())
    blocks = [b for layer in (ref.layer1, ref.layer2, ref.layer3) for b in layer]
    new_blocks = [b for layer in (pruned.layer1, pruned.layer2, pruned.layer3) for b in layer]
    for b, nb in zip(blocks, new_blocks):
        w = b.conv1.weight.detach().flatten(1)
        keep = [int((w - row).abs().sum(1).argmin()) for row in nb.conv1.weight.detach().flatten(1)]
        assert len(set(keep)) == len(keep) == b.conv1.out_channels // 2
        with torch.no_grad():
            b.conv1.weight = nn.Parameter(b.conv1.weight[keep])
            for name in ("weight", "bias", "running_mean", "running_var"):
                setattr(b.bn1, name, type(getattr(b.bn1, name))(getattr(b.bn1, name)[keep]))
            b.conv2.weight = nn.Parameter(b.conv2.weight[:, keep])
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), ref(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"ratio must be a fraction in \[0, 1\)"):
        prune_channels(model, x, 1.2)


# ------------------------------------------------------------------ int8 quantization (PT2E)
def test_split_reused_modules_renames_the_second_relu_of_a_block():
    gm = torch.export.export(rl.BasicBlock(8, 8).eval(), (torch.randn(2, 8, 6, 6),)).module()
    assert split_reused_modules(gm) == 1                      # relu is called twice: the second call renamed
    names = [list(n.meta["nn_module_stack"].values())[-1][0] for n in gm.graph.nodes
             if n.op == "call_function" and "relu" in n.name]
    assert names == ["relu", "relu@1"]


def test_quantize_pt2e_is_close_to_float_smaller_and_takes_any_batch():
    torch.manual_seed(0)
    model = _nontrivial(rl.resnet20(in_channels=1))
    calib = [torch.randn(16, 1, 28, 28) for _ in range(3)]
    q = quantize_pt2e(model, calib, calib[0])
    x = torch.randn(5, 1, 28, 28)                             # another batch size than the export's
    with torch.no_grad():
        ref, out = model(x), q(x)
    assert out.shape == (5, 10)
    assert (out - ref).abs().max() < 0.1 * ref.abs().max()   # int8 rounding: close, not equal
    assert not torch.equal(out, ref)
    assert state_dict_bytes(q) < 0.45 * state_dict_bytes(model)   # int8 weights: about a quarter (+ scales)
    with pytest.raises(ValueError, match="calibration gave no batches"):
        quantize_pt2e(model, [], calib[0])
    with pytest.raises(ValueError, match="max_batches must be a positive int"):
        quantize_pt2e(model, calib, calib[0], max_batches=0)
