"""Checkpoints: atomic writes, weights_only loads, clear errors, and SIGKILL-then-resume equals an uninterrupted run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from resnet_lib.checkpoint import (CheckpointError, atomic_write_bytes, load_checkpoint, load_model_state, rng_state,
                                   save_checkpoint, set_rng_state)
from resnet_lib.train import TrainConfig, fit

from test_train import quick_cfg, tiny_data, tiny_net

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data():
    return tiny_data()


def test_save_load_round_trip_weights_only(tmp_path):
    m = tiny_net()
    state = {"model": m.state_dict(), "epoch": 3, "rng": rng_state(), "config": {"lr": 0.1, "splits": ["test"]},
             "nothing": None}
    p = save_checkpoint(state, tmp_path / "sub" / "c.pt")
    assert sorted(os.listdir(p.parent)) == ["c.pt"]  # no temporary file left behind
    back = torch.load(p, weights_only=True)  # only tensors and plain containers inside
    assert back["epoch"] == 3 and back["config"] == {"lr": 0.1, "splits": ["test"]} and back["nothing"] is None
    assert all(torch.equal(back["model"][k], v) for k, v in m.state_dict().items())


def test_rng_state_round_trip():
    import random

    import numpy as np

    s = rng_state()
    a = (torch.rand(3), random.random(), np.random.rand())
    set_rng_state(s)
    b = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


def test_failed_write_keeps_the_old_file(tmp_path):
    p = save_checkpoint({"model": {}, "epoch": 1}, tmp_path / "c.pt")
    before = p.read_bytes()

    def boom(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(p, writer=boom)
    assert p.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["c.pt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_gives_the_permissions_of_a_plain_open(tmp_path):
    old = os.umask(0o022)
    try:
        p = atomic_write_bytes(tmp_path / "h.json", b"{}")
        (tmp_path / "plain").write_bytes(b"{}")
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777 == 0o644


def test_truncated_or_garbage_file_is_a_clear_error(tmp_path):
    p = save_checkpoint({"model": tiny_net().state_dict(), "epoch": 1}, tmp_path / "c.pt")
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated") as e:
        load_checkpoint(p)
    assert "\n" not in str(e.value) and isinstance(e.value, ValueError)
    (tmp_path / "g.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "g.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a resnet_lib checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_wrong_architecture_is_a_clear_error():
    with pytest.raises(CheckpointError, match="does not match the model architecture") as e:
        load_model_state(tiny_net(bn=False), tiny_net(bn=True).state_dict())
    assert "\n" not in str(e.value)


def test_resume_refuses_other_config_and_never_overwrites(tmp_path, data, capsys):
    out = str(tmp_path / "run")
    fit(tiny_net(), data, quick_cfg(epochs=1, out=out))
    with pytest.raises(CheckpointError, match="already holds a run"):  # no --resume: refuse, keep the work
        fit(tiny_net(), data, quick_cfg(epochs=2, out=out))
    with pytest.raises(CheckpointError, match="lr: 0.1 \\(stored\\) != 0.2"):
        fit(tiny_net(), data, quick_cfg(epochs=1, out=out, resume=True, lr=0.2))
    with pytest.raises(CheckpointError, match="does not match the model architecture"):
        fit(tiny_net(bn=False), data, quick_cfg(epochs=1, out=out, resume=True))
    with pytest.raises(CheckpointError, match="n_train"):
        fit(tiny_net(), tiny_data(train_size=256), quick_cfg(epochs=1, out=out, resume=True))
    assert load_checkpoint(Path(out) / "checkpoint.pt")["epoch"] == 1
    capsys.readouterr()
    h = fit(tiny_net(), data, quick_cfg(epochs=1, out=str(tmp_path / "fresh"), resume=True, quiet=False))
    assert "no checkpoint" in capsys.readouterr().err and len(h.epochs) == 1


CLI = [sys.executable, "-m", "resnet_lib.train", "--model", "resnet20", "--data", "digits", "--train-size", "256",
       "--val-size", "0", "--test-size", "64", "--batch-size", "32", "--epochs", "4", "--lr", "0.05",
       "--schedule", "cosine", "--quiet", "--device", "cpu"]


# one thread: these runs are tiny, and on a busy machine a 2-thread OpenMP team mostly waits for a descheduled thread
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def run_cli(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + ["--out", str(out), *extra], cwd=ROOT, capture_output=True, text=True, timeout=150,
                          env=ENV)


def test_sigkill_then_resume_is_bitwise_equal(tmp_path):
    """Kill the CLI with SIGKILL right after its first checkpoint appears; --resume must finish bit for bit."""
    ref = run_cli(tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen(CLI + ["--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=ENV)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed: make it longer"
    epoch_at_kill = load_checkpoint(out / "checkpoint.pt")["epoch"]
    assert 1 <= epoch_at_kill < 4
    res = run_cli(out, "--resume")
    assert res.returncode == 0, res.stderr
    a = torch.load(out / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "ref" / "checkpoint.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 4
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"]), "resumed weights differ"
    strip = lambda h: [{k: v for k, v in e.items() if k not in ("time_s", "img_per_s")} for e in h["epochs"]]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])
