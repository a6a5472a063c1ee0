"""Export for deployment: ONNX files with a dynamic batch size, run in ONNX Runtime and compared with PyTorch.

``torch.onnx.export(..., dynamo=True)`` goes through ``torch.export`` (the same graph capture as
:mod:`resnet_lib.compress.quantize`) and writes an ONNX graph; ONNX Runtime runs it without PyTorch. A deployed
file must compute what the PyTorch model computes: :func:`max_abs_difference` measures it on real inputs.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

INPUT_NAME, OUTPUT_NAME = "images", "logits"


def to_onnx(model: nn.Module, example_inputs: torch.Tensor, path: str | os.PathLike[str], *,
            dynamic_batch: bool = True) -> Path:
    """Write ``model`` (evaluation mode) as one self-contained ONNX file with the dynamo exporter.

    The weights are stored inside the file (``external_data=False``; the exporter's default puts them in a second
    ``.onnx.data`` file), which suits networks below ONNX's 2 GB limit for a single file.

    Args:
        model: the network; exported in evaluation mode (its train/eval mode is restored afterwards).
        example_inputs: one batch ``[B, C, H, W]``.
        path: the ``.onnx`` file to write.
        dynamic_batch: a symbolic batch dimension, so that one file serves batch 1 and batch 64.
    Returns:
        The path written, as a ``Path``. Its input is named ``images``, its output ``logits``.
    """
    if not isinstance(example_inputs, torch.Tensor) or example_inputs.dim() != 4:
        raise ValueError("example_inputs must be one [B, C, H, W] tensor")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"path must end in .onnx, got {str(path)!r}")
    was_training = model.training
    model.eval()
    shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.onnx.export(model, (example_inputs,), str(path), dynamo=True, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_shapes=shapes, external_data=False, verbose=False)
    finally:
        model.train(was_training)
    return path


def onnx_session(path: str | os.PathLike[str], *, threads: int | None = None) -> Any:
    """An ONNX Runtime ``InferenceSession`` on the CPU for ``path``.

    Args:
        path: an ``.onnx`` file.
        threads: intra-op threads (None = ONNX Runtime's default: one per physical core).
    Returns:
        The ``onnxruntime.InferenceSession``.
    """
    import onnxruntime as ort

    if not Path(path).is_file():
        raise ValueError(f"{path} is not a file: write it with rl.export.to_onnx(model, x, path)")
    options = ort.SessionOptions()
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int or None, got {threads!r}")
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session: Any, x: torch.Tensor) -> torch.Tensor:
    """The session's logits for ``x`` (a float32 CPU batch), as a tensor."""
    name = session.get_inputs()[0].name
    (out,) = session.run(None, {name: x.detach().cpu().float().numpy()})
    return torch.from_numpy(out)


def max_abs_difference(session: Any, model: nn.Module, x: torch.Tensor) -> float:
    """The largest ``|ONNX Runtime output - PyTorch output|`` over a batch (model in evaluation mode, CPU).

    Args:
        session: from :func:`onnx_session`.
        model: the PyTorch network the file was exported from.
        x: a batch ``[B, C, H, W]``.
    Returns:
        The maximum absolute difference of the logits, a float.
    """
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        ref = model(x).float().cpu()
    model.train(was_training)
    return float((run_onnx(session, x) - ref).abs().max())
