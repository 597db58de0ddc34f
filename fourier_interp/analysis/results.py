"""Small result objects of the analyses: tensors plus a readable ``repr`` and ``to_dict()``.

``to_dict()`` returns JSON-safe values only (tensors become lists, numbers Python floats
and ints), so a result can go straight into ``json.dumps`` or a verification report.
Frequencies are always the integers ``1..(p-1)//2``; a per-frequency tensor of length
``(p-1)//2`` holds frequency ``f`` at index ``f - 1``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor

from ..errors import InvalidArgumentError
from ..jsonio import to_json  # the package's one JSON converter (inf/nan policy there)


class Result:
    """Mixin: ``to_dict()`` over the dataclass fields plus the ``summary()`` numbers."""

    def summary(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}
        out.update(to_json(self.summary()))
        return out


def significant(values: Tensor, rel: float, positive: Optional[Tensor] = None) -> list[int]:
    """Frequencies (index + 1) whose value is at least ``rel`` times the largest value."""
    values = values.double()
    top = float(values.max()) if values.numel() else 0.0
    if top <= 0:
        return []
    keep = values >= rel * top
    if positive is not None:
        keep &= positive
    return [i + 1 for i in torch.nonzero(keep).flatten().tolist()]


def fmt_value(value: Optional[float]) -> str:
    """A measured number as the text reports show it: ``-`` for none or non-finite, 4 decimals or scientific."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if abs(value) >= 1000 or (value != 0 and abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4f}"


def _fmt_freqs(freqs: list[int], limit: int = 12) -> str:
    """``[1, 2, 3, …]``: at most ``limit`` frequencies, an ellipsis when some are left out."""
    freqs = list(freqs)
    shown = ", ".join(map(str, freqs[:limit]))
    return f"[{shown}{', …' if len(freqs) > limit else ''}]"


@dataclass(repr=False)
class UnitFrequencies(Result):
    """Per-unit frequency clustering over the full input grid (see ``unit_frequencies``).

    Attributes:
        freq: ``[units]`` each unit's frequency (the one whose block explains most of its
            variance); 0 for dead units (no variance over the grid).
        fraction: ``[units]`` fraction of the unit's variance in its frequency's family block
            (the frequency and its harmonics up to ``harmonic_order``).
        clustered: ``[units]`` ``fraction >= threshold``.
        fraction_by_freq: ``[units, (p-1)//2]`` Nanda et al.'s pure block fraction of each
            frequency (no harmonics); rows sum to at most 1.
        live: ``[units]`` units with non-zero variance over the grid.
    """

    hook: Optional[str]
    freq: Tensor
    fraction: Tensor
    clustered: Tensor
    fraction_by_freq: Tensor
    live: Tensor
    threshold: float
    harmonic_order: int

    @property
    def n_units(self) -> int:
        return len(self.freq)

    @property
    def counts(self) -> Tensor:
        """``[(p-1)//2 + 1]``: clustered units per frequency; index 0 counts the unclustered."""
        n_freq = self.fraction_by_freq.shape[1]
        labels = torch.where(self.clustered, self.freq, torch.zeros_like(self.freq))
        return torch.bincount(labels, minlength=n_freq + 1)

    @property
    def share_clustered_pure(self) -> float:
        """Clustered share under Nanda et al.'s own rule: the *pure* ``{const, cos f, sin f}^k`` block
        of one frequency (no harmonics) holds ``>= threshold`` of the unit's variance.

        :attr:`share_clustered` credits a unit's harmonics too (a ReLU unit on ``f`` also
        carries ``2f``), so it is higher: 0.88 against 0.78 on the shipped p = 113 transformer
        (Nanda et al. report 84.6% for their seed under the pure rule).
        """
        pure = self.fraction_by_freq.max(1).values >= self.threshold
        return float((pure & self.live).sum()) / max(1, int(self.live.sum()))

    @property
    def share_clustered(self) -> float:
        """Clustered units / live units (dead units are neither)."""
        return float(self.clustered.sum()) / max(1, int(self.live.sum()))

    def frequencies(self, rel: float = 0.1) -> list[int]:
        """Frequencies with at least ``rel`` times the largest cluster's count of clustered units."""
        return significant(self.counts[1:].double(), rel)

    def summary(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "share_clustered": self.share_clustered,
            "share_clustered_pure": self.share_clustered_pure,
            "counts": {int(f): int(c) for f, c in enumerate(counts.tolist()) if f and c},
            "n_unclustered": int(counts[0]),
            "frequencies": self.frequencies(),
        }

    def __repr__(self) -> str:
        counts = self.summary()["counts"]
        top = ", ".join(f"{f}: {c}" for f, c in sorted(counts.items(), key=lambda kv: -kv[1])[:8])
        return (
            f"UnitFrequencies(hook={self.hook!r}, units={self.n_units}, "
            f"clustered={self.share_clustered:.1%} at >= {self.threshold} (harmonics to {self.harmonic_order}), "
            f"units per frequency {{{top}}})"
        )


@dataclass(repr=False)
class LogitFrequencies(Result):
    """How much of the centred logits each frequency's ``cos(w (s.a - c))`` term explains.

    Attributes:
        fraction: ``[(p-1)//2]`` fraction of the centred logit variance explained by each
            frequency's direction (orthogonal directions, so fractions add).
        coef: ``[(p-1)//2]`` least-squares coefficient of each direction; positive when the
            term peaks at the right answer.
    """

    fraction: Tensor
    coef: Tensor

    @property
    def total(self) -> float:
        """Fraction explained by all frequencies together."""
        return float(self.fraction.sum())

    @property
    def order(self) -> list[int]:
        """Frequencies sorted by the fraction they explain, largest first."""
        return [int(i) + 1 for i in torch.argsort(self.fraction, descending=True, stable=True)]

    @property
    def cumulative(self) -> Tensor:
        """Cumulative fraction explained along :attr:`order`."""
        return self.fraction[torch.tensor(self.order) - 1].cumsum(0)

    def explained(self, freqs) -> float:
        """Fraction of the centred logit variance explained by the set ``freqs``."""
        freqs = [freqs] if isinstance(freqs, int) else list(freqs)
        return float(sum(self.fraction[f - 1] for f in freqs)) if freqs else 0.0

    def frequencies(self, rel: float = 0.1) -> list[int]:
        """Frequencies with positive coefficient explaining at least ``rel`` times the top fraction."""
        return significant(self.fraction, rel, positive=self.coef > 0)

    def summary(self) -> dict[str, Any]:
        return {"total": self.total, "frequencies": self.frequencies()}

    def __repr__(self) -> str:
        top = ", ".join(f"{f}: {self.fraction[f - 1]:.3f}" for f in self.order[:6])
        return f"LogitFrequencies(explained={self.total:.3f}, top {{{top}}})"


@dataclass(repr=False)
class WeightSpectrum(Result):
    """Energy per frequency of a weight along its Z_p axis, with a Gini sparsity score.

    Attributes:
        name: Which weight (``"embed"``, ``"unembed"``, ``"unit_inputs"``, ...).
        p: The length of the Z_p axis.
        energy: ``[p//2 + 1]`` sum of squares per frequency; index 0 is the constant.
        gini: Gini coefficient of the per-frequency norms ``sqrt(energy[1:(p-1)//2+1])``:
            0 when all frequencies are equal, ``1 - 1/n`` when one frequency holds everything.
        unit_gini: For per-unit weights, the mean over units of each unit's own Gini.
    """

    name: str
    p: int
    energy: Tensor
    gini: float
    unit_gini: Optional[float] = None

    @property
    def fraction(self) -> Tensor:
        """``[(p-1)//2]`` share of the energy of frequencies 1..(p-1)//2 (const and Nyquist left out)."""
        e = self.energy[1 : (self.p - 1) // 2 + 1]
        return e / e.sum().clamp_min(torch.finfo(e.dtype).tiny)

    def frequencies(self, rel: float = 0.1) -> list[int]:
        """Frequencies with at least ``rel`` times the top frequency's energy."""
        return significant(self.fraction, rel)

    def summary(self) -> dict[str, Any]:
        return {"fraction": self.fraction, "frequencies": self.frequencies()}

    def __repr__(self) -> str:
        extra = "" if self.unit_gini is None else f", unit_gini={self.unit_gini:.3f}"
        return f"WeightSpectrum({self.name!r}, gini={self.gini:.3f}{extra}, frequencies={_fmt_freqs(self.frequencies())})"


@dataclass(repr=False)
class FrequencyReport(Result):
    """Key frequencies three ways from one pass over the full grid (see ``analyze_frequencies``).

    Attributes:
        methods: The key-frequency set found by each method: ``"weights"`` (embedding /
            unembedding / unit-weight spectra), ``"units"`` (clustered hidden units) and
            ``"logits"``; a method without its inputs is absent.
        key_frequencies: The combined set (``rule`` says how it was formed).
    """

    p: int
    k: int
    hook: Optional[str]
    accuracy: float
    logits: LogitFrequencies
    units: Optional[UnitFrequencies]
    weights: dict[str, WeightSpectrum]
    methods: dict[str, list[int]]
    key_frequencies: list[int]
    rule: str
    rel_threshold: float

    @property
    def agree(self) -> bool:
        """Whether every available method found the same set."""
        sets = [tuple(v) for v in self.methods.values()]
        return len(set(sets)) <= 1

    def summary(self) -> dict[str, Any]:
        return {
            "agree": self.agree,
            "logit_explained_by_key": self.logits.explained(self.key_frequencies),
            "share_clustered": None if self.units is None else self.units.share_clustered,
        }

    def __repr__(self) -> str:
        lines = [f"FrequencyReport(p={self.p}, k={self.k}, hook={self.hook!r}, accuracy={self.accuracy:.3f})"]
        lines.append(f"  key frequencies {self.key_frequencies}  ({self.rule})")
        for name, freqs in self.methods.items():
            lines.append(f"  {name:<8} {_fmt_freqs(freqs)}")
        lines.append(f"  logits explained by key frequencies: {self.logits.explained(self.key_frequencies):.3f}")
        if self.units is not None:
            lines.append(f"  units clustered: {self.units.share_clustered:.1%}")
        for w in self.weights.values():
            lines.append(f"  {w!r}")
        return "\n".join(lines)


@dataclass(repr=False)
class LowRank(Result):
    """Singular-value energy of a matrix and the Fourier alignment of its top singular vectors.

    Attributes:
        singular_values: All singular values, descending.
        threshold: The energy fraction that defines the significant rank ``r``.
        r: Smallest rank whose components hold ``>= threshold`` of the energy (sum of s^2).
        freq, purity: ``[r]`` for each significant singular vector along the Z_p (or grid)
            axis, the frequency holding most of its energy and that share (constant
            included in the total); ``None`` when the matrix has no such axis.
    """

    name: str
    shape: tuple[int, ...]
    singular_values: Tensor
    threshold: float
    r: int
    freq: Optional[Tensor] = None
    purity: Optional[Tensor] = None
    aligned_via: Optional[str] = None

    @property
    def energy(self) -> Tensor:
        """Share of the total energy in each component."""
        s2 = self.singular_values.double().pow(2)
        return s2 / s2.sum().clamp_min(torch.finfo(s2.dtype).tiny)

    def energy_at(self, r: int) -> float:
        """Share of the energy in the top ``r`` components."""
        return float(self.energy[:r].sum())

    def rank(self, fraction: float) -> int:
        """Smallest r whose top components hold at least ``fraction`` of the energy."""
        if not 0 < fraction <= 1:
            raise InvalidArgumentError(f"fraction={fraction!r}: expected a number in (0, 1]")
        cum = self.energy.cumsum(0)
        return int(torch.searchsorted(cum, torch.tensor(fraction - 1e-12, dtype=cum.dtype))) + 1

    def summary(self) -> dict[str, Any]:
        return {"energy_at_r": self.energy_at(self.r), "frequencies": self.frequencies()}

    def frequencies(self) -> list[int]:
        """Distinct frequencies of the significant singular vectors, sorted."""
        return [] if self.freq is None else sorted({int(f) for f in self.freq.tolist() if f > 0})

    def __repr__(self) -> str:
        out = f"LowRank({self.name!r} {list(self.shape)}: r={self.r} holds {self.energy_at(self.r):.1%}"
        if self.freq is not None:
            out += f"; singular vectors on frequencies {self.freq.tolist()[:12]}, mean purity {float(self.purity.mean()):.2f}"
        return out + ")"


@dataclass(repr=False)
class NeuronAlignment(Result):
    """Li et al.'s per-neuron Fourier checks of a k-input MLP (see ``neuron_alignment``).

    Attributes:
        freq: ``[units]`` dominant frequency of each neuron (over its k input and one output vector).
        purity: ``[units]`` the smallest, over the neuron's k + 1 vectors, share of the
            vector's energy (constant included) at ``freq``.
        single: ``[units]`` ``purity >= threshold`` among live neurons.
        live: ``[units]`` neurons whose weight norm is above ``1e-6`` of the largest: weight
            decay switches the others off (their weights are numerical noise, whose purity
            means nothing), so shares are over live neurons. ``None``: every neuron.
        phase_error: ``[units]`` ``|phase(w_i) - sum_j s_j phase(u_ij)|`` wrapped to [0, pi].
        margin: Normalised L_{2,k+1} margin on the full dataset (``None`` if not computed).
        balanced_margin: The same after rescaling each neuron to its smallest norm (same function).
        reference_margin: The balanced margin of the analytic all-frequency ``planted_mlp``
            (a constructive max-margin reference; ``None`` if not computed).
    """

    freq: Tensor
    purity: Tensor
    single: Tensor
    phase_error: Tensor
    threshold: float
    n_freq: int
    margin: Optional[float] = None
    balanced_margin: Optional[float] = None
    reference_margin: Optional[float] = None
    live: Optional[Tensor] = None

    @property
    def n_live(self) -> int:
        return int(self.live.sum()) if self.live is not None else len(self.single)

    @property
    def share_single(self) -> float:
        """Single-frequency neurons / live neurons."""
        return float(self.single.sum()) / self.n_live if self.n_live else 0.0

    def frequencies(self) -> list[int]:
        """Frequencies used by single-frequency neurons (a method, like every result's ``frequencies()``)."""
        return sorted({int(f) for f in self.freq[self.single].tolist()})

    @property
    def coverage(self) -> float:
        """Frequencies used by single-frequency neurons / ``(p-1)//2``."""
        return len(self.frequencies()) / self.n_freq

    @property
    def max_phase_error(self) -> float:
        """Largest phase error among single-frequency neurons (radians)."""
        errs = self.phase_error[self.single]
        return float(errs.max()) if len(errs) else float("nan")

    @property
    def margin_ratio(self) -> Optional[float]:
        """Balanced margin / reference: 1 for Li et al.'s max-margin network."""
        if self.balanced_margin is None or not self.reference_margin:
            return None
        return self.balanced_margin / self.reference_margin

    def summary(self) -> dict[str, Any]:
        return {
            "share_single": self.share_single,
            "n_live": self.n_live,
            "coverage": self.coverage,
            "frequencies": self.frequencies(),
            "max_phase_error": self.max_phase_error,
            "margin_ratio": self.margin_ratio,
        }

    def __repr__(self) -> str:
        out = (
            f"NeuronAlignment(units={len(self.freq)}, single-frequency {self.share_single:.1%} at >= {self.threshold}, "
            f"coverage {self.coverage:.2f} of {self.n_freq}, max phase error {self.max_phase_error:.2g} rad"
        )
        if self.margin is not None:
            out += f", margin {self.margin:.4g}"
        if self.margin_ratio is not None:
            out += f", balanced / reference {self.margin_ratio:.3f}"
        return out + ")"


@dataclass(repr=False)
class ProbeResult(Result):
    """A probe's score on its training rows and on held-out rows.

    ``metric`` is ``"r2"`` (regression; mean over targets) or ``"accuracy"`` (classes).
    """

    metric: str
    train_score: float
    test_score: float
    n_train: int
    n_test: int
    per_target: Optional[list[float]] = None

    def __repr__(self) -> str:
        return f"ProbeResult({self.metric} test={self.test_score:.4f} train={self.train_score:.4f}, n={self.n_train}+{self.n_test})"


@dataclass(repr=False)
class ProbeTable(Result):
    """Rows of a :class:`FourierProbe`: one per (frequency, target), with held-out R^2."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    threshold: float = 0.9

    @property
    def targets(self) -> list[str]:
        """The target names in the table: ``"a1"``, ..., ``"ak"`` and ``"sum"``."""
        return sorted({r["target"] for r in self.rows})

    def readable(self, target: str = "sum") -> list[int]:
        """Frequencies whose cos and sin of ``target`` (``"sum"`` or ``"a1"``, ``"a2"``, ...) are linearly readable.

        Raises:
            ValueError: ``target`` is not one of :attr:`targets` (the message lists them).
        """
        if target not in self.targets:
            raise InvalidArgumentError(f"target={target!r} is not in this table; expected one of {self.targets}")
        return sorted(r["freq"] for r in self.rows if r["target"] == target and r["readable"])

    def to_dataframe(self):
        """The rows as a ``pandas.DataFrame`` (pandas is imported only here)."""
        import pandas as pd

        return pd.DataFrame(self.rows)

    def summary(self) -> dict[str, Any]:
        return {"readable": {t: self.readable(t) for t in self.targets}}

    def __repr__(self) -> str:
        readable = self.summary()["readable"]
        body = ", ".join(f"{t}: {_fmt_freqs(f)}" for t, f in readable.items())
        return f"ProbeTable({len(self.rows)} rows; readable at R^2 >= {self.threshold}: {{{body}}})"
