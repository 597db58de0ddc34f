"""Models with analytically set weights: ground truths for the analyses and verification.

* :func:`planted_mlp` — Gromov's construction ("Grokking modular arithmetic", 2023), generalised to k operands:
  a power-activation :class:`HookedMLP` whose neurons each sit on one planted frequency,
  ``u_{i,j}(a) = cos(w a + phi_{i,j})`` and ``w_i(c) = cos(w c + sum_j phi_{i,j})``.
  Phases run over a full grid of ``n_phases`` equally spaced values per operand, which
  cancels every unwanted term exactly, so the logits are exactly
  ``const * sum_f cos(w_f (a_1 + ... + a_k - c))`` and peak at the right answer.
* :func:`planted_pizza` — the *pizza* of Zhong et al. (NeurIPS 2023) as a ReLU MLP on the
  summed embeddings ``E(a) + E(b)``: accurate, built on the same Fourier features, but its
  correct logit's size depends on ``a - b``; the model ``fi.verify`` must not call a clock.
* :func:`planted_gcr` — Chughtai et al.'s group composition via representations on chosen
  irreps of any finite group: logits exactly ``sum_rho chi_rho(x y z^-1)``.
* :func:`planted_coset` — a coset circuit (Stander et al., 2024): ReLU units that each fire
  on one intersection of cosets, ``g_1`` in one coset and ``g_2`` in another, and vote for
  the answers their product must lie in; GCR's logits, no irrep-selective units.
* :func:`memorizing_mlp` — a lookup table: one ReLU unit per input tuple that fires only
  for that tuple and votes for its answer. 100% accurate with no Fourier structure: the
  negative control that verification must reject.
* :func:`fourier_lookup_mlp` — a lookup table dressed as a clock: Fourier-sparse embeddings,
  one ReLU unit per input pair, and a clock-shaped readout, so its embeddings, logits and
  frequency ablations all look like Fourier Multiplication; only its units (each firing on
  one pair) do not. The hardest negative control.

Example:
    >>> import fourier_interp as fi
    >>> model = fi.planted_mlp(p=11, freqs=[2, 5])
    >>> task = fi.ModularArithmetic(p=11)
    >>> fi.accuracy(model, task)
    1.0
"""

from __future__ import annotations

import itertools
import math
from typing import Iterable, Optional, Sequence

import torch

from ..checks import int_list
from ..errors import InvalidArgumentError
from ..groups import Group
from ..tasks import GroupTask, ModularArithmetic
from .mlp import HookedMLP, MLPConfig



def _scale_to_margin(model: HookedMLP, task: GroupTask, margin: float, refusal: Optional[str] = None) -> None:
    """Scale ``W_out`` so the smallest gap between the right answer's logit and the best wrong one is ``margin``.

    ``refusal`` is the message when some input's right answer does not win (a gap <= 0).
    """
    logits = model(task.inputs).double()
    correct = logits.gather(1, task.labels[:, None]).squeeze(1)
    others = logits.scatter(1, task.labels[:, None], float("-inf")).max(1).values
    gap = float((correct - others).min())
    if gap <= 0 and refusal is not None:
        raise InvalidArgumentError(refusal)
    model.W_out.mul_(margin / gap)

def planted_mlp(
    p: int,
    freqs: Iterable[int],
    k: int = 2,
    n_phases: Optional[int] = None,
    margin: Optional[float] = 12.0,
    op: str = "add",
) -> HookedMLP:
    """A power-activation MLP computing Fourier Multiplication on exactly ``freqs``.

    Args:
        p: Modulus.
        freqs: The planted frequencies, each in ``1..(p-1)//2``.
        k: Number of operands (the activation is the k-th power).
        n_phases: Phases per operand (default ``k + 1``); ``len(freqs) * n_phases**k`` neurons.
        margin: Scale the output weights so the smallest gap between the correct logit and
            the largest other logit over the full grid is ``margin`` (12 gives a
            cross-entropy near 1e-4, like a trained model); ``None`` keeps ``W_out`` rows of
            norm-``1/m`` cosines.
        op: ``"add"``, or ``"sub"`` for ``a - b`` (k = 2): the second operand's phase flips sign.

    Returns:
        A :class:`HookedMLP` (``form="power"``) in eval mode.
    """
    freqs = sorted(set(int_list(freqs, "freqs")))
    if not freqs or any(not 1 <= f <= (p - 1) // 2 for f in freqs):
        raise InvalidArgumentError(f"freqs={freqs}: expected a non-empty set of ints in 1..{(p - 1) // 2} (p={p})")
    if op not in ("add", "sub") or (op == "sub" and k != 2):
        raise InvalidArgumentError(f"op={op!r}: expected 'add', or 'sub' with k=2")
    n_phases = n_phases or k + 1
    signs = [1, -1] if op == "sub" else [1] * k
    phases = [2 * math.pi * i / n_phases for i in range(n_phases)]
    a = torch.arange(p, dtype=torch.float64)
    u_rows, w_rows = [], []
    for f in freqs:
        w = 2 * math.pi * f / p
        for phis in itertools.product(phases, repeat=k):
            u_rows.append(torch.stack([torch.cos(s * w * a + phi) for s, phi in zip(signs, phis)]))  # [k, p]
            w_rows.append(torch.cos(w * a + sum(phis)))
    m = len(u_rows)
    model = HookedMLP(MLPConfig(p=p, k=k, op=op, form="power", d_hidden=m, power=k))
    with torch.no_grad():
        model.U.copy_(torch.stack(u_rows).permute(1, 2, 0).float())  # [k, p, m]
        model.W_out.copy_(torch.stack(w_rows).float() / m)
        if margin is not None:
            _scale_to_margin(model, ModularArithmetic(p=p, k=k, op=op), margin)
    return model


def planted_pizza(p: int, freqs: Iterable[int], op: str = "add", margin: Optional[float] = 12.0) -> HookedMLP:
    """A ReLU MLP on summed embeddings computing the pizza algorithm on exactly ``freqs`` (k = 2).

    Each operand is embedded as ``(cos w a, sin w a)`` per frequency and the two embeddings
    are added (both halves of ``W_in`` are equal), so the hidden layer sees
    ``s_f = E_f(a) + E_f(b) = 2 cos(w (a - b) / 2) (cos w (a + b) / 2, sin w (a + b) / 2)``. For
    every answer ``c`` and frequency, four ReLU units read ``|<u_c, s_f>|`` and
    ``|<u_c^perp, s_f>|`` along ``u_c = (cos w c / 2, sin w c / 2)`` (``|x| = relu(x) + relu(-x)``),
    and the logit is their difference: ``logit(c) = sum_f 2 |cos(w (a - b) / 2)|
    (|cos(w (a + b - c) / 2)| - |sin(w (a + b - c) / 2)|)``, largest at ``c = a + b`` with a
    size that depends on ``a - b`` — the pizza's signature.

    Args:
        p: Modulus (odd).
        freqs: The planted frequencies, each in ``1..(p-1)//2``.
        op: ``"add"``, or ``"sub"`` for ``a - b`` (the second operand is embedded as ``E(-b)``).
        margin: As in :func:`planted_mlp`.

    Returns:
        A :class:`HookedMLP` (``form="embed_relu"``, ``4 p len(freqs)`` hidden units) in eval mode.

    Example:
        >>> import fourier_interp as fi
        >>> fi.accuracy(fi.planted_pizza(p=23, freqs=[3, 7]), fi.ModularArithmetic(p=23))
        1.0
    """
    freqs = sorted(set(int_list(freqs, "freqs")))
    if not freqs or any(not 1 <= f <= (p - 1) // 2 for f in freqs):
        raise InvalidArgumentError(f"freqs={freqs}: expected a non-empty set of ints in 1..{(p - 1) // 2} (p={p})")
    if op not in ("add", "sub"):
        raise InvalidArgumentError(f"op={op!r}: expected 'add' or 'sub'")
    n_f = len(freqs)
    a = torch.arange(p, dtype=torch.float64)
    embed = torch.zeros(p, 2 * n_f, dtype=torch.float64)
    read = torch.zeros(2 * n_f, 4 * p * n_f, dtype=torch.float64)  # summed embedding -> units
    w_out = torch.zeros(4 * p * n_f, p, dtype=torch.float64)
    for i, f in enumerate(freqs):
        w = 2 * math.pi * f / p
        embed[:, 2 * i], embed[:, 2 * i + 1] = torch.cos(w * a), torch.sin(w * a)
        half = w * a / 2  # the slice direction of answer c: angle w c / 2
        along = torch.stack([torch.cos(half), torch.sin(half)])  # [2, p]
        across = torch.stack([-torch.sin(half), torch.cos(half)])
        for j, (direction, sign) in enumerate(((along, 1.0), (-along, 1.0), (across, -1.0), (-across, -1.0))):
            cols = slice((4 * i + j) * p, (4 * i + j + 1) * p)
            read[2 * i : 2 * i + 2, cols] = direction
            w_out[cols, :] = sign * torch.eye(p, dtype=torch.float64)
    second = read.clone()
    if op == "sub":  # E(-b) = (cos w b, -sin w b): flip the sine rows of the second operand's block
        second[1::2] *= -1
    d = 2 * n_f
    model = HookedMLP(MLPConfig(p=p, k=2, op=op, form="embed_relu", d_embed=d, d_hidden=read.shape[1]))
    with torch.no_grad():
        model.W_E.copy_(embed.float())
        model.W_in.copy_(torch.cat([read, second]).float())
        model.b_in.zero_()
        model.W_out.copy_(w_out.float())
        model.b_out.zero_()
        if margin is not None:
            _scale_to_margin(model, ModularArithmetic(p=p, k=2, op=op), margin)
    return model


def memorizing_mlp(p: Optional[int] = None, k: int = 2, op: str = "add", margin: float = 12.0, *,
                   task: Optional[GroupTask] = None) -> HookedMLP:
    """A lookup table: one ReLU unit per input tuple, 100% accurate, no Fourier structure.

    Unit ``(a_1..a_k)`` receives ``+1`` from each matching operand and a bias of
    ``-(k - 1)``, so it is 1 exactly on its tuple and 0 elsewhere; it writes ``margin`` to
    its answer's logit (so its loss is as small as a trained model's).

    Args:
        p: With ``k`` and ``op``, the task ``fi.ModularArithmetic(p, k, op)``.
        k: Number of operands.
        op: ``"add"``, ``"sub"`` or ``"mul"``.
        margin: The logit each unit writes to its answer.
        task: Any task instead (a ``fi.GroupTask``: a lookup table on a group); then leave
            ``p`` unset.

    Example:
        >>> import fourier_interp as fi
        >>> task = fi.GroupTask(fi.groups.symmetric(3))
        >>> fi.accuracy(fi.memorizing_mlp(task=task), task)
        1.0
    """
    if task is None:
        if p is None:
            raise TypeError("memorizing_mlp() needs p (with k and op) or task=")
        task = ModularArithmetic(p=p, k=k, op=op)
    elif p is not None:
        raise TypeError("memorizing_mlp() takes p or task=, not both")
    order, k, n = task.p, task.k, task.n
    model = HookedMLP(MLPConfig(**task.config_fields(), form="embed_relu", d_embed=order, d_hidden=n))
    with torch.no_grad():
        model.W_E.copy_(torch.eye(order))
        w_in = torch.zeros(k, order, n)
        for j in range(k):
            w_in[j, task.inputs[:, j], torch.arange(n)] = 1.0
        model.W_in.copy_(w_in.reshape(k * order, n))
        model.b_in.fill_(-(k - 1))
        model.W_out.zero_()
        model.W_out[torch.arange(n), task.labels] = margin
        model.b_out.zero_()
    return model


def fourier_lookup_mlp(p: int, freqs: Iterable[int], margin: float = 12.0) -> HookedMLP:
    """A lookup table on Fourier-sparse embeddings with a clock-shaped readout (k = 2).

    The embedding of ``a`` is ``(cos w a, sin w a)`` at each of ``freqs``; unit ``(a0, b0)``
    computes ``relu(E(a0).E(a) + E(b0).E(b) - 2 n + delta)`` (``n = len(freqs)``), which is
    positive only at ``(a0, b0)``, and writes ``sum_f cos(w_f (a0 + b0 - c))`` to answer ``c``.
    So its logits are a clock's (up to scale) and its embedding is sparse on ``freqs``, yet
    every unit is a lookup entry: its activation over the grid spreads over all frequencies.

    Args:
        p: Modulus (odd).
        freqs: The embedding's frequencies, each in ``1..(p-1)//2``.
        margin: As in :func:`planted_mlp`.

    Returns:
        A :class:`HookedMLP` (``form="embed_relu"``, ``p**2`` hidden units) in eval mode.

    Example:
        >>> import fourier_interp as fi
        >>> model, task = fi.fourier_lookup_mlp(p=11, freqs=[2, 3]), fi.ModularArithmetic(p=11)
        >>> fi.accuracy(model, task), fi.verify(model, task).algorithm == "non-fourier"
        (1.0, True)
    """
    freqs = sorted({int(f) for f in freqs})
    if not freqs or any(not 1 <= f <= (p - 1) // 2 for f in freqs):
        raise InvalidArgumentError(f"freqs={freqs}: expected a non-empty set of ints in 1..{(p - 1) // 2} (p={p})")
    task = ModularArithmetic(p=p)
    n_f = len(freqs)
    model = HookedMLP(MLPConfig(p=p, k=2, form="embed_relu", combine="concat", d_embed=2 * n_f, d_hidden=task.n))
    w = 2 * math.pi * torch.tensor(freqs, dtype=torch.float64) / p
    angles = torch.arange(p, dtype=torch.float64)[:, None] * w  # [p, n_f]
    embed = torch.cat([angles.cos(), angles.sin()], 1)  # [p, 2 n_f]
    gap = min(1 - math.cos(2 * math.pi * math.gcd(f, p) / p) for f in freqs)  # the least drop off a unit's own pair
    a0, b0 = task.inputs[:, 0], task.inputs[:, 1]
    with torch.no_grad():
        model.W_E.copy_(embed)
        model.W_in.copy_(torch.cat([embed[a0], embed[b0]], 1).T)
        model.b_in.fill_(-(2 * n_f) + gap / 2)
        c = torch.arange(p, dtype=torch.float64)
        readout = torch.cos(((a0 + b0)[:, None] - c[None, :])[..., None] * w).sum(-1)  # [pairs, p]
        model.W_out.copy_(readout / (gap / 2))
        model.b_out.zero_()
        _scale_to_margin(model, task, margin)
    return model.eval()


def planted_gcr(group: Group, irreps: Sequence[str], margin: Optional[float] = 12.0) -> HookedMLP:
    """A network computing group composition via representations (GCR) on exactly ``irreps``.

    Chughtai et al.'s algorithm (ICML 2023) as a square-activation MLP on one-hot operands
    (k = 2): for each chosen irrep ``rho`` and each index triple ``(a, b, c)``, two units read
    ``rho(x)[a, b] + rho(y)[b, c]`` and ``rho(x)[a, b] - rho(y)[b, c]``; their squares differ by
    ``4 rho(x)[a, b] rho(y)[b, c]``, summed over ``b`` that is ``(rho(x) rho(y))[a, c]``, and
    the readout weights ``rho(z)[a, c]`` give ``tr(rho(x) rho(y) rho(z)^T)``. So the logits
    are exactly ``const * sum_rho chi_rho(x y z^-1)`` (``rho(z)^T = rho(z^-1)``), which peak
    at ``z = x y`` when the chosen irreps together are faithful. The group analogue of
    :func:`planted_mlp` (for Z_p it is the clock on the chosen frequencies).

    Args:
        group: A :class:`fourier_interp.groups.Group`.
        irreps: Names of the irreps to plant (``group.irrep_names``).
        margin: As in :func:`planted_mlp` (``None`` keeps unit-scale readout weights).

    Returns:
        A :class:`HookedMLP` (``form="power"``, ``power=2``, ``2 sum_rho dim^3`` units) for
        ``fi.GroupTask(group)``, in eval mode.

    Example:
        >>> import fourier_interp as fi
        >>> s4 = fi.groups.symmetric(4)
        >>> fi.accuracy(fi.planted_gcr(s4, irreps=["(3,1)"]), fi.GroupTask(s4))
        1.0
    """
    if not isinstance(group, Group):
        raise TypeError(f"group must be a fi.groups.Group, got {type(group).__name__}")
    names = group.check_irrep_names(irreps)
    u_left, u_right, w_rows = [], [], []
    for name in dict.fromkeys(names):
        rho = group.irrep(name).matrices  # [order, d, d]
        d = rho.shape[-1]
        for a, b, c in itertools.product(range(d), repeat=3):
            for sign in (1.0, -1.0):
                u_left.append(rho[:, a, b])
                u_right.append(sign * rho[:, b, c])
                w_rows.append(sign * rho[:, a, c] / 4)
    task = GroupTask(group)
    m = len(w_rows)
    model = HookedMLP(MLPConfig(**task.config_fields(), form="power", d_hidden=m, power=2))
    with torch.no_grad():
        model.U.copy_(torch.stack([torch.stack(u_left, 1), torch.stack(u_right, 1)]).float())  # [2, order, m]
        model.W_out.copy_(torch.stack(w_rows).float())
        if margin is not None:
            _scale_to_margin(model, task, margin, refusal=(
                f"irreps={names} are not faithful together on {group.name} (some x y != z ties or beats the right "
                "answer); add an irrep whose kernel is trivial, or pass margin=None"))
    return model


def planted_coset(group: Group, subgroup: Optional[Sequence] = None, margin: Optional[float] = 12.0) -> HookedMLP:
    """A coset circuit (Stander et al., "Grokking Group Multiplication with Cosets", 2024) for ``g1 g2``.

    With ``X = G / H`` the left cosets of ``subgroup = H`` and ``G`` acting on them, unit
    ``(i, j, l)`` fires exactly when ``g2`` takes coset ``c_i`` to ``c_j`` and ``g1`` takes
    ``c_j`` to ``c_l`` (``relu(1[g1 c_j = c_l] + 1[g2 c_i = c_j] - 1)``, an AND of two coset
    indicators: ``g1`` in a left coset of ``c_j H c_j^-1``, ``g2`` in one of ``c_i H c_i^-1``),
    and votes for every ``z`` with ``z c_i = c_l``. Summed over units, the logit of ``z`` is the
    number of cosets that ``z^-1 g1 g2`` fixes, largest at ``z = g1 g2`` when ``H`` contains no
    normal subgroup but ``{e}`` (core-free). The logits are a sum of characters (a permutation
    character), as GCR's are, but no unit is selective for an irrep when ``G / H`` carries
    several: the model :func:`~fourier_interp.verification.groups.verify_group` must name
    ``coset``, not ``gcr``.

    Args:
        group: A :class:`fourier_interp.groups.Group`.
        subgroup: Element names or indices generating ``H`` (default: for S_n with n >= 4 the
            Young subgroup ``S_2 x S_2`` on points 0..3, ``<(0 1), (2 3)>``; otherwise required).
        margin: As in :func:`planted_mlp`.

    Returns:
        A :class:`HookedMLP` (``form="embed_relu"``, one-hot embeddings, ``|G / H|^3`` units)
        for ``fi.GroupTask(group)``, in eval mode.

    Example:
        >>> import fourier_interp as fi
        >>> s4 = fi.groups.symmetric(4)
        >>> model = fi.planted_coset(s4, subgroup=["(0 1)", "(2 3)"])
        >>> model.cfg.d_hidden, fi.accuracy(model, fi.GroupTask(s4))
        (216, 1.0)
    """
    if not isinstance(group, Group):
        raise TypeError(f"group must be a fi.groups.Group, got {type(group).__name__}")
    if subgroup is None:
        if not group.spec.startswith("symmetric(") or group.order < 24:
            raise InvalidArgumentError(f"subgroup=None: name the subgroup's generators for {group.name} "
                                       "(the default <(0 1), (2 3)> is for S_n, n >= 4)")
        subgroup = ["(0 1)", "(2 3)"]
    members = group.subgroup(list(subgroup))
    if len(members) in (1, group.order):
        raise InvalidArgumentError(f"subgroup={list(subgroup)!r} generates a subgroup of order {len(members)}; "
                                   f"expected a proper subgroup other than {{e}} of {group.name}")
    # left cosets g H, each named by its smallest element; action[g, i] = the coset g c_i
    coset_of = group.table[:, members].min(1).values  # [order]
    reps = torch.unique(coset_of)
    index = torch.full((group.order,), -1, dtype=torch.long)
    index[reps] = torch.arange(len(reps))
    action = index[coset_of[group.table[:, reps]]]  # [order, m]
    m = len(reps)
    i, j, l = (t.flatten() for t in torch.meshgrid(torch.arange(m), torch.arange(m), torch.arange(m), indexing="ij"))
    first = (action[:, j] == l).float()  # [order, units]: g1 c_j = c_l
    second = (action[:, i] == j).float()  # g2 c_i = c_j
    votes = (action[:, i] == l).float().T  # [units, order]: z c_i = c_l
    task = GroupTask(group)
    model = HookedMLP(MLPConfig(**task.config_fields(), form="embed_relu", d_embed=group.order, d_hidden=m**3))
    with torch.no_grad():
        model.W_E.copy_(torch.eye(group.order))
        model.W_in.copy_(torch.cat([first, second]))
        model.b_in.fill_(-1.0)
        model.W_out.copy_(votes)
        model.b_out.zero_()
        if margin is not None:
            _scale_to_margin(model, task, margin, refusal=(
                f"subgroup={list(subgroup)!r} contains a normal subgroup of {group.name} other than {{e}} "
                "(it is not core-free), so its cosets cannot tell every product apart; choose a smaller subgroup"))
    return model.eval()
