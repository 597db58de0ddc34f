"""Patching sweeps: many patches of one clean/corrupted pair, scored with several metrics.

* :func:`patch_sweep` — any list of ``(hook, index)`` patches, on any hooked model.
* :func:`patch_positions_layers` — the transformer's positions x layers (x heads) grid, run by
  ``transformer_lens.patching`` (``get_act_patch_resid_pre`` & co.) on ``model.to_tokens``
  sequences.
* :func:`patch_steps` — each step of the RNN (per-step hooks; edits propagate).
* :func:`patch_units` — each unit, or each cluster of units (e.g. by frequency), of a hook.
* :func:`patch_frequencies` — each frequency's subspace (:meth:`Subspace.frequency`) of a hook.

Every sweep returns a :class:`PatchResult`: ``values [metric, cell, batch]`` per example,
the clean and corrupted baselines, ``mean()``, ``recovered()``, ``to_dataframe()``.
Metrics (:data:`~.patching.METRICS`): ``loss`` and ``accuracy`` against the clean answer,
``logit`` of the clean answer, ``logit_diff`` = clean answer's logit - corrupted answer's.

Example:
    >>> import fourier_interp as fi
    >>> model, task = fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11)
    >>> clean, corrupted = fi.corrupt_operand(task, shift=1)
    >>> result = fi.patch_units(model, task, clean, corrupted, "hook_post",
    ...                         clusters={2: range(9), 5: range(9, 18)})
    >>> [round(r, 2) for r in result.recovered("logit_diff").tolist()]   # sums to 1: the readout is linear
    [0.23, 0.77]
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from ..fourier import Freqs, as_freq_list
from ..tasks import ModularArithmetic
from ._common import answers, as_cache_dict, check_hook_names, check_model, check_task, device_of, on_model_device
from .patching import Index, MetricFn, Subspace, describe_index, patching_hook, resolve_metrics
from .results import PatchResult, stack_metric_rows

DEFAULT_METRICS = ("loss", "accuracy", "logit", "logit_diff")
Metrics = Union[str, Sequence[str], Mapping[str, MetricFn]]


def _score(metrics: dict[str, MetricFn], logits: Tensor, clean_labels: Tensor, corrupted_labels: Tensor) -> dict:
    return {name: fn(logits, clean_labels, corrupted_labels).detach() for name, fn in metrics.items()}


def _labels(model, task, clean_inputs, corrupted_inputs) -> tuple[Tensor, Tensor]:
    if not isinstance(clean_inputs, Tensor) or not isinstance(corrupted_inputs, Tensor):
        raise InvalidArgumentTypeError("clean_inputs and corrupted_inputs must be LongTensors [batch, k]")
    if clean_inputs.shape != corrupted_inputs.shape:
        raise InvalidArgumentError(f"clean_inputs {tuple(clean_inputs.shape)} and corrupted_inputs "
                         f"{tuple(corrupted_inputs.shape)} must have the same shape")
    device = device_of(model)
    return answers(task, clean_inputs).to(device), answers(task, corrupted_inputs).to(device)


def patch_sweep(
    model: nn.Module,
    task: ModularArithmetic,
    clean_inputs: Tensor,
    corrupted_inputs: Tensor,
    patches: Union[Sequence[dict[str, Any]], Mapping[Any, tuple[str, Index]]],
    metrics: Metrics = DEFAULT_METRICS,
) -> PatchResult:
    """Run each patch on the corrupted inputs and score it.

    Args:
        model: A hooked model (built-in or :class:`HookedWrapper`).
        task: Gives the answers of clean and corrupted inputs.
        clean_inputs: ``[batch, k]`` operands of the clean run.
        corrupted_inputs: ``[batch, k]`` operands of the corrupted run, of the same shape.
        patches: A list of dicts ``{"hook": name, "index": index, **labels}`` (labels become
            table columns), or a mapping ``label -> (hook, index)``.
        metrics: Names from ``METRICS`` or a mapping ``name -> fn(logits, clean_labels,
            corrupted_labels) -> [batch]``.

    Returns:
        A :class:`PatchResult` with one cell per patch, in order.
    """
    check_model(model, task)
    fns = resolve_metrics(metrics)
    cells = _as_cells(patches)
    hooks = list(dict.fromkeys(c["hook"] for c in cells))
    check_hook_names(model, hooks)
    clean_labels, corrupted_labels = _labels(model, task, clean_inputs, corrupted_inputs)
    clean_inputs, corrupted_inputs = on_model_device(model, clean_inputs), on_model_device(model, corrupted_inputs)
    with torch.no_grad():
        clean_logits, cache = model.run_with_cache(clean_inputs, names_filter=hooks)
        missing = [h for h in hooks if h not in as_cache_dict(cache)]
        if missing:
            raise InvalidArgumentError(f"hooks {missing} did not fire on the clean inputs, so there is nothing to patch")
        repeated = [h for h in hooks if h in getattr(model, "repeated", ())]
        if repeated:
            raise InvalidArgumentError(f"hooks {repeated} fire more than once per forward; patching one cached activation "
                             "into every call is ill-defined")
        clean = _score(fns, clean_logits, clean_labels, corrupted_labels)
        corrupted = _score(fns, model(corrupted_inputs), clean_labels, corrupted_labels)
        rows = []
        for cell in cells:
            hook = patching_hook(cache[cell["hook"]], cell["index"])
            logits = model.run_with_hooks(corrupted_inputs, fwd_hooks=[(cell["hook"], hook)])
            rows.append(_score(fns, logits, clean_labels, corrupted_labels))
    names = list(fns)
    described = [{**{k: v for k, v in c.items() if k != "index"}, "index": describe_index(c["index"])} for c in cells]
    return PatchResult(stack_metric_rows(rows, names), names, described,
                       stack_metric_rows([clean], names)[:, 0], stack_metric_rows([corrupted], names)[:, 0])


def _as_cells(patches) -> list[dict[str, Any]]:
    if isinstance(patches, Mapping):
        cells = []
        for label, spec in patches.items():
            if not (isinstance(spec, tuple) and len(spec) == 2):
                raise InvalidArgumentError(f"patches[{label!r}] = {spec!r}: expected a (hook, index) pair")
            cells.append({"patch": label, "hook": spec[0], "index": spec[1]})
    else:
        cells = []
        for spec in patches:
            if not isinstance(spec, Mapping) or "hook" not in spec:
                raise InvalidArgumentError(f"patch {spec!r}: expected a dict with a 'hook' key (and optional 'index')")
            cells.append({"index": None, **spec})
    if not cells:
        raise InvalidArgumentError("patches is empty: give at least one (hook, index)")
    return cells


# ------------------------------------------------------------------ family-specific sweeps
TL_SWEEPS = {
    "resid_pre": "get_act_patch_resid_pre",
    "resid_mid": "get_act_patch_resid_mid",
    "attn_out": "get_act_patch_attn_out",
    "mlp_out": "get_act_patch_mlp_out",
    "head_out": "get_act_patch_attn_head_out_by_pos",
}


def patch_positions_layers(
    model: nn.Module,
    task: ModularArithmetic,
    clean_inputs: Tensor,
    corrupted_inputs: Tensor,
    activation: str = "resid_pre",
    metrics: Metrics = DEFAULT_METRICS,
    progress: bool = False,
) -> PatchResult:
    """Patch every (layer, position) — and head, for ``"head_out"`` — of a transformer.

    Runs ``transformer_lens.patching.get_act_patch_<activation>`` on full ``[batch, k+1]``
    token sequences from ``model.to_tokens``. ``activation``: ``"resid_pre"``,
    ``"resid_mid"``, ``"attn_out"``, ``"mlp_out"`` or ``"head_out"`` (``hook_z``, per head).
    The model must be in eval mode (TransformerLens insists; the built-in models start so).
    ``progress=True`` shows TransformerLens's progress bar (hidden by default).
    """
    from transformer_lens import patching as tl_patching
    from transformer_lens.utilities import get_act_name

    check_model(model, task)
    if activation not in TL_SWEEPS:
        raise InvalidArgumentError(f"activation={activation!r}: expected one of {list(TL_SWEEPS)}")
    if not hasattr(model, "to_tokens") or not hasattr(getattr(model, "cfg", None), "n_layers"):
        raise InvalidArgumentTypeError(f"patch_positions_layers needs a transformer (cfg.n_layers, to_tokens); got "
                        f"{type(model).__name__} — use patch_sweep, patch_steps or patch_units instead")
    fns = resolve_metrics(metrics)
    clean_labels, corrupted_labels = _labels(model, task, clean_inputs, corrupted_inputs)
    clean_tokens, corrupted_tokens = model.to_tokens(clean_inputs), model.to_tokens(corrupted_inputs)
    sweep = getattr(tl_patching, TL_SWEEPS[activation])
    per_logits = {name: (lambda logits, fn=fn: fn(logits, clean_labels, corrupted_labels)) for name, fn in fns.items()}
    with torch.no_grad():
        clean_logits, cache = model.run_with_cache(clean_tokens)
        clean = _score(fns, clean_logits, clean_labels, corrupted_labels)
        corrupted = _score(fns, model(corrupted_tokens), clean_labels, corrupted_labels)
        with _progress_bar(tl_patching, progress):
            result = sweep(model, corrupted_tokens, cache, per_logits, reduce="none")
    names, batch = list(fns), clean_tokens.shape[0]
    values = result.values.reshape(len(names), -1, batch).double().cpu()  # cells in index_df order
    act_name = sweep.keywords["activation_name"]
    cells = []
    for _, row in result.index_df.iterrows():
        idx = {("head" if k == "head_index" else k): int(v) for k, v in row.items()}
        cells.append({"hook": get_act_name(act_name, idx["layer"]), **idx})
    return PatchResult(values, names, cells, stack_metric_rows([clean], names)[:, 0],
                       stack_metric_rows([corrupted], names)[:, 0])


@contextmanager
def _progress_bar(module, show: bool) -> Iterator[None]:
    """Hide the progress bar ``module`` draws with its global ``tqdm`` (restored afterwards)."""
    if show:
        yield
        return
    original = module.tqdm
    module.tqdm = lambda iterable, *args, **kwargs: iterable
    try:
        yield
    finally:
        module.tqdm = original


def patch_steps(
    model: nn.Module, task: ModularArithmetic, clean_inputs: Tensor, corrupted_inputs: Tensor, *, layer: int = 0,
    activation: str = "hidden", metrics: Metrics = DEFAULT_METRICS,
) -> PatchResult:
    """Patch the RNN's state at each step ``layers.{layer}.steps.{t}.hook_{activation}``.

    ``activation``: ``"hidden"`` or ``"pre"``. Edits propagate through the recurrence.
    """
    if activation not in ("hidden", "pre"):
        raise InvalidArgumentError(f"activation={activation!r}: expected 'hidden' or 'pre'")
    patches = [{"hook": f"layers.{layer}.steps.{t}.hook_{activation}", "index": None, "layer": layer, "step": t}
               for t in range(task.k)]
    return patch_sweep(model, task, clean_inputs, corrupted_inputs, patches, metrics)


def patch_units(
    model: nn.Module, task: ModularArithmetic, clean_inputs: Tensor, corrupted_inputs: Tensor, hook: str,
    units: Optional[Sequence[int]] = None, *, clusters: Optional[Mapping[Any, Sequence[int]]] = None,
    metrics: Metrics = DEFAULT_METRICS,
) -> PatchResult:
    """Patch units (last axis of ``hook``) one at a time, or clusters of units together.

    Args:
        units: Which units to patch one by one (default: every unit of the activation).
        clusters: Name -> unit indices (e.g. a frequency -> its neurons); patched per cluster.
    """
    from .neurons import as_units

    if clusters is not None:
        if units is not None:
            raise InvalidArgumentError("give units or clusters, not both")
        patches = [{"hook": hook, "index": (Ellipsis, as_units(u, f"clusters[{name!r}]")), "cluster": name,
                    "n_units": len(as_units(u))} for name, u in clusters.items()]
    else:
        if units is None:
            check_model(model)
            check_hook_names(model, hook)
            with torch.no_grad():
                _, cache = model.run_with_cache(on_model_device(model, clean_inputs[:1]), names_filter=[hook])
            units = range(cache[hook].shape[-1])
        patches = [{"hook": hook, "index": (Ellipsis, int(u)), "unit": int(u)} for u in as_units(units)]
    return patch_sweep(model, task, clean_inputs, corrupted_inputs, patches, metrics)


def patch_frequencies(
    model: nn.Module, task: ModularArithmetic, clean_inputs: Tensor, corrupted_inputs: Tensor, hook: str, freqs: Freqs,
    weight: Tensor, *, token_dim: int = 0, where: Any = None, metrics: Metrics = DEFAULT_METRICS,
) -> PatchResult:
    """Patch each frequency's subspace of ``hook`` (its last axis), then all of them together.

    The subspaces are :meth:`Subspace.frequency` of ``weight``: ``token_dim=1`` for a readout
    ``[d, p]`` (``model.W_U`` for the transformer's residual stream, ``model.W_out`` for the
    MLP's or RNN's hidden units), ``token_dim=0`` for an embedding ``[p, d]``.

    Args:
        where: Optional index after the batch axis (e.g. ``-1``: the last position only).
    """
    freqs = as_freq_list(freqs, check_task(task).p)
    if not freqs:
        raise InvalidArgumentError("freqs is empty: give the frequencies whose subspaces to patch")
    groups = [[f] for f in freqs] + ([freqs] if len(freqs) > 1 else [])
    patches = [{"hook": hook, "freq": group[0] if len(group) == 1 else "all",
                "index": Subspace.frequency(weight, group, token_dim, p=task.p, where=where)} for group in groups]
    for patch in patches:
        patch["rank"] = patch["index"].rank
    return patch_sweep(model, task, clean_inputs, corrupted_inputs, patches, metrics)
