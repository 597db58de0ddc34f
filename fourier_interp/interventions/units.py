"""Per-unit frequency projection: does each unit compute with a few frequencies, causally?

A unit that runs Fourier Multiplication at frequency ``f`` is, over the input grid, a
function of the operands inside ``f``'s block: the coefficients of the k-D Fourier transform
whose every operand axis is const or one of ``f``'s family (``f`` and the harmonics its
nonlinearity creates, as in :func:`fi.unit_frequencies`). Units may also superpose a few such
products, one per frequency. The projection tests this directly, by intervention:

* **keep** — replace every unit's activation over the grid by its projection onto its own
  ``m`` strongest family blocks (plus its mean): everything across frequencies, and every
  other frequency, is removed. If the model still works, its units compute with at most
  ``m`` frequencies each.
* **rest** — replace every unit's activation by what the projection removed (plus its
  mean). If the units are frequency-selective, the rest alone does not work.

A lookup table fails both ways: its units (each firing on one input tuple) spread over
every frequency, so the projection loses most of what they carry while the rest keeps it.
The variance share of :func:`fi.unit_frequencies` cannot see units that superpose two
frequencies (each holds about half the variance); the projection can.

Example:
    >>> import fourier_interp as fi
    >>> model, task = fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11)
    >>> res = fi.unit_projection(model, task)
    >>> res.blocks, res.keep_accuracy[0], res.rest_accuracy[0] < 0.5
    (1, 1.0, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import torch
from jaxtyping import Float
from torch import Tensor, nn

from ..analysis.frequencies import default_harmonic_order
from ..analysis.grid import _run_grid, check_grid, model_spec, resolve_hook
from ..analysis.irreps import irrep_block_masks
from ..analysis.results import Result
from ..checks import check_group_task, check_hook_names, check_model, check_task, device_of
from ..errors import InvalidArgumentError
from ..evaluation import _grid_logits, loss_and_accuracy
from ..fourier import fourier_transform, harmonics, inverse_fourier_transform, n_frequencies, row_frequency, to_grid
from ..tasks import GroupTask, ModularArithmetic

MAX_BLOCKS = 3
"""Default largest number of frequency blocks a unit may keep."""


def family_cells(p: int, k: int, harmonic_order: int) -> Float[Tensor, "n_freq cells"]:
    """``[(p-1)//2, p**k]`` masks over the k-D coefficient grid (flattened, first axis slowest).

    Row ``f - 1`` marks the coefficients whose every operand axis is the constant or a basis
    row of a frequency in ``f``'s family (``harmonics(f, p, harmonic_order)``), the
    all-constant coefficient excluded.
    """
    rows = row_frequency(p)  # [p]: frequency of each basis row (0 = const)
    masks = []
    for f in range(1, n_frequencies(p) + 1):
        member = (rows == 0) | torch.isin(rows, torch.tensor(harmonics(f, p, harmonic_order)))
        mask = member
        for _ in range(k - 1):
            mask = (mask[:, None] & member[None, :]).flatten()
        mask = mask.clone()
        mask[0] = False
        masks.append(mask)
    return torch.stack(masks).double()


def _transform(x: Tensor, p: int, k: int, inverse: bool) -> Tensor:
    """The k-D real Fourier transform of ``[p**k, units]`` over the operand axes (or its inverse)."""
    grid = to_grid(x, p, k)
    out = inverse_fourier_transform(grid, list(range(k))) if inverse else fourier_transform(grid, list(range(k)))
    return out.reshape(p**k, x.shape[1])


def strongest_blocks(masks: Float[Tensor, "blocks cells"], coef: Float[Tensor, "cells units"], count: int,
                     products: Optional[Float[Tensor, "blocks cells"]] = None, spare: int = 2) -> Tensor:
    """``[units, count]`` each unit's ``count`` strongest blocks, strongest first.

    One block: the block that holds most of the unit's energy. Two or more: blocks overlap (a
    frequency's family holds its harmonics, which are other frequencies' blocks too) and a
    unit that superposes two products makes cross terms that land in a third frequency's
    block (the square of ``cos 2x + cos 5x`` holds ``cos 3x`` and ``cos 7x``), so energy alone
    can rank a cross term above a product. Among the ``count + spare`` blocks with most
    energy, the ``count`` chosen are those whose ``products`` cells (each block's operands
    meeting within the block itself: ``f`` with ``f``, an irrep with itself) hold the most.
    """
    energy = masks @ coef.pow(2)  # [blocks, units]
    order = energy.T.argsort(dim=1, descending=True, stable=True)  # [units, blocks]
    if count == 1 or products is None:
        return order[:, :count]
    from itertools import combinations

    top = order[:, : min(count + spare, masks.shape[0])]  # [units, candidates]
    product_energy = (products @ coef.pow(2)).T  # [units, blocks]; product cells of distinct blocks are disjoint
    best, best_held = top[:, :count], None
    for subset in combinations(range(top.shape[1]), count):
        pick = top[:, list(subset)]  # [units, count], strongest first (top is sorted)
        held = product_energy.gather(1, pick).sum(1)
        if best_held is None:
            best, best_held = pick, held
            continue
        better = held > best_held * (1 + 1e-9)
        best = torch.where(better[:, None], pick, best)
        best_held = torch.where(better, held, best_held)
    return best


def _product_cells(row_block: Tensor, n_blocks: int, k: int) -> Float[Tensor, "blocks cells"]:
    """``[n_blocks, rows**k]``: cells whose non-constant axes (two or more) all carry the same block.

    ``row_block`` ``[rows]`` is each basis row's block, 0 for the constant row, 1.. for blocks
    (a frequency of Z_p, an irrep of a group); cells are flattened first axis slowest.
    """
    cells = torch.cartesian_prod(*([row_block] * k)) if k > 1 else row_block[:, None]  # [cells, k]
    nonconst = cells > 0
    out = []
    for b in range(1, n_blocks + 1):
        out.append(((cells == b) | ~nonconst).all(1) & (nonconst.sum(1) >= 2))
    return torch.stack(out).double()


def project_unit_blocks(
    acts: Float[Tensor, "n units"], p: int, k: int, blocks: int, harmonic_order: int = 2
) -> tuple[Float[Tensor, "n units"], Float[Tensor, "n units"], Tensor]:
    """Each unit's activation over the grid projected onto its own ``blocks`` strongest family blocks.

    Args:
        acts: ``[p**k, units]`` activations on ``task.inputs`` (first operand slowest).
        blocks: Family blocks each unit keeps (its strongest by energy: :func:`strongest_blocks`).
        harmonic_order: Harmonics in a frequency's family (2 for ReLU and x^2, k for x^k).

    Returns:
        ``(kept, rest, chosen)``: the projection plus each unit's mean; the remainder plus
        each unit's mean; ``[units, blocks]`` the frequencies chosen per unit, strongest first.

    Example:
        >>> import torch
        >>> import fourier_interp as fi
        >>> from fourier_interp.interventions.units import project_unit_blocks
        >>> cos3, _ = fi.sum_directions(11, 2, freq=3)
        >>> cos4, _ = fi.sum_directions(11, 2, freq=4)
        >>> acts = torch.stack([cos3 + cos4, cos3], 1).double()
        >>> kept, rest, chosen = project_unit_blocks(acts, 11, 2, blocks=1, harmonic_order=1)
        >>> torch.allclose(kept[:, 1], cos3.double()), chosen[:, 0].tolist() in ([3, 3], [4, 3])
        (True, True)
    """
    x = check_grid(acts, p, k).double().cpu()
    n_freq = n_frequencies(p)
    if not 1 <= blocks <= n_freq:
        raise InvalidArgumentError(f"blocks={blocks!r}: expected an int in 1..{n_freq} (p={p})")
    coef = _transform(x, p, k, inverse=False)  # [cells, units]
    masks = family_cells(p, k, harmonic_order)  # [n_freq, cells]
    products = _product_cells(row_frequency(p), n_freq, k) if blocks > 1 else None
    chosen = strongest_blocks(masks, coef, blocks, products)  # [units, blocks]
    keep = masks.T[:, chosen].amax(-1) > 0  # [cells, units]
    keep[0] = True  # the unit's mean stays
    mean_only = torch.zeros_like(coef)
    mean_only[0] = coef[0]
    kept = _transform(coef * keep, p, k, inverse=True)
    rest = _transform(coef * ~keep + mean_only, p, k, inverse=True)
    return kept, rest, chosen + 1


def _is_frequency_task(task: GroupTask) -> bool:
    """Addition or subtraction mod p: frequencies of Z_p; every other group task is read in irreps."""
    return isinstance(task, ModularArithmetic) and task.op != "mul"


def project_unit_irreps(
    acts: Float[Tensor, "n units"], task: GroupTask, blocks: int
) -> tuple[Float[Tensor, "n units"], Float[Tensor, "n units"], Tensor]:
    """:func:`project_unit_blocks` over any finite group: each unit onto its strongest irrep blocks.

    An irrep's block is the group's version of a frequency's: the coefficients of the k-fold
    transform (``task.group.fourier_basis()`` on every operand axis) whose every axis is trivial
    or the irrep, plus the single-operand terms of the irreps in its square (what a ReLU or a
    square makes of its entries; :func:`fi.analysis.irreps.unit_irreps` measures the same block).

    Returns:
        ``(kept, rest, chosen)`` as :func:`project_unit_blocks`; ``chosen`` ``[units, blocks]``
        holds indices into ``task.group.irrep_names`` (never 0, the trivial irrep).

    Example:
        >>> import fourier_interp as fi
        >>> from fourier_interp.interventions.units import project_unit_irreps
        >>> d5 = fi.groups.dihedral(5)
        >>> task = fi.GroupTask(d5)
        >>> rot1 = d5.irrep("rot1").matrices[task.inputs[:, 0], 0, 0]   # rot1 of g1 alone
        >>> kept, rest, chosen = project_unit_irreps(rot1[:, None], task, blocks=1)
        >>> d5.irrep_names[chosen[0, 0]], bool(rest.std() < 1e-9)
        ('rot1', True)
    """
    g, k = task.group, task.k
    x = check_grid(acts, task.p, k).double().cpu()
    n_blocks = len(g.irreps()) - 1
    if not 1 <= blocks <= n_blocks:
        raise InvalidArgumentError(f"blocks={blocks!r}: expected an int in 1..{n_blocks} ({g.spec} has {n_blocks} non-trivial irreps)")
    basis = g.fourier_basis(dtype=torch.float64)  # [order, order], rows grouped by irrep
    shape = [g.order] * k
    coef = x.reshape(*shape, -1)
    for j in range(k):
        coef = torch.tensordot(coef, basis, dims=([j], [1])).movedim(-1, j)
    coef = coef.reshape(g.order**k, -1)  # [cells, units]
    row_irrep = g.basis_irreps()  # [order]
    n = len(g.irreps())
    cell_tuple = row_irrep  # each cell's irrep tuple, as an index into the R**k tuples (first axis slowest)
    for _ in range(k - 1):
        cell_tuple = (cell_tuple[:, None] * n + row_irrep[None, :]).flatten()
    masks = irrep_block_masks(g, k)[1:][:, cell_tuple]  # [non-trivial irreps, cells]
    products = _product_cells(row_irrep, n_blocks, k) if blocks > 1 else None
    chosen = strongest_blocks(masks, coef, blocks, products)  # [units, blocks]
    keep = masks.T[:, chosen].amax(-1) > 0  # [cells, units]
    constant = cell_tuple == 0  # every axis on the trivial irrep: the unit's mean
    keep[constant] = True
    mean_only = coef * constant[:, None]

    def back(c: Tensor) -> Tensor:
        grid = c.reshape(*shape, -1)
        for j in range(k):
            grid = torch.tensordot(grid, basis, dims=([j], [0])).movedim(-1, j)
        return grid.reshape(g.order**k, -1)

    return back(coef * keep), back(coef * ~keep + mean_only), chosen + 1


@dataclass(repr=False)
class UnitProjection(Result):
    """What :func:`unit_projection` measured.

    Attributes:
        hook: The unit hook.
        harmonic_order: Harmonics in a frequency's family block.
        counts: Blocks kept per unit, ``[1, ..., max_blocks]``.
        keep_accuracy, keep_loss: Accuracy and loss on the whole grid with every unit
            replaced by its projection onto its strongest ``counts[i]`` blocks.
        rest_accuracy, rest_loss: The same with every unit replaced by the rest.
        base_accuracy, base_loss: The model unchanged.
        floor_accuracy: Every unit replaced by its mean (what paths around the units achieve).
        blocks: The smallest count whose projection works and whose rest does not
            (``None``: no count up to ``max_blocks`` does).
        unit_frequencies: ``[units, blocks]`` each unit's chosen frequencies at ``blocks``
            (``[units, 1]`` of the strongest when ``blocks`` is ``None``); over irreps, indices
            into ``irrep_names`` (:attr:`unit_irreps` names them).
        works: ``[len(counts)]`` whether the projection kept the model working at each count.
        breaks: ``[len(counts)]`` whether the rest alone stopped it working.
        irrep_names: The group's irreps when the blocks are irreps (``None`` for frequencies).
    """

    hook: str
    harmonic_order: int
    counts: list[int]
    keep_accuracy: list[float]
    keep_loss: list[float]
    rest_accuracy: list[float]
    rest_loss: list[float]
    base_accuracy: float
    base_loss: float
    floor_accuracy: float
    works: list[bool]
    breaks: list[bool]
    blocks: Optional[int]
    unit_frequencies: Tensor
    irrep_names: Optional[list[str]] = None

    @property
    def unit_irreps(self) -> Optional[list[list[str]]]:
        """Each unit's chosen irreps by name (``None`` when the blocks are frequencies)."""
        if self.irrep_names is None:
            return None
        return [[self.irrep_names[int(i)] for i in row] for row in self.unit_frequencies]

    def summary(self) -> dict[str, Any]:
        return {"blocks": self.blocks}

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "unit_frequencies"}
        return out

    def __repr__(self) -> str:
        rows = ", ".join(f"{m}: keep {a:.3f} / rest {r:.3f}"
                         for m, a, r in zip(self.counts, self.keep_accuracy, self.rest_accuracy))
        return (f"UnitProjection(blocks={self.blocks} at {self.hook!r}; accuracy by blocks kept {{{rows}}}; "
                f"unchanged {self.base_accuracy:.3f}, units at their mean {self.floor_accuracy:.3f})")


class _Replace:
    """A hook function writing precomputed grid activations at one position (or the whole activation)."""

    def __init__(self, values: Tensor, where: Optional[int]):
        self.values, self.where = values, where

    def __call__(self, act: Tensor, hook: Any = None) -> Tensor:
        if act.shape[0] != self.values.shape[0]:
            raise InvalidArgumentError(f"unit projection at {getattr(hook, 'name', '?')!r} needs the whole grid in one pass; "
                             f"got {act.shape[0]} rows of {self.values.shape[0]}")
        out = act.clone()
        if self.where is None:
            return self.values.reshape(act.shape).to(act)
        out[:, self.where] = self.values.reshape(out[:, self.where].shape).to(act)
        return out


def unit_projection(
    model: nn.Module,
    task: GroupTask,
    hook: Optional[str] = None,
    *,
    max_blocks: int = MAX_BLOCKS,
    harmonic_order: Optional[int] = None,
    pos: Optional[int] = -1,
    accuracy_drop: float = 0.01,
    loss_gap: float = 0.1,
    collapse: float = 0.1,
    loss_rise: float = 0.5,
    grid: Optional[tuple[Tensor, dict[str, Tensor]]] = None,
) -> UnitProjection:
    """Project every unit onto its own strongest 1, 2, ... frequency (or irrep) blocks and run the model.

    A count *works* when the projected model's accuracy on the grid is within
    ``accuracy_drop`` of the unchanged model's and its loss within ``loss_gap * ln p``; the
    rest *breaks* it when the rest alone brings accuracy down to within ``collapse`` of the
    floor (the larger of chance and the accuracy with every unit at its mean, which is what
    paths around the units achieve), or raises the loss by at least ``loss_rise * ln p`` (the
    answer's probability falls, on geometric average, below ``p ** -loss_rise``: a pizza's
    slices keep pointing the right way in its units' higher harmonics, so its argmax outlives
    its confidence). ``blocks`` is the smallest count that does both.

    On any other group task (``fi.GroupTask``, multiplication mod p) the blocks are irreps'
    (:func:`project_unit_irreps`): a unit of a network that composes elements via
    representations lives in one irrep's block, or superposes a few.

    Args:
        model: Any hooked model mapping ``[batch, k]`` operands to ``[batch, p]`` logits.
        task: The task; the model runs on its whole grid. Addition and subtraction mod p are
            read in frequencies of Z_p, every other group task in irreps.
        hook: The unit hook (default: the model's ``analysis_spec().neurons``).
        max_blocks: Largest count tried; never more than a third of the ``(p-1)//2``
            frequencies (at least 1), or a unit that needs many frequencies would pass.
        harmonic_order: Harmonics in a frequency's family (default: the model's nonlinearity);
            over irreps, an irrep's block holds the irreps of its square (ignored).
        pos: Position of a ``[batch, pos, units]`` hook to project (default the last, the
            readout); ``None`` for a hook without positions.
        accuracy_drop: Largest accuracy drop for a projection that works.
        loss_gap: Largest loss rise (times ln p) for a projection that works.
        collapse: The rest breaks the model when accuracy falls within this share of the floor.
        loss_rise: ... or when the loss rises by at least this times ln p.
        grid: ``(logits, {hook: acts})`` from :func:`fi.run_grid` with the same hook and ``pos``.

    Example:
        >>> import fourier_interp as fi
        >>> lookup = fi.memorizing_mlp(p=13)
        >>> fi.unit_projection(lookup, fi.ModularArithmetic(p=13)).blocks is None
        True
    """
    frequencies = _is_frequency_task(task)
    check_model(model, check_task(task) if frequencies else check_group_task(task))
    hook = resolve_hook(model, hook)
    if isinstance(max_blocks, bool) or not isinstance(max_blocks, int) or max_blocks < 1:
        raise InvalidArgumentError(f"max_blocks={max_blocks!r}: expected a positive int")
    order = (harmonic_order or default_harmonic_order(model, task, model_spec(model))) if frequencies else 2
    return _unit_projection(model, task, hook, max_blocks=max_blocks, harmonic_order=order, pos=pos,
                            accuracy_drop=accuracy_drop, loss_gap=loss_gap, collapse=collapse, loss_rise=loss_rise,
                            grid=grid)


def _unit_projection(model: nn.Module, task: GroupTask, hook: str, *, max_blocks: int, harmonic_order: int,
                     pos: Optional[int] = -1, accuracy_drop: float = 0.01, loss_gap: float = 0.1, collapse: float = 0.1,
                     loss_rise: float = 0.5, grid: Optional[tuple[Tensor, dict[str, Tensor]]] = None) -> UnitProjection:
    """:func:`unit_projection` once its arguments are checked (``hook`` a name, ``harmonic_order`` an int)."""
    order = harmonic_order
    frequencies = _is_frequency_task(task)
    n_blocks = n_frequencies(task.p) if frequencies else len(task.group.irreps()) - 1
    if grid is None:
        grid = _run_grid(model, task, [hook], pos=pos)
    logits, acts = grid
    x = acts[hook].double()
    # a [batch, pos, units] hook is replaced at the readout position only
    _, probe = model.run_with_cache(task.inputs[:1].to(device_of(model)), names_filter=[hook])
    where = pos if (probe[hook].ndim >= 3 and pos is not None) else None
    base_loss, base_acc = loss_and_accuracy(logits, task)
    chance = 1.0 / task.p

    def run(values: Tensor) -> tuple[float, float]:
        out = _grid_logits(model, task, [(hook, _Replace(values, where))])
        return loss_and_accuracy(out, task)

    floor = run(x.mean(0, keepdim=True).expand_as(x))[1]
    target = max(chance, floor)
    limit = target + collapse * (1 - target)
    ln_p = math.log(task.p)
    # a unit that needs many of the frequencies (irreps) is not selective: at most a third of them
    counts = list(range(1, max(1, min(max_blocks, n_blocks // 3)) + 1))
    keep_acc, keep_loss, rest_acc, rest_loss, works, breaks, chosen_at = [], [], [], [], [], [], {}
    for m in counts:
        kept, rest, chosen = (project_unit_blocks(x, task.p, task.k, m, order) if frequencies
                              else project_unit_irreps(x, task, m))
        kl, ka = run(kept)
        rl, ra = run(rest)
        keep_acc.append(ka), keep_loss.append(kl), rest_acc.append(ra), rest_loss.append(rl)
        works.append(ka >= base_acc - accuracy_drop and kl <= base_loss + loss_gap * ln_p)
        breaks.append(ra <= limit or rl >= base_loss + loss_rise * ln_p)
        chosen_at[m] = chosen
        if works[-1] and breaks[-1]:
            break
    blocks = next((m for m, w, b in zip(counts, works, breaks) if w and b), None)
    freqs = chosen_at[blocks] if blocks is not None else chosen_at[counts[0]][:, :1]
    return UnitProjection(
        hook=hook, harmonic_order=order, counts=counts[: len(keep_acc)], keep_accuracy=keep_acc, keep_loss=keep_loss,
        rest_accuracy=rest_acc, rest_loss=rest_loss, base_accuracy=base_acc, base_loss=base_loss,
        floor_accuracy=floor, works=works, breaks=breaks, blocks=blocks, unit_frequencies=freqs,
        irrep_names=None if frequencies else list(task.group.irrep_names))



@dataclass(repr=False)
class UnitScan(Result):
    """Where a model's mechanism lives: :func:`locate_units` over candidate hooks.

    Attributes:
        rows: One dict per hook: ``hook``, ``units``, ``interaction`` (share of the units'
            variance over the grid that depends on two or more operands jointly: 0 for a
            layer that sees one operand, such as a tower of a two-tower network), ``floor``
            (accuracy with every unit at its mean), ``blocks`` (of :func:`unit_projection`)
            and ``reason`` (why it was or was not chosen).
        hook: The chosen hook (``None`` when none qualifies).
    """

    rows: list[dict[str, Any]]
    hook: Optional[str]

    def summary(self) -> dict[str, Any]:
        return {"hook": self.hook}

    def __repr__(self) -> str:
        lines = [f"UnitScan(chosen {self.hook!r})"]
        for r in self.rows:
            lines.append(f"  {r['hook']!r}: {r['units']} units, interaction {r['interaction']:.2f}, floor "
                         f"{r['floor'] if r['floor'] is None else round(r['floor'], 3)}, blocks {r['blocks']} — "
                         f"{r['reason']}")
        return "\n".join(lines)


def candidate_unit_hooks(model: nn.Module, task: ModularArithmetic) -> list[str]:
    """Hooks whose activation on one input is a vector of units ``[batch, units]`` (not the logits, not inputs)."""
    names = [h for h in model.hook_dict if not (".hook_in" in h or h.endswith("hook_in"))]
    batch = 3 if task.p != 3 else 5  # a batch size no weight slice shares
    _, cache = model.run_with_cache(task.inputs[:batch].to(device_of(model)), names_filter=names)
    out = []
    for h in names:
        act = cache[h] if h in cache else None
        if (act is None or not act.is_floating_point() or act.ndim != 2 or act.shape[0] != batch
                or act.shape[1] < 2):
            continue
        out.append(h)
    # one name per activation: a module's output and the traced operation that made it (``act`` and
    # ``act.mul``) are the same tensor; keep the shorter name
    kept: list[str] = []
    for h in sorted(out, key=len):
        if not any(cache[h].shape == cache[g].shape and torch.equal(cache[h], cache[g]) for g in kept):
            kept.append(h)
    return [h for h in out if h in kept]


def locate_units(model: nn.Module, task: ModularArithmetic, hooks: Optional[list[str]] = None, *,
                 max_blocks: int = MAX_BLOCKS, harmonic_order: int = 2, min_interaction: float = 0.1,
                 floor_max: float = 0.5) -> UnitScan:
    """Scan a model's hidden layers for the one where its algorithm's units live.

    A candidate qualifies when its units carry the computation (with every unit at its mean,
    accuracy falls to ``floor_max`` or below), the operands have met there (at least
    ``min_interaction`` of the units' variance depends on several operands jointly) and it is
    not the logits. The chosen hook is the qualifying one whose per-unit projection
    (:func:`unit_projection`) needs the fewest blocks, the latest such layer on a tie (the
    one the readout reads); if none projects, the latest qualifying layer.

    Args:
        model: A hooked model (e.g. a ``fi.HookedWrapper`` of a network with several hidden layers).
        task: The task.
        hooks: Candidates (default: :func:`candidate_unit_hooks`, in forward order).

    Example:
        >>> import fourier_interp as fi
        >>> scan = fi.locate_units(fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11))
        >>> scan.hook
        'hook_post'
    """
    check_model(model, check_task(task))
    return _locate_units(model, task, candidate_unit_hooks(model, task) if hooks is None else check_hook_names(model, hooks),
                         max_blocks=max_blocks, harmonic_order=harmonic_order, min_interaction=min_interaction,
                         floor_max=floor_max)


def _locate_units(model: nn.Module, task: ModularArithmetic, hooks: list[str], *, max_blocks: int = MAX_BLOCKS,
                  harmonic_order: int = 2, min_interaction: float = 0.1, floor_max: float = 0.5) -> UnitScan:
    """:func:`locate_units` once its arguments are checked (``hooks`` a list of hook names)."""
    logits, acts = _run_grid(model, task, hooks, pos=None)
    rows = []
    for h in hooks:
        x = acts[h].double()
        row: dict[str, Any] = {"hook": h, "units": x.shape[1], "interaction": 0.0, "floor": None, "blocks": None}
        if x.shape == logits.shape and torch.allclose(x, logits.to(x), atol=1e-5):
            row["reason"] = "the logits"
            rows.append(row)
            continue
        coef = _transform(x - x.mean(0), task.p, task.k, inverse=False).pow(2).sum(1)  # [cells]
        joint = _joint_cells(task.p, task.k)
        total = float(coef.sum())
        row["interaction"] = float(coef[joint].sum()) / total if total > 0 else 0.0
        if row["interaction"] < min_interaction:
            row["reason"] = "the operands have not met here"
            rows.append(row)
            continue
        res = _unit_projection(model, task, h, max_blocks=max_blocks, harmonic_order=harmonic_order, pos=None,
                               grid=(logits, {h: acts[h]}))
        row["floor"], row["blocks"] = res.floor_accuracy, res.blocks
        row["reason"] = ("carries the computation" if res.floor_accuracy <= floor_max
                         else "paths around these units solve the task")
        rows.append(row)
    ok = [r for r in rows if r["floor"] is not None and r["floor"] <= floor_max]
    projected = [r for r in ok if r["blocks"] is not None]
    if projected:
        best = min(r["blocks"] for r in projected)
        chosen = [r for r in projected if r["blocks"] == best][-1]["hook"]
    else:
        chosen = ok[-1]["hook"] if ok else None
    return UnitScan(rows=rows, hook=chosen)


def _joint_cells(p: int, k: int) -> Tensor:
    """``[p**k]`` mask of the coefficients with two or more non-constant operand axes."""
    nonconst = (row_frequency(p) != 0).long()
    count = nonconst
    for _ in range(k - 1):
        count = (count[:, None] + nonconst[None, :]).flatten()
    return count >= 2
