"""Neuron ablations: zero, mean and resample ablation of a set of units, and of unit clusters.

The units are indices along one axis of a hooked activation (``dim``, default the last):
``hook_post`` of the MLP ``[batch, units]``, ``blocks.0.mlp.hook_post`` of the transformer
``[batch, pos, d_mlp]`` (every position), a hidden state of the RNN ``[batch, d_hidden]``.

* ``"zero"`` — the units' activations are set to 0.
* ``"mean"`` — set to their mean over the batch axis (dim 0) of the activation being run,
  or of ``reference`` when given; on ``task.inputs`` that is the mean over the input grid.
  Other axes (positions) keep their own means.
* ``"resample"`` — set to their values on *other* inputs: without ``reference``, each
  example takes the units' values of another example of the same batch (a seeded random
  cyclic derangement: no example keeps its own); with ``reference`` (``[m, ...]``
  activations cached on other inputs), each example takes those of a seeded random row.

Example:
    >>> import fourier_interp as fi
    >>> model, task = fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11)
    >>> clusters = {2: list(range(0, 9)), 5: list(range(9, 18))}   # planted: 9 units per frequency
    >>> table = fi.cluster_ablation(model, task, "hook_post", clusters, method="mean")
    >>> table["cluster"]
    ['none', 2, 5, 'all']
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Union

import torch
from jaxtyping import Float
from torch import Tensor, nn

from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from ..tasks import ModularArithmetic
from ._common import (
    check_choice,
    check_hook_names,
    check_model,
    grid_logits,
    loss_and_accuracy,
)
from .results import ResultTable

METHODS = ("zero", "mean", "resample")
Units = Union[int, Sequence[int], Tensor, range]


def as_units(units: Units, what: str = "units") -> Tensor:
    """Unit indices as a LongTensor (accepts an int, a list/range, a LongTensor or a bool mask)."""
    if isinstance(units, bool):
        raise InvalidArgumentTypeError(f"{what} must be unit indices, got a bool")
    if isinstance(units, (str, bytes)):
        raise InvalidArgumentTypeError(f"{what} must be unit indices (an int, a list of ints or a LongTensor), got the string {units!r}")
    if isinstance(units, int):
        return torch.tensor([units], dtype=torch.long)
    if isinstance(units, Tensor):
        if units.dtype == torch.bool:
            return units.nonzero().flatten()
        if units.is_floating_point():
            raise InvalidArgumentTypeError(f"{what} must hold integer unit indices, got dtype {units.dtype}")
        return units.flatten().long()
    try:
        values = list(units)
    except TypeError:
        raise InvalidArgumentTypeError(f"{what} must be an int, a sequence of ints or a LongTensor, got {type(units).__name__}") from None
    if any(isinstance(u, bool) or not hasattr(u, "__index__") for u in values):
        raise InvalidArgumentTypeError(f"{what} must hold ints, got {values[:5]}")
    return torch.tensor([u.__index__() for u in values], dtype=torch.long)


class NeuronAblation:
    """A hook function ``fn(activation, hook)`` ablating units; see :func:`neuron_ablation_hook`."""

    def __init__(self, units: Units, method: str = "zero", *, reference: Optional[Tensor] = None,
                 seed: int = 0, dim: int = -1):
        check_choice("method", method, METHODS)
        if reference is not None and method == "zero":
            raise InvalidArgumentError("reference= is used by method='mean' or 'resample', not 'zero'")
        if reference is not None and not isinstance(reference, Tensor):
            raise InvalidArgumentTypeError(f"reference must be a tensor of cached activations, got {type(reference).__name__}")
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise InvalidArgumentTypeError(f"dim must be an int (the unit axis), got {dim!r}")
        self.units, self.method, self.reference = as_units(units), method, reference
        self.seed, self.dim = int(seed), dim

    def __call__(self, activation: Float[Tensor, "batch ..."], hook: Any = None) -> Tensor:
        name = getattr(hook, "name", None)
        dim = self.dim % activation.ndim
        if activation.ndim < 2 or dim == 0:
            raise InvalidArgumentError(
                f"neuron ablation at hook {name!r}: dim={self.dim} must be a unit axis after the batch "
                f"axis; activation shape {tuple(activation.shape)}"
            )
        n_units = activation.shape[dim]
        if len(self.units) and (int(self.units.min()) < -n_units or int(self.units.max()) >= n_units):
            raise InvalidArgumentError(f"neuron ablation at hook {name!r}: units {self.units.tolist()[:8]} are outside 0..{n_units - 1}")
        idx = self.units.to(activation.device)
        out = activation.clone()  # never edit in place: a cache may hold the original
        target = out.movedim(dim, -1)  # a view of out: [batch, ..., units]
        if self.method == "zero":
            target[..., idx] = 0
            return out
        source = activation if self.reference is None else self.reference.to(activation.device, activation.dtype)
        if source.shape[1:] != activation.shape[1:]:
            raise InvalidArgumentError(
                f"reference has shape {tuple(source.shape)}; it must match the activation at hook {name!r} "
                f"after the batch axis: [m, {', '.join(map(str, activation.shape[1:]))}]"
            )
        source = source.movedim(dim, -1)[..., idx]  # [m, ..., n_ablated]
        if self.method == "mean":
            target[..., idx] = source.mean(0, keepdim=True)  # broadcast over the batch
            return out
        gen = torch.Generator().manual_seed(self.seed)
        batch = activation.shape[0]
        if self.reference is None:
            order = torch.randperm(batch, generator=gen)
            rows = torch.empty(batch, dtype=torch.long)
            rows[order] = order.roll(-1)  # example order[j] reads example order[j + 1]
        else:
            rows = torch.randint(source.shape[0], (batch,), generator=gen)
        target[..., idx] = source[rows.to(activation.device)]
        return out

    def __repr__(self) -> str:
        return f"NeuronAblation({self.method}, {len(self.units)} units, dim={self.dim}, seed={self.seed})"


def neuron_ablation_hook(
    units: Units, method: str = "zero", *, reference: Optional[Tensor] = None, seed: int = 0, dim: int = -1
) -> Callable[[Tensor, Any], Tensor]:
    """A hook function that zero-, mean- or resample-ablates ``units`` (see the module docstring).

    Args:
        units: Unit indices along ``dim`` (int, list, range, LongTensor or bool mask).
        method: ``"zero"``, ``"mean"`` or ``"resample"``.
        reference: Optional ``[m, ...]`` activations (same shape after the batch axis) whose
            batch mean (``"mean"``) or random rows (``"resample"``) replace the units.
        seed: Seeds resampling (the same seed always gives the same replacement).
        dim: The unit axis (not 0, the batch axis).

    Example:
        >>> import fourier_interp as fi
        >>> model, task = fi.planted_mlp(p=11, freqs=[2]), fi.ModularArithmetic(p=11)
        >>> hook = fi.neuron_ablation_hook(range(9), "zero")   # every unit
        >>> model.run_with_hooks(task.inputs, fwd_hooks=[("hook_post", hook)]).abs().max().item()
        0.0
    """
    return NeuronAblation(units, method, reference=reference, seed=seed, dim=dim)


@contextmanager
def ablate_neurons(
    model: nn.Module, hook: Union[str, Sequence[str]], units: Units, method: str = "zero", *,
    reference: Optional[Tensor] = None, seed: int = 0, dim: int = -1,
) -> Iterator[nn.Module]:
    """Context manager: :func:`neuron_ablation_hook` at ``hook`` while the block runs (removed on exit)."""
    check_model(model)
    names = check_hook_names(model, hook)
    fn = neuron_ablation_hook(units, method, reference=reference, seed=seed, dim=dim)
    with model.hooks(fwd_hooks=[(name, fn) for name in names]):
        yield model


def cluster_ablation(
    model: nn.Module,
    task: ModularArithmetic,
    hook: str,
    clusters: Mapping[Any, Units],
    method: str = "mean",
    *,
    split: str = "all",
    seed: int = 0,
    dim: int = -1,
) -> ResultTable:
    """Loss and accuracy with each cluster of units ablated alone, and all together.

    Args:
        model: A hooked model (built-in or ``HookedWrapper``).
        task: The task; the model runs on the full grid ``task.inputs``.
        hook: The hook whose units are clustered (e.g. ``"hook_post"``).
        clusters: Name (e.g. a frequency) -> unit indices, as found by a neuron-frequency analysis.
        method: ``"zero"``, ``"mean"`` (grid mean) or ``"resample"``.
        split: Rows scored: ``"all"``, ``"train"`` or ``"test"``.

    Returns:
        A :class:`ResultTable` with rows ``"none"`` (no ablation), each cluster, and
        ``"all"`` (every cluster at once) and columns ``cluster``, ``n_units``, ``loss``,
        ``accuracy``, ``loss_increase``, ``accuracy_drop``.
    """
    check_model(model, task)
    check_hook_names(model, hook)
    if not isinstance(clusters, Mapping) or not clusters:
        raise InvalidArgumentError(f"clusters must be a non-empty mapping name -> unit indices, got {clusters!r}")
    units = {name: as_units(u, f"clusters[{name!r}]") for name, u in clusters.items()}
    every = torch.unique(torch.cat(list(units.values())))
    runs = [("none", torch.zeros(0, dtype=torch.long)), *units.items(), ("all", every)]
    rows, base = [], None
    for name, idx in runs:
        hooks = [(hook, neuron_ablation_hook(idx, method, seed=seed, dim=dim))] if len(idx) else []
        loss, acc = loss_and_accuracy(grid_logits(model, task, hooks), task, split)
        base = base or (loss, acc)
        rows.append({"cluster": name, "n_units": len(idx), "loss": loss, "accuracy": acc,
                     "loss_increase": loss - base[0], "accuracy_drop": base[1] - acc})
    return ResultTable(rows, title=f"cluster ablation ({method}) at {hook}, split={split}")
