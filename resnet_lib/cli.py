"""The command line: ``python -m resnet_lib.train`` (and ``resnet-train``), one flag per :class:`~resnet_lib.train_config.TrainConfig` field.

It loads the data and the model by name, writes ``OUT/run.json`` (provenance) at the start and the end, lets
:func:`resnet_lib.train.fit` write ``OUT/checkpoint.pt`` and ``OUT/history.json`` every epoch, and turns bad input into
one line on stderr and a non-zero exit status. Under ``torchrun`` the same command trains with DDP.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from . import distributed as dist_
from .checkpoint import CHECKPOINT_NAME, CheckpointError
from .data import AUGMENTS
from .train import TrainingDivergedError, fit
from .train_config import RECIPES, TrainConfig


def build_parser() -> argparse.ArgumentParser:
    """``python -m resnet_lib.train``: one flag per :class:`~resnet_lib.train_config.TrainConfig` field (``--batch-size`` for batch_size)."""
    p = argparse.ArgumentParser(prog="python -m resnet_lib.train", description=(
        "Train a model from resnet_lib on a dataset; writes OUT/checkpoint.pt and OUT/history.json after every "
        "epoch and OUT/run.json at the start and the end. Under torchrun it trains with DDP (--batch-size is "
        "global)."), formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    helps = _field_comments()
    for f in dataclasses.fields(TrainConfig):
        flag, default, kind = "--" + f.name.replace("_", "-"), f.default, str(f.type)
        h = helps.get(f.name, "")
        if kind == "bool":
            p.add_argument(flag, "--no-" + flag[2:], action=_Switch, default=default, help=h)
        elif kind.startswith("tuple"):
            elem = float if "float" in kind else str
            p.add_argument(flag, nargs="+", type=elem, default=default, metavar=f.name.upper(), help=h)
        elif kind == "bool | str":
            p.add_argument(flag, choices=("auto", "true", "false"), default=str(default).lower(), help=h)
        elif kind == "bool | str | None":  # augment: the dataset's default, on/off, or a policy by name
            p.add_argument(flag, choices=("default", "true", "false", *AUGMENTS), default="default", help=h)
        elif "None" in kind:
            base = int if kind.startswith("int") else float if kind.startswith("float") else str
            p.add_argument(flag, type=_optional(base), default=default, metavar=f.name.upper(), help=h)
        else:
            p.add_argument(flag, type=type(default), default=default, metavar=f.name.upper(), help=h)
    return p


class _Switch(argparse.Action):
    """``--flag`` sets True and ``--no-flag`` False. (argparse's BooleanOptionalAction decides by the ``--no-``
    prefix, so for a field that itself starts with ``no_`` — ``--no-decay-bn-bias`` — it set False either way.)"""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        setattr(namespace, self.dest, option_string == self.option_strings[0])


def _field_comments() -> dict[str, str]:
    """The one-line comment after each TrainConfig field, reused as its --help text (one source of truth)."""
    import inspect
    import re

    try:
        src = inspect.getsource(TrainConfig)
    except (OSError, TypeError):  # no source (frozen/zipped install): flags still work, without help text
        return {}
    return {m[1]: m[2].replace("%", "%%") for m in re.finditer(r"^\s+(\w+): [^=]+=.*?  # (.*)$", src, re.M)}


def _optional(base: type):
    def parse(text: str):
        return None if text.lower() in ("none", "null", "") else base(text)
    parse.__name__ = base.__name__  # argparse names the type in its error message
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; ``--recipe NAME`` first replaces the defaults by the recipe's values, so any flag
    given explicitly still wins (``--recipe paper --lr 0.05``)."""
    parser = build_parser()
    known, _ = parser.parse_known_args(argv)
    if known.recipe in RECIPES:                     # an unknown name is refused with one line by TrainConfig
        parser.set_defaults(**RECIPES[known.recipe])
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Namespace from :func:`build_parser` → validated :class:`~resnet_lib.train_config.TrainConfig` (ValueError on bad values)."""
    kw = dict(vars(args))
    kw["channels_last"] = {"auto": "auto", "true": True, "false": False}[kw["channels_last"]]
    kw["augment"] = {"default": None, "true": True, "false": False}.get(kw["augment"], kw["augment"])
    return TrainConfig(**kw)


def model_options(items: tuple[str, ...]) -> dict[str, Any]:
    """``("widths=(32, 64, 128)", "se_reduction=16")`` -> keyword arguments (values as Python literals, else text)."""
    import ast

    options = {}
    for item in items:
        key, _, text = item.partition("=")
        try:
            options[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[key] = text  # a bare word, e.g. block=preact_basic
    return options


def run_info(cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Provenance for run.json: config, git commit, device, library versions, start time."""
    import platform
    import subprocess

    import numpy
    import torchvision

    from . import __version__
    from .hardware import cpu_label

    try:
        here = Path(__file__).parent
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
        # uncommitted changes to the library's files mean the commit alone does not say which code ran (the
        # package directory only: a run's own outputs, e.g. chapters/results/, do not count)
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], cwd=here,
                                    capture_output=True, text=True, timeout=10).stdout.strip()) if commit else None
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{_cpu_model() or platform.machine()} ({cpu_label()})" if device.type == "cpu" \
        else device.type
    return {"config": cfg.to_dict(), "git_commit": commit, "git_dirty": dirty, "device": str(device), "device_name": name,
            "world_size": dist_.info().world_size, "argv": sys.argv,
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "torchvision": torchvision.__version__, "numpy": numpy.__version__, "resnet_lib": __version__},
            "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "end_time": None, "status": "running",
            "final": None}


def _cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform.processor(), else None."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _write_json(path: Path, obj: Any) -> None:
    from .checkpoint import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=1))


def _final_test(model: nn.Module, data: Any, device: torch.device) -> dict[str, float] | None:
    """Detailed test metrics from :func:`resnet_lib.metrics.evaluate` (None without a test split)."""
    if len(data.y_test) == 0:
        return None
    from .metrics import evaluate

    r = evaluate(model, data, device, split="test")
    return {k: float(getattr(r, k)) for k in ("loss", "accuracy", "top5") if getattr(r, k, None) is not None}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m resnet_lib.train`` / ``resnet-train``. Returns the exit status."""
    args = parse_args(argv)
    ok = False
    try:
        cfg = config_from_args(args)
        if dist_.launched_by_torchrun():
            device = dist_.setup(cfg.device)
        else:
            from .hardware import device as pick_device

            device = pick_device(cfg.device)
        from .data import load_data
        from .hardware import seed_everything
        from .models import get_model

        rank = dist_.info()
        data = load_data(cfg.data, train_size=cfg.train_size, val_size=cfg.val_size, test_size=cfg.test_size,
                         seed=cfg.seed, device=device)
        seed_everything(cfg.seed)  # identical initial weights on every rank and every run
        try:
            model = get_model(cfg.model, num_classes=data.num_classes, in_channels=data.in_channels,
                              **model_options(cfg.model_options))
        except TypeError as err:  # an unknown keyword: name it in one line, like every other bad argument
            raise ValueError(f"--model-options {' '.join(cfg.model_options)}: {err}") from None
        out = Path(cfg.out) if cfg.out else None
        info = run_info(cfg, device)
        # what the run actually used, resolved from the config's defaults (augment=None: the data set's policy)
        info["data"] = {"name": data.name, "source": data.source, "train": len(data.y_train), "val": len(data.y_val),
                        "test": len(data.y_test), "augment": data._policy("train", cfg.augment), "pad": data.pad}
        if out is not None and rank.is_main:
            if (out / CHECKPOINT_NAME).exists() and not cfg.resume:
                raise CheckpointError(f"{out / CHECKPOINT_NAME} already holds a run: pass --resume to continue "
                                      "it, or use a fresh --out dir")
            if cfg.resume and (out / "run.json").is_file():
                info["start_time"] = json.loads((out / "run.json").read_text()).get("start_time", info["start_time"])
            _write_json(out / "run.json", info)
        hist = fit(model, data, cfg)
        ok = True
    except ValueError as e:  # bad config/model/data/checkpoint: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingDivergedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if dist_.launched_by_torchrun():
            with contextlib.suppress(Exception):
                dist_.teardown(wait=ok)
    if out is not None and rank.is_main:
        hist.save(out / "history.json")
        info.update(end_time=time.strftime("%Y-%m-%dT%H:%M:%S%z"), status="finished",
                    final=hist.epochs[-1] if hist.epochs else None, final_test=_final_test(model, data, device))
        _write_json(out / "run.json", info)
    if not cfg.quiet and rank.is_main and hist.epochs:
        last = hist.epochs[-1]
        print("final: " + ", ".join(f"{k}={v:.4f}" for k, v in last.items() if k.endswith(("_acc", "_loss"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
