"""DDP on CPU (gloo): 2 processes with the global batch split in two equal single-process training.

The model here has NO BatchNorm on purpose: under DDP each replica normalises with its own half-batch statistics,
so a BN network on 2 ranks follows a (slightly) different trajectory from one process on the full batch. Without
BN, DDP's averaged gradient is exactly the full-batch mean gradient (equal halves), and the weights agree up to
floating-point summation order. (``nn.SyncBatchNorm`` would restore equivalence, but it needs CUDA in training mode.)
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from resnet_lib.train import fit

from test_train import quick_cfg, tiny_data, tiny_net

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[1]
CFG = dict(epochs=2, batch_size=64, lr=0.1, schedule="cosine", precision="fp32", augment=False, weight_decay=5e-4,
           label_smoothing=0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        model = tiny_net(bn=False)
        hist = fit(model, tiny_data(), quick_cfg(**CFG))
        if rank == 0:
            torch.save({"model": model.state_dict(), "history": hist.to_dict()}, out)
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_two_cpu_ranks_equal_single_process(tmp_path):
    out = str(tmp_path / "ddp.pt")
    mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    ddp = torch.load(out, weights_only=True)
    single = tiny_net(bn=False)
    h1 = fit(single, tiny_data(), quick_cfg(**CFG))
    for k, v in single.state_dict().items():
        torch.testing.assert_close(ddp["model"][k], v, rtol=1e-5, atol=1e-6)
    hd = ddp["history"]
    assert hd["meta"]["world_size"] == 2 and h1.meta["world_size"] == 1
    for a, b in zip(hd["epochs"], h1.epochs):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=1e-9)


def test_torchrun_cli_two_cpu_ranks(tmp_path):
    """The CLI under torchrun --standalone: rank 0 writes the files, all ranks finish."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
           "resnet_lib.train", "--model", "resnet20", "--data", "digits", "--train-size", "128", "--val-size", "0",
           "--test-size", "64", "--batch-size", "32", "--epochs", "1", "--device", "cpu", "--quiet", "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=170, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ck["epoch"] == 1 and ck["history"]["meta"]["world_size"] == 2
    assert (out / "history.json").is_file() and (out / "run.json").is_file()
