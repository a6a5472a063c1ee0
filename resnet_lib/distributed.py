"""torchrun / DistributedDataParallel set-up and tear-down, and rank helpers.

``python -m resnet_lib.train ...`` becomes data-parallel when started by ``torchrun`` (one or many nodes)::

    torchrun --standalone --nproc_per_node=4 -m resnet_lib.train --model resnet56 --data cifar10 --out runs/r56
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 --nproc_per_node=8 -m resnet_lib.train ...

torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and ``MASTER_ADDR``/``MASTER_PORT``); :func:`setup` reads them,
joins the process group (NCCL on CUDA with device ``cuda:LOCAL_RANK``, gloo on CPU) and returns the device.
``--batch-size`` stays the GLOBAL batch: each of the ``WORLD_SIZE`` ranks takes ``batch_size // WORLD_SIZE`` samples
of every step (so the learning rate means the same thing on 1 or 64 processes). Only rank 0 prints, shows progress
bars and writes files; on resume every rank loads the same checkpoint.

BatchNorm under DDP normalises with per-replica batch statistics, so a BN network trained on N ranks equals
single-process training only up to that difference; with BN-free models (or ``nn.SyncBatchNorm``, which needs CUDA
in training mode) the gradients are those of the global batch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the job."""

    rank: int = 0  # global rank, 0 .. world_size-1
    world_size: int = 1  # number of processes
    local_rank: int = 0  # rank within this node (selects the GPU)

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes files."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """True when ``WORLD_SIZE`` and ``RANK`` are in the environment (torchrun, or a hand-made launch)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def info() -> DistInfo:
    """Rank, world size and local rank of this process (``DistInfo()`` when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return DistInfo()


def setup(device: str | None = "auto") -> torch.device:
    """Join the process group started by torchrun and return this rank's device.

    Args:
        device: ``"auto"``/``None`` (CUDA if available, else CPU), ``"cuda"`` or ``"cpu"``.
    Returns:
        ``cuda:LOCAL_RANK`` (NCCL backend) or ``cpu`` (gloo backend).
    """
    if not launched_by_torchrun():
        raise ValueError("distributed.setup() needs RANK and WORLD_SIZE in the environment: start with torchrun")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    kind = "cuda" if device in (None, "auto") and torch.cuda.is_available() else str(device or "cpu").split(":")[0]
    if kind == "auto":
        kind = "cpu"
    if kind not in ("cuda", "cpu"):
        raise ValueError(f"distributed training runs on 'cuda' or 'cpu', not {device!r}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' asked for, but CUDA is not available here: use --device cpu")
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        dev = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return dev


def teardown(wait: bool = True) -> None:
    """Leave the process group (no-op when not distributed); ``wait`` first waits for every rank."""
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over ranks in place and return it (no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_buffers(model: torch.nn.Module, src: int = 0) -> None:
    """Copy every buffer (e.g. BatchNorm running statistics) from rank ``src`` to all ranks."""
    if dist.is_available() and dist.is_initialized():
        for b in model.buffers():
            dist.broadcast(b.data, src)
