"""Run limits for smoke tests: cap every training and evaluation to a handful of batches, process-wide.

A chapter's full profile trains for hours; its *code* should still be tested on a CPU in a minute. The book's
smoke mode (``RESNET_BOOK_SMOKE=1``, set up by :func:`resnet_lib.book.setup`) installs limits here: the loops that
read data (:func:`~resnet_lib.train.fit`, :func:`~resnet_lib.metrics.evaluate`, the loss-landscape slices) stop
early, and every :meth:`DataBundle.loader <resnet_lib.data.bundle.DataBundle.loader>` yields smaller batches. Nothing
else changes: the same data, models, schedules (computed for the whole run, then cut) and code paths run. Results
under limits are meaningless, so ``fit`` records them in ``History.meta["limits"]`` and the chapters skip their
claims about results (``BookContext.claim``).

With no limits installed (the default, and whenever the book is not in smoke mode) nothing is capped.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any, Iterator


@dataclass(frozen=True)
class RunLimits:
    """Caps on the work of one training or evaluation; ``None`` = no cap."""

    epochs: int | None = None  # epochs actually run by fit (the schedule is still computed for config.epochs)
    train_steps: int | None = None  # optimizer steps per epoch
    eval_batches: int | None = None  # batches per evaluation (per split, per epoch)
    batch_size: int | None = None  # largest batch a DataBundle's loader yields (training, evaluation, probes)

    def __post_init__(self) -> None:
        for name, v in asdict(self).items():
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"RunLimits.{name}={v!r}: use a positive int, or None for no cap")

    @property
    def active(self) -> bool:
        """True when any cap is set."""
        return any(v is not None for v in asdict(self).values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: No cap on anything (the default).
NO_LIMITS = RunLimits()
#: The caps of the book's smoke mode (2 epochs of 2 steps per training, 2 batches per evaluation, and batches of at
#: most 32 images, since a full-profile batch of 128 to 1024 images on a 110-layer net takes seconds on a CPU and
#: the loaders' batches were most of a smoke run's time).
SMOKE_LIMITS = RunLimits(epochs=2, train_steps=2, eval_batches=2, batch_size=32)
_current = NO_LIMITS


def current() -> RunLimits:
    """The limits in force now (``NO_LIMITS`` unless a smoke run installed some)."""
    return _current


def set_limits(limits: RunLimits | None) -> None:
    """Install ``limits`` process-wide (``None`` = remove every cap)."""
    global _current
    if limits is not None and not isinstance(limits, RunLimits):
        raise ValueError(f"set_limits takes a RunLimits or None, got {type(limits).__name__}")
    _current = limits or NO_LIMITS


@contextlib.contextmanager
def limited(limits: RunLimits) -> Iterator[RunLimits]:
    """``with limited(RunLimits(train_steps=2)): ...`` installs ``limits`` for the block only."""
    before = _current
    set_limits(limits)
    try:
        yield limits
    finally:
        set_limits(before)


def take(batches: Any, cap: int | None) -> Iterator[Any]:
    """The first ``cap`` items of ``batches`` (all of them when ``cap`` is None)."""
    for i, b in enumerate(batches):
        if cap is not None and i >= cap:
            return
        yield b
