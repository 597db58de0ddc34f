"""Key frequencies three ways — weights, hidden units, logits — and the rule that combines them.

Definitions (docs/analysis.md has the reasoning and references):

* **Weights** — energy per frequency of the embedding over the token axis, the unembedding
  over the answer axis, or each unit's own input weights; Gini of the per-frequency norms
  measures sparsity (Nanda et al.).
* **Units** — for each unit, over the full grid with its mean removed, the fraction of
  variance in each frequency's block: the coefficients of the k-D transform whose every
  operand axis is const, cos f or sin f, excluding the all-const one (Nanda et al.'s
  ``{const, cos f, sin f}^2`` block, for k operands). A unit's frequency is the one whose
  pure block explains most; its *family* block adds the harmonics ``2f, ..., order*f`` (folded
  into ``1..p//2``) that its nonlinearity creates, and the unit is clustered when the family
  block holds ``>= threshold`` (default 0.85) of its variance.
* **Logits** — the logits centred over answers, with every term that depends on fewer than
  all k operands removed (the operands' interaction); the fraction of its variance along
  each frequency's ``cos(w (s.a - c))`` direction. Different frequencies' directions are
  orthogonal over the grid, so fractions add.

Each method's set: the frequencies whose measure is at least ``rel_threshold`` (0.1) times
the largest frequency's (energy; clustered-unit count; logit fraction with a positive
coefficient). The key frequencies are the frequencies of the clustered units — what the
model computes with — falling back to the logit set when no unit hook is available or no
unit is clustered. (The logits alone can under-count: a frequency whose units matter
causally may carry a small share of the logit variance.)

Example:
    >>> import fourier_interp as fi
    >>> model, task = fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11)
    >>> fi.key_frequencies(model, task)
    [2, 5]
    >>> fi.unit_frequencies(model, task).share_clustered
    1.0
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from jaxtyping import Float
from torch import Tensor, nn

from ..evaluation import split_accuracy
from ..fourier import frequency_block_masks, frequency_energy, grid_spectrum, harmonics, n_frequencies
from ..models.base import AnalysisSpec
from ..tasks import ModularArithmetic
from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from .grid import _run_grid, check_grid, check_model, check_task, model_spec, resolve_hook
from .results import FrequencyReport, LogitFrequencies, UnitFrequencies, WeightSpectrum, significant

CLUSTER_THRESHOLD = 0.85  # Nanda et al.'s threshold for a clustered neuron
REL_THRESHOLD = 0.1  # a frequency is significant at >= 10% of the top frequency's measure


# ------------------------------------------------------------------ sparsity
def gini(x: Tensor, dim: int = -1) -> Tensor:
    """Gini coefficient of non-negative values along ``dim``: 0 when equal, ``1 - 1/n`` when one holds all.

    Example:
        >>> import torch
        >>> from fourier_interp.analysis import gini
        >>> gini(torch.tensor([1.0, 1.0, 1.0, 1.0])).item(), gini(torch.tensor([0.0, 0.0, 0.0, 4.0])).item()
        (0.0, 0.75)
    """
    x = x.movedim(dim, -1).double().abs().sort(-1).values
    n = x.shape[-1]
    i = torch.arange(1, n + 1, dtype=x.dtype, device=x.device)
    total = x.sum(-1)
    g = (2 * (i * x).sum(-1) / (n * total.clamp_min(1e-300))) - (n + 1) / n
    return torch.where(total > 0, g, torch.zeros_like(g))


def weight_frequencies(
    w: Tensor, dim: int, name: str = "weight", unit_dim: Optional[int] = None
) -> WeightSpectrum:
    """Energy per frequency of a weight along its Z_p axis ``dim``, with its Gini sparsity.

    Args:
        w: E.g. an embedding ``[p, d]`` (dim 0), an unembedding ``[d, p]`` (dim 1) or
            per-unit input weights ``[units, k, p]`` (dim 2, ``unit_dim=0``).
        unit_dim: If given, also the mean over units of each unit's own Gini (one
            frequency per unit gives a high ``unit_gini`` even when all frequencies are
            used overall, as in Li et al.'s wide MLPs).

    Example:
        >>> import fourier_interp as fi
        >>> from fourier_interp.analysis import weight_frequencies
        >>> model = fi.planted_mlp(p=11, freqs=[3])
        >>> weight_frequencies(model.W_out.detach(), dim=1, name="W_out").frequencies()
        [3]
    """
    if not isinstance(w, Tensor):
        raise InvalidArgumentTypeError(f"w must be a torch.Tensor, got {type(w).__name__}")
    dim = dim % w.ndim
    energy = frequency_energy(w.detach().double(), dim)
    n = n_frequencies(w.shape[dim])
    unit_gini = None
    if unit_dim is not None:
        unit_dim = unit_dim % w.ndim
        per_unit = w.detach().double().movedim((unit_dim, dim), (0, -1)).reshape(w.shape[unit_dim], -1, w.shape[dim])
        e = torch.stack([frequency_energy(u, dim=1) for u in per_unit])[:, 1 : n + 1]
        unit_gini = float(gini(e.sqrt()).mean())
    return WeightSpectrum(
        name=name, p=w.shape[dim], energy=energy, gini=float(gini(energy[1 : n + 1].sqrt())), unit_gini=unit_gini
    )


def weight_spectra(spec: AnalysisSpec) -> dict[str, WeightSpectrum]:
    """Spectra of the weights an :class:`AnalysisSpec` names: embed (token axis), unembed (answer axis), unit inputs."""
    out = {}
    if spec.embed is not None:
        out["embed"] = weight_frequencies(spec.embed, dim=0, name="embed")
    if spec.unit_input_weights is not None:
        out["unit_inputs"] = weight_frequencies(spec.unit_input_weights, dim=2, name="unit_inputs", unit_dim=0)
    if spec.unembed is not None:
        out["unembed"] = weight_frequencies(spec.unembed, dim=1, name="unembed")
    return out


def _weights_key(spectra: dict[str, WeightSpectrum], rel: float) -> Optional[list[int]]:
    """The weight set: significant frequencies of the mean of the input-side and output-side shares."""
    inputs = spectra.get("embed") or spectra.get("unit_inputs")
    sides = [s.fraction for s in (inputs, spectra.get("unembed")) if s is not None]
    return significant(torch.stack(sides).mean(0), rel) if sides else None


# -------------------------------------------------------------- unit clusters
def cluster_units(
    acts: Float[Tensor, "n units"],
    p: int,
    k: int,
    harmonic_order: int = 2,
    threshold: float = CLUSTER_THRESHOLD,
    hook: Optional[str] = None,
) -> UnitFrequencies:
    """Cluster units by frequency from their activations over the full grid (plain tensors).

    Args:
        acts: ``[p**k, units]`` activations on ``task.inputs`` (first operand slowest).
        harmonic_order: Highest harmonic of a unit's frequency credited to it (2 for ReLU
            and x^2, k for x^k, 3 for tanh; 1 gives Nanda et al.'s pure block).
        threshold: Family-block fraction at which a unit counts as clustered.

    Example:
        >>> import torch, fourier_interp as fi
        >>> from fourier_interp.analysis import cluster_units
        >>> cos_sum, sin_sum = fi.sum_directions(13, 2, freq=4)
        >>> cluster_units(torch.stack([cos_sum, sin_sum], 1), 13, 2).freq.tolist()
        [4, 4]
    """
    if not 0 < threshold <= 1:
        raise InvalidArgumentError(f"threshold={threshold!r}: expected a fraction in (0, 1]")
    if isinstance(harmonic_order, bool) or not isinstance(harmonic_order, int) or harmonic_order < 1:
        raise InvalidArgumentError(f"harmonic_order={harmonic_order!r}: expected an int >= 1")
    x = check_grid(acts, p, k)
    n_freq = n_frequencies(p)
    if n_freq == 0:
        raise InvalidArgumentError(f"p={p} has no non-constant frequency to cluster on")
    energy = grid_spectrum(x, p, k).reshape(-1, x.shape[1])  # [F**k, units]
    total = energy.sum(0) - energy[0]  # variance over the grid (times p**k)
    live = total > 1e-9 * energy.sum(0)
    denom = torch.where(live, total, torch.ones_like(total))
    freqs = range(1, n_freq + 1)
    pure = (frequency_block_masks(p, k, [[f] for f in freqs]) @ energy / denom).T  # [units, n_freq]
    family = (frequency_block_masks(p, k, [harmonics(f, p, harmonic_order) for f in freqs]) @ energy / denom).T
    freq = pure.argmax(1) + 1
    fraction = family.gather(1, (freq - 1)[:, None]).squeeze(1)
    freq = torch.where(live, freq, torch.zeros_like(freq))
    fraction = torch.where(live, fraction, torch.zeros_like(fraction)).clamp(0, 1)
    return UnitFrequencies(
        hook=hook,
        freq=freq,
        fraction=fraction.float(),
        clustered=live & (fraction >= threshold),
        fraction_by_freq=torch.where(live[:, None], pure, torch.zeros_like(pure)).float(),
        live=live,
        threshold=float(threshold),
        harmonic_order=harmonic_order,
    )


def harmonic_family(freqs: Sequence[int], p: int, harmonic_order: int) -> list[int]:
    """``freqs`` with the harmonics a nonlinearity of ``harmonic_order`` creates from them: sorted, distinct, in
    ``1..(p-1)//2``. The one place a set of key frequencies becomes the family an ablation removes.

    Example:
        >>> harmonic_family([3, 7], 23, 2)
        [3, 6, 7, 9]
    """
    return sorted({h for f in freqs for h in harmonics(f, p, harmonic_order) if h <= n_frequencies(p)})


def default_harmonic_order(model: nn.Module, task: ModularArithmetic, spec: Optional[AnalysisSpec]) -> int:
    """Harmonics a model's nonlinearity creates: the spec's ``harmonic_order``, 2 for a model without a spec."""
    return 2 if spec is None else int(spec.harmonic_order)


def unit_frequencies(
    model: nn.Module,
    task: ModularArithmetic,
    hook: Optional[str] = None,
    *,
    pos: Optional[int] = -1,
    threshold: float = CLUSTER_THRESHOLD,
    harmonic_order: Optional[int] = None,
) -> UnitFrequencies:
    """Each unit's frequency and the fraction of its variance that frequency's family explains.

    Args:
        model: Any ``HookedRootModule`` mapping ``[batch, k]`` operands to ``[batch, p]`` logits.
        task: The task whose full grid the model is run on.
        hook: Hook of the units (``None``: the model's ``analysis_spec().neurons``).
        pos: Position read from a ``[batch, pos, units]`` activation (default the last).
        threshold: Family-block fraction to count as clustered (default 0.85, Nanda et al.).
        harmonic_order: Harmonics credited to a unit's frequency (default from the
            model's activation: see :func:`default_harmonic_order`).

    Example:
        >>> import fourier_interp as fi
        >>> res = fi.unit_frequencies(fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11))
        >>> res.counts[[2, 5]].tolist(), res.share_clustered
        ([9, 9], 1.0)
    """
    check_model(model, check_task(task))
    hook = resolve_hook(model, hook)
    order = harmonic_order or default_harmonic_order(model, task, model_spec(model))
    acts = _run_grid(model, task, [hook], pos=pos)[1][hook]
    return cluster_units(acts, task.p, task.k, order, threshold, hook=hook)


# ---------------------------------------------------------------------- logits
def logit_frequencies(
    logits: Float[Tensor, "n p"], p: int, k: int, signs: Optional[Sequence[int]] = None
) -> LogitFrequencies:
    """Fraction of the centred logit variance explained by each frequency's ``cos(w (s.a - c))``.

    The logits ``L[x, c]`` over the full grid are centred: each input's mean over answers is
    removed (an offset that cannot tell answers apart), and so is, for each answer, every
    component that depends on fewer than all k operands (the mean over each operand axis,
    removed in turn). Such terms ``f(a_j, c)`` — what a ReLU's linear part or a
    transformer's residual stream leaves in the logits — move answers for one operand alone
    and cannot compute the sum; what remains is the interaction the algorithm is about. The
    direction ``D_f[x, c] = cos(w_f (s.a_x - c))`` lies in that interaction part, orthogonal
    to ``D_g`` for ``g != f``; ``fraction[f-1] = <L, D_f>^2 / (|D_f|^2 |L|^2)`` and
    ``coef[f-1] = <L, D_f> / |D_f|^2``.

    Args:
        logits: ``[p**k, p]`` logits on ``task.inputs``.
        signs: Operand signs (``task.signs``); default all +1.

    Example:
        >>> import fourier_interp as fi
        >>> from fourier_interp.analysis import logit_frequencies
        >>> logits = fi.answer_directions(11, 2, 3) + 0.5 * fi.answer_directions(11, 2, 4)
        >>> res = logit_frequencies(logits, 11, 2)
        >>> res.order[:2], round(res.total, 6)
        ([3, 4], 1.0)
    """
    L = check_grid(logits, p, k, what="logits")
    if L.shape[1] != p:
        raise InvalidArgumentError(f"logits has {L.shape[1]} columns; expected p={p} answers")
    L = L - L.mean(1, keepdim=True)  # an offset shared by every answer
    grid = L.reshape(*([p] * k), p)
    for axis in range(k):  # terms that depend on fewer than all k operands (for each answer)
        grid = grid - grid.mean(axis, keepdim=True)
    L = grid.reshape(p**k, p)
    total = L.pow(2).sum().clamp_min(1e-300)
    n_freq = n_frequencies(p)
    s = torch.ones(k, dtype=torch.long) if signs is None else torch.as_tensor(signs, dtype=torch.long)
    grid = torch.cartesian_prod(*[torch.arange(p)] * k).reshape(-1, k)
    t = (grid * s).sum(-1).remainder(p).double()  # s.a mod p per row
    w = 2 * math.pi * torch.arange(1, n_freq + 1, dtype=torch.float64) / p
    c = torch.arange(p, dtype=torch.float64)
    cos_c, sin_c = torch.cos(c[:, None] * w), torch.sin(c[:, None] * w)  # [p, n_freq]
    dot = torch.zeros(n_freq, dtype=torch.float64)
    for rows in torch.split(torch.arange(p**k), 65536):
        angle = t[rows, None] * w  # [rows, n_freq]
        # cos(x - y) = cos x cos y + sin x sin y, summed over answers c first
        dot += (torch.cos(angle) * (L[rows] @ cos_c) + torch.sin(angle) * (L[rows] @ sin_c)).sum(0)
    norm2 = p**k * p / 2  # |D_f|^2 for 1 <= f < p/2
    return LogitFrequencies(fraction=(dot**2 / (norm2 * total)).float(), coef=(dot / norm2).float())


# ------------------------------------------------------------------- combined
def analyze_frequencies(
    model: nn.Module,
    task: ModularArithmetic,
    hook: Optional[str] = None,
    *,
    pos: Optional[int] = -1,
    threshold: float = CLUSTER_THRESHOLD,
    harmonic_order: Optional[int] = None,
    rel_threshold: float = REL_THRESHOLD,
    grid: Optional[tuple[Tensor, dict[str, Tensor]]] = None,
) -> FrequencyReport:
    """Key frequencies from weights, units and logits, computed from one pass over the full grid.

    Args:
        model: Any ``HookedRootModule`` mapping ``[batch, k]`` operands to ``[batch, p]``
            logits. Built-in models supply their weights and neuron hook through
            ``analysis_spec()``; for other models the weight method is skipped.
        hook: Hook of the hidden units (``None``: the spec's neurons, or no unit
            clustering for a model without a spec).
        threshold: As in :func:`unit_frequencies`.
        harmonic_order: As in :func:`unit_frequencies`.
        pos: As in :func:`unit_frequencies`.
        rel_threshold: A frequency is in a method's set when its measure is at least
            this times the top frequency's.
        grid: ``(logits, {hook: acts})`` already computed by :func:`run_grid` with the
            same ``hook`` and ``pos`` (lets a caller reuse one pass for several analyses).

    Example:
        >>> import fourier_interp as fi
        >>> report = fi.analyze_frequencies(fi.planted_mlp(p=11, freqs=[1, 4]), fi.ModularArithmetic(p=11))
        >>> report.key_frequencies, report.methods, report.agree
        ([1, 4], {'weights': [1, 4], 'units': [1, 4], 'logits': [1, 4]}, True)
    """
    check_model(model, check_task(task))
    if not 0 < rel_threshold <= 1:
        raise InvalidArgumentError(f"rel_threshold={rel_threshold!r}: expected a fraction in (0, 1]")
    if hook is not None or model_spec(model) is not None:
        hook = resolve_hook(model, hook)
    return _analyze_frequencies(model, task, hook, pos=pos, threshold=threshold, harmonic_order=harmonic_order,
                                rel_threshold=rel_threshold, grid=grid)


def _analyze_frequencies(
    model: nn.Module,
    task: ModularArithmetic,
    hook: Optional[str],
    *,
    pos: Optional[int] = -1,
    threshold: float = CLUSTER_THRESHOLD,
    harmonic_order: Optional[int] = None,
    rel_threshold: float = REL_THRESHOLD,
    grid: Optional[tuple[Tensor, dict[str, Tensor]]] = None,
) -> FrequencyReport:
    """:func:`analyze_frequencies` once its arguments are checked (``hook`` resolved: a name or ``None``)."""
    spec = model_spec(model)
    if grid is None:
        grid = _run_grid(model, task, [hook] if hook else [], pos=pos)
    logits, acts = grid
    if hook is not None and hook not in acts:
        raise InvalidArgumentError(f"grid holds activations of {sorted(acts)}, not of hook {hook!r}")
    accuracy = split_accuracy(logits, task, "all")
    logit_res = logit_frequencies(logits, task.p, task.k, task.signs)
    methods: dict[str, list[int]] = {}
    weights = weight_spectra(spec) if spec is not None else {}
    weight_set = _weights_key(weights, rel_threshold)
    if weight_set is not None:
        methods["weights"] = weight_set
    units = None
    if hook is not None:
        order = harmonic_order or default_harmonic_order(model, task, spec)
        units = cluster_units(acts[hook], task.p, task.k, order, threshold, hook=hook)
        methods["units"] = units.frequencies(rel_threshold)
    methods["logits"] = logit_res.frequencies(rel_threshold)

    if units is None:
        key, rule = methods["logits"], "logits only (no unit hook)"
    elif methods["units"]:
        key, rule = methods["units"], "frequencies of the clustered units"
    else:
        key, rule = methods["logits"], "logits (no clustered units)"
    return FrequencyReport(
        p=task.p,
        k=task.k,
        hook=hook,
        accuracy=accuracy,
        logits=logit_res,
        units=units,
        weights=weights,
        methods=methods,
        key_frequencies=key,
        rule=rule,
        rel_threshold=float(rel_threshold),
    )


def key_frequencies(model: nn.Module, task: ModularArithmetic, hook: Optional[str] = None, **kwargs) -> list[int]:
    """The key frequencies of ``model`` on ``task``: sorted ints in ``1..(p-1)//2``.

    The frequencies of the clustered hidden units (see :func:`analyze_frequencies`, which
    takes the same arguments, states the rule and reports each method's set).

    Example:
        >>> import fourier_interp as fi
        >>> fi.key_frequencies(fi.planted_mlp(p=13, freqs=[2, 3, 6]), fi.ModularArithmetic(p=13))
        [2, 3, 6]
    """
    return analyze_frequencies(model, task, hook, **kwargs).key_frequencies
