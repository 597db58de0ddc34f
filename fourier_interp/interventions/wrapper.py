"""Moved: :class:`HookedWrapper` lives in :mod:`fourier_interp.models.wrapper` (it is a model, below checkpoints).

This module keeps the old import path working: ``from fourier_interp.interventions.wrapper
import HookedWrapper`` gives the same class as ``fi.HookedWrapper``.
"""

from ..models.wrapper import HookedWrapper, WrapperConfig

__all__ = ["HookedWrapper", "WrapperConfig"]
