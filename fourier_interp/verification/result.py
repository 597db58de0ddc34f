"""The verification report: claims, verdict and the evidence behind them, as text, JSON or HTML."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from .. import jsonio
from ..analysis.results import fmt_value
from ..tasks import ModularArithmetic
from .claims import Claim, Thresholds


@dataclass
class VerificationReport:
    """What :func:`fi.verify` found.

    Attributes:
        passed: The model computes Fourier Multiplication (the clock): ``algorithm`` is
            ``"clock"`` or ``"clock-superposed"``, so every core, clock and shape claim holds.
        key_frequencies: Sorted key frequencies in ``1..(p-1)//2``.
        algorithm: What the model computes, an :class:`Algorithm`: ``"clock"``,
            ``"clock-superposed"``, ``"pizza"``, ``"mixed"``, ``"fourier-incomplete"`` or
            ``"non-fourier"`` (compares equal to the string), named by the decision table of
            :mod:`fourier_interp.verification.algorithm`.
        reason: Why that name: the claims that decided it.
        blocks: Frequency blocks per unit in the per-unit projection (1: one frequency
            per unit; ``None``: the projection found none that works).
        claims: The :class:`Claim` list, in order; ``claim(key)`` finds one by key.
        thresholds: The :class:`Thresholds` used.
        frequencies: The ``FrequencyReport`` (weights, units, logits) behind claims 2-4.
        ablation: The ``AblationSteps`` behind claim 5.
        extras: Architecture-specific results (low rank, neuron alignment, attention).
        history: The training history, when given.
        timings: Seconds spent per stage.
    """

    name: str
    model_class: str
    task: ModularArithmetic
    neurons: str
    passed: bool
    key_frequencies: list[int]
    claims: list[Claim]
    thresholds: Thresholds
    algorithm: Any = None
    reason: str = ""
    blocks: Optional[int] = None
    frequencies: Any = None
    ablation: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
    history: Any = None
    timings: dict[str, float] = field(default_factory=dict)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    @property
    def failed_claims(self) -> list[Claim]:
        """Counted claims that failed: why the model does not pass."""
        return [c for c in self.claims if c.counted and c.passed is False]

    def claim(self, key: str) -> Claim:
        """The claim with key ``key`` (e.g. ``"unit_projection"``; its title works too)."""
        for c in self.claims:
            if key in (c.key, c.name):
                return c
        raise KeyError(f"no claim {key!r}; claims: {[c.key for c in self.claims]}")

    def claims_by_key(self) -> dict[str, Claim]:
        """``{key: claim}`` in the report's order."""
        return {c.key: c for c in self.claims}

    # ------------------------------------------------------------- exports
    def to_dict(self) -> dict[str, Any]:
        from ..checkpoint import versions

        freq = self.frequencies
        out = {
            "name": self.name,
            "model_class": self.model_class,
            "task": self.task.to_dict(),
            "neurons": self.neurons,
            "passed": self.passed,
            "algorithm": None if self.algorithm is None else str(self.algorithm),
            "reason": self.reason,
            "blocks": self.blocks,
            "key_frequencies": self.key_frequencies,
            "failed_claims": [c.key for c in self.failed_claims],
            "note": self.note,
            "claims": [c.to_dict() for c in self.claims],
            "thresholds": self.thresholds.to_dict(),
            "methods": None if freq is None else freq.methods,
            "key_frequency_rule": None if freq is None else freq.rule,
            "logit_fraction_by_frequency": None if freq is None else freq.logits.fraction,
            "ablation": None if self.ablation is None else self.ablation.to_dict(),
            "timings_s": self.timings,
            "created": self.created,
            "versions": versions(),
        }
        return jsonio.to_json(out)  # the one converter: inf/nan as strings, tensors as lists

    def to_json(self, path: Union[str, Path, None] = None) -> str:
        """The report as JSON; also written (atomically) to ``path`` when given."""
        text = jsonio.dumps(self.to_dict(), indent=2)
        if path is not None:
            from ..checkpoint import atomic_write_bytes

            atomic_write_bytes(Path(path), (text + "\n").encode())
        return text

    @property
    def note(self) -> Optional[str]:
        """One line about the task the claims should be read with (a modulus that is not prime), or ``None``."""
        from ..checks import non_prime_note

        return non_prime_note(self.task.p)

    def to_html(self, path: Union[str, Path, None] = None) -> str:
        """One self-contained HTML page (claim table, figures, attention patterns); written to ``path`` if given."""
        from ..report import render_html

        page = render_html(self)
        if path is not None:
            from ..checkpoint import atomic_write_bytes

            atomic_write_bytes(Path(path), page.encode())
        return page

    def table(self) -> str:
        """The claim table as plain text."""
        rows = [("#", "key", "role", "claim", "value", "threshold", "verdict")]
        for i, c in enumerate(self.claims, 1):
            rows.append((str(i), c.key, c.role, c.name, fmt_value(c.value), c.threshold, c.verdict))
        widths = [max(len(r[j]) for r in rows) for j in range(7)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __str__(self) -> str:
        head = (
            f"Fourier Multiplication check: {self.name} ({self.model_class}) on {self.task}\n"
            f"verdict: {'PASS' if self.passed else 'FAIL'}    algorithm: {self.algorithm}"
            + (f" ({self.blocks} blocks per unit)" if self.blocks and self.blocks > 1 else "") + "    "
            f"key frequencies: {self.key_frequencies}    "
            f"units: {self.neurons!r}"
        )
        if self.reason:
            head += f"\nwhy: {self.reason}"
        if self.note:
            head += "\n" + self.note
        details = "\n".join(f"  {i}. {c.detail}" for i, c in enumerate(self.claims, 1))
        return f"{head}\n\n{self.table()}\n\ndetails:\n{details}"

    def __repr__(self) -> str:
        return (f"VerificationReport({self.name!r}, passed={self.passed}, algorithm={str(self.algorithm)!r}, "
                f"key_frequencies={self.key_frequencies}, "
                f"failed={[c.name for c in self.failed_claims]})")


def verdict(claim: Claim) -> str:
    """``claim.verdict`` (kept for callers of the old helper)."""
    return claim.verdict


_fmt = fmt_value  # the report's number format, shared with the HTML page (fourier_interp.analysis.results)
