"""Irreps of the symmetric group S_n by Young's orthogonal form, one per partition of n.

The irrep of partition ``lam`` acts on the standard Young tableaux of shape ``lam``. The
adjacent transposition ``s_i`` (swap ``i`` and ``i + 1``) acts on tableau ``T`` through the
axial distance ``r = content(i + 1) - content(i)`` (content = column - row):

* ``i`` and ``i + 1`` in the same row (``r = 1``): ``s_i T = T``;
* in the same column (``r = -1``): ``s_i T = -T``;
* otherwise ``s_i T = T / r + sqrt(1 - 1 / r^2) T'``, with ``T'`` the tableau with ``i`` and
  ``i + 1`` swapped (its distance is ``-r``), so each ``s_i`` is a symmetric orthogonal matrix.

Every other permutation's matrix is a product of these along a word in the ``s_i``.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch
from torch import Tensor


def partitions(n: int) -> list[tuple[int, ...]]:
    """Partitions of ``n``, largest first part first (``(n)``, ``(n-1, 1)``, ..., ``(1, ..., 1)``)."""

    def parts(rest: int, largest: int) -> Iterator[tuple[int, ...]]:
        if rest == 0:
            yield ()
            return
        for first in range(min(rest, largest), 0, -1):
            for tail in parts(rest - first, first):
                yield (first, *tail)

    return list(parts(n, n))


def conjugate(lam: tuple[int, ...]) -> tuple[int, ...]:
    """The transposed partition (rows <-> columns)."""
    return tuple(sum(1 for part in lam if part > c) for c in range(lam[0])) if lam else ()


def partition_name(lam: tuple[int, ...]) -> str:
    """``(3, 1)`` -> ``"(3,1)"``."""
    return "(" + ",".join(map(str, lam)) + ")"


def standard_tableaux(lam: tuple[int, ...]) -> list[tuple[tuple[int, int], ...]]:
    """Standard tableaux of shape ``lam``, each as the (row, column) of ``0, 1, ..., n - 1``."""
    n = sum(lam)
    out: list[tuple[tuple[int, int], ...]] = []

    def place(m: int, lengths: list[int], cells: list[tuple[int, int]]) -> None:
        if m == n:
            out.append(tuple(cells))
            return
        for row, length in enumerate(lengths):
            if length < lam[row] and (row == 0 or lengths[row - 1] > length):
                lengths[row] += 1
                place(m + 1, lengths, cells + [(row, length)])
                lengths[row] -= 1

    place(0, [0] * len(lam), [])
    return out


def transposition_matrices(lam: tuple[int, ...]) -> list[Tensor]:
    """``rho(s_i)`` for ``i = 0..n-2`` in Young's orthogonal form (module docstring)."""
    tableaux = standard_tableaux(lam)
    index = {t: i for i, t in enumerate(tableaux)}
    d, n = len(tableaux), sum(lam)
    mats = []
    for i in range(n - 1):
        m = torch.zeros(d, d, dtype=torch.float64)
        for t, cells in enumerate(tableaux):
            (r0, c0), (r1, c1) = cells[i], cells[i + 1]
            r = (c1 - r1) - (c0 - r0)
            m[t, t] = 1.0 / r
            if abs(r) > 1:
                swapped = list(cells)
                swapped[i], swapped[i + 1] = cells[i + 1], cells[i]
                m[index[tuple(swapped)], t] = math.sqrt(1.0 - 1.0 / r**2)
        mats.append(m)
    return mats
