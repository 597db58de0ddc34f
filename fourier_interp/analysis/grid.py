"""Running a model over the full input grid and collecting hook activations.

Every analysis works on activations computed on ``task.inputs`` (all ``p**k`` operand
tuples, first operand slowest), so that ``fourier.grid_transform`` can reshape them to
``[p, ..., p, units]``. A model is any ``HookedRootModule`` mapping ``[batch, k]`` operand
tokens to ``[batch, p]`` logits; the built-in models also name their analysis hooks in
``analysis_spec()``, which lets callers leave ``hook=None``.

Position axes: a cached activation ``[batch, pos, ...]`` is read at one position (the last,
where the transformer reads out, by default); attention patterns and scores
``[batch, head, query_pos, key_pos]`` are read at one query position. What is left is
flattened to ``[p**k, units]``.

Example:
    >>> import fourier_interp as fi
    >>> from fourier_interp.analysis import grid_activations
    >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_mlp=64))
    >>> grid_activations(model, fi.ModularArithmetic(p=7), "blocks.0.mlp.hook_post").shape
    torch.Size([49, 64])
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import torch
from jaxtyping import Float
from torch import Tensor, nn

from ..checks import check_group_task, check_hook_names, check_model, check_task, device_of  # noqa: F401
from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from ..evaluation import BATCH_ROWS, _grid_logits
from ..models.base import AnalysisSpec
from ..tasks import GroupTask, ModularArithmetic  # noqa: F401

_QUERY_FIRST = ("hook_pattern", "hook_attn_scores")  # [batch, head, query_pos, key_pos]


def model_spec(model: nn.Module) -> Optional[AnalysisSpec]:
    """The model's ``analysis_spec()``, or ``None`` for a model that has none."""
    getter = getattr(model, "analysis_spec", None)
    if not callable(getter):
        return None
    try:
        return getter()
    except NotImplementedError:
        return None


def resolve_hook(model: nn.Module, hook: Optional[str]) -> str:
    """``hook``, checked against ``model.hook_dict``; ``None`` means the spec's ``neurons`` hook."""
    if hook is None:
        spec = model_spec(model)
        if spec is None:
            raise InvalidArgumentError(
                f"hook=None needs a model with analysis_spec(); {type(model).__name__} has none, "
                f"so pass a hook name, e.g. one of {list(model.hook_dict)[:5]}"
            )
        return spec.neurons
    check_hook_names(model, [hook])
    return hook


def select_position(act: Tensor, hook: str, pos: Optional[int]) -> Float[Tensor, "batch units"]:
    """``[batch, ...]`` -> ``[batch, units]``: one position read (see module docstring), the rest flattened."""
    if act.ndim >= 3 and pos is not None:
        axis = 2 if hook.endswith(_QUERY_FIRST) and act.ndim == 4 else 1
        if not -act.shape[axis] <= pos < act.shape[axis]:
            raise InvalidArgumentError(f"pos={pos} is out of range for {hook!r} with {act.shape[axis]} positions")
        act = act.select(axis, pos)
    return act.reshape(act.shape[0], -1)


@torch.no_grad()
def run_grid(
    model: nn.Module,
    task: ModularArithmetic,
    hooks: Union[str, Sequence[str], None] = (),
    pos: Optional[int] = -1,
    batch_rows: int = BATCH_ROWS,
) -> tuple[Float[Tensor, "n p"], dict[str, Float[Tensor, "n units"]]]:
    """Logits and hook activations over the full grid, in one (chunked) pass.

    The hook-caching layer over :func:`fourier_interp.evaluation.grid_logits`: the core
    runs the grid (chunking, model–task check, output check, float64 logits) and each chunk
    goes through ``model.run_with_cache``, whose activations are kept.

    Args:
        model: Maps ``[batch, k]`` operand tokens to ``[batch, p]`` logits (a
            ``[batch, pos, p]`` output is read at its last position).
        task: Gives the grid ``task.inputs``.
        hooks: Hook names to cache (``None`` or ``()``: logits only).
        pos: Position read from activations with a position axis; ``None`` keeps all
            positions (flattened into the unit axis).
        batch_rows: Grid rows per forward pass.

    Returns:
        ``(logits [p**k, p], {hook: [p**k, units]})`` on the CPU: the logits float64 (as
        everywhere in the package), the activations float32.
    """
    check_model(model, check_group_task(task))  # any group: running the grid needs no Fourier basis
    hooks = check_hook_names(model, hooks or [])
    return _run_grid(model, task, hooks, pos, batch_rows)


@torch.no_grad()
def _run_grid(
    model: nn.Module, task: GroupTask, hooks: list[str], pos: Optional[int] = -1, batch_rows: int = BATCH_ROWS
) -> tuple[Float[Tensor, "n p"], dict[str, Float[Tensor, "n units"]]]:
    """:func:`run_grid` for a caller that has checked ``model``, ``task`` and the hook names (a list)."""
    acts: dict[str, list[Tensor]] = {h: [] for h in hooks}

    def cached(inputs: Tensor) -> Any:
        out, cache = model.run_with_cache(inputs, names_filter=list(hooks))
        silent = [h for h in hooks if h not in cache]
        if silent:
            raise InvalidArgumentError(
                f"hooks {silent} exist but did not fire on this model's forward pass; an opt-in hook fires only "
                "when its flag is on (e.g. model.set_use_attn_result(True) for attn.hook_result, "
                "set_use_split_qkv_input for hook_q_input, set_use_attn_in, set_use_hook_mlp_in)")
        for h in hooks:
            acts[h].append(select_position(cache[h], h, pos).float().cpu())
        return out

    logits = _grid_logits(model, task, forward=cached if hooks else None, batch_rows=batch_rows)
    return logits.cpu(), {h: torch.cat(v) for h, v in acts.items()}


def grid_activations(
    model: nn.Module, task: ModularArithmetic, hook: Optional[str] = None, pos: Optional[int] = -1
) -> Float[Tensor, "n units"]:
    """One hook's activations over the full grid, ``[p**k, units]`` (``hook=None``: the spec's neurons)."""
    hook = resolve_hook(check_model(model, check_group_task(task)), hook)
    return _run_grid(model, task, [hook], pos=pos)[1][hook]


def check_grid(x: Any, p: int, k: int, what: str = "activations") -> Tensor:
    """``x`` as a float ``[p**k, units]`` tensor over the full grid, or raise."""
    if not isinstance(x, Tensor):
        raise InvalidArgumentTypeError(f"{what} must be a torch.Tensor [p**k, units], got {type(x).__name__}")
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[0] != p**k:
        raise InvalidArgumentError(
            f"{what} has {x.shape[0]} rows; expected p**k = {p}**{k} = {p**k}, one per row of task.inputs "
            "(the full grid, first operand slowest)"
        )
    return x.reshape(p**k, -1).double()
