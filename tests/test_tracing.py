"""Every model family traces (torch.fx, torchvision's feature extraction), scripts and exports, equal to eager.

Readers reuse these nets as backbones (chapter 8 extracts features with ``create_feature_extractor``) and deploy them
(chapter 9 exports them), so each of these paths must work on every family and give the eager outputs; the input
checks of ``forward`` must survive symbolic tracing.
"""
from __future__ import annotations

import pytest
import torch
import torch.fx
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from resnet_lib.models import CifarResNet, ResNet9, ShortcutA, get_model

# (name, kwargs, input shape): one of each block type, layout, shortcut option and plain/residual.
FAMILIES = [
    ("resnet18", {}, (2, 3, 64, 64)),
    ("resnet50", {"stride_in_1x1": True}, (2, 3, 64, 64)),
    ("resnext50_32x4d", {"num_classes": 7}, (1, 3, 64, 64)),
    ("plain18", {"in_channels": 1}, (2, 1, 64, 64)),
    ("resnet20", {}, (2, 3, 32, 32)),
    ("resnet20", {"shortcut": "B", "in_channels": 1}, (2, 1, 28, 28)),
    ("resnet20", {"shortcut": "C"}, (2, 3, 32, 32)),
    ("plain20", {}, (2, 3, 32, 32)),
    ("preact_resnet20", {}, (2, 3, 32, 32)),
    ("preact_resnet164", {"num_classes": 100}, (1, 3, 32, 32)),
    # the family tree: ResNet-D's stem and average-pool shortcut, SE, wide with dropout, grouped, stochastic depth
    ("resnet26d", {}, (2, 3, 64, 64)),
    ("se_resnet20", {}, (2, 3, 32, 32)),
    ("wrn16_4", {"drop_rate": 0.3}, (2, 3, 32, 32)),
    ("resnext29_32x4d", {}, (1, 3, 32, 32)),
    ("resnet20", {"stochastic_depth_prob": 0.2}, (2, 3, 32, 32)),
    # a max-pooled stem, wide stages (chapter 5's candidates); Page's ResNet-9 (chapter 5's speedrun network)
    ("resnet9", {"widths": (8, 16, 32, 64), "in_channels": 1}, (2, 1, 28, 28)),
    ("cifar_resnet", {"depth": 8, "widths": (32, 64, 128), "stem_width": 16, "stem_pool": True, "shortcut": "B",
                      "in_channels": 1}, (2, 1, 28, 28)),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for n, kw, _ in FAMILIES]


def _model(name: str, kwargs: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    model = get_model(name, **kwargs).eval()
    with torch.no_grad():  # non-trivial BN statistics, so that a wrong BN mode would show
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize(("name", "kwargs", "shape"), FAMILIES, ids=IDS)
def test_fx_trace_equals_eager_and_keeps_the_input_check(name, kwargs, shape):
    model = _model(name, kwargs)
    x = torch.randn(shape)
    traced = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)
    # The check is one leaf node of the graph, so a wrong input still gets its one-line message.
    assert any(n.op == "call_function" and getattr(n.target, "__name__", "") == "check_input"
               for n in traced.graph.nodes)
    with pytest.raises(ValueError, match="expects a 4-D batch"):
        traced(x[0])
    with pytest.raises(ValueError, match="input channels"):
        traced(torch.randn(shape[0], shape[1] + 1, *shape[2:]))


@pytest.mark.parametrize(("name", "kwargs", "shape"), FAMILIES, ids=IDS)
def test_feature_extractor_returns_each_stage(name, kwargs, shape):
    model = _model(name, kwargs)
    stages = [s for s in ("layer1", "layer2", "layer3", "layer4") if hasattr(model, s)]
    _, eval_nodes = get_graph_node_names(model)  # a stage is named by its module path: its last node is returned
    assert all(any(n.startswith(f"{s}.") for n in eval_nodes) for s in stages)
    body = create_feature_extractor(model, return_nodes={s: s for s in stages})
    x = torch.randn(shape)
    with torch.no_grad():
        feats = body(x)
        want, h = {}, x
        for s in ["conv1"] + stages:  # the stage outputs computed by hand from the eager modules
            if s == "conv1":
                h = model.conv1(h)
                if isinstance(model, CifarResNet) and not model.preact:
                    h = model.relu(model.bn1(h))
                    h = model.maxpool(h) if model.stem_pool else h
                elif isinstance(model, ResNet9):
                    h = model.relu(model.bn1(h))
                elif not isinstance(model, CifarResNet):
                    h = model.maxpool(model.relu(model.bn1(h)))
                continue
            h = getattr(model, s)(h)
            want[s] = h
    assert list(feats) == stages
    for s in stages:
        torch.testing.assert_close(feats[s], want[s], rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")  # deprecated, still what many deploy
@pytest.mark.parametrize(("name", "kwargs", "shape"), FAMILIES, ids=IDS)
def test_torchscript_equals_eager(name, kwargs, shape):
    model = _model(name, kwargs)
    scripted = torch.jit.script(model)
    x = torch.randn(shape)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("name", "kwargs", "shape"),
                         [f for f in FAMILIES if f[0] in ("resnet18", "resnet20", "preact_resnet20", "plain20")],
                         ids=[i for f, i in zip(FAMILIES, IDS) if f[0] in ("resnet18", "resnet20",
                                                                            "preact_resnet20", "plain20")])
def test_torch_export_equals_eager(name, kwargs, shape):
    model = _model(name, kwargs)
    x = torch.randn(shape)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), model(x), rtol=1e-5, atol=1e-5)
        other = torch.randn(shape)  # a second input: nothing of the first was baked in
        torch.testing.assert_close(exported.module()(other), model(other), rtol=1e-5, atol=1e-5)


def test_shortcut_a_traces_in_both_memory_layouts():
    sc = ShortcutA(16, 32, stride=2)
    traced = torch.fx.symbolic_trace(sc)
    x = torch.randn(2, 16, 8, 8)
    for inp in (x, x.contiguous(memory_format=torch.channels_last)):
        out = traced(inp)
        torch.testing.assert_close(out, sc(inp), rtol=0, atol=0)
        assert out.shape == (2, 32, 4, 4) and out[:, 16:].abs().max() == 0
        # The traced module keeps the layout rule of eager mode: channels-last in, channels-last out.
        assert out.is_contiguous(memory_format=torch.channels_last) == (inp is not x)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")
@pytest.mark.parametrize(("name", "kwargs", "shape"),
                         [f for f in FAMILIES if f[0] in ("resnet18", "preact_resnet20", "plain20")] +
                         [("resnet20", {}, (2, 3, 32, 32))],
                         ids=["resnet18", "plain20", "preact_resnet20", "resnet20"])
def test_onnx_export_runs_in_onnxruntime_equal_to_eager(name, kwargs, shape, tmp_path):
    pytest.importorskip("onnxscript", reason="ONNX export needs onnxscript (requirements.txt installs it)")
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (requirements.txt installs it)")
    model = _model(name, kwargs)
    x = torch.randn(shape)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=True, input_names=["images"], output_names=["logits"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    other = torch.randn(shape)
    for inp in (x, other):
        (out,) = session.run(None, {"images": inp.numpy()})
        with torch.no_grad():
            torch.testing.assert_close(torch.from_numpy(out), model(inp), rtol=1e-4, atol=1e-4)
