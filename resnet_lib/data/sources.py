"""Reading the data sets from disk (torchvision's readers, Debian's Fashion-MNIST, scikit-learn's digits)."""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch

from .streams import _TEST, _generator

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_FMNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte")
DIGITS_TEST_FRACTION = 0.2  # digits' own test split: a fixed (seed-independent) 20 % of the 1797 images


class DataNotFoundError(RuntimeError):
    """The data set is neither on disk nor downloadable from here."""


def cache_dir() -> Path:
    """Where decompressed copies and downloads go: ``$RESNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/resnet_lib``."""
    env = os.environ.get("RESNET_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "resnet_lib"


def _data_root(root: str | os.PathLike | None) -> Path:
    """Where torchvision data sets live: ``root``, else ``$RESNET_DATA_DIR``, else ``cache_dir()/"data"``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("RESNET_DATA_DIR")
    return Path(env).expanduser() if env else cache_dir() / "data"


def _not_found(name: str, looked: str, how: str, reason: str | None) -> DataNotFoundError:
    if reason:
        return DataNotFoundError(f"{name} not found in {looked} and the download failed ({reason}); {how}, or set "
                                 f"RESNET_DATA_DIR to a folder that holds it")
    return DataNotFoundError(f"{name} not found in {looked} (download=False); {how}, or pass download=True where "
                             f"the network works, or set RESNET_DATA_DIR to a folder that holds it")


def _short(e: BaseException) -> str:
    """One line of an exception, e.g. torchvision's multi-line 'Error downloading ...: Tried ..., got: ...'."""
    text = " ".join(line.strip() for line in str(getattr(e, "reason", None) or e).splitlines() if line.strip())
    return f"{type(e).__name__}: {text[:200]}"


def _read_torchvision(name: str, root: Path, download: bool, looked: str | None = None,
                      how: str | None = None) -> tuple:
    """Train and test ``(x uint8 [N, C, H, W], y int64 [N])``, classes, source, through ``torchvision.datasets``.

    ``looked``/``how`` override the error message's places searched and advice.
    """
    from torchvision import datasets

    cls, folder = {"cifar10": (datasets.CIFAR10, "cifar-10-batches-py"),
                   "cifar100": (datasets.CIFAR100, "cifar-100-python"),
                   "mnist": (datasets.MNIST, "MNIST/raw"),
                   "fashion-mnist": (datasets.FashionMNIST, "FashionMNIST/raw")}[name]
    existed = (root / folder).is_dir()
    try:
        parts = [cls(str(root), train=train, download=download) for train in (True, False)]
    except (RuntimeError, URLError, OSError) as e:  # torchvision: "Dataset not found or corrupted", network errors
        raise _not_found(name, looked or str(root / folder), how or f"put torchvision's {folder} folder under {root}",
                         _short(e) if download else None) from None
    out = []
    for ds in parts:
        x = torch.as_tensor(np.asarray(ds.data))
        x = x.permute(0, 3, 1, 2) if x.ndim == 4 else x[:, None]  # CIFAR: [N, H, W, C]; MNIST: [N, H, W]
        out += [x.contiguous(), torch.as_tensor(ds.targets, dtype=torch.int64)]
    how = "torchvision download into" if download and not existed else f"torchvision.datasets.{cls.__name__} from"
    return (*out, list(parts[0].classes), f"{how} {root / folder}")


def _find_fashion_mnist(root: str | os.PathLike | None) -> tuple[list[Path], Path | None, list[Path] | None]:
    """Search order: ``root`` alone if given; else ``$RESNET_DATA_DIR``, Debian's folder, the download cache.

    Returns (folders looked in, a torchvision root holding ``FashionMNIST/raw``, or the four IDX files (.gz or not)).
    """
    if root is not None:
        dirs = [Path(root).expanduser()]
    else:
        env = os.environ.get("RESNET_DATA_DIR")
        dirs = ([Path(env).expanduser()] if env else []) + [DEBIAN_FASHION_MNIST, cache_dir() / "data"]
    for d in dirs:
        if all((d / "FashionMNIST" / "raw" / f).is_file() for f in _FMNIST_FILES):
            return dirs, d, None
        for sub in (d, d / "fashion-mnist", d / "FashionMNIST" / "raw"):
            files = [next((p for p in (sub / f, sub / f"{f}.gz") if p.is_file()), None) for f in _FMNIST_FILES]
            if all(files):
                return dirs, None, files
    return dirs, None, None


def _materialise(files: list[Path]) -> Path:
    """Decompressed copies of the IDX files in the cache, where torchvision expects them; returns their root.

    The cache key covers the source paths, sizes and times, so a changed source is read again; each file is
    written to a temporary name and renamed, so an interrupted copy is never mistaken for a complete one.
    """
    stats = "|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    root = cache_dir() / "fashion-mnist" / hashlib.sha1(stats.encode()).hexdigest()[:12]
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for src, name in zip(files, _FMNIST_FILES):
        dst = raw / name
        if not dst.is_file():
            tmp = dst.with_suffix(f".tmp{os.getpid()}")
            with (gzip.open(src, "rb") if src.suffix == ".gz" else open(src, "rb")) as fi, open(tmp, "wb") as fo:
                shutil.copyfileobj(fi, fo, 1 << 20)
            os.replace(tmp, dst)
    return root


def _read_fashion_mnist(root: str | os.PathLike | None, download: bool | None) -> tuple:
    dirs, tv_root, files = _find_fashion_mnist(root)
    if tv_root is not None:
        return _read_torchvision("fashion-mnist", tv_root, download=False)
    if files is not None:
        *parts, classes, _ = _read_torchvision("fashion-mnist", _materialise(files), download=False)
        return (*parts, classes, f"{files[0].parent} (IDX files, read by torchvision.datasets.FashionMNIST)")
    looked, how = ", ".join(map(str, dirs)), "install Debian's files (apt-get install dataset-fashion-mnist)"
    if download is False:
        raise _not_found("fashion-mnist", looked, how, None)
    return _read_torchvision("fashion-mnist", _data_root(root), True, looked, how)


def _read_digits() -> tuple:
    """scikit-learn's 8×8 digits, values 0..16 scaled to 0..255; a fixed 20 % test split (seed-independent)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(np.rint(d.images * (255 / 16)).astype(np.uint8))[:, None]  # [1797, 1, 8, 8]
    y = torch.from_numpy(d.target.astype(np.int64))
    perm = torch.randperm(len(y), generator=_generator(0, _TEST))
    n_test = int(len(y) * DIGITS_TEST_FRACTION)
    te, tr = perm[:n_test].sort().values, perm[n_test:].sort().values
    return x[tr], y[tr], x[te], y[te], [str(c) for c in d.target_names], "scikit-learn load_digits (bundled)"
