"""Training: ``TrainConfig``, ``fit(model, data, config) -> History`` and the ``python -m resnet_lib.train`` CLI.

One config dataclass, one loop: SGD with momentum (the paper's optimizer), a per-step learning-rate schedule from
:mod:`resnet_lib.schedules`, mixed precision and channels-last chosen per device, an evaluation per epoch, and an
atomic checkpoint per epoch from which a killed run resumes bit for bit (on CPU).

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
import dataclasses
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from . import distributed as dist_
from . import limits as limits_
from .checkpoint import (CHECKPOINT_NAME, CheckpointError, config_mismatch, load_checkpoint, load_model_state,
                         rng_state, save_checkpoint, set_rng_state)
from .data import AUGMENTS
from .history import History
from .schedules import SCHEDULES, WARMUP_MODES, lr_at

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SPLITS = ("train", "val", "test")
# config fields that may change between a run and its resumption (they do not change the computation's result)
RUNTIME_FIELDS = ("quiet", "resume", "out", "compile", "device", "eval_batch_size")


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (one field per choice)."""

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


# ---------------------------------------------------------------- device-dependent defaults
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
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(bool(getattr(cpu, name)()) for name in checks if hasattr(cpu, name))
    except Exception:  # private helpers: never let a capability probe break training
        return False


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum; with ``no_decay_bn_bias`` the 1-D parameters (BN weights, biases) get no weight decay."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.no_decay_bn_bias:
        groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay},
                  {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
    else:
        groups = [{"params": params, "weight_decay": cfg.weight_decay}]
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


# ---------------------------------------------------------------- the loop
def fit(model: nn.Module, data: Any, config: TrainConfig | None = None, **overrides: Any) -> History:
    """Train ``model`` on ``data`` (a :class:`~resnet_lib.data.bundle.DataBundle`) as ``config`` says.

    Args:
        model: an ``nn.Module`` mapping ``[B, C, H, W]`` images to ``[B, num_classes]`` logits; moved to the device.
        data: a DataBundle (its ``loader`` gives the per-epoch order and augmentation from ``(seed, epoch, rank)``).
        config: a :class:`TrainConfig` (default ``TrainConfig()``); ``overrides`` replace single fields.
    Returns:
        The :class:`History`. With ``config.out`` a checkpoint and ``history.json`` are written after every epoch.
    Raises:
        TrainingDivergedError: the loss became NaN/inf (the last checkpoint is kept as it was).
        CheckpointError: ``out`` holds a checkpoint that does not match, or one exists and ``resume`` is False.
    """
    cfg = dataclasses.replace(config or TrainConfig(), **overrides) if overrides else (config or TrainConfig())
    rank = dist_.info()
    dev = torch.device(data.device) if cfg.device == "auto" else torch.device(cfg.device)
    precision = resolve_precision(cfg.precision, dev)
    cl = resolve_channels_last(cfg.channels_last, dev, precision)
    say = (lambda msg: print(msg, file=sys.stderr)) if rank.is_main and not cfg.quiet else (lambda msg: None)
    if cfg.batch_size % rank.world_size:
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the number of processes ({rank.world_size})")
    splits = _eval_splits(cfg, data)

    was_training = model.training
    model.to(dev)
    if cl:
        model.to(memory_format=torch.channels_last)
    opt = build_optimizer(model, cfg)
    scaler = torch.amp.GradScaler(dev.type, enabled=precision == "fp16")
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    lim = limits_.current()  # smoke tests cap the work (resnet_lib.limits); normally no caps
    hist = History(meta={"config": cfg.to_dict(), "model": type(model).__name__, "data": getattr(data, "name", None),
                         "train_size": len(data.y_train), "device": dev.type, "precision": precision,
                         "channels_last": cl, "world_size": rank.world_size})
    if lim.active:
        hist.meta["limits"] = lim.to_dict()
    start_epoch, step = 0, 0
    ckpt_path = Path(cfg.out) / CHECKPOINT_NAME if cfg.out else None
    if ckpt_path is not None and ckpt_path.exists():
        if not cfg.resume:
            raise CheckpointError(f"{ckpt_path} already holds a run: pass --resume (resume=True) to continue it, "
                                  "or use a fresh --out dir")
        state = load_checkpoint(ckpt_path)
        diff = config_mismatch(state.get("config", {}), cfg.to_dict(), ignore=RUNTIME_FIELDS)
        diff += config_mismatch(state.get("data", {}), _data_fingerprint(data))
        diff += config_mismatch(state.get("limits", {}), lim.to_dict() if lim.active else {})
        if diff:
            raise CheckpointError(f"{ckpt_path} was written by a different run ({'; '.join(diff)[:300]}): "
                                  "use the same arguments or a fresh --out dir")
        load_model_state(model, state["model"], source=str(ckpt_path))
        opt.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        hist = History.from_dict(state["history"])
        start_epoch, step = int(state["epoch"]), int(state["step"])
        set_rng_state(state["rng"])
        say(f"resuming from {ckpt_path} after epoch {start_epoch}/{cfg.epochs}")
    else:
        if cfg.resume:
            say(f"--resume: no checkpoint in {cfg.out}, starting fresh")
        torch.manual_seed(cfg.seed)  # global RNG (dropout-like layers); data order never uses it

    per_rank = cfg.batch_size // rank.world_size
    n_train = len(data.y_train)
    drop_last = n_train // rank.world_size >= per_rank  # keep a lone short epoch only for tiny training sets

    def train_loader(epoch: int):
        return data.loader("train", per_rank, shuffle=True, augment=cfg.augment, drop_last=drop_last, seed=cfg.seed,
                           epoch=epoch, rank=rank.rank, world_size=rank.world_size, channels_last=cl)

    steps_per_epoch = len(train_loader(0))
    total_steps = steps_per_epoch * cfg.epochs
    net = model
    if rank.enabled:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    net = _maybe_compile(net, cfg.compile, say)
    check_each_step = dev.type == "cpu" and not rank.enabled  # .item() is free on CPU; elsewhere it would sync

    last_epoch = cfg.epochs if lim.epochs is None else min(cfg.epochs, start_epoch + lim.epochs)
    for epoch in range(start_epoch, last_epoch):
        t0 = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        first_bad = torch.full((), 2**62, dtype=torch.int64, device=dev)
        seen, logged, lr = 0, [], cfg.lr
        bar = _progress(steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}", cfg.quiet or not rank.is_main)
        for i, (x, y) in enumerate(limits_.take(train_loader(epoch), lim.train_steps)):
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            lr = lr_at(step, total_steps, steps_per_epoch, cfg)
            for g in opt.param_groups:
                g["lr"] = lr
            with _autocast(dev, precision):
                out = net(x)  # [B, num_classes]
                loss = loss_fn(out.float(), y)
            if check_each_step and not math.isfinite(loss.item()):
                raise TrainingDivergedError(_diverged_msg(epoch, step, loss.item(), lr))
            first_bad = torch.where(torch.isfinite(loss), first_bad, torch.full_like(first_bad, step)).minimum(first_bad)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip is not None or (cfg.record_grad_norms and i == 0):
                scaler.unscale_(opt)
            if cfg.record_grad_norms and i == 0:
                hist.grad_norms.append({n: p.grad.detach().float().norm().item() for n, p in model.named_parameters()
                                        if p.grad is not None and p.ndim > 1})
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            loss_sum += loss.detach().double() * len(y)
            correct += (out.detach().argmax(1) == y).sum()
            seen += len(y)
            if cfg.log_every_steps and step % cfg.log_every_steps == 0:
                logged.append((step, loss.detach(), lr))
                if bar is not None:
                    bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.3g}", refresh=False)
            step += 1
            if bar is not None:
                bar.update()
        train_s = time.perf_counter() - t0

        totals = dist_.all_reduce_sum(torch.stack([loss_sum, correct.double(), torch.tensor(float(seen), device=dev,
                                                                                             dtype=torch.float64)]))
        if rank.enabled:
            torch.distributed.all_reduce(first_bad, op=torch.distributed.ReduceOp.MIN)
        if int(first_bad) < 2**62 or not math.isfinite(float(totals[0])):
            bad_step = int(first_bad) if int(first_bad) < 2**62 else step - 1
            raise TrainingDivergedError(_diverged_msg(epoch, bad_step, float("nan"), lr))
        record: dict[str, float] = {"epoch": epoch + 1, "lr": lr, "train_loss": float(totals[0] / totals[2]),
                                    "train_acc": float(totals[1] / totals[2])}
        if rank.enabled:
            dist_.broadcast_buffers(model)  # every rank evaluates the same (rank 0's) BatchNorm statistics
        for split in splits:
            record[f"{split}_loss"], record[f"{split}_acc"] = _evaluate(model, data, split, cfg, dev, precision, cl)
        record["time_s"] = time.perf_counter() - t0
        record["img_per_s"] = float(totals[2]) / train_s
        hist.epochs.append(record)
        if logged:
            losses = torch.stack([l.float() for _, l, _ in logged]).tolist()
            hist.steps.extend([[s, v, r] for (s, _, r), v in zip(logged, losses)])
        if bar is not None:
            bar.set_postfix({k.replace("_acc", " acc").replace("_loss", " loss"): f"{v:.4f}" for k, v in record.items()
                             if k.endswith(("_acc", "_loss"))}, refresh=False)
            bar.close()
        if ckpt_path is not None and rank.is_main:
            save_checkpoint({"format": 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                             "scaler": scaler.state_dict() if scaler.is_enabled() else {}, "epoch": epoch + 1,
                             "step": step, "rng": rng_state(), "history": hist.to_dict(), "config": cfg.to_dict(),
                             "data": _data_fingerprint(data), "limits": lim.to_dict() if lim.active else {}},
                            ckpt_path)
            hist.save(ckpt_path.parent / "history.json")
        dist_.barrier()
    model.train(was_training)
    return hist


def _diverged_msg(epoch: int, step: int, loss: float, lr: float) -> str:
    return (f"training diverged: loss is {loss} at epoch {epoch + 1}, step {step} (lr={lr:.4g}); "
            "lower lr, add warm-up or grad_clip; the last checkpoint (if any) is unchanged")


def _eval_splits(cfg: TrainConfig, data: Any) -> tuple[str, ...]:
    sizes = {s: len(getattr(data, f"y_{s}")) for s in SPLITS}
    if cfg.eval_splits is None:
        return tuple(s for s in ("val", "test") if sizes[s] > 0)
    empty = [s for s in cfg.eval_splits if sizes[s] == 0]
    if empty:
        raise ValueError(f"eval_splits asks for {', '.join(empty)} but the data has no such images: "
                         f"drop it from eval_splits (non-empty here: {', '.join(s for s in SPLITS if sizes[s])})")
    return cfg.eval_splits


def _data_fingerprint(data: Any) -> dict[str, Any]:
    return {"name": getattr(data, "name", None), "n_train": len(data.y_train), "n_val": len(data.y_val),
            "n_test": len(data.y_test), "shape": list(data.x_train.shape[1:])}


@torch.no_grad()
def _evaluate(model: nn.Module, data: Any, split: str, cfg: TrainConfig, dev: torch.device, precision: str,
              cl: bool) -> tuple[float, float]:
    """Mean cross-entropy (no smoothing) and accuracy on ``split``, with the training loop's loader and precision."""
    was_training = model.training
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    n = 0
    batches = data.loader(split, cfg.eval_batch_size, shuffle=False, augment=False, channels_last=cl)
    for x, y in limits_.take(batches, limits_.current().eval_batches):
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        with _autocast(dev, precision):
            out = model(x)
        loss += nn.functional.cross_entropy(out.float(), y, reduction="sum").double()
        correct += (out.argmax(1) == y).sum()
        n += len(y)
    model.train(was_training)
    return float(loss) / max(n, 1), float(correct) / max(n, 1)


def _progress(total: int, desc: str, disable: bool):
    if disable:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=True, dynamic_ncols=True, mininterval=0.5)


def _maybe_compile(net: nn.Module, enabled: bool, say) -> nn.Module:
    """``torch.compile`` guarded: any failure to set it up falls back to eager with a warning."""
    if not enabled:
        return net
    try:
        compiled = torch.compile(net)
    except Exception as e:  # e.g. no compiler tool-chain, unsupported Python
        warnings.warn(f"torch.compile unavailable ({type(e).__name__}: {e}); training eagerly", stacklevel=3)
        return net
    say("torch.compile: the first steps compile the model (slow), later ones are fast")
    return compiled


if __name__ == "__main__":
    # `python -m resnet_lib.train` runs the command line of resnet_lib.cli. The import sits here, not in a function
    # of this module, so that the library itself has no train <-> cli cycle (tests/test_layout.py checks).
    from resnet_lib.cli import main

    sys.exit(main())
