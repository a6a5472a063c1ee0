"""``TrainConfig``: every choice of a training run, one field each, validated with one-line errors.

``fit`` (:mod:`resnet_lib.train`) reads it, checkpoints store it as a dict (``to_dict``), and the CLI builds it from
its arguments; ``resnet_lib.train`` re-exports it.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .data import AUGMENTS
from .schedules import SCHEDULES, WARMUP_MODES

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SPLITS = ("train", "val", "test")


@dataclass
class TrainConfig:
    """Everything that defines a training run (one field per choice)."""

    recipe: str = "default"  # named starting point (RECIPES): "default", "paper" (§4.2), "speedrun", "speedrun94"
    model: str = "resnet20"  # CLI only: architecture name for get_model
    model_options: tuple[str, ...] = ()  # CLI only: more get_model keywords as KEY=VALUE, e.g. se_reduction=16
    data: str = "fashion-mnist"  # CLI only: dataset name for load_data
    train_size: int | None = None  # CLI only: training subset size (None = all that is not validation)
    val_size: int | None = 0  # CLI only: validation images held out of the training set
    test_size: int | None = None  # CLI only: test subset size (None = all)
    epochs: int = 4  # passes over the training set (4: what fits in ~10 min on a 2-core AVX2 CPU, ~93 % F-MNIST)
    batch_size: int = 128  # GLOBAL batch: split evenly across ranks under DDP
    lr: float = 0.2  # peak learning rate
    momentum: float = 0.9  # SGD momentum (paper: 0.9)
    nesterov: bool = True  # Nesterov momentum
    weight_decay: float = 5e-4  # L2 penalty (paper: 1e-4; 5e-4 is common for short runs)
    no_decay_bn_bias: bool = True  # no weight decay on BatchNorm weights and biases (all 1-D parameters)
    schedule: str = "onecycle"  # "step" (paper), "cosine", "onecycle", "constant"
    milestones: tuple[float, ...] = (0.5, 0.75)  # "step": fractions of training (paper: 32k, 48k of 64k iterations)
    gamma: float = 0.1  # "step": factor at each milestone (paper: ÷10)
    min_lr: float = 0.0  # "cosine": final learning rate
    pct_start: float = 0.25  # "onecycle": fraction of the steps spent rising to lr
    div_factor: float = 25.0  # "onecycle": start at lr / div_factor
    final_div_factor: float = 1e4  # "onecycle": end at lr / div_factor / final_div_factor
    warmup_epochs: float = 0.0  # warm-up length in epochs (fractions fine); not with "onecycle"
    warmup_mode: str = "linear"  # "linear" ramp, or "constant" (paper's ResNet-110: 0.01 then 0.1)
    warmup_start: float = 0.1  # warm-up starts at lr * warmup_start
    label_smoothing: float = 0.1  # CrossEntropyLoss(label_smoothing=)
    grad_clip: float | None = None  # max global gradient norm, None = no clipping
    augment: bool | str | None = None  # training augmentation: None/True = the dataset's, False, or a policy name
    precision: str = "auto"  # "auto" (fastest correct for the device), "fp32", "bf16", "fp16" (CUDA only)
    channels_last: bool | str = "auto"  # NHWC memory format: "auto", True, False
    compile: bool = False  # torch.compile the model (falls back to eager with a warning if it fails)
    seed: int = 0  # data order, augmentation and global RNG
    device: str = "auto"  # "auto" (the data's device), "cpu", "cuda", "cuda:N", "mps"
    eval_splits: tuple[str, ...] | None = None  # splits evaluated each epoch; None = the non-empty of val, test
    eval_batch_size: int = 1024  # batch size for evaluation
    log_every_steps: int = 10  # record (step, loss, lr) in History.steps every this many steps; 0 = never
    record_grad_norms: bool = False  # record per-parameter gradient norms on each epoch's first step
    quiet: bool = False  # print nothing (no progress bars)
    out: str | None = None  # folder for checkpoint.pt and history.json after every epoch; None = no files
    resume: bool = False  # continue from out/checkpoint.pt if present

    def __post_init__(self) -> None:
        if isinstance(self.eval_splits, str):
            self.eval_splits = (self.eval_splits,)
        if self.eval_splits is not None:
            self.eval_splits = tuple(self.eval_splits)
        self.milestones = tuple(float(m) for m in self.milestones)
        self.model_options = tuple(str(o) for o in self.model_options)
        if isinstance(self.channels_last, str) and self.channels_last.lower() in ("true", "false"):
            self.channels_last = self.channels_last.lower() == "true"
        if self.out is not None:
            self.out = str(self.out)
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples as lists): what run.json and checkpoints store."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _validate(c: TrainConfig) -> None:
    def bad(name: str, allowed: str) -> None:
        raise ValueError(f"{name}={getattr(c, name)!r} is not allowed: {allowed}")

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def is_num(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if c.recipe not in RECIPES:
        bad("recipe", f"use one of {', '.join(RECIPES)}")
    if any(not o.partition("=")[0].isidentifier() or "=" not in o for o in c.model_options):
        bad("model_options", "use KEY=VALUE items with a keyword of get_model, e.g. stochastic_depth_prob=0.2")
    for name in ("epochs", "batch_size", "eval_batch_size"):
        if not is_int(getattr(c, name)) or getattr(c, name) < 1:
            bad(name, "use a positive integer")
    for name in ("train_size", "test_size"):
        v = getattr(c, name)
        if v is not None and (not is_int(v) or v < 1):
            bad(name, "use a positive integer or None")
    if c.val_size is not None and (not is_int(c.val_size) or c.val_size < 0):
        bad("val_size", "use a non-negative integer or None")
    if not is_num(c.lr) or c.lr <= 0:
        bad("lr", "use a positive number")
    if not is_num(c.momentum) or not 0 <= c.momentum < 1:
        bad("momentum", "use a number in [0, 1)")
    if c.nesterov and c.momentum == 0:
        bad("nesterov", "Nesterov needs momentum > 0")
    if not is_num(c.weight_decay) or c.weight_decay < 0:
        bad("weight_decay", "use a number >= 0")
    if c.schedule not in SCHEDULES:
        bad("schedule", f"use one of {', '.join(SCHEDULES)}")
    if any(not 0 < m < 1 for m in c.milestones) or list(c.milestones) != sorted(c.milestones):
        bad("milestones", "use increasing fractions of training strictly between 0 and 1")
    if not is_num(c.gamma) or not 0 < c.gamma <= 1:
        bad("gamma", "use a number in (0, 1]")
    if not is_num(c.min_lr) or not 0 <= c.min_lr <= c.lr:
        bad("min_lr", "use a number in [0, lr]")
    if not is_num(c.pct_start) or not 0 < c.pct_start < 1:
        bad("pct_start", "use a number in (0, 1)")
    for name in ("div_factor", "final_div_factor"):
        if not is_num(getattr(c, name)) or getattr(c, name) < 1:
            bad(name, "use a number >= 1")
    if not is_num(c.warmup_epochs) or not 0 <= c.warmup_epochs < c.epochs:
        bad("warmup_epochs", f"use a number in [0, epochs={c.epochs})")
    if c.schedule == "onecycle" and c.warmup_epochs > 0:
        bad("warmup_epochs", "'onecycle' has its own warm-up (pct_start): use 0, or another schedule")
    if c.warmup_mode not in WARMUP_MODES:
        bad("warmup_mode", f"use one of {', '.join(WARMUP_MODES)}")
    if not is_num(c.warmup_start) or not 0 <= c.warmup_start <= 1:
        bad("warmup_start", "use a number in [0, 1]")
    if not is_num(c.label_smoothing) or not 0 <= c.label_smoothing < 1:
        bad("label_smoothing", "use a number in [0, 1)")
    if c.grad_clip is not None and (not is_num(c.grad_clip) or c.grad_clip <= 0):
        bad("grad_clip", "use a positive number or None")
    if c.augment not in (None, True, False, *AUGMENTS):
        bad("augment", f"use None or True (the dataset's default), False, or one of {', '.join(AUGMENTS)}")
    if c.precision not in PRECISIONS:
        bad("precision", f"use one of {', '.join(PRECISIONS)}")
    if c.channels_last not in ("auto", True, False):
        bad("channels_last", "use 'auto', True or False")
    for name in ("compile", "quiet", "resume", "record_grad_norms", "nesterov", "no_decay_bn_bias"):
        if not isinstance(getattr(c, name), bool):
            bad(name, "use True or False")
    if not is_int(c.seed) or c.seed < 0:
        bad("seed", "use a non-negative integer")
    if not isinstance(c.device, str) or c.device.split(":")[0] not in ("auto", "cpu", "cuda", "mps"):
        bad("device", "use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    if c.eval_splits is not None and any(s not in SPLITS for s in c.eval_splits):
        bad("eval_splits", f"use a tuple of {', '.join(SPLITS)}")
    if not is_int(c.log_every_steps) or c.log_every_steps < 0:
        bad("log_every_steps", "use a non-negative integer (0 = no step records)")
    if c.resume and c.out is None:
        bad("resume", "resuming needs out (the folder holding checkpoint.pt)")


#: The fields each named recipe sets, on top of TrainConfig's defaults (explicit arguments still win). The
#: ``"paper"`` recipe is He et al. (2016), §4.2 — SGD with momentum 0.9 (no Nesterov), weight decay 1e-4 on every
#: parameter, batch 128, learning rate 0.1 divided by 10 at 50 % and 75 % of training, 4-pixel pad + crop + flip, no
#: label smoothing, no warm-up (the paper warms up only ResNet-110). It leaves the length open (the paper's 64k
#: iterations are ~182 epochs of 45k images): choose ``epochs`` for the budget.
RECIPES: dict[str, dict[str, Any]] = {
    "default": {},
    "paper": dict(lr=0.1, momentum=0.9, nesterov=False, weight_decay=1e-4, no_decay_bn_bias=False, batch_size=128,
                  schedule="step", milestones=(0.5, 0.75), gamma=0.1, label_smoothing=0.0, augment="crop-flip",
                  warmup_epochs=0.0),
    # chapter 5's speedrun: Page (2018)'s ResNet-9 at a quarter of its widths, 3 epochs at batch 256 and twice the
    # default's peak lr, no augmentation (a 3-epoch run has no time to profit from it; benchmarks/speedrun.py)
    "speedrun": dict(model="resnet9", model_options=("widths=(16, 32, 64, 128)",), epochs=3, batch_size=256, lr=0.4,
                     augment=False),
    # its second target, 94 %: the same for 6 epochs with random flips; evaluate it with tta="flip"
    "speedrun94": dict(model="resnet9", model_options=("widths=(16, 32, 64, 128)",), epochs=6, batch_size=256,
                       lr=0.4, augment="flip"),
}


def from_recipe(name: str, **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of a named recipe (see :data:`RECIPES`), with ``overrides`` on top."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}: use one of {', '.join(RECIPES)}")
    return TrainConfig(**{**RECIPES[name], **overrides, "recipe": name})
