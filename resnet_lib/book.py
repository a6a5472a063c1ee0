"""The chapters' one set-up call: profile, seed, device and the labels every published result carries.

A chapter starts with::

    import resnet_lib as rl
    ctx = rl.book.setup()                 # prints one line: profile, device, torch version
    epochs = ctx.pick(quick=3, full=30)   # one knob, two profiles
    with ctx.timer() as t:
        ...                               # an experiment
    ax.set_title(ctx.label("Fashion-MNIST", t.seconds))
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from .hardware import device as pick_device
from .hardware import cpu_label, seed_everything

PROFILES = ("quick", "full")
T = TypeVar("T")


def on_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def default_profile(dev: torch.device) -> str:
    """``RESNET_BOOK_PROFILE`` if set, else ``full`` on CUDA and ``quick`` elsewhere."""
    env = os.environ.get("RESNET_BOOK_PROFILE", "").strip().lower()
    if env:
        if env not in PROFILES:
            raise ValueError(f"RESNET_BOOK_PROFILE={env!r} is not a profile: use 'quick' or 'full'")
        return env
    return "full" if dev.type == "cuda" else "quick"


@dataclass
class Timer:
    """Wall-clock timer used as a context manager; ``seconds`` is set on exit."""

    seconds: float = 0.0
    _start: float = field(default=0.0, repr=False)

    def __enter__(self) -> "Timer":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


@dataclass(frozen=True)
class BookContext:
    """What a chapter needs to know about where and how it runs."""

    profile: str  # "quick" (CPU-friendly, minutes) or "full" (GPU or long CPU run)
    device: torch.device  # where models and device-resident data live
    seed: int  # every experiment in the chapter derives its seed from this

    def pick(self, quick: T, full: T) -> T:
        """Return ``quick`` in the quick profile and ``full`` in the full one."""
        return quick if self.profile == "quick" else full

    @property
    def device_name(self) -> str:
        """A short human name of the device, e.g. ``"CPU (2 threads, AVX2)"`` or ``"NVIDIA H100 80GB HBM3"``."""
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        if self.device.type == "mps":
            return "Apple MPS"
        return f"CPU ({cpu_label()})"

    def label(self, dataset: str, seconds: float | None = None) -> str:
        """Provenance label for a figure or table: dataset, profile, device and duration."""
        parts = [dataset, f"{self.profile} profile", self.device_name]
        if seconds is not None:
            parts.append(f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.2f} s")
        return " · ".join(parts)

    @staticmethod
    def timer() -> Timer:
        """A fresh :class:`Timer`; use as ``with ctx.timer() as t: ...`` then read ``t.seconds``."""
        return Timer()


def setup(seed: int = 0, profile: str | None = None, device: str | None = None, quiet: bool = False) -> BookContext:
    """Seed everything, pick the device and the profile, and print one line saying so.

    Args:
        seed: base seed for the chapter.
        profile: ``"quick"`` or ``"full"``; default from ``RESNET_BOOK_PROFILE`` or the device.
        device: ``"auto"``/``None``, ``"cpu"``, ``"cuda"``, ``"mps"``.
        quiet: do not print the summary line.
    Returns:
        A :class:`BookContext`.
    """
    dev = pick_device(device)
    prof = default_profile(dev) if profile is None else profile
    if prof not in PROFILES:
        raise ValueError(f"profile={prof!r} is not a profile: use 'quick' or 'full'")
    seed_everything(seed)
    ctx = BookContext(profile=prof, device=dev, seed=seed)
    if not quiet:
        print(f"resnet_lib book set-up: profile={prof}, device={ctx.device_name}, torch {torch.__version__}, "
              f"Python {platform.python_version()}, seed={seed}")
    return ctx


RUN_FILES = ("history.json", "run.json")


def load_run(directory: str | os.PathLike[str], *, fetch_from: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Load a stored run written by ``python -m resnet_lib.train``: its History and its ``run.json`` provenance.

    Args:
        directory: a folder holding ``history.json`` and ``run.json``.
        fetch_from: where to download the two files from when ``directory`` lacks them (a URL ending in the run's
            folder, e.g. the repository's raw-file address on Colab, where a notebook arrives without its repository).
    Returns:
        ``(history, run_info)``.
    Raises:
        ValueError: the files are missing (and could not be fetched).
    """
    from .history import History  # layer 3, imported only when a stored run is asked for

    d = Path(directory)
    missing = [n for n in RUN_FILES if not (d / n).is_file()]
    if missing and fetch_from:
        _fetch(fetch_from.rstrip("/"), d, missing)
        missing = [n for n in RUN_FILES if not (d / n).is_file()]
    if missing:
        raise ValueError(f"{d} is not a stored run: missing {', '.join(missing)} "
                         f"(write one with python -m resnet_lib.train --out {d})")
    return History.load(d / "history.json"), json.loads((d / "run.json").read_text(encoding="utf-8"))


def _fetch(base: str, d: Path, names: list[str]) -> None:
    import urllib.request

    from .checkpoint import atomic_write_bytes  # a half-downloaded file never looks like a stored run

    for name in names:
        try:
            with urllib.request.urlopen(f"{base}/{name}", timeout=30) as r:
                atomic_write_bytes(d / name, r.read())
        except OSError as e:
            raise ValueError(f"{d} holds no stored run and {base}/{name} could not be downloaded "
                             f"({type(e).__name__}: {e}); run where the repository's files are, or online") from None
