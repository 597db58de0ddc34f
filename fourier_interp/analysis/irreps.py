"""Fourier analysis over any finite group: irreps instead of frequencies.

The group analogue of :mod:`.frequencies` (Chughtai, Chan, Nanda, "A Toy Model of
Universality", ICML 2023). With ``G = task.group`` and its Fourier basis
(``G.fourier_basis()``, rows grouped by irrep):

* :func:`irrep_norms` — how much of a weight's energy along its token axis lies in each
  irrep's rows (embeddings and unembeddings: the key irreps of the weights).
* :func:`unit_irreps` — each hidden unit's activations over the full input grid, transformed
  on every operand axis; a unit belongs to irrep ``rho`` when the block of coefficients whose
  every axis is trivial or ``rho`` (not all trivial) holds most of its variance — Nanda et
  al.'s ``{const, cos f, sin f}^2`` block, for irreps. With ``harmonics=True`` the block also
  holds the single-operand terms of the irreps in ``rho x rho``, which a square or ReLU makes
  from ``rho``'s entries (the group's version of the harmonic ``2f``).
* :func:`logit_irreps` — the share of the centred logit variance explained by each irrep's
  ``chi_rho(g_1 ... g_k z^-1)`` term (GCR's readout; for Z_p this is ``2 cos(w (a + b - c))``,
  the same numbers as :func:`~.frequencies.logit_frequencies`), and the share of the centred
  logits that depends on the operands only through their product (``answer_share``): GCR is
  about that part (see :class:`LogitIrreps`).
* :func:`restricted_logits`, :func:`excluded_logits` — keep, or remove, the components of the
  logits that are functions of the answer's irreps ``rho(g_1 ... g_k)`` (Nanda et al.'s
  restricted and excluded losses, over irreps).
* :func:`irrep_ablation_hook` — a hook that projects a unit's activations over the grid off
  the coefficients that carry the given irreps on any operand axis.

Every function takes the task, which owns the group and the answers (``task.labels``); the
model only supplies activations or logits.

Example:
    >>> import fourier_interp as fi
    >>> from fourier_interp.analysis.irreps import logit_irreps
    >>> s4 = fi.groups.symmetric(4)
    >>> task = fi.GroupTask(s4)
    >>> logits = fi.evaluation.grid_logits(fi.planted_gcr(s4, ["(3,1)"]), task)
    >>> res = logit_irreps(logits, task)
    >>> res.key, round(res.total(res.key), 4)
    (['(3,1)'], 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
from jaxtyping import Float
from torch import Tensor, nn

from ..checks import check_group_task, check_hook_names, check_hooked, check_model
from ..errors import InvalidArgumentError
from ..evaluation import _grid_logits, loss_fn
from ..groups import Group
from ..tasks import GroupTask
from .grid import check_grid, model_spec, resolve_hook, run_grid

UNIT_THRESHOLD = 0.85  # Nanda et al.'s share of a unit's variance in one block
REL_THRESHOLD = 0.1  # an irrep is key when its share is at least this times the top one's
KEY_MIN_SHARE = 0.01  # ... and at least 1% of the whole
UNITS_RULE_SHARE = 0.5  # the key irreps are the clustered units' when at least this share of live units is clustered


# ----------------------------------------------------------------- weights
def irrep_norms(x: Tensor, group: Group, dim: int = 0, normalize: bool = True) -> Float[Tensor, " irreps"]:
    """Energy of ``x`` along its group axis ``dim`` per irrep (``group.irreps()`` order), summed over other axes.

    Args:
        x: Values over the group along ``dim`` (e.g. an embedding ``[order, d]``, dim 0).
        normalize: Fractions of the non-trivial energy (the trivial irrep's share, a
            constant over the group, is reported but left out of the total).

    Example:
        >>> import torch, fourier_interp as fi
        >>> d5 = fi.groups.dihedral(5)
        >>> x = d5.irrep("rot2").matrices[:, :, 0]          # [10, 2]: rot2's first column
        >>> irrep_norms(x, d5).argmax().item(), d5.irrep_names[3]
        (3, 'rot2')
    """
    basis = group.fourier_basis(device=x.device, dtype=torch.float64)
    coeffs = torch.tensordot(basis, x.double().movedim(dim, 0), dims=([1], [0])).reshape(group.order, -1).pow(2).sum(1)
    energy = torch.zeros(len(group.irreps()), dtype=torch.float64, device=x.device)
    energy.index_add_(0, group.basis_irreps().to(x.device), coeffs)
    if normalize:
        energy = energy / energy[1:].sum().clamp_min(1e-300)
    return energy


# ------------------------------------------------------------------ grids
def grid_irrep_spectrum(x: Float[Tensor, "n ..."], group: Group, k: int) -> Tensor:
    """Energy of activations over the full grid per tuple of operand irreps: ``[R] * k + [...]``.

    ``x`` is ``[order**k, ...]`` (computed on ``task.inputs``); every operand axis is
    transformed with the group's Fourier basis and squared coefficients are summed within
    each irrep's rows. Entries sum to the total sum of squares (the basis is orthonormal).
    """
    basis = group.fourier_basis(device=x.device, dtype=torch.float64)
    n_irreps = len(group.irreps())
    onehot = torch.zeros(n_irreps, group.order, dtype=torch.float64, device=x.device)
    onehot[group.basis_irreps().to(x.device), torch.arange(group.order, device=x.device)] = 1.0
    grid = x.double().reshape(*([group.order] * k), *x.shape[1:])
    for j in range(k):
        grid = torch.tensordot(grid, basis, dims=([j], [1])).movedim(-1, j)
    energy = grid.pow(2)
    for j in range(k):
        energy = torch.tensordot(energy, onehot, dims=([j], [1])).movedim(-1, j)
    return energy


def irrep_harmonics(group: Group, name: str) -> list[str]:
    """Irreps in ``rho x rho`` (what a square makes of ``rho``'s entries), other than trivial and ``rho``."""
    rho = group.irrep(name)
    chi2 = rho.character.pow(2)
    out = []
    for rep in group.irreps()[1:]:
        if rep.name != name and float((chi2 * rep.character).sum()) > 1e-6 * group.order:
            out.append(rep.name)
    return out


def irrep_block_masks(group: Group, k: int, harmonics: bool = True) -> Float[Tensor, "irreps tuples"]:
    """``[R, R**k]``: for each irrep, the irrep tuples of its block (see the module docstring).

    Tuples are indexed first operand slowest over ``group.irreps()``; the all-trivial tuple is
    in no block. Row 0 (the trivial irrep) is empty.
    """
    n = len(group.irreps())
    masks = []
    for i, rep in enumerate(group.irreps()):
        member = torch.zeros(n, dtype=torch.bool)
        member[[0, i]] = True
        mask = member
        for _ in range(k - 1):
            mask = (mask[..., None] & member).flatten()
        mask = mask.clone()
        if harmonics and i:
            extra = torch.zeros(n, dtype=torch.bool)
            extra[[group.irrep_names.index(h) for h in irrep_harmonics(group, rep.name)]] = True
            for j in range(k):  # one operand on a harmonic, the others trivial
                axes = [extra if a == j else torch.arange(n) == 0 for a in range(k)]
                single = axes[0]
                for a in range(1, k):
                    single = (single[..., None] & axes[a]).flatten()
                mask |= single
        mask[0] = False
        masks.append(mask)
    return torch.stack(masks).double()


@dataclass
class UnitIrreps:
    """Units clustered by irrep over the input grid (:func:`unit_irreps`).

    Attributes:
        names: The group's irrep names.
        share: ``[units, R]`` share of each unit's non-constant variance in each irrep's block.
        best: ``[units]`` index of each unit's best irrep (``-1`` for dead units).
        clustered: ``[units]`` bool, best share ``>= threshold``.
        live: ``[units]`` bool, the unit varies over the grid.
    """

    names: list[str]
    share: Tensor
    best: Tensor
    clustered: Tensor
    live: Tensor
    threshold: float
    harmonics: bool

    @property
    def share_clustered(self) -> float:
        """Share of live units that are clustered."""
        return float(self.clustered.sum()) / max(1, int(self.live.sum()))

    def counts(self) -> dict[str, int]:
        """Clustered units per irrep name."""
        out: dict[str, int] = {}
        for i in self.best[self.clustered].tolist():
            out[self.names[i]] = out.get(self.names[i], 0) + 1
        return out

    def irreps(self, rel_threshold: float = REL_THRESHOLD) -> list[str]:
        """Irreps with at least ``rel_threshold`` times the most clustered units, most units first."""
        counts = self.counts()
        if not counts:
            return []
        top = max(counts.values())
        return [n for n, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= rel_threshold * top]


def unit_irreps(acts: Tensor, task: GroupTask, threshold: float = UNIT_THRESHOLD,
                harmonics: bool = True) -> UnitIrreps:
    """Cluster hidden units by irrep from their activations over the full grid.

    Args:
        acts: ``[order**k, units]`` activations on ``task.inputs``.
        task: The task (its group and k).
        threshold: A unit is clustered when one irrep's block holds this share of its variance.
        harmonics: Count the single-operand terms of ``rho x rho`` in ``rho``'s block (module docstring).
    """
    check_group_task(task)
    x = check_grid(acts, task.p, task.k)
    x = x - x.mean(0, keepdim=True)
    spectrum = grid_irrep_spectrum(x, task.group, task.k).reshape(-1, x.shape[1])  # [R**k, units]
    total = spectrum.sum(0)
    live = total > 1e-12 * total.max().clamp_min(1e-300)
    share = (irrep_block_masks(task.group, task.k, harmonics) @ spectrum / total.clamp_min(1e-300)).T  # [units, R]
    share[:, 0] = 0.0
    share[~live] = 0.0
    value, best = share.max(1)
    best = torch.where(live, best, torch.full_like(best, -1))
    return UnitIrreps(task.group.irrep_names, share.float(), best, live & (value >= threshold), live, threshold,
                      harmonics)


# ------------------------------------------------------------------ logits
@dataclass
class LogitIrreps:
    """Share of the centred logit variance each irrep's ``chi_rho(g_1 ... g_k z^-1)`` term explains.

    The centred logits split orthogonally into the part that is a function of the answer
    ``t = g_1 ... g_k`` and the candidate ``z`` (its mean over the inputs with that answer)
    and the rest, which varies between inputs with the same answer. The characters
    ``chi_rho(t z^-1)`` lie in the first part, so they can explain at most ``answer_share``.
    GCR says the answer is read through them: :meth:`of_answer` is their share of that part.
    The rest is not GCR's business: a square or ReLU network builds
    ``tr(rho(g_1) rho(g_2) rho(z)^T)`` from a finite sum of products of entries, and the
    terms of that sum that do not cancel depend on ``g_1`` and ``g_2`` apart (``rho(g_1) B
    rho(g_2)`` depends on the product alone only for ``B`` in the irrep's commutant, the
    scalars for a real-type irrep). A power MLP trained on S_4 keeps ~0.15 of its centred
    logits there while its characters explain ~0.95 of the rest (docs/groups.md). Chughtai et
    al. measure the characters against logits centred over ``z`` only (their "logit FVE"),
    which is well below 1 for the networks they explain.

    For an irrep of complex type the twisted character ``tr(J rho(u))`` (``J`` the complex
    structure commuting with ``rho``; ``sin`` for a rotation of Z_n) is also a class
    function of ``u = t z^-1``, but it vanishes at ``u = e`` and moves the peak off the right
    answer, so it is not counted (for Z_p that keeps the shares equal to
    ``fi.logit_frequencies``, which counts ``cos(w (a + b - c))`` alone).

    Attributes:
        names: Irrep names (``fraction[0]``, the trivial irrep, is 0 after centring).
        fraction: ``[R]`` shares of the centred logits; they add up to at most ``answer_share``
            (the directions are orthogonal).
        coef: ``[R]`` the coefficient of each direction in the logits.
        key: Irreps with ``fraction >= max(REL_THRESHOLD * top, KEY_MIN_SHARE)``, by share.
        answer_share: Share of the centred logits that is a function of ``(t, z)``.
    """

    names: list[str]
    fraction: Tensor
    coef: Tensor
    key: list[str] = field(default_factory=list)
    answer_share: float = 1.0

    def total(self, irreps: Sequence[str]) -> float:
        """Share of the centred logits explained by ``irreps`` together."""
        return float(sum(self.fraction[self.names.index(n)] for n in irreps))

    def of_answer(self, irreps: Sequence[str]) -> float:
        """Share of the answer-dependent part of the centred logits explained by ``irreps``' characters."""
        return self.total(irreps) / max(self.answer_share, 1e-300)


def centred_logits(logits: Tensor, task: GroupTask) -> Tensor:
    """Logits less every term that does not depend on all k operands jointly (as in ``logit_frequencies``)."""
    L = check_grid(logits, task.p, task.k, what="logits")
    L = L - L.mean(1, keepdim=True)
    grid = L.reshape(*task.grid_shape, task.p)
    for axis in range(task.k):
        grid = grid - grid.mean(axis, keepdim=True)
    return grid.reshape(task.n, task.p)


def logit_irreps(logits: Float[Tensor, "n order"], task: GroupTask, rel_threshold: float = REL_THRESHOLD) -> LogitIrreps:
    """Share of the centred logits explained by each irrep's character term ``chi_rho(t z^-1)``, ``t`` the answer.

    ``t = task.labels`` (the task's answer, so subtraction and Z_p^* need nothing extra).
    For Z_p, ``chi_f(t - z) = 2 cos(w_f (t - z))``: the same shares as
    :func:`~fourier_interp.analysis.logit_frequencies`.
    """
    check_group_task(task)
    L = centred_logits(logits, task).cpu()
    total = L.pow(2).sum().clamp_min(1e-300)
    g = task.group
    per_answer = task.n / g.order  # rows with each answer
    by_answer = torch.zeros(g.order, g.order, dtype=torch.float64).index_add_(0, task.labels, L.double()) / per_answer
    answer_share = float(by_answer.pow(2).sum() * per_answer / total)
    z = torch.arange(g.order)
    ratio = g.compose(z[:, None], g.inverse(z)[None, :])  # [t, z] -> t z^-1
    fractions, coefs = [], []
    for rep in g.irreps():
        table = rep.character[ratio]  # [order, order]: chi(t z^-1)
        dot = torch.zeros((), dtype=torch.float64)
        for rows in torch.split(torch.arange(task.n), 65536):
            dot = dot + (L[rows] * table[task.labels[rows]]).sum()
        norm2 = task.n * float(table[0].pow(2).sum())  # |D|^2: each row of the grid holds one row of the table
        fractions.append(float(dot**2 / (norm2 * total)) if rep.name != g.irrep_names[0] else 0.0)
        coefs.append(float(dot / norm2))
    fraction = torch.tensor(fractions)
    top = float(fraction.max())
    cut = max(rel_threshold * top, KEY_MIN_SHARE)
    key = [g.irrep_names[i] for i in fraction.argsort(descending=True).tolist() if fraction[i] >= cut and i]
    return LogitIrreps(g.irrep_names, fraction, torch.tensor(coefs), key, min(answer_share, 1.0))


def _answer_projection(logits: Tensor, task: GroupTask, irreps: Sequence[str]) -> Tensor:
    """For each answer, the part of the logits that is a function of ``rho(t)`` entries, ``rho`` in ``irreps``."""
    g = task.group
    rows = g.fourier_basis(device=logits.device, dtype=torch.float64)[g.irrep_rows(list(irreps)).to(logits.device)]
    f = rows[:, task.labels.to(logits.device)]  # [r, n]: the chosen irreps' basis functions of the answer
    # the answer t takes each value order**(k-1) times, so the rows of f are orthogonal with |f_r|^2 = n / order
    coef = f @ logits.double() / (task.n / g.order)  # [r, order]
    return f.T @ coef


def restricted_logits(logits: Tensor, task: GroupTask, irreps: Sequence[str]) -> Tensor:
    """Keep only the components of ``logits`` that are functions of ``rho(t)`` for ``rho`` in ``irreps``,
    plus the mean of what was removed (Nanda et al.'s bias correction)."""
    kept = _answer_projection(logits, task, task.group.check_irrep_names(irreps))
    removed = logits.double() - kept
    return kept + removed.mean(0, keepdim=True)


def excluded_logits(logits: Tensor, task: GroupTask, irreps: Sequence[str]) -> Tensor:
    """``logits`` less their components that are functions of ``rho(t)`` for ``rho`` in ``irreps``."""
    return logits.double() - _answer_projection(logits, task, task.group.check_irrep_names(irreps))


def restricted_loss(logits: Tensor, task: GroupTask, irreps: Sequence[str]) -> float:
    """Cross-entropy of :func:`restricted_logits` over the whole grid."""
    return float(loss_fn(restricted_logits(logits, task, irreps), task.labels))


def excluded_loss(logits: Tensor, task: GroupTask, irreps: Sequence[str]) -> float:
    """Cross-entropy of :func:`excluded_logits` on the training split."""
    idx = task.train_idx
    return float(loss_fn(excluded_logits(logits, task, irreps)[idx], task.labels[idx]))


# ---------------------------------------------------------------- ablation
def project_grid_irreps(x: Tensor, task: GroupTask, irreps: Sequence[str], mode: str = "remove") -> Tensor:
    """Activations over the full grid with the coefficients that carry ``irreps`` on any operand axis removed
    (``mode="remove"``) or alone kept (``"keep"``); trailing axes are kept.

    Example:
        >>> import fourier_interp as fi
        >>> from fourier_interp.analysis.irreps import project_grid_irreps
        >>> task = fi.GroupTask(fi.groups.dihedral(5))
        >>> x = fi.groups.dihedral(5).irrep("rot1").matrices[task.inputs[:, 0], 0, 0]   # rot1 of g1
        >>> project_grid_irreps(x, task, ["rot1"]).abs().max().item() < 1e-6
        True
    """
    if mode not in ("remove", "keep"):
        raise InvalidArgumentError(f"mode={mode!r}: expected 'remove' or 'keep'")
    g, k = task.group, task.k
    names = g.check_irrep_names(irreps)
    on = g.irrep_rows(names).to(x.device)  # [order] rows of the chosen irreps
    basis = g.fourier_basis(device=x.device, dtype=torch.float64)
    grid = x.double().reshape(*task.grid_shape, -1)
    for j in range(k):
        grid = torch.tensordot(grid, basis, dims=([j], [1])).movedim(-1, j)
    hit = torch.zeros(task.grid_shape, dtype=torch.bool, device=x.device)
    for j in range(k):
        shape = [1] * k
        shape[j] = g.order
        hit = hit | on.view(shape)
    keep = ~hit if mode == "remove" else hit
    grid = grid * keep.reshape(*task.grid_shape, 1)
    for j in range(k):
        grid = torch.tensordot(grid, basis, dims=([j], [0])).movedim(-1, j)
    return grid.reshape(x.shape).to(x.dtype)


def irrep_ablation_hook(task: GroupTask, irreps: Sequence[str], mode: str = "remove"):
    """A forward hook that applies :func:`project_grid_irreps` to a unit hook's activations.

    The hook must see the whole grid at once (``fi.evaluation.grid_logits`` runs one pass
    when hooks are given). A ``[batch, pos, units]`` activation is projected at the last
    position (where the transformer reads out).
    """
    names = task.group.check_irrep_names(irreps)

    def hook(act: Tensor, hook=None) -> Tensor:
        if act.shape[0] != task.n:
            raise InvalidArgumentError(f"the irrep ablation needs the whole grid ({task.n} rows), got {act.shape[0]}")
        if act.ndim >= 3:
            out = act.clone()
            out[:, -1] = project_grid_irreps(act[:, -1], task, names, mode)
            return out
        return project_grid_irreps(act, task, names, mode)

    return hook


# ---------------------------------------------------------------- combined
@dataclass
class IrrepReport:
    """Key irreps of a model from its weights, units and logits (:func:`analyze_irreps`).

    Attributes:
        methods: Each method's irreps: ``"units"`` (:meth:`UnitIrreps.irreps`) and ``"logits"``
            (:attr:`LogitIrreps.key`).
        rule: Which method gave ``key_irreps``.
    """

    task: GroupTask
    hook: Optional[str]
    logits: LogitIrreps
    units: Optional[UnitIrreps]
    weights: dict[str, Tensor]
    key_irreps: list[str]
    methods: dict[str, list[str]] = field(default_factory=dict)
    rule: str = ""


def analyze_irreps(model: nn.Module, task: GroupTask, hook: Optional[str] = None, *, pos: Optional[int] = -1,
                   threshold: float = UNIT_THRESHOLD,
                   grid: Optional[tuple[Tensor, dict[str, Tensor]]] = None) -> IrrepReport:
    """Irrep norms of the weights, units clustered by irrep and the logits' character shares, in one grid pass.

    ``key_irreps`` follow the rule of ``fi.analyze_frequencies``: the irreps of the clustered
    units (each with at least a tenth of the most units: what the model computes with) when
    at least half the live units are clustered, or else the irreps whose ``chi_rho`` terms
    explain the logits (:func:`logit_irreps`; the logits alone can under-count an irrep whose units matter
    causally while its character carries ~1% of the logits, as in a transformer trained on
    multiplication mod 23). Weights come from ``analysis_spec()``: the embedding over tokens
    (``embed``), each operand's unit input table (``unit_input_weights``) and the
    unembedding (``unembed``), each as per-irrep energy fractions.

    Example:
        >>> import fourier_interp as fi
        >>> d5 = fi.groups.dihedral(5)
        >>> report = analyze_irreps(fi.planted_gcr(d5, ["rot2"]), fi.GroupTask(d5))
        >>> report.key_irreps, report.units.counts()
        (['rot2'], {'rot2': 16})
    """
    check_hooked(model)
    check_group_task(task)
    spec = model_spec(model)
    if hook is None and spec is not None:
        hook = spec.neurons
    if hook is not None:
        hook = resolve_hook(model, hook)
    if grid is None:
        grid = run_grid(model, task, [hook] if hook else [], pos=pos)
    return _analyze_irreps(model, task, hook, threshold=threshold, grid=grid)


def _analyze_irreps(model: nn.Module, task: GroupTask, hook: Optional[str], *, threshold: float,
                    grid: tuple[Tensor, dict[str, Tensor]]) -> IrrepReport:
    """:func:`analyze_irreps` of a checked model, task and hook, on its grid pass."""
    spec = model_spec(model)
    logits, acts = grid
    weights: dict[str, Tensor] = {}
    if spec is not None:
        g = task.group
        if spec.embed is not None:
            weights["embed"] = irrep_norms(spec.embed[: g.order].detach().cpu(), g, 0).float()
        if spec.unit_input_weights is not None:
            weights["unit_input"] = irrep_norms(spec.unit_input_weights.detach().cpu(), g, 2).float()
        if spec.unembed is not None:
            weights["unembed"] = irrep_norms(spec.unembed.detach().cpu(), g, -1).float()
    logit_res = logit_irreps(logits, task)
    units = unit_irreps(acts[hook], task, threshold) if hook else None
    methods = {"logits": list(logit_res.key)}
    if units is not None:
        methods["units"] = units.irreps()
    if units is None:
        key, rule = methods["logits"], "logits only (no unit hook)"
    elif units.share_clustered >= UNITS_RULE_SHARE:
        key, rule = methods["units"], "irreps of the clustered units"
    else:
        key, rule = methods["logits"], f"logits (under {UNITS_RULE_SHARE:.0%} of live units clustered)"
    return IrrepReport(task, hook, logit_res, units, weights, list(key), methods, rule)


TIE_TOLERANCE = 1e-4  # a right answer must beat every other logit by more than float32 rounding of O(10) logits


def irrep_accuracy(model: nn.Module, task: GroupTask, hook: str, irreps: Sequence[str], mode: str = "remove") -> float:
    """Accuracy on the whole grid with :func:`irrep_ablation_hook` at ``hook``.

    A row counts as right only when its answer's logit beats every other by more than
    :data:`TIE_TOLERANCE`: an ablation that leaves the logits constant (up to rounding
    noise) scores 0, not whatever the noise happens to pick.
    """
    check_model(model, check_group_task(task))
    check_hook_names(model, [hook])
    return _irrep_accuracy(model, task, hook, task.group.check_irrep_names(irreps), mode)


def _irrep_accuracy(model: nn.Module, task: GroupTask, hook: str, irreps: list[str], mode: str = "remove") -> float:
    """:func:`irrep_accuracy` once model, task, hook and irrep names are checked."""
    return strict_accuracy(_grid_logits(model, task, fwd_hooks=[(hook, irrep_ablation_hook(task, irreps, mode))]), task)


def strict_accuracy(logits: Float[Tensor, "n order"], task: GroupTask) -> float:
    """Accuracy over the grid counting a row right only when its answer beats every other logit by
    more than :data:`TIE_TOLERANCE`."""
    logits = logits.cpu()
    labels = task.labels[:, None]
    correct = logits.gather(1, labels).squeeze(1)
    others = logits.scatter(1, labels, float("-inf")).max(1).values
    return float((correct > others + TIE_TOLERANCE).double().mean())
