"""The package's own exception for bad arguments (the lowest layer: imports nothing).

:class:`InvalidArgumentError` is what the library's explicit argument checks raise when a
caller passes a value that is not allowed (``ModularArithmetic(p=2)``,
``TrainConfig(steps=-1)``, ``threads=0``, a device this machine lacks, a model built for
another task). It subclasses ``ValueError``, so ``except ValueError`` keeps working; an
argument of the wrong type raises :class:`InvalidArgumentTypeError`, which is also a
``TypeError``, so ``except TypeError`` keeps working too.

The command line reports exactly these errors (and :class:`~fourier_interp.checkpoint.CheckpointError`)
in one line with exit status 2; any other exception is a bug and stays a traceback.

Example:
    >>> import fourier_interp as fi
    >>> try:
    ...     fi.ModularArithmetic(p=2)
    ... except fi.InvalidArgumentError as e:
    ...     print(e)
    p=2 is not allowed; expected an int >= 3 (Z_2 has no Fourier frequency: frequencies are 1..(p-1)//2)
"""

from __future__ import annotations


class InvalidArgumentError(ValueError):
    """A caller passed a value the library's argument checks refuse; the message names the argument."""


class InvalidArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong type (a string where a list of ints is expected ...); also a ``TypeError``."""


class InsufficientMemoryError(InvalidArgumentError):
    """A computation was refused before it started: its estimated peak memory exceeds what is free.

    The message names the estimate, what needs it (the cause) and the way out (a smaller
    ``p`` or ``k``, a ``batch_size``, a chunk size). Raised before anything large is allocated.
    """
