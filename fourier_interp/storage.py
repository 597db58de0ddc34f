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
FORMAT_VERSION = 2
"""2: ``config.json`` carries ``content_sha256``, the hash of its own content; 1: only the weights were hashed."""
READABLE_VERSIONS = (1, 2)
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
CONTENT_HASH = "content_sha256"


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, tampered with or does not match its config."""


# ------------------------------------------------------------ integrity
def content_hash(record: dict[str, Any]) -> str:
    """SHA-256 of a JSON record's content (its :data:`CONTENT_HASH` field left out), in one canonical form.

    The record is hashed as plain JSON data (what :func:`jsonio.to_json` gives, what
    ``json.loads`` of the file gives back), keys sorted, no whitespace: any edit to any
    field, however the file is re-indented, changes it.

    Example:
        >>> a = content_hash({"p": 7, "k": 2})
        >>> a == content_hash({"k": 2, "p": 7, "content_sha256": "whatever"}), a == content_hash({"p": 8, "k": 2})
        (True, False)
    """
    import json

    plain = {k: v for k, v in jsonio.to_json(record).items() if k != CONTENT_HASH}
    return hashlib.sha256(json.dumps(plain, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def check_content_hash(raw: dict[str, Any], where: Path) -> None:
    """Refuse a record whose :data:`CONTENT_HASH` does not match its content (``raw``: the file's ``json.loads``)."""
    recorded = raw.get(CONTENT_HASH)
    if not isinstance(recorded, str) or recorded != content_hash(raw):
        shown = f"{recorded[:16]}..." if isinstance(recorded, str) else repr(recorded)
        raise CheckpointError(f"{where}: its content does not match the SHA-256 it records ({shown}); "
                              "the file was edited or damaged after it was saved")


def member(directory: Path, name: Any, owner: Path) -> Path:
    """The file ``name`` inside ``directory``, checked before anything opens it.

    A checkpoint names its files by plain names: no folders, no ``..``, not absolute, and
    not a link leading out of the directory.

    Raises:
        CheckpointError: naming ``owner`` (the file that named it) and the name.

    Example:
        >>> from pathlib import Path
        >>> member(Path("ckpt"), "../../etc/passwd", Path("ckpt/config.json"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fourier_interp.storage.CheckpointError: ckpt/config.json: file name '../../etc/passwd' is not a plain file name ...
    """
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name
            or "\0" in name or os.path.isabs(name) or name != os.path.basename(name)):
        raise CheckpointError(f"{owner}: file name {name!r} is not a plain file name inside {directory}; "
                              "a checkpoint only names files in its own folder")
    path = Path(directory) / name
    if path.is_symlink():
        raise CheckpointError(f"{owner}: {name!r} is a link (to {os.readlink(path)}); "
                              "a checkpoint's files must be plain files in its folder")
    return path


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
    if not isinstance(record, dict) or not isinstance(record.get("sha256"), str) or "file" not in record:
        raise CheckpointError(f"{owner}: the tensors record must hold 'file' and 'sha256' (a string); got {_short(record)}")
    path = member(directory, record["file"], owner)
    expected = record["sha256"]
    shapes = record.get("shapes", {})
    if not isinstance(shapes, dict) or not all(
            isinstance(v, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in v)
            for v in shapes.values()):
        raise CheckpointError(f"{owner}: the tensors record's 'shapes' must map names to lists of sizes; got {_short(shapes)}")
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
    for name, shape in shapes.items():
        if name not in tensors or list(tensors[name].shape) != list(shape):
            raise CheckpointError(f"{path}: tensor {name!r} is missing or has the wrong shape")
    return tensors


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


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
    config[CONTENT_HASH] = content_hash(config)
    atomic_write_json(path / CONFIG_FILE, config)  # the commit point
    _remove_unreferenced(path, "model", keep=record["file"])
    return path
