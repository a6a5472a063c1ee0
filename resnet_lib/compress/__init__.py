"""Smaller and faster networks (chapter 9): int8 quantization, pruning and knowledge distillation.

Each module imports its optional package (``torchao``, ``torch-pruning``) inside the functions that need it.
"""
from __future__ import annotations

from .distill import DistillationLoss
from .prune import channel_counts, magnitude_prune, prune_channels, residual_stream_layers, sparsity
from .quantize import compile_quantized, quantize_pt2e, split_reused_modules, state_dict_bytes

__all__ = ["DistillationLoss", "channel_counts", "compile_quantized", "magnitude_prune", "prune_channels",
           "quantize_pt2e", "residual_stream_layers", "sparsity", "split_reused_modules", "state_dict_bytes"]
