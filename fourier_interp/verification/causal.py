"""Claim 5, causal evidence: ablate the key frequencies (and a control set) at the unit hook.

The key frequencies, with the harmonics their units' nonlinearity creates, are removed
cumulatively at the unit hook (``fi.frequency_ablation_hook``, at the readout position
when the hook has a position axis) in order of importance — each frequency's share of the
logit variance, key frequencies before harmonics: the public :func:`fi.ablation_curve`
with that order and ``points=MAX_POINTS``, so the curve is evaluated at no more than
``MAX_POINTS`` removal counts and a model that uses every frequency (Li et al.'s wide
MLPs) costs a dozen forward passes, not a hundred; the last point always removes the whole
set. The control removes as many other frequencies the same way. The collapse is measured
from a floor: the accuracy with every frequency removed at the hook (what paths that
bypass the units achieve — a transformer's residual stream reaches ~16% at p = 23 — and at
least chance); that floor must itself be low (``FLOOR_MAX``), or the hook is not where the
computation happens. Restricted and excluded loss (Nanda et al.) come from the cached logits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor

from ..analysis.frequencies import harmonic_family
from ..evaluation import _grid_logits, loss_and_accuracy, split_loss
from ..fourier import n_frequencies
from ..interventions.ablation import FrequencyAblation
from ..interventions.curves import AblationCurve, _ablation_curve
from ..interventions.progress import _progress_losses
from ..interventions.units import UnitProjection, _unit_projection
from ..tasks import ModularArithmetic
from .claims import Claim, Thresholds

MAX_POINTS = 12
FLOOR_MAX = 0.5  # with every frequency removed at the unit hook, accuracy must fall at least this low


@dataclass
class AblationSteps:
    """Accuracy and loss after removing the first ``removed[i]`` frequencies of ``order`` (and of the control)."""

    hook: str
    order: list[int]
    removed: list[int]
    accuracy: list[float]
    loss: list[float]
    control_order: list[int] = field(default_factory=list)
    control_removed: list[int] = field(default_factory=list)
    control_accuracy: list[float] = field(default_factory=list)
    control_loss: list[float] = field(default_factory=list)

    @classmethod
    def from_curve(cls, curve: AblationCurve) -> AblationSteps:
        """The report's record of an :func:`fi.ablation_curve` at one hook."""
        return cls(curve.hooks[0], list(curve.order), list(curve.removed), list(curve.accuracy), list(curve.loss),
                   list(curve.control_order), list(curve.control_removed), list(curve.control_accuracy),
                   list(curve.control_loss))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def plot(self):
        """Accuracy and loss against the number of frequencies removed; returns a matplotlib Figure."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 3.3))
        FigureCanvasAgg(fig)
        ax_acc, ax_loss = fig.subplots(1, 2)
        for ax, key, label in ((ax_acc, "accuracy", "accuracy"), (ax_loss, "loss", "loss")):
            ax.plot(self.removed, getattr(self, key), "o-", label="key frequencies (+ harmonics)")
            if self.control_removed:
                ax.plot(self.control_removed, getattr(self, f"control_{key}"), "s--", label="control: other frequencies")
            ax.set_xlabel("frequencies removed")
            ax.set_ylabel(label)
        ax_acc.set_ylim(-0.02, 1.02)
        ax_acc.legend(fontsize="small")
        fig.suptitle(f"frequency ablation at {self.hook}")
        fig.tight_layout()
        return fig


def control_frequencies(family: list[int], p: int, n: int, seed: int) -> Optional[list[int]]:
    """``n`` seeded frequencies outside ``family`` (fewer if fewer remain; ``None`` if none do)."""
    others = [f for f in range(1, n_frequencies(p) + 1) if f not in family]
    if not others:
        return None
    gen = torch.Generator().manual_seed(seed)
    return [others[i] for i in torch.randperm(len(others), generator=gen)[:n].tolist()]


def claims_causal(model, task: ModularArithmetic, logits: Tensor, hook: str, key: list[int], logit_fraction: Tensor,
                  th: Thresholds, seed: int, harmonic_order: int, where=None):
    """The causal claims: ``(AblationSteps or None, [Claim, ...])``.

    Args:
        logits: Full-grid logits of the unablated model (for the losses and the baseline).
        logit_fraction: ``[(p-1)//2]`` logit-variance share per frequency (the importance order).
        where: Index after the batch axis of the unit hook to ablate (the readout position).
    """
    p, chance = task.p, 1.0 / task.p
    if not key:
        return None, [Claim("ablating key frequencies breaks the model", None, "", False, "no key frequencies found",
                            key="ablation")]
    family = harmonic_family(key, p, harmonic_order)
    importance = lambda f: (f not in key, -float(logit_fraction[f - 1]), f)  # noqa: E731
    order = sorted(family, key=importance)
    control = control_frequencies(family, p, n=len(family), seed=seed)
    curve = _ablation_curve(model, task, [hook], family, order, control=control or False, where=where,
                            points=MAX_POINTS, baseline=logits)
    steps = AblationSteps.from_curve(curve)
    removed, accs = steps.removed, steps.accuracy
    ablated = accs[-1]
    # What the model achieves with *every* frequency removed at the hook: paths that bypass
    # the units (a transformer's residual stream) keep some accuracy at small p.
    every = list(range(1, n_frequencies(p) + 1))
    floor = ablated if order == every else loss_and_accuracy(
        _grid_logits(model, task, [(hook, FrequencyAblation(task, every, where=where))]), task)[1]
    target = max(chance, floor)
    limit = target + th.collapse * (1 - target)
    extra = sorted(set(family) - set(key))
    harm = f" with their harmonics {extra}" if extra else ""
    # the worst point of the cumulative removal: a unit rich in harmonics beyond the family's
    # order (a planted pizza's |x|) can point the right way again once its low harmonics are all gone
    rise = (max(steps.loss) - steps.loss[0]) / math.log(p)  # the loss's largest rise, in ln p
    collapsed = min(accs) <= limit or rise >= th.break_loss
    claims = [Claim(
        "ablating key frequencies breaks the model", ablated, f"<= {limit:.3f} (or loss + {th.break_loss} ln p)",
        floor <= FLOOR_MAX and collapsed,
        f"accuracy {accs[0]:.3f} -> {ablated:.3f} (lowest {min(accs):.3f}; loss up to +{rise:.2f} ln p) removing the "
        f"{len(family)} key "
        f"frequencies{harm} at {hook!r} in "
        f"order of logit share (after " + ", ".join(f"{n}: {a:.3f}" for n, a in zip(removed[1:], accs[1:]))
        + f"); chance {chance:.3f}, and {floor:.3f} with every frequency removed there"
        + ("" if floor <= FLOOR_MAX else f" — above {FLOOR_MAX}: the units at this hook do not carry the computation"),
        figure="ablation", key="ablation")]
    if control is None:
        claims.append(Claim("ablating other frequencies does not", None, f">= {th.control_accuracy}", None,
                            "not possible: every frequency is key (or a key harmonic), so there is nothing to ablate "
                            "as a control", key="control"))
    else:
        acc = steps.control_accuracy[-1]
        claims.append(Claim("ablating other frequencies does not", acc, f">= {th.control_accuracy}",
                            acc >= th.control_accuracy,
                            f"accuracy {acc:.3f} with as many other frequencies {sorted(control)} ablated at {hook!r}",
                            figure="ablation", key="control"))
    claims += _progress_claims(logits, task, key, th)
    return steps, claims


def _progress_claims(logits: Tensor, task: ModularArithmetic, key: list[int], th: Thresholds) -> list[Claim]:
    """Restricted and excluded loss (Nanda et al.) of the cached logits."""
    logits = logits.double()
    ln_p = math.log(task.p)
    full, full_train = split_loss(logits, task, "all"), split_loss(logits, task, "train")
    restricted, excluded = _progress_losses(logits, task, key)
    return [
        Claim("restricted loss near full loss", restricted, f"<= full + {th.restricted_gap} ln p",
              (restricted - full) / ln_p <= th.restricted_gap,
              f"keeping only the key frequencies' cos/sin(w s.a) logit components: {restricted:.4g} vs full "
              f"{full:.4g} on all inputs (ln p = {ln_p:.3f})", figure="training", key="restricted_loss"),
        Claim("excluded loss far above full loss", excluded, f">= full + {th.excluded_gap} ln p",
              (excluded - full_train) / ln_p >= th.excluded_gap,
              f"removing them, on the train split: {excluded:.4g} vs full {full_train:.4g}", figure="training",
              key="excluded_loss"),
    ]


def claim_unit_projection(model, task: ModularArithmetic, hook: str, grid, th: Thresholds, harmonic_order: int,
                          pos) -> tuple[UnitProjection, Claim]:
    """The causal unit claim: every unit projected onto its own strongest ``m`` frequency blocks.

    Passes with the smallest ``m <= th.max_blocks`` whose projection keeps the model working
    while the rest alone does not (:func:`fi.unit_projection`); ``m = 1`` is a unit per
    frequency, ``m >= 2`` units that superpose ``m`` per-frequency products.
    """
    res = _unit_projection(model, task, hook, max_blocks=th.max_blocks, harmonic_order=harmonic_order, pos=pos,
                           accuracy_drop=th.projection_accuracy_drop, loss_gap=th.projection_loss_gap,
                           collapse=th.collapse, loss_rise=th.break_loss, grid=grid)
    steps = "; ".join(f"{m} block{'s' if m > 1 else ''}: accuracy {a:.3f}, loss {lo:.3g}, rest alone {r:.3f}"
                      for m, a, lo, r in zip(res.counts, res.keep_accuracy, res.keep_loss, res.rest_accuracy))
    if res.blocks is not None:
        counts = torch.bincount(res.unit_frequencies[:, 0], minlength=1)
        top = ", ".join(f"{f}: {int(c)}" for f, c in sorted(enumerate(counts.tolist()), key=lambda x: -x[1])[:5] if c)
        verdict = (f"each unit computes with {res.blocks} frequency block{'s' if res.blocks > 1 else ''} "
                   + ("(one frequency per unit)" if res.blocks == 1 else "(units superpose per-frequency products)")
                   + f"; units by strongest frequency {{{top}}}")
    else:
        verdict = (f"no count up to {th.max_blocks} keeps the model working with the rest alone failing: the units "
                   "do not compute frequency by frequency")
    return res, Claim(
        "units compute frequency by frequency (per-unit projection)", None if res.blocks is None else float(res.blocks),
        f"m <= {th.max_blocks}", res.blocks is not None,
        f"{verdict}. Every unit at {hook!r} replaced by its projection onto its own strongest m family blocks "
        f"(harmonics to order {harmonic_order}): {steps}; unchanged {res.base_accuracy:.3f} (loss {res.base_loss:.3g}), "
        f"units at their mean {res.floor_accuracy:.3f}", figure="unit_frequencies", key="unit_projection")
