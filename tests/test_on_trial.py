"""Chapter 10's measurements: the MSE loss as the posts write it, and one stored-run file from the command."""
from __future__ import annotations

import json
import os

import pytest
import torch
import torch.nn.functional as F

os.environ.setdefault("KERAS_BACKEND", "torch")

from resnet_lib import limits, on_trial  # noqa: E402
from resnet_lib.data.bundle import DataBundle  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")


def test_mse_on_probabilities_matches_torch_mse_loss():
    logits, y = torch.randn(5, 4), torch.tensor([0, 3, 1, 1, 2])
    p = logits.softmax(1)
    want = sum(((p[i] - torch.eye(4)[y[i]]) ** 2).sum() for i in range(5)) / 20        # mean over 5 x 4
    torch.testing.assert_close(on_trial.mse_on_probabilities(logits, y, None), want)
    torch.testing.assert_close(on_trial.mse_on_probabilities(logits, y, None),
                               torch.nn.MSELoss()(F.softmax(logits, 1), F.one_hot(y, 4).float()))


def test_recipe_and_unknown_loss():
    cfg = on_trial.recipe(3, seed=2)
    assert (cfg.lr, cfg.schedule, cfg.milestones, cfg.label_smoothing, cfg.augment, cfg.precision) == \
        (0.1, "step", (0.5, 0.75), 0.0, False, "fp32")
    with pytest.raises(ValueError, match="loss must be one of"):
        on_trial.train_torch(None, cfg, loss="hinge")


def _bundle() -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (256, 1, 12, 12), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (256,), generator=g)
    return DataBundle(name="tiny", x_train=x, y_train=y, x_val=x[:0], y_val=y[:0], x_test=x[:16], y_test=y[:16],
                      mean=(0.5,), std=(0.25,), classes=[str(i) for i in range(10)], augment="none", pad=0,
                      source="generated for a test")


@pytest.mark.parametrize("study", ["keras", "loss"])
def test_the_command_writes_both_runs_with_provenance(study, tmp_path, monkeypatch):
    if study == "keras":
        pytest.importorskip("keras")
    monkeypatch.setattr(on_trial, "load_data", lambda *a, **k: _bundle())
    out = tmp_path / "run.json"
    with limits.limited(limits.RunLimits(epochs=1, train_steps=1, eval_batches=1)):
        assert on_trial.main(["--study", study, "--seed", "1", "--epochs", "2", "--out", str(out)]) == 0
    info = json.loads(out.read_text())
    names = ("keras", "torch") if study == "keras" else on_trial.LOSSES
    assert list(info["runs"]) == list(names) and info["seed"] == 1 and info["study"] == study
    assert info["git_commit"] and info["device_name"] and info["config"]["epochs"] == 2
    assert all(0 <= r["test_acc"] <= 1 and r["seconds"] > 0 for r in info["runs"].values())
