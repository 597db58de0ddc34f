"""The real Fourier basis of Z_p and transforms over operand axes — pure tensor maths, no models.

Basis rows, the real Fourier basis of Nanda, Chan, Lieberum, Smith, Steinhardt, "Progress
measures for grokking via mechanistic interpretability" (ICLR 2023; also Gromov, "Grokking
modular arithmetic", 2023): the constant 1/sqrt(p); then for f = 1..(p-1)//2 the pair
cos(2 pi f x / p), sin(2 pi f x / p), each of unit norm; for even p a final Nyquist row
(-1)^x / sqrt(p). The rows are orthonormal, so transforms preserve sums of squares
(Parseval) and frequency f owns the pair of rows (cos f, sin f).

Activations computed on ``task.inputs`` are ``[p**k, ...]`` with the first operand slowest;
:func:`grid_transform` reshapes them to ``[p, ..., p, ...]`` and transforms every operand axis.

Example:
    >>> import torch, fourier_interp as fi
    >>> basis, names = fi.fourier_basis(7)
    >>> names[:3], torch.allclose(basis @ basis.T, torch.eye(7), atol=1e-6)
    (['const', 'cos 1', 'sin 1'], True)
    >>> x = torch.cos(2 * torch.pi * 2 * torch.arange(7) / 7)   # frequency 2
    >>> fi.frequency_energy(x, dim=0).argmax().item()
    2
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, Optional, Sequence, Union

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

Freqs = Union[int, Iterable[int]]


def n_frequencies(p: int) -> int:
    """Number of (cos, sin) frequencies of Z_p: ``(p - 1) // 2``."""
    return (p - 1) // 2


@lru_cache(maxsize=32)
def _basis64(p: int) -> tuple[Tensor, tuple[str, ...]]:
    x = torch.arange(p, dtype=torch.float64)
    rows, names = [torch.full((p,), 1.0, dtype=torch.float64)], ["const"]
    for f in range(1, n_frequencies(p) + 1):
        rows += [torch.cos(2 * math.pi * f * x / p), torch.sin(2 * math.pi * f * x / p)]
        names += [f"cos {f}", f"sin {f}"]
    if p % 2 == 0:
        rows.append(torch.cos(math.pi * x))
        names.append("nyquist")
    basis = torch.stack(rows)
    return basis / basis.norm(dim=1, keepdim=True), tuple(names)


def fourier_basis(
    p: int, device: Optional[torch.device] = None, dtype: torch.dtype = torch.float32
) -> tuple[Float[Tensor, "p p"], list[str]]:
    """The real orthonormal Fourier basis of Z_p.

    Args:
        p: The modulus (>= 2).
        device: Device of the returned basis.
        dtype: Dtype of the returned basis (computed in float64, then cast).

    Returns:
        ``(basis, names)``: ``basis[i]`` is the i-th basis function over ``x = 0..p-1``;
        ``names`` are ``"const", "cos 1", "sin 1", ..., ["nyquist"]``.
    """
    if isinstance(p, bool) or not isinstance(p, int) or p < 2:
        raise ValueError(f"p={p!r}: expected an int >= 2")
    basis, names = _basis64(p)
    return basis.to(device=device, dtype=dtype), list(names)


def row_frequency(p: int) -> Int[Tensor, " p"]:
    """Frequency owned by each basis row: 0 for const, f for cos f / sin f, p/2 for Nyquist."""
    freqs = [0] + [f for f in range(1, n_frequencies(p) + 1) for _ in (0, 1)]
    if p % 2 == 0:
        freqs.append(p // 2)
    return torch.tensor(freqs)


def frequency_row_mask(p: int, freqs: Freqs) -> Bool[Tensor, " p"]:
    """Which basis rows belong to ``freqs``: True at rows ``2f - 1`` (cos f) and ``2f`` (sin f) for each f."""
    return torch.isin(row_frequency(p), torch.tensor(as_freq_list(freqs, p), dtype=torch.long))


def frequency_rows(
    p: int, freqs: Freqs, device: Optional[torch.device] = None, dtype: torch.dtype = torch.float32
) -> Float[Tensor, "rows p"]:
    """The (cos f, sin f) rows of the Fourier basis for each f in ``freqs``, in basis order: ``[2 len(freqs), p]``.

    ``rows.T @ rows`` projects a ``p``-axis onto those frequencies; ``rows @ x`` gives
    their coefficients. The one place the package picks a frequency list's basis rows.

    Example:
        >>> from fourier_interp.fourier import fourier_basis, frequency_rows
        >>> rows = frequency_rows(7, [1, 3])
        >>> rows.shape, bool((rows[2] == fourier_basis(7)[0][5]).all())   # row 5 is cos 3
        (torch.Size([4, 7]), True)
    """
    basis, _ = fourier_basis(p, device=device, dtype=dtype)
    return basis[frequency_row_mask(p, freqs).to(basis.device)]


def fold_frequency(f: int, p: int) -> int:
    """The frequency in ``0..p//2`` equal to ``f`` mod p up to sign (cos/sin of f and -f coincide)."""
    f %= p
    return min(f, p - f)


def harmonics(f: int, p: int, order: int) -> list[int]:
    """Frequencies ``f, 2f, ..., order*f`` folded into ``1..p//2`` (0 dropped, duplicates kept once)."""
    out = []
    for h in range(1, order + 1):
        g = fold_frequency(h * f, p)
        if g and g not in out:
            out.append(g)
    return out


def as_freq_list(freqs: Freqs, p: int) -> list[int]:
    """Validate frequencies: a sorted list of distinct ints in ``1..(p-1)//2``.

    ``freqs`` is an int or a list (tuple, range, set, integer tensor) of ints; a string, a
    bool or a float is refused (``"21"`` would otherwise read as frequencies 2 and 1).
    """
    from .checks import int_list

    out = sorted(set(int_list(freqs, "freqs")))
    bad = [f for f in out if not 1 <= f <= n_frequencies(p)]
    if bad:
        raise ValueError(f"frequencies {bad} are outside 1..{n_frequencies(p)} (p={p})")
    return out


# ----------------------------------------------------------------- transforms
def _transform(x: Tensor, dims: Sequence[int], inverse: bool) -> Tensor:
    dims = [d % x.ndim for d in dims]
    for d in dims:
        p = x.shape[d]
        basis, _ = fourier_basis(p, device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32)
        matrix = basis.T if inverse else basis  # forward: coeff_i = sum_x basis[i, x] value_x
        x = torch.tensordot(x.to(basis.dtype), matrix, dims=([d], [1])).movedim(-1, d)
    return x


def fourier_transform(x: Tensor, dims: Union[int, Sequence[int]]) -> Tensor:
    """Real Fourier transform of ``x`` along each of ``dims`` (each of size p).

    On a 2-D grid ``A[a, b]`` over dims (0, 1) this is ``F A F^T``; for k operand axes
    the transform is applied on every one. Orthonormal, so sums of squares are kept.
    """
    return _transform(x, [dims] if isinstance(dims, int) else dims, inverse=False)


def inverse_fourier_transform(x: Tensor, dims: Union[int, Sequence[int]]) -> Tensor:
    """Inverse of :func:`fourier_transform` (the transpose, since the basis is orthonormal)."""
    return _transform(x, [dims] if isinstance(dims, int) else dims, inverse=True)


def to_grid(x: Tensor, p: int, k: int) -> Tensor:
    """``[p**k, ...]`` (first operand slowest) -> ``[p, ..., p, ...]``."""
    if x.shape[0] != p**k:
        raise ValueError(f"x has {x.shape[0]} rows; expected p**k = {p**k} (activations on task.inputs, in order)")
    return x.reshape(*([p] * k), *x.shape[1:])


def grid_transform(x: Float[Tensor, "n ..."], p: int, k: int) -> Tensor:
    """Fourier transform of activations over the full input grid, on every operand axis.

    Args:
        x: ``[p**k, ...]`` activations computed on ``task.inputs`` (first operand slowest).

    Returns:
        ``[p, ..., p, ...]``: coefficient ``[i_1, ..., i_k, ...]`` of basis row ``i_j`` on operand j.
    """
    return fourier_transform(to_grid(x, p, k), list(range(k)))


def frequency_energy(x: Tensor, dim: int = 0, normalize: bool = False) -> Float[Tensor, " n_freq_plus_1"]:
    """Energy (sum of squares) per frequency of ``x`` along ``dim``, summed over other axes.

    Args:
        x: Values over Z_p along ``dim`` (e.g. an embedding ``W_E[:p]`` with dim=0).
        dim: The axis of size p.
        normalize: Return fractions of the total instead of sums of squares.

    Returns:
        ``[(p-1)//2 + 1]`` (one more for even p): index 0 is the constant, index f the
        (cos f, sin f) pair, the last the Nyquist row for even p.
    """
    p = x.shape[dim]
    coeffs = fourier_transform(x, dim).movedim(dim, 0).reshape(p, -1).pow(2).sum(1)
    energy = torch.zeros(p // 2 + 1, dtype=coeffs.dtype, device=coeffs.device)
    energy.index_add_(0, row_frequency(p).to(coeffs.device), coeffs)
    if normalize:
        energy = energy / energy.sum().clamp_min(torch.finfo(energy.dtype).tiny)
    return energy


def frequency_norms(x: Tensor, dim: int = 0) -> Float[Tensor, " n_freq"]:
    """Norm of each frequency's (cos, sin) component of ``x`` along ``dim``: ``[(p-1)//2]``."""
    return frequency_energy(x, dim)[1 : n_frequencies(x.shape[dim]) + 1].sqrt()


# ----------------------------------------------------------------- directions
def sum_directions(
    p: int, k: int, freq: int, signs: Optional[Sequence[int]] = None
) -> tuple[Float[Tensor, " n"], Float[Tensor, " n"]]:
    """``cos(w s.a)`` and ``sin(w s.a)`` over the full grid ``[p**k]``, ``w = 2 pi freq / p``.

    ``signs`` defaults to all +1 (``a_1 + ... + a_k``); ``(1, -1)`` gives ``a - b``.
    """
    grid = torch.cartesian_prod(*[torch.arange(p)] * k).reshape(-1, k).double()
    s = torch.ones(k, dtype=torch.float64) if signs is None else torch.as_tensor(signs, dtype=torch.float64)
    angle = 2 * math.pi * freq * (grid * s).sum(-1) / p
    return torch.cos(angle).float(), torch.sin(angle).float()


def answer_directions(
    p: int, k: int, freq: int, signs: Optional[Sequence[int]] = None
) -> Float[Tensor, "n p"]:
    """``cos(w (s.a - c))`` over the grid ``[p**k]`` and answers ``c``: the logit pattern of frequency ``freq``."""
    cos_sum, sin_sum = sum_directions(p, k, freq, signs)
    c = 2 * math.pi * freq * torch.arange(p, dtype=torch.float64) / p
    # cos(x - y) = cos x cos y + sin x sin y
    return (cos_sum[:, None].double() * torch.cos(c) + sin_sum[:, None].double() * torch.sin(c)).float()


def operand_frequency_mask(p: int, k: int, freqs: Freqs, mode: str = "any") -> Bool[Tensor, "..."]:
    """Mask over the k-D Fourier grid ``[p] * k`` of the coefficients that belong to ``freqs``.

    Args:
        mode: ``"any"`` — some operand axis has a frequency in ``freqs`` (everything that
            carries those frequencies of any a_j, including the ``a_1 + ... + a_k`` terms);
            ``"all"`` — every non-constant axis is in ``freqs`` and at least one axis is.
    """
    on_axis = frequency_row_mask(p, freqs)
    const = row_frequency(p) == 0
    axes = []
    for j in range(k):
        shape = [1] * k
        shape[j] = p
        axes.append((on_axis.view(shape), const.view(shape)))
    any_on = torch.zeros([p] * k, dtype=torch.bool)
    all_ok = torch.ones([p] * k, dtype=torch.bool)
    for on, c in axes:
        any_on = any_on | on
        all_ok = all_ok & (on | c)
    if mode == "any":
        return any_on
    if mode == "all":
        return any_on & all_ok
    raise ValueError(f"mode={mode!r}: expected 'any' or 'all'")


# ------------------------------------------------------------ spectra, phases
def _frequency_onehot(p: int, dtype: torch.dtype, device: Optional[torch.device]) -> Tensor:
    """``[p//2 + 1, p]``: entry ``[f, i]`` is 1 when basis row i belongs to frequency f."""
    rows = row_frequency(p).to(device)
    return (torch.arange(p // 2 + 1, device=device)[:, None] == rows[None, :]).to(dtype)


def grid_spectrum(x: Float[Tensor, "n ..."], p: int, k: int) -> Tensor:
    """Energy of activations over the full grid per tuple of operand frequencies.

    The k-D transform of :func:`grid_transform`, squared and summed within each
    frequency's (cos, sin) pair on every operand axis: a unit's '2-D spectrum' for k = 2.

    Args:
        x: ``[p**k, ...]`` activations computed on ``task.inputs`` (first operand slowest).

    Returns:
        ``[F, ..., F, ...]`` with ``F = p//2 + 1`` on each of the k operand axes: entry
        ``[f_1, ..., f_k, ...]`` is the energy of the coefficients whose basis row on operand
        j belongs to frequency ``f_j`` (0 = const; ``p/2`` = Nyquist for even p). The entries
        sum to the total sum of squares of ``x`` (Parseval).

    Example:
        >>> import torch, fourier_interp as fi
        >>> from fourier_interp.fourier import grid_spectrum, sum_directions
        >>> cos_sum, _ = sum_directions(7, 2, freq=3)        # cos(w (a + b)), w = 2 pi 3 / 7
        >>> spec = grid_spectrum(cos_sum, 7, 2)
        >>> spec.shape, (spec[3, 3] / spec.sum()).item() > 0.999
        (torch.Size([4, 4]), True)
    """
    energy = grid_transform(x, p, k).pow(2)
    onehot = _frequency_onehot(p, energy.dtype, energy.device)
    for j in range(k):
        energy = torch.tensordot(energy, onehot, dims=([j], [1])).movedim(-1, j)
    return energy


def frequency_phase(x: Tensor, freq: int, dim: int = 0) -> tuple[Tensor, Tensor]:
    """Amplitude and phase of frequency ``freq`` in ``x`` along ``dim`` (of size p).

    Writing the component as ``A cos(w a + phi)`` with ``w = 2 pi freq / p``, and since
    ``cos(w a + phi) = cos(phi) cos(w a) - sin(phi) sin(w a)``, the phase is
    ``phi = atan2(-s, c)`` where c and s are the cos and sin coefficients.

    Returns:
        ``(amplitude, phase)``, each of ``x``'s shape without ``dim``; phase in ``(-pi, pi]``.

    Example:
        >>> import math, torch
        >>> from fourier_interp.fourier import frequency_phase
        >>> a = torch.arange(11, dtype=torch.float64)
        >>> amp, phi = frequency_phase(2.0 * torch.cos(2 * math.pi * 3 * a / 11 + 0.7), freq=3)
        >>> round(amp.item(), 6), round(phi.item(), 6)
        (2.0, 0.7)
    """
    p = x.shape[dim]
    as_freq_list(freq, p)
    angle = 2 * math.pi * freq * torch.arange(p, dtype=torch.float64, device=x.device) / p
    xd = x.movedim(dim, -1).double()
    c = (xd * torch.cos(angle)).sum(-1) * (2 / p)
    s = (xd * torch.sin(angle)).sum(-1) * (2 / p)
    return torch.sqrt(c**2 + s**2), torch.atan2(-s, c)


def wrap_angle(x: Tensor) -> Tensor:
    """Angles mapped into ``(-pi, pi]``."""
    return math.pi - torch.remainder(math.pi - x, 2 * math.pi)


def frequency_block_masks(p: int, k: int, families: Sequence[Sequence[int]]) -> Float[Tensor, "n_families cells"]:
    """Masks over the flattened frequency grid of :func:`grid_spectrum` (``[F]*k``, ``F = p//2 + 1``).

    Row ``i`` marks the frequency tuples whose every operand axis is const (0) or in
    ``families[i]``, excluding the all-const tuple: for a single frequency ``[f]`` this is
    Nanda et al.'s ``{const, cos f, sin f}^k`` block; a family ``[f, 2f]`` adds its harmonic
    and all their products. ``masks @ grid_spectrum(x, p, k).reshape(-1, units)`` gives each
    block's energy per unit.
    """
    size = p // 2 + 1
    masks = []
    for fam in families:
        member = torch.zeros(size, dtype=torch.bool)
        member[0] = True
        member[list(fam)] = True
        mask = member
        for _ in range(k - 1):
            mask = (mask[..., None] & member).flatten()
        mask = mask.clone()
        mask[0] = False
        masks.append(mask)
    return torch.stack(masks).double()
