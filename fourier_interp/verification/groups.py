"""Verification over any finite group: does the model compose elements via representations (GCR)?

:func:`verify_group` is the group analogue of :func:`fi.verify`: the same report type
(:class:`GroupVerificationReport`, a :class:`~.result.VerificationReport` with
``key_irreps``), claims stated in irreps (Chughtai, Chan, Nanda, ICML 2023):

1. it solves the task (test accuracy);
2. its hidden units are irrep-selective: over the input grid one irrep's block (with the
   single-operand terms its square makes) holds most of a unit's variance;
3. the key irreps' characters ``chi_rho(g_1 ... g_k z^-1)`` explain the centred logits;
4. the embeddings (or each operand's unit inputs) and the unembedding concentrate on the
   key irreps (and the irreps their squares make);
5. causal: projecting the key irreps out of the units' activations over the grid breaks
   the model, projecting the other irreps out does not; the restricted loss (logits kept
   to functions of the key irreps of the answer) stays near the full loss and the excluded
   loss rises.

``report.algorithm`` is ``"gcr"`` (``"clock"`` on a cyclic group, Z_p^* included: the same
algorithm, named as for addition) when every counted claim passes, else
``"non-representation"`` — a lookup table, or a circuit that is not GCR (for instance the
coset circuits of Stander et al., which this verifier does not test for separately).
For cyclic groups ``key_frequencies`` lists the key irreps as frequencies (in the log basis
for multiplication mod p).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from .. import jsonio
from ..analysis.grid import model_spec, resolve_hook, run_grid
from ..analysis.irreps import (
    analyze_irreps,
    excluded_loss,
    irrep_accuracy,
    irrep_harmonics,
    restricted_loss,
)
from ..checks import check_group_task, check_hooked, check_model_task
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

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(repr=False)
class GroupVerificationReport(VerificationReport):
    """A :class:`VerificationReport` over a group: claims in irreps, ``key_irreps`` their names."""

    key_irreps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["group"] = self.task.group.spec
        out["key_irreps"] = list(self.key_irreps)
        return jsonio.to_json(out)

    def __str__(self) -> str:
        head = (f"Group composition via representations (GCR) check: {self.name} ({self.model_class}) on {self.task}\n"
                f"verdict: {'PASS' if self.passed else 'FAIL'}    algorithm: {self.algorithm}    "
                f"key irreps: {self.key_irreps}    units: {self.neurons!r}")
        if self.failed_claims:
            head += "\nfailed: " + "; ".join(c.name for c in self.failed_claims)
        details = "\n".join(f"  {i}. {c.detail}" for i, c in enumerate(self.claims, 1))
        return f"{head}\n\n{self.table()}\n\ndetails:\n{details}"

    def __repr__(self) -> str:
        return (f"GroupVerificationReport({self.name!r}, passed={self.passed}, algorithm={self.algorithm!r}, "
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
    check_hooked(model)
    check_group_task(task)
    check_model_task(model, task)
    base = thresholds or GroupThresholds()
    unknown = set(overrides) - set(base.to_dict())
    if unknown:
        raise TypeError(f"verify_group() got unknown threshold(s) {sorted(unknown)}; allowed: {sorted(base.to_dict())}")
    th = GroupThresholds(**{**base.to_dict(), **overrides})
    spec = model_spec(model)
    if hook is None and spec is None:
        raise ValueError(f"{type(model).__name__} has no analysis_spec(): name its hidden units with hook=<hook name>")
    hook = resolve_hook(model, hook)
    g = task.group
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        logits, acts = run_grid(model, task, [hook], pos=-1)
        report = analyze_irreps(model, task, hook, threshold=th.unit_fraction, grid=(logits, acts))
        key = report.key_irreps
        claims = [_claim_accuracy(logits, task, th), _claim_units(report, th), _claim_logits(report, th)]
        claims.append(_claim_weights(report, key, g, th))
        claims += _claims_causal(model, task, logits, hook, key, th)
    finally:
        model.train(was_training)
    counted = [c.passed for c in claims if c.counted and c.passed is not None]
    passed = bool(key) and all(counted)
    cyclic = _is_cyclic(task)
    algorithm = ("clock" if cyclic else "gcr") if passed else "non-representation"
    freqs = sorted(int(n[1:]) for n in key) if cyclic else []
    return GroupVerificationReport(
        name=name or type(model).__name__, model_class=type(model).__name__, task=task, neurons=hook, passed=passed,
        key_frequencies=freqs, claims=claims, thresholds=th, algorithm=algorithm, extras={"irreps": report},
        timings={"total_s": time.perf_counter() - start}, key_irreps=list(key))


# --------------------------------------------------------------------- claims
def _claim_accuracy(logits, task: GroupTask, th: GroupThresholds) -> Claim:
    split = "test" if len(task.test_idx) else "all"
    acc = split_accuracy(logits, task, split)
    return Claim("solves the task", acc, f">= {th.accuracy}", acc >= th.accuracy,
                 f"accuracy on the {split} split ({len(task.split(split))} inputs)")


def _claim_units(report, th: GroupThresholds) -> Claim:
    units = report.units
    share = units.share_clustered
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(units.counts().items(), key=lambda kv: -kv[1]))
    return Claim("units are irrep-selective", share, f">= {th.selective_share} of live units",
                 share >= th.selective_share,
                 f"{int(units.clustered.sum())} of {int(units.live.sum())} live units at {report.hook!r} hold >= "
                 f"{th.unit_fraction} of their variance in one irrep's block ({counts or 'none'})")


def _claim_logits(report, th: GroupThresholds) -> Claim:
    res, key = report.logits, report.key_irreps
    total = res.total(key) if key else 0.0
    return Claim("key irreps' characters explain the logits", total, f">= {th.logit_fraction}",
                 bool(key) and total >= th.logit_fraction,
                 f"chi_rho(g1...gk z^-1) of {key} explain {total:.3f} of the centred logit variance "
                 f"(of {len(res.names) - 1} non-trivial irreps)")


def _claim_weights(report, key: list[str], g, th: GroupThresholds) -> Claim:
    if not report.weights or not key:
        return Claim("weights concentrate on the key irreps", None, f">= {th.input_fraction}", None,
                     "no embedding or unit input weights named by analysis_spec()")
    family = set(key) | {h for name in key for h in irrep_harmonics(g, name)}
    idx = [g.irrep_names.index(n) for n in family]
    shares = {role: float(w[idx].sum()) for role, w in report.weights.items()}
    value = min(shares.values())
    return Claim("weights concentrate on the key irreps", value, f">= {th.input_fraction}", value >= th.input_fraction,
                 "share of non-trivial weight energy on the key irreps and the irreps their squares make: "
                 + ", ".join(f"{role} {v:.3f}" for role, v in shares.items()))


def _claims_causal(model, task: GroupTask, logits, hook: str, key: list[str], th: GroupThresholds) -> list[Claim]:
    g = task.group
    if not key:
        return [Claim("ablating the key irreps breaks the model", None, "", None, "no key irreps")]
    nontrivial = g.irrep_names[1:]
    floor = max(irrep_accuracy(model, task, hook, nontrivial), 1.0 / g.order)
    removed = irrep_accuracy(model, task, hook, key)
    limit = floor + th.collapse * (1 - floor)
    claims = [Claim("ablating the key irreps breaks the model", removed, f"<= {limit:.3f}", removed <= limit,
                    f"accuracy {removed:.3f} with {key} projected out of {hook!r} over the grid (every irrep out: "
                    f"{floor:.3f})")]
    family = set(key) | {h for name in key for h in irrep_harmonics(g, name)}
    others = [n for n in nontrivial if n not in family]
    if others:
        kept = irrep_accuracy(model, task, hook, others)
        claims.append(Claim("ablating the other irreps does not", kept, f">= {th.control_accuracy}",
                            kept >= th.control_accuracy,
                            f"accuracy {kept:.3f} with the {len(others)} irreps outside the key irreps and their "
                            "squares projected out"))
    else:
        claims.append(Claim("ablating the other irreps does not", None, f">= {th.control_accuracy}", None,
                            "every irrep is a key irrep or made by their squares"))
    ln = math.log(g.order)
    full = float(loss_fn(logits, task.labels))
    full_train = float(loss_fn(logits[task.train_idx], task.labels[task.train_idx]))
    gap_r = (restricted_loss(logits, task, key) - full) / ln
    gap_e = (excluded_loss(logits, task, key) - full_train) / ln
    claims.append(Claim("restricted loss stays low", gap_r, f"<= {th.restricted_gap} ln|G|", gap_r <= th.restricted_gap,
                        "logits kept to functions of the answer's key irreps (bias-corrected), loss - full loss in ln|G|"))
    claims.append(Claim("excluded loss rises", gap_e, f">= {th.excluded_gap} ln|G|", gap_e >= th.excluded_gap,
                        "logits less the functions of the answer's key irreps, train loss - full in ln|G|"))
    return claims
