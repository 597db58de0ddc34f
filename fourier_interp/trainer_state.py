"""The resumable state of a training run: everything that decides its future, saved and restored.

:func:`fi.train` and :func:`fi.train_many` save it next to their checkpoints (under
``out_dir/trainer_state/``, one atomically replaced directory) and read it back with
``resume=True``. A resumed run must continue exactly as the uninterrupted one would, so the
state holds, besides the weights:

* the optimiser's moments and step counts, and the learning-rate schedule;
* the early-stopping counter (:class:`~fourier_interp.evaluation.EarlyStopping`);
* the state of every callback that has one (``state_dict()`` / ``load_state_dict()``,
  e.g. ``fi.ProgressRecorder``'s key frequencies and evaluation count);
* torch's global random-number generator (a model with dropout draws from it);
* the history so far.

The files are ``state.json`` and hashed safetensors files (:mod:`fourier_interp.storage`);
a state written by an older version without some of these fields still resumes, with
those parts starting fresh.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from . import jsonio
from .errors import InvalidArgumentError
from .storage import (
    CONTENT_HASH,
    CheckpointError,
    atomic_write_json,
    check_content_hash,
    content_hash,
    member,
    read_tensors,
    write_tensors,
)

STATE_DIR = "trainer_state"
STATE_FILE = "state.json"


# ------------------------------------------------------------------ optimiser
def optimizer_state(optimizer: torch.optim.Optimizer, name_of: dict[int, str]) -> tuple[dict[str, Tensor], dict[str, float]]:
    """The optimiser's per-parameter state as ``{"<param name>::<field>": value}``: tensors and scalars apart."""
    tensors, scalars = {}, {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                name = f"{name_of[id(p)]}::{key}"
                if torch.is_tensor(value) and value.ndim > 0:
                    tensors[name] = value
                else:
                    scalars[name] = float(value)
    return tensors, scalars


def restore_optimizer(optimizer: torch.optim.Optimizer, params: dict[str, Tensor],
                      tensors: dict[str, Tensor], scalars: dict[str, float]) -> None:
    """Put the state :func:`optimizer_state` saved back onto the parameters ``params`` (by name)."""
    for name, p in params.items():
        entry: dict[str, Tensor] = {}
        for key, value in tensors.items():
            pname, _, field = key.partition("::")
            if pname == name:
                entry[field] = value.to(p.device)
        for key, value in scalars.items():
            pname, _, field = key.partition("::")
            if pname == name:
                entry[field] = torch.tensor(value)
        if entry:
            optimizer.state[p] = entry


# ------------------------------------------------------------------------ RNG
def rng_state(device: torch.device) -> dict[str, Tensor]:
    """torch's global generator (and the device's, on CUDA) as uint8 tensors."""
    out = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def restore_rng(state: dict[str, Tensor], device: torch.device) -> None:
    """Set torch's global generator (and the device's) to a saved :func:`rng_state`."""
    if "cpu" in state:
        torch.set_rng_state(state["cpu"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


# ------------------------------------------------------------------ callbacks
def _stateful(callbacks: Sequence[Any]) -> list[Any]:
    return [cb for cb in callbacks if callable(getattr(cb, "state_dict", None)) and callable(getattr(cb, "load_state_dict", None))]


def callback_states(callbacks: Sequence[Any]) -> list[dict[str, Any]]:
    """``{"class", "state"}`` of every callback with ``state_dict()``, copied (JSON-safe)."""
    return [{"class": type(cb).__name__, "state": copy.deepcopy(cb.state_dict())} for cb in _stateful(callbacks)]


def restore_callbacks(saved: Sequence[dict[str, Any]], callbacks: Sequence[Any], where: Path) -> None:
    """Load each saved callback state into the callback passed in its place.

    Raises:
        InvalidArgumentError: the stateful callbacks passed now are not those of the saved
            run (their classes, in order): resuming with others would not continue it.
    """
    stateful = _stateful(callbacks)
    now = [type(cb).__name__ for cb in stateful]
    before = [entry.get("class") for entry in saved]
    if now != before:
        raise InvalidArgumentError(
            f"cannot resume {where}: the run was saved with callbacks {before} holding state, "
            f"this call passes {now}; pass the same callbacks to continue it"
        )
    for cb, entry in zip(stateful, saved):
        cb.load_state_dict(copy.deepcopy(entry["state"]))


# --------------------------------------------------------------------- files
def write_state(directory: Path, state: dict[str, Any], tensors: dict[str, dict[str, Tensor]]) -> None:
    """Write ``state.json`` and one hashed tensors file per entry of ``tensors`` (recorded in the JSON)."""
    files = {stem: write_tensors(directory, group, stem) for stem, group in tensors.items()}
    record = {**state, "tensor_files": files}
    atomic_write_json(directory / STATE_FILE, {**record, CONTENT_HASH: content_hash(record)})


def read_state(directory: Path) -> tuple[dict[str, Any], dict[str, dict[str, Tensor]]]:
    """``state.json`` and its tensors files, each checked against its hash.

    Raises:
        CheckpointError: the state is missing, not JSON, or a tensors file is missing,
            modified or truncated.
    """
    path = member(directory, STATE_FILE, directory / STATE_FILE)
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; nothing to resume in {directory.parent}")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    if CONTENT_HASH in raw:  # states written before it was recorded have none
        check_content_hash(raw, path)
    state = jsonio.from_json(raw)
    files = state.get("tensor_files", {})
    if not isinstance(files, dict):
        raise CheckpointError(f"{path}: 'tensor_files' must be an object")
    if "optimizer" in state and "tensors" in state.get("optimizer", {}):  # the first layout: the record inside
        files = {**files, "optimizer": state["optimizer"]["tensors"]}
    return state, {stem: read_tensors(directory, record, path) for stem, record in files.items()}
