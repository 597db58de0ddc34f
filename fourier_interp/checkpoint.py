"""Checkpoints: safetensors weights plus JSON metadata, written atomically, verified on load.

A checkpoint is a directory holding

* ``config.json`` — model class and config, task, training metadata, versions, the
  name, SHA-256 and tensor shapes of the weights file, and ``content_sha256``: the hash of
  its own content (format 2; format 1 files, without it, still load);
* ``model-<hash>.safetensors`` — the weights (no pickle: loading never executes code).

``config.json`` is the commit point: the weights file is written first under a
content-addressed name, then ``config.json`` is atomically replaced. A crash or interrupt
at any moment leaves a directory whose ``config.json`` names an intact weights file, so
earlier saved work is never corrupted. Loading checks both hashes, that every file named is
a plain file in the folder (before opening it), and the config's sizes against the recorded
shapes (before building the model), and raises :class:`CheckpointError`, one line naming
the file and what is wrong; it reads nothing outside the folder and writes nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import torch

from . import jsonio
from .storage import (  # noqa: F401  (the storage layer, below the models; these names are importable here too)
    CONFIG_FILE,
    FORMAT,
    FORMAT_VERSION,
    HISTORY_FILE,
    READABLE_VERSIONS,
    CheckpointError,
    atomic_directory,
    check_content_hash,
    member,
    atomic_write_bytes,
    atomic_write_json,
    read_tensors,
    sha256_file,
    versions,
    write_tensors,
)
from .models._wrapper_io import WRAPPER_CLASS, build as _build, find_class as _find_class, save_wrapper
from .storage import commit as _commit

MAX_CONFIG_BYTES = 16 * 2**20


def save_model(model, path, task=None, history=None, metadata: Optional[dict] = None) -> Path:
    """Save ``model`` (and optionally its task, training history and free metadata) to ``path``.

    The directory may hold other files (a training run's history and checkpoints); only
    ``config.json``, ``history.json`` and ``model-*.safetensors`` are written.

    Raises:
        TypeError: ``model`` is not an instance of a registered ``HookedModel`` subclass
            with a ``config_class`` (see ``fourier_interp.models.MODEL_REGISTRY``) nor a
            ``HookedWrapper`` whose module can be rebuilt (:func:`save_wrapper`), so
            :func:`load` could not rebuild it; nothing is written.
    """
    from .models.base import check_saveable

    wrapper = sys.modules.get("fourier_interp.models.wrapper")  # not imported: no wrapper exists
    if wrapper is not None and isinstance(model, wrapper.HookedWrapper):
        return save_wrapper(model, path, task=task, history=history, metadata=metadata)
    check_saveable(model)  # a TypeError naming the fix for anything fi.load could not rebuild
    model.save(path, task=task, history=history, metadata=metadata)  # HookedModel.save writes it (models/base.py)
    return Path(path)


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
        'PowerMLP'
    """
    return save_model(model, path, task=task, history=history, metadata=metadata)


def read_config(path) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint directory, validated.

    Checks, before anything else is opened: ``config.json`` is a plain file in the folder,
    valid JSON, this package's format in a version it reads, its content matches the
    SHA-256 it records (format 2), and its fields have the right types.

    Raises:
        CheckpointError: one line naming the file and what is wrong.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint directory")
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a directory; a checkpoint is a folder holding config.json")
    config_path = member(path, CONFIG_FILE, path / CONFIG_FILE)
    if not config_path.is_file():
        raise CheckpointError(f"{config_path}: missing; {path} is not a fourier_interp checkpoint")
    if config_path.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{config_path}: {config_path.stat().st_size:,} bytes; a checkpoint's config.json "
                              f"is a few KB (at most {MAX_CONFIG_BYTES:,} read)")
    try:
        raw = json.loads(config_path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise CheckpointError(f"{config_path}: not valid JSON ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{config_path}: not a fourier_interp checkpoint (format field missing)")
    version = raw.get("format_version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise CheckpointError(
            f"{config_path}: format_version {version!r} is not supported "
            f"(this fourier_interp reads versions {', '.join(map(str, READABLE_VERSIONS))}; a newer one wrote it?)"
        )
    if version >= 2:
        check_content_hash(raw, config_path)
    config = jsonio.from_json(raw)
    for key, kind in (("model_class", str), ("config", dict), ("weights", dict)):
        if key not in config:
            raise CheckpointError(f"{config_path}: field {key!r} is missing")
        if not isinstance(config[key], kind):
            raise CheckpointError(f"{config_path}: field {key!r} must be a {kind.__name__}, got {type(config[key]).__name__}")
    for key in ("task", "metadata"):
        if config.get(key) is not None and not isinstance(config[key], dict):
            raise CheckpointError(f"{config_path}: field {key!r} must be an object or null, got {type(config[key]).__name__}")
    return config


def load(path, with_task: bool = False, device: Optional[str] = None):
    """Rebuild the model saved at ``path`` (the right class, exact weights).

    Any registered model class loads (``fourier_interp.models.MODEL_REGISTRY``: the
    built-in families and every ``HookedModel`` subclass defined at module level), and so
    does a saved ``fi.HookedWrapper`` (its module's class is rebuilt from the
    ``module:qualname`` and keyword arguments it recorded). A class of your own must be
    defined in this process first: import its module. Loading imports nothing named by
    the checkpoint.

    Args:
        path: A checkpoint directory written by :func:`save`, ``model.save`` or ``wrapped.save``.
        with_task: Also return the :class:`ModularArithmetic` task saved with it (or None).
        device: Where to put the model (default: CPU).

    Returns:
        The model, or ``(model, task)`` when ``with_task`` is True.

    Raises:
        CheckpointError: the directory, config or weights are missing, malformed,
            tampered with or do not match each other, or the class is not defined here.
    """
    from .models import MODEL_REGISTRY

    path = Path(path)
    config = read_config(path)
    cls_name = config["model_class"]
    if cls_name == WRAPPER_CLASS:
        model = _load_wrapper(path, config)
    else:
        if cls_name not in MODEL_REGISTRY:
            module = config.get("model_module")
            hint = f" (it was defined in module {module!r}: import that module first, which registers it)" if module else ""
            raise CheckpointError(
                f"{path / CONFIG_FILE}: model_class {cls_name!r} is not a registered model class{hint}; "
                f"registered: {sorted(MODEL_REGISTRY)}"
            )
        cls = MODEL_REGISTRY[cls_name]
        where = path / CONFIG_FILE
        fields, record = config["config"], config.get("task")
        if isinstance(fields, dict) and "op" not in fields and isinstance(record, dict) \
                and record.get("op") in ("add", "sub"):
            fields = {**fields, "op": record["op"]}  # saved before configs recorded their task's op
        _check_field_types(where, cls.config_class, fields)
        try:
            cfg = cls.config_class.from_dict(fields)
        except Exception as e:  # a config class may raise anything on a field of the wrong type
            raise CheckpointError(f"{where}: bad {cls.config_class.__name__} ({type(e).__name__}: {e})") from None
        _check_shapes_before_building(where, config, cls, cfg)
        model = cls(cfg)  # a config its class accepted: an exception here is a bug in the model, and stays one
        _load_tensors(path, config, model, cls_name)
    task = _read_task(path, config, model)
    model.eval()
    if device is not None:
        model.to(device)
    if not with_task:
        return model
    return model, task


def _check_field_types(where: Path, config_class, record: dict[str, Any]) -> None:
    """Each recorded config field has the type of its class's default (a bool where a bool is, ...).

    A config class checks its values' ranges; a value of another type (``None`` for a flag,
    a string for a width) would otherwise reach the model's constructor.
    """
    import dataclasses

    if not dataclasses.is_dataclass(config_class):
        return
    kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}
    for f in dataclasses.fields(config_class):
        if f.name not in record or f.default is dataclasses.MISSING or type(f.default) not in kinds:
            continue
        value, allowed = record[f.name], kinds[type(f.default)]
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise CheckpointError(f"{where}: config field {f.name}={value!r:.40} must be a {type(f.default).__name__}")


def _check_shapes_before_building(where: Path, config: dict[str, Any], cls, cfg) -> None:
    """Refuse a config that builds other tensors than its weights record lists, without allocating them.

    The model is built on the ``meta`` device (shapes only, no memory); a config edited to
    build a huge model is refused here, before its tensors would be allocated.
    """
    import copy
    import math

    recorded = config["weights"].get("shapes")
    if not isinstance(recorded, dict) or not all(
            isinstance(v, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in v)
            for v in recorded.values()):
        raise CheckpointError(f"{where}: the weights record must list each tensor's shape as a list of sizes")
    # every size of a model (a width, a layer count, p) is at most the number of weights it holds:
    # a larger one cannot match the weights, and building it (even shapes only) could take forever
    total = sum(math.prod(shape) for shape in recorded.values())
    seed = config["config"].get("seed")
    if isinstance(seed, int) and not 0 <= seed < 2**63:  # torch's generators take 64-bit seeds
        raise CheckpointError(f"{where}: config field seed={seed} is outside 0..2**63-1")
    for name, value in config["config"].items():
        if isinstance(value, int) and not isinstance(value, bool) and name != "seed" and value > max(total, 1):
            raise CheckpointError(f"{where}: config field {name}={value} exceeds the {total:,} weights the checkpoint "
                                  "records; the config and weights do not belong together")
    skeleton_cfg = copy.copy(cfg)
    try:
        skeleton_cfg.device = "meta"
        with torch.device("meta"):
            skeleton = cls(skeleton_cfg)
    except Exception:  # a class that cannot be built without data: checked after building, as before
        return
    expected = {k: list(v.shape) for k, v in skeleton.state_dict().items()}
    if expected != recorded:
        wrong = sorted(set(expected) ^ set(recorded)) or sorted(k for k in expected if expected[k] != recorded[k])
        name = wrong[0]
        raise CheckpointError(f"{where}: the model config builds tensor {name!r} as {expected.get(name)} but the "
                              f"weights record lists {recorded.get(name)}; the config and weights do not belong together")


def _load_tensors(path: Path, config: dict[str, Any], model: torch.nn.Module, what: str) -> None:
    """Load the checkpoint's weights into ``model``, refusing any missing, extra or misshapen tensor."""
    tensors = read_tensors(path, config["weights"], path / CONFIG_FILE)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"{path / config['weights']['file']}: tensors do not match {what} built from "
            f"config.json (missing {missing[:5]}, unexpected {extra[:5]})"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"{path / config['weights']['file']}: tensor {name!r} has shape {list(tensor.shape)} "
                f"but config.json builds {list(expected[name].shape)}"
            )
    model.load_state_dict(tensors)


def _read_task(path: Path, config: dict[str, Any], model):
    """The task saved with the model (or None), checked against the model it was saved with."""
    from .tasks import task_from_dict

    record = config.get("task")
    if record is None:
        return None
    cfg = getattr(model, "cfg", None)
    if not isinstance(record, dict):
        raise CheckpointError(f"{path / CONFIG_FILE}: bad task record (expected a table, got {type(record).__name__})")
    # before the task is built (its grid has p**k rows); a multiplication record's p is the prime,
    # one more than its element count, and a group record names its group instead
    checked = ("k",) if ("group" in record or record.get("op") == "mul") else ("p", "k")
    for attr in checked:
        value = getattr(cfg, attr, None)
        if isinstance(value, int) and record.get(attr) != value:
            raise CheckpointError(f"{path / CONFIG_FILE}: the task has {attr}={record.get(attr)!r} but the model "
                                  f"was built with {attr}={value}; the two records do not belong together")
    try:
        return task_from_dict(record)
    except Exception as e:  # any field of the wrong type
        raise CheckpointError(f"{path / CONFIG_FILE}: bad task record ({type(e).__name__}: {e})") from None


# ------------------------------------------------------------- HookedWrapper
def _wrapper_inputs(where: Path, record: Any):
    """A saved ``inputs=``: ``None``, ``"operands"``, a list of names, or a module-level function found by name."""
    if record is None or record == "operands" or (isinstance(record, list) and all(isinstance(n, str) for n in record)):
        return record
    target = record.get("function") if isinstance(record, dict) else None
    if not isinstance(target, str) or target.count(":") != 1:
        raise CheckpointError(f"{where}: the wrapper's 'inputs' record must be null, 'operands', a list of names or "
                              f"{{'function': 'module:qualname'}}; got {record!r:.80}")
    module_name, qualname = target.split(":")
    fn = _find_class(module_name, qualname) if module_name in sys.modules else None
    if not callable(fn):
        fix = (f"define {qualname} in a module you can import" if module_name == "__main__"
               else f"import {module_name} first (fi.load imports nothing a checkpoint names)")
        raise CheckpointError(f"{where}: the wrapper's inputs= function {target} is not found here; {fix}")
    return fn


def _load_wrapper(path: Path, config: dict[str, Any]):
    from .models.wrapper import HookedWrapper

    where = path / CONFIG_FILE
    record = config.get("wrapped")
    ok = (isinstance(record, dict) and isinstance(record.get("class"), str) and record["class"].count(":") == 1
          and isinstance(record.get("init_kwargs"), dict) and isinstance(record.get("trace"), bool)
          and (record.get("blocks") is None or isinstance(record.get("blocks"), str)))
    if not ok:
        raise CheckpointError(f"{where}: field 'wrapped' must hold class ('module:qualname'), init_kwargs, trace "
                              f"and blocks; got {record!r}")
    module_name, qualname = record["class"].split(":")
    if module_name not in sys.modules:
        raise CheckpointError(f"{where}: the wrapped module's class is {record['class']}; import {module_name} "
                              "first (fi.load imports nothing a checkpoint names)")
    cls = _find_class(module_name, qualname)
    if cls is None and module_name == "__main__":
        raise CheckpointError(f"{where}: the wrapped class {qualname} was defined in the script or notebook that saved "
                              f"it (__main__), so it cannot be found here; move {qualname} into a module you can "
                              "import (e.g. my_models.py), import it before fi.load, and save the wrapper again")
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise CheckpointError(f"{where}: {record['class']} is not a torch.nn.Module class in the imported module "
                              f"{module_name!r} (found {type(cls).__name__})")
    try:
        module = _build(cls, record["init_kwargs"])
    except Exception as e:
        raise CheckpointError(f"{where}: {qualname}(**{record['init_kwargs']!r}) raised {type(e).__name__}: {e}") from None
    _load_tensors(path, config, module, record["class"])
    fields = config["config"] if isinstance(config["config"], dict) else {}
    inputs = _wrapper_inputs(where, record.get("inputs"))
    try:
        wrapped = HookedWrapper(module, p=fields.get("p"), k=fields.get("k"), trace=record["trace"],
                                blocks=record["blocks"], init_kwargs=record["init_kwargs"], inputs=inputs)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: the wrapper's recorded options are refused ({e})") from None
    for name, value in fields.items():  # fields the user set (n_heads ...) come back too
        if hasattr(wrapped.cfg, name):
            setattr(wrapped.cfg, name, value)
    return wrapped
