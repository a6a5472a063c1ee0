"""The package as Colab gets it: a wheel built from this checkout (pip install "resnet_lib @ git+...")."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    setuptools = pytest.importorskip("setuptools", reason="building the wheel offline needs setuptools here")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} < 77 (pyproject's build requirement) in this environment")
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy of the sources: setuptools' build/ folder in the checkout would keep modules that were
    # moved or deleted since the last build, and the wheel would carry them.
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "resnet_lib", src / "resnet_lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    # offline: the environment's setuptools builds it, as pip does on Colab (with isolation and internet there)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True, text=True)
    (whl,) = out.glob("resnet_lib-*.whl")
    return whl


def test_wheel_holds_every_module_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    modules = sorted(n for n in names if n.endswith(".py"))
    assert modules == sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "resnet_lib").rglob("*.py"))
    assert "resnet_lib/models/registry.py" in modules  # sub-packages too
    assert not any(n.startswith(("tests/", "chapters/", "benchmarks/")) for n in names)


def test_wheel_requires_lower_bounds_only(wheel):
    # Colab ships its own torch: an exact pin would make pip replace it
    meta = zipfile.ZipFile(wheel).read("resnet_lib-0.1.0.dist-info/METADATA").decode()
    reqs = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    core = [r for r in reqs if "extra ==" not in r]
    assert any(r.startswith("torch>=") for r in core) and any(r.startswith("torchvision>=") for r in core)
    assert not any("==" in r or "<" in r for r in core), core
    assert not any(r.startswith(("jupyter-book", "d2l")) for r in core), core


def test_installed_wheel_imports_and_works_outside_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True)
    code = ("import resnet_lib as rl; m = rl.get_model('resnet20', num_classes=10, in_channels=3); "
            "print(rl.__file__); print(sum(p.numel() for p in m.parameters()))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    where, n = r.stdout.split()
    assert Path(where).is_relative_to(target) and int(n) == 269_722  # the paper's ResNet-20 (CIFAR-10)
