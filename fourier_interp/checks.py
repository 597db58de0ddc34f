"""Argument checks shared by every layer: one clear error naming the argument and what is allowed."""

from __future__ import annotations

import difflib
from typing import Any, Sequence, Union

import torch
from torch import nn

from .tasks import ModularArithmetic


def check_task(task: Any) -> ModularArithmetic:
    if not isinstance(task, ModularArithmetic):
        raise TypeError(f"task must be a fi.ModularArithmetic, got {type(task).__name__}")
    return task


def check_hooked(model: Any, what: str = "model") -> nn.Module:
    """``model`` must be a TransformerLens-style hooked module (it has a ``hook_dict``)."""
    if not isinstance(model, nn.Module) or not hasattr(model, "hook_dict"):
        raise TypeError(
            f"{what} must be a transformer_lens HookedRootModule mapping [batch, k] tokens to [batch, p] logits "
            f"(a built-in model or fi.HookedWrapper(module)), got {type(model).__name__}; "
            "wrap a plain nn.Module with fi.HookedWrapper first"
        )
    return model


def check_model_task(model: Any, task: Any) -> None:
    """Raise if the model's ``cfg.p`` / ``cfg.k`` (when it has them) disagree with the task."""
    check_task(task)
    cfg = getattr(model, "cfg", None)
    for attr in ("p", "k"):
        value = getattr(cfg, attr, None)
        if isinstance(value, int) and value != getattr(task, attr):
            raise ValueError(f"model.cfg.{attr}={value} does not match task.{attr}={getattr(task, attr)}")


def check_hook_names(model: nn.Module, names: Union[str, Sequence[str]], what: str = "hook") -> list[str]:
    """Validate hook names against ``model.hook_dict``; an unknown name lists close valid ones."""
    names = [names] if isinstance(names, str) else list(names)
    valid = list(model.hook_dict)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what} must be a hook name (str), got {type(name).__name__} {name!r}")
        if name not in model.hook_dict:
            close = difflib.get_close_matches(name, valid, n=5, cutoff=0.4) or valid[:5]
            pending = getattr(model, "pending_hook_hint", None)
            hint = pending(name) if callable(pending) else ""
            raise ValueError(
                f"{what}={name!r} is not a hook point of {type(model).__name__}; "
                f"valid names include {close} ({len(valid)} in model.hook_dict){hint}"
            )
    return names


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; expected one of {tuple(allowed)}")


def device_of(model: nn.Module) -> torch.device:
    """Where the module's parameters live (CPU for a module without parameters)."""
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")
