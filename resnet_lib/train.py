"""Training: ``TrainConfig``, ``fit(model, data, config) -> History`` and the ``python -m resnet_lib.train`` CLI.

One config dataclass, one loop: SGD with momentum (the paper's optimizer), a per-step learning-rate schedule from
:mod:`resnet_lib.schedules`, mixed precision and channels-last chosen per device, an evaluation per epoch, and an
atomic checkpoint per epoch from which a killed run resumes bit for bit (on CPU).

What ``precision`` and ``channels_last`` resolve to on each device, and why: :mod:`resnet_lib.precision`.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from . import distributed as dist_
from . import limits as limits_
from .checkpoint import (CHECKPOINT_NAME, CheckpointError, config_mismatch, load_checkpoint, load_model_state,
                         rng_state, save_checkpoint, set_rng_state)
from .history import History
from .precision import autocast, resolve_channels_last, resolve_precision  # noqa: F401 (re-exported)
from .schedules import lr_at
from .train_config import PRECISIONS, SPLITS, TrainConfig  # noqa: F401 (re-exported)

# config fields that may differ between a run and its resumption: they do not change what is computed (a recipe is
# only a name; its values are compared field by field)
RUNTIME_FIELDS = ("quiet", "resume", "out", "compile", "device", "eval_batch_size", "recipe")


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


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
def fit(model: nn.Module, data: Any, config: TrainConfig | None = None, *,
        loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        **overrides: Any) -> History:
    """Train ``model`` on ``data`` (a :class:`~resnet_lib.data.bundle.DataBundle`) as ``config`` says.

    Args:
        model: an ``nn.Module`` mapping ``[B, C, H, W]`` images to ``[B, num_classes]`` logits; moved to the device.
        data: a DataBundle (its ``loader`` gives the per-epoch order and augmentation from ``(seed, epoch, rank)``).
        config: a :class:`~resnet_lib.train_config.TrainConfig` (default ``TrainConfig()``); ``overrides`` replace single fields.
        loss_fn: the training loss as ``loss_fn(logits, y, x)`` -> scalar tensor, with float32 logits ``[B, K]``,
            labels ``[B]`` and the (augmented) batch ``x`` it was computed from — e.g. a distillation loss that runs a
            teacher on ``x``. None = cross-entropy with ``config.label_smoothing``. Evaluation always reports plain
            cross-entropy. A resumed run must pass the same ``loss_fn`` (it is not stored in the checkpoint).
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
    loss_name = "cross_entropy" if loss_fn is None else getattr(loss_fn, "__name__", type(loss_fn).__name__)
    if loss_fn is None:
        ce = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        loss_fn = lambda logits, y, x: ce(logits, y)  # noqa: E731
    elif not callable(loss_fn):
        raise ValueError(f"loss_fn must be a callable (logits, y, x) -> loss, or None, got {type(loss_fn).__name__}")
    lim = limits_.current()  # smoke tests cap the work (resnet_lib.limits); normally no caps
    hist = History(meta={"config": cfg.to_dict(), "model": type(model).__name__, "data": getattr(data, "name", None),
                         "train_size": len(data.y_train), "device": dev.type, "precision": precision,
                         "channels_last": cl, "world_size": rank.world_size,
                         "loss": loss_name})
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
            with autocast(dev, precision):
                out = net(x)  # [B, num_classes]
                loss = loss_fn(out.float(), y, x)
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
        with autocast(dev, precision):
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
