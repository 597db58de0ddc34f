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
                                     out of the units' activations over the grid breaks the model
``control``                   core   projecting the other irreps out does not
``units``                     clock  hidden units are irrep-selective: one irrep's block (with the
                                     single-operand terms its square makes) holds most of a
                                     unit's variance over the grid
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
``answer_share``              info   share of the centred logits that depends on the operands only
                                     through their product
============================  =====  ==========================================================

``clock`` is the role of the full algorithm's claims here too: for a group they are GCR's.
The decision table (:func:`name_group_algorithm`), by key:

============================================  =======================================
claims                                        ``report.algorithm``
============================================  =======================================
``accuracy`` fails                            ``non-representation``
every core and clock claim holds              ``gcr`` (``clock`` on a cyclic group or
                                              Z_p^*: the same algorithm, named as for
                                              addition)
otherwise, ``cosets`` holds                   ``coset``
otherwise                                     ``non-representation`` (a lookup table, or
                                              a circuit neither GCR nor coset-like)
============================================  =======================================

GCR is decided first because the two descriptions overlap: a GCR unit on a non-faithful irrep
is constant on the cosets of its kernel, and trained GCR networks' units are often constant
on the cosets of a point stabiliser (docs/groups.md). ``report.passed`` is true for ``gcr`` and
``clock``. For cyclic groups ``key_frequencies`` lists the key irreps as frequencies (in the
log basis for multiplication mod p).
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
    irrep_harmonics,
    restricted_loss,
)
from ..checks import check_group_task, check_model
from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from ..evaluation import loss_fn, split_accuracy
from ..groups import MultiplicativeGroup
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

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


GROUP_CLAIMS: dict[str, tuple[str, str]] = {
    "accuracy": ("core", "accuracy on the test split at least `accuracy`"),
    "ablation": ("core", "projecting the key irreps and the irreps their squares make out of the units over the grid "
                         "takes accuracy to within `collapse` of its floor (every irrep projected out)"),
    "control": ("core", "projecting the irreps outside the key irreps and their squares out keeps accuracy at least "
                        "`control_accuracy`"),
    "units": ("clock", "at least `selective_share` of live units hold `unit_fraction` of their variance in one irrep's "
                       "block"),
    "logits": ("clock", "the key irreps' characters explain at least `logit_fraction` of the answer-dependent part of "
                        "the centred logits"),
    "inputs": ("clock", "the weights hold at least `input_fraction` of their energy on the key irreps and their "
                        "squares"),
    "restricted_loss": ("clock", "keeping the logits' functions of the answer's key irreps costs at most "
                                 "`restricted_gap` ln|G|"),
    "excluded_loss": ("clock", "removing them costs at least `excluded_gap` ln|G| on the train split"),
    "cosets": ("shape", "at least `coset_share` of live units read every operand through the cosets of a subgroup"),
    "answer_share": ("info", "share of the centred logits that depends on the operands only through their product"),
}
"""The claims of :func:`verify_group` by key: ``key -> (role, definition)`` (module docstring)."""


class GroupAlgorithm(str, Enum):
    """What :func:`verify_group` found; compares equal to its string (``"gcr"``)."""

    GCR = "gcr"
    CLOCK = "clock"
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
            "clock": "the clock (GCR on a cyclic group): Fourier Multiplication",
            "coset": "a coset circuit: units read the operands through the cosets of subgroups, not through irreps",
            "non-representation": "neither GCR nor coset-like: memorisation, an untrained net or another algorithm",
        }[self.value]


def name_group_algorithm(claims: Mapping[str, Claim], cyclic: bool) -> tuple[GroupAlgorithm, str]:
    """``(name, reason)`` from the claims by key (the decision table of the module docstring)."""
    acc = claims.get("accuracy")
    if acc is None or acc.passed is False:
        return GroupAlgorithm.NON_REPRESENTATION, "the model does not solve the task"
    failed = [c.key for c in claims.values() if c.role in ("core", "clock") and c.passed is False]
    if not failed:
        name = GroupAlgorithm.CLOCK if cyclic else GroupAlgorithm.GCR
        return name, "every core and clock claim holds"
    cosets = claims.get("cosets")
    if cosets is not None and cosets.passed:
        return GroupAlgorithm.COSET, f"not GCR ({', '.join(failed)} failed); units read the operands through cosets"
    return GroupAlgorithm.NON_REPRESENTATION, f"not GCR ({', '.join(failed)} failed) and units are not coset-like"


@dataclass(repr=False)
class GroupVerificationReport(VerificationReport):
    """A :class:`VerificationReport` over a group: claims in irreps, ``key_irreps`` their names."""

    key_irreps: list[str] = field(default_factory=list)

    @property
    def failed_claims(self) -> list[Claim]:
        """The core and clock claims that failed (why the model is not GCR); ``cosets`` only names the alternative."""
        return [c for c in self.claims if c.role in ("core", "clock") and c.passed is False]

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
        claims = [_claim_accuracy(logits, task, th), *_claims_causal(model, task, logits, hook, key, th),
                  _claim_units(report, th), *_claims_logits(report, th), _claim_weights(report, key, g, th),
                  _claim_cosets(cosets, hook, th)]
    finally:
        model.train(was_training)
    by_key = {c.key: c for c in claims}
    claims = _order(claims)
    cyclic = _is_cyclic(task)
    algorithm, reason = name_group_algorithm(by_key, cyclic)
    passed = algorithm in (GroupAlgorithm.GCR, GroupAlgorithm.CLOCK)
    freqs = sorted(int(n[1:]) for n in key) if cyclic else []
    return GroupVerificationReport(
        name=name or type(model).__name__, model_class=type(model).__name__, task=task, neurons=hook, passed=passed,
        key_frequencies=freqs, claims=claims, thresholds=th, algorithm=algorithm, reason=reason,
        extras={"irreps": report, "cosets": cosets}, timings={"total_s": time.perf_counter() - start},
        key_irreps=list(key))


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
    removed = _irrep_accuracy(model, task, hook, [n for n in nontrivial if n in family])
    limit = floor + th.collapse * (1 - floor)
    claims = [_claim("ablation", "ablating the key irreps breaks the model", removed, f"<= {limit:.3f}",
                     removed <= limit,
                     f"accuracy {removed:.3f} with {key} (and the irreps their squares make, {harmonics or 'none'}) "
                     f"projected out of {hook!r} over the grid (every irrep out: {floor:.3f})")]
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
    full = float(loss_fn(logits, task.labels))
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
