"""``History``: what a training run recorded, per epoch and per logged step, with JSON save/load."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# fields that depend on the wall clock: same seed and device give the same History except for these
TIME_FIELDS = ("time_s", "img_per_s")


@dataclass
class History:
    """Records of one training run.

    Attributes:
        epochs: one dict per epoch: ``epoch`` (1-based), ``lr`` (rate of the epoch's last step), ``train_loss``,
            ``train_acc``, ``<split>_loss`` and ``<split>_acc`` for each evaluated split, ``time_s``, ``img_per_s``.
        steps: ``[step, loss, lr]`` every ``log_every_steps`` optimizer steps (``step`` counts from 0).
        grad_norms: one ``{parameter name: gradient L2 norm}`` per epoch, measured on the epoch's first step
            (only with ``record_grad_norms=True``).
        meta: free-form facts about the run (config, model and data names).
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    steps: list[list[float]] = field(default_factory=list)
    grad_norms: list[dict[str, float]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.epochs)

    def metrics(self) -> list[str]:
        """Names :meth:`series` accepts: the recorded keys plus ``*_err`` for every ``*_acc``."""
        keys = list(self.epochs[0]) if self.epochs else []
        return keys + [k[:-4] + "_err" for k in keys if k.endswith("_acc")]

    def series(self, metric: str) -> list[float]:
        """Per-epoch values of ``metric``; ``"<split>_err"`` is ``1 - "<split>_acc"``.

        Raises:
            ValueError: the metric was not recorded.
        """
        if metric.endswith("_err") and metric not in (self.epochs[0] if self.epochs else {}):
            return [1.0 - v for v in self.series(metric[:-4] + "_acc")]
        if not self.epochs:
            raise ValueError(f"history is empty: no epoch recorded, so no {metric!r}")
        if any(metric not in e for e in self.epochs):
            raise ValueError(f"metric {metric!r} was not recorded: use one of {', '.join(self.metrics())}")
        return [e[metric] for e in self.epochs]

    def final(self, metric: str) -> float:
        """The last epoch's value of ``metric`` (``*_err`` = 1 - ``*_acc``)."""
        return self.series(metric)[-1]

    def best(self, metric: str, mode: str = "max") -> float:
        """Best value of ``metric`` over epochs; ``mode`` is ``"max"`` or ``"min"``."""
        if mode not in ("max", "min"):
            raise ValueError(f"mode={mode!r}: use 'max' or 'min'")
        values = self.series(metric)
        return max(values) if mode == "max" else min(values)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict (also what checkpoints store)."""
        return {"epochs": [dict(e) for e in self.epochs], "steps": [list(s) for s in self.steps],
                "grad_norms": [dict(g) for g in self.grad_norms], "meta": _plain(self.meta)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, dict) or not isinstance(d.get("epochs"), list):
            raise ValueError("not a History dict: expected a dict with an 'epochs' list")
        return cls(epochs=[dict(e) for e in d["epochs"]], steps=[list(s) for s in d.get("steps", [])],
                   grad_norms=[dict(g) for g in d.get("grad_norms", [])], meta=dict(d.get("meta", {})))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write JSON atomically (temporary file in the same folder, then rename). Returns the path."""
        from .checkpoint import atomic_write_text

        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1, allow_nan=True))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "History":
        """Read a History written by :meth:`save`."""
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"no history file at {path}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}): it is not a History file") from None
        return cls.from_dict(d)

    def without_times(self) -> dict[str, Any]:
        """:meth:`to_dict` minus the wall-clock fields: equal for equal seeds on the same device."""
        d = self.to_dict()
        d["epochs"] = [{k: v for k, v in e.items() if k not in TIME_FIELDS} for e in d["epochs"]]
        return d

    def __repr__(self) -> str:
        if not self.epochs:
            return "History(0 epochs)"
        last = ", ".join(f"{k}={v:.4g}" for k, v in self.epochs[-1].items()
                         if k != "epoch" and isinstance(v, float) and math.isfinite(v))
        return f"History({len(self.epochs)} epochs; last: {last})"


def _plain(x: Any) -> Any:
    """Tuples to lists, recursively, so the dict is the same after a JSON or checkpoint round trip."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x
