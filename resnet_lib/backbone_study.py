"""Chapter 8's experiments, as functions and as the command that makes its stored runs.

* **Transfer** (:func:`transfer_grid`): a ResNet-20 pretrained on five Fashion-MNIST classes (T-shirt/top, trouser,
  pullover, dress, coat) is reused on the other five (sandal, shirt, sneaker, bag, ankle boot) with 1 %, 10 % and
  100 % of their training labels, by the methods of ``resnet_lib.transfer.METHODS``, over seeds.
* **Detection and segmentation** (:func:`train_dense`): a ResNet-20 trained on all ten classes (chapter 3's stored
  run) becomes the backbone of Faster R-CNN with an FPN, of an FCN and of DeepLabV3, trained on composed canvases
  (:mod:`resnet_lib.data.composed`: real Fashion-MNIST *training* images; evaluated on canvases of *test* images).

``python -m resnet_lib.backbone_study {pretrain,transfer,dense} --out DIR`` writes the stored runs of
``chapters/results/backbones/`` (``bash scripts/backbone_runs.sh`` runs them all), with provenance: commit, device,
versions, seeds, durations.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
FRACTIONS = (0.01, 0.1, 1.0)
# label fraction -> (epochs, batch size): about 6k, 15k and 30k training images seen
SCHEDULE = {0.01: (20, 32), 0.1: (5, 128), 1.0: (1, 128)}
PRETRAIN = {"epochs": 4, "lr": 0.2, "batch_size": 128}  # fit's default recipe (one-cycle, label smoothing 0.1)
# peak rate per method (fine-tuning: the head's; lower groups x 0.5 per group). Frozen BN leaves the convolutions
# without BN's scale invariance: at 0.1 it stayed at chance or diverged (the grid records that run too, as
# "fine-tune-frozen-bn@0.1"), so it trains at 0.02.
TRANSFER_LR = {"scratch": 0.1, "linear-probe": 0.1, "fine-tune": 0.1, "fine-tune-frozen-bn": 0.02}
TOO_HIGH = ("fine-tune-frozen-bn", 0.1)  # the extra run of the grid: frozen BN at the others' rate (1 %, 10 %)
# the composed canvases and the dense models' settings (the stored runs'; the full profile scales n and steps)
CANVAS = {"canvas_size": 64, "objects": (1, 3), "sizes": (20, 32)}
DENSE = {"n_train": 4000, "n_test": 500, "train_seed": 0, "test_seed": 1, "fpn_channels": 64,
         "representation_size": 128, "anchor_sizes": (16, 32, 64), "return_layers": ("layer2", "layer3"),
         "trainable_layers": 2, "det_steps": 300, "det_batch": 8, "seg_steps": 200, "seg_batch": 16, "lr": 0.02,
         "warmup": 50}
BACKBONE_RUN = "resnet20_fmnist30k_step10"  # chapter 3's stored ResNet-20 (10 epochs, 30k training images)


def transfer_data(seed: int = 0, device: str | torch.device = "cpu") -> tuple[Any, Any]:
    """Fashion-MNIST split into the source task (classes 0-4) and the target task (classes 5-9), all images."""
    from .data import load_data
    from .transfer import split_classes

    data = load_data("fashion-mnist", val_size=0, seed=seed, device=device)
    return split_classes(data, SOURCE_CLASSES), split_classes(data, TARGET_CLASSES)


def pretrain_source(source: Any, seed: int = 0, epochs: int = PRETRAIN["epochs"]) -> tuple[nn.Module, Any]:
    """ResNet-20 trained on the source classes with ``rl.fit``; returns ``(model, history)``."""
    from .models import resnet20
    from .train import fit
    from .train_config import TrainConfig

    torch.manual_seed(seed)
    model = resnet20(in_channels=1, num_classes=source.num_classes)
    cfg = TrainConfig(epochs=epochs, lr=PRETRAIN["lr"], batch_size=PRETRAIN["batch_size"], seed=seed, quiet=True)
    return model, fit(model, source, cfg)


def transfer_run(method: str, fraction: float, seed: int, pretrained: nn.Module, target: Any,
                 lr: float | None = None) -> dict[str, Any]:
    """One cell of the grid: ``method`` with ``fraction`` of the target labels, seeded; returns a JSON record.

    ``lr`` (default ``TRANSFER_LR[method]``) is the peak rate; a run that diverges is recorded with
    ``"diverged": True`` and no accuracy.
    """
    from .models import resnet20
    from .train_config import TrainConfig
    from .transfer import fine_tune, label_fraction, prepare

    torch.manual_seed(seed)
    fresh = resnet20(in_channels=1, num_classes=target.num_classes)
    model, lr_mult, frozen = prepare(method, pretrained, fresh, target.num_classes)
    epochs, batch = SCHEDULE[fraction]
    lr = TRANSFER_LR[method] if lr is None else lr
    cfg = TrainConfig(epochs=epochs, batch_size=batch, lr=lr, schedule="cosine", label_smoothing=0.0,
                      seed=seed, quiet=True)
    record = {"method": method, "fraction": fraction, "seed": seed, "lr": lr, "diverged": False}
    try:
        r = fine_tune(model, label_fraction(target, fraction, seed=seed), cfg, lr_mult=lr_mult, frozen_bn=frozen)
    except FloatingPointError:
        return {**record, "diverged": True, "test_acc": None}
    return {**record, **r.to_dict()}


def transfer_grid(pretrained: nn.Module, target: Any, seeds: list[int], fractions=FRACTIONS,
                  methods: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Every (method, fraction, seed) of the grid, as :func:`transfer_run` records, plus the ``TOO_HIGH`` runs."""
    from .transfer import METHODS

    runs = []
    for s in seeds:
        for f in fractions:
            runs += [transfer_run(m, f, s, pretrained, target) for m in (methods or METHODS)]
            if f < 1:
                runs.append({**transfer_run(TOO_HIGH[0], f, s, pretrained, target, lr=TOO_HIGH[1]),
                             "method": f"{TOO_HIGH[0]}@{TOO_HIGH[1]}"})
    return runs


def canvases(data: Any, n_train: int = DENSE["n_train"], n_test: int = DENSE["n_test"]) -> tuple[Any, Any]:
    """Composed training canvases (training images) and evaluation canvases (test images)."""
    from .data.composed import compose_from

    return (compose_from(data, "train", n_train, seed=DENSE["train_seed"], **CANVAS),
            compose_from(data, "test", n_test, seed=DENSE["test_seed"], **CANVAS))


def build_dense(kind: str, backbone: nn.Module, num_classes: int, mean: float, std: float) -> nn.Module:
    """``kind`` in ``faster_rcnn``, ``fcn``, ``deeplabv3`` on ``backbone`` (a ResNet-20), with the study's settings."""
    from . import backbones as bb

    common = {"trainable_layers": DENSE["trainable_layers"], "frozen_bn": True}
    if kind == "faster_rcnn":
        s = CANVAS["canvas_size"]
        return bb.faster_rcnn(backbone, num_classes, return_layers=DENSE["return_layers"],
                              fpn_channels=DENSE["fpn_channels"], anchor_sizes=DENSE["anchor_sizes"],
                              representation_size=DENSE["representation_size"], min_size=s, max_size=s,
                              image_mean=[mean], image_std=[std], rpn_batch_size_per_image=64,
                              box_batch_size_per_image=64, rpn_pre_nms_top_n_train=300,
                              rpn_post_nms_top_n_train=150, rpn_pre_nms_top_n_test=150, rpn_post_nms_top_n_test=50,
                              **common)
    if kind == "fcn":
        return bb.fcn(backbone, num_classes, **common)
    if kind == "deeplabv3":
        return bb.deeplabv3(backbone, num_classes, **common)
    raise ValueError(f"unknown kind {kind!r}: use faster_rcnn, fcn or deeplabv3")


def train_dense(kind: str, backbone: nn.Module, train: Any, test: Any, mean: float, std: float, *,
                steps: int | None = None, seed: int = 0, device: str | torch.device = "cpu",
                first: int = 50) -> tuple[nn.Module, dict[str, Any]]:
    """Build, train and evaluate one dense model; the record holds the curve and the scores (all and ``first``).

    After training the weights are rounded to float16 and back — the precision they are stored in — so that the
    recorded scores are those of the stored weights.
    """
    from . import dense

    model = build_dense(kind, copy.deepcopy(backbone), train.num_classes, mean, std)
    if kind == "faster_rcnn":
        run = dense.train_detector(model, train, steps=steps or DENSE["det_steps"], batch_size=DENSE["det_batch"],
                                   lr=DENSE["lr"], warmup=DENSE["warmup"], seed=seed, device=device)
        load_half(model, _half(model))
        t0 = time.perf_counter()
        scores = dense.detection_map(model, test, device=device, class_metrics=True)
        scores_first = dense.detection_map(model, _first(test, first), device=device)
    else:
        norm = {"image_mean": (mean,), "image_std": (std,)}
        run = dense.train_segmenter(model, train, steps=steps or DENSE["seg_steps"], batch_size=DENSE["seg_batch"],
                                    lr=DENSE["lr"], warmup=DENSE["warmup"], seed=seed, device=device, **norm)
        load_half(model, _half(model))
        t0 = time.perf_counter()
        scores = dense.segmentation_miou(model, test, **norm)
        scores_first = dense.segmentation_miou(model, _first(test, first), **norm)
    run.update(kind=kind, eval=scores, eval_first=scores_first, first=first, eval_seconds=time.perf_counter() - t0,
               params=sum(p.numel() for p in model.parameters()),
               trainable=sum(p.numel() for p in model.parameters() if p.requires_grad))
    return model, run


def _first(ds: Any, n: int) -> Any:
    from dataclasses import replace

    return replace(ds, images=ds.images[:n], boxes=ds.boxes[:n], labels=ds.labels[:n], masks=ds.masks[:n])


def pretrained_backbone(results: str | Path) -> tuple[nn.Module, Any]:
    """Chapter 3's stored ResNet-20 (all ten classes) and the data bundle it was trained on (its normalisation)."""
    from .book import load_run, load_run_weights
    from .data import load_data
    from .models import resnet20

    d = Path(results) / BACKBONE_RUN
    _, info = load_run(d)
    c = info["config"]
    data = load_data(c["data"], train_size=c["train_size"], val_size=c["val_size"], seed=c["seed"])
    return load_run_weights(d, resnet20(in_channels=1)), data


def _provenance(kind: str, seeds: list[int] | None = None) -> dict[str, Any]:
    from .cli import run_info
    from .train_config import TrainConfig

    info = run_info(TrainConfig(model="resnet20", data="fashion-mnist", seed=(seeds or [0])[0]), torch.device("cpu"))
    del info["config"]
    info["study"] = kind
    return info


def _save(info: dict[str, Any], path: Path, t0: float) -> None:
    info["seconds"] = time.perf_counter() - t0
    info["end_time"], info["status"] = time.strftime("%Y-%m-%dT%H:%M:%S%z"), "finished"
    path.write_text(json.dumps(info, indent=1), encoding="utf-8")


def _half(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}


def load_half(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Load a state_dict stored in float16 (as the dense models are) into ``model``'s float32 tensors, strictly."""
    own = model.state_dict()
    model.load_state_dict({k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}, strict=True)
    return model


def main(argv: list[str] | None = None) -> int:
    """``python -m resnet_lib.backbone_study {pretrain,transfer,dense} --out DIR``: chapter 8's stored runs."""
    ap = argparse.ArgumentParser(prog="python -m resnet_lib.backbone_study", description=main.__doc__)
    ap.add_argument("what", choices=("pretrain", "transfer", "dense"))
    ap.add_argument("--out", required=True, help="folder of the stored runs (chapters/results/backbones)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--kinds", nargs="+", default=["faster_rcnn", "fcn", "deeplabv3"])
    ap.add_argument("--results", default="chapters/results", help="where chapter 3's stored ResNet-20 lives")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.what == "pretrain":
        source, _ = transfer_data()
        info = _provenance("pretrain", args.seeds)
        model, hist = pretrain_source(source, seed=args.seeds[0])
        torch.save(model.state_dict(), out / "source_resnet20.pt")
        info.update(settings={**PRETRAIN, "classes": SOURCE_CLASSES, "train_images": len(source.y_train)},
                    history=hist.to_dict())
        _save(info, out / "source_resnet20.json", t0)
    elif args.what == "transfer":
        from .models import resnet20

        source, target = transfer_data()
        pre = resnet20(in_channels=1, num_classes=source.num_classes)
        pre.load_state_dict(torch.load(out / "source_resnet20.pt", weights_only=True))
        info = _provenance("transfer", args.seeds)
        info.update(settings={"schedule": {str(k): v for k, v in SCHEDULE.items()}, "lr": TRANSFER_LR,
                              "too_high": list(TOO_HIGH),
                              "source": SOURCE_CLASSES, "target": TARGET_CLASSES,
                              "target_test_images": len(target.y_test)},
                    runs=transfer_grid(pre, target, args.seeds))
        _save(info, out / f"transfer_seed{'_'.join(map(str, args.seeds))}.json", t0)
    else:
        backbone, data = pretrained_backbone(args.results)
        train, test = canvases(data)
        for kind in args.kinds:
            t1 = time.perf_counter()
            info = _provenance(kind, args.seeds)
            model, run = train_dense(kind, backbone, train, test, data.mean[0], data.std[0], seed=args.seeds[0])
            info.update(settings={**DENSE, **CANVAS, "backbone": BACKBONE_RUN, "norm": [data.mean[0], data.std[0]]},
                        run=run)
            if kind != "deeplabv3":  # DeepLab's ASPP head (1.4 M parameters) is too large to keep
                torch.save(_half(model), out / f"{kind}.pt")
            _save(info, out / f"{kind}.json", t1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
