"""Generated CIFAR folders in the real on-disk format (nothing downloads here), for the tests and the smoke runs.

``write_cifar(root)`` writes torchvision's ``cifar-10-batches-py`` (or ``cifar-100-python``) layout: Python-2-style
pickles of uint8 rows ``[N, 3072]`` (3 planes of 32×32) and label lists, so ``torchvision.datasets.CIFAR10`` parses
them as it parses the real files. The pixels are random, not images: these files test code paths, never accuracy.

torchvision checks each file against the real file's md5 (``check_integrity(path, md5)``, called through the name
imported into ``torchvision.datasets.cifar``); generated files cannot match, so readers of them replace that one name
by a file-exists check (:func:`accept_generated_files`) and keep torchvision's parsing.

As a command, it makes the folder a smoke run of the chapters' full profile reads::

    python tests/cifar_files.py OUT      # OUT/cifar-10-batches-py (10k + 2k images), and
                                         # OUT/ipython/profile_default/startup/ (the md5 check replaced)

then ``RESNET_DATA_DIR=OUT IPYTHONDIR=OUT/ipython`` in the kernels' environment.
"""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

STARTUP = '''# Written by tests/cifar_files.py for a smoke run: the CIFAR files under RESNET_DATA_DIR are generated, so they
# cannot match the md5 of the real ones; accept any file that exists (torchvision's parsing is unchanged).
from pathlib import Path as _Path

import torchvision.datasets.cifar as _cifar

_cifar.check_integrity = lambda fpath, md5=None: _Path(fpath).is_file()
'''


def write_cifar(root: Path, kind: str = "cifar10", n_train: int = 60, n_test: int = 20) -> Path:
    """A CIFAR folder in the real format under ``root``; returns the folder.

    Image i of the training files carries i in its first two pixels (red channel), so tests can tell every image
    apart. Keys are str: the real files are Python 2 pickles whose str keys load as str under
    ``encoding="latin1"`` (torchvision's choice) and as b"data" under ``"bytes"``.
    """
    rng = np.random.default_rng(0)
    k = 10 if kind == "cifar10" else 100
    folder = Path(root) / ("cifar-10-batches-py" if kind == "cifar10" else "cifar-100-python")
    folder.mkdir(parents=True)
    label_key = "labels" if kind == "cifar10" else "fine_labels"

    def batch(ids: np.ndarray) -> dict:
        x = rng.integers(0, 256, (len(ids), 3072), dtype=np.uint8)
        x[:, 0], x[:, 1] = ids // 256 % 256, ids % 256
        return {"data": x, label_key: [int(i) % k for i in ids], "batch_label": "generated"}

    train_ids = np.arange(n_train)
    if kind == "cifar10":
        for j, part in enumerate(np.array_split(train_ids, 5), 1):
            (folder / f"data_batch_{j}").write_bytes(pickle.dumps(batch(part), protocol=2))
        (folder / "test_batch").write_bytes(pickle.dumps(batch(10_000 + np.arange(n_test)), protocol=2))
        meta = ("batches.meta", {"label_names": [f"c{i}" for i in range(k)]})
    else:
        (folder / "train").write_bytes(pickle.dumps(batch(train_ids), protocol=2))
        (folder / "test").write_bytes(pickle.dumps(batch(10_000 + np.arange(n_test)), protocol=2))
        meta = ("meta", {"fine_label_names": [f"f{i}" for i in range(k)], "coarse_label_names": ["x"] * 20})
    (folder / meta[0]).write_bytes(pickle.dumps(meta[1], protocol=2))
    return folder


def accept_generated_files(monkeypatch) -> None:
    """Replace torchvision's md5 check of CIFAR files by a file-exists check (pytest ``monkeypatch``)."""
    import torchvision.datasets.cifar

    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda fpath, md5=None: Path(fpath).is_file())


def make_smoke_data(out: Path) -> None:
    """Generated CIFAR-10 (10k train, 2k test: a fifth of the real set, enough for its 5k validation hold-out, and
    read 5x faster) and the IPython start-up file, in ``out``."""
    out = Path(out)
    if not (out / "cifar-10-batches-py").is_dir():
        write_cifar(out, "cifar10", n_train=10_000, n_test=2_000)
    startup = out / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-generated-cifar.py").write_text(STARTUP, encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/cifar_files.py OUT")
    make_smoke_data(Path(sys.argv[1]))
    print(f"[smoke-data] generated CIFAR-10 files and the IPython start-up file in {sys.argv[1]}")
