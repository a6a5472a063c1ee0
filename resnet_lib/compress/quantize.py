"""Post-training int8 quantization with PyTorch 2's export-based flow (PT2E, maintained in ``torchao``).

The flow: ``torch.export`` captures the network as a graph; a *quantizer* (here ``X86InductorQuantizer``, for
x86 CPUs through oneDNN) marks which tensors become int8; ``prepare_pt2e`` inserts observers; a few calibration
batches record the value ranges; ``convert_pt2e`` replaces the observers by quantize/dequantize pairs with the
recorded scales and stores the weights as int8. The result still runs eagerly (as float arithmetic between
quantize/dequantize steps: the int8 *numbers*, not the int8 *speed*); ``torch.compile`` (Inductor) fuses each
dequantize-conv-quantize into one int8 oneDNN convolution, which is where the speed comes from
(:func:`compile_quantized`).

The older eager/FX flow (``torch.ao.quantization.quantize_fx``) is marked by PyTorch for migration to this one.

One workaround, applied by :func:`quantize_pt2e`: a module called twice (the single ``relu`` that torchvision's and
``resnet_lib``'s basic block applies after both the first convolution and the addition) becomes one "source
partition" with two outputs, which ``X86InductorQuantizer``'s fusion matching rejects ("Input partition has more
than one output node"; pytorch/ao issue 4478). :func:`split_reused_modules` gives each call its own partition by
renaming it in the graph's metadata; the computation is unchanged.
"""
from __future__ import annotations

import io
from collections.abc import Iterable

import torch
import torch.nn as nn

from .. import limits


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the size of the model's weights as a file.

    Args:
        model: any module (a quantized graph module stores its int8 weights in its state_dict).
    Returns:
        The size in bytes, an int.
    """
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.tell()


def split_reused_modules(graph_module: torch.fx.GraphModule) -> int:
    """Give every call of a module that is called more than once its own name in the graph's metadata.

    ``torch.export`` records, for each node, the stack of modules it came from (``nn_module_stack``); a second call
    of the same module is keyed ``name@1`` but carries the same qualified name, so ``get_source_partitions``
    merges both calls into one partition. This appends ``@1``, ``@2``, ... to the qualified name of the later
    calls. Only metadata changes.

    Args:
        graph_module: the ``.module()`` of an ``ExportedProgram``, changed in place.
    Returns:
        The number of nodes renamed, an int.
    """
    renamed = 0
    for node in graph_module.graph.nodes:
        stack = node.meta.get("nn_module_stack")
        if node.op != "call_function" or not stack:
            continue
        key = list(stack)[-1]
        if "@" in key:
            fqn, cls = stack[key]
            stack = dict(stack)
            stack[key] = (f"{fqn}@{key.rsplit('@', 1)[1]}", cls)
            node.meta["nn_module_stack"] = stack
            renamed += 1
    return renamed


def quantize_pt2e(model: nn.Module, calibration: Iterable, example_inputs: torch.Tensor, *,
                  dynamic_batch: bool = True, max_batches: int | None = 8) -> torch.fx.GraphModule:
    """Post-training static int8 quantization of ``model`` for x86 CPUs (``torchao``'s PT2E flow).

    Weights are quantized per output channel (symmetric), activations per tensor (affine), as
    ``get_default_x86_inductor_quantization_config()`` sets; BatchNorm is folded into the convolutions first.

    Args:
        model: a float network in evaluation mode (it is exported, not changed).
        calibration: batches ``x`` or ``(x, y)`` of typical inputs (training images, not the test set).
        example_inputs: one batch ``[B, C, H, W]`` to export with.
        dynamic_batch: export with a symbolic batch size, so the result takes any batch size.
        max_batches: calibration batches used (None = all); a smoke run takes one.
    Returns:
        The quantized ``torch.fx.GraphModule`` (runs eagerly; pass it to :func:`compile_quantized` for speed). The
        float weights that its int8 weights replace are dropped, so its ``state_dict`` is the deployed size.
    """
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    if max_batches is not None and (isinstance(max_batches, bool) or not isinstance(max_batches, int)
                                    or max_batches < 1):
        raise ValueError(f"max_batches must be a positive int or None, got {max_batches!r}")
    if not isinstance(example_inputs, torch.Tensor) or example_inputs.dim() != 4:
        raise ValueError("example_inputs must be one [B, C, H, W] tensor")
    cap = limits.current().eval_batches
    if cap is not None:
        max_batches = cap if max_batches is None else min(max_batches, cap)
    model = model.eval()
    shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    graph = torch.export.export(model, (example_inputs,), dynamic_shapes=shapes).module()
    split_reused_modules(graph)
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(graph, quantizer)
    used = 0
    with torch.no_grad():
        for batch in limits.take(calibration, max_batches):
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            prepared(x.to(example_inputs.device))
            used += 1
    if used == 0:
        raise ValueError("calibration gave no batches: pass an iterable of x or (x, y) batches")
    quantized = convert_pt2e(prepared)
    _drop_unused_tensors(quantized)
    allow_exported_model_train_eval(quantized)  # .eval()/.train() work (rl.evaluate calls them), as no-ops here
    return quantized


def _drop_unused_tensors(graph_module: torch.fx.GraphModule) -> None:
    """Delete parameters and buffers no node reads (the float weights that the int8 copies replaced)."""
    used = {n.target for n in graph_module.graph.nodes if n.op == "get_attr"}
    for name in [k for k in graph_module.state_dict() if k not in used]:
        owner_name, _, attr = name.rpartition(".")
        owner = graph_module.get_submodule(owner_name) if owner_name else graph_module
        delattr(owner, attr)


def compile_quantized(model: nn.Module) -> nn.Module:
    """``torch.compile`` with Inductor's weight freezing, which turns a PT2E int8 graph into int8 oneDNN kernels.

    Compilation happens on the first call (tens of seconds on a small CPU) and again for an input shape the
    compiled code does not cover. Freezing (the weights become constants folded into the kernels, which the int8
    fusions need) is switched on only while the compiled model runs, so the process-wide Inductor settings stay
    as they were. (``torch.compile(..., options={"freezing": True})`` did not reach the int8 lowering with torch
    2.14: it failed with ``UnsupportedOperatorException: onednn.qconv_prepack``.)

    Args:
        model: a module to run on the CPU (the output of :func:`quantize_pt2e`, or a float network).
    Returns:
        The compiled model, an ``nn.Module``.
    """
    return _Frozen(torch.compile(model, dynamic=False))  # dynamic shapes broke the int8 conv lowering (torch 2.14)


class _Frozen(nn.Module):
    """Runs a compiled module with ``torch._inductor.config.freezing`` on (compilation happens inside the call)."""

    def __init__(self, compiled: nn.Module) -> None:
        super().__init__()
        self.compiled = compiled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torch._inductor import config as inductor_config

        with inductor_config.patch(freezing=True):
            return self.compiled(x)
