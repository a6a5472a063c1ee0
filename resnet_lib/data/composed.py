"""Composed detection and segmentation canvases: real images pasted on a blank canvas, never a benchmark.

Offline there is no detection data set here, so chapter 8 *composes* one from real images: each canvas is a blank
(zero) square on which 1 to 3 real Fashion-MNIST images are pasted, each rescaled to a random size, at random places
where they do not overlap. Because the canvas is made, not photographed, the targets are exact by construction:

* an object's **mask** is the set of its pasted pixels that are non-zero (the garment, not its black border);
* its **box** is the tight bounding box of that mask, in pixel-edge coordinates ``(x1, y1, x2, y2)`` with
  ``x2 = last column + 1`` (the box of a single pixel at column 3 spans 3..4), as torchvision's detection models
  and COCO's evaluation expect;
* its **label** is the Fashion-MNIST class of the pasted image, plus one (0 is the background).

Everything is drawn from one seeded generator, so the same arguments give the same canvases. Compose training
canvases from *training* images and evaluation canvases from *test* images. A detector's score on these canvases says
how well it learned this composed task — nothing about COCO, Pascal VOC or any real detection benchmark; every
figure and table built on it should say "composed".
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

COMPOSED_NOTE = ("composed canvases of real Fashion-MNIST images (exact boxes and masks by construction; "
                 "not a benchmark)")


@dataclass(repr=False)
class ComposedCanvases(torch.utils.data.Dataset):
    """Canvases with their objects, in torchvision's detection target format (see the module docstring).

    ``dataset[i]`` is ``(image, target)``: ``image`` float ``[C, S, S]`` in [0, 1], ``target`` a dict with
    ``boxes`` float ``[K, 4]`` (x1, y1, x2, y2), ``labels`` int64 ``[K]`` (1..num_classes - 1), ``masks`` uint8
    ``[K, S, S]`` and ``image_id``. :meth:`semantic` gives the segmentation view.
    """

    images: torch.Tensor  # [N, C, S, S] uint8
    boxes: list[torch.Tensor]  # per canvas [K, 4] float32
    labels: list[torch.Tensor]  # per canvas [K] int64, 1.. (0 = background)
    masks: list[torch.Tensor]  # per canvas [K, S, S] bool
    classes: list[str]  # "background" first, then the source classes
    source: str  # what the objects were cut from (provenance)

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        k = sum(len(b) for b in self.boxes)
        return (f"ComposedCanvases({len(self)} canvases of {tuple(self.images.shape[1:])}, {k} objects, "
                f"{self.num_classes} classes incl. background, from {self.source}; composed, not a benchmark)")

    @property
    def num_classes(self) -> int:
        """Classes including the background (what torchvision's detection and segmentation heads take)."""
        return len(self.classes)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        target = {"boxes": self.boxes[i], "labels": self.labels[i], "masks": self.masks[i].to(torch.uint8),
                  "image_id": torch.tensor(i)}
        return self.images[i].float() / 255, target

    def semantic(self, i: int | None = None) -> torch.Tensor:
        """Per-pixel class ids (0 = background): ``[S, S]`` int64 for canvas ``i``, ``[N, S, S]`` for all."""
        if i is not None:
            out = torch.zeros(self.images.shape[-2:], dtype=torch.int64)
            for m, lab in zip(self.masks[i], self.labels[i]):
                out[m] = lab
            return out
        return torch.stack([self.semantic(j) for j in range(len(self))])


def collate_detection(batch: Sequence[tuple[torch.Tensor, dict]]) -> tuple[list[torch.Tensor], list[dict]]:
    """``DataLoader`` collate for detection: lists of images and of targets (sizes may differ per canvas)."""
    images, targets = zip(*batch)
    return list(images), list(targets)


def compose_canvases(images: torch.Tensor, labels: torch.Tensor, n: int, *, canvas_size: int = 64,
                     objects: tuple[int, int] = (1, 3), sizes: tuple[int, int] = (20, 32), seed: int = 0,
                     classes: Sequence[str] | None = None, source: str = "given images",
                     max_tries: int = 50) -> ComposedCanvases:
    """Paste real images on blank canvases, non-overlapping, with exact boxes and masks.

    Args:
        images: the pool to cut objects from, uint8 ``[M, C, h, w]`` with a zero background (Fashion-MNIST).
        labels: their classes, int64 ``[M]`` in ``0..len(classes) - 1``.
        n: number of canvases.
        canvas_size: side of the square canvas, in pixels.
        objects: (fewest, most) objects per canvas; the count is drawn uniformly. A canvas too full for the next
            object after ``max_tries`` random places keeps the objects it has (at least one).
        sizes: (smallest, largest) side of a pasted object in pixels; each is rescaled (bilinear, antialiased) to a
            uniformly drawn side.
        seed: seeds every draw (which images, how many, sizes, places).
        classes: names of the source classes (default ``"0"``, ``"1"``, ...); ``"background"`` is put first.
        source: provenance, e.g. ``"Fashion-MNIST test images"``.
        max_tries: random places tried per object before giving up on it.
    Returns:
        A :class:`ComposedCanvases`. Each pool image is used at most once while the pool lasts.
    Raises:
        ValueError: bad sizes, counts or shapes (the message says what is allowed).
    """
    if images.ndim != 4 or images.dtype != torch.uint8 or labels.shape != images.shape[:1]:
        raise ValueError(f"images must be uint8 [M, C, h, w] with labels [M], got {images.dtype} "
                         f"{tuple(images.shape)} and labels {tuple(labels.shape)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} is not allowed: use a positive number of canvases")
    lo, hi = objects
    if not 1 <= lo <= hi:
        raise ValueError(f"objects={objects!r} is not allowed: use (fewest, most) with 1 <= fewest <= most")
    smin, smax = sizes
    if not 4 <= smin <= smax <= canvas_size:
        raise ValueError(f"sizes={sizes!r} is not allowed: use (smallest, largest) with 4 <= smallest <= largest "
                         f"<= canvas_size={canvas_size}")
    k = int(labels.max()) + 1 if classes is None else len(classes)
    if int(labels.min()) < 0 or int(labels.max()) >= k:
        raise ValueError(f"labels must lie in 0..{k - 1} (one per class name), got {int(labels.min())}.."
                         f"{int(labels.max())}")
    names = ["background"] + [str(c) for c in (classes if classes is not None else range(k))]
    g = torch.Generator().manual_seed(seed)
    pool = torch.randperm(len(images), generator=g)
    used = 0
    channels = images.shape[1]
    out = torch.zeros(n, channels, canvas_size, canvas_size, dtype=torch.uint8)
    all_boxes, all_labels, all_masks = [], [], []
    for c in range(n):
        count = int(torch.randint(lo, hi + 1, (1,), generator=g))
        placed: list[tuple[int, int, int]] = []  # (top, left, side) of the pasted squares
        boxes, labs, masks = [], [], []
        for _ in range(count):
            side = int(torch.randint(smin, smax + 1, (1,), generator=g))
            for _ in range(max_tries):
                top, left = (int(v) for v in torch.randint(0, canvas_size - side + 1, (2,), generator=g))
                if all(top + side <= t or t + s <= top or left + side <= l or l + s <= left for t, l, s in placed):
                    break
            else:
                continue  # no free place: the canvas keeps fewer objects
            idx = int(pool[used % len(pool)])
            used += 1
            obj = _resize(images[idx], side)                      # [C, side, side] uint8
            mask = torch.zeros(canvas_size, canvas_size, dtype=torch.bool)
            mask[top:top + side, left:left + side] = (obj > 0).any(0)
            if not mask.any():
                continue  # an all-black image has no object to find
            out[c, :, top:top + side, left:left + side] = obj
            placed.append((top, left, side))
            rows, cols = mask.any(1).nonzero()[:, 0], mask.any(0).nonzero()[:, 0]
            boxes.append([float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)])
            labs.append(int(labels[idx]) + 1)
            masks.append(mask)
        all_boxes.append(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        all_labels.append(torch.tensor(labs, dtype=torch.int64))
        all_masks.append(torch.stack(masks) if masks else torch.zeros(0, canvas_size, canvas_size, dtype=torch.bool))
    return ComposedCanvases(out, all_boxes, all_labels, all_masks, names, source)


def compose_from(data: Any, split: str, n: int, **kwargs: Any) -> ComposedCanvases:
    """:func:`compose_canvases` from one split of a :class:`~resnet_lib.data.bundle.DataBundle`.

    Args:
        data: e.g. ``rl.load_data("fashion-mnist")``.
        split: ``"train"``, ``"val"`` or ``"test"`` (compose evaluation canvases from ``"test"``).
        n: number of canvases.
        **kwargs: passed on to :func:`compose_canvases` (``canvas_size``, ``objects``, ``sizes``, ``seed``).
    Returns:
        A :class:`ComposedCanvases` whose ``source`` names the data set and split.
    """
    x, y = data.split(split)
    return compose_canvases(x.cpu(), y.cpu(), n, classes=data.classes,
                            source=f"{data.name} {split} images", **kwargs)


def _resize(img: torch.Tensor, side: int) -> torch.Tensor:
    if img.shape[-1] == side and img.shape[-2] == side:
        return img.clone()
    f = F.interpolate(img[None].float(), size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    return f[0].round().clamp(0, 255).to(torch.uint8)
