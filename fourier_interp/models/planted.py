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
* :func:`memorizing_mlp` — a lookup table: one ReLU unit per input tuple that fires only
  for that tuple and votes for its answer. 100% accurate with no Fourier structure: the
  negative control that verification must reject.

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
from typing import Iterable, Optional

import torch

from ..checks import int_list
from ..tasks import ModularArithmetic
from .mlp import HookedMLP, MLPConfig


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
        raise ValueError(f"freqs={freqs}: expected a non-empty set of ints in 1..{(p - 1) // 2} (p={p})")
    if op not in ("add", "sub") or (op == "sub" and k != 2):
        raise ValueError(f"op={op!r}: expected 'add', or 'sub' with k=2")
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
    model = HookedMLP(MLPConfig(p=p, k=k, form="power", d_hidden=m, power=k))
    with torch.no_grad():
        model.U.copy_(torch.stack(u_rows).permute(1, 2, 0).float())  # [k, p, m]
        model.W_out.copy_(torch.stack(w_rows).float() / m)
        if margin is not None:
            task = ModularArithmetic(p=p, k=k, op=op)
            logits = model(task.inputs).double()
            correct = logits.gather(1, task.labels[:, None]).squeeze(1)
            others = logits.scatter(1, task.labels[:, None], float("-inf")).max(1).values
            model.W_out.mul_(margin / float((correct - others).min()))
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
        raise ValueError(f"freqs={freqs}: expected a non-empty set of ints in 1..{(p - 1) // 2} (p={p})")
    if op not in ("add", "sub"):
        raise ValueError(f"op={op!r}: expected 'add' or 'sub'")
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
    model = HookedMLP(MLPConfig(p=p, k=2, form="embed_relu", d_embed=d, d_hidden=read.shape[1]))
    with torch.no_grad():
        model.W_E.copy_(embed.float())
        model.W_in.copy_(torch.cat([read, second]).float())
        model.b_in.zero_()
        model.W_out.copy_(w_out.float())
        model.b_out.zero_()
        if margin is not None:
            task = ModularArithmetic(p=p, k=2, op=op)
            logits = model(task.inputs).double()
            correct = logits.gather(1, task.labels[:, None]).squeeze(1)
            others = logits.scatter(1, task.labels[:, None], float("-inf")).max(1).values
            model.W_out.mul_(margin / float((correct - others).min()))
    return model


def memorizing_mlp(p: int, k: int = 2, op: str = "add", margin: float = 12.0) -> HookedMLP:
    """A lookup table: one ReLU unit per input tuple, 100% accurate, no Fourier structure.

    Unit ``(a_1..a_k)`` receives ``+1`` from each matching operand and a bias of
    ``-(k - 1)``, so it is 1 exactly on its tuple and 0 elsewhere; it writes ``margin`` to
    its answer's logit (so its loss is as small as a trained model's).
    """
    task = ModularArithmetic(p=p, k=k, op=op)
    n = task.n
    model = HookedMLP(MLPConfig(p=p, k=k, form="embed_relu", d_embed=p, d_hidden=n))
    with torch.no_grad():
        model.W_E.copy_(torch.eye(p))
        w_in = torch.zeros(k, p, n)
        for j in range(k):
            w_in[j, task.inputs[:, j], torch.arange(n)] = 1.0
        model.W_in.copy_(w_in.reshape(k * p, n))
        model.b_in.fill_(-(k - 1))
        model.W_out.zero_()
        model.W_out[torch.arange(n), task.labels] = margin
        model.b_out.zero_()
    return model
