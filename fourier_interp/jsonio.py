"""The one JSON converter: every JSON file and ``to_dict()`` of this package goes through it.

:func:`to_json` turns a value into plain JSON data: tensors and numpy values become
(nested lists of) Python numbers, tuples become lists, dict keys become strings, objects
with ``to_dict()`` (and other dataclasses) their dicts, and anything else its ``str``.

Non-finite floats — the policy, everywhere: ``inf``, ``-inf`` and ``nan`` become the
strings ``"inf"``, ``"-inf"`` and ``"nan"``. The output is strict JSON (Python's default
``NaN``/``Infinity`` tokens are not JSON: JavaScript, ``jq`` and most other readers reject
them), and, unlike ``null``, it says which value it was. :func:`from_json` turns exactly
those three strings back into floats, so a file written by :func:`dumps` and read by
:func:`loads` round-trips (``History.load``, a resumed trainer state, a sweep's results
and a checkpoint's ``config.json`` are read that way).

Example:
    >>> import math, torch
    >>> from fourier_interp.jsonio import dumps, loads, to_json
    >>> to_json({"loss": float("inf"), "acc": torch.tensor([1.0, 0.5]), 3: (1, 2)})
    {'loss': 'inf', 'acc': [1.0, 0.5], '3': [1, 2]}
    >>> text = dumps({"loss": float("-inf"), "gap": float("nan")})
    >>> text
    '{"loss": "-inf", "gap": "nan"}'
    >>> back = loads(text)
    >>> back["loss"], math.isnan(back["gap"])
    (-inf, True)
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import torch

NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data (see the module docstring for the rules and the inf/nan policy)."""
    if isinstance(value, torch.Tensor):
        return to_json(value.detach().cpu().tolist())
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if callable(getattr(value, "to_dict", None)) and not isinstance(value, type):
        return to_json(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    if callable(getattr(value, "tolist", None)):  # numpy arrays and scalars
        return to_json(value.tolist())
    return str(value)


def from_json(value: Any) -> Any:
    """The inverse of :func:`to_json`'s inf/nan policy: ``"inf"``, ``"-inf"``, ``"nan"`` back to floats."""
    if isinstance(value, str):
        return NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps(to_json(value))``, refusing any bare NaN/Infinity (``allow_nan=False``)."""
    return json.dumps(to_json(value), allow_nan=False, **kwargs)


def loads(text: str) -> Any:
    """``json.loads`` then :func:`from_json`; also reads files older writers left with bare NaN/Infinity."""
    return from_json(json.loads(text))
