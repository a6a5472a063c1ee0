"""Explaining a trained ResNet: where it looks (saliency, Grad-CAM), whether that picture can be trusted (sanity
checks), and what its stages learn (features, linear probes, receptive fields, nearest neighbours).

The sub-modules only depend on torch, torchvision, scikit-learn and scipy; the maintained ``grad-cam`` package is
the reference :func:`gradcam` is tested against, not a dependency.
"""
from __future__ import annotations

from .features import (Features, ReceptiveField, extract_features, feature_maps_figure, linear_probe, linear_probes,
                       nearest_neighbours, receptive_fields, stage_nodes, stage_outputs)
from .gradcam import check_images, check_targets, find_layer, gradcam, overlay_figure, saliency
from .sanity import SanityResult, cascading_randomization, randomization_order, reinitialize, spearman

__all__ = ["Features", "ReceptiveField", "SanityResult", "cascading_randomization", "check_images", "check_targets",
           "extract_features", "feature_maps_figure", "find_layer", "gradcam", "linear_probe", "linear_probes",
           "nearest_neighbours", "overlay_figure", "randomization_order", "receptive_fields", "reinitialize",
           "saliency", "spearman", "stage_nodes", "stage_outputs"]
