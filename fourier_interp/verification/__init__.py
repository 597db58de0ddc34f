"""Verification of the Fourier Multiplication algorithm: claims -> verdict -> report.

* :mod:`.claims` — :class:`Thresholds` (every threshold, with its reason), :class:`Claim`
  and one function per claim; :mod:`.causal` — the ablation and progress-measure claims;
  :mod:`.algorithm` — clock, pizza, mixed or non-fourier (:class:`Algorithm`).
* :mod:`.pipeline` — :func:`verify`: one full-grid pass, analyses, interventions, verdict.
* :mod:`.result` — :class:`VerificationReport`: text table, JSON, HTML (rendered by
  :mod:`fourier_interp.report`).

docs/verify.md explains every claim and threshold.
"""

from .algorithm import Algorithm
from .claims import Claim, Thresholds
from .pipeline import verify
from .result import VerificationReport

__all__ = ["Algorithm", "Claim", "Thresholds", "VerificationReport", "verify"]
