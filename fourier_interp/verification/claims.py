"""The claims :func:`fi.verify` checks, each a function from measurements to a :class:`Claim`.

Thresholds live in one place, :class:`Thresholds`, with the reason for each (also in
docs/verify.md); callers override any of them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Optional

import torch
from torch import Tensor

from ..analysis import weight_frequencies, weight_low_rank
from ..analysis.frequencies import harmonic_family
from ..analysis.results import FrequencyReport
from ..evaluation import split_accuracy
from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from ..fourier import n_frequencies
from ..tasks import ModularArithmetic


@dataclass
class Thresholds:
    """Every threshold of :func:`verify` in one place (docs/verify.md explains each).

    Attributes:
        accuracy: Claim 1 — accuracy on the test split.
        unit_fraction: A unit is frequency-selective when its frequency's family block
            (the frequency and the harmonics its nonlinearity creates) holds this share of
            its variance over the grid (Nanda et al.'s 0.85).
        selective_share: Claim 2 — share of live units that are selective ("most": > half).
        logit_fraction: Claim 3 — share of the centred logit variance the key frequencies'
            ``cos(w (s.a - c))`` terms explain.
        input_fraction: Claim 4 — share of the embedding's non-constant Fourier energy on
            the key frequencies and their harmonics.
        unit_weight_share: Claim 4 (MLP) — share of units whose own input and output
            weights each hold >= ``unit_weight_purity`` of their energy on one frequency.
        unit_weight_purity: See ``unit_weight_share`` (Li et al.'s single-frequency neurons).
        collapse: Claim 5 — with the key frequencies (and harmonics) ablated at the unit
            hook, accuracy is at most this share of the way from the floor to 1. The floor
            is the accuracy with every frequency ablated there (at least chance, 1/p); it
            must itself be <= 0.5, or the units do not carry the computation.
        control_accuracy: Claim 5 — accuracy with as many non-key frequencies ablated.
        restricted_gap: Claim 5 — (restricted loss - full loss) / ln p at most this.
        excluded_gap: Claim 5 — (excluded loss - full loss) / ln p at least this.
        phase_error: Extra (power MLP, counted) — median phase error of single-frequency
            neurons in radians (Li et al.: phase(w_i) = sum_j phase(u_ij)).
        distance_irrelevance: Shape — the correct logit's distance irrelevance (Zhong et
            al.), read from logits centred over answers, at least this for a clock.
        pizza_distance_irrelevance: Shape — at most this names the model a pizza; a model
            that is neither clock- nor pizza-shaped is ``mixed``.
        amplitude_modulation: Shape — for a clock, each key frequency's logit amplitude
            varies across the ``a - b`` groups by at most this (relative standard deviation;
            a pizza's is ~0.48).
        max_blocks: Core — the most frequency blocks a unit may keep in the per-unit
            projection (:func:`fi.unit_projection`); 1 is a clock, 2 or more a clock with
            superposed units.
        projection_accuracy_drop: Core — the projected model's accuracy may fall at most this
            below the model's.
        projection_loss_gap: Core — the projected model's loss may rise at most this times ln p.
        break_loss: Core — an intervention that should break the model (the key-frequency
            ablation, the rest of the per-unit projection) does so when accuracy collapses or
            when the loss rises by at least this times ln p: the right answer's probability
            falls, on geometric average, below ``p ** -break_loss``.
    """

    accuracy: float = 0.99
    unit_fraction: float = 0.85
    selective_share: float = 0.5
    logit_fraction: float = 0.9
    input_fraction: float = 0.7
    unit_weight_share: float = 0.5
    unit_weight_purity: float = 0.9
    collapse: float = 0.1
    control_accuracy: float = 0.95
    restricted_gap: float = 0.1
    excluded_gap: float = 0.5
    phase_error: float = 0.3
    distance_irrelevance: float = 0.55
    pizza_distance_irrelevance: float = 0.35
    amplitude_modulation: float = 0.18
    max_blocks: int = 3
    projection_accuracy_drop: float = 0.01
    projection_loss_gap: float = 0.1
    break_loss: float = 0.5

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidArgumentTypeError(f"Thresholds.{f.name}={value!r}: expected a finite number")
            if f.name in _COUNTS:
                if isinstance(value, float) and not value.is_integer() or value < 1:
                    raise InvalidArgumentError(f"Thresholds.{f.name}={value!r}: expected an int >= 1")
                setattr(self, f.name, int(value))
            elif f.name in _UNBOUNDED:
                if value < 0:
                    raise InvalidArgumentError(f"Thresholds.{f.name}={value!r}: expected a number >= 0")
            elif not 0 <= value <= 1:
                raise InvalidArgumentError(f"Thresholds.{f.name}={value!r}: expected a fraction in [0, 1]")
        if self.pizza_distance_irrelevance > self.distance_irrelevance:
            raise InvalidArgumentError(
                f"Thresholds.pizza_distance_irrelevance={self.pizza_distance_irrelevance} is above "
                f"distance_irrelevance={self.distance_irrelevance}; the pizza band must lie below the clock band")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


_UNBOUNDED = ("restricted_gap", "excluded_gap", "phase_error", "projection_loss_gap", "break_loss")  # ln p or radians
_COUNTS = ("max_blocks",)

ROLES = ("core", "clock", "shape", "info")
"""What a claim decides (docs/verify.md, "How the name is decided"):

* ``core`` — the model computes with Fourier features, causally; any failure names it ``non-fourier``;
* ``clock`` — the full clock's thresholds; a clock-shaped model failing one is ``fourier-incomplete``;
* ``shape`` — clock, pizza or mixed (how the operands' features are combined);
* ``info`` — evidence reported beside the verdict, deciding nothing.
"""

CLAIMS: dict[str, tuple[str, str]] = {
    "accuracy": ("core", "accuracy on the test split at least `accuracy`"),
    "ablation": ("core", "removing the key frequencies (with harmonics) at the unit hook takes accuracy to within "
                         "`collapse` of its floor, and that floor (every frequency removed) is low"),
    "control": ("core", "removing as many other frequencies keeps accuracy at least `control_accuracy`"),
    "unit_projection": ("core", "every unit projected onto its own strongest m <= `max_blocks` frequency blocks keeps "
                                "the model working, and the rest alone does not"),
    "logits": ("clock", "the key frequencies' cos(w(s.a - c)) terms explain at least `logit_fraction` of the "
                        "centred logits"),
    "inputs": ("clock", "at least `input_fraction` of the embedding's Fourier energy is on the key frequencies"),
    "unit_weights": ("clock", "at least `unit_weight_share` of units have single-frequency input and output weights "
                              "(models with per-unit weights)"),
    "restricted_loss": ("clock", "keeping only the key frequencies' logit terms costs at most `restricted_gap` ln p"),
    "excluded_loss": ("clock", "removing them costs at least `excluded_gap` ln p on the train split"),
    "phase_relation": ("clock", "Li et al.'s phase relation, counted for power-activation MLPs"),
    "distance_irrelevance": ("shape", "Zhong et al.'s distance irrelevance of the centred correct logit"),
    "amplitude_modulation": ("shape", "per-frequency modulation of the logit amplitude by a - b"),
}
"""The claims that decide the name, by key: ``key -> (role, definition)``. Others are ``info``."""


@dataclass
class Claim:
    """One checked claim: its measured value, the threshold, the verdict and why.

    ``passed`` is ``None`` when the claim does not apply to the model (e.g. no embedding);
    ``counted`` is False for claims reported as evidence without entering the verdict.
    ``figure`` names the report figure that shows it.
    """

    name: str
    value: Optional[float]
    threshold: str
    passed: Optional[bool]
    detail: str
    figure: Optional[str] = None
    counted: bool = True
    key: str = ""
    role: str = ""

    def __post_init__(self):
        if not self.role:
            self.role = CLAIMS[self.key][0] if self.key in CLAIMS else ("clock" if self.counted else "info")
        if self.role not in ROLES:
            raise InvalidArgumentError(f"Claim.role={self.role!r}: expected one of {ROLES}")
        self.counted = self.role != "info"
        if not self.key:
            self.key = self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def verdict(self) -> str:
        """The table's verdict cell: ``pass``/``FAIL`` (counted), ``ok (info)``/``no (info)``, ``n/a`` or ``info``."""
        if self.passed is None:
            return "n/a" if self.counted else "info"
        if not self.counted:
            return "ok (info)" if self.passed else "no (info)"
        return "pass" if self.passed else "FAIL"


# --------------------------------------------------------------------- claims
def claim_accuracy(logits: Tensor, task: ModularArithmetic, th: Thresholds) -> Claim:
    split = "test" if len(task.test_idx) else "all"
    idx = task.split(split)
    all_acc, acc = split_accuracy(logits, task, "all"), split_accuracy(logits, task, split)
    return Claim("solves the task", acc, f">= {th.accuracy}", acc >= th.accuracy,
                 f"accuracy on the {split} split ({len(idx)} inputs); {all_acc:.4f} on all {task.n}", key="accuracy")


def claim_units(freq: FrequencyReport, th: Thresholds) -> Claim:
    units = freq.units
    share = units.share_clustered
    live = int(units.live.sum())
    counts = sorted(units.summary()["counts"].items(), key=lambda kv: -kv[1])
    top = ", ".join(f"{f}: {c}" for f, c in counts[:6]) + (", …" if len(counts) > 6 else "")
    return Claim(
        "units are frequency-selective", share, f">= {th.selective_share} of live units",
        share >= th.selective_share,
        f"{int(units.clustered.sum())} of {live} live units at {units.hook!r} have one frequency (with harmonics to "
        f"order {units.harmonic_order}) explaining >= {th.unit_fraction} of their variance ({units.share_clustered_pure:.1%} "
        f"under Nanda et al.'s pure block, without harmonics); units per frequency "
        f"{{{top}}}; reported: the per-unit projection decides (units may superpose frequencies)",
        figure="unit_frequencies", key="unit_variance", role="info",
    )


def claim_logits(freq: FrequencyReport, task: ModularArithmetic, th: Thresholds) -> Claim:
    key = freq.key_frequencies
    value = freq.logits.explained(key) if key else 0.0
    n_freq = n_frequencies(task.p)
    sparsity = (f"uses {len(key)} of {n_freq} frequencies ({len(key) / n_freq:.0%})"
                + (" — every one, as Li et al. find for wide power-activation MLPs at max margin"
                   if len(key) == n_freq else ""))
    return Claim(
        "logits are Fourier Multiplication", value, f">= {th.logit_fraction}", bool(key) and value >= th.logit_fraction,
        f"cos(w(s.a - c)) terms of {len(key)} key frequencies {key} of {n_freq} explain {value:.3f} of the centred "
        f"logit variance ({freq.logits.total:.3f} with all frequencies); the model {sparsity}",
        figure="logit_frequencies", key="logits",
    )


def _family_share(fractions: Tensor, key: list[int], p: int, order: int) -> float:
    family = harmonic_family(key, p, order)
    return float(sum(fractions[f - 1] for f in family)) if family else 0.0


def claims_inputs(task, freq: FrequencyReport, embed: Optional[Tensor], align, th: Thresholds) -> list[Claim]:
    """Claim 4: the embedding's Fourier energy on the key frequencies; each unit's own weights on one."""
    key, order = freq.key_frequencies, freq.units.harmonic_order
    claims = []
    if embed is not None:
        spectrum = freq.weights.get("embed") or weight_frequencies(embed[: task.p].detach().cpu(), dim=0, name="embed")
        share = _family_share(spectrum.fraction, key, task.p, order)
        claims.append(Claim(
            "inputs are Fourier-sparse", share, f">= {th.input_fraction}", share >= th.input_fraction,
            f"{share:.3f} of the embedding's Fourier energy is on the key frequencies (with harmonics); "
            f"Gini of its frequency norms {spectrum.gini:.3f}", figure="embedding", key="inputs"))
    if align is not None:
        share = align.share_single
        claims.append(Claim(
            "unit input weights are single-frequency", share, f">= {th.unit_weight_share} of units",
            share >= th.unit_weight_share,
            f"{share:.1%} of the {align.n_live} live units (of {len(align.single)}; the rest are switched off) have "
            f"every input vector u_ij and output vector w_i with >= {th.unit_weight_purity} of its energy on one "
            f"frequency; they cover {len(align.frequencies())} of {align.n_freq} frequencies",
            figure="unit_weights", key="unit_weights"))
    if not claims:
        claims.append(Claim("inputs are Fourier-sparse", None, f">= {th.input_fraction}", None,
                            "not applicable: no embedding or unit input weights named (pass embed=)", key="inputs"))
    return claims


def claims_extras(model, task: ModularArithmetic, align, attention_from_eq: Optional[Tensor], th: Thresholds,
                  evidence: frozenset = frozenset()):
    """Architecture-specific evidence: ``(extras dict, claims)``; most are reported, not counted.

    ``evidence`` is the model spec's set of optional evidence (``AnalysisSpec.evidence``):
    ``"low_rank"`` adds the SVD claims, ``"phase_relation"`` counts Li et al.'s phase relation.
    """
    extras: dict[str, Any] = {}
    claims: list[Claim] = []
    if "low_rank" in evidence:
        lowrank = weight_low_rank(model)
        extras["low_rank"] = lowrank
        for name, res in lowrank.items():
            claims.append(Claim(
                f"low rank: {name}", res.energy_at(res.r), f"rank {res.r} of {min(res.shape)}", None,
                f"top {res.r} singular components hold {res.energy_at(res.r):.1%} of the energy; their singular vectors "
                f"sit on frequencies {res.freq.tolist() if res.freq is not None else '-'}"
                + (f" (via {res.aligned_via})" if res.aligned_via else ""), figure="low_rank", key=f"low_rank:{name}",
                role="info"))
    if align is not None:
        extras["neurons"] = align
        errors = align.phase_error[align.single]
        median = float(errors.median()) if len(errors) else float("nan")
        counted = "phase_relation" in evidence
        detail = (f"median phase error over {len(errors)} single-frequency neurons (max {align.max_phase_error:.3g} rad)"
                  if len(errors) else "no single-frequency neuron to measure")
        claims.append(Claim(
            "phase relation phase(w_i) = sum_j phase(u_ij)", median if len(errors) else None,
            f"median <= {th.phase_error} rad", (median <= th.phase_error) if len(errors) else None,
            detail + ("; counted: the model's nonlinearity is Li et al.'s power" if counted else "; reported, not counted"),
            figure="unit_weights", key="phase_relation", role="clock" if counted else "info"))
        claims.append(Claim(
            "frequency coverage", align.coverage, "finding", None,
            f"single-frequency neurons use {len(align.frequencies())} of {align.n_freq} frequencies "
            "(Li et al.: all of them at max margin)", key="coverage", role="info"))
        if align.margin is not None:
            ratio = align.margin_ratio
            claims.append(Claim(
                "normalised L_{2,k+1} margin", align.margin, "finding", None,
                f"margin {align.margin:.4g}; balanced {align.balanced_margin:.4g}"
                + (f", {ratio:.3f} of the all-frequency planted network's {align.reference_margin:.4g}" if ratio else ""),
                key="margin", role="info"))
    if attention_from_eq is not None:
        to_pos = attention_from_eq  # [head, key_pos], mean over the grid
        extras["attention_from_eq"] = to_pos
        claims.append(Claim(
            "attention from '='", float(to_pos[:, :-1].sum(-1).mean()), "finding", None,
            "share of attention from '=' to the operands, mean over heads and inputs; per head and position: "
            + "; ".join(f"head {h}: " + ", ".join(f"{v:.2f}" for v in to_pos[h].tolist()) for h in range(len(to_pos))),
            figure="attention", key="attention", role="info"))
    return extras, claims
