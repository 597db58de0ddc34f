"""Checkpoints: safetensors weights plus JSON metadata, written atomically, verified on load.

A checkpoint is a directory holding

* ``config.json`` — model class and config, task, training metadata, versions, and the
  name, SHA-256 and tensor shapes of the weights file;
* ``model-<hash>.safetensors`` — the weights (no pickle: loading never executes code).

``config.json`` is the commit point: the weights file is written first under a
content-addressed name, then ``config.json`` is atomically replaced. A crash or interrupt
at any moment leaves a directory whose ``config.json`` names an intact weights file, so
earlier saved work is never corrupted. Loading checks the hash, names and shapes and
raises :class:`CheckpointError` naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
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
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


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


def save_model(model, path, task=None, history=None, metadata: Optional[dict] = None) -> Path:
    """Save ``model`` (and optionally its task, training history and free metadata) to ``path``.

    The directory may hold other files (a training run's history and checkpoints); only
    ``config.json``, ``history.json`` and ``model-*.safetensors`` are written.

    Raises:
        TypeError: ``model`` is not an instance of a registered ``HookedModel`` subclass
            with a ``config_class`` (see ``fourier_interp.models.MODEL_REGISTRY``), so
            :func:`load` could not rebuild it; nothing is written.
    """
    from .models.base import check_saveable

    cls = check_saveable(model)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    record = write_tensors(path, model.state_dict(), "model")
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_class": cls.__name__,
        "model_module": cls.__module__,
        "config": {k: v for k, v in model.cfg.to_dict().items() if k != "device"},
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


def save(model, path, task=None, history=None, metadata: Optional[dict] = None) -> Path:
    """Save ``model`` to the checkpoint directory ``path``; ``fi.load(path)`` rebuilds it exactly.

    The same as ``model.save(path, ...)``: weights as safetensors, config, task and
    metadata as JSON, written atomically.

    Args:
        model: An instance of a registered model class (any ``fi.HookedModel`` subclass
            defined at module level, with a ``config_class``).
        path: The checkpoint directory (created if missing).
        task: The task to record with the model (``fi.load(path, with_task=True)``).
        history: A training ``History``, written as ``history.json``.
        metadata: Free JSON-safe metadata stored in ``config.json``.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        TypeError: the model's class cannot be rebuilt by :func:`load` (not a
            ``HookedModel``, defined inside a function, a name another class holds, or
            no ``config_class``); the message names the class and the fix.

    Example:
        >>> import tempfile
        >>> import fourier_interp as fi
        >>> model = fi.HookedMLP(fi.MLPConfig(p=5))
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = fi.save(model, d)
        ...     type(fi.load(d)).__name__
        'HookedMLP'
    """
    return save_model(model, path, task=task, history=history, metadata=metadata)


def read_config(path) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint directory, validated."""
    path = Path(path)
    config_path = path / CONFIG_FILE
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint directory")
    if not config_path.is_file():
        raise CheckpointError(f"{config_path}: missing; {path} is not a fourier_interp checkpoint")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{config_path}: not valid JSON ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{config_path}: not a fourier_interp checkpoint (format field missing)")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path}: format_version {config.get('format_version')!r} is not supported "
            f"(this fourier_interp reads version {FORMAT_VERSION})"
        )
    for key in ("model_class", "config", "weights"):
        if key not in config:
            raise CheckpointError(f"{config_path}: field {key!r} is missing")
    return config


def load(path, with_task: bool = False, device: Optional[str] = None):
    """Rebuild the model saved at ``path`` (the right class, exact weights).

    Any registered model class loads (``fourier_interp.models.MODEL_REGISTRY``: the
    built-in families and every ``HookedModel`` subclass defined at module level). A
    class of your own must be defined in this process first: import its module. Loading
    imports nothing named by the checkpoint.

    Args:
        path: A checkpoint directory written by :func:`save` or ``model.save``.
        with_task: Also return the :class:`ModularArithmetic` task saved with it (or None).
        device: Where to put the model (default: CPU).

    Returns:
        The model, or ``(model, task)`` when ``with_task`` is True.

    Raises:
        CheckpointError: the directory, config or weights are missing, malformed,
            tampered with or do not match each other.
    """
    from .models import MODEL_REGISTRY
    from .tasks import ModularArithmetic

    path = Path(path)
    config = read_config(path)
    cls_name = config["model_class"]
    if cls_name not in MODEL_REGISTRY:
        module = config.get("model_module")
        hint = f" (it was defined in module {module!r}: import that module first, which registers it)" if module else ""
        raise CheckpointError(
            f"{path / CONFIG_FILE}: model_class {cls_name!r} is not a registered model class{hint}; "
            f"registered: {sorted(MODEL_REGISTRY)}"
        )
    cls = MODEL_REGISTRY[cls_name]
    try:
        cfg = cls.config_class.from_dict(config["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path / CONFIG_FILE}: bad {cls.config_class.__name__} ({e})") from None
    model = cls(cfg)
    tensors = read_tensors(path, config["weights"], path / CONFIG_FILE)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"{path / config['weights']['file']}: tensors do not match {cls_name} built from "
            f"config.json (missing {missing[:5]}, unexpected {extra[:5]})"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"{path / config['weights']['file']}: tensor {name!r} has shape {list(tensor.shape)} "
                f"but config.json builds {list(expected[name].shape)}"
            )
    model.load_state_dict(tensors)
    model.eval()
    if device is not None:
        model.to(device)
    if not with_task:
        return model
    task = None
    if config.get("task") is not None:
        try:
            task = ModularArithmetic.from_dict(config["task"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path / CONFIG_FILE}: bad task record ({e})") from None
    return model, task
