"""A resnet_lib ResNet inside torchvision's detection and segmentation models; mAP and mean IoU."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import resnet_lib as rl
from resnet_lib import backbones as bb
from resnet_lib import dense, limits
from resnet_lib.data.composed import compose_canvases

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("single_thread")]


def test_fpn_backbone_equals_torchvisions(seeded):
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    tv = resnet_fpn_backbone(backbone_name="resnet18", weights=None, norm_layer=nn.BatchNorm2d, trainable_layers=5)
    ours = bb.fpn_backbone(rl.resnet18())
    ours.load_state_dict(tv.state_dict(), strict=True)          # same names, same shapes
    x = torch.randn(2, 3, 64, 64)
    a, b = ours.eval()(x), tv.eval()(x)
    assert list(a) == list(b) == ["0", "1", "2", "3", "pool"]
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_pyramid_shapes_both_layouts():
    r18 = bb.fpn_backbone(rl.resnet18(in_channels=1), out_channels=32)
    assert bb.pyramid_shapes(r18, (1, 64, 64)) == {"0": (1, 32, 16, 16), "1": (1, 32, 8, 8), "2": (1, 32, 4, 4),
                                                   "3": (1, 32, 2, 2), "pool": (1, 32, 1, 1)}
    r20 = bb.fpn_backbone(rl.resnet20(in_channels=1), ["layer2", "layer3"], 16)
    assert bb.pyramid_shapes(r20, (1, 64, 64)) == {"0": (1, 16, 32, 32), "1": (1, 16, 16, 16), "pool": (1, 16, 8, 8)}
    assert [bb.stage_channels(rl.resnet50(), s) for s in bb.stage_names(rl.resnet50())] == [256, 512, 1024, 2048]


@pytest.mark.parametrize("kind", ["deeplabv3", "fcn"])
def test_segmentation_heads_equal_torchvisions(kind, seeded):
    from torchvision.models import segmentation

    tv = getattr(segmentation, f"{kind}_resnet50")(weights=None, weights_backbone=None, num_classes=4, aux_loss=True)
    ours = getattr(bb, kind)(rl.resnet50(replace_stride_with_dilation=[False, True, True]), 4, aux_loss=True)
    ours.load_state_dict(tv.state_dict(), strict=True)
    x = torch.randn(1, 3, 40, 40)
    a, b = ours.eval()(x), tv.eval()(x)
    for k in ("out", "aux"):
        assert a[k].shape == (1, 4, 40, 40)
        torch.testing.assert_close(a[k], b[k])


def test_trainable_stages_and_frozen_bn():
    m = bb.set_trainable_stages(rl.resnet20(), 1)
    train = {n.split(".")[0] for n, p in m.named_parameters() if p.requires_grad}
    assert train == {"layer3"}
    assert not any(p.requires_grad for p in bb.set_trainable_stages(rl.resnet20(), 0).parameters())
    m = bb.set_trainable_stages(rl.resnet20(), 4)       # the stem too; the head (fc) is not a backbone stage
    assert {n.split(".")[0] for n, p in m.named_parameters() if p.requires_grad} == {"conv1", "bn1", "layer1",
                                                                                    "layer2", "layer3"}
    from torchvision.ops.misc import FrozenBatchNorm2d

    body = bb.fpn_backbone(rl.resnet20(), frozen_bn=True).body
    assert not any(isinstance(x, nn.BatchNorm2d) for x in body.modules())
    assert any(isinstance(x, FrozenBatchNorm2d) for x in body.modules())


def test_faster_rcnn_trains_and_detects(seeded):
    g = torch.Generator().manual_seed(0)
    pool = (torch.randint(0, 2, (20, 1, 28, 28), generator=g) * 200).to(torch.uint8), torch.arange(20) % 3
    ds = compose_canvases(*pool, 6, canvas_size=64, seed=0)
    det = bb.faster_rcnn(rl.resnet20(in_channels=1), ds.num_classes, return_layers=["layer2", "layer3"],
                         fpn_channels=16, anchor_sizes=(16, 32, 64), representation_size=32, min_size=64,
                         max_size=64, rpn_batch_size_per_image=16, box_batch_size_per_image=16)
    run = dense.train_detector(det, ds, steps=2, batch_size=2, warmup=1)
    assert len(run["loss"]) == 2 and all(np.isfinite(run["loss"]))
    assert set(run["parts"]) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    out = dense.detect(det, ds, [0, 1])
    assert set(out[0]) == {"boxes", "labels", "scores"} and det.training
    scores = dense.detection_map(det, ds, batch_size=3)
    assert 0 <= scores["map"] <= 1 and scores["images"] == 6


def test_faster_rcnn_errors():
    with pytest.raises(ValueError, match="use one per pyramid level \\(3: 0, 1, pool\\)"):
        bb.faster_rcnn(rl.resnet20(), 3, return_layers=["layer2", "layer3"], anchor_sizes=(8, 16))
    with pytest.raises(ValueError, match="use distinct stage names from layer1, layer2, layer3"):
        bb.fpn_backbone(rl.resnet20(), ["layer4"])
    with pytest.raises(ValueError, match="the background counts"):
        bb.faster_rcnn(rl.resnet20(), 1)
    with pytest.raises(ValueError, match="an int in 0..4"):
        bb.set_trainable_stages(rl.resnet20(), 5)
    with pytest.raises(ValueError, match="no stages named layer1"):
        bb.fpn_backbone(nn.Sequential(nn.Conv2d(1, 2, 3)))


class _Oracle(nn.Module):
    """A 'segmenter' that returns one-hot logits of the true class map (to check the metric end to end)."""

    def __init__(self, ds, k):
        super().__init__()
        self.ds, self.k, self.w = ds, k, nn.Parameter(torch.zeros(1))

    def forward(self, x):
        sem = self.ds.semantic()[: len(x)]
        return {"out": nn.functional.one_hot(sem, self.k).permute(0, 3, 1, 2).float()}


def test_mean_iou_against_a_hand_computation():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randint(0, 4, (3, 8, 8), generator=g), torch.randint(0, 4, (3, 8, 8), generator=g)
    pred[pred == 3] = 2                        # class 3 never predicted: IoU 0, still in the mean
    miou, per_class = dense.mean_iou(pred, target, 5)   # class 4 in neither: nan, left out
    p, t = pred.numpy().ravel(), target.numpy().ravel()
    hand = [((p == c) & (t == c)).sum() / ((p == c) | (t == c)).sum() for c in range(4)]
    np.testing.assert_allclose(per_class[:4], hand, rtol=1e-6)
    assert np.isnan(per_class[4]) and per_class[3] == 0
    assert miou == pytest.approx(np.mean(hand), rel=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        dense.mean_iou(pred, target[0], 5)


def test_segmentation_miou_of_a_perfect_model_is_one():
    g = torch.Generator().manual_seed(1)
    pool = (torch.randint(0, 2, (10, 1, 28, 28), generator=g) * 200).to(torch.uint8), torch.arange(10) % 2
    ds = compose_canvases(*pool, 4, seed=0)
    r = dense.segmentation_miou(_Oracle(ds, ds.num_classes), ds, batch_size=4)
    assert r["miou"] == 1.0 and r["pixel_acc"] == 1.0 and r["images"] == 4


def test_detection_map_of_the_truth_is_one():
    g = torch.Generator().manual_seed(2)
    pool = (torch.randint(0, 2, (10, 1, 28, 28), generator=g) * 200).to(torch.uint8), torch.arange(10) % 2
    ds = compose_canvases(*pool, 4, seed=0)

    class Truth(nn.Module):
        def forward(self, images):
            return [{"boxes": ds.boxes[i], "labels": ds.labels[i], "scores": torch.ones(len(ds.labels[i]))}
                    for i in range(len(images))]

    truth = Truth()
    truth.p = nn.Parameter(torch.zeros(1))
    assert dense.detection_map(truth, ds, batch_size=4)["map"] == pytest.approx(1.0)


def test_segmenters_train_and_smoke_limits(seeded):
    g = torch.Generator().manual_seed(3)
    pool = (torch.randint(0, 2, (10, 1, 28, 28), generator=g) * 200).to(torch.uint8), torch.arange(10) % 2
    ds = compose_canvases(*pool, 8, canvas_size=32, sizes=(10, 16), seed=0)
    seg = bb.fcn(rl.resnet20(in_channels=1), ds.num_classes, aux_loss=True)
    with limits.limited(limits.RunLimits(epochs=1, train_steps=2)):
        run = dense.train_segmenter(seg, ds, steps=50, batch_size=4)
    assert run["steps"] == 2 and len(run["loss"]) == 2 and np.isfinite(run["loss"]).all()
    with pytest.raises(ValueError, match="steps=0 is not allowed"):
        dense.train_segmenter(seg, ds, steps=0)


def test_stored_dense_weights_round_trip_in_float16(tmp_path):
    from resnet_lib.backbone_study import _half, build_dense, load_half

    a = build_dense("fcn", rl.resnet20(in_channels=1), 5, 0.3, 0.35)
    torch.save(_half(a), tmp_path / "fcn.pt")
    b = load_half(build_dense("fcn", rl.resnet20(in_channels=1), 5, 0.3, 0.35),
                  torch.load(tmp_path / "fcn.pt", weights_only=True))
    for k, v in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[k], v.half().to(v.dtype), rtol=0, atol=0)
    with pytest.raises(ValueError, match="unknown kind 'yolo': use faster_rcnn, fcn or deeplabv3"):
        build_dense("yolo", rl.resnet20(), 5, 0.3, 0.35)
