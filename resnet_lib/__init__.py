"""resnet_lib — the library behind the executable ResNet course.

Public names are loaded lazily (PEP 562): ``import resnet_lib`` imports nothing heavy, downloads nothing and
touches no device; the first use of a name imports the module that defines it.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # hardware
    "device": "hardware", "seed_everything": "hardware",
    # models: blocks, shortcuts, the ImageNet and CIFAR layouts, the registry
    "conv3x3": "models", "conv1x1": "models", "BasicBlock": "models", "Bottleneck": "models",
    "PreActBasicBlock": "models", "PreActBottleneck": "models", "ShortcutA": "models",
    "make_shortcut": "models", "zero_init_last": "models",
    "ResNet": "models", "CifarResNet": "models", "cifar_resnet": "models", "get_model": "models", "list_models": "models",
    "resnet18": "models", "resnet34": "models", "resnet50": "models", "resnet101": "models",
    "resnet152": "models", "resnext50_32x4d": "models", "wide_resnet50_2": "models",
    "resnet20": "models", "resnet32": "models", "resnet44": "models", "resnet56": "models",
    "resnet110": "models", "resnet1202": "models",
    "plain20": "models", "plain32": "models", "plain44": "models", "plain56": "models", "plain110": "models",
    "plain18": "models", "plain34": "models",
    "preact_resnet20": "models", "preact_resnet56": "models", "preact_resnet110": "models",
    "preact_resnet164": "models", "preact_resnet1001": "models",
    "resnet26d": "models", "resnet50d": "models", "seresnet50": "models",
    "wrn16_4": "models", "wrn16_8": "models", "wrn28_10": "models", "wrn40_4": "models",
    "resnext29_8x64d": "models", "resnext29_16x64d": "models", "resnext29_32x4d": "models",
    "se_resnet20": "models", "se_resnet56": "models", "se_resnet110": "models", "SqueezeExcite": "models",
    "ResNet9": "models", "resnet9": "models",
    # summary, checks
    "summary": "model_summary", "ModelSummary": "model_summary", "StageRow": "model_summary",
    "check_block": "checks", "BlockCheckError": "checks",
    "check_model": "checks", "ModelCheckError": "checks",
    # data, metrics
    "load_data": "data", "DataBundle": "data", "DeviceLoader": "data", "evaluate": "metrics",
    "EvalResult": "metrics", "DataNotFoundError": "data",
    # training
    "TrainConfig": "train_config", "fit": "train", "History": "history", "TrainingDivergedError": "train",
    "CheckpointError": "checkpoint",
    # speed
    "throughput": "benchmark", "Throughput": "benchmark",
    # analysis
    "grad_norms": "gradients", "loss_landscape_1d": "landscape", "loss_landscape_2d": "landscape",
    "lr_range_test": "lr_range", "LRRangeResult": "lr_range",
    "recalibrate_bn": "bn",
    # evaluation reports, calibration, explanation (chapter 7)
    "predict": "reports", "Predictions": "reports", "evaluate_logits": "reports",
    "classification_table": "reports", "top_k_accuracy": "reports",
    "expected_calibration_error": "calibration", "reliability": "calibration", "fit_temperature": "calibration",
    "gradcam": "explain", "saliency": "explain", "cascading_randomization": "explain",
    "extract_features": "explain", "linear_probes": "explain", "receptive_fields": "explain",
    "nearest_neighbours": "explain",
    # smaller and faster: distillation, latency (chapter 9)
    "DistillationLoss": "compress", "measure_latency": "latency", "Latency": "latency",
    # backbones, composed detection data, transfer (chapter 8)
    "fpn_backbone": "backbones", "pyramid_shapes": "backbones", "faster_rcnn": "backbones",
    "deeplabv3": "backbones", "fcn": "backbones",
    "compose_canvases": "data.composed", "ComposedCanvases": "data.composed",
    "train_detector": "dense", "train_segmenter": "dense", "detection_map": "dense", "mean_iou": "dense",
    "segmentation_miou": "dense",
    "split_classes": "transfer", "label_fraction": "transfer", "layer_groups": "transfer",
    "layerwise_lr": "transfer", "freeze_bn": "transfer", "replace_head": "transfer", "fine_tune": "transfer",
}
_SUBMODULES = (
    "hardware", "limits", "models", "blocks", "model_summary", "checks", "data", "metrics", "schedules",
    "checkpoint", "distributed", "history", "precision", "train_config", "train", "benchmark", "cli", "plots",
    "diagrams", "plain_cnn", "gradients", "landscape", "family", "shortcut_study", "book", "lr_range", "bn",
    "stats",
    "calibration", "reports", "explain", "smoothing_study",
    "keras_models", "on_trial",
    "transfer", "backbones", "dense", "backbone_study",
    "compress", "export", "latency",
)

__all__ = sorted(_EXPORTS) + list(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # cache: later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'resnet_lib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
