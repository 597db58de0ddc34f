"""Verification of the Fourier Multiplication algorithm: claims -> verdict -> report.

* :mod:`.claims` — :class:`Thresholds` (every threshold, with its reason), :class:`Claim`,
  the registry :data:`CLAIMS` of deciding claims by key and role, and one function per
  claim; :mod:`.causal` — the ablation, per-unit projection and progress-measure claims;
  :mod:`.algorithm` — the shape claims and the decision table that names the algorithm
  (:class:`Algorithm`: clock, clock-superposed, pizza, mixed, fourier-incomplete, non-fourier).
* :mod:`.pipeline` — :func:`verify`: one full-grid pass, analyses, interventions, verdict.
* :mod:`.result` — :class:`VerificationReport`: text table, JSON, HTML (rendered by
  :mod:`fourier_interp.report`).

docs/verify.md explains every claim and threshold.
"""

from .algorithm import Algorithm, name_algorithm
from .claims import CLAIMS, ROLES, Claim, Thresholds
from .pipeline import verify
from .result import VerificationReport

__all__ = ["Algorithm", "CLAIMS", "ROLES", "Claim", "Thresholds", "VerificationReport", "name_algorithm", "verify"]
