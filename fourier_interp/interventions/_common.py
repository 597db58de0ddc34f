"""Checks and small helpers shared by the intervention modules (not public API)."""

from __future__ import annotations

import difflib
from typing import Any, Callable, Optional, Sequence, Union

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens import HookedRootModule

from ..tasks import ModularArithmetic
from ..training import loss_fn

FwdHooks = list[tuple[str, Callable]]


def check_model(model: Any, what: str = "model") -> HookedRootModule:
    """``model`` must be a ``HookedRootModule`` (a built-in model or a ``HookedWrapper``)."""
    if not isinstance(model, HookedRootModule):
        raise TypeError(
            f"{what} must be a transformer_lens HookedRootModule (a built-in model or "
            f"fi.HookedWrapper(module)), got {type(model).__name__}; wrap a plain nn.Module "
            "with fi.HookedWrapper first"
        )
    return model


def check_task(task: Any) -> ModularArithmetic:
    if not isinstance(task, ModularArithmetic):
        raise TypeError(f"task must be a fi.ModularArithmetic, got {type(task).__name__}")
    return task


def check_model_task(model: Any, task: Any) -> None:
    """Raise if the model's ``cfg.p`` / ``cfg.k`` (when it has them) disagree with the task."""
    check_task(task)
    cfg = getattr(model, "cfg", None)
    for attr in ("p", "k"):
        value = getattr(cfg, attr, None)
        if value is not None and value != getattr(task, attr):
            raise ValueError(f"model.cfg.{attr}={value} does not match task.{attr}={getattr(task, attr)}")


def check_hook_names(model: HookedRootModule, names: Union[str, Sequence[str]], what: str = "hook") -> list[str]:
    """Validate hook names against ``model.hook_dict``; unknown names list close valid ones."""
    names = [names] if isinstance(names, str) else list(names)
    valid = list(model.hook_dict)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what} must be a hook name (str), got {type(name).__name__} {name!r}")
        if name not in model.hook_dict:
            close = difflib.get_close_matches(name, valid, n=5, cutoff=0.4) or valid[:5]
            hint = ""
            pending = getattr(model, "pending_hook_hint", None)
            if callable(pending):
                hint = pending(name)
            raise ValueError(
                f"{what}={name!r} is not a hook point of {type(model).__name__}; "
                f"valid names include {close} ({len(valid)} in model.hook_dict){hint}"
            )
    return names


def device_of(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def answers(task: ModularArithmetic, inputs: Tensor) -> Int[Tensor, " batch"]:
    """The correct answer of each row of ``inputs`` (``[batch, k]``, or ``[batch, k+1]`` with '=')."""
    operands = inputs[:, : task.k].long().cpu()
    return (operands * task.signs).sum(-1).remainder(task.p)


def grid_logits(model: HookedRootModule, task: ModularArithmetic, fwd_hooks: Optional[FwdHooks] = None) -> Tensor:
    """Logits on every row of ``task.inputs`` (in order), with ``fwd_hooks`` attached for this run."""
    with torch.no_grad():
        return model.run_with_hooks(task.inputs.to(device_of(model)), fwd_hooks=list(fwd_hooks or []))


def loss_and_accuracy(
    logits: Float[Tensor, "n p"], task: ModularArithmetic, split: str = "all"
) -> tuple[float, float]:
    """Float64 cross-entropy and accuracy of full-grid ``logits`` on a split of ``task``."""
    idx = task.split(split).to(logits.device)
    labels = task.labels.to(logits.device)[idx]
    chosen = logits[idx]
    return float(loss_fn(chosen, labels)), float((chosen.argmax(-1) == labels).double().mean())


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; expected one of {tuple(allowed)}")
