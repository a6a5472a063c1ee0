"""Precision and memory layout per device: what ``precision="auto"`` and ``channels_last="auto"`` resolve to.

Defaults by device (``precision="auto"``, ``channels_last="auto"``), measured for ResNet-20 on 1×28×28, batch 128.
On a 2-core AMD EPYC with AVX512-BF16 (torch 2.14, 2026-11-23): bf16 + channels-last ~1 800–1 980 img/s, bf16 NCHW
~1 650, fp32 channels-last ~1 150, fp32 NCHW 700–1 350 (unstable between processes), ``torch.compile`` with bf16 +
channels-last 1 433 (after 37 s of compilation). On a 2-core AMD EPYC with AVX2 only (no native bf16; 2026-12-01,
medians of alternating rounds in one process): fp32 channels-last 514–567 img/s vs fp32 NCHW 429–460 (1.18–1.23×;
plain-56 182 vs 145), bf16 autocast 42 (emulated), ``torch.compile`` 576–580 after 24–42 s of compilation. So the
CPU default is channels-last, with bf16 where the CPU has native bf16 (AVX512-BF16/AMX) and fp32 elsewhere; compile
stays opt-in. On CUDA: bf16 (fp16 + GradScaler on GPUs without bf16) and channels-last (tensor-core convolutions
prefer NHWC); not measured here (no GPU). ``benchmarks/README.md`` has the comparisons with the tutorial loop.
"""
from __future__ import annotations

import contextlib

import torch

from .hardware import cpu_kernels_below_avx512


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` → the fastest correct precision for ``device`` (see the module docstring); others validated."""
    kind = device.type
    if precision == "auto":
        if kind == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if kind == "cpu":
            return "bf16" if _cpu_has_native_bf16() else "fp32"
        return "fp32"
    if precision == "fp16" and kind != "cuda":
        raise ValueError(f"precision='fp16' needs CUDA (GradScaler), not {kind}: use 'bf16' or 'fp32'")
    if precision == "bf16" and kind not in ("cuda", "cpu"):
        raise ValueError(f"precision='bf16' is supported here on 'cuda' and 'cpu', not {kind}: use 'fp32'")
    return precision


def resolve_channels_last(channels_last: bool | str, device: torch.device, precision: str = "fp32") -> bool:
    """``"auto"`` → True on CUDA and CPU (measured faster on CPU in fp32 and bf16), False elsewhere; bools pass.

    ``precision`` no longer changes the answer; it stays in the signature for callers that pass it.
    """
    if channels_last != "auto":
        return bool(channels_last)
    return device.type in ("cuda", "cpu")


def _cpu_has_native_bf16() -> bool:
    if cpu_kernels_below_avx512():  # AVX2 kernels emulate bf16: 42 vs 514+ img/s in fp32 (see above)
        return False
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(bool(getattr(cpu, name)()) for name in checks if hasattr(cpu, name))
    except Exception:  # private helpers: never let a capability probe break training
        return False


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context of a resolved ``precision`` (``"fp32"``: none) on ``device``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
