"""fit / TrainConfig / History: records, determinism, divergence, resume in-process, validation."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn as nn

from resnet_lib.checkpoint import load_checkpoint
from resnet_lib.history import History
from resnet_lib.schedules import lr_at
from resnet_lib.train import TrainConfig, TrainingDivergedError, build_optimizer, fit

pytestmark = pytest.mark.timeout(120)


def tiny_data(train_size: int = 384, seed: int = 0):
    """scikit-learn's 8×8 digits through resnet_lib.data (bundled, no download)."""
    from resnet_lib.data import load_data

    return load_data("digits", train_size=train_size, val_size=0, test_size=300, seed=seed, device="cpu")


def tiny_net(bn: bool = True, seed: int = 0) -> nn.Module:
    """A 2-conv network (fast; ``bn=False`` for exact DDP equivalence). Input [B, 1, H, W] -> [B, 10]."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Conv2d(1, 16, 3, padding=1, bias=not bn)]
    layers += [nn.BatchNorm2d(16)] if bn else []
    layers += [nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
               nn.Flatten(), nn.Linear(32 * 4 * 4, 10)]
    return nn.Sequential(*layers)


def quick_cfg(**kw) -> TrainConfig:
    base = dict(epochs=2, lr=0.1, batch_size=64, schedule="cosine", warmup_epochs=0.0, quiet=True, seed=0,
                precision="fp32", eval_splits=("test",))
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data():
    return tiny_data()


def test_fit_records_what_the_chapters_read(data):
    cfg = quick_cfg(epochs=3, log_every_steps=2)
    h = fit(tiny_net(), data, cfg)
    assert isinstance(h, History) and len(h.epochs) == 3
    for e in h.epochs:
        assert set(e) == {"epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "time_s", "img_per_s"}
    assert [e["epoch"] for e in h.epochs] == [1, 2, 3]
    assert h.final("train_err") == pytest.approx(1 - h.epochs[-1]["train_acc"])
    assert h.series("test_acc") == [e["test_acc"] for e in h.epochs]
    spe = 384 // 64  # drop_last: full batches only
    assert [s[0] for s in h.steps] == list(range(0, 3 * spe, 2))
    for step, loss, lr in h.steps:  # rates are the pure schedule's
        assert lr == pytest.approx(lr_at(step, 3 * spe, spe, cfg)) and math.isfinite(loss)
    assert h.epochs[-1]["lr"] == pytest.approx(lr_at(3 * spe - 1, 3 * spe, spe, cfg))
    assert h.meta["config"]["lr"] == 0.1 and h.meta["train_size"] == 384


def test_fit_learns(data):
    h = fit(tiny_net(), data, quick_cfg(epochs=6, lr=0.2, schedule="onecycle"))
    assert h.epochs[-1]["train_loss"] < 0.6 * h.epochs[0]["train_loss"]
    assert h.final("test_acc") > 0.6  # 10 classes: chance is 0.1


def test_same_seed_same_history_and_weights(data):
    runs = []
    for _ in range(2):
        m = tiny_net()
        h = fit(m, data, quick_cfg(precision="auto", label_smoothing=0.1, grad_clip=1.0, record_grad_norms=True))
        runs.append((h, m.state_dict()))
    (h1, w1), (h2, w2) = runs
    assert h1.without_times() == h2.without_times()
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    h3 = fit(tiny_net(), data, quick_cfg(seed=1))  # another seed: another data order
    assert h3.without_times()["steps"] != h1.without_times()["steps"]


def test_grad_norms_recorded_per_epoch(data):
    m = tiny_net()
    h = fit(m, data, quick_cfg(epochs=2, record_grad_norms=True))
    weights = [n for n, p in m.named_parameters() if p.ndim > 1]
    assert len(h.grad_norms) == 2 and list(h.grad_norms[0]) == weights
    assert all(v > 0 and math.isfinite(v) for g in h.grad_norms for v in g.values())


def test_history_json_round_trip(tmp_path, data):
    h = fit(tiny_net(), data, quick_cfg(epochs=1, record_grad_norms=True))
    h2 = History.load(h.save(tmp_path / "h.json"))
    assert h2.to_dict() == h.to_dict()
    assert h2.final("test_err") == pytest.approx(1 - h.final("test_acc"))
    with pytest.raises(ValueError, match="not recorded"):
        h.series("val_acc")
    with pytest.raises(ValueError, match="not valid JSON"):
        (tmp_path / "bad.json").write_text("{")
        History.load(tmp_path / "bad.json")


def test_no_decay_on_bn_and_bias():
    m = tiny_net()
    groups = build_optimizer(m, quick_cfg(weight_decay=5e-4)).param_groups
    decayed = {id(p) for p in groups[0]["params"]}
    assert groups[0]["weight_decay"] == 5e-4 and groups[1]["weight_decay"] == 0.0
    assert all((id(p) in decayed) == (p.ndim > 1) for p in m.parameters())
    one = build_optimizer(m, quick_cfg(no_decay_bn_bias=False)).param_groups
    assert len(one) == 1 and one[0]["weight_decay"] == quick_cfg().weight_decay


class NaNAt(nn.Module):
    """Wraps a model and makes its output NaN from training forward number ``at`` on (simulated blow-up)."""

    def __init__(self, net: nn.Module, at: int | None):
        super().__init__()
        self.net, self.at, self.calls = net, at, 0

    def forward(self, x):
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.at is not None and self.calls > self.at:
                out = out * float("nan")
        return out


def test_divergence_stops_with_epoch_and_step_and_keeps_checkpoint(tmp_path, data):
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, step \d+"):
        fit(tiny_net(), data, quick_cfg(lr=1e6, schedule="constant", epochs=1))
    assert issubclass(TrainingDivergedError, FloatingPointError)
    # NaN injected in epoch 2 (6 steps per epoch): the epoch-1 checkpoint survives untouched
    with pytest.raises(TrainingDivergedError, match="epoch 2, step 8"):
        fit(NaNAt(tiny_net(), at=8), data, quick_cfg(epochs=3, out=str(tmp_path / "a")))
    state = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    assert state["epoch"] == 1 and len(state["history"]["epochs"]) == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


class StopAt(nn.Module):
    """Wraps a model and raises KeyboardInterrupt at training forward number ``at`` (an interrupted run)."""

    def __init__(self, net: nn.Module, at: int | None):
        super().__init__()
        self.net, self.at, self.calls = net, at, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.at is not None and self.calls == self.at:
                raise KeyboardInterrupt
        return self.net(x)


def test_interrupted_run_resumes_bitwise_in_process(tmp_path, data):
    cfg = quick_cfg(epochs=3, precision="auto", out=str(tmp_path / "run"))
    ref = StopAt(tiny_net(), None)
    h_ref = fit(ref, data, dataclasses.replace(cfg, out=str(tmp_path / "ref")))
    with pytest.raises(KeyboardInterrupt):
        fit(StopAt(tiny_net(), at=9), data, cfg)  # dies in epoch 2, after the epoch-1 checkpoint
    resumed = StopAt(tiny_net(seed=123), None)  # other initial weights: everything must come from the checkpoint
    h = fit(resumed, data, dataclasses.replace(cfg, resume=True))
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in resumed.state_dict().items())
    a, b = h.without_times(), h_ref.without_times()
    assert a["epochs"] == b["epochs"] and a["steps"] == b["steps"]


@pytest.mark.parametrize("field,value,match", [
    ("epochs", 0, "epochs=0"), ("batch_size", -1, "batch_size"), ("lr", 0.0, "lr=0.0"),
    ("momentum", 1.5, "momentum"), ("schedule", "linear", "schedule='linear'"), ("precision", "fp8", "precision"),
    ("channels_last", "maybe", "channels_last"), ("label_smoothing", 1.0, "label_smoothing"),
    ("grad_clip", 0.0, "grad_clip"), ("warmup_epochs", 5.0, "warmup_epochs"), ("eval_splits", ("dev",), "eval_splits"),
    ("device", "tpu", "device"), ("seed", -1, "seed"), ("resume", True, "resume"), ("epochs", 2.5, "epochs"),
    ("augment", "rotate", "augment=.rotate.*crop-flip, crop, flip, none"),
])
def test_config_validation_names_the_field(field, value, match):
    kw = {"epochs": 3, field: value} if field != "epochs" else {field: value}
    if field == "warmup_epochs":
        kw["schedule"] = "cosine"
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


def test_empty_eval_split_is_an_error(data):
    with pytest.raises(ValueError, match="val"):
        fit(tiny_net(), data, quick_cfg(eval_splits=("val", "test")))
    h = fit(tiny_net(), data, quick_cfg(epochs=1, eval_splits=None))  # default: the non-empty of val, test
    assert "test_acc" in h.epochs[0] and "val_acc" not in h.epochs[0]


def test_device_defaults():
    from resnet_lib.train import resolve_channels_last, resolve_precision

    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) in ("bf16", "fp32") and resolve_precision("fp32", cpu) == "fp32"
    assert resolve_channels_last("auto", cpu, "fp32") is True and resolve_channels_last(False, cpu) is False
    assert resolve_channels_last("auto", torch.device("mps"), "fp32") is False
    assert resolve_channels_last("auto", cpu, "bf16") is True and resolve_channels_last(False, cpu, "bf16") is False
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16", cpu)


def test_cpu_has_amx_agrees_with_the_kernel_flags(monkeypatch):
    import os

    from resnet_lib import hardware

    if hardware.cpu_kernels_below_avx512():  # capped (ATEN_CPU_CAPABILITY=avx2) or an AVX2 CPU: no AMX for torch
        assert hardware.cpu_has_amx() is False
    elif os.path.exists("/proc/cpuinfo"):  # Linux: the kernel's own flag list is an independent reference
        assert hardware.cpu_has_amx() == (" amx_tile" in open("/proc/cpuinfo").read())
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: 1 / 0, raising=False)
    assert hardware.cpu_has_amx() is False  # a failing probe answers "no", it never raises


def test_compile_failure_falls_back_to_eager(monkeypatch, data):
    from resnet_lib import train

    def broken(*a, **k):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(train.torch, "compile", broken)
    with pytest.warns(UserWarning, match="torch.compile unavailable"):
        h = fit(tiny_net(), data, quick_cfg(epochs=1, compile=True))
    assert len(h.epochs) == 1


def test_custom_loss_fn_sees_logits_labels_and_batch_and_equals_the_default(data):
    seen = []

    def smoothed_ce(logits, y, x):  # the default loss written out: the same run, bit for bit
        seen.append((tuple(logits.shape), logits.dtype, tuple(y.shape), tuple(x.shape)))
        return nn.functional.cross_entropy(logits, y, label_smoothing=0.1)

    h_default = fit(tiny_net(), data, quick_cfg(label_smoothing=0.1))
    net = tiny_net()
    h_custom = fit(net, data, quick_cfg(label_smoothing=0.1), loss_fn=smoothed_ce)
    assert seen[0] == ((64, 10), torch.float32, (64,), (64, 1, 8, 8))
    assert h_custom.meta["loss"] == "smoothed_ce" and h_default.meta["loss"] == "cross_entropy"
    assert [e["train_loss"] for e in h_custom.epochs] == [e["train_loss"] for e in h_default.epochs]
    with pytest.raises(ValueError, match="loss_fn must be a callable"):
        fit(tiny_net(), data, quick_cfg(), loss_fn="mse")


def test_kernels_capped_to_avx2_answer_as_the_avx2_class(monkeypatch):
    import os
    import platform
    import subprocess
    import sys

    from resnet_lib import hardware
    from resnet_lib.precision import resolve_precision

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert hardware.cpu_kernels_below_avx512() and hardware.cpu_has_amx() is False
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert not hardware.cpu_kernels_below_avx512()
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("ATEN_CPU_CAPABILITY=avx2 exists on x86-64 only")
    # the real switch, in a fresh process: torch reads ATEN_CPU_CAPABILITY once, at start-up
    code = ("import torch, resnet_lib as rl; from resnet_lib.precision import resolve_precision; "
            "print(rl.hardware.cpu_label(), rl.hardware.cpu_has_amx(), resolve_precision('auto', torch.device('cpu')))")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("AVX2 False fp32"), out
