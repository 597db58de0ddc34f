"""Griffe extension for the API reference (named in mkdocs.yml): docstring spelling fixes.

The package's docstrings are Google style with two habits that griffe, which parses them for
mkdocstrings, reads differently:

* ``Example:`` (singular) opens a doctest; griffe only knows ``Examples:`` and would render the
  doctest as quoted prose. It is read as ``Examples:``.
* Cross-references are written as Sphinx roles (:func:`train`); the role marker is dropped
  and the name kept as code.

Only the text handed to the documentation changes; the source and its doctests do not.
"""

from __future__ import annotations

import re

import griffe

EXAMPLE = re.compile(r"^(\s*)Example:\s*$", flags=re.M)
ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|exc|obj|const):`~?\.?([^`]+)`")


def fix(text: str) -> str:
    """The docstring ``text`` with ``Example:`` read as ``Examples:`` and Sphinx roles as code."""
    return ROLE.sub(r"``\1``", EXAMPLE.sub(r"\1Examples:", text))


class DocstringFixes(griffe.Extension):
    """Applies :func:`fix` to every docstring as griffe loads it."""

    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fix(obj.docstring.value)
