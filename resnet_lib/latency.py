"""Latency of several variants of a network, measured fairly on a shared machine.

A CPU that other jobs share has slow moments. Timing variant A for a minute and then variant B compares the
variants *and* the moments. :func:`measure_latency` interleaves instead: in every round each variant runs ``reps`` timed
calls (after ``warmup`` untimed ones), in an order that rotates from round to round, and the round's median is
kept; the result is the median over rounds, and :meth:`Latency.faster_in_every_round` says whether one variant beat
another in *every* round — the book's test before it calls a speed-up robust. Timings describe only the machine
they ran on: print them with ``rl.hardware.cpu_label()``.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from . import limits


@dataclass(frozen=True)
class Latency:
    """Per-variant timings: ``rounds[name]`` holds one median (milliseconds per call) per round."""

    rounds: dict[str, list[float]]
    reps: int  # timed calls per variant and round

    @property
    def ms(self) -> dict[str, float]:
        """The median over rounds of each variant's per-round median, in milliseconds per call."""
        return {k: statistics.median(v) for k, v in self.rounds.items()}

    def speedup(self, slow: str, fast: str) -> float:
        """``ms[slow] / ms[fast]``: how many times faster ``fast`` is than ``slow``."""
        for name in (slow, fast):
            if name not in self.rounds:
                raise ValueError(f"unknown variant {name!r}: measured {', '.join(self.rounds)}")
        return self.ms[slow] / self.ms[fast]

    def faster_in_every_round(self, fast: str, slow: str, margin: float = 1.0) -> bool:
        """True when ``fast`` took less than ``slow / margin`` in every round (``margin=1.2``: 1.2x faster each time)."""
        self.speedup(slow, fast)  # checks the names
        return all(f * margin < s for f, s in zip(self.rounds[fast], self.rounds[slow]))


def measure_latency(variants: Mapping[str, Callable[[], Any]], *, rounds: int = 5, reps: int = 10,
            warmup: int = 2) -> Latency:
    """Time each zero-argument callable (one forward pass each), interleaved over ``rounds``.

    Args:
        variants: ``{name: fn}``; ``fn()`` runs one call, e.g. ``lambda: model(x)`` (wrap it in
            ``torch.inference_mode()`` yourself, or pass a session's ``run``).
        rounds: how many rounds (each visits every variant once, in a rotated order).
        reps: timed calls per variant and round; a smoke run (:mod:`resnet_lib.limits`) caps it to its
            evaluation-batch cap.
        warmup: untimed calls per variant before its first timed round.
    Returns:
        A :class:`Latency`.
    """
    for name, value in (("rounds", rounds), ("reps", reps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}")
    if not variants or not all(callable(f) for f in variants.values()):
        raise ValueError("variants must map names to callables (at least one)")
    cap = limits.current().eval_batches
    if cap is not None:
        reps, warmup = min(reps, cap), min(warmup, 1)
    names = list(variants)
    for name in names:
        for _ in range(warmup):
            variants[name]()
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn, times = variants[name], []
            for _ in range(reps):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            out[name].append(1000 * statistics.median(times))
    return Latency(rounds=out, reps=reps)


def forward_fn(model: Callable[[torch.Tensor], Any], x: torch.Tensor) -> Callable[[], Any]:
    """``lambda: model(x)`` under ``torch.inference_mode()``: one timed call for :func:`measure_latency`."""
    def run() -> Any:
        with torch.inference_mode():
            return model(x)
    return run
