"""Frequency ablation: remove (or keep only) chosen frequencies of activations or weights.

Over the input grid. An activation computed on ``task.inputs`` in order, ``x[n, ...]`` with
``n = p**k``, is a function of the operands ``(a_1, ..., a_k)`` for every trailing index
(position, unit ...). :func:`project_grid_frequencies` projects it, per trailing index, onto a
subspace of functions on the grid:

* ``subspace="operands"`` (default) — the span of the k-D Fourier basis functions in which
  *some operand axis* has a frequency in ``freqs`` (``fourier.operand_frequency_mask(...,
  "any")``): every term carrying those frequencies of any a_j, including the
  ``cos/sin(w (a_1 + ... + a_k))`` terms and their products with other frequencies.
* ``subspace="sum"`` — only the ``2 |freqs|`` directions ``cos(w s.a)`` and ``sin(w s.a)``
  with ``s = task.signs`` (Nanda et al.'s restricted/excluded-loss directions).

``mode="remove"`` returns ``x - P x``; ``mode="keep"`` returns ``P x``. With ``mean=True`` the
mean over the grid of what was removed is added back (mean ablation). Every removed basis
function except the constant has zero mean over the grid, so in ``"remove"`` mode
``mean=True`` changes nothing (up to rounding); in ``"keep"`` mode it keeps the grid mean
(the constant term), which is the bias correction of the restricted loss.

Harmonics: a nonlinearity turns frequency f into 2f, 3f, ... (``fourier.harmonics``);
removing f does not remove them. Include them in ``freqs`` to remove them too.

In weight space. :func:`project_frequencies` does the same along one token axis of a
tensor (an embedding's rows, an unembedding's columns), and
:func:`ablate_weight_frequencies` applies it to a model's weights for the duration of a
``with`` block, restoring them bit-exactly afterwards.

Example:
    >>> import fourier_interp as fi
    >>> model, task = fi.planted_mlp(p=23, freqs=[3, 7]), fi.ModularArithmetic(p=23)
    >>> hook = fi.frequency_ablation_hook(task, [3, 7])
    >>> logits = model.run_with_hooks(task.inputs, fwd_hooks=[("hook_post", hook)])
    >>> (logits.argmax(-1) == task.labels).float().mean().item() < 0.2
    True
    >>> with fi.ablate_frequencies(model, task, "hook_post", [5]):   # not planted: no effect
    ...     fi.accuracy(model, task)
    1.0
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Union

import torch
from jaxtyping import Float
from torch import Tensor, nn

from ..fourier import Freqs, as_freq_list, frequency_rows, sum_directions
from ..tasks import ModularArithmetic
from ._common import (
    InvalidArgumentError,
    InvalidArgumentTypeError,
    check_choice,
    check_hook_names,
    check_model,
    check_task,
    check_zp_model,
)

MODES = ("remove", "keep")
SUBSPACES = ("operands", "sum")


# ------------------------------------------------------------------ over the grid
def project_grid_frequencies(
    x: Float[Tensor, "n *rest"],
    task: ModularArithmetic,
    freqs: Freqs,
    mode: str = "remove",
    *,
    subspace: str = "operands",
    mean: bool = False,
) -> Float[Tensor, "n *rest"]:
    """Remove (or keep only) ``freqs`` of an activation over the full input grid.

    Args:
        x: ``[p**k, ...]`` values on ``task.inputs`` in order (first operand slowest);
            every trailing index is projected separately.
        task: Gives ``p``, ``k`` and the signs of the sum directions.
        freqs: Frequencies in ``1..(p-1)//2`` (an int or an iterable; may be empty).
        mode: ``"remove"`` (``x - P x``) or ``"keep"`` (``P x``).
        subspace: ``"operands"`` or ``"sum"`` (see the module docstring).
        mean: Add back the grid mean of what was removed.

    Returns:
        A tensor of ``x``'s shape and dtype.

    Example:
        >>> import torch, fourier_interp as fi
        >>> task = fi.ModularArithmetic(p=7)
        >>> a, b = task.inputs.T.double()
        >>> x = torch.cos(2 * torch.pi * 2 * (a + b) / 7) + torch.cos(2 * torch.pi * 3 * a / 7)
        >>> kept = fi.project_grid_frequencies(x, task, [2], mode="keep")
        >>> torch.allclose(kept, torch.cos(2 * torch.pi * 2 * (a + b) / 7))
        True
    """
    check_task(task)
    check_choice("mode", mode, MODES)
    check_choice("subspace", subspace, SUBSPACES)
    if not isinstance(x, Tensor):
        raise InvalidArgumentTypeError(f"x must be a torch.Tensor [p**k, ...], got {type(x).__name__}")
    return _project_grid_frequencies(x, task, as_freq_list(freqs, task.p), mode, subspace, mean)


def _project_grid_frequencies(x: Tensor, task: ModularArithmetic, freqs: list[int], mode: str, subspace: str,
                              mean: bool) -> Tensor:
    """:func:`project_grid_frequencies` once its arguments are checked (``freqs`` a list); checks ``x``'s rows.

    The rows are checked here, not at the door: a hook sees its activation only when the model runs.
    """
    n = task.n
    if x.ndim == 0 or x.shape[0] != n:
        raise InvalidArgumentError(
            f"frequency ablation needs values on the full input grid: shape [p**k, ...] = [{n}, ...] "
            f"computed on task.inputs in order (first operand slowest); got shape {tuple(x.shape)}"
        )
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    flat = x.to(dtype).reshape(n, -1)  # [n, rest]
    if subspace == "operands":
        proj = flat - _no_freq_component(flat, task.p, task.k, freqs)
    else:
        proj = _sum_component(flat, task, freqs)
    out, removed = (flat - proj, proj) if mode == "remove" else (proj, flat - proj)
    if mean:
        out = out + removed.mean(0, keepdim=True)
    return out.reshape(x.shape).to(x.dtype)


def _no_freq_component(flat: Tensor, p: int, k: int, freqs: list[int]) -> Tensor:
    """Projection onto the basis functions in which no operand axis has a frequency in ``freqs``."""
    rows = frequency_rows(p, freqs, device=flat.device, dtype=flat.dtype)
    keep_axis = torch.eye(p, device=flat.device, dtype=flat.dtype) - rows.T @ rows  # [p, p], symmetric
    grid = flat.reshape(*([p] * k), flat.shape[1])  # [p, ..., p, rest]
    for j in range(k):
        grid = torch.tensordot(keep_axis, grid, dims=([1], [j])).movedim(0, j)
    return grid.reshape(flat.shape)


def _sum_component(flat: Tensor, task: ModularArithmetic, freqs: list[int]) -> Tensor:
    """Projection onto ``cos(w s.a), sin(w s.a)`` for ``w`` in ``freqs`` (orthogonal directions)."""
    if not freqs:
        return torch.zeros_like(flat)
    dirs = []
    for f in freqs:
        cos, sin = sum_directions(task.p, task.k, f, task.signs.tolist())
        dirs += [cos.double(), sin.double()]
    d = torch.stack(dirs)
    d = (d / d.norm(dim=1, keepdim=True)).to(device=flat.device, dtype=flat.dtype)  # [2F, n]
    return d.T @ (d @ flat)


class FrequencyAblation:
    """A hook function ``fn(activation, hook)`` applying :func:`project_grid_frequencies`.

    Built by :func:`frequency_ablation_hook`, which checks the arguments (this class trusts
    them: ``freqs`` a list of valid frequencies); its ``repr`` shows what it removes.
    """

    def __init__(self, task: ModularArithmetic, freqs: list[int], mode: str = "remove", subspace: str = "operands",
                 mean: bool = False, where=None):
        self.task, self.freqs = task, list(freqs)
        self.mode, self.subspace, self.mean = mode, subspace, bool(mean)
        self.where = None if where is None else (where if isinstance(where, tuple) else (where,))

    def __call__(self, activation: Tensor, hook=None) -> Tensor:
        try:
            if self.where is None:
                return _project_grid_frequencies(activation, self.task, self.freqs, self.mode, self.subspace, self.mean)
            index = (slice(None), *self.where)
            out = activation.clone()
            out[index] = _project_grid_frequencies(
                activation[index], self.task, self.freqs, self.mode, self.subspace, self.mean
            )
            return out
        except ValueError as e:
            name = getattr(hook, "name", None)
            if name is None:
                raise
            raise InvalidArgumentError(f"at hook {name!r}: {e}") from None

    def __repr__(self) -> str:
        where = "" if self.where is None else f", where={self.where}"
        return (f"FrequencyAblation({self.mode} {self.freqs}, subspace={self.subspace!r}, "
                f"mean={self.mean}, p={self.task.p}, k={self.task.k}{where})")


def frequency_ablation_hook(
    task: ModularArithmetic,
    freqs: Freqs,
    mode: str = "remove",
    *,
    subspace: str = "operands",
    mean: bool = False,
    where: Any = None,
) -> Callable[[Tensor, object], Tensor]:
    """A hook function for ``run_with_hooks`` that removes (or keeps only) ``freqs``.

    The hooked activation must be computed on ``task.inputs`` in order (``[p**k, ...]``);
    otherwise the hook raises a ``ValueError`` naming the hook and the shape it expected.

    Args:
        task: As in :func:`project_grid_frequencies`.
        freqs: As in :func:`project_grid_frequencies`.
        mode: As in :func:`project_grid_frequencies`.
        subspace: As in :func:`project_grid_frequencies`.
        mean: As in :func:`project_grid_frequencies`.
        where: Optional index after the batch axis restricting the ablation, e.g. ``-1``
            for the last position of a ``[batch, pos, d]`` activation (the readout
            position); the rest of the activation is left as it was.

    Returns:
        A callable ``fn(activation, hook) -> activation``.

    Example:
        >>> import fourier_interp as fi
        >>> model, task = fi.planted_mlp(p=11, freqs=[2]), fi.ModularArithmetic(p=11)
        >>> keep = fi.frequency_ablation_hook(task, [2], mode="keep", mean=True)
        >>> logits = model.run_with_hooks(task.inputs, fwd_hooks=[("hook_pre", keep)])
        >>> bool((logits.argmax(-1) == task.labels).all())
        True
    """
    check_task(task)
    check_choice("mode", mode, MODES)
    check_choice("subspace", subspace, SUBSPACES)
    return FrequencyAblation(task, as_freq_list(freqs, task.p), mode, subspace, mean, where)


@contextmanager
def ablate_frequencies(
    model: nn.Module,
    task: ModularArithmetic,
    hook: Union[str, Sequence[str]],
    freqs: Freqs,
    mode: str = "remove",
    *,
    subspace: str = "operands",
    mean: bool = False,
) -> Iterator[nn.Module]:
    """Context manager: frequency ablation at ``hook`` (one name or several) while the block runs.

    Uses ``model.hooks()``, so the hooks come off when the block exits, even on an
    exception, and other hooks (``run_with_cache``, further contexts) compose with it.

    Example:
        >>> import fourier_interp as fi
        >>> model, task = fi.planted_mlp(p=11, freqs=[2]), fi.ModularArithmetic(p=11)
        >>> with fi.ablate_frequencies(model, task, "hook_pre", [2]):
        ...     fi.accuracy(model, task) < 0.5
        True
    """
    check_model(model, check_task(task))
    names = check_hook_names(model, hook)
    fn = frequency_ablation_hook(task, freqs, mode, subspace=subspace, mean=mean)
    with model.hooks(fwd_hooks=[(name, fn) for name in names]):
        yield model


# ------------------------------------------------------------------ weight space
def project_frequencies(
    x: Tensor, freqs: Freqs, dim: int = 0, mode: str = "remove", *, p: Optional[int] = None, mean: bool = False
) -> Tensor:
    """Remove (or keep only) ``freqs`` along one token axis of a weight tensor.

    Args:
        x: Any tensor; ``x.shape[dim]`` indexes tokens ``0..p-1`` (first ``p`` entries; any
            further entries, such as the transformer's '=' row, are left unchanged).
        freqs: Frequencies in ``1..(p-1)//2``.
        dim: The token axis.
        mode: ``"remove"`` or ``"keep"`` (keep only the cos/sin rows of ``freqs``).
        p: The modulus (default ``x.shape[dim]``).
        mean: Add back the token mean of what was removed (in ``"keep"`` mode: keep the constant).

    Example:
        >>> import torch, fourier_interp as fi
        >>> W_E = torch.randn(11, 4)
        >>> out = fi.project_frequencies(W_E, [1, 2, 3, 4, 5], dim=0)
        >>> torch.allclose(out, W_E.mean(0, keepdim=True).expand(11, 4), atol=1e-5)
        True
    """
    check_choice("mode", mode, MODES)
    if not isinstance(x, Tensor):
        raise InvalidArgumentTypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not -x.ndim <= dim < x.ndim:
        raise InvalidArgumentError(f"dim={dim} is out of range for a tensor of shape {tuple(x.shape)}")
    p = x.shape[dim] if p is None else p
    if x.shape[dim] < p:
        raise InvalidArgumentError(f"x.shape[{dim}] = {x.shape[dim]} is smaller than p={p}: dim must index the p tokens")
    freqs = as_freq_list(freqs, p)
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    tokens = x.to(dtype).movedim(dim, 0)
    head = tokens[:p].reshape(p, -1)  # [p, rest]
    rows = frequency_rows(p, freqs, device=x.device, dtype=dtype)
    proj = rows.T @ (rows @ head)
    out, removed = (head - proj, proj) if mode == "remove" else (proj, head - proj)
    if mean:
        out = out + removed.mean(0, keepdim=True)
    tokens = torch.cat([out.reshape(tokens[:p].shape), tokens[p:]], dim=0)
    return tokens.movedim(0, dim).to(x.dtype)


ROLES = ("embed", "unit_input", "unembed")


def token_weights(model: nn.Module) -> dict[str, tuple[int, str]]:
    """The model's parameters indexed by tokens, ``name -> (token axis, role)``, from its analysis spec.

    Roles: ``"embed"`` (token embeddings, ``[p(+1), d]``), ``"unit_input"`` (per-unit input
    weights such as the power MLP's ``U[k, p, units]``) and ``"unembed"`` (readout ``[d, p]``).
    A model without ``analysis_spec()`` returns ``{}``: pass ``weights={name: axis}`` to
    :func:`ablate_weight_frequencies`.
    """
    from ..analysis.grid import model_spec

    spec = model_spec(model)
    return dict(spec.token_params) if spec is not None else {}


@contextmanager
def ablate_weight_frequencies(
    model: nn.Module,
    freqs: Freqs,
    weights: Union[None, str, Sequence[str], Mapping[str, int]] = None,
    mode: str = "remove",
    *,
    p: Optional[int] = None,
    mean: bool = False,
) -> Iterator[nn.Module]:
    """Context manager: project weights off (or onto) ``freqs`` along their token axis.

    The parameters are edited in place for the duration of the block and restored
    bit-exactly afterwards, even if the block raises. Do not train inside the block.

    Args:
        model: Any module with named parameters.
        freqs: Frequencies to remove (or keep).
        weights: ``None`` — every token-indexed weight of a built-in model
            (:func:`token_weights`); a role (``"embed"``, ``"unit_input"``, ``"unembed"``) or
            parameter name, or a list of them; or a mapping parameter name -> token axis
            (for your own model, e.g. ``{"module.embed.weight": 0}``).
        mode: As in :func:`project_frequencies`.
        mean: As in :func:`project_frequencies`.
        p: The modulus (default ``model.cfg.p``).

    Example:
        >>> import fourier_interp as fi
        >>> model, task = fi.planted_mlp(p=11, freqs=[2, 4]), fi.ModularArithmetic(p=11)
        >>> with fi.ablate_weight_frequencies(model, [2, 4], weights="unit_input"):
        ...     fi.accuracy(model, task) < 0.5
        True
        >>> fi.accuracy(model, task)
        1.0
    """
    check_choice("mode", mode, MODES)
    check_zp_model(model)
    params = dict(model.named_parameters())
    targets = _resolve_weights(model, weights, params)
    p = p if p is not None else getattr(getattr(model, "cfg", None), "p", None)
    if p is None:
        raise InvalidArgumentError("p is unknown: pass p= (the model has no cfg.p)")
    as_freq_list(freqs, p)  # validate before touching anything
    saved = {name: params[name].detach().clone() for name in targets}
    try:
        with torch.no_grad():
            for name, dim in targets.items():
                params[name].copy_(project_frequencies(params[name].detach(), freqs, dim, mode, p=p, mean=mean))
        yield model
    finally:
        with torch.no_grad():
            for name, value in saved.items():
                params[name].copy_(value)


def _resolve_weights(model: nn.Module, weights, params: dict[str, Tensor]) -> dict[str, int]:
    known = token_weights(model)
    if isinstance(weights, Mapping):
        chosen = dict(weights)
    else:
        if weights is None:
            if not known:
                raise InvalidArgumentError(
                    f"weights=None works for the built-in models only; for {type(model).__name__} pass "
                    "weights={parameter name: token axis}, e.g. {'module.embed.weight': 0}"
                )
            return {name: dim for name, (dim, _) in known.items()}
        wanted = [weights] if isinstance(weights, str) else list(weights)
        chosen = {}
        for w in wanted:
            matches = {name: dim for name, (dim, role) in known.items() if w in (name, role)}
            if not matches:
                raise InvalidArgumentError(
                    f"weights={w!r} is neither a role {ROLES} nor a token-indexed weight of "
                    f"{type(model).__name__} ({sorted(known)}); pass a mapping name -> token axis instead"
                )
            chosen.update(matches)
    for name, dim in chosen.items():
        if name not in params:
            raise InvalidArgumentError(f"weights names {name!r}, which is not a parameter; parameters include {sorted(params)[:8]}")
        if isinstance(dim, bool) or not isinstance(dim, int) or not -params[name].ndim <= dim < params[name].ndim:
            raise InvalidArgumentError(f"token axis {dim!r} of {name!r} is not an axis of its shape {tuple(params[name].shape)}")
    return chosen
