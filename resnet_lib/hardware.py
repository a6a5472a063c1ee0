"""Device choice and seeding: the only place that knows which accelerators exist."""
from __future__ import annotations

import os
import random

import torch

_KNOWN = ("cuda", "mps", "cpu")


def device(prefer: str | None = None) -> torch.device:
    """Pick the compute device: CUDA, then Apple MPS, then CPU.

    Args:
        prefer: ``None``/``"auto"`` to pick automatically, or ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``.
            ``RESNET_DEVICE`` in the environment is used when ``prefer`` is ``None``.
    Returns:
        A ``torch.device``.
    """
    prefer = prefer if prefer is not None else os.environ.get("RESNET_DEVICE")
    if prefer in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = str(prefer).split(":")[0]
    if kind not in _KNOWN:
        raise ValueError(f"unknown device {prefer!r}: use one of 'auto', 'cuda', 'cuda:N', 'mps', 'cpu'")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {prefer!r} asked for, but CUDA is not available here: use 'cpu' or 'auto'")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {prefer!r} asked for, but MPS is not available here: use 'cpu' or 'auto'")
    return torch.device(prefer)


def cpu_label() -> str:
    """Threads and vector ISA of torch's CPU kernels, e.g. ``"2 threads, AVX2"``: what CPU timings depend on most."""
    get = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    return f"{torch.get_num_threads()} threads" + (f", {get()}" if get else "")


def cpu_kernels_below_avx512() -> bool:
    """Whether torch's CPU kernels dispatch below AVX512: a CPU without it, or one capped to emulate such a CPU.

    ``ATEN_CPU_CAPABILITY=avx2`` (with ``ONEDNN_MAX_CPU_ISA=AVX2`` for oneDNN's convolutions) makes an AVX512/AMX
    machine run the AVX2 class's kernels; the probes below then answer as that class would (see CONTRIBUTING.md).
    """
    get = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    return get is not None and get() in ("AVX2", "DEFAULT", "NO AVX")


def cpu_has_amx() -> bool:
    """Whether torch can use Intel AMX tiles (bf16 and int8 matrix units): what int8 and bf16 CPU speed-ups hinge on.

    Returns:
        ``True`` on CPUs with AMX (Sapphire Rapids and later) whose kernels are not capped below AVX512,
        ``False`` elsewhere or when torch cannot tell.
    """
    if cpu_kernels_below_avx512():
        return False
    probe = getattr(getattr(torch, "cpu", None), "_is_amx_tile_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except Exception:  # a private helper: a capability probe must never break a chapter
        return False


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices)."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # numpy is a dependency, but seeding must not be the place that fails
        pass
    torch.manual_seed(seed)
