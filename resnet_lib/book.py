"""The chapters' one set-up call: profile, seed, device and the labels every published result carries.

A chapter starts with::

    import resnet_lib as rl
    ctx = rl.book.setup()                 # prints one line: profile, device, torch version
    epochs = ctx.pick(quick=3, full=30)   # one knob, two profiles
    with ctx.timer() as t:
        ...                               # an experiment
    ax.set_title(ctx.label("Fashion-MNIST", t.seconds))
    ctx.claim(acc > 0.9, "ResNet-20 beats 90 %")  # a claim about results: asserted, except in a smoke run

Smoke runs (``RESNET_BOOK_SMOKE=1``, usually with ``RESNET_BOOK_PROFILE=full``) test a profile's code in about a
minute: :func:`setup` installs :data:`resnet_lib.limits.SMOKE_LIMITS` (two epochs of two steps, two batches per
evaluation, batches of at most 32 images), and :meth:`BookContext.claim` reports each claim as not checked
instead of asserting it.
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

from . import limits
from .hardware import device as pick_device
from .hardware import cpu_label, seed_everything

PROFILES = ("quick", "full")
T = TypeVar("T")
HOLDS = "claim holds"  # how a checked claim's line starts
NOT_CHECKED = "claim not checked"  # how an unchecked claim's line starts (chapters/conftest.py looks for it)


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


def smoke_requested() -> bool:
    """True when ``RESNET_BOOK_SMOKE`` asks for a smoke run (``1``/``true``/``yes``; ``0``/``false``/empty: no)."""
    env = os.environ.get("RESNET_BOOK_SMOKE", "").strip().lower()
    if env in ("", "0", "false", "no"):
        return False
    if env in ("1", "true", "yes"):
        return True
    raise ValueError(f"RESNET_BOOK_SMOKE={env!r} is not understood: use 1 (smoke run) or 0")


def seed_override() -> int | None:
    """``RESNET_BOOK_SEED`` as an int when set (a chapter re-run with another seed), else None."""
    env = os.environ.get("RESNET_BOOK_SEED", "").strip()
    if not env:
        return None
    try:
        return int(env)
    except ValueError:
        raise ValueError(f"RESNET_BOOK_SEED={env!r} is not an integer: use e.g. RESNET_BOOK_SEED=1") from None


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
    smoke: bool = False  # a smoke run: every training/evaluation capped (resnet_lib.limits), claims not checked

    def pick(self, quick: T, full: T) -> T:
        """Return ``quick`` in the quick profile and ``full`` in the full one."""
        return quick if self.profile == "quick" else full

    def repeats(self, quick: int, full: int) -> int:
        """How often to repeat a measurement (timing rounds, seeds of a study): ``pick(quick, full)``, 1 in a smoke run.

        A smoke run checks the code, not the numbers, so one repetition exercises every path.
        """
        n = self.pick(quick, full)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"repeats must be positive ints, got {n!r} for the {self.profile} profile")
        return 1 if self.smoke else n

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

    def claim(self, holds: Any, what: str, *, profile: str | None = None, needs_amx: bool = False) -> None:
        """Assert a claim about results and print ``claim holds: what``, or say plainly why it is not checked.

        It prints rather than returns, so that the page shows every claim it checked (and a chapter cell ending in
        a claim shows no stray ``True``).

        Args:
            holds: the claim's truth value, e.g. ``err56 > err20 + 0.01``.
            what: the claim in words (the assertion message).
            profile: the profile whose results the claim is about; in another profile it is not checked.
            needs_amx: a timing claim measured on a CPU with AMX (bf16/int8 matrix units): checked only on such a
                CPU (:func:`resnet_lib.hardware.cpu_has_amx`); elsewhere reported, not asserted.
        Raises:
            AssertionError: a checked claim does not hold.
        """
        if profile is not None and profile not in PROFILES:
            raise ValueError(f"profile={profile!r} is not a profile: use 'quick', 'full' or None")
        from .hardware import cpu_has_amx, cpu_label

        why = ("smoke run: capped training, its results are no measurement" if self.smoke else
               f"measured in the {profile} profile, this is the {self.profile} profile"
               if profile not in (None, self.profile) else
               f"a timing measured on a CPU with AMX, this one is {cpu_label()}"
               if needs_amx and not (self.device.type == "cpu" and cpu_has_amx()) else None)
        if why is not None:
            print(f"{NOT_CHECKED} ({why}): {what}")
            return
        if not holds:
            raise AssertionError(what)
        print(f"{HOLDS}: {what}")

    @staticmethod
    def timer() -> Timer:
        """A fresh :class:`Timer`; use as ``with ctx.timer() as t: ...`` then read ``t.seconds``."""
        return Timer()


def setup(seed: int = 0, profile: str | None = None, device: str | None = None, quiet: bool = False,
          smoke: bool | None = None) -> BookContext:
    """Seed everything, pick the device and the profile, and print one line saying so.

    Args:
        seed: base seed for the chapter; ``RESNET_BOOK_SEED`` overrides it (to re-run a chapter's claims with
            other seeds), and the printed line then says so.
        profile: ``"quick"`` or ``"full"``; default from ``RESNET_BOOK_PROFILE`` or the device.
        device: ``"auto"``/``None``, ``"cpu"``, ``"cuda"``, ``"mps"``.
        quiet: do not print the summary line.
        smoke: a smoke run (see the module docstring); default from ``RESNET_BOOK_SMOKE``. It installs
            :data:`resnet_lib.limits.SMOKE_LIMITS` process-wide; ``smoke=False`` removes any limits.
    Returns:
        A :class:`BookContext`.
    """
    dev = pick_device(device)
    prof = default_profile(dev) if profile is None else profile
    if prof not in PROFILES:
        raise ValueError(f"profile={prof!r} is not a profile: use 'quick' or 'full'")
    smoke = smoke_requested() if smoke is None else bool(smoke)
    env_seed = seed_override()
    seed = seed if env_seed is None else env_seed
    seed_everything(seed)
    limits.set_limits(limits.SMOKE_LIMITS if smoke else None)
    ctx = BookContext(profile=prof, device=dev, seed=seed, smoke=smoke)
    if not quiet:
        print(f"resnet_lib book set-up: profile={prof}, device={ctx.device_name}, torch {torch.__version__}, "
              f"Python {platform.python_version()}, seed={seed}"
              + (" (from RESNET_BOOK_SEED)" if env_seed is not None else ""))
        if smoke:
            lim = limits.SMOKE_LIMITS
            print(f"SMOKE RUN: every training stops after {lim.epochs} epochs of {lim.train_steps} steps and every "
                  f"evaluation after {lim.eval_batches} batches, in batches of at most {lim.batch_size} images; "
                  "claims about results are not checked")
    return ctx


RUN_FILES = ("history.json", "run.json")
# where a notebook opened without its repository (on Colab) finds the stored runs of chapters/results/
STORED_RUNS_URL = "https://raw.githubusercontent.com/resnet-executable/resnet-book/main/chapters/results"


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


def load_run_weights(directory: str | os.PathLike[str], model: Any, *, fetch_from: str | None = None) -> Any:
    """Load a stored run's final weights (``model.pt``, written by ``scripts/stored_runs.sh``) into ``model``.

    Args:
        directory: the stored run's folder (as for :func:`load_run`).
        model: a network of the run's architecture (``rl.get_model(run_info["config"]["model"], ...)``).
        fetch_from: where to download ``model.pt`` from when ``directory`` lacks it (see :func:`load_run`).
    Returns:
        ``model``, in evaluation mode, with the weights loaded strictly (every key, every shape).
    Raises:
        ValueError: ``model.pt`` is missing (and could not be fetched), unreadable, or of another architecture.
    """
    import torch

    from .checkpoint import CheckpointError, load_model_state

    d = Path(directory)
    if not (d / "model.pt").is_file() and fetch_from:
        _fetch(fetch_from.rstrip("/"), d, ["model.pt"])
    if not (d / "model.pt").is_file():
        raise ValueError(f"{d} holds no weights (model.pt): re-create the stored runs with bash scripts/stored_runs.sh")
    try:
        state = torch.load(d / "model.pt", map_location="cpu", weights_only=True)
        load_model_state(model, state, source=str(d / "model.pt"))
    except CheckpointError as e:
        raise ValueError(str(e).replace("use a fresh --out dir or the same --model as the stored run",
                                        "build the model the run names in its run.json")) from None
    except Exception as e:  # truncated or foreign file
        raise ValueError(f"{d / 'model.pt'} cannot be read ({type(e).__name__}): re-create it with "
                         "bash scripts/stored_runs.sh") from None
    return model.eval()


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
