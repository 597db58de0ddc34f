"""The checkpoint format's storage, below the models: atomic files, hashed tensor files, the commit.

Everything here is independent of any model class, so a model can write its own checkpoint
(``HookedModel.save``) and :mod:`fourier_interp.checkpoint`, above the models, can rebuild
any registered class. See :mod:`fourier_interp.checkpoint` for the directory layout and
the guarantees (``config.json`` is the commit point).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import torch
from safetensors.torch import load_file, save_file

from . import jsonio

FORMAT = "fourier_interp.checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, tampered with or does not match its config."""


# --------------------------------------------------------------- atomic files
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp: str, path: Path) -> None:
    """Give a temp file the permissions a plain ``open(path, "w")`` would, then move it into place."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON through the one converter (:mod:`fourier_interp.jsonio`: inf/nan as strings)."""
    atomic_write_bytes(path, (jsonio.dumps(obj, indent=2) + "\n").encode())


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a temp directory; on success it replaces ``path`` (which must hold only our files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions() -> dict[str, str]:
    """Versions worth recording next to a result."""
    import transformer_lens  # noqa: F401  (version lookup below)
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "torch": torch.__version__}
    for dist in ("transformer-lens", "fourier-interp"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "unknown"
    return out


# ---------------------------------------------------------------- save / load
def write_tensors(directory: Path, tensors: dict[str, torch.Tensor], stem: str) -> dict[str, Any]:
    """Write tensors as ``<stem>-<hash>.safetensors`` in ``directory``; return its record."""
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp)
        digest = sha256_file(Path(tmp))
        name = f"{stem}-{digest[:16]}.safetensors"
        _publish(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"file": name, "sha256": digest, "shapes": {k: list(v.shape) for k, v in tensors.items()}}


def read_tensors(directory: Path, record: dict[str, Any], owner: Path) -> dict[str, torch.Tensor]:
    """Load a tensors file written by :func:`write_tensors`, checking it against ``record``."""
    try:
        path = directory / record["file"]
        expected = record["sha256"]
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{owner}: the weights record is malformed ({e!r})") from None
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file named in {owner.name} is missing")
    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(
            f"{path}: SHA-256 {actual[:16]}... does not match {expected[:16]}... recorded in "
            f"{owner.name}; the file is truncated or was modified"
        )
    try:
        tensors = load_file(path)
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    for name, shape in record.get("shapes", {}).items():
        if name not in tensors or list(tensors[name].shape) != list(shape):
            raise CheckpointError(f"{path}: tensor {name!r} is missing or has the wrong shape")
    return tensors


def _remove_unreferenced(directory: Path, stem: str, keep: str) -> None:
    for f in directory.glob(f"{stem}-*.safetensors"):
        if f.name != keep:
            f.unlink(missing_ok=True)


def commit(path: Path, config: dict[str, Any], tensors: dict[str, torch.Tensor], task, history,
            metadata: Optional[dict]) -> Path:
    """Write the weights, then ``config.json`` (the commit point), then drop older weights files."""
    path.mkdir(parents=True, exist_ok=True)
    record = write_tensors(path, tensors, "model")
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **config,
        "task": task.to_dict() if task is not None else None,
        "weights": record,
        "metadata": dict(metadata or {}),
        "versions": versions(),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if history is not None:
        atomic_write_json(path / HISTORY_FILE, history.to_dict())
        config["metadata"].setdefault("grokked_step", history.grokked_step)
    atomic_write_json(path / CONFIG_FILE, config)  # the commit point
    _remove_unreferenced(path, "model", keep=record["file"])
    return path
