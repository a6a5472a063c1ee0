"""resnet_lib.data: loading, seeded splits, statistics, the device loader (order, augmentation, sharding), errors."""
from __future__ import annotations

import gzip
import itertools
import pickle
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision
from torchvision.transforms.v2 import functional as TF

from resnet_lib import data as rd
from resnet_lib.data import DataNotFoundError, _crop_flip, load_data

from cifar_files import accept_generated_files, write_cifar  # tests/cifar_files.py

pytestmark = pytest.mark.timeout(120)
FMNIST = rd.DEBIAN_FASHION_MNIST
needs_fmnist = pytest.mark.skipif(not (FMNIST / "train-images-idx3-ubyte.gz").is_file(),
                                  reason=f"Debian's Fashion-MNIST files are not in {FMNIST} "
                                         "(apt-get install dataset-fashion-mnist)")


# --------------------------------------------------------------------------------------------- generated CIFAR

@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    """Tiny generated CIFAR-10/100 folders (tests/cifar_files.py), read by torchvision with its md5 check replaced."""
    accept_generated_files(monkeypatch)
    write_cifar(tmp_path / "c10", "cifar10")
    write_cifar(tmp_path / "c100", "cifar100")
    return tmp_path


def ids(x: torch.Tensor) -> list[int]:
    """The image ids written by write_cifar (red channel, first two pixels)."""
    return (x[:, 0, 0, 0].long() * 256 + x[:, 0, 0, 1].long()).tolist()


def test_cifar_files_parsed_by_torchvision(cifar_root):
    b = load_data("cifar10", root=cifar_root / "c10", val_size=10, download=False)
    assert b.x_train.shape == (50, 3, 32, 32) and b.x_train.dtype == torch.uint8 and b.y_train.dtype == torch.int64
    assert b.x_test.shape == (20, 3, 32, 32) and b.classes == [f"c{i}" for i in range(10)]
    assert (b.augment, b.pad, b.in_channels, b.num_classes, b.image_size) == ("crop-flip", 4, 3, 10, (32, 32))
    assert ids(b.x_test) == list(range(10_000, 10_020))  # full test split: file order
    # pixel layout: the row is 3 planes of 32×32 (R, G, B) — read the raw pickle back and compare
    raw = pickle.loads((cifar_root / "c10" / "cifar-10-batches-py" / "test_batch").read_bytes())
    assert torch.equal(b.x_test, torch.from_numpy(raw["data"]).reshape(-1, 3, 32, 32))
    assert b.y_test.tolist() == raw["labels"]
    c = load_data("cifar100", root=cifar_root / "c100", val_size=0, download=False)
    assert c.num_classes == 100 and c.classes[3] == "f3" and len(c.y_train) == 60
    assert sorted(set(c.y_train.tolist())) == list(range(60))  # fine labels, id % 100


def test_split_sizes_disjoint_covering_and_nested(cifar_root):
    root = cifar_root / "c10"
    full = load_data("cifar10", root=root, val_size=12, seed=3, download=False)
    tr, va = ids(full.x_train), ids(full.x_val)
    assert (len(tr), len(va)) == (48, 12) and not set(tr) & set(va) and sorted(tr + va) == list(range(60))
    assert [i % 10 for i in tr] == full.y_train.tolist()  # labels travel with their images
    small = load_data("cifar10", root=root, val_size=12, train_size=20, test_size=5, seed=3, download=False)
    assert ids(small.x_train) == tr[:20] and ids(small.x_val) == va  # "first N"; val independent of train_size
    assert len(small.y_test) == 5 and set(ids(small.x_test)) <= set(range(10_000, 10_020))
    again = load_data("cifar10", root=root, val_size=12, train_size=20, test_size=5, seed=3, download=False)
    assert torch.equal(again.x_train, small.x_train) and torch.equal(again.x_test, small.x_test)
    other = load_data("cifar10", root=root, val_size=12, seed=4, download=False)
    assert ids(other.x_val) != va


def test_mean_std_are_the_training_split_statistics(cifar_root):
    b = load_data("cifar10", root=cifar_root / "c10", val_size=10, train_size=30, download=False)
    x = b.x_train.double() / 255
    assert b.mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-12)
    assert b.std == pytest.approx(x.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-12)
    d = load_data("digits", val_size=100)
    assert d.mean[0] == pytest.approx((d.x_train.double() / 255).mean().item(), abs=1e-12)


def test_digits_bundle():
    d = load_data("digits", train_size=384, val_size=0, test_size=300)
    assert d.x_train.shape == (384, 1, 8, 8) and d.x_test.shape == (300, 1, 8, 8) and d.x_val.shape == (0, 1, 8, 8)
    assert d.x_train.dtype == torch.uint8 and int(d.x_train.max()) == 255 and d.augment == "none"
    full = load_data("digits")
    assert len(full.y_train) + len(full.y_test) == 1797 and len(full.y_test) == 359  # fixed 20 % test split
    assert torch.equal(full.x_test, load_data("digits", seed=5).x_test)  # the test split does not move with seed
    from sklearn.datasets import load_digits

    raw = np.rint(load_digits().images * (255 / 16)).astype(np.uint8).reshape(1797, -1)  # 0..16 -> 0..255
    ours = torch.cat([full.x_train, full.x_test]).reshape(1797, -1).numpy()
    assert sorted(map(bytes, ours)) == sorted(map(bytes, raw))  # the same 1797 images, split, none lost


# ------------------------------------------------------------------------------------------------ the loader

@pytest.fixture(scope="module")
def digits():
    return load_data("digits", val_size=100, test_size=200)


def collect(loader):
    xs, ys = zip(*loader)
    return torch.cat(xs), torch.cat(ys)


def test_loader_batches_shapes_and_determinism(digits):
    loader = digits.loader("train", 100, seed=1, epoch=0)
    n = len(digits.y_train)
    assert len(loader) == -(-n // 100)
    batches = list(loader)
    assert all(x.shape == (100, 1, 8, 8) and x.dtype == torch.float32 for x, _ in batches[:-1])
    assert len(batches[-1][1]) == n - 100 * (len(batches) - 1) and batches[0][1].dtype == torch.int64
    x1, y1 = collect(digits.loader("train", 100, seed=1, epoch=0))
    assert torch.equal(x1, collect(loader)[0]) and torch.equal(y1, collect(loader)[1])  # re-iterable, same
    y2 = collect(digits.loader("train", 100, seed=1, epoch=1))[1]
    y3 = collect(digits.loader("train", 100, seed=2, epoch=0))[1]
    assert not torch.equal(y1, y2) and not torch.equal(y1, y3)
    assert sorted(y1.tolist()) == sorted(digits.y_train.tolist())  # a permutation of the split
    assert len(digits.loader("train", 100, drop_last=True)) == n // 100
    torch.manual_seed(123)  # the global RNG plays no part
    assert torch.equal(collect(digits.loader("train", 100, seed=1))[0], x1)


def test_val_test_are_in_order_normalised_and_not_augmented(digits):
    for split in ("val", "test"):
        x, y = collect(digits.loader(split, 64))
        xs, ys = digits.split(split)
        expected = (xs.double() / 255 - digits.mean[0]) / digits.std[0]
        assert torch.equal(y, ys) and torch.allclose(x.double(), expected, atol=1e-5)
    x, _ = collect(digits.loader("test", 64, channels_last=True))
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_crop_flip_matches_torchvision_per_image():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 10, 12), dtype=torch.uint8, generator=g)
    off = torch.randint(0, 7, (16, 2), generator=g)
    flips = torch.rand(16, generator=g) < 0.5
    out = _crop_flip(x, off, flips, 3)
    for i in range(16):
        ref = TF.crop(TF.pad(x[i], [3]), int(off[i, 0]), int(off[i, 1]), 10, 12)
        assert torch.equal(out[i], TF.horizontal_flip(ref) if flips[i] else ref)


def test_augmented_images_are_shifted_or_flipped_originals(cifar_root):
    b = load_data("cifar10", root=cifar_root / "c10", val_size=0, download=False)
    loader = b.loader("train", 16, seed=0, epoch=2)
    assert loader.policy == "crop-flip"
    x, _ = collect(loader)
    mean, std = torch.tensor(b.mean).view(3, 1, 1), torch.tensor(b.std).view(3, 1, 1)
    raw = torch.round((x * std + mean) * 255).to(torch.uint8)  # undo the normalisation
    p, seen = b.pad, set()
    for img, i in zip(raw, loader.indices()):
        padded = TF.pad(b.x_train[i], [p])
        hits = [(t, l, f) for t, l, f in itertools.product(range(2 * p + 1), range(2 * p + 1), (False, True))
                if torch.equal(img, (TF.horizontal_flip if f else (lambda z: z))(TF.crop(padded, t, l, 32, 32)))]
        assert hits, f"image {int(i)} is not a crop within the padding"
        seen.update(hits)
    assert len({(t, l) for t, l, _ in seen}) > 5 and {f for *_, f in seen} == {False, True}


def test_policies_per_dataset_and_overrides(digits, cifar_root):
    b = load_data("cifar10", root=cifar_root / "c10", val_size=10, download=False)
    assert b.loader("val", 8).policy == "none" and b.loader("train", 8, augment=False).policy == "none"
    assert b.loader("train", 8, augment="crop").policy == "crop"
    x_plain = collect(b.loader("train", 8, augment=False))[0]
    assert not torch.equal(x_plain, collect(b.loader("train", 8))[0])
    x_flip = collect(b.loader("train", 8, augment="flip"))[0]  # mirrored or not, never shifted
    mirrored = [torch.equal(f, p.flip(-1)) for f, p in zip(x_flip, x_plain)]
    assert all(m or torch.equal(f, p) for m, f, p in zip(mirrored, x_flip, x_plain))
    assert 0 < sum(mirrored) < len(mirrored)
    assert [type(t).__name__ for t in b.transform("flip").transforms][:1] == ["RandomHorizontalFlip"]
    assert digits.loader("train", 8).policy == "none"
    with pytest.raises(ValueError, match="no default augmentation"):
        digits.loader("train", 8, augment=True)
    assert rd._DEFAULTS["mnist"][1:] == ("crop", 2)  # digits are not mirror-invariant: no flip


@pytest.mark.parametrize("drop_last", [False, True])
def test_ddp_shards_are_equal_disjoint_and_cover(digits, drop_last):
    n, world = len(digits.y_train), 3
    shards = [digits.loader("train", 50, seed=7, epoch=1, rank=r, world_size=world, drop_last=drop_last).indices()
              for r in range(world)]
    assert len({len(s) for s in shards}) == 1
    allidx = torch.cat(shards).tolist()
    if drop_last:
        assert len(allidx) == n // world * world and len(set(allidx)) == len(allidx)
    else:
        assert set(allidx) == set(range(n)) and len(allidx) - n == (-n) % world  # only the padding repeats
    one = digits.loader("train", 50, seed=7, epoch=1).indices()[: len(allidx)]
    assert torch.equal(torch.stack(shards, 1).reshape(-1), one)  # one global order, dealt round-robin


def test_dataloader_path_equals_device_path_without_augmentation(digits, cifar_root):
    for bundle in (digits, load_data("cifar10", root=cifar_root / "c10", val_size=10, download=False)):
        xd, yd = collect(bundle.dataloader("test", 7, augment=False))
        xl, yl = collect(bundle.loader("test", 7))
        assert torch.equal(xd, xl) and torch.equal(yd, yl)  # bitwise: same functional ops
    names = [type(t).__name__ for t in
             load_data("cifar10", root=cifar_root / "c10", val_size=10, download=False).transform(True).transforms]
    assert names == ["RandomCrop", "RandomHorizontalFlip", "ToDtype", "Normalize"]
    x, y = next(iter(digits.dataloader("train", 32, seed=0)))
    assert x.shape == (32, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_to_moves_every_tensor(digits):
    meta = digits.to("meta")
    assert meta.device.type == "meta" and meta.y_test.device.type == "meta" and meta.mean == digits.mean
    assert "digits" in repr(digits) and "train=" in repr(digits)


# ------------------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kwargs, match", [
    (dict(name="imagenet"), "unknown dataset 'imagenet': use one of fashion-mnist, cifar10"),
    (dict(name="digits", val_size=-1), r"val_size=-1 is out of range: use an int in 0\.\.1437"),
    (dict(name="digits", val_size=0, train_size=5000), r"train_size=5000 is out of range: use an int in 1\.\.1438"),
    (dict(name="digits", test_size=400), r"test_size=400 is out of range: use an int in 0\.\.359"),
    (dict(name="digits", train_size=2.5), "train_size=2.5"),
    (dict(name="digits", seed=-1), "seed must be a non-negative int"),
    (dict(name="digits", download="yes"), "download must be None, True or False"),
])
def test_load_data_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_data(kwargs.pop("name"), **kwargs)


def test_loader_bad_input(digits):
    empty = load_data("digits", val_size=0)
    for call, match in [
        (lambda: empty.loader("val", 8), "the 'val' split of 'digits' is empty"),
        (lambda: digits.loader("dev", 8), "unknown split 'dev': use one of train, val, test"),
        (lambda: digits.loader("train", 0), "batch_size must be an int >= 1"),
        (lambda: digits.loader("train", 8, rank=2, world_size=2), r"rank must be in 0\.\.1"),
        (lambda: digits.loader("train", 8, augment="rotate"), "augment='rotate'"),
        (lambda: digits.loader("val", 80, drop_last=True, world_size=2), "drop_last=True leaves no batch"),
    ]:
        with pytest.raises(ValueError, match=match):
            call()


def assert_one_clean_line(err: pytest.ExceptionInfo, *needles: str) -> None:
    msg = str(err.value)
    assert "\n" not in msg and all(s in msg for s in needles), msg
    e = err.value  # no torchvision traceback chained under ours (`raise ... from None`)
    assert e.__cause__ is None and (e.__context__ is None or e.__suppress_context__)


def test_missing_data_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataNotFoundError) as err:
        load_data("fashion-mnist", root=tmp_path, download=False)
    assert_one_clean_line(err, str(tmp_path), "apt-get install dataset-fashion-mnist", "RESNET_DATA_DIR")
    with pytest.raises(DataNotFoundError) as err:
        load_data("cifar10", root=tmp_path, download=False)
    assert_one_clean_line(err, str(tmp_path / "cifar-10-batches-py"), "download=True")


def test_missing_data_when_the_download_fails(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise URLError("no network here")

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", offline)
    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", offline)
    for name in ("fashion-mnist", "mnist", "cifar100"):
        with pytest.raises(DataNotFoundError) as err:
            load_data(name, root=tmp_path, download=True)
        assert_one_clean_line(err, str(tmp_path), "download failed")


# ------------------------------------------------------------------------------------------------ Fashion-MNIST

def read_idx(path: Path) -> np.ndarray:
    """Independent IDX reader: big-endian header (magic, dims), then uint8 data."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", count=ndim, offset=4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture(scope="module")
def fmnist_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RESNET_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.delenv("RESNET_DATA_DIR", raising=False)
        yield mp


@needs_fmnist
def test_fashion_mnist_from_debian_files(fmnist_cache):
    b = load_data("fashion-mnist", download=False)
    assert (len(b.y_train), len(b.y_val), len(b.y_test)) == (55_000, 5000, 10_000)
    assert b.x_train.shape[1:] == (1, 28, 28) and b.classes[0] == "T-shirt/top" and str(FMNIST) in b.source
    assert (b.augment, b.pad) == ("flip", 2)  # pad: for augment="crop-flip"
    assert np.array_equal(b.x_test[:, 0].numpy(), read_idx(FMNIST / "t10k-images-idx3-ubyte.gz"))
    assert np.array_equal(b.y_test.numpy(), read_idx(FMNIST / "t10k-labels-idx1-ubyte.gz"))
    x = b.x_train.double() / 255
    # ours are exact (integer sums); torch's float64 reductions over 43M pixels carry ~1e-11 of round-off
    assert b.mean[0] == pytest.approx(x.mean().item(), rel=1e-9) and b.std[0] == pytest.approx(x.std(
        unbiased=False).item(), rel=1e-9)
    import time
    t = time.perf_counter()
    load_data("fashion-mnist", download=False)  # the decompressed copy is cached
    assert time.perf_counter() - t < 20  # ~1 s on a quiet machine; generous for a shared CI runner


@needs_fmnist
def test_fashion_mnist_root_and_env_var(tmp_path, fmnist_cache):
    for f in FMNIST.glob("*.gz"):
        (tmp_path / f.name).symlink_to(f)
    b = load_data("fashion-mnist", root=tmp_path, train_size=100, val_size=0, test_size=50, download=False)
    assert str(tmp_path) in b.source and len(b.y_train) == 100 and len(b.y_test) == 50
    fmnist_cache.setenv("RESNET_DATA_DIR", str(tmp_path))
    assert str(tmp_path) in load_data("fashion-mnist", train_size=10, download=False).source
