"""The data set in memory (:class:`DataBundle`) and its batches (:class:`DeviceLoader`, on-device augmentation)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from .. import limits
from .streams import _AUGMENT, _ORDER, _generator

SPLITS = ("train", "val", "test")
AUGMENTS = ("crop-flip", "crop", "flip", "none")


class DeviceLoader:
    """Batches ``(x, y)`` of one split for one epoch: ``x`` float32 normalised ``[B, C, H, W]``, ``y`` int64 ``[B]``.

    The global order is a permutation drawn from ``(seed, epoch)``; the augmentation parameters from
    ``(seed, epoch, rank)``. With ``world_size > 1`` rank ``r`` takes positions ``r, r + world_size, ...`` of that
    order, as ``torch.utils.data.DistributedSampler`` does: with ``drop_last`` the tail is dropped so that the shards
    are equal, otherwise the order is padded by repeating its head. ``drop_last`` also drops a final short batch.
    Randomness comes from CPU generators, so CPU and CUDA runs see the same crops and the same order.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...],
                 batch_size: int, *, shuffle: bool, policy: str, pad: int, drop_last: bool, seed: int, epoch: int,
                 rank: int, world_size: int, channels_last: bool) -> None:
        self.x, self.y, self.mean, self.std = x, y, list(mean), list(std)
        self.batch_size, self.shuffle, self.policy, self.pad = batch_size, shuffle, policy, pad
        self.drop_last, self.seed, self.epoch = drop_last, seed, epoch
        self.rank, self.world_size, self.channels_last = rank, world_size, channels_last
        n = len(y)
        self.shard_size = n // world_size if drop_last else -(-n // world_size)  # ceil
        full, rest = divmod(self.shard_size, batch_size)
        self.num_batches = full + (1 if rest and not drop_last else 0)

    def __len__(self) -> int:
        return self.num_batches

    def indices(self) -> torch.Tensor:
        """This rank's sample indices for the epoch, in order (CPU int64 ``[shard_size]``)."""
        n = len(self.y)
        order = torch.randperm(n, generator=_generator(self.seed, self.epoch, _ORDER)) if self.shuffle \
            else torch.arange(n)
        total = self.shard_size * self.world_size
        if total > n:  # pad by repeating the head (DistributedSampler's rule), several times if n < world_size
            order = order.repeat(-(-total // n))
        return order[:total][self.rank::self.world_size]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from torchvision.transforms.v2 import functional as TF

        dev = self.x.device
        idx = self.indices()[: self.num_batches * self.batch_size]  # drop_last: the short batch is never made
        m = len(idx)
        crop = self.policy in ("crop", "crop-flip") and self.pad > 0
        flip = self.policy in ("crop-flip", "flip")
        if crop or flip:  # every random number of the epoch, drawn up front from the (seed, epoch, rank) stream
            g = _generator(self.seed, self.epoch, self.rank, _AUGMENT)
            offsets = torch.randint(0, 2 * self.pad + 1, (m, 2), generator=g) if crop else torch.zeros(m, 2).long()
            flips = torch.rand(m, generator=g) < 0.5 if flip else torch.zeros(m, dtype=torch.bool)
            offsets, flips = offsets.to(dev), flips.to(dev)
        idx = idx.to(dev)
        # Work on chunks of whole batches (~1M pixels each) and hand out slices: 8x fewer small ops than batch by
        # batch, which is 2-4x faster on CPU (thread-pool barriers) and launches fewer kernels on GPU.
        per = self.batch_size * max(1, (1 << 20) // (self.batch_size * self.x[0].numel()))
        for start in range(0, m, per):
            sl = slice(start, start + per)
            xc = self.x.index_select(0, idx[sl])  # [chunk, C, H, W] uint8
            if crop or flip:
                xc = _crop_flip(xc, offsets[sl], flips[sl], self.pad if crop else 0)
            # the same functional ops as the per-image transforms.v2 pipeline: identical numbers without augmentation
            xc = TF.normalize(TF.to_dtype(xc, torch.float32, scale=True), self.mean, self.std)
            if self.channels_last:
                xc = xc.contiguous(memory_format=torch.channels_last)  # batch slices of it stay channels_last
            yc = self.y.index_select(0, idx[sl])
            for j in range(0, len(yc), self.batch_size):
                yield xc[j: j + self.batch_size], yc[j: j + self.batch_size]


def _crop_flip(x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int) -> torch.Tensor:
    """Per-sample random crop of the zero-padded batch, then optional horizontal flip, by gathering.

    Shape: x ``[B, C, H, W]`` uint8, offsets ``[B, 2]`` (top, left) in ``0..2*pad``, flips ``[B]`` bool;
    returns ``[B, C, H, W]``.
    Equals ``RandomCrop(H, padding=pad)`` followed by ``RandomHorizontalFlip`` applied image by image.
    """
    b, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad)) if pad else x  # zero fill, like RandomCrop(fill=0) before normalisation
    ar_h, ar_w = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    rows = (offsets[:, :1] + ar_h)[:, None, :, None].expand(b, c, h, w + 2 * pad)  # [B, C, H, W+2p]
    cols = offsets[:, 1:] + torch.where(flips[:, None], w - 1 - ar_w, ar_w)  # [B, W], reversed when flipped
    # two gathers (rows, then columns) are ~2x faster on CPU than one 4-index advanced indexing
    return xp.gather(2, rows).gather(3, cols[:, None, None, :].expand(b, c, h, w))


class _ImageDataset(torch.utils.data.Dataset):
    """The conventional path: one uint8 ``[C, H, W]`` image at a time through a ``transforms.v2`` pipeline."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.x[i]), int(self.y[i])


@dataclass(repr=False)
class DataBundle:
    """One data set, whole, as raw uint8 tensors on one device (see :func:`resnet_lib.data.load_data`).

    Shape: ``x_*`` ``[N, C, H, W]`` uint8, ``y_*`` ``[N]`` int64.
    """

    name: str  # "fashion-mnist", "cifar10", "cifar100", "mnist", "digits"
    x_train: torch.Tensor  # [N, C, H, W] uint8 raw pixels
    y_train: torch.Tensor  # [N] int64
    x_val: torch.Tensor  # [V, C, H, W] uint8, held out of the training files; V may be 0
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: tuple[float, ...]  # per channel, of x_train / 255 (the split actually trained on)
    std: tuple[float, ...]  # per channel, population std of x_train / 255
    classes: list[str]
    augment: str  # default training augmentation: "crop-flip", "crop", "flip" or "none"
    pad: int  # zero padding before the random crop, in pixels
    source: str  # provenance: files read, or "torchvision download"

    @property
    def in_channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.x_train.shape[2:])

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def __repr__(self) -> str:
        return (f"DataBundle({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, "
                f"test={len(self.y_test)}, shape={tuple(self.x_train.shape[1:])}, classes={self.num_classes}, "
                f"augment={self.augment!r}, pad={self.pad}, device={self.device}, source={self.source!r})")

    def split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of ``"train"``, ``"val"`` or ``"test"``."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
        return getattr(self, f"x_{split}"), getattr(self, f"y_{split}")

    def _policy(self, split: str, augment: bool | str | None) -> str:
        if augment is None:
            return self.augment if split == "train" else "none"
        if augment is True:
            if self.augment == "none":
                raise ValueError(f"{self.name!r} has no default augmentation (augment='none'): pass augment=False, "
                                 f"or a policy name, one of {AUGMENTS}")
            return self.augment
        if augment is False:
            return "none"
        if augment in AUGMENTS:
            return augment
        raise ValueError(f"augment={augment!r}: use None (dataset default), True, False or one of {AUGMENTS}")

    def loader(self, split: str, batch_size: int, *, shuffle: bool | None = None, augment: bool | str | None = None,
               drop_last: bool = False, seed: int = 0, epoch: int = 0, rank: int = 0, world_size: int = 1,
               channels_last: bool = False) -> DeviceLoader:
        """Batches of ``split`` on the bundle's device, normalised with the training statistics.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"`` (must not be empty).
            batch_size: images per batch (per rank).
            shuffle: default True for ``"train"``, False otherwise.
            augment: None = the data set's policy for ``"train"`` and none otherwise; True/False; or a policy name.
            drop_last: drop the final short batch (and, with ``world_size > 1``, the tail that makes shards unequal).
            seed, epoch: the order and augmentation are a pure function of these (and ``rank``).
            rank, world_size: DDP sharding of the one global order.
            channels_last: return ``x`` in ``torch.channels_last`` memory format.
        Returns:
            A :class:`DeviceLoader`; ``len()`` is the number of batches. In a smoke run
            (:mod:`resnet_lib.limits`) batches hold at most ``RunLimits.batch_size`` images.
        """
        x, y = self.split(split)
        if len(y) == 0:
            raise ValueError(f"the {split!r} split of {self.name!r} is empty: load_data(..., {split}_size=...) > 0")
        for key, v, lo in (("batch_size", batch_size, 1), ("seed", seed, 0), ("epoch", epoch, 0),
                           ("world_size", world_size, 1), ("rank", rank, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{key} must be an int >= {lo}, got {v!r}")
        if rank >= world_size:
            raise ValueError(f"rank must be in 0..{world_size - 1} for world_size={world_size}, got {rank}")
        cap = limits.current().batch_size
        batch_size = batch_size if cap is None else min(batch_size, cap)
        if drop_last and len(y) // world_size < batch_size:
            raise ValueError(f"drop_last=True leaves no batch: {len(y)} {split} images over {world_size} rank(s) "
                             f"is fewer than batch_size={batch_size}")
        return DeviceLoader(x, y, self.mean, self.std, batch_size, shuffle=split == "train" if shuffle is None
                            else bool(shuffle), policy=self._policy(split, augment), pad=self.pad,
                            drop_last=drop_last, seed=seed, epoch=epoch, rank=rank, world_size=world_size,
                            channels_last=channels_last)

    def transform(self, augment: bool | str = False):
        """The per-image ``transforms.v2`` pipeline equivalent to the device loader's (uint8 ``[C, H, W]`` in)."""
        from torchvision.transforms import v2

        policy = self._policy("train", augment)
        steps = []
        if policy in ("crop", "crop-flip") and self.pad > 0:
            steps.append(v2.RandomCrop(self.image_size, padding=self.pad, fill=0))
        if policy in ("crop-flip", "flip"):
            steps.append(v2.RandomHorizontalFlip())
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(self.mean), list(self.std))]
        return v2.Compose(steps)

    def dataloader(self, split: str, batch_size: int, *, augment: bool | str | None = None, num_workers: int = 0,
                   seed: int = 0, shuffle: bool | None = None) -> torch.utils.data.DataLoader:
        """The conventional path: ``DataLoader`` over a per-image Dataset with ``transforms.v2`` (CPU tensors).

        The shuffling order comes from a generator seeded with ``seed``; the per-image transforms draw from torch's
        global RNG (in the main process, or per worker), as in most tutorials — this path is not resumable.
        """
        x, y = self.split(split)
        if len(y) == 0:
            raise ValueError(f"the {split!r} split of {self.name!r} is empty: load_data(..., {split}_size=...) > 0")
        aug = self._policy(split, augment) if augment is None else augment
        ds = _ImageDataset(x.cpu(), y.cpu(), self.transform(aug))
        return torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=num_workers,
                                           shuffle=split == "train" if shuffle is None else shuffle,
                                           generator=torch.Generator().manual_seed(seed),
                                           persistent_workers=False)

    def to(self, device: str | torch.device) -> "DataBundle":
        """A copy with every tensor on ``device``."""
        moved = {f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                 if isinstance(getattr(self, f.name), torch.Tensor)}
        return dataclasses.replace(self, **moved)
