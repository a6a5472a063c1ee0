"""Checkpoints that never lose work: atomic writes, strict loads with clear errors.

A checkpoint is a plain dict of tensors, dicts, lists, str/int/float/bool/None, so it loads with
``torch.load(path, weights_only=True)`` (no arbitrary code runs when a file is opened). It is written to a temporary
file in the same folder, flushed to disk (fsync) and renamed over the old one (``os.replace`` is atomic on POSIX and
Windows): a run killed at any moment leaves either the previous complete checkpoint or the new complete one.
"""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint cannot be used: unreadable, from another architecture or another configuration."""


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it; restored at once
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], payload: bytes | None = None, *,
                       writer: Any = None) -> Path:
    """Write a file atomically: temporary file in the same folder, flush + fsync, ``os.replace``, fsync the folder.

    Args:
        path: destination; its folder is created if needed.
        payload: the bytes to write, or
        writer: a function ``writer(binary_file)`` that writes the content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # mkstemp creates 0600; give the file the permissions open() would
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            if writer is not None:
                writer(f)
            else:
                f.write(payload or b"")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable (POSIX); harmless where directories cannot be opened
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file + fsync + ``os.replace``).

    Args:
        state: a dict that ``torch.load(weights_only=True)`` can read back.
        path: destination file; its folder is created if needed.
    Returns:
        The path written.
    """
    return atomic_write_bytes(path, writer=lambda f: torch.save(state, f))


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises:
        CheckpointError: the file is missing, truncated/corrupt, or not a ``resnet_lib`` checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, garbage, pickled objects that weights_only refuses
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {path} cannot be read ({first[:160]}): it is corrupt or truncated; "
                              "delete it or use a fresh --out dir") from None
    if not isinstance(state, dict) or "model" not in state or "epoch" not in state:
        raise CheckpointError(f"{path} is not a resnet_lib checkpoint (no 'model'/'epoch' entries): use a fresh --out dir")
    return state


def load_model_state(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """``model.load_state_dict(strict=True)`` with a one-line :class:`CheckpointError` on any mismatch."""
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = "; ".join(lines[1:3]) if len(lines) > 1 else lines[0] if lines else ""
        raise CheckpointError(f"{source} does not match the model architecture ({detail[:200]}): "
                              "use a fresh --out dir or the same --model as the stored run") from None


def config_mismatch(stored: dict[str, Any], current: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    """Fields whose values differ between two config dicts (``ignore``d fields skipped), as ``name: a != b``."""
    out = []
    for k in sorted(set(stored) | set(current)):
        if k in ignore:
            continue
        a, b = stored.get(k, "<missing>"), current.get(k, "<missing>")
        if _norm(a) != _norm(b):
            out.append(f"{k}: {a!r} (stored) != {b!r} (now)")
    return out


def _norm(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_norm(v) for v in x]
    if isinstance(x, dict):
        return {k: _norm(v) for k, v in x.items()}
    return x


def rng_state() -> dict[str, Any]:
    """Generator states as tensors and plain lists: torch CPU, every CUDA device, Python's ``random``, NumPy's."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    version, internal, gauss = random.getstate()
    state["python"] = [version, list(internal), gauss]
    try:
        import numpy as np

        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = [kind, torch.from_numpy(keys.astype("int64")), int(pos), int(has_gauss), float(cached)]
    except ImportError:
        pass
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state` (missing entries are left alone)."""
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda = [s.cpu() for s in state["cuda"]]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        import numpy as np

        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, cached))
