"""Activation patching: run corrupted inputs with (part of) an activation from the clean run.

``patch_activation(model, clean_inputs, corrupted_inputs, hook, index)`` caches ``hook`` on
the clean inputs, then runs the corrupted inputs with that activation patched in and
returns the logits. ``index`` says which part is patched:

* ``None`` — the whole activation;
* an int, slice, list / LongTensor, or a tuple of them (``Ellipsis`` allowed) — indexed
  *after the batch axis*, like ``act[:, index]``: ``index=2`` is position 2 of a
  ``[batch, pos, d]`` activation, ``(2, 1)`` position 2 head 1 of ``[batch, pos, head,
  d_head]``, ``(..., units)`` a neuron set on the last axis. An empty list patches nothing.
  Several index lists in one tuple pair up elementwise (tensor indexing rules);
* a :class:`Subspace` — only the component of the activation along one axis (default the
  last) that lies in a subspace: ``corrupted + P (clean - corrupted)`` with ``P = B^T B``
  for an orthonormal basis ``B [r, d]``. The orthogonal complement of the corrupted
  activation is left as it was.

Clean/corrupted pairs for modular arithmetic come from :func:`corrupt_operand` (shift one
operand) and :func:`resample_operand` (replace one operand by a random other value); both
change the answer of every row. Sweeps over many patches live in :mod:`.sweeps`.

Example:
    >>> import fourier_interp as fi
    >>> model, task = fi.planted_mlp(p=11, freqs=[2]), fi.ModularArithmetic(p=11)
    >>> clean, corrupted = fi.corrupt_operand(task, operand=0, shift=3)
    >>> logits = fi.patch_activation(model, clean, corrupted, "hook_pre")
    >>> bool((logits.argmax(-1) == task.labels).all())    # the clean answers are back
    True
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from ..fourier import Freqs, as_freq_list, frequency_rows
from ..tasks import ModularArithmetic
from ._common import as_cache_dict, check_hook_names, check_model, check_task, on_model_device


# ------------------------------------------------------------------ subspaces
class Subspace:
    """An orthonormal basis ``[r, d]`` of a subspace of one axis of an activation.

    Args:
        basis: ``[r, d]`` with orthonormal rows (``r = 0`` is the empty subspace).
        dim: The activation axis of size ``d`` (default the last; not the batch axis).
        where: Optional index after the batch axis restricting the patch (e.g. ``-1``: only
            the last position).
        name: A label for tables.

    Example:
        >>> import torch, fourier_interp as fi
        >>> s = fi.Subspace.fourier(p=7, freqs=[2])        # cos 2 / sin 2 over a p-indexed axis
        >>> s.rank, torch.allclose(s.basis @ s.basis.T, torch.eye(2), atol=1e-6)
        (2, True)
    """

    def __init__(self, basis: Tensor, dim: int = -1, where: Any = None, name: Optional[str] = None):
        if not isinstance(basis, Tensor) or basis.ndim != 2 or not basis.is_floating_point():
            raise InvalidArgumentTypeError(f"basis must be a float tensor [r, d], got {getattr(basis, 'shape', type(basis).__name__)}")
        gram = basis.double() @ basis.double().T
        err = (gram - torch.eye(len(basis), dtype=torch.float64, device=basis.device)).abs().max() if len(basis) else 0.0
        if float(err) > 1e-4:
            raise InvalidArgumentError(
                f"basis rows are not orthonormal (max |B B^T - I| = {float(err):.2g}); "
                "use Subspace.span(vectors) to orthonormalise them"
            )
        self.basis, self.dim, self.where, self.name = basis.detach(), dim, where, name

    @property
    def rank(self) -> int:
        return self.basis.shape[0]

    @classmethod
    def span(cls, vectors: Float[Tensor, "n d"], dim: int = -1, where: Any = None, name: Optional[str] = None,
             rtol: float = 1e-6) -> Subspace:
        """The subspace spanned by the rows of ``vectors`` (orthonormalised by SVD; null directions dropped)."""
        if not isinstance(vectors, Tensor) or vectors.ndim != 2:
            raise InvalidArgumentTypeError(f"vectors must be a tensor [n, d], got {getattr(vectors, 'shape', type(vectors).__name__)}")
        _, s, vh = torch.linalg.svd(vectors.double(), full_matrices=False)
        keep = s > rtol * s.max() if len(s) and s.max() > 0 else torch.zeros_like(s, dtype=torch.bool)
        return cls(vh[keep].to(vectors.dtype if vectors.is_floating_point() else torch.float32), dim, where, name)

    @classmethod
    def fourier(cls, p: int, freqs: Freqs, dim: int = -1, where: Any = None) -> Subspace:
        """cos/sin rows of ``freqs`` for an axis indexed by ``0..p-1`` itself (e.g. the logits)."""
        freqs = as_freq_list(freqs, p)
        return cls(frequency_rows(p, freqs), dim, where, f"freqs {freqs}")

    @classmethod
    def frequency(cls, weight: Tensor, freqs: Freqs, token_dim: int = 0, *, p: Optional[int] = None, dim: int = -1,
                  where: Any = None) -> Subspace:
        """Directions of a hidden space that carry ``freqs`` through a token-indexed weight.

        ``token_dim=0``: ``weight`` is an embedding ``[p(+1), d]`` and the subspace is the span
        of ``B_f @ weight[:p]`` (where the frequency-f part of the tokens lands).
        ``token_dim=1``: ``weight`` is a readout ``[d, p]`` and the subspace is the span of
        the columns of ``weight @ B_f^T`` (the directions that write frequency f to the logits).
        ``B_f`` holds the cos/sin rows of ``freqs``.
        """
        if not isinstance(weight, Tensor) or weight.ndim != 2:
            raise InvalidArgumentTypeError(f"weight must be a 2-D tensor, got {getattr(weight, 'shape', type(weight).__name__)}")
        if token_dim not in (0, 1):
            raise InvalidArgumentError(f"token_dim={token_dim!r}: expected 0 (embedding [p, d]) or 1 (readout [d, p])")
        w = weight.detach().double() if token_dim == 0 else weight.detach().double().T  # [p(+1), d]
        p = p or w.shape[0]
        freqs = as_freq_list(freqs, p)
        rows = frequency_rows(p, freqs, device=w.device, dtype=torch.float64)
        return cls.span((rows @ w[:p]).float(), dim, where, name=f"freqs {freqs}")

    def project(self, x: Tensor) -> Tensor:
        """The component of ``x`` along ``self.dim`` that lies in the subspace."""
        moved = x.movedim(self.dim, -1)
        if moved.shape[-1] != self.basis.shape[1]:
            raise InvalidArgumentError(f"activation axis {self.dim} has size {moved.shape[-1]}; the subspace lives in "
                             f"R^{self.basis.shape[1]}")
        b = self.basis.to(device=x.device, dtype=x.dtype)
        return ((moved @ b.T) @ b).movedim(-1, self.dim)

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"Subspace{label}(rank {self.rank} in R^{self.basis.shape[1]}, dim={self.dim}, where={self.where!r})"


# ------------------------------------------------------------------ patch hooks
Index = Union[None, int, slice, Sequence[int], Tensor, tuple, Subspace]


def _as_index(index: Any) -> tuple:
    """Normalise an after-the-batch index to a tuple usable as ``act[(slice(None), *index)]``."""
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for part in parts:
        if part is Ellipsis or isinstance(part, (slice, int)) and not isinstance(part, bool):
            out.append(part)
        elif isinstance(part, Tensor) and not part.is_floating_point():
            out.append(part.long() if part.dtype != torch.bool else part)
        elif isinstance(part, (list, range)) and all(isinstance(u, int) and not isinstance(u, bool) for u in part):
            out.append(torch.tensor(list(part), dtype=torch.long))
        else:
            raise InvalidArgumentTypeError(
                f"index={index!r}: allowed are None, an int, a slice, a list/LongTensor of ints, a tuple of "
                "those (Ellipsis allowed), or a Subspace"
            )
    return tuple(out)


def apply_patch(corrupted: Tensor, clean: Tensor, index: Index = None) -> Tensor:
    """``corrupted`` with the ``index`` part replaced by ``clean``'s (see the module docstring)."""
    if clean.shape != corrupted.shape:
        raise InvalidArgumentError(
            f"the clean activation has shape {tuple(clean.shape)} but the corrupted one {tuple(corrupted.shape)}; "
            "clean and corrupted inputs must have the same shape"
        )
    clean = clean.to(device=corrupted.device, dtype=corrupted.dtype)
    if index is None:
        return clean.clone()
    if isinstance(index, Subspace):
        delta = index.project(clean - corrupted)
        if index.where is None:
            return corrupted + delta
        sel = (slice(None), *_as_index(index.where))
        out = corrupted.clone()
        out[sel] = out[sel] + delta[sel]
        return out
    sel = (slice(None), *_as_index(index))
    out = corrupted.clone()
    out[sel] = clean[sel]
    return out


class PatchHook:
    """Hook function patching a stored clean activation into the run; see :func:`patching_hook`."""

    def __init__(self, clean_activation: Tensor, index: Index = None):
        if not isinstance(clean_activation, Tensor):
            raise InvalidArgumentTypeError(f"clean_activation must be a tensor, got {type(clean_activation).__name__}")
        if index is not None and not isinstance(index, Subspace):
            _as_index(index)  # validate now, not mid-forward
        self.clean, self.index = clean_activation, index

    def __call__(self, activation: Tensor, hook: Any = None) -> Tensor:
        return apply_patch(activation, self.clean, self.index)

    def __repr__(self) -> str:
        return f"PatchHook(index={describe_index(self.index)}, shape={tuple(self.clean.shape)})"


def patching_hook(clean_activation: Tensor, index: Index = None) -> Callable[[Tensor, Any], Tensor]:
    """A hook function that patches ``clean_activation`` (or its ``index`` part) into the run.

    Example:
        >>> import fourier_interp as fi
        >>> model, task = fi.planted_mlp(p=11, freqs=[2]), fi.ModularArithmetic(p=11)
        >>> clean, corrupted = fi.corrupt_operand(task)
        >>> _, cache = model.run_with_cache(clean)
        >>> hook = fi.patching_hook(cache["hook_post"], index=[0, 1, 2])
        >>> model.run_with_hooks(corrupted, fwd_hooks=[("hook_post", hook)]).shape
        torch.Size([121, 11])
    """
    return PatchHook(clean_activation, index)


def describe_index(index: Index) -> str:
    """A short label of a patch index for tables."""
    if index is None:
        return "all"
    if isinstance(index, Subspace):
        return repr(index)
    parts = index if isinstance(index, tuple) else (index,)
    show = []
    for part in parts:
        if part is Ellipsis:
            show.append("...")
        elif isinstance(part, (Tensor, list, range)):
            values = part.tolist() if isinstance(part, Tensor) else list(part)
            show.append(str(values) if len(values) <= 8 else f"[{len(values)} indices]")
        else:
            show.append(repr(part))
    return ", ".join(show)


def patch_activation(
    model: nn.Module,
    clean_inputs: Tensor,
    corrupted_inputs: Tensor,
    hook: str,
    index: Index = None,
) -> Float[Tensor, "batch p"]:
    """Logits of the corrupted run with ``hook``'s clean activation (or its ``index`` part) patched in.

    Args:
        model: Any hooked model: a built-in one, a :class:`HookedWrapper`, or your own
            ``HookedRootModule`` (whose ``run_with_cache`` returns a plain dict).
        clean_inputs: Inputs of the clean run (``[batch, k]`` operands, or whatever the
            wrapped module takes).
        corrupted_inputs: Inputs of the corrupted run, of the same shape.
        hook: Hook point name.
        index: What to patch (see the module docstring).

    Returns:
        The model's output on ``corrupted_inputs`` with the patch.
    """
    check_model(model)
    check_hook_names(model, hook)
    clean_inputs, corrupted_inputs = on_model_device(model, clean_inputs), on_model_device(model, corrupted_inputs)
    _, cache = model.run_with_cache(clean_inputs, names_filter=[hook])
    cache = as_cache_dict(cache)  # a user's HookedRootModule returns a plain dict
    if hook not in cache:
        raise InvalidArgumentError(f"hook {hook!r} did not fire on the clean inputs, so there is nothing to patch")
    if hook in getattr(model, "repeated", ()):
        raise InvalidArgumentError(f"hook {hook!r} fires more than once per forward; patching one cached activation into "
                         "every call is ill-defined")
    return model.run_with_hooks(corrupted_inputs, fwd_hooks=[(hook, patching_hook(cache[hook], index))])


# ------------------------------------------------------------------ clean/corrupted pairs
def _pair_inputs(task: ModularArithmetic, inputs: Optional[Tensor], operand: int) -> Tensor:
    check_task(task)
    if isinstance(operand, bool) or not isinstance(operand, int) or not 0 <= operand < task.k:
        raise InvalidArgumentError(f"operand={operand!r}: expected an int in 0..{task.k - 1} (k={task.k})")
    inputs = task.inputs if inputs is None else inputs
    if not isinstance(inputs, Tensor) or inputs.ndim != 2 or inputs.shape[1] < task.k or inputs.is_floating_point():
        raise InvalidArgumentError(f"inputs must be a [batch, k] LongTensor of operands, got {getattr(inputs, 'shape', inputs)!r}")
    return inputs.long()


def corrupt_operand(
    task: ModularArithmetic, inputs: Optional[Tensor] = None, operand: int = 0, shift: int = 1
) -> tuple[Int[Tensor, "batch k"], Int[Tensor, "batch k"]]:
    """``(clean, corrupted)``: corrupted = clean with operand ``operand`` shifted by ``shift`` mod p.

    Every answer changes (by ``+-shift`` mod p). ``inputs`` defaults to the full grid ``task.inputs``.

    Example:
        >>> import fourier_interp as fi
        >>> clean, corrupted = fi.corrupt_operand(fi.ModularArithmetic(p=5), operand=1, shift=2)
        >>> clean[1].tolist(), corrupted[1].tolist()
        ([0, 1], [0, 3])
    """
    clean = _pair_inputs(task, inputs, operand)
    if isinstance(shift, bool) or not isinstance(shift, int) or shift % task.p == 0:
        raise InvalidArgumentError(f"shift={shift!r}: expected an int that is not 0 mod p={task.p}")
    corrupted = clean.clone()
    corrupted[:, operand] = (clean[:, operand] + shift) % task.p
    return clean, corrupted


def resample_operand(
    task: ModularArithmetic, inputs: Optional[Tensor] = None, operand: int = 0, seed: int = 0
) -> tuple[Int[Tensor, "batch k"], Int[Tensor, "batch k"]]:
    """``(clean, corrupted)``: operand ``operand`` replaced by a uniformly random *different* value.

    Seeded (the same seed gives the same corruption); every answer changes.
    """
    clean = _pair_inputs(task, inputs, operand)
    gen = torch.Generator().manual_seed(int(seed))
    offset = torch.randint(1, task.p, (clean.shape[0],), generator=gen).to(clean.device)
    corrupted = clean.clone()
    corrupted[:, operand] = (clean[:, operand] + offset) % task.p
    return clean, corrupted


# ------------------------------------------------------------------ metrics
MetricFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def _loss(logits, clean_labels, corrupted_labels):
    return F.cross_entropy(logits.double(), clean_labels, reduction="none")


def _accuracy(logits, clean_labels, corrupted_labels):
    return (logits.argmax(-1) == clean_labels).double()


def _logit(logits, clean_labels, corrupted_labels):
    return logits.double().gather(-1, clean_labels[:, None])[:, 0]


def _logit_diff(logits, clean_labels, corrupted_labels):
    chosen = logits.double()
    return chosen.gather(-1, clean_labels[:, None])[:, 0] - chosen.gather(-1, corrupted_labels[:, None])[:, 0]


METRICS: dict[str, MetricFn] = {"loss": _loss, "accuracy": _accuracy, "logit": _logit, "logit_diff": _logit_diff}
"""Per-example metrics ``fn(logits, clean_labels, corrupted_labels) -> [batch]``: cross-entropy
with the clean answer, whether the argmax is the clean answer, the clean answer's logit, and
the clean answer's logit minus the corrupted answer's."""


def resolve_metrics(metrics: Union[str, Sequence[str], Mapping[str, MetricFn]]) -> dict[str, MetricFn]:
    """Metric names (from :data:`METRICS`) or a mapping name -> function, as a dict."""
    if isinstance(metrics, Mapping):
        if not metrics or not all(callable(f) for f in metrics.values()):
            raise InvalidArgumentError("metrics mapping must be non-empty and map names to fn(logits, clean_labels, corrupted_labels)")
        return dict(metrics)
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise InvalidArgumentError(f"metrics={metrics!r}: unknown {unknown}; allowed {list(METRICS)} or a mapping of functions")
    return {n: METRICS[n] for n in names}
