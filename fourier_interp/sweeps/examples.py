"""The sweep configs shipped with the package (``fourier_interp/examples/*.toml``).

They are package data, so they are there after ``pip install`` as well as in a clone:
``fourier-interp sweep --example NAME`` runs one, ``fourier-interp list`` names them.
Importing this module imports nothing heavy.

Example:
    >>> from fourier_interp.sweeps.examples import example_path, list_examples
    >>> "sweep-small" in list_examples()
    True
    >>> example_path("sweep-small").name
    'sweep-small.toml'
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidArgumentError

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"


def list_examples() -> list[str]:
    """Names of the shipped sweep configs, sorted (a name is the file's stem)."""
    return sorted(path.stem for path in EXAMPLES_DIR.glob("*.toml"))


def example_path(name: str) -> Path:
    """The file of the shipped sweep config ``name``, for :func:`fi.sweep` or ``load_config``.

    Raises:
        InvalidArgumentError: ``name`` is not a shipped example (the message lists them).
    """
    if not isinstance(name, str) or name not in list_examples():
        raise InvalidArgumentError(f"example={name!r} is not a shipped sweep config; expected one of {list_examples()}")
    return EXAMPLES_DIR / f"{name}.toml"
