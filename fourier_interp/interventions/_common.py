"""Checks and small helpers shared by the intervention modules (not public API)."""

from __future__ import annotations

from typing import Any, Callable

from jaxtyping import Int
from torch import Tensor

from ..checks import (  # noqa: F401  (re-exported to the intervention modules)
    check_choice,
    check_hook_names,
    check_hooked,
    check_model,
    check_model_task,
    check_task,
    check_zp_model,
    device_of,
)
from ..errors import InvalidArgumentError, InvalidArgumentTypeError  # noqa: F401
from ..evaluation import _grid_logits, grid_logits, loss_and_accuracy  # noqa: F401  (the evaluation core, for the intervention modules)
from ..tasks import GroupTask

FwdHooks = list[tuple[str, Callable]]


def answers(task: GroupTask, inputs: Tensor) -> Int[Tensor, " batch"]:
    """The correct answer of each row of ``inputs`` (``[batch, k]``, or ``[batch, k+1]`` with '='): the task's."""
    return task.answers(inputs[:, : task.k].long().cpu())


def as_cache_dict(cache: Any) -> dict[str, Tensor]:
    """The ``{hook name: activation}`` dict of a cache, whatever ``run_with_cache`` returned.

    Our models return a ``transformer_lens.ActivationCache``; ``HookedRootModule``'s own
    ``run_with_cache`` (a user's model) returns a plain dict. Both are accepted.
    """
    if isinstance(cache, dict):
        return cache
    inner = getattr(cache, "cache_dict", None)
    if isinstance(inner, dict):
        return inner
    raise InvalidArgumentTypeError(f"run_with_cache returned a {type(cache).__name__} as its cache; expected a dict or an ActivationCache")


def on_model_device(model: Any, inputs: Any) -> Any:
    """Tensor ``inputs`` moved to the model's device; anything else unchanged.

    The built-in models move their inputs themselves; a plain module inside a
    ``HookedWrapper`` (or a user's ``HookedRootModule``) need not, so every intervention
    that runs a model on caller-given inputs moves them here first.
    """
    return inputs.to(device_of(model)) if isinstance(inputs, Tensor) else inputs
