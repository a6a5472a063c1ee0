"""Datasets as uint8 tensors on the compute device, with batched on-device augmentation.

``load_data(name)`` reads a whole data set once (through torchvision's own readers, or scikit-learn for ``digits``)
into a :class:`~resnet_lib.data.bundle.DataBundle` of raw uint8 pixels. ``bundle.loader(split, batch_size, seed=, epoch=)`` then yields
normalised float batches whose order and augmentation are a pure function of ``(seed, epoch, rank)``: no global RNG,
no worker processes, so an interrupted run resumes bitwise and every DDP rank knows its shard.
``bundle.dataloader(...)`` builds the conventional per-image ``torch.utils.data.DataLoader`` + ``transforms.v2``
pipeline, for comparison (``benchmarks/bench_data.py``).

Augmentation per data set (``DataBundle.augment``/``pad``):

* CIFAR-10/100: pad 4, random 32×32 crop, horizontal flip — He et al. (2016), §4.2.
* Fashion-MNIST: horizontal flip by default. Every class (shirts, shoes, bags...) is left/right symmetric as a
  class, so a mirrored image is still a valid image of its class. A vertical flip would be wrong: the product
  photos are all upright, so upside-down shoes and dresses would teach the network about images it is never shown.
  Random shifts on top (``augment="crop-flip"``: pad 2, random 28×28 crop, i.e. ±2 px, 7 % of the side; chapter 3
  and its stored runs use them) regularise more, which a short run does not need: the CLI's 4-epoch default recipe
  (ResNet-20, all 60k images) reached 93.23 % test accuracy with the flip alone and 92.12 % with crop + flip, whose
  training accuracy stayed at the test accuracy's level (one run each, same initial weights, 2-core CPU, 2026-12-01).
* MNIST: pad 2 + crop only — digits are not mirror-invariant (a mirrored 2 or 7 is not a digit).
* digits (scikit-learn 8×8): none — a 1-pixel shift is 12 % of the image, and the set is for seconds-long demos.
"""
from __future__ import annotations
from __future__ import annotations

import os

import torch

from .bundle import AUGMENTS, SPLITS, DataBundle, DeviceLoader, _crop_flip  # noqa: F401 (tests use _crop_flip)
from .sources import (DEBIAN_FASHION_MNIST, DIGITS_TEST_FRACTION, DataNotFoundError, _data_root, _read_digits,
                      _read_fashion_mnist, _read_torchvision, cache_dir)
from .streams import _SPLIT, _TEST, _generator

DATASETS = ("fashion-mnist", "cifar10", "cifar100", "mnist", "digits")
# name -> (default val_size, augmentation, pad). The paper holds out 5k of CIFAR's 50k training images; we do the
# same for the 60k-image MNIST-likes. digits (1437 training images) keeps them all: its test split is the check.
_DEFAULTS = {"cifar10": (5000, "crop-flip", 4), "cifar100": (5000, "crop-flip", 4),
             "fashion-mnist": (5000, "flip", 2), "mnist": (5000, "crop", 2), "digits": (0, "none", 0)}


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and population std of uint8 images, in [0, 1] units.

    Shape: x ``[N, C, H, W]`` uint8. Uses a 256-bin histogram per channel and integer sums (no float round-off).
    """
    means, stds = [], []
    for c in range(x.shape[1]):
        counts = torch.bincount(x[:, c].reshape(-1), minlength=256).cpu().tolist()
        n = sum(counts)
        s1 = sum(v * k for v, k in enumerate(counts))
        s2 = sum(v * v * k for v, k in enumerate(counts))
        means.append(s1 / (n * 255))
        stds.append(((n * s2 - s1 * s1) ** 0.5) / (n * 255))  # exact integer variance, one rounding
    return tuple(means), tuple(stds)


def _check_size(key: str, v: int | None, lo: int, hi: int, note: str = "") -> None:
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"{key}={v!r} is out of range: use an int in {lo}..{hi}{note} (or None)")


def load_data(name: str, *, root: str | os.PathLike | None = None, train_size: int | None = None,
              val_size: int | None = None, test_size: int | None = None, seed: int = 0,
              device: str | torch.device = "cpu", download: bool | None = None) -> DataBundle:
    """Load a whole data set as uint8 tensors on ``device``, with a seeded validation hold-out.

    Args:
        name: ``"fashion-mnist"``, ``"cifar10"``, ``"cifar100"``, ``"mnist"`` or ``"digits"``.
        root: folder to read (and download into). Fashion-MNIST without ``root`` looks in ``$RESNET_DATA_DIR``,
            Debian's ``/usr/share/datasets/fashion-mnist`` and the download cache; the others use
            ``$RESNET_DATA_DIR`` or ``cache_dir()/"data"`` in torchvision's layout.
        train_size: keep the first ``train_size`` images of the training split after the hold-out. That split is
            in a seeded random order, so the subset is random but stable: the same seed gives the same images, and
            a smaller ``train_size`` gives a subset of a larger one. None = all.
        val_size: images held out of the training files by a seeded permutation (None = 5000 for CIFAR and the
            MNISTs, as the paper holds out 5k of CIFAR's 50k; 0 for digits). Independent of ``train_size``.
        test_size: the first ``test_size`` images of a seeded permutation of the test files (None = all, in file
            order).
        seed: seeds the hold-out and the subsets.
        device: where the tensors live.
        download: False = never; None/True = use torchvision's download when the files are not found.
    Returns:
        A :class:`~resnet_lib.data.bundle.DataBundle`; its mean/std are computed on the training split it holds.
    Raises:
        ValueError: unknown name or sizes out of range. DataNotFoundError: no files and no download.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: use one of {', '.join(DATASETS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if download not in (None, True, False):
        raise ValueError(f"download must be None, True or False, got {download!r}")
    if name == "digits":
        x, y, x_te, y_te, classes, source = _read_digits()
    elif name == "fashion-mnist":
        x, y, x_te, y_te, classes, source = _read_fashion_mnist(root, download)
    else:
        x, y, x_te, y_te, classes, source = _read_torchvision(name, _data_root(root), download is not False)
    val_default, augment, pad = _DEFAULTS[name]
    n, n_te = len(y), len(y_te)
    val_size = val_default if val_size is None else val_size
    _check_size("val_size", val_size, 0, n - 1, f" ({name} has {n} training images)")
    _check_size("train_size", train_size, 1, n - val_size, f" ({n} training images minus val_size={val_size})")
    _check_size("test_size", test_size, 0, n_te, f" ({name} has {n_te} test images)")
    perm = torch.randperm(n, generator=_generator(seed, _SPLIT))
    vi, ti = perm[:val_size], perm[val_size:][:train_size]
    te = torch.arange(n_te) if test_size is None else \
        torch.randperm(n_te, generator=_generator(seed, _TEST))[:test_size]
    x_tr = x[ti]
    mean, std = channel_stats(x_tr)
    dev = torch.device(device)
    return DataBundle(name, x_tr.to(dev), y[ti].to(dev), x[vi].to(dev), y[vi].to(dev), x_te[te].to(dev),
                      y_te[te].to(dev), mean, std, classes, augment, pad, source)
