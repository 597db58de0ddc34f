"""What every ``fourier-interp`` subcommand's parser shares: the one-line error and argument types.

Both the top-level command line (:mod:`fourier_interp.cli`) and the sweep subcommand
(:mod:`fourier_interp.sweeps.cli`) import from here, so neither imports the other's parser.
Imports only the standard library: parsing never loads torch.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable, Union


class UsageError(Exception):
    """A mistake in the command line or its inputs: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are a :class:`UsageError` (one line) instead of usage + exit."""

    def error(self, message: str):  # one line instead of usage + message
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def int_at_least(name: str, minimum: int, why: str = "") -> Callable[[str], int]:
    """An argparse type: an int ``>= minimum``; the message names ``name`` and the bound.

    Example:
        >>> int_at_least("p", 3)("7")
        7
    """

    def parse(text: str) -> int:
        value = int(text)  # a ValueError here reads "invalid int value: 'seven'"
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{name}={value} is not allowed; expected an int >= {minimum}{why}")
        return value

    parse.__name__ = "int"
    return parse


def threads(text: str) -> Union[str, int]:
    """An argparse type for ``--threads``: ``auto`` or an int >= 1."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threads={text!r} is not allowed; expected 'auto' or an int >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"threads={value} is not allowed; expected 'auto' or an int >= 1")
    return value


def fraction(name: str) -> Callable[[str], float]:
    """An argparse type: a float in ``(0, 1]``."""

    def parse(text: str) -> float:
        value = float(text)
        if math.isnan(value) or not 0 < value <= 1:
            raise argparse.ArgumentTypeError(f"{name}={text} is outside (0, 1]")
        return value

    parse.__name__ = "float"
    return parse
