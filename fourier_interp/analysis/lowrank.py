"""Low rank and Fourier-aligned singular vectors (Rangamani, ICASSP 2025).

The SVD of a weight or activation matrix: the share of energy (sum of squared singular
values) in the top r components, the r needed for a given share, and for each significant
singular vector along a Z_p axis (or the full input grid) the frequency it lives on and how
purely (the share of the vector's energy, constant included, in that frequency's block).

Matrices without a Z_p axis — an RNN's ``W_ih [d_embed, d_hidden]`` and ``W_hh`` — are
aligned through the embedding: their energy and rank are those of the matrix itself, while
their singular vectors' frequencies are read from the token-space map along the linear path,
``W_E @ W_ih`` and then ``W_E @ W_ih @ W_hh`` (biases and nonlinearities ignored).

Example:
    >>> import torch, fourier_interp as fi
    >>> from fourier_interp.analysis import low_rank
    >>> basis, _ = fi.fourier_basis(13, dtype=torch.float64)
    >>> W = basis[[5, 6]].T @ torch.randn(2, 32, dtype=torch.float64)   # lives on frequency 3
    >>> res = low_rank(W, p=13)
    >>> res.r, res.freq.tolist(), round(res.energy_at(2), 6)
    (2, [3, 3], 1.0)
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ..errors import InvalidArgumentError
from ..fourier import frequency_block_masks, grid_spectrum, n_frequencies
from .grid import model_spec
from .results import LowRank

ENERGY_THRESHOLD = 0.9


def fourier_alignment(vectors: Tensor, p: int, k: int = 1) -> tuple[Tensor, Tensor]:
    """Dominant frequency and purity of each column of ``vectors [p**k, n]``.

    Purity is the share of the column's energy (constant included) in the Nanda block of
    its dominant frequency (for k = 1 simply the (cos f, sin f) pair).

    Returns:
        ``(freq [n], purity [n])``; ``freq`` is 0 for a zero column.
    """
    if vectors.shape[0] != p**k:
        raise InvalidArgumentError(f"vectors has {vectors.shape[0]} rows; expected p**k = {p**k}")
    energy = grid_spectrum(vectors.double(), p, k).reshape(-1, vectors.shape[1])  # [F**k, n]
    blocks = frequency_block_masks(p, k, [[f] for f in range(1, n_frequencies(p) + 1)]).to(energy) @ energy
    best = blocks.max(0)
    total = energy.sum(0)
    alive = total > 0
    freq = torch.where(alive, best.indices + 1, torch.zeros_like(best.indices))
    purity = torch.where(alive, best.values / total.clamp_min(1e-300), torch.zeros_like(total))
    return freq, purity.float()


def low_rank(
    matrix: Tensor,
    p: Optional[int] = None,
    k: int = 1,
    threshold: float = ENERGY_THRESHOLD,
    name: str = "matrix",
) -> LowRank:
    """SVD energy of ``matrix`` and the Fourier alignment of its significant singular vectors.

    Args:
        matrix: A 2-D weight (``W_E [p, d]``, ``W_U.T``, ``W_ih`` ...) or activations
            ``[p**k, units]`` over the full grid.
        p: If given, the axis of length ``p**k`` (rows preferred) is read as Z_p (k = 1)
            or the input grid (first operand slowest), and each of the top-r singular
            vectors along it gets a frequency and purity.
        k: The number of operands of that axis (with ``p``).
        threshold: Energy share that defines the significant rank r (default 0.9).
        name: Label for the result.
    """
    if not isinstance(matrix, Tensor) or matrix.ndim != 2:
        shape = tuple(matrix.shape) if isinstance(matrix, Tensor) else type(matrix).__name__
        raise InvalidArgumentError(f"matrix must be a 2-D tensor, got {shape}")
    if not 0 < threshold <= 1:
        raise InvalidArgumentError(f"threshold={threshold!r}: expected a fraction in (0, 1]")
    m = matrix.detach().double()
    u, s, vh = torch.linalg.svd(m, full_matrices=False)
    result = LowRank(name=name, shape=tuple(m.shape), singular_values=s.float(), threshold=threshold, r=0)
    result.r = result.rank(threshold) if float(s.sum()) > 0 else 0
    if p is not None:
        n = p**k
        if m.shape[0] == n:
            vectors = u[:, : result.r]
        elif m.shape[1] == n:
            vectors = vh[: result.r].T
        else:
            raise InvalidArgumentError(f"matrix {name!r} has shape {tuple(m.shape)}: no axis of length p**k = {p}**{k} = {n}")
        result.freq, result.purity = fourier_alignment(vectors, p, k)
    return result


def weight_low_rank(model: nn.Module, threshold: float = ENERGY_THRESHOLD) -> dict[str, LowRank]:
    """:func:`low_rank` of every matrix in the model's ``analysis_spec().weight_matrices``.

    A matrix with an axis of length p is aligned along it; one without is aligned through
    the embedding's linear path (module docstring), with ``aligned_via`` naming the product.
    """
    spec = model_spec(model)
    if spec is None:
        raise InvalidArgumentError(
            f"{type(model).__name__} has no analysis_spec(); call low_rank(matrix, p=p) on its matrices directly"
        )
    p = spec.unembed.shape[-1] if spec.unembed is not None else model.cfg.p
    token, via = (spec.embed.double(), "W_E") if spec.embed is not None else (None, None)
    out = {}
    for name, mat in spec.weight_matrices.items():
        if p in mat.shape:
            out[name] = low_rank(mat, p=p, threshold=threshold, name=name)
            continue
        res = low_rank(mat, threshold=threshold, name=name)
        if token is not None and token.shape[1] == mat.shape[0]:
            token, via = token @ mat.double(), f"{via} @ {name}"
            u = torch.linalg.svd(token, full_matrices=False)[0][:, : res.r]
            res.freq, res.purity = fourier_alignment(u, p)
            res.aligned_via = via
        out[name] = res
    return out
