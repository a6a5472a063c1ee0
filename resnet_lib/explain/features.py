"""What the stages learn: per-stage outputs (torchvision's feature extraction), linear probes, receptive fields,
nearest neighbours in the embedding.

* :func:`stage_nodes` names the outputs of a ResNet's stem, its stages, the pooled embedding and the logits as
  nodes of its ``torch.fx`` graph; :func:`stage_outputs` and :func:`extract_features` read them with
  ``torchvision.models.feature_extraction.create_feature_extractor`` (every ``resnet_lib`` model traces).
* :func:`linear_probes` (Alain & Bengio, 2016): a logistic regression per stage on the stage's pooled features —
  how linearly separable the classes are after each stage.
* :func:`receptive_fields`: the theoretical receptive field of every node, propagated through the traced graph
  from the convolutions' and poolings' kernels, strides and dilations (a branch that merges takes the larger
  field, a global pooling makes it the whole image).
* :func:`nearest_neighbours`: cosine-similarity retrieval in an embedding.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.figure import Figure

from ..reports import batches_of
from .gradcam import _EvalMode, check_images


def _node_names(model: nn.Module) -> list[str]:
    from torchvision.models.feature_extraction import get_graph_node_names

    _, eval_nodes = get_graph_node_names(model)
    return eval_nodes


def stage_nodes(model: nn.Module) -> dict[str, str]:
    """``{"stem": ..., "layer1": ..., ..., "embedding": ..., "logits": ...}``: graph nodes of a ResNet's parts.

    The stem is the last node before the first stage; each stage ``layerN`` is its module's last node; the
    embedding is what the final linear layer ``fc`` reads; the logits are ``fc``'s output.
    """
    nodes = _node_names(model)
    stages = sorted({n.split(".")[0] for n in nodes if n.startswith("layer") and n.split(".")[0][5:].isdigit()},
                    key=lambda s: int(s[5:]))
    if not stages or "fc" not in nodes:
        raise ValueError(f"{type(model).__name__} does not look like a ResNet (stages layer1, layer2, ... and fc): "
                         "pass nodes={name: graph node} explicitly")
    first = next(i for i, n in enumerate(nodes) if n.startswith(f"{stages[0]}."))
    out = {"stem": nodes[first - 1]} if first > 0 and nodes[first - 1] not in ("x", "check_input") else {}
    for s in stages:
        out[s] = [n for n in nodes if n.startswith(f"{s}.")][-1]
    out["embedding"] = nodes[nodes.index("fc") - 1]
    out["logits"] = "fc"
    return out


def _resolve(model: nn.Module, nodes: Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    """``{output name: graph node}``; names alone (``["layer1", "logits"]``) are looked up in :func:`stage_nodes`."""
    all_nodes = _node_names(model)
    if nodes is None:
        return stage_nodes(model)
    if not isinstance(nodes, Mapping):
        known = stage_nodes(model)
        bad = [n for n in nodes if n not in known and n not in all_nodes]
        if bad:
            raise ValueError(f"unknown node {bad[0]!r}: use one of {', '.join(known)} or a graph node "
                             f"({', '.join(all_nodes)})")
        return {n: known.get(n, n) for n in nodes}
    bad = [v for v in nodes.values() if v not in all_nodes]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a node of {type(model).__name__}'s graph: use one of "
                         f"{', '.join(all_nodes)}")
    return dict(nodes)


def _extractor(model: nn.Module, nodes: dict[str, str]) -> nn.Module:
    from torchvision.models.feature_extraction import create_feature_extractor

    return create_feature_extractor(model, return_nodes={node: name for name, node in nodes.items()})


def stage_outputs(model: nn.Module, images: torch.Tensor,
                  nodes: Mapping[str, str] | Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """The outputs of the chosen nodes (default :func:`stage_nodes`) for one batch, unpooled, in evaluation mode.

    Args:
        model: a traceable classifier.
        images: a normalised batch on the model's device.
        nodes: ``{name: graph node}``, names of :func:`stage_nodes`, or None for all of them.
    Returns:
        A dict from each name to its detached tensor (feature maps ``[B, K, h, w]``, embeddings ``[B, D]``).
    """
    x = check_images(model, images)
    nodes = _resolve(model, nodes)
    extractor = _extractor(model, nodes)
    with _EvalMode(extractor), torch.no_grad():
        out = extractor(x)
    return {name: out[name].detach() for name in nodes}


@dataclass
class Features:
    """Pooled per-node features of a split and its labels (CPU)."""

    tensors: dict[str, torch.Tensor]  # name -> [N, D] float32
    labels: torch.Tensor  # [N] int64

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self.tensors:
            raise ValueError(f"no features called {name!r}: use one of {', '.join(self.tensors)}")
        return self.tensors[name]


def extract_features(model: nn.Module, data_or_loader: Any, split: str = "test",
                     nodes: Mapping[str, str] | Sequence[str] | None = None, *, pool: int = 1,
                     batch_size: int = 512, device: str | torch.device | None = None) -> Features:
    """One pass over a split, keeping each chosen node's output average-pooled to ``pool x pool`` and flattened.

    With ``pool=1`` a stage's output becomes one number per channel (global average pooling, what ``fc`` reads);
    the logits and the embedding are kept as they are.

    Args:
        model: a traceable classifier.
        data_or_loader: a DataBundle (its ``split``, no augmentation) or an iterable of ``(x, y)`` batches.
        split: which split of a DataBundle.
        nodes: ``{name: graph node}``, names of :func:`stage_nodes`, or None for all of them.
        pool: the side of the adaptive average pooling of feature maps.
        batch_size: batch size for a DataBundle.
        device: where to compute; None = the model's device.
    Returns:
        :class:`Features` on the CPU.
    """
    if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
        raise ValueError(f"pool must be a positive int (the pooled side), got {pool!r}")
    nodes = _resolve(model, nodes)
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    extractor = _extractor(model, nodes)
    out: dict[str, list[torch.Tensor]] = {name: [] for name in nodes}
    labels = []
    with _EvalMode(extractor), torch.inference_mode():
        for x, y in batches_of(data_or_loader, split, batch_size):
            feats = extractor(x.to(dev))
            for name in nodes:
                f = feats[name].float()
                if f.dim() == 4:
                    f = F.adaptive_avg_pool2d(f, pool)
                out[name].append(f.flatten(1).cpu())
            labels.append(y.cpu())
    if not labels:
        raise ValueError("nothing to extract: the loader yielded no batches")
    return Features({name: torch.cat(v) for name, v in out.items()}, torch.cat(labels).long())


def linear_probe(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor, *,
                 c: float = 1.0, max_iter: int = 2000) -> float:
    """Test accuracy of a logistic regression (scikit-learn, features standardised) fitted on ``x_train``.

    Args:
        x_train, y_train: features ``[N, D]`` and labels ``[N]`` to fit on.
        x_test, y_test: features and labels to score on.
        c: inverse L2 regularisation strength (scikit-learn's ``C``).
        max_iter: L-BFGS iterations at most.
    Returns:
        The accuracy on ``x_test``, a float.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.dim() != 2 or y.shape != x.shape[:1]:
            raise ValueError(f"x_{name} must be [N, D] and y_{name} [N], got {tuple(x.shape)} and {tuple(y.shape)}")
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"train and test features differ in width: {x_train.shape[1]} vs {x_test.shape[1]}")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    clf.fit(x_train.double().numpy(), y_train.numpy())
    return float(clf.score(x_test.double().numpy(), y_test.numpy()))


def linear_probes(train: Features, test: Features, names: Sequence[str] | None = None, *, c: float = 1.0,
                  max_iter: int = 2000) -> dict[str, float]:
    """:func:`linear_probe` for each named feature (default: all but the logits), in order.

    Returns:
        A dict from each name to the probe's test accuracy.
    """
    names = [n for n in train.tensors if n != "logits"] if names is None else list(names)
    return {n: linear_probe(train[n], train.labels, test[n], test.labels, c=c, max_iter=max_iter) for n in names}


@dataclass(frozen=True)
class ReceptiveField:
    """The input window one output position depends on: ``size`` pixels square (None: the whole input) and
    ``jump``, the input distance between neighbouring output positions (the product of the strides)."""

    size: int | None
    jump: int


def receptive_fields(model: nn.Module, input_size: Sequence[int],
                     nodes: Mapping[str, str] | Sequence[str] | None = None) -> dict[str, ReceptiveField]:
    """Theoretical receptive fields of the chosen nodes (default :func:`stage_nodes`, without the logits).

    Walks the ``torch.fx`` graph in order: a convolution or pooling with kernel ``k``, stride ``s`` and dilation
    ``d`` turns ``(r, j)`` into ``(r + (k - 1) d j, s j)``; an operation that merges several inputs (the residual
    addition) takes the largest ``r``; one that shrinks the map without a kernel (option A's subsampling) multiplies
    ``j``; an adaptive (global) pooling or a mean over the map, and anything fed by one (an SE gate), sees the whole
    input.

    Args:
        model: a traceable network.
        input_size: ``(B, C, H, W)`` of an example input (shapes are propagated once).
        nodes: as for :func:`stage_outputs`.
    Returns:
        A dict from each name to its :class:`ReceptiveField`.
    """
    import torch.fx
    from torch.fx.passes.shape_prop import ShapeProp
    from torchvision.models.feature_extraction import NodePathTracer

    if len(input_size) != 4:
        raise ValueError(f"input_size must be (B, C, H, W), got {tuple(input_size)}")
    if nodes is None:
        wanted = {k: v for k, v in stage_nodes(model).items() if k != "logits"}
    else:
        wanted = _resolve(model, nodes)
    tracer = NodePathTracer()
    graph = tracer.trace(model)
    gm = torch.fx.GraphModule(tracer.root, graph)
    dev = next(model.parameters()).device
    with _EvalMode(gm), torch.no_grad():
        ShapeProp(gm).propagate(torch.zeros(*input_size, device=dev))
    modules = dict(gm.named_modules())
    rf: dict[torch.fx.Node, tuple[int | None, int] | None] = {}

    def shape(n: torch.fx.Node) -> tuple[int, ...] | None:
        meta = n.meta.get("tensor_meta")
        return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None

    for n in graph.nodes:
        if n.op == "placeholder":
            rf[n] = (1, 1)
            continue
        ins = [a for a in n.all_input_nodes if rf.get(a) is not None]
        out_shape = shape(n)
        if not ins:                                           # not computed from the input (constants, checks)
            rf[n] = None
            continue
        if out_shape is None or len(out_shape) != 4:          # flattened, pooled, linear: the whole input
            rf[n] = (None, max(rf[a][1] for a in ins))
            continue
        mod = modules.get(n.target) if n.op == "call_module" else None
        j = max(rf[a][1] for a in ins)
        r = None if any(rf[a][0] is None for a in ins) else max(rf[a][0] for a in ins)   # None: global
        if isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            rf[n] = (None, j)
            continue
        if isinstance(mod, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s = _pair(mod.kernel_size), _pair(mod.stride)
            d = _pair(getattr(mod, "dilation", 1))
            rf[n] = (None if r is None else r + (k - 1) * d * j, j * s)
            continue
        in_shape = shape(ins[0])
        if in_shape is not None and len(in_shape) == 4 and out_shape[2] < in_shape[2]:
            if out_shape[2:] == (1, 1):                       # a mean over the map (SE's squeeze): global
                rf[n] = (None, j)
                continue
            j *= round(in_shape[2] / out_shape[2])           # subsampling without a kernel (option A)
        rf[n] = (r, j)
    by_name = {n.name: n for n in graph.nodes}
    by_path = {tracer.node_to_qualname[n]: n for n in graph.nodes if n in tracer.node_to_qualname}
    result = {}
    for name, node_name in wanted.items():
        node = by_path.get(node_name, by_name.get(node_name))
        if node is None or rf.get(node) is None:
            raise ValueError(f"no receptive field for {name!r} (node {node_name!r})")
        result[name] = ReceptiveField(*rf[node])
    return result


def _pair(v: Any) -> int:
    if isinstance(v, tuple):
        if len(set(v)) != 1:
            raise ValueError(f"receptive_fields supports square kernels, strides and dilations only, got {v}")
        return int(v[0])
    return int(v)


def nearest_neighbours(queries: torch.Tensor, gallery: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Indices of the ``k`` gallery rows most similar to each query by cosine similarity, most similar first.

    Args:
        queries: ``[Q, D]`` embeddings.
        gallery: ``[N, D]`` embeddings (exclude the queries themselves from it, or ask for ``k + 1``).
        k: neighbours per query (``<= N``).
    Returns:
        An int64 tensor ``[Q, k]``.
    """
    if queries.dim() != 2 or gallery.dim() != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"queries [Q, D] and gallery [N, D] must share D, got {tuple(queries.shape)} and "
                         f"{tuple(gallery.shape)}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(gallery):
        raise ValueError(f"k must be an int in 1..{len(gallery)} (the gallery's size), got {k!r}")
    sim = F.normalize(queries.double(), dim=1) @ F.normalize(gallery.double(), dim=1).T
    return sim.topk(k, dim=1).indices


def feature_maps_figure(outputs: Mapping[str, torch.Tensor], index: int = 0, channels: int = 6,
                        size: float = 1.1, title: str | None = None) -> Figure:
    """A few channels of each stage's output for one image: a row per stage, strongest channels first.

    Args:
        outputs: from :func:`stage_outputs` (only the 4-D feature maps are drawn).
        index: which image of the batch.
        channels: channels per stage (those with the largest mean activation on this image).
        size: inches per panel.
        title: the figure's title.
    Returns:
        The figure.
    """
    maps = {k: v for k, v in outputs.items() if v.dim() == 4}
    if not maps:
        raise ValueError("outputs holds no feature maps [B, K, h, w]: pass stage_outputs(...)")
    fig = Figure(figsize=(size * channels + 1.0, size * len(maps) + 0.4), layout="constrained")
    axes = fig.subplots(len(maps), channels, squeeze=False)
    for r, (name, m) in enumerate(maps.items()):
        if not 0 <= index < len(m):
            raise ValueError(f"index {index} is out of range: use 0..{len(m) - 1}")
        fm = m[index].float().cpu()                             # [K, h, w]
        top = fm.mean((1, 2)).argsort(descending=True)[:channels]
        for c, ch in enumerate(top):
            axes[r, c].imshow(fm[ch].numpy(), cmap="viridis")
            axes[r, c].set_title(f"ch {int(ch)}", fontsize=6)
        axes[r, 0].set_ylabel(f"{name}\n{fm.shape[1]}x{fm.shape[2]}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
