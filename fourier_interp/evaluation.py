"""The evaluation core: a model over the task's full input grid, split metrics, the training
row sampler and the early-stopping rule — written once, used by every layer above.

Training (:func:`fi.train`, :func:`fi.train_many`), the analyses, the interventions, the
progress measures and :func:`fi.verify` all get their logits and their losses here, so they
agree on three things:

* **Chunking.** The grid ``task.inputs`` (``p**k`` rows, first operand slowest) goes through
  the model :data:`BATCH_ROWS` rows at a time (the p = 113, k = 3 grid has 1.4 M rows), on
  the model's device, and the pieces are concatenated in order. With ``fwd_hooks``, or with
  hooks already attached to the model (e.g. inside ``fi.ablate_frequencies(...)``), the
  default is one pass over the whole grid: an intervention hook may act on the grid as a
  whole (a frequency ablation transforms it over the operand axes, a mean ablation takes
  its mean), which a chunk of it would change.
* **Dtype.** Logits come back as float64 — an exact widening of what the model computed — and
  every loss is the float64 cross-entropy (:func:`loss_fn`): late in grokking the float32
  log-softmax rounds the tiny losses away. Accuracies are float64 means.
* **Validation.** The model must have been built for the task (``model.cfg.p`` / ``cfg.k``,
  when it has them, equal the task's: an ``InvalidArgumentError`` otherwise), and its output
  must be ``[batch, p]`` logits (a ``[batch, pos, p]`` output is read at its last position;
  a tuple at its first element).

This module knows nothing of model families: a model is any ``nn.Module`` mapping
``[batch, k]`` tokens to logits (with ``fwd_hooks``, a TransformerLens ``HookedRootModule``).

Example:
    >>> import fourier_interp as fi
    >>> from fourier_interp.evaluation import grid_logits, split_metrics
    >>> model, task = fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11)
    >>> logits = grid_logits(model, task)
    >>> logits.shape, logits.dtype
    (torch.Size([121, 11]), torch.float64)
    >>> split_metrics(logits, task)["test_acc"]
    1.0
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from .checks import (
    MEMORY_HEADROOM,
    available_bytes,
    check_hooked,
    check_memory,
    check_model_task,
    device_of,
    format_bytes,
    forward_profile,
)
from .errors import InvalidArgumentError, InvalidArgumentTypeError
from .tasks import ModularArithmetic

BATCH_ROWS = 8192
"""Grid rows per forward pass."""

SPLITS = ("train", "test", "all")

FwdHooks = Sequence[tuple[str, Callable]]


# ------------------------------------------------------------------ losses
def loss_fn(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy in float64: late in grokking float32 log-softmax loses the tiny losses."""
    return F.cross_entropy(logits.double(), labels.to(logits.device))


def accuracy_of(logits: Float[Tensor, "n p"], labels: Int[Tensor, " n"]) -> float:
    """Share of rows whose largest logit is the label (a float64 mean)."""
    return float(_accuracy(logits, labels.to(logits.device)))


def _accuracy(logits: Float[Tensor, "n p"], labels: Int[Tensor, " n"]) -> Float[Tensor, ""]:
    """:func:`accuracy_of` as a 0-d tensor on the logits' device (nothing read back)."""
    return (logits.argmax(-1) == labels).double().mean()


# ------------------------------------------------------------- the grid
def hooks_attached(model: nn.Module) -> bool:
    """Whether any forward or backward hook is attached to ``model`` or a submodule (HookPoints included)."""
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
               for m in model.modules())


def grid_batches(n: int, batch_rows: int = BATCH_ROWS) -> Iterator[slice]:
    """``slice``\\ s covering rows ``0..n-1`` in order, ``batch_rows`` at a time."""
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InvalidArgumentError(f"batch_rows={batch_rows!r}: expected a positive int")
    for start in range(0, n, batch_rows):
        yield slice(start, min(start + batch_rows, n))


def as_logits(out: Any, p: int) -> Float[Tensor, "batch p"]:
    """A model's output as ``[batch, p]`` float64 logits, or a clear error.

    A tuple is read at its first element (``(logits, cache)``), a ``[batch, pos, p]`` tensor
    at its last position (where a transformer reads out).
    """
    if isinstance(out, tuple):
        out = out[0]
    if not isinstance(out, Tensor):
        raise InvalidArgumentTypeError(f"the model returned {type(out).__name__}; expected a [batch, p] logits tensor")
    if out.ndim == 3:
        out = out[:, -1]
    if out.ndim != 2 or out.shape[1] != p:
        raise InvalidArgumentError(f"the model returned shape {tuple(out.shape)}; expected [batch, p={p}] logits")
    return out.double()


def model_logits(
    model: nn.Module,
    inputs: Int[Tensor, "n k"],
    p: int,
    fwd_hooks: Optional[FwdHooks] = None,
    *,
    forward: Optional[Callable[[Tensor], Any]] = None,
    batch_rows: Optional[int] = None,
) -> Float[Tensor, "n p"]:
    """float64 logits of ``model`` on the rows of ``inputs``, in chunks, on the model's device.

    Args:
        model: Maps ``[batch, k]`` tokens to ``[batch, p]`` logits.
        inputs: The rows to run (e.g. ``task.inputs`` or a subset of it).
        p: The number of answers (checks the output's shape).
        fwd_hooks: ``[(hook name, fn)]`` attached for this run only (``model.run_with_hooks``,
            so they are removed afterwards even on an exception); needs a hooked model
            (the caller has checked it: :func:`grid_logits` does).
        forward: What to call instead of ``model`` (e.g. ``model.fast_logits``, or a
            function that also caches activations); not together with ``fwd_hooks``.
        batch_rows: Rows per forward pass; ``None``: :data:`BATCH_ROWS`, or every row in
            one pass when ``fwd_hooks`` are given or hooks are attached to the model (see
            the module docstring).
    """
    if fwd_hooks and forward is not None:
        raise InvalidArgumentError("pass fwd_hooks or forward, not both (hooks need the hooked forward)")
    if fwd_hooks:
        hooks = list(fwd_hooks)
        forward = lambda x: model.run_with_hooks(x, fwd_hooks=hooks)  # noqa: E731
    fast = forward is not None and forward == getattr(model, "fast_logits", None)
    forward = forward or model
    if batch_rows is None:
        batch_rows = max(len(inputs), 1) if (fwd_hooks or hooks_attached(model)) else BATCH_ROWS
    check_grid_memory(model, len(inputs), p, inputs.shape[-1] if inputs.ndim == 2 else 1, batch_rows, fast=fast)
    return chunked_logits(forward, inputs, p, device_of(model), batch_rows)


def chunked_logits(forward: Callable[[Tensor], Any], inputs: Tensor, p: int, device: torch.device,
                   batch_rows: int = BATCH_ROWS) -> Float[Tensor, "n p"]:
    """``forward`` over ``inputs`` ``batch_rows`` rows at a time on ``device``, without gradients, as float64
    ``[n, p]`` logits: :func:`model_logits` after its checks (a caller that has checked once calls it directly)."""
    with torch.no_grad():
        pieces = [as_logits(forward(inputs[rows].to(device)), p) for rows in grid_batches(len(inputs), batch_rows)]
    if not pieces:
        return torch.zeros(0, p, dtype=torch.float64, device=device)
    return torch.cat(pieces)


def grid_logits(
    model: nn.Module,
    task: ModularArithmetic,
    fwd_hooks: Optional[FwdHooks] = None,
    *,
    forward: Optional[Callable[[Tensor], Any]] = None,
    batch_rows: Optional[int] = None,
) -> Float[Tensor, "n p"]:
    """float64 logits on every row of ``task.inputs``, in order, on the model's device.

    The one way this package runs a model over the grid: chunked (:data:`BATCH_ROWS` rows
    a pass), checked against the task, with ``fwd_hooks`` attached for this run only (then
    in one pass by default, so a hook sees the whole grid).

    Args:
        model: Maps ``[batch, k]`` operand tokens to ``[batch, p]`` logits.
        task: The task; must be the one the model was built for.
        fwd_hooks: ``[(hook name, fn)]`` attached for this run (a hooked model).
        forward: What to call instead of ``model`` (e.g. ``model.fast_logits``).
        batch_rows: Grid rows per forward pass (``None``: see :func:`model_logits`).

    Raises:
        InvalidArgumentError: ``model.cfg.p`` / ``cfg.k`` differ from the task's, or
            ``fwd_hooks`` are given for a model that is not hooked.
    """
    check_model_task(model, task)
    if fwd_hooks:
        check_hooked(model)
    return _grid_logits(model, task, fwd_hooks, forward=forward, batch_rows=batch_rows)


def _grid_logits(
    model: nn.Module,
    task: ModularArithmetic,
    fwd_hooks: Optional[FwdHooks] = None,
    *,
    forward: Optional[Callable[[Tensor], Any]] = None,
    batch_rows: Optional[int] = None,
) -> Float[Tensor, "n p"]:
    """:func:`grid_logits` for a caller that has checked ``model`` and ``task`` (no check here)."""
    return model_logits(model, task.inputs, task.p, fwd_hooks, forward=forward, batch_rows=batch_rows)


# ---------------------------------------------------------- split metrics
def _rows(task: ModularArithmetic, split: str, device: torch.device) -> Tensor:
    return task.split(split).to(device)


def split_loss(logits: Float[Tensor, "n p"], task: ModularArithmetic, split: str = "all") -> float:
    """float64 cross-entropy of full-grid ``logits`` on a split (``"train"``, ``"test"``, ``"all"``)."""
    idx = _rows(task, split, logits.device)
    return float(loss_fn(logits[idx], task.labels.to(logits.device)[idx]))


def split_accuracy(logits: Float[Tensor, "n p"], task: ModularArithmetic, split: str = "all") -> float:
    """Accuracy of full-grid ``logits`` on a split (a float64 mean)."""
    idx = _rows(task, split, logits.device)
    return accuracy_of(logits[idx], task.labels.to(logits.device)[idx])


def loss_and_accuracy(logits: Float[Tensor, "n p"], task: ModularArithmetic, split: str = "all") -> tuple[float, float]:
    """``(loss, accuracy)`` of full-grid ``logits`` on a split, both float64."""
    return split_loss(logits, task, split), split_accuracy(logits, task, split)


SPLIT_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
"""The numbers :func:`split_metrics` gives, in the order of :func:`split_metric_values`."""


class SplitRows:
    """A task's train and test rows and its labels on one device, copied there once.

    An evaluation loop reads them at every evaluation; copying them from the host each time
    would make each copy a synchronisation on a GPU.
    """

    def __init__(self, task: ModularArithmetic, device: torch.device):
        self.rows = {split: task.split(split).to(device) for split in ("train", "test")}
        self.labels = task.labels.to(device)


def split_metric_values(logits: Float[Tensor, "n p"], task: ModularArithmetic,
                        rows: Optional[SplitRows] = None) -> Float[Tensor, " 4"]:
    """:data:`SPLIT_METRICS` of full-grid logits as one float64 tensor on their device (NaN for an empty split).

    Nothing is read back to the host: a loop that evaluates many runs reads all of them in one
    transfer (:func:`metrics_from_values`).
    """
    rows = rows if rows is not None else SplitRows(task, logits.device)
    values = []
    for split in ("train", "test"):
        idx = rows.rows[split]
        if len(idx) == 0:
            values += [logits.new_full((), float("nan"), dtype=torch.float64)] * 2
            continue
        picked, labels = logits[idx], rows.labels[idx]
        values += [loss_fn(picked, labels), _accuracy(picked, labels)]
    return torch.stack(values)


def metrics_from_values(values: list[float], task: ModularArithmetic) -> dict[str, Optional[float]]:
    """:func:`split_metric_values` read back (a list of floats) as :func:`split_metrics`' dict: ``None`` for an empty split."""
    out = dict(zip(SPLIT_METRICS, values))
    for split in ("train", "test"):
        if len(task.split(split)) == 0:
            out[f"{split}_loss"] = out[f"{split}_acc"] = None
    return out


def split_metrics(logits: Float[Tensor, "n p"], task: ModularArithmetic) -> dict[str, Optional[float]]:
    """``train_loss``, ``test_loss``, ``train_acc``, ``test_acc`` of full-grid logits ``[p**k, p]`` (float64).

    A split with no rows gets ``None`` for both of its numbers. The four are read back to the
    host in one transfer.
    """
    return metrics_from_values(split_metric_values(logits, task).tolist(), task)


def evaluate(model: nn.Module, task: ModularArithmetic, forward=None) -> dict[str, Any]:
    """Train/test loss and accuracy of ``model`` on ``task`` (one chunked pass over the full grid, float64).

    Args:
        model: Maps ``[batch, k]`` tokens to ``[batch, p]`` logits.
        task: The task the model was built for.
        forward: What to call instead of ``model`` (e.g. ``model.fast_logits``).

    Raises:
        InvalidArgumentError: ``model.cfg.p`` / ``cfg.k`` differ from the task's.

    Example:
        >>> import fourier_interp as fi
        >>> fi.evaluate(fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11))["train_acc"]
        1.0
    """
    return split_metrics(grid_logits(model, task, forward=forward), task)


def accuracy(model: nn.Module, task: ModularArithmetic, split: str = "all", *, batch_rows: int = BATCH_ROWS) -> float:
    """Accuracy of ``model`` on a split of ``task`` (``"train"``, ``"test"`` or ``"all"``).

    Runs only that split's rows, ``batch_rows`` at a time (default :data:`BATCH_ROWS`),
    keeping only whether each row is right: memory stays that of one pass, whatever the
    grid's size (with hooks attached, one pass over the split, as :func:`grid_logits`).

    Raises:
        InvalidArgumentError: ``model.cfg.p`` / ``cfg.k`` differ from the task's, or
            ``split`` is not one of the three.
        InsufficientMemoryError: one pass would not fit in the free memory.

    Example:
        >>> import fourier_interp as fi
        >>> fi.accuracy(fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11), "test")
        1.0
    """
    check_model_task(model, task)
    idx = task.split(split)
    if hooks_attached(model):  # a hook may act on the whole split at once (see the module docstring)
        return accuracy_of(model_logits(model, task.inputs[idx], task.p), task.labels[idx])
    inputs, labels, device = task.inputs[idx], task.labels[idx], device_of(model)
    batch = min(batch_rows, max(len(idx), 1))
    const, per_row = forward_profile(model, task.k)
    free = available_bytes(device)
    fits = None if free is None or per_row == 0 else int((MEMORY_HEADROOM * free - const) / per_row)
    check_memory(int(const + batch * per_row), device, f"fi.accuracy's passes of {batch:,} rows through {type(model).__name__}",
                 f"pass batch_rows={fits:,} or fewer" if fits and fits >= 1 else "use a smaller p or k")
    correct = 0
    with torch.no_grad():
        for rows in grid_batches(len(idx), batch_rows):
            logits = as_logits(model(inputs[rows].to(device)), task.p)
            correct += int((logits.argmax(-1) == labels[rows].to(device)).sum())
    return correct / len(idx) if len(idx) else float("nan")


# ---------------------------------------------------------------- memory
def check_grid_memory(model: nn.Module, n_rows: int, p: int, k: int, batch_rows: int, *, fast: bool = False,
                      n_models: int = 1, chunkable: bool = True) -> None:
    """Refuse, before any allocation, a run over ``n_rows`` grid rows whose logits or passes would not fit.

    The estimate: the ``[n_rows, p]`` float64 logits twice (the pieces and their
    concatenation), plus one pass of ``batch_rows`` rows (:func:`~fourier_interp.checks.forward_bytes`),
    for each of ``n_models`` models. ``chunkable``: the caller takes ``batch_rows``, so the
    message may name a pass size that fits.

    Raises:
        InsufficientMemoryError: naming the estimate, the grid and the way out.
    """
    if n_rows == 0:
        return
    rows = min(batch_rows, n_rows)
    logits = 2 * n_rows * p * 8
    const, per_row = forward_profile(model, k, fast=fast)
    need = n_models * (logits + const + rows * per_row)
    way_out = "use a smaller p or k (the grid has p**k rows and each row p logits)"
    free = available_bytes(device_of(model))
    if chunkable and free is not None and per_row > 0:
        fits = int((MEMORY_HEADROOM * free / n_models - logits - const) / per_row)
        if 1 <= fits < rows:
            way_out = f"pass batch_rows={fits:,} or fewer (rows per pass), or use a smaller p or k"
    check_memory(need, device_of(model),
                 f"the float64 logits of {n_rows:,} grid rows x {p} answers ({format_bytes(logits)}"
                 + (f" per model, {n_models} models" if n_models > 1 else "") + f") and passes of {rows:,} rows",
                 way_out)


def check_training_memory(model: nn.Module, task: ModularArithmetic, batch_size: Optional[int], n_models: int = 1) -> None:
    """Refuse, before the first step, a training run whose evaluations or step would not fit in memory.

    Every evaluation runs the grid (:func:`check_grid_memory`); a step keeps the activations of its rows for the backward pass (the whole training split
    at full batch), plus gradients and AdamW's two moments per weight.

    Raises:
        InsufficientMemoryError: naming the estimate, the cause and the way out (``batch_size``,
            with a size that fits, or a smaller ``p`` or ``k``).
    """
    check_grid_memory(model, task.n, task.p, task.k, BATCH_ROWS, fast=hasattr(model, "fast_logits"), n_models=n_models,
                      chunkable=False)
    n_train = len(task.train_idx)
    rows = n_train if batch_size is None else min(batch_size, n_train)
    const, per_row = forward_profile(model, task.k, fast=hasattr(model, "fast_forward"))
    weights = sum(t.numel() * t.element_size() for t in model.parameters() if t.requires_grad)
    need = n_models * (2 * (const + rows * per_row) + 3 * weights)
    free = available_bytes(device_of(model))
    fits = None if free is None or per_row == 0 else int((MEMORY_HEADROOM * free / n_models - 3 * weights - 2 * const) / (2 * per_row))
    hint = f"TrainConfig(batch_size={max(fits, 1):,}) or less fits" if fits and fits > 0 else "nothing fits at this p"
    check_memory(need, device_of(model),
                 f"a training step over {rows:,} rows ({'the whole training split' if rows == n_train else 'a minibatch'}"
                 f" of p**k = {task.n:,}; {format_bytes(per_row)} of activations a row"
                 + (f", {n_models} models" if n_models > 1 else "") + ")",
                 f"train in minibatches ({hint}), or use a smaller p or k")


# ---------------------------------------------------------------- training
def sample_rows(n_rows: int, batch_size: Optional[int], seed: int, step: int) -> Optional[Int[Tensor, " batch"]]:
    """The minibatch of one training step: ``batch_size`` row indices into the training split.

    Drawn with replacement by a generator seeded with ``(seed, step)`` alone, so a resumed
    run, and every seed of :func:`fi.train_many`, draws exactly what a fresh run of that
    seed would. ``None`` (full batch) when ``batch_size`` is ``None`` or covers the split.
    Always on the CPU (move the indices to the data).
    """
    if batch_size is None or batch_size >= n_rows:
        return None
    gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return torch.randint(n_rows, (batch_size,), generator=gen)


class EarlyStopping:
    """The early-stopping rule: stop once test accuracy has been ``>= acc`` for ``patience``
    consecutive evaluations. An evaluation without a test accuracy (no test split) neither
    counts nor resets; ``acc=None`` never stops.

    Example:
        >>> rule = EarlyStopping(acc=0.9, patience=2)
        >>> [rule.update(a) for a in (0.95, 0.5, 0.95, 0.99)]
        [False, False, False, True]
    """

    def __init__(self, acc: Optional[float], patience: int):
        self.acc, self.patience, self.held = acc, patience, 0

    def update(self, test_acc: Optional[float]) -> bool:
        """Count one evaluation; True when the run should stop now."""
        if self.acc is None or test_acc is None:
            return False
        self.held = self.held + 1 if test_acc >= self.acc else 0
        return self.held >= self.patience

    @property
    def stopped(self) -> bool:
        """Whether the evaluations counted so far already end the run."""
        return self.acc is not None and self.held >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """The rule and its counter, JSON-safe: what a resumed run needs to stop where this one would."""
        return {"acc": self.acc, "patience": self.patience, "held": self.held}

    def load_state_dict(self, state: dict[str, Any], records: Sequence[dict[str, Any]] = ()) -> None:
        """Continue from ``state``; if the rule itself changed, recount over the evaluation ``records`` instead.

        ``records`` are a history's evaluations; the one at step 0 (before any training)
        never counts, as in training.

        Example:
            >>> rule = EarlyStopping(acc=0.9, patience=3)
            >>> rule.load_state_dict({"acc": 0.9, "patience": 3, "held": 2})
            >>> rule.update(0.95)
            True
        """
        if state.get("acc") == self.acc and state.get("patience") == self.patience:
            self.held = int(state["held"])
            return
        self.held = 0
        for r in records:
            if r.get("step", 0) > 0:
                self.update(r.get("test_acc"))
