"""Claim 6, which algorithm: the clock (Fourier Multiplication) or the pizza.

The earlier claims establish that a model computes with Fourier features; they hold for
both algorithms of Zhong et al. (NeurIPS 2023). This claim separates them by the size of
the correct logit: a clock's does not depend on ``a - b``, a pizza's does
(``|cos(w (a - b) / 2)|``). The counted measure is Zhong et al.'s *distance irrelevance* of
the correct logit (:func:`fourier_interp.analysis.distance_irrelevance`); the uncentred
logit-form fits and the gradient symmetricity are reported beside it.

The verdict's name, :class:`Algorithm`:

* ``non-fourier`` — no key frequencies, or their ``cos(w (s.a - c))`` terms do not explain
  the logits (claim 3 fails): a lookup table, an untrained or a memorising model;
* ``clock`` — distance irrelevance ``>= Thresholds.distance_irrelevance``;
* ``pizza`` — distance irrelevance ``<= Thresholds.pizza_distance_irrelevance``;
* ``mixed`` — in between: part of the correct logit depends on ``a - b``, as when some
  frequencies run the clock and others the pizza; it fails the claim, with the reason.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional

from torch import Tensor, nn

from ..analysis.algorithm import distance_irrelevance, gradient_symmetricity, logit_forms, operand_embedding_hook
from ..tasks import ModularArithmetic
from .claims import Claim, Thresholds


class Algorithm(str, Enum):
    """What :func:`fi.verify` found the model computes; compares equal to its string (``"clock"``)."""

    CLOCK = "clock"
    PIZZA = "pizza"
    MIXED = "mixed"
    NON_FOURIER = "non-fourier"

    def __str__(self) -> str:
        return self.value

    @property
    def description(self) -> str:
        return {
            "clock": "Fourier Multiplication (the clock): rotations composed by angle addition",
            "pizza": "the pizza: embeddings averaged, the logit's size depends on a - b",
            "mixed": "between the clock and the pizza: part of the correct logit depends on a - b",
            "non-fourier": "no Fourier-feature algorithm: the key frequencies do not explain the logits",
        }[self.value]


def name_algorithm(fourier: bool, di: float, th: Thresholds) -> Algorithm:
    """The :class:`Algorithm` from whether the Fourier claims hold and the distance irrelevance ``di``."""
    if not fourier:
        return Algorithm.NON_FOURIER
    if di >= th.distance_irrelevance:
        return Algorithm.CLOCK
    if di <= th.pizza_distance_irrelevance:
        return Algorithm.PIZZA
    return Algorithm.MIXED


def claims_algorithm(
    model: nn.Module,
    task: ModularArithmetic,
    logits: Tensor,
    key: list[int],
    fourier: bool,
    th: Thresholds,
    seed: int = 0,
    embed_hook: Optional[str] = None,
) -> tuple[Algorithm, dict[str, Any], list[Claim]]:
    """``(algorithm, evidence, claims)``: distance irrelevance (counted), logit forms and gradient symmetricity.

    Args:
        logits: ``[p**k, p]`` full-grid logits of the model.
        key: The key frequencies.
        fourier: Whether the Fourier-feature claims hold (key frequencies found and their
            logit terms explain the logits).
        embed_hook: Hook of the operands' input embeddings (default: the spec's).
    """
    di = distance_irrelevance(logits, task)
    algorithm = name_algorithm(fourier, di.value, th)
    evidence: dict[str, Any] = {"distance_irrelevance": di}
    band = (f"clock >= {th.distance_irrelevance}, pizza <= {th.pizza_distance_irrelevance}, mixed between "
            f"(Zhong et al.: clock ~0.85, pizza ~0.17)")
    claims = [Claim(
        "correct logit does not depend on a - b (clock, not pizza)", di.value, f">= {th.distance_irrelevance}",
        di.value >= th.distance_irrelevance,
        f"distance irrelevance {di.value:.3f} ({band}); a - b alone explains {di.difference_share:.1%} of the correct "
        f"logit's variance; named: {algorithm}" + ("" if algorithm is not Algorithm.MIXED else
                                                  " — part of the correct logit's size follows a - b"),
        figure="algorithm")]
    if key:
        forms = logit_forms(logits, task, key)
        evidence["logit_forms"] = forms
        per = ", ".join(f"{f}: {float(r):.2f}" for f, r in zip(forms.freqs, forms.pizza_index_by_freq))
        claims.append(Claim(
            "pizza form's share of the logit amplitude", forms.pizza_index, "finding", None,
            f"uncentred logits: the clock forms cos(w(s - c)) of the key frequencies explain {forms.clock_total:.1%} of "
            f"the variance over answers, the pizza forms' extra |cos(w(a-b)/2)| modulation {float(forms.pizza_share.sum()):.2%}; "
            f"pizza index per frequency {{{per}}} (0 clock, 1 pizza)", figure="algorithm", counted=False))
    hook = embed_hook or operand_embedding_hook(model)
    if hook is not None and task.k >= 2:
        gs = gradient_symmetricity(model, task, hook, seed=seed)
        evidence["gradient_symmetricity"] = gs
        claims.append(Claim(
            "gradient symmetricity", gs.value, "finding", None,
            f"mean cosine of the gradients of a random logit with respect to the operands' embeddings at {hook!r} over "
            f"{gs.n_samples} inputs (Zhong et al.: clock ~0.33, pizza ~0.99)"
            + (" — forced to 1: the operands enter only through their sum, so it says nothing here" if gs.forced else ""),
            counted=False))
    else:
        claims.append(Claim("gradient symmetricity", None, "finding", None,
                            "not applicable: the model names no shared operand embedding (its operands enter through "
                            "per-operand tables that are summed, which would force 1)", counted=False))
    return algorithm, evidence, claims
