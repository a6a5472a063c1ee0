"""Composed detection canvases: boxes and masks exact by construction, seeded, torchvision's target format."""
from __future__ import annotations

import pytest
import torch
from torchvision.ops import masks_to_boxes

from resnet_lib.data.composed import ComposedCanvases, collate_detection, compose_canvases

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("single_thread")]


@pytest.fixture(scope="module")
def pool() -> tuple[torch.Tensor, torch.Tensor]:
    """40 fake 28x28 'garments': a random blob of non-zero pixels on a zero background, labels 0..3."""
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(40, 1, 28, 28, dtype=torch.uint8)
    for i in range(40):
        t, l = torch.randint(0, 10, (2,), generator=g).tolist()
        h, w = torch.randint(6, 18, (2,), generator=g).tolist()
        x[i, 0, t:t + h, l:l + w] = torch.randint(1, 256, (h, w), generator=g, dtype=torch.uint8)
    return x, torch.arange(40) % 4


def test_boxes_are_the_tight_boxes_of_the_masks(pool):
    ds = compose_canvases(*pool, 30, canvas_size=64, seed=3)
    for i in range(len(ds)):
        image, t = ds[i]
        assert image.shape == (1, 64, 64) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
        assert t["boxes"].shape == (len(t["labels"]), 4) and t["masks"].shape == (len(t["labels"]), 64, 64)
        # torchvision's masks_to_boxes gives the last pixel's index; ours is the pixel edge (x2 = last + 1)
        torch.testing.assert_close(t["boxes"], masks_to_boxes(t["masks"]) + torch.tensor([0.0, 0, 1, 1]))
        canvas = ds.images[i, 0]
        union = t["masks"].bool().any(0)
        assert torch.equal(union, canvas > 0)                       # the masks are exactly the non-zero pixels
        assert int(t["masks"].sum()) == int(union.sum())            # and they do not overlap
        assert set(t["labels"].tolist()) <= {1, 2, 3, 4}            # class + 1 (0 is the background)


def test_unscaled_objects_are_the_source_images(pool):
    x, y = pool
    ds = compose_canvases(x, y, 10, canvas_size=64, sizes=(28, 28), objects=(1, 1), seed=0)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))   # the pool order it draws from
    for i in range(len(ds)):
        x1, y1, x2, y2 = ds.boxes[i][0].long().tolist()
        src = x[order[i], 0]
        rows, cols = (src > 0).any(1).nonzero()[:, 0], (src > 0).any(0).nonzero()[:, 0]
        crop = src[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        assert torch.equal(ds.images[i, 0, y1:y2, x1:x2], crop)
        assert int(ds.labels[i][0]) == int(y[order[i]]) + 1


def test_seeded_and_counts(pool):
    a = compose_canvases(*pool, 20, seed=1, objects=(2, 3))
    b = compose_canvases(*pool, 20, seed=1, objects=(2, 3))
    c = compose_canvases(*pool, 20, seed=2, objects=(2, 3))
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert all(1 <= len(lab) <= 3 for lab in a.labels) and sum(len(lab) for lab in a.labels) >= 35
    assert a.classes == ["background", "0", "1", "2", "3"] and a.num_classes == 5
    assert "not a benchmark" in repr(a)


def test_semantic_view(pool):
    ds = compose_canvases(*pool, 5, seed=0)
    sem = ds.semantic()
    assert sem.shape == (5, 64, 64) and sem.dtype == torch.int64
    for i in range(5):
        want = torch.zeros(64, 64, dtype=torch.int64)
        for m, lab in zip(ds.masks[i], ds.labels[i]):
            want[m] = lab
        assert torch.equal(sem[i], want) and torch.equal(ds.semantic(i), want)


def test_collate(pool):
    ds = compose_canvases(*pool, 3, seed=0)
    images, targets = collate_detection([ds[0], ds[1]])
    assert len(images) == len(targets) == 2 and torch.equal(targets[1]["boxes"], ds.boxes[1])
    assert isinstance(ds, ComposedCanvases)


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 0}, "positive number of canvases"),
    ({"n": 2, "objects": (0, 2)}, "1 <= fewest <= most"),
    ({"n": 2, "sizes": (20, 80)}, "largest <= canvas_size=64"),
    ({"n": 2, "classes": ["a", "b"]}, "labels must lie in 0..1"),
])
def test_errors(pool, kwargs, match):
    with pytest.raises(ValueError, match=match):
        compose_canvases(*pool, **kwargs)


def test_error_on_float_images(pool):
    with pytest.raises(ValueError, match="must be uint8"):
        compose_canvases(pool[0].float(), pool[1], 2)


def test_fewer_canvases_are_a_prefix(pool):
    """Chapter 8 re-scores the first canvases of the stored runs' evaluation set by composing only those."""
    few, many = compose_canvases(*pool, 4, seed=5), compose_canvases(*pool, 12, seed=5)
    assert torch.equal(few.images, many.images[:4])
    assert all(torch.equal(a, b) for a, b in zip(few.boxes, many.boxes[:4]))
