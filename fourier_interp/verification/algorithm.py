"""Which algorithm: the decision table that names what :func:`fi.verify` found, and the shape claims.

The core claims establish that a model computes with Fourier features, causally; they hold
for every algorithm built on them. How the operands' features are *combined* separates the
clock (Fourier Multiplication: rotations composed by angle addition, a correct logit whose
size does not depend on ``a - b``) from Zhong et al.'s pizza (embeddings averaged, the size
follows ``|cos(w (a - b) / 2)|``). Two shape measures, each read from logits centred over answers
(a softmax-invariant shift cannot move them) and each defined for every family:

* ``distance_irrelevance`` — Zhong et al.'s measure of the correct logit;
* ``amplitude_modulation`` — how much each key frequency's logit amplitude varies with
  ``a - b`` (:func:`fi.amplitude_modulation`): 0 for a clock, ~0.48 for a pizza. Distance
  irrelevance reads the correct logit, a sum over frequencies; this reads each frequency, so
  a model whose frequencies are modulated in different ways (an MLP on summed embeddings:
  distance irrelevance 0.77-0.80, modulation 0.21) is seen.

A model is *clock-shaped* when both are on the clock's side, *pizza-shaped* when its
distance irrelevance is at most ``pizza_distance_irrelevance``, and ``mixed`` otherwise. The
share of the correct logit that ``a - b`` alone explains is reported beside them.

The decision table (:func:`name_algorithm`), by claim key (``fi.verification.CLAIMS``):

==========================================  =======================================
claims                                      name
==========================================  =======================================
a core claim fails                          ``non-fourier``
core hold, pizza-shaped                     ``pizza``
core hold, neither shape                    ``mixed``
core hold, clock-shaped, a clock claim      ``fourier-incomplete`` (the claim named)
fails
all hold, units at 1 block                  ``clock``
all hold, units at m >= 2 blocks            ``clock-superposed`` (m reported)
==========================================  =======================================

``report.passed`` is true for ``clock`` and ``clock-superposed``: both are Fourier
Multiplication; the second runs it on units that each superpose a few per-frequency products.
Units at ``m >= 2`` blocks are not single-frequency by definition, so Li et al.'s claims about
single-frequency units (``unit_weights``, ``phase_relation``) are reported but do not decide
between ``clock-superposed`` and ``fourier-incomplete``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Mapping, Optional

from torch import Tensor, nn

from ..analysis.algorithm import (
    _amplitude_modulation,
    _distance_irrelevance,
    _gradient_symmetricity,
    _logit_forms,
    circularity,
    operand_embedding_hook,
)
from ..tasks import ModularArithmetic
from .claims import Claim, Thresholds


class Algorithm(str, Enum):
    """What :func:`fi.verify` found the model computes; compares equal to its string (``"clock"``)."""

    CLOCK = "clock"
    CLOCK_SUPERPOSED = "clock-superposed"
    PIZZA = "pizza"
    MIXED = "mixed"
    FOURIER_INCOMPLETE = "fourier-incomplete"
    NON_FOURIER = "non-fourier"

    def __str__(self) -> str:
        return self.value

    @property
    def is_clock(self) -> bool:
        """Fourier Multiplication (the clock), with one frequency per unit or superposed."""
        return self in (Algorithm.CLOCK, Algorithm.CLOCK_SUPERPOSED)

    @property
    def description(self) -> str:
        return {
            "clock": "Fourier Multiplication (the clock): rotations composed by angle addition, one frequency per unit",
            "clock-superposed": "Fourier Multiplication on units that each superpose a few per-frequency products",
            "pizza": "the pizza: embeddings averaged, the logit's size depends on a - b",
            "mixed": "Fourier features combined neither as a clock nor as a pizza: part of the logit follows a - b",
            "fourier-incomplete": "Fourier features, causally, combined as a clock, but a clock threshold fails",
            "non-fourier": "no causal Fourier-feature algorithm: memorisation, an untrained net or another algorithm",
        }[self.value]


def shape_of(claims: Mapping[str, Claim], th: Thresholds) -> str:
    """``"clock"``, ``"pizza"`` or ``"mixed"`` from the shape claims (see the module docstring)."""
    di = claims.get("distance_irrelevance")
    if di is not None and di.value is not None and di.value <= th.pizza_distance_irrelevance:
        return "pizza"
    shape = [c for c in claims.values() if c.role == "shape" and c.passed is not None]
    return "clock" if shape and all(c.passed for c in shape) else "mixed"


SINGLE_FREQUENCY_CLAIMS = ("unit_weights", "phase_relation")
"""Clock claims about single-frequency units (Li et al.): they do not decide when units superpose (``blocks >= 2``)."""


def name_algorithm(claims: Mapping[str, Claim], th: Thresholds, blocks: Optional[int]) -> tuple[Algorithm, str]:
    """``(name, reason)`` from the claims by key and the per-unit projection's block count (the decision table)."""
    failed = lambda role: [c for c in claims.values() if c.role == role and c.passed is False]  # noqa: E731
    core = failed("core")
    if core:
        return Algorithm.NON_FOURIER, "core claim(s) failed: " + ", ".join(c.key for c in core)
    shape = shape_of(claims, th)
    if shape == "pizza":
        return Algorithm.PIZZA, "core claims hold; distance irrelevance in the pizza band"
    if shape == "mixed":
        off = [c.key for c in claims.values() if c.role == "shape" and c.passed is False]
        return Algorithm.MIXED, "core claims hold; neither clock- nor pizza-shaped (" + ", ".join(off) + ")"
    clock = failed("clock")
    if blocks is not None and blocks >= 2:  # Li et al.'s single-frequency weights and phases presuppose one per unit
        clock = [c for c in clock if c.key not in SINGLE_FREQUENCY_CLAIMS]
    if clock:
        return Algorithm.FOURIER_INCOMPLETE, "clock-shaped, but clock claim(s) failed: " + ", ".join(c.key for c in clock)
    if blocks is not None and blocks >= 2:
        return Algorithm.CLOCK_SUPERPOSED, f"every claim holds; units superpose {blocks} frequency blocks"
    return Algorithm.CLOCK, "every claim holds; one frequency per unit"


def claims_shape(
    model: nn.Module,
    task: ModularArithmetic,
    logits: Tensor,
    key: list[int],
    th: Thresholds,
    seed: int = 0,
    embed_hook: Optional[str] = None,
    embed: Optional[Tensor] = None,
) -> tuple[dict[str, Any], list[Claim]]:
    """``(evidence, claims)``: the three shape claims, and the pizza index, gradient symmetricity and circularity.

    Args:
        logits: ``[p**k, p]`` full-grid logits of the model.
        key: The key frequencies.
        embed_hook: Hook of the operands' input embeddings (default: the spec's).
        embed: The token embedding ``[p, d]`` for the circularity (``None``: not reported).
    """
    di = _distance_irrelevance(logits, task)
    evidence: dict[str, Any] = {"distance_irrelevance": di}
    claims = [
        Claim("correct logit does not depend on a - b", di.value, f">= {th.distance_irrelevance}",
              di.value >= th.distance_irrelevance,
              f"distance irrelevance {di.value:.3f} of the correct logit centred over answers (clock >= "
              f"{th.distance_irrelevance}, pizza <= {th.pizza_distance_irrelevance}; Zhong et al.: clock ~0.85, "
              "pizza ~0.17)", figure="algorithm", key="distance_irrelevance"),
        Claim("a - b's share of the correct logit", di.difference_share, "finding", None,
              f"a - b alone explains {di.difference_share:.1%} of the centred correct logit's variance (reported: on "
              "the model zoo it spans 0.40-0.64 for softmax-attention clocks and 0.28-0.35 for summed-embedding MLPs, "
              "so it separates nothing)", figure="algorithm", key="difference_share", role="info"),
    ]
    if key:
        mod = _amplitude_modulation(logits, task, key)
        evidence["amplitude_modulation"] = mod
        per = ", ".join(f"{f}: {float(r):.2f}" for f, r in zip(mod.freqs, mod.raw))
        rel = ", ".join(f"{f}: {float(r):.2f}" for f, r in zip(mod.freqs, mod.relative))
        claims.append(Claim(
            "logit amplitude does not follow a - b", mod.value, f"<= {th.amplitude_modulation}",
            mod.value <= th.amplitude_modulation,
            f"each key frequency's logit amplitude varies across the a - b groups by {{{per}}} of its mean (a clock 0, "
            f"a pizza ~0.48); of it, shaped like the pizza's |cos(w(a-b)/2)|: {mod.pizza_value:.3f}; after dividing each "
            f"input's amplitudes by their total (blind to a per-input rescaling of the logits) {{{rel}}}",
            figure="algorithm", key="amplitude_modulation"))
        forms = _logit_forms(logits, task, key)
        evidence["logit_forms"] = forms
        per = ", ".join(f"{f}: {float(r):.2f}" for f, r in zip(forms.freqs, forms.pizza_index_by_freq))
        claims.append(Claim(
            "pizza form's share of the logit amplitude", forms.pizza_index, "finding", None,
            f"the clock forms cos(w(s - c)) of the key frequencies explain {forms.clock_total:.1%} of the centred logits, "
            f"the pizza forms' extra |cos(w(a-b)/2)| modulation {float(forms.pizza_share.sum()):.2%}; pizza index per "
            f"frequency {{{per}}} (0 clock, 1 pizza)", figure="algorithm", key="pizza_index", role="info"))
    hook = embed_hook or operand_embedding_hook(model)
    if hook is not None and task.k >= 2:
        gs = _gradient_symmetricity(model, task, hook, seed=seed)
        evidence["gradient_symmetricity"] = gs
        claims.append(Claim(
            "gradient symmetricity", gs.value, "finding", None,
            f"mean cosine of the gradients of a random logit with respect to the operands' embeddings at {hook!r} over "
            f"{gs.n_samples} inputs (Zhong et al.: clock ~0.33, pizza ~0.99)"
            + (" — forced to 1: the operands enter only through their sum, so it says nothing here and the name is "
               "decided by the shape claims above" if gs.forced else ""),
            key="gradient_symmetricity", role="info"))
    else:
        claims.append(Claim("gradient symmetricity", None, "finding", None,
                            "not applicable: the model names no shared operand embedding (its operands enter through "
                            "per-operand tables that are summed, which would force 1)", key="gradient_symmetricity",
                            role="info"))
    if embed is not None:
        circ = circularity(embed, task.p)
        evidence["circularity"] = circ
        claims.append(Claim(
            "embedding circularity", circ.value, "finding", None,
            f"Zhong et al.'s circularity: the embedding's top {len(circ.frequencies)} principal components hold "
            f"{circ.value:.1%} of their energy in one frequency each ({circ.frequencies}); clocks and pizzas both "
            "embed on circles", figure="embedding", key="circularity", role="info"))
    return evidence, claims
