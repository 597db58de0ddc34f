"""Verification over any finite group: does the model compose elements via representations (GCR)?

:func:`verify_group` is the group analogue of :func:`fi.verify`: the same report type
(:class:`GroupVerificationReport`, a :class:`~.result.VerificationReport` with
``key_irreps``), claims stated in irreps (Chughtai, Chan, Nanda, ICML 2023), each with a
key and a role in :func:`fi.verify`'s vocabulary (:data:`GROUP_CLAIMS`):

============================  =====  ==========================================================
key                           role   claim
============================  =====  ==========================================================
``accuracy``                  core   it solves the task (test accuracy)
``ablation``                  core   projecting the key irreps (and the irreps their squares make)
                                     out of the units' activations over the grid breaks the model:
                                     accuracy near its floor, or the loss up by ``break_loss`` ln|G|
``control``                   core   projecting the other irreps out does not
``unit_projection``           core   every unit projected onto its own strongest m irrep blocks
                                     (m at most a third of the non-trivial irreps, and at most
                                     ``max_blocks``) keeps the model working, and the rest alone
                                     does not (:func:`fi.unit_projection` over irreps)
``logits``                    clock  the key irreps' characters ``chi_rho(g_1 ... g_k z^-1)``
                                     explain the part of the centred logits that depends on the
                                     answer (:class:`~fourier_interp.analysis.irreps.LogitIrreps`)
``inputs``                    clock  the embeddings (or each operand's unit inputs) and the
                                     unembedding concentrate on the key irreps (and the irreps
                                     their squares make)
``restricted_loss``           clock  logits kept to functions of the answer's key irreps keep the
                                     loss low
``excluded_loss``             clock  logits cleared of them lose it
``cosets``                    shape  most units read every operand through the cosets of a
                                     subgroup (Stander et al.; :mod:`~fourier_interp.analysis.cosets`)
``units``                     shape  hidden units are irrep-selective: one irrep's block (with the
                                     single-operand terms its square makes) holds most of a
                                     unit's variance over the grid (what separates GCR's units
                                     from coset indicators, which spread over several irreps)
``answer_share``              info   share of the centred logits that depends on the operands only
                                     through their product
============================  =====  ==========================================================

``clock`` is the role of the full algorithm's claims here too: for a group they are GCR's.
The decision table (:func:`name_group_algorithm`), by key:

============================================  =======================================
claims                                        ``report.algorithm``
============================================  =======================================
``accuracy`` fails                            ``non-representation``
a core or clock claim fails                   ``coset`` if ``cosets`` holds, else
                                              ``non-representation`` (a lookup table, or
                                              a circuit neither GCR nor coset-like)
every core and clock claim holds; ``units``   ``coset``: the units work read through one
fails and ``cosets`` holds                    irrep each, but they are built from coset
                                              indicators, not from irreps
every core and clock claim holds, units at    ``gcr`` (``clock`` on a cyclic group or
one irrep block                               Z_p^*: the same algorithm, named as for
                                              addition)
every core and clock claim holds, units at    ``gcr-superposed`` (``clock-superposed``):
m >= 2 irrep blocks (``report.blocks``)       GCR on units that each superpose m irreps'
                                              products
============================================  =======================================

Units decide between the two descriptions, which overlap: a GCR unit on a non-faithful irrep is
constant on the cosets of its kernel, and trained GCR networks' units are often constant on the
cosets of a point stabiliser (docs/groups.md), so irrep-selective units name GCR even when they
are coset-like. Units that are not irrep-selective by variance (over 0.85 of it in one block)
yet work projected onto one or a few irrep blocks each are GCR too (a D_n network's units hold
~0.7 in one rotation's block and cross terms the computation does not use), unless they are
coset indicators. ``report.passed`` is true for ``gcr``, ``gcr-superposed``, ``clock`` and
``clock-superposed``. For cyclic groups ``key_frequencies`` lists the key irreps as frequencies
(in the log basis for multiplication mod p).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Mapping, Optional

import torch
from torch import nn

from .. import jsonio
from ..analysis.cosets import COSET_TOLERANCE, unit_cosets
from ..analysis.grid import _run_grid, model_spec, resolve_hook
from ..analysis.irreps import (
    _analyze_irreps,
    _irrep_accuracy,
    excluded_loss,
    irrep_ablation_hook,
    irrep_harmonics,
    restricted_loss,
    strict_accuracy,
)
from ..checks import check_group_task, check_model
from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from ..evaluation import _grid_logits, loss_fn, split_accuracy
from ..groups import MultiplicativeGroup
from ..interventions.units import UnitProjection, _unit_projection
from ..tasks import GroupTask
from .claims import Claim
from .result import VerificationReport


@dataclass
class GroupThresholds:
    """Every threshold of :func:`verify_group` (the group versions of ``fi.Thresholds``)."""

    accuracy: float = 0.99
    unit_fraction: float = 0.85
    selective_share: float = 0.5
    logit_fraction: float = 0.9
    input_fraction: float = 0.7
    collapse: float = 0.1
    control_accuracy: float = 0.95
    restricted_gap: float = 0.1
    excluded_gap: float = 0.5
    coset_share: float = 0.5
    coset_tolerance: float = COSET_TOLERANCE
    max_blocks: int = 3
    projection_accuracy_drop: float = 0.01
    projection_loss_gap: float = 0.1
    break_loss: float = 0.5

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


GROUP_CLAIMS: dict[str, tuple[str, str]] = {
    "accuracy": ("core", "accuracy on the test split at least `accuracy`"),
    "ablation": ("core", "projecting the key irreps and the irreps their squares make out of the units over the grid "
                         "takes accuracy to within `collapse` of its floor (every irrep projected out), or raises the "
                         "loss by at least `break_loss` ln|G|"),
    "control": ("core", "projecting the irreps outside the key irreps and their squares out keeps accuracy at least "
                        "`control_accuracy`"),
    "unit_projection": ("core", "every unit projected onto its own strongest m <= `max_blocks` irrep blocks keeps the "
                                "model working, and the rest alone does not"),
    "logits": ("clock", "the key irreps' characters explain at least `logit_fraction` of the answer-dependent part of "
                        "the centred logits"),
    "inputs": ("clock", "the weights hold at least `input_fraction` of their energy on the key irreps and their "
                        "squares"),
    "restricted_loss": ("clock", "keeping the logits' functions of the answer's key irreps costs at most "
                                 "`restricted_gap` ln|G|"),
    "excluded_loss": ("clock", "removing them costs at least `excluded_gap` ln|G| on the train split"),
    "cosets": ("shape", "at least `coset_share` of live units read every operand through the cosets of a subgroup"),
    "units": ("shape", "at least `selective_share` of live units hold `unit_fraction` of their variance in one irrep's "
                      "block"),
    "answer_share": ("info", "share of the centred logits that depends on the operands only through their product"),
}
"""The claims of :func:`verify_group` by key: ``key -> (role, definition)`` (module docstring)."""


class GroupAlgorithm(str, Enum):
    """What :func:`verify_group` found; compares equal to its string (``"gcr"``)."""

    GCR = "gcr"
    GCR_SUPERPOSED = "gcr-superposed"
    CLOCK = "clock"
    CLOCK_SUPERPOSED = "clock-superposed"
    COSET = "coset"
    NON_REPRESENTATION = "non-representation"

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return repr(self.value)

    @property
    def description(self) -> str:
        return {
            "gcr": "group composition via representations: the answer read through the key irreps' characters",
            "gcr-superposed": "GCR on units that each superpose a few irreps' products",
            "clock": "the clock (GCR on a cyclic group): Fourier Multiplication",
            "clock-superposed": "the clock on units that each superpose a few frequencies' products",
            "coset": "a coset circuit: units read the operands through the cosets of subgroups, not through irreps",
            "non-representation": "neither GCR nor coset-like: memorisation, an untrained net or another algorithm",
        }[self.value]


def name_group_algorithm(claims: Mapping[str, Claim], cyclic: bool,
                         blocks: Optional[int] = 1) -> tuple[GroupAlgorithm, str]:
    """``(name, reason)`` from the claims by key (the decision table of the module docstring).

    ``blocks`` is the per-unit projection's count (``report.blocks``): 2 or more names a
    superposed GCR.
    """
    acc = claims.get("accuracy")
    if acc is None or acc.passed is False:
        return GroupAlgorithm.NON_REPRESENTATION, "the model does not solve the task"
    failed = [c.key for c in claims.values() if c.role in ("core", "clock") and c.passed is False]
    cosets, units = claims.get("cosets"), claims.get("units")
    coset_like = cosets is not None and bool(cosets.passed)
    if not failed and coset_like and units is not None and units.passed is False:
        return GroupAlgorithm.COSET, "not GCR (units failed): not irrep-selective; units read the operands through cosets"
    if not failed:
        if blocks is not None and blocks >= 2:
            name = GroupAlgorithm.CLOCK_SUPERPOSED if cyclic else GroupAlgorithm.GCR_SUPERPOSED
            return name, f"every core and clock claim holds; units superpose {blocks} irreps' blocks"
        name = GroupAlgorithm.CLOCK if cyclic else GroupAlgorithm.GCR
        return name, "every core and clock claim holds"
    if coset_like:
        return GroupAlgorithm.COSET, f"not GCR ({', '.join(failed)} failed); units read the operands through cosets"
    return GroupAlgorithm.NON_REPRESENTATION, f"not GCR ({', '.join(failed)} failed) and units are not coset-like"


@dataclass(repr=False)
class GroupVerificationReport(VerificationReport):
    """A :class:`VerificationReport` over a group: claims in irreps, ``key_irreps`` their names."""

    key_irreps: list[str] = field(default_factory=list)

    @property
    def failed_claims(self) -> list[Claim]:
        """The claims that failed and kept the model from ``gcr``: core and clock, and ``units`` on a coset circuit."""
        return [c for c in self.claims if c.passed is False and (
            c.role in ("core", "clock") or (c.key == "units" and self.algorithm == GroupAlgorithm.COSET))]

    def to_html(self, path=None) -> str:
        """One self-contained HTML page (claims by key and role, irrep figures); written to ``path`` if given."""
        from ..report.groups import render_group_html

        page = render_group_html(self)
        if path is not None:
            from ..storage import atomic_write_bytes

            atomic_write_bytes(Path(path), page.encode())
        return page

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["group"] = self.task.group.spec
        out["key_irreps"] = list(self.key_irreps)
        return jsonio.to_json(out)

    def __str__(self) -> str:
        head = (f"Group composition via representations (GCR) check: {self.name} ({self.model_class}) on {self.task}\n"
                f"verdict: {'PASS' if self.passed else 'FAIL'}    algorithm: {self.algorithm}    "
                f"key irreps: {self.key_irreps}    units: {self.neurons!r}\nwhy: {self.reason}")
        if self.failed_claims:
            head += "\nfailed: " + "; ".join(c.name for c in self.failed_claims)
        details = "\n".join(f"  {i}. {c.detail}" for i, c in enumerate(self.claims, 1))
        return f"{head}\n\n{self.table()}\n\ndetails:\n{details}"

    def __repr__(self) -> str:
        return (f"GroupVerificationReport({self.name!r}, passed={self.passed}, algorithm={str(self.algorithm)!r}, "
                f"key_irreps={self.key_irreps}, failed={[c.name for c in self.failed_claims]})")


def _is_cyclic(task: GroupTask) -> bool:
    return isinstance(task.group, MultiplicativeGroup) or task.group.spec.startswith("cyclic(")


def verify_group(
    model: nn.Module,
    task: GroupTask,
    hook: Optional[str] = None,
    *,
    thresholds: Optional[GroupThresholds] = None,
    name: Optional[str] = None,
    **overrides: float,
) -> GroupVerificationReport:
    """Decide, with evidence, whether ``model`` computes ``task`` (any group) by GCR.

    Args:
        model: A built-in model (roles from ``analysis_spec()``) or any hooked model mapping
            ``[batch, k]`` element tokens to ``[batch, order]`` logits.
        task: A ``fi.GroupTask`` (or ``fi.ModularArithmetic``, e.g. ``op="mul"``).
        hook: Hook of the hidden units (default: the spec's neurons; required otherwise).
        thresholds: A :class:`GroupThresholds`; single thresholds may be passed as keywords.
        name: A name for the report.

    Returns:
        A :class:`GroupVerificationReport`: ``.passed``, ``.algorithm``, ``.key_irreps``,
        ``.claims``; ``print(report)`` shows the table.

    Example:
        >>> import fourier_interp as fi
        >>> from fourier_interp.verification.groups import verify_group
        >>> s4 = fi.groups.symmetric(4)
        >>> report = verify_group(fi.planted_gcr(s4, ["(3,1)"]), fi.GroupTask(s4))
        >>> report.passed, report.algorithm, report.key_irreps
        (True, 'gcr', ['(3,1)'])
    """
    check_model(model, check_group_task(task))  # the door: everything below trusts model, task and hook
    base = thresholds or GroupThresholds()
    unknown = set(overrides) - set(base.to_dict())
    if unknown:
        raise InvalidArgumentTypeError(f"verify_group() got unknown threshold(s) {sorted(unknown)}; allowed: {sorted(base.to_dict())}")
    th = GroupThresholds(**{**base.to_dict(), **overrides})
    spec = model_spec(model)
    if hook is None and spec is None:
        raise InvalidArgumentError(f"{type(model).__name__} has no analysis_spec(): name its hidden units with hook=<hook name>")
    hook = resolve_hook(model, hook)
    g = task.group
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        logits, acts = _run_grid(model, task, [hook], pos=-1)
        report = _analyze_irreps(model, task, hook, threshold=th.unit_fraction, grid=(logits, acts))
        key = report.key_irreps
        cosets = unit_cosets(acts[hook], task, th.coset_tolerance)
        projection, projection_claim = _claim_unit_projection(model, task, hook, (logits, acts), th)
        claims = [_claim_accuracy(logits, task, th), *_claims_causal(model, task, logits, hook, key, th),
                  projection_claim, _claim_units(report, th), *_claims_logits(report, th),
                  _claim_weights(report, key, g, th), _claim_cosets(cosets, hook, th)]
    finally:
        model.train(was_training)
    by_key = {c.key: c for c in claims}
    claims = _order(claims)
    cyclic = _is_cyclic(task)
    algorithm, reason = name_group_algorithm(by_key, cyclic, projection.blocks)
    passed = algorithm in (GroupAlgorithm.GCR, GroupAlgorithm.GCR_SUPERPOSED, GroupAlgorithm.CLOCK,
                           GroupAlgorithm.CLOCK_SUPERPOSED)
    freqs = sorted(int(n[1:]) for n in key) if cyclic else []
    return GroupVerificationReport(
        name=name or type(model).__name__, model_class=type(model).__name__, task=task, neurons=hook, passed=passed,
        key_frequencies=freqs, claims=claims, thresholds=th, algorithm=algorithm, reason=reason,
        extras={"irreps": report, "cosets": cosets, "unit_projection": projection},
        timings={"total_s": time.perf_counter() - start}, key_irreps=list(key), blocks=projection.blocks)


def _order(claims: list[Claim]) -> list[Claim]:
    """Claims in :data:`GROUP_CLAIMS` order (the table reads like the module docstring)."""
    rank = {key: i for i, key in enumerate(GROUP_CLAIMS)}
    return sorted(claims, key=lambda c: rank.get(c.key, len(rank)))


# --------------------------------------------------------------------- claims
def _claim(key: str, name: str, value, threshold: str, passed, detail: str) -> Claim:
    return Claim(name, value, threshold, passed, detail, key=key, role=GROUP_CLAIMS[key][0])


def _claim_accuracy(logits, task: GroupTask, th: GroupThresholds) -> Claim:
    split = "test" if len(task.test_idx) else "all"
    acc = split_accuracy(logits, task, split)
    return _claim("accuracy", "solves the task", acc, f">= {th.accuracy}", acc >= th.accuracy,
                  f"accuracy on the {split} split ({len(task.split(split))} inputs)")


def _claim_units(report, th: GroupThresholds) -> Claim:
    units = report.units
    share = units.share_clustered
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(units.counts().items(), key=lambda kv: -kv[1]))
    return _claim("units", "units are irrep-selective", share, f">= {th.selective_share} of live units",
                  share >= th.selective_share,
                  f"{int(units.clustered.sum())} of {int(units.live.sum())} live units at {report.hook!r} hold >= "
                  f"{th.unit_fraction} of their variance in one irrep's block ({counts or 'none'})")


def _claim_unit_projection(model, task: GroupTask, hook: str, grid, th: GroupThresholds
                           ) -> tuple[UnitProjection, Claim]:
    """The causal unit claim over irreps: every unit projected onto its own strongest ``m`` irrep blocks."""
    res = _unit_projection(model, task, hook, max_blocks=th.max_blocks, harmonic_order=2, pos=-1,
                           accuracy_drop=th.projection_accuracy_drop, loss_gap=th.projection_loss_gap,
                           collapse=th.collapse, loss_rise=th.break_loss, grid=grid)
    steps = "; ".join(f"{m} block{'s' if m > 1 else ''}: accuracy {a:.3f}, loss {lo:.3g}, rest alone {r:.3f}"
                      for m, a, lo, r in zip(res.counts, res.keep_accuracy, res.keep_loss, res.rest_accuracy))
    if res.blocks is not None:
        counts: dict[str, int] = {}
        for row in res.unit_irreps:
            counts[row[0]] = counts.get(row[0], 0) + 1
        top = ", ".join(f"{n}: {c}" for n, c in sorted(counts.items(), key=lambda kv: -kv[1])[:5])
        verdict = (f"each unit computes with {res.blocks} irrep block{'s' if res.blocks > 1 else ''} "
                   + ("(one irrep per unit)" if res.blocks == 1 else "(units superpose irreps' products)")
                   + f"; units by strongest irrep {{{top}}}")
    else:
        verdict = (f"no count up to {res.counts[-1]} keeps the model working with the rest alone failing: the units "
                   "do not compute irrep by irrep")
    return res, _claim(
        "unit_projection", "units compute irrep by irrep (per-unit projection)",
        None if res.blocks is None else float(res.blocks), f"m <= {res.counts[-1]}", res.blocks is not None,
        f"{verdict}. Every unit at {hook!r} replaced by its projection onto its own strongest m irrep blocks: {steps}; "
        f"unchanged {res.base_accuracy:.3f} (loss {res.base_loss:.3g}), units at their mean {res.floor_accuracy:.3f}")


def _claims_logits(report, th: GroupThresholds) -> list[Claim]:
    res, key = report.logits, report.key_irreps
    share = res.of_answer(key) if key else 0.0
    return [
        _claim("logits", "key irreps' characters explain the answer's logits", share, f">= {th.logit_fraction}",
               bool(key) and share >= th.logit_fraction,
               f"chi_rho(g1...gk z^-1) of {key} (key irreps: {report.rule}) explain {share:.3f} of the centred "
               f"logits' answer-dependent part ({res.total(key) if key else 0.0:.3f} of all the centred logits; "
               f"{len(res.names) - 1} non-trivial irreps)"),
        _claim("answer_share", "logits depend on the operands through their product", res.answer_share, "finding",
               None, f"{res.answer_share:.3f} of the centred logit variance is a function of the answer and the "
                     "candidate; the rest varies between inputs with the same answer (the terms a finite sum of "
                     "products leaves over, docs/groups.md)"),
    ]


def _claim_weights(report, key: list[str], g, th: GroupThresholds) -> Claim:
    if not report.weights or not key:
        return _claim("inputs", "weights concentrate on the key irreps", None, f">= {th.input_fraction}", None,
                      "no embedding or unit input weights named by analysis_spec()" if key else "no key irreps")
    family = set(key) | {h for name in key for h in irrep_harmonics(g, name)}
    idx = [g.irrep_names.index(n) for n in family]
    shares = {role: float(w[idx].sum()) for role, w in report.weights.items()}
    value = min(shares.values())
    return _claim("inputs", "weights concentrate on the key irreps", value, f">= {th.input_fraction}",
                  value >= th.input_fraction,
                  "share of non-trivial weight energy on the key irreps and the irreps their squares make: "
                  + ", ".join(f"{role} {v:.3f}" for role, v in shares.items()))


def _claim_cosets(cosets, hook: str, th: GroupThresholds) -> Claim:
    share = cosets.share_coset
    ranked = sorted(cosets.counts().items(), key=lambda kv: -kv[1])
    counts = ", ".join(f"{'x'.join(map(str, k))}: {v}" for k, v in ranked)
    return _claim("cosets", "units read the operands through cosets", share, f">= {th.coset_share} of live units",
                  share >= th.coset_share,
                  f"{int((cosets.coset_like & cosets.live).sum())} of {int(cosets.live.sum())} live units at {hook!r} "
                  f"are constant (within {cosets.tolerance}) on the cosets of a subgroup other than {{e}} on every "
                  f"operand (subgroup orders per operand: {counts or 'none'})")


def _claims_causal(model, task: GroupTask, logits, hook: str, key: list[str], th: GroupThresholds) -> list[Claim]:
    g = task.group
    ln = math.log(g.order)
    if not key:
        return [_claim(k, n, None, "", None, "no key irreps") for k, n in (
            ("ablation", "ablating the key irreps breaks the model"), ("control", "ablating the other irreps does not"),
            ("restricted_loss", "restricted loss stays low"), ("excluded_loss", "excluded loss rises"))]
    nontrivial = g.irrep_names[1:]
    floor = max(_irrep_accuracy(model, task, hook, nontrivial), 1.0 / g.order)
    family = set(key) | {h for name in key for h in irrep_harmonics(g, name)}
    harmonics = [n for n in nontrivial if n in family and n not in key]
    ablated = _grid_logits(model, task, fwd_hooks=[(hook, irrep_ablation_hook(task, [n for n in nontrivial if n in family]))])
    removed = strict_accuracy(ablated, task)
    full = float(loss_fn(logits, task.labels))
    rise = (float(loss_fn(ablated, task.labels)) - full) / ln
    limit = floor + th.collapse * (1 - floor)
    claims = [_claim("ablation", "ablating the key irreps breaks the model", removed, f"<= {limit:.3f}",
                     removed <= limit or rise >= th.break_loss,
                     f"accuracy {removed:.3f} with {key} (and the irreps their squares make, {harmonics or 'none'}) "
                     f"projected out of {hook!r} over the grid (every irrep out: {floor:.3f}); the loss rises by "
                     f"{rise:.3f} ln|G| (breaks at {th.break_loss}: the answer's probability falls below "
                     f"|G|^-{th.break_loss} on geometric average, as for fi.verify's ablation claim)")]
    others = [n for n in nontrivial if n not in family]
    if others:
        kept = _irrep_accuracy(model, task, hook, others)
        claims.append(_claim("control", "ablating the other irreps does not", kept, f">= {th.control_accuracy}",
                             kept >= th.control_accuracy,
                             f"accuracy {kept:.3f} with the {len(others)} irreps outside the key irreps and their "
                             "squares projected out"))
    else:
        claims.append(_claim("control", "ablating the other irreps does not", None, f">= {th.control_accuracy}", None,
                             "every irrep is a key irrep or made by their squares"))
    full_train = float(loss_fn(logits[task.train_idx], task.labels[task.train_idx]))
    gap_r = (restricted_loss(logits, task, key) - full) / ln
    gap_e = (excluded_loss(logits, task, key) - full_train) / ln
    claims.append(_claim("restricted_loss", "restricted loss stays low", gap_r, f"<= {th.restricted_gap} ln|G|",
                         gap_r <= th.restricted_gap,
                         "logits kept to functions of the answer's key irreps (bias-corrected), loss - full loss in "
                         "ln|G|"))
    claims.append(_claim("excluded_loss", "excluded loss rises", gap_e, f">= {th.excluded_gap} ln|G|",
                         gap_e >= th.excluded_gap,
                         "logits less the functions of the answer's key irreps, train loss - full in ln|G|"))
    return claims
