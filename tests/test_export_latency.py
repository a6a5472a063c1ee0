"""resnet_lib.export (ONNX with a dynamic batch, ONNX Runtime, the comparison) and resnet_lib.latency."""
from __future__ import annotations

import time

import pytest
import torch

import resnet_lib as rl
from resnet_lib import limits
from resnet_lib.export import max_abs_difference, onnx_session, run_onnx, to_onnx
from resnet_lib.latency import forward_fn, measure_latency


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")
def test_onnx_file_has_a_dynamic_batch_and_matches_pytorch(tmp_path):
    onnx = pytest.importorskip("onnx", reason="needs onnx (requirements.txt installs it)")
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (requirements.txt installs it)")
    torch.manual_seed(0)
    model = rl.resnet20(in_channels=1).eval()
    path = to_onnx(model, torch.randn(2, 1, 28, 28), tmp_path / "r20.onnx")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["r20.onnx"]          # one file, weights inside
    assert path.stat().st_size > 4 * sum(p.numel() for p in model.parameters())  # fp32 weights are in it
    dim0 = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param and not dim0.dim_value                 # a symbolic batch size, not 2
    session = onnx_session(path, threads=1)
    for batch in (1, 7):                                         # other sizes than the export's
        x = torch.randn(batch, 1, 28, 28)
        with torch.no_grad():
            ref = model(x)
        out = run_onnx(session, x)
        assert out.shape == (batch, 10)
        diff = max_abs_difference(session, model, x)
        assert diff == pytest.approx(float((out - ref).abs().max())) and diff < 1e-4


def test_export_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="path must end in .onnx"):
        to_onnx(torch.nn.Identity(), torch.randn(1, 1, 2, 2), tmp_path / "m.pt")
    with pytest.raises(ValueError, match="example_inputs must be one"):
        to_onnx(torch.nn.Identity(), torch.randn(2, 2), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="is not a file"):
        onnx_session(tmp_path / "missing.onnx")


def test_latency_interleaves_rounds_and_ranks_by_median():
    calls = []

    def sleeper(name: str, seconds: float):
        def run():
            calls.append(name)
            time.sleep(seconds)
        return run

    # sleeps long enough that scheduler jitter (~2 ms seen under a loaded pytest-xdist run) cannot reorder them
    res = measure_latency({"slow": sleeper("slow", 0.020), "fast": sleeper("fast", 0.004)}, rounds=3, reps=2, warmup=1)
    assert calls[:2] == ["slow", "fast"]                          # warm-up, then rounds
    rounds = [calls[2 + 4 * r:2 + 4 * (r + 1)] for r in range(3)]
    assert rounds == [["slow"] * 2 + ["fast"] * 2, ["fast"] * 2 + ["slow"] * 2, ["slow"] * 2 + ["fast"] * 2]
    assert len(res.rounds["fast"]) == 3 and res.reps == 2
    assert res.ms["slow"] > res.ms["fast"] >= 4.0                 # milliseconds
    assert res.faster_in_every_round("fast", "slow", margin=2) and not res.faster_in_every_round("slow", "fast")
    assert res.speedup("slow", "fast") > 2
    with pytest.raises(ValueError, match="unknown variant 'x': measured slow, fast"):
        res.speedup("x", "fast")


def test_latency_is_capped_in_a_smoke_run_and_checks_its_arguments():
    model, x = torch.nn.Conv2d(1, 2, 3), torch.randn(1, 1, 8, 8)
    with limits.limited(limits.SMOKE_LIMITS):
        res = measure_latency({"conv": forward_fn(model, x)}, rounds=1, reps=50)
    assert res.reps == limits.SMOKE_LIMITS.eval_batches
    with pytest.raises(ValueError, match="rounds must be a positive int"):
        measure_latency({"conv": forward_fn(model, x)}, rounds=0)
    with pytest.raises(ValueError, match="variants must map names to callables"):
        measure_latency({"conv": 3})
