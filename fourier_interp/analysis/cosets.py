"""Coset circuits (Stander et al., "Grokking Group Multiplication with Cosets", 2024).

A network can compose group elements without representations: a unit that fires when
``g_1`` lies in a left coset ``a H`` and ``g_2`` in a right coset ``H b`` knows that
``g_1 g_2`` lies in ``a H b``, and a readout voting for that set of answers, summed over
enough units, singles the answer out. Such a unit's activation over the input grid is
constant on the cosets of a subgroup on each operand: it does not change when ``g_1`` is
replaced by ``g_1 h`` (or ``h g_1``) for ``h`` in the subgroup.

:func:`unit_cosets` measures exactly that, with no list of subgroups to try: for every
operand, side and element ``h`` it measures how much a unit's activations change when the
operand is multiplied by ``h``; the elements that leave it (nearly) unchanged form its
*invariance subgroup* on that operand. A unit is *coset-like* when that set is a subgroup
other than ``{e}`` on every operand, and not the whole group on at least one (the unit
depends on the input).

What it does not detect, and what it cannot tell apart:

* a unit that is constant on cosets only approximately, beyond the tolerance, or a circuit
  that spreads one coset indicator over several units (each alone is not constant on cosets);
* units that read a *quotient* ``G / K`` by a normal subgroup ``K`` are coset-like too: a
  GCR unit on a non-faithful irrep is constant on the cosets of its kernel (S_n's sign irrep
  on those of A_n), where the two descriptions coincide. :func:`~fourier_interp.verification.groups.verify_group`
  therefore names a model ``coset`` only when it is not GCR.

Example:
    >>> import fourier_interp as fi
    >>> from fourier_interp.analysis.cosets import unit_cosets
    >>> s4 = fi.groups.symmetric(4)
    >>> task = fi.GroupTask(s4)
    >>> res = unit_cosets(fi.grid_activations(fi.planted_coset(s4), task), task)
    >>> round(res.share_coset, 3), res.counts()
    (1.0, {(4, 4): 216})
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import check_group_task
from ..errors import InvalidArgumentError
from ..tasks import GroupTask
from .grid import check_grid

COSET_TOLERANCE = 0.05  # relative change of a unit's activations (1 for an unrelated function) still "unchanged"
SIDES = ("right", "left")  # right: g -> g h (constant on left cosets g H); left: g -> h g (on right cosets H g)


def invariance_changes(acts: Tensor, task: GroupTask, operand: int, side: str) -> Tensor:
    """``[units, order]``: how much each unit's activations change when operand ``operand`` is multiplied by ``h``.

    The change is ``||A(.., g h, ..) - A||^2 / (2 ||A - mean A||^2)`` over the whole grid
    (``side="right"``; ``"left"`` multiplies by ``h`` on the left): 0 when the unit is
    invariant, about 1 when the shifted activations are unrelated to the originals.
    """
    if side not in SIDES:
        raise InvalidArgumentError(f"side={side!r}: expected one of {SIDES}")
    g = task.group
    grid = acts.double().reshape(*task.grid_shape, -1)
    grid = grid - grid.reshape(task.n, -1).mean(0)
    var = grid.pow(2).reshape(task.n, -1).sum(0).clamp_min(1e-300)
    out = torch.empty(grid.shape[-1], g.order, dtype=torch.float64)
    for h in range(g.order):
        index = g.table[:, h] if side == "right" else g.table[h, :]
        shifted = grid.index_select(operand, index.to(grid.device))
        out[:, h] = (shifted - grid).pow(2).reshape(task.n, -1).sum(0).cpu() / (2 * var.cpu())
    return out


def _is_subgroup(task: GroupTask, members: Tensor) -> bool:
    table = task.group.table
    idx = members.nonzero().flatten()
    return bool(members[table[idx][:, idx]].all())


@dataclass
class UnitCosets:
    """Units that read each operand through the cosets of a subgroup (:func:`unit_cosets`).

    Attributes:
        orders: ``[units, k]`` order of each unit's invariance subgroup on each operand
            (the larger of the two sides; 1: none, ``|G|``: the unit ignores the operand;
            0 when the near-invariant elements do not form a subgroup).
        sides: ``[units][k]`` the side of each: ``"right"`` (constant on left cosets
            ``g H``) or ``"left"`` (on right cosets ``H g``).
        subgroups: ``[units][k]`` the subgroup's elements (sorted indices).
        coset_like: ``[units]`` bool (module docstring).
        live: ``[units]`` bool, the unit varies over the grid.
        tolerance: The relative change below which an element counts as leaving the unit unchanged.
    """

    orders: Tensor
    sides: list[list[str]]
    subgroups: list[list[tuple[int, ...]]]
    coset_like: Tensor
    live: Tensor
    tolerance: float

    @property
    def share_coset(self) -> float:
        """Share of live units that are coset-like."""
        return float((self.coset_like & self.live).sum()) / max(1, int(self.live.sum()))

    def counts(self) -> dict[tuple[int, ...], int]:
        """Coset-like units per tuple of subgroup orders (one per operand)."""
        rows = self.orders[self.coset_like & self.live].tolist()
        return dict(Counter(tuple(int(v) for v in r) for r in rows))


def unit_cosets(acts: Tensor, task: GroupTask, tolerance: float = COSET_TOLERANCE) -> UnitCosets:
    """Each unit's invariance subgroup on each operand, and whether it is coset-like.

    Args:
        acts: ``[order**k, units]`` activations on ``task.inputs``.
        task: The group task.
        tolerance: Largest relative change (:func:`invariance_changes`) that counts as none.
    """
    check_group_task(task)
    x = check_grid(acts, task.p, task.k).double()
    g = task.group
    centred = x - x.mean(0, keepdim=True)
    total = centred.pow(2).sum(0)
    live = (total > 1e-12 * total.max().clamp_min(1e-300)).cpu()
    units = x.shape[1]
    orders = torch.ones(units, task.k, dtype=torch.long)
    sides = [["right"] * task.k for _ in range(units)]
    subgroups: list[list[tuple[int, ...]]] = [[(g.identity,)] * task.k for _ in range(units)]
    for j in range(task.k):
        for side in SIDES:
            members = invariance_changes(x, task, j, side) <= tolerance  # [units, order]
            members[:, g.identity] = True
            for u in range(units):
                size = int(members[u].sum())
                if size == 1:
                    continue
                if not _is_subgroup(task, members[u]):
                    if orders[u, j] == 1:
                        orders[u, j] = 0  # near-invariant elements that are not a subgroup
                    continue
                if size > orders[u, j]:  # the larger side wins; on a tie the first ("right") stays
                    orders[u, j] = size
                    sides[u][j] = side
                    subgroups[u][j] = tuple(members[u].nonzero().flatten().tolist())
    coset_like = (orders > 1).all(1) & (orders < g.order).any(1) & live
    return UnitCosets(orders, sides, subgroups, coset_like, live, tolerance)
