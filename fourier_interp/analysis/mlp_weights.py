"""Li et al.'s checks of a k-input MLP in weight space.

Li, Liang, Shi, Song, Zhou, "Fourier Circuits in Neural Networks and Transformers: A Case
Study of Modular Arithmetic with Multiple Inputs" (AISTATS 2025, arXiv 2402.09469).

For ``f(x) = sum_i (u_{i,1}.x_1 + ... + u_{i,k}.x_k)^k w_i`` the max-margin network has
every neuron on one frequency, ``u_{i,j}(a) ~ cos(w a + phi_ij)`` and
``w_i(c) ~ cos(w c + sum_j phi_ij)``, and uses all ``(p-1)/2`` frequencies. Measured here:

* per-neuron spectra of each ``u_{i,j}`` and ``w_i``; a neuron is **single-frequency** when
  every one of its k + 1 vectors has ``>= threshold`` (0.9) of its energy, constant
  included, on the same frequency;
* **coverage**: frequencies used by single-frequency neurons / ``(p-1)//2``;
* **phase relation**: ``|phase(w_i) - sum_j s_j phase(u_ij)|`` wrapped to ``[0, pi]``, phases
  of the neuron's frequency (``fourier.frequency_phase``; ``s`` are the task's operand signs);
* **normalised margin** ``gamma = min_x [f(x)_y - max_{y' != y} f(x)_{y'}] / ||theta||_{2,k+1}^{k+1}``
  with ``||theta||_{2,k+1}^{k+1} = sum_i ||theta_i||_2^{k+1}``, ``theta_i = (u_i1, ..., u_ik, w_i)``.
  The margin depends on how each neuron splits its scale between u and w (the function does
  not), so the comparison uses balanced weights (:func:`balance`). The reference is not a closed-form
  maximum but the balanced margin of the analytic all-frequency
  :func:`fourier_interp.planted_mlp` (Li et al.'s max-margin form; it beats every planted
  subset of frequencies, checked for p = 11 and 13).

Example:
    >>> import fourier_interp as fi
    >>> from fourier_interp.analysis import neuron_alignment
    >>> res = neuron_alignment(fi.planted_mlp(p=11, freqs=[1, 2, 3, 4, 5]), fi.ModularArithmetic(p=11))
    >>> res.share_single, res.coverage, res.max_phase_error < 1e-6, round(res.margin_ratio, 6)
    (1.0, 1.0, True, 1.0)
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from ..checks import check_model, check_model_task, check_task, check_zp_model
from ..errors import InvalidArgumentError
from ..evaluation import _grid_logits, model_logits
from ..fourier import fourier_transform, n_frequencies, row_frequency, wrap_angle
from ..tasks import ModularArithmetic
from .grid import model_spec
from .results import NeuronAlignment

SINGLE_THRESHOLD = 0.9
REFERENCE_ROWS = 4096  # rows on which the planted reference margin is measured (it is the same on every row)


LIVE_FRACTION = 1e-6  # a neuron whose weight norm is below this share of the largest is switched off


def neuron_spectra(
    u: Tensor, w: Tensor, signs: Optional[Sequence[int]] = None, threshold: float = SINGLE_THRESHOLD
) -> NeuronAlignment:
    """Per-neuron frequency, purity and phase error from the weights alone (plain tensors).

    Args:
        u: ``[units, k, p]`` input weights, ``u[i, j] = u_{i,j}``.
        w: ``[units, p]`` output weights ``w_i``.
        signs: Operand signs (``task.signs``; default all +1).
        threshold: Share of each vector's energy on the neuron's frequency for it to count
            as single-frequency.
    """
    if not isinstance(u, Tensor) or u.ndim != 3:
        raise InvalidArgumentError(f"u must be a [units, k, p] tensor, got {getattr(u, 'shape', type(u).__name__)}")
    units, k, p = u.shape
    if not isinstance(w, Tensor) or tuple(w.shape) != (units, p):
        raise InvalidArgumentError(f"w must be a [units, p] = [{units}, {p}] tensor, got {getattr(w, 'shape', type(w).__name__)}")
    if not 0 < threshold <= 1:
        raise InvalidArgumentError(f"threshold={threshold!r}: expected a fraction in (0, 1]")
    s = torch.ones(k, dtype=torch.float64) if signs is None else torch.as_tensor(signs, dtype=torch.float64)
    if len(s) != k:
        raise InvalidArgumentError(f"signs={list(signs)} has {len(s)} entries; expected k={k}")
    n_freq = n_frequencies(p)
    vecs = torch.cat([u.detach(), w.detach()[:, None]], dim=1).double()  # [units, k+1, p]
    coeffs = fourier_transform(vecs, -1)
    energy = torch.zeros(units, k + 1, p // 2 + 1, dtype=torch.float64, device=coeffs.device)
    energy.index_add_(2, row_frequency(p).to(coeffs.device), coeffs.pow(2))
    share = energy / energy.sum(-1, keepdim=True).clamp_min(1e-300)
    freq = share[..., 1 : n_freq + 1].sum(1).argmax(1) + 1  # [units]
    purity = share.gather(2, freq[:, None, None].expand(units, k + 1, 1)).squeeze(2).min(1).values
    # phase of cos(w a + phi) = cos(phi) cos(w a) - sin(phi) sin(w a): phi = atan2(-sin coeff, cos coeff)
    cos_c = coeffs.gather(2, (2 * freq - 1)[:, None, None].expand(units, k + 1, 1)).squeeze(2)
    sin_c = coeffs.gather(2, (2 * freq)[:, None, None].expand(units, k + 1, 1)).squeeze(2)
    phase = torch.atan2(-sin_c, cos_c)  # [units, k+1]
    error = wrap_angle(phase[:, k] - (phase[:, :k] * s.to(phase.device)).sum(1)).abs()
    norm = vecs.pow(2).sum((1, 2)).sqrt()
    live = norm > LIVE_FRACTION * norm.max().clamp_min(1e-300)  # weight decay switches neurons off
    return NeuronAlignment(
        freq=freq,
        purity=purity.float(),
        single=(purity >= threshold) & live,
        live=live,
        phase_error=error.float(),
        threshold=float(threshold),
        n_freq=n_freq,
    )


def margin(logits: Tensor, labels: Tensor) -> float:
    """``min_x [logit(x)_y - max_{y' != y} logit(x)_{y'}]`` (negative if any row is wrong)."""
    logits, labels = logits.double(), labels.to(logits.device)
    rows = torch.arange(len(labels), device=logits.device)
    correct = logits[rows, labels]
    others = logits.clone()
    others[rows, labels] = -math.inf
    return float((correct - others.max(1).values).min())


def balance(u: Tensor, w: Tensor, power: int) -> tuple[Tensor, Tensor]:
    """Rescale each neuron ``u_i -> alpha_i u_i``, ``w_i -> alpha_i^-power w_i`` to minimise ``||theta_i||``.

    The network's function is unchanged (the neuron is homogeneous of degree ``power`` in
    u and 1 in w); at the optimum ``sum_j ||u_ij||^2 = power * ||w_i||^2``. The maximum-margin
    network is balanced, so margins of different parametrisations of one function are
    compared after balancing.
    """
    u, w = u.detach().double(), w.detach().double()
    a, b = u.pow(2).sum((1, 2)), w.pow(2).sum(1)
    ok = (a > 0) & (b > 0)
    alpha = torch.where(ok, (power * b / a.clamp_min(1e-300)).pow(1 / (2 * power + 2)), torch.ones_like(a))
    return u * alpha[:, None, None], w * alpha[:, None].pow(-power)


def theta_norm(u: Tensor, w: Tensor, power: int) -> float:
    """``||theta||_{2,power+1}^{power+1} = sum_i ||(u_i1, ..., u_ik, w_i)||_2^{power+1}``."""
    norms = (u.detach().double().pow(2).sum((1, 2)) + w.detach().double().pow(2).sum(1)).sqrt()
    return float(norms.pow(power + 1).sum())


def normalized_margin(
    model: nn.Module,
    task: ModularArithmetic,
    u: Optional[Tensor] = None,
    w: Optional[Tensor] = None,
    power: Optional[int] = None,
    balanced: bool = False,
) -> float:
    """Li et al.'s normalised L_{2,k+1} margin of ``model`` on the full dataset.

    Args:
        model: Maps ``[batch, k]`` operands to ``[batch, p]`` logits.
        u: The neurons' ``[units, k, p]`` input weights (default: the model's
            ``analysis_spec()``).
        w: The neurons' ``[units, p]`` output weights (default: the model's
            ``analysis_spec()``).
        power: The activation's power (default ``model.cfg.power``, else ``task.k``); the
            network is homogeneous of degree ``power + 1`` in theta, which sets the exponent.
        balanced: Measure the norm after :func:`balance` (same function, smallest norm).

    Example:
        >>> import fourier_interp as fi
        >>> model, task = fi.planted_mlp(p=11, freqs=[1, 2, 3, 4, 5]), fi.ModularArithmetic(p=11)
        >>> from fourier_interp.analysis import reference_margin
        >>> round(fi.normalized_margin(model, task, balanced=True) / reference_margin(11, 2), 6)
        1.0
    """
    check_model(model, check_task(task))
    if u is None or w is None:
        spec = model_spec(model)
        if spec is None or spec.unit_input_weights is None or spec.unit_output_weights is None:
            raise InvalidArgumentError(
                f"{type(model).__name__} names no unit_input_weights/unit_output_weights; pass u=[units, k, p] and w=[units, p]"
            )
        u, w = spec.unit_input_weights, spec.unit_output_weights
    power = power or getattr(getattr(model, "cfg", None), "power", None) or task.k
    return _normalized_margin(_grid_logits(model, task).cpu(), task, u, w, power, balanced)


def _normalized_margin(logits: Tensor, task: ModularArithmetic, u: Tensor, w: Tensor, power: int,
                       balanced: bool = False) -> float:
    """:func:`normalized_margin` of the model's checked full-grid logits and its unit weights."""
    if balanced:
        u, w = balance(u, w, power)
    return margin(logits, task.labels) / theta_norm(u, w, power)


def reference_margin(p: int, k: int, op: str = "add") -> float:
    """Normalised margin of the analytic all-frequency :func:`planted_mlp`, balanced (Li et al.'s max-margin form).

    Its logits are ``const * sum_f cos(w_f (s.a - c))`` on every row, so every row has the
    same margin; it is measured on at most ``REFERENCE_ROWS`` rows of the grid.
    """
    from ..models import planted_mlp

    model = planted_mlp(p, range(1, n_frequencies(p) + 1), k=k, op=op, margin=None)
    task = ModularArithmetic(p=p, k=k, op=op)
    rows = torch.arange(task.n)
    if task.n > REFERENCE_ROWS:
        rows = torch.randperm(task.n, generator=torch.Generator().manual_seed(0))[:REFERENCE_ROWS]
    logits = model_logits(model, task.inputs[rows], task.p)
    spec = model.analysis_spec()
    u, w = balance(spec.unit_input_weights, spec.unit_output_weights, k)
    return margin(logits, task.labels[rows]) / theta_norm(u, w, k)


def neuron_alignment(
    model: nn.Module, task: Optional[ModularArithmetic] = None, threshold: float = SINGLE_THRESHOLD
) -> NeuronAlignment:
    """Li et al.'s checks of a model whose spec names per-unit input and output weights.

    With ``task`` given and a power activation, adds the normalised margin, the margin after
    :func:`balance`, and (when the power is k) the balanced all-frequency planted reference.

    Example:
        >>> import fourier_interp as fi
        >>> fi.neuron_alignment(fi.planted_mlp(p=11, freqs=[2])).frequencies()
        [2]
    """
    check_zp_model(model)
    if task is not None:
        check_model_task(model, check_task(task))
    return _neuron_alignment(model, task, threshold)


def _neuron_alignment(model: nn.Module, task: Optional[ModularArithmetic], threshold: float = SINGLE_THRESHOLD,
                      logits: Optional[Tensor] = None) -> NeuronAlignment:
    """:func:`neuron_alignment` once ``model`` and ``task`` are checked; ``logits``: its full-grid logits, when known."""
    spec = model_spec(model)
    if spec is None or spec.unit_input_weights is None or spec.unit_output_weights is None:
        raise InvalidArgumentError(
            f"{type(model).__name__} names no unit_input_weights/unit_output_weights in analysis_spec(); "
            "call neuron_spectra(u, w) on its weights instead"
        )
    signs = None if task is None else task.signs
    result = neuron_spectra(spec.unit_input_weights, spec.unit_output_weights, signs, threshold)
    if task is not None and spec.activation == "power":
        power = getattr(getattr(model, "cfg", None), "power", None) or task.k
        logits = _grid_logits(model, task).cpu() if logits is None else logits
        u, w = spec.unit_input_weights, spec.unit_output_weights
        result.margin = _normalized_margin(logits, task, u, w, power)
        result.balanced_margin = _normalized_margin(logits, task, u, w, power, balanced=True)
        if power == task.k:
            result.reference_margin = reference_margin(task.p, task.k, task.op)
    return result
