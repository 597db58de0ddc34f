"""Saving a :class:`~fourier_interp.models.wrapper.HookedWrapper`: what :func:`fi.load` needs to rebuild it.

A wrapper's checkpoint is an ordinary one (``fourier_interp.storage``: safetensors weights,
``config.json`` committed last) whose ``model_class`` is ``"HookedWrapper"`` and whose
``wrapped`` field names the user's module class (``"module:qualname"``), the keyword
arguments that rebuild it and the wrapper's options. Loading lives in
``fourier_interp.checkpoint`` with every other model's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import torch

from ..storage import commit

WRAPPER_CLASS = "HookedWrapper"


def save_wrapper(wrapped, path, task=None, history=None, metadata: Optional[dict] = None) -> Path:
    """Save a ``fi.HookedWrapper``: its module's weights, class path, ``init_kwargs`` and options.

    The class is recorded as ``"module:qualname"`` and must be findable again: defined at
    module level (``__main__`` works within the same script or notebook). Before anything
    is written, ``type(module)(**wrapped.init_kwargs)`` is built once (the global RNG is
    left as it was) and must have the module's parameter names and shapes, so a checkpoint
    that :func:`load` could not rebuild is never written.

    Raises:
        TypeError: the class cannot be found by its name, ``init_kwargs`` is not JSON-safe,
            or it does not rebuild the module; the message says what to change.
    """
    module = wrapped.module
    cls = type(module)
    target = f"{cls.__module__}:{cls.__qualname__}"
    if "<locals>" in cls.__qualname__:
        raise TypeError(f"cannot save the wrapped {cls.__name__}: its class is defined inside a function ({target}), "
                        "so fi.load could not find it again; define it at module level")
    if find_class(cls.__module__, cls.__qualname__) is not cls:
        raise TypeError(f"cannot save the wrapped {cls.__name__}: {target} does not name its class (redefined or "
                        "renamed since); define the class under that name")
    kwargs = {} if wrapped.init_kwargs is None else wrapped.init_kwargs
    try:
        safe = json.loads(json.dumps(kwargs)) == kwargs
    except (TypeError, ValueError):
        safe = False
    if not safe:
        raise TypeError(f"cannot save the wrapped {cls.__name__}: init_kwargs={kwargs!r} is not JSON-safe "
                        "(str keys; numbers, strings, bools, None, lists and dicts of them)")
    hint = ("pass HookedWrapper(module, init_kwargs={...}) the keyword arguments that rebuild it"
            if wrapped.init_kwargs is None else "fix HookedWrapper's init_kwargs")
    try:
        rebuilt = build(cls, kwargs)
    except Exception as e:
        raise TypeError(f"cannot save the wrapped {cls.__name__}: {cls.__name__}(**{kwargs!r}) raised "
                        f"{type(e).__name__}: {e}; {hint}") from None
    want = {name: tuple(t.shape) for name, t in module.state_dict().items()}
    got = {name: tuple(t.shape) for name, t in rebuilt.state_dict().items()}
    if want != got:
        differ = sorted(set(want) ^ set(got)) or sorted(n for n in want if want[n] != got[n])
        raise TypeError(f"cannot save the wrapped {cls.__name__}: {cls.__name__}(**{kwargs!r}) builds different "
                        f"tensors (first differing: {differ[:3]}); {hint}")
    config = {
        "model_class": WRAPPER_CLASS,
        "model_module": type(wrapped).__module__,
        "config": {k: v for k, v in wrapped.cfg.to_dict().items() if k != "device"},
        "wrapped": {"class": target, "init_kwargs": kwargs, "trace": wrapped._trace, "blocks": wrapped.blocks_path,
                    "inputs": inputs_record(wrapped.inputs)},
    }
    return commit(Path(path), config, module.state_dict(), task, history, metadata)


def inputs_record(inputs: Any) -> Any:
    """``inputs=`` as JSON: ``None``, ``"operands"``, a list of names, or ``{"function": "module:qualname"}``.

    Raises:
        TypeError: a function that could not be found again by name (a lambda, a local function).
    """
    if inputs is None or isinstance(inputs, (str, list)):
        return inputs
    module, qualname = getattr(inputs, "__module__", None), getattr(inputs, "__qualname__", "")
    if not module or "<" in qualname or find_class(module, qualname) is not inputs:
        raise TypeError(f"cannot save the wrapper: its inputs= function {qualname or inputs!r} cannot be found again by "
                        "name (a lambda or a function defined inside another); define it at module level, or use "
                        "inputs='operands' or a list of keyword names")
    return {"function": f"{module}:{qualname}"}


def find_class(module_name: str, qualname: str) -> Any:
    """The object at ``module_name:qualname`` among the modules already imported, or None."""
    obj = sys.modules.get(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def build(cls: type, kwargs: dict[str, Any]) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):  # a module's init draws from the global RNG; leave it as it was
        return cls(**kwargs)


