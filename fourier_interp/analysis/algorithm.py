"""Which algorithm? Measures that tell the clock (Fourier Multiplication) from the pizza.

Both algorithms use the same Fourier features, so the key frequencies, clustered units and
frequency ablations cannot tell them apart. What differs is how the two operands meet
(Zhong, Liu, Tegmark, Andreas, "The Clock and the Pizza", NeurIPS 2023):

* **clock** — each operand is a rotation and the two rotations are composed (angle
  addition, a multiplicative interaction); the logit of ``c`` is ``~ cos(w (a + b - c))``,
  whose size does not depend on ``a - b``;
* **pizza** — the operands' embeddings are added, ``E(a) + E(b) = 2 cos(w (a - b) / 2)
  (cos w (a + b) / 2, sin w (a + b) / 2)``, and a nonlinearity reads which slice the sum
  points into; the logit of ``c`` is ``~ |cos(w (a - b) / 2)| cos(w (a + b - c))``, whose
  size depends on ``a - b``.

The measures, each defined for ``k = 2`` as in the paper and extended to ``k`` operands here
(the extensions reduce to the paper's definitions at ``k = 2``):

* :func:`distance_irrelevance` — how little the correct logit depends on ``a - b``: group
  the inputs by ``a - b`` (for ``k`` operands: by the orbit of the common shift
  ``a_j -> a_j + t``, which keeps every difference), take the standard deviation of the
  correct logit inside each group, average over groups and divide by the standard
  deviation over all inputs. A clock scores high (Zhong et al.: ~0.85), a pizza low (~0.17).
  This is the definition of their evaluation notebook, on the *correct* logit; their
  training script logs a variant on the largest *wrong* logit (``logit="wrong"`` here).
* :func:`gradient_symmetricity` — the cosine similarity between the gradients of an
  output logit with respect to the two operands' input embeddings, averaged over sampled
  ``(a, b, c)`` (Zhong et al. sample ``c`` at random; ``answers="correct"`` uses the
  right answer). Clock ~0.33, pizza ~0.99. For ``k`` operands, the mean over operand pairs.
  It is *forced* to 1 when the operands' embeddings enter the model only through their sum
  (a constant-attention transformer whose readout position is '=', an MLP on summed
  embeddings, Li et al.'s power MLP): the result says so, and the number then says
  nothing about the algorithm.
* :func:`logit_forms` — per key frequency, fits of the *uncentred* logits (no term is
  removed but each input's mean over answers) by the clock form ``C_f = cos(w (s - c))``
  and the pizza form ``P_f = M_f cos(w (s - c))`` with ``M_f = |cos(w (a - b) / 2)|`` (for
  ``k`` operands the length of the mean of the operands' unit vectors ``e^{i w a_j}``).
  ``P_f = m_f C_f + R_f`` with ``m_f`` the grid mean of ``M_f`` and ``R_f`` orthogonal to
  ``C_f``; the least-squares coefficients of ``C_f`` and ``R_f`` give the *pizza index*
  ``rho_f = beta_f m_f / alpha_f``, the share of the frequency's mean logit amplitude carried
  by the pizza form: 0 for a pure clock, 1 for a pure pizza.

Operands are taken with the task's signs (``a - b`` tasks use ``a`` and ``-b``).

Example:
    >>> import fourier_interp as fi
    >>> from fourier_interp.analysis import distance_irrelevance, logit_forms
    >>> task = fi.ModularArithmetic(p=23)
    >>> clock, pizza = fi.planted_mlp(p=23, freqs=[3, 7]), fi.planted_pizza(p=23, freqs=[3, 7])
    >>> round(distance_irrelevance(clock, task).value, 3), distance_irrelevance(pizza, task).value < 0.3
    (1.0, True)
    >>> abs(logit_forms(clock, task, [3, 7]).pizza_index) < 1e-6, logit_forms(pizza, task, [3, 7]).pizza_index > 0.8
    (True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import torch
from jaxtyping import Float
from torch import Tensor, nn

from ..checks import check_hook_names, check_model, check_task, device_of, int_list
from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from ..evaluation import _grid_logits
from ..fourier import n_frequencies
from ..tasks import ModularArithmetic
from .grid import check_grid, model_spec
from .results import Result

LogitsOrModel = Union[Tensor, nn.Module]
FORCED_TOL = 1e-4  # every sampled cosine within this of 1: the gradients are identical by construction


# ------------------------------------------------------------------ helpers
def _as_grid_logits(x: LogitsOrModel, task: ModularArithmetic) -> Tensor:
    """The door check of the logit measures: ``task``, and ``x`` as ``[p**k, p]`` float64 logits over the grid
    (``x`` itself, or a model checked and run on it)."""
    check_task(task)
    if isinstance(x, nn.Module):
        x = _grid_logits(check_model(x, task), task).cpu()  # the evaluation core: chunked, float64
    logits = check_grid(x, task.p, task.k, what="logits")
    if logits.shape[1] != task.p:
        raise InvalidArgumentError(f"logits has {logits.shape[1]} columns; expected p={task.p} answers")
    return logits


def effective_operands(task: ModularArithmetic) -> Tensor:
    """``[p**k, k]`` operands times the task's signs, mod p (their sum is the answer)."""
    return (task.inputs * task.signs).remainder(task.p)


def shift_orbits(task: ModularArithmetic) -> Tensor:
    """``[p**k]`` orbit id of each input under the common shift ``e_j -> e_j + t``.

    Inputs in one orbit share every difference ``e_j - e_1`` (for ``k = 2``: ``a - b``) and
    differ in their sum; each orbit holds ``p`` inputs when ``gcd(k, p) = 1``.
    """
    e = effective_operands(task)
    diffs = (e[:, 1:] - e[:, :1]).remainder(task.p)
    weights = task.p ** torch.arange(diffs.shape[1] - 1, -1, -1)
    return (diffs * weights).sum(1)


def pizza_magnitude(task: ModularArithmetic, freq: int) -> Float[Tensor, " n"]:
    """``[p**k]`` length of the mean of the operands' unit vectors at ``freq``: ``|cos(w (a - b) / 2)|`` for k = 2."""
    w = 2 * math.pi * freq / task.p
    angle = effective_operands(task).double() * w
    return torch.complex(torch.cos(angle), torch.sin(angle)).mean(1).abs()


# ------------------------------------------------------- distance irrelevance
@dataclass(repr=False)
class DistanceIrrelevance(Result):
    """How little the correct logit depends on ``a - b`` (Zhong et al.'s distance irrelevance).

    Attributes:
        value: Mean over ``a - b`` groups (shift orbits) of the within-group standard
            deviation of the logit, over its standard deviation on all inputs; 1 when the
            logit is constant (nothing depends on ``a - b``).
        difference_share: Share of the logit's variance explained by ``a - b`` alone (the
            variance of the group means over the total); ~0 for a clock, large for a pizza.
        logit: ``"correct"`` (the paper's evaluation) or ``"wrong"`` (largest wrong logit).
        table: For ``k = 2``, ``[p, p]`` the logit at ``(a + b, a - b)`` (rows: sum, columns:
            difference, both mod p, with the task's signs); ``None`` otherwise.
    """

    value: float
    difference_share: float
    logit: str
    table: Optional[Tensor] = None

    def to_dict(self) -> dict[str, Any]:  # the table stays out of JSON
        return {"value": self.value, "difference_share": self.difference_share, "logit": self.logit}

    def __repr__(self) -> str:
        return (f"DistanceIrrelevance({self.value:.3f} on the {self.logit} logit; "
                f"a-b explains {self.difference_share:.1%} of its variance)")


def distance_irrelevance(x: LogitsOrModel, task: ModularArithmetic, logit: str = "correct",
                         centre: bool = True) -> DistanceIrrelevance:
    """Zhong et al.'s distance irrelevance of a model (or of its full-grid logits).

    Args:
        x: A hooked model mapping ``[batch, k]`` operands to ``[batch, p]`` logits, or its
            ``[p**k, p]`` logits on ``task.inputs``.
        task: The task (its labels say which logit is correct).
        logit: ``"correct"`` — the correct answer's logit (Zhong et al.'s evaluation
            notebooks and paper); ``"wrong"`` — the largest wrong logit (the variant
            their training script stores).
        centre: Read the logit after removing each input's mean over answers (default).
            Adding one amount to every answer's logit of an input changes nothing the
            model computes (softmax, accuracy and loss are unchanged) but, read raw, it can
            move the measure anywhere in [0, 1]; centred, the measure cannot see it.
            ``centre=False`` is the paper's raw reading.

    Example:
        >>> import fourier_interp as fi
        >>> task = fi.ModularArithmetic(p=23)
        >>> fi.distance_irrelevance(fi.planted_pizza(p=23, freqs=[2, 9]), task).difference_share > 0.5
        True
    """
    if logit not in ("correct", "wrong"):
        raise InvalidArgumentError(f"logit={logit!r}: expected 'correct' or 'wrong'")
    return _distance_irrelevance(_as_grid_logits(x, task), task, logit, centre)


def _distance_irrelevance(logits: Tensor, task: ModularArithmetic, logit: str = "correct",
                          centre: bool = True) -> DistanceIrrelevance:
    """:func:`distance_irrelevance` of checked ``[p**k, p]`` float64 logits."""
    if centre:
        logits = logits - logits.mean(1, keepdim=True)
    labels = task.labels[:, None]
    if logit == "correct":
        y = logits.gather(1, labels).squeeze(1)
    else:
        y = logits.scatter(1, labels, float("-inf")).max(1).values
    orbit = shift_orbits(task)
    n_orbits = int(orbit.max()) + 1
    counts = torch.bincount(orbit, minlength=n_orbits).double()
    mean = torch.zeros(n_orbits, dtype=torch.float64).index_add_(0, orbit, y) / counts.clamp_min(1)
    sq = torch.zeros(n_orbits, dtype=torch.float64).index_add_(0, orbit, (y - mean[orbit]) ** 2)
    inside = (sq / counts.clamp_min(1)).sqrt()[counts > 0]
    total = y.std(unbiased=False)
    scale = logits.std().clamp_min(1e-30)
    if total <= 1e-6 * scale:  # the logit does not vary at all: nothing depends on a - b
        value, share = 1.0, 0.0
    else:
        value = float(inside.mean() / total)
        share = float(((mean[orbit] - y.mean()) ** 2).mean() / total**2)
    table = None
    if task.k == 2:
        e = effective_operands(task)
        s, d = e.sum(1).remainder(task.p), (e[:, 0] - e[:, 1]).remainder(task.p)
        table = torch.zeros(task.p, task.p, dtype=torch.float64)
        table[s, d] = y
        table = table.float()
    return DistanceIrrelevance(value=value, difference_share=share, logit=logit, table=table)


# ------------------------------------------------------ gradient symmetricity
@dataclass(repr=False)
class GradientSymmetricity(Result):
    """Zhong et al.'s gradient symmetricity.

    Attributes:
        value: Mean cosine similarity of the gradients of the sampled logits with respect to
            the operands' input embeddings (mean over operand pairs for k > 2).
        std: Standard deviation of the per-sample cosines.
        n_samples: Sampled ``(input, answer)`` pairs.
        hook: The embedding hook the gradients are taken at.
        answers: ``"random"`` (the paper's sampling) or ``"correct"``.
        forced: Every cosine is 1: the operands' embeddings enter the model only through
            their sum, so the value carries no information about the algorithm.
    """

    value: float
    std: float
    n_samples: int
    hook: str
    answers: str
    forced: bool

    def summary(self) -> dict[str, Any]:
        return {"informative": not self.forced}

    def __repr__(self) -> str:
        note = " — forced to 1: the operands enter only through their sum" if self.forced else ""
        return f"GradientSymmetricity({self.value:.3f} ± {self.std:.3f} over {self.n_samples} samples at {self.hook!r}{note})"


def operand_embedding_hook(model: nn.Module) -> Optional[str]:
    """The hook of the operands' input embeddings named by the model's spec (``None`` if it has none)."""
    spec = model_spec(model)
    return getattr(spec, "operand_embed", None) if spec is not None else None


def gradient_symmetricity(
    model: nn.Module,
    task: ModularArithmetic,
    hook: Optional[str] = None,
    *,
    n_samples: int = 1024,
    answers: str = "random",
    seed: int = 0,
) -> GradientSymmetricity:
    """Cosine similarity of a logit's gradients with respect to the operands' embeddings.

    Args:
        model: A hooked model mapping ``[batch, k]`` operands to ``[batch, p]`` logits.
        task: The task whose inputs are sampled.
        hook: Hook whose activation ``[batch, pos, d]`` holds the operands' input
            embeddings at positions ``0..k-1`` (default: the spec's ``operand_embed``,
            e.g. ``"hook_embed"``).
        n_samples: Inputs sampled from the grid (at most ``p**k``, without replacement).
        answers: ``"random"`` — a uniformly random answer ``c`` per input (Zhong et al.);
            ``"correct"`` — the right answer's logit.
        seed: Seeds the sample.

    Example:
        >>> import fourier_interp as fi
        >>> model = fi.HookedTransformer(fi.TransformerConfig(p=11, d_mlp=64, attn_coeff=0.0))
        >>> fi.gradient_symmetricity(model, fi.ModularArithmetic(p=11)).forced   # '=' sums the operands
        True
    """
    check_model(model, check_task(task))
    if answers not in ("random", "correct"):
        raise InvalidArgumentError(f"answers={answers!r}: expected 'random' or 'correct'")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise InvalidArgumentError(f"n_samples={n_samples!r}: expected a positive int")
    if task.k < 2:
        raise InvalidArgumentError("gradient symmetricity needs k >= 2 operands")
    if hook is None:
        hook = operand_embedding_hook(model)
        if hook is None:
            raise InvalidArgumentError(
                f"{type(model).__name__} names no operand-embedding hook (spec.operand_embed); pass hook=<name> "
                "of a [batch, pos, d] activation holding the operands' embeddings at positions 0..k-1"
            )
    check_hook_names(model, [hook])
    return _gradient_symmetricity(model, task, hook, n_samples, answers, seed)


def _gradient_symmetricity(model: nn.Module, task: ModularArithmetic, hook: str, n_samples: int = 1024,
                           answers: str = "random", seed: int = 0) -> GradientSymmetricity:
    """:func:`gradient_symmetricity` once its arguments are checked (``hook`` a name)."""
    gen = torch.Generator().manual_seed(seed)
    rows = torch.randperm(task.n, generator=gen)[: min(n_samples, task.n)]
    inputs = task.inputs[rows].to(device_of(model))
    if answers == "random":
        c = torch.randint(task.p, (len(rows),), generator=gen)
    else:
        c = task.labels[rows]
    leaves: list[Tensor] = []

    def capture(act: Tensor, hook=None) -> Tensor:  # noqa: ARG001 - TransformerLens passes the hook point
        if act.ndim != 3 or act.shape[1] < task.k:
            raise InvalidArgumentError(f"hook {hook.name!r} gives shape {tuple(act.shape)}; expected [batch, pos >= {task.k}, d] "
                             "operand embeddings")
        leaf = act.detach().requires_grad_(True)
        leaves.append(leaf)
        return leaf

    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            out = model.run_with_hooks(inputs, fwd_hooks=[(hook, capture)])
            out = out[0] if isinstance(out, tuple) else out
            out = out[:, -1] if out.ndim == 3 else out
            (grad,) = torch.autograd.grad(out.gather(1, c.to(out.device)[:, None]).sum(), leaves[0])
    finally:
        model.train(was_training)
    g = grad[:, : task.k].double().cpu()  # [batch, k, d]
    g = g / g.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    i, j = torch.triu_indices(task.k, task.k, offset=1)
    cos = (g[:, i] * g[:, j]).sum(-1).mean(1)  # [batch], mean over operand pairs
    return GradientSymmetricity(
        value=float(cos.mean()), std=float(cos.std(unbiased=False)), n_samples=len(rows), hook=hook,
        answers=answers, forced=bool((cos > 1 - FORCED_TOL).all()),
    )


# ----------------------------------------------------------------- logit forms
@dataclass(repr=False)
class LogitForms(Result):
    """Fits of the uncentred logits by the clock and pizza forms, per frequency.

    Attributes:
        freqs: The frequencies fitted.
        clock_share: ``[len(freqs)]`` share of the logits' variance over answers along
            ``C_f = cos(w (s - c))``.
        pizza_share: ``[len(freqs)]`` share along ``R_f``, the part of the pizza form
            ``P_f = M_f C_f`` orthogonal to ``C_f``.
        pizza_index: ``[len(freqs)]`` ``rho_f = beta_f m_f / alpha_f``: the share of the
            frequency's mean logit amplitude the pizza form carries (0 clock, 1 pizza);
            NaN where the clock coefficient is not positive.
        mean_magnitude: ``[len(freqs)]`` ``m_f``, the grid mean of ``M_f`` (~2/pi for k = 2).
    """

    freqs: list[int]
    clock_share: Tensor
    pizza_share: Tensor
    pizza_index_by_freq: Tensor
    mean_magnitude: Tensor

    @property
    def pizza_index(self) -> float:
        """The per-frequency pizza indices averaged with weights ``clock_share`` (NaN when no frequency fits)."""
        ok = torch.isfinite(self.pizza_index_by_freq)
        w = self.clock_share * ok
        if not bool(ok.any()) or float(w.sum()) <= 0:
            return float("nan")
        return float((w * torch.nan_to_num(self.pizza_index_by_freq)).sum() / w.sum())

    @property
    def clock_total(self) -> float:
        """Share of the logits' variance along the clock forms of all fitted frequencies (they are orthogonal)."""
        return float(self.clock_share.sum())

    def summary(self) -> dict[str, Any]:
        return {"pizza_index": self.pizza_index, "clock_total": self.clock_total,
                "pizza_total": float(self.pizza_share.sum())}

    def __repr__(self) -> str:
        per = ", ".join(f"{f}: {float(r):.2f}" for f, r in zip(self.freqs, self.pizza_index_by_freq))
        return (f"LogitForms(pizza_index={self.pizza_index:.3f}, clock forms explain {self.clock_total:.1%}, "
                f"pizza part {float(self.pizza_share.sum()):.2%}; per frequency {{{per}}})")


def logit_forms(x: LogitsOrModel, task: ModularArithmetic, freqs: Sequence[int]) -> LogitForms:
    """Fit the logits at each frequency by the clock form and the pizza form (see the module docstring).

    Args:
        x: A hooked model, or its ``[p**k, p]`` logits on ``task.inputs``.
        task: The task.
        freqs: Frequencies to fit, each in ``1..(p-1)//2`` (usually the key frequencies).
    """
    return _logit_forms(_as_grid_logits(x, task), task, _check_freqs(freqs, task.p))


def _check_freqs(freqs: Sequence[int], p: int) -> list[int]:
    """``freqs`` as a list of ints in ``1..(p-1)//2`` (repeats and order kept), or an error naming them."""
    freqs = int_list(freqs, "freqs")
    n_freq = n_frequencies(p)
    if any(not 1 <= f <= n_freq for f in freqs):
        raise InvalidArgumentError(f"freqs={freqs}: expected ints in 1..{n_freq} (p={p})")
    return freqs


def _logit_forms(logits: Tensor, task: ModularArithmetic, freqs: list[int]) -> LogitForms:
    """:func:`logit_forms` of checked logits and frequencies."""
    L = logits - logits.mean(1, keepdim=True)  # an offset shared by every answer carries nothing
    total = L.pow(2).sum().clamp_min(1e-300)
    s = effective_operands(task).sum(1).remainder(task.p).double()
    c = torch.arange(task.p, dtype=torch.float64)
    rows = []
    for f in freqs:
        w = 2 * math.pi * f / task.p
        C = torch.cos(w * (s[:, None] - c))  # [n, p]
        M = pizza_magnitude(task, f)
        m = float(M.mean())
        R = (M - m)[:, None] * C  # orthogonal to C: sum_c cos^2 is the same for every input
        lc, lr = float((L * C).sum()), float((L * R).sum())
        nc, nr = float(C.pow(2).sum()), float(R.pow(2).sum())
        alpha, beta = lc / nc, (lr / nr if nr > 0 else 0.0)
        rows.append((lc * lc / (nc * float(total)), (lr * lr / (nr * float(total))) if nr > 0 else 0.0,
                     beta * m / alpha if alpha > 0 else float("nan"), m))
    cols = list(zip(*rows)) if rows else [(), (), (), ()]
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return LogitForms(freqs=freqs, clock_share=t(cols[0]), pizza_share=t(cols[1]),
                      pizza_index_by_freq=t(cols[2]), mean_magnitude=t(cols[3]))


# ------------------------------------------------------- amplitude modulation
@dataclass(repr=False)
class AmplitudeModulation(Result):
    """How much each frequency's logit amplitude follows the operands' differences.

    For each input ``x`` and frequency ``f``, ``A_f(x)`` is the amplitude of the centred logits'
    component ``cos(w (t - c))`` over the answers ``c`` (the modulus of their discrete Fourier
    coefficient at ``f``). A clock's is the same for every input; a pizza's is proportional to
    ``|cos(w (a - b) / 2)|`` (for k operands, the length of the mean of the operands' unit
    vectors), so it varies across the shift orbits (the groups of inputs sharing ``a - b``).

    Attributes:
        freqs: The frequencies measured.
        raw: ``[len(freqs)]`` the standard deviation over shift orbits of the orbit-mean
            amplitude, over the mean amplitude: 0 for a clock, ~0.48 for a k = 2 pizza.
        relative: ``[len(freqs)]`` the same for the amplitudes divided by each input's total
            amplitude over ``freqs``: blind to a per-input rescaling of the logits, and to a
            pizza with one frequency (whose relative amplitude is always 1).
        weight: ``[len(freqs)]`` each frequency's mean amplitude (the weights of ``value``).
        value: ``raw`` averaged with weights ``weight``.
        pizza_shaped: ``[len(freqs)]`` the part of ``raw`` shaped like the pizza's
            ``|cos(w (a - b) / 2)|``: the least-squares slope of the orbit-mean amplitude on the
            orbit-mean pizza magnitude, times that magnitude's standard deviation, over the mean
            amplitude (signed; ~0.48 for a pizza, ~0 for a clock whose amplitude only wobbles).
        pizza_value: ``pizza_shaped`` averaged with weights ``weight``.
    """

    freqs: list[int]
    raw: Tensor
    relative: Tensor
    weight: Tensor
    value: float
    pizza_shaped: Optional[Tensor] = None
    pizza_value: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"value": self.value, "pizza_value": self.pizza_value,
                "max_relative": float(self.relative.max()) if len(self.freqs) else 0.0}

    def __repr__(self) -> str:
        per = ", ".join(f"{f}: {float(r):.2f}" for f, r in zip(self.freqs, self.raw))
        return f"AmplitudeModulation({self.value:.3f}; per frequency {{{per}}})"


def amplitude_modulation(x: LogitsOrModel, task: ModularArithmetic, freqs: Sequence[int]) -> AmplitudeModulation:
    """Per-frequency modulation of the logit amplitude by the operands' differences (0 clock, ~0.48 pizza).

    Read from logits centred over answers, so a softmax-invariant shift cannot move it.

    Args:
        x: A hooked model, or its ``[p**k, p]`` logits on ``task.inputs``.
        task: The task.
        freqs: Frequencies to measure (usually the key frequencies).

    Example:
        >>> import fourier_interp as fi
        >>> from fourier_interp.analysis import amplitude_modulation
        >>> task = fi.ModularArithmetic(p=23)
        >>> clock = amplitude_modulation(fi.planted_mlp(p=23, freqs=[3, 7]), task, [3, 7])
        >>> pizza = amplitude_modulation(fi.planted_pizza(p=23, freqs=[3, 7]), task, [3, 7])
        >>> round(clock.value, 6), pizza.value > 0.3
        (0.0, True)
    """
    return _amplitude_modulation(_as_grid_logits(x, task), task, _check_freqs(freqs, task.p))


def _amplitude_modulation(logits: Tensor, task: ModularArithmetic, freqs: list[int]) -> AmplitudeModulation:
    """:func:`amplitude_modulation` of checked logits and frequencies."""
    empty = torch.zeros(0, dtype=torch.float64)
    if not freqs:
        return AmplitudeModulation(freqs=[], raw=empty, relative=empty, weight=empty, value=0.0, pizza_shaped=empty)
    L = logits - logits.mean(1, keepdim=True)
    c = torch.arange(task.p, dtype=torch.float64)
    w = 2 * math.pi * torch.tensor(freqs, dtype=torch.float64) / task.p
    amp = torch.sqrt((L @ torch.cos(c[:, None] * w)) ** 2 + (L @ torch.sin(c[:, None] * w)) ** 2)  # [n, F]
    rel = amp / amp.pow(2).sum(1, keepdim=True).sqrt().clamp_min(1e-300)
    orbit = shift_orbits(task)
    n_orbits = int(orbit.max()) + 1
    counts = torch.bincount(orbit, minlength=n_orbits).double().clamp_min(1)[:, None]

    def modulation(a: Tensor) -> Tensor:
        means = torch.zeros(n_orbits, a.shape[1], dtype=torch.float64).index_add_(0, orbit, a) / counts
        return means.std(0, unbiased=False) / a.mean(0).clamp_min(1e-300)

    raw, relative, weight = modulation(amp), modulation(rel), amp.mean(0)
    # the pizza-shaped part: regress each frequency's orbit-mean amplitude on its pizza magnitude
    mag = torch.stack([pizza_magnitude(task, f) for f in freqs], 1)  # [n, F]
    amp_o = torch.zeros(n_orbits, len(freqs), dtype=torch.float64).index_add_(0, orbit, amp) / counts
    mag_o = torch.zeros(n_orbits, len(freqs), dtype=torch.float64).index_add_(0, orbit, mag) / counts
    x, y = mag_o - mag_o.mean(0), amp_o - amp_o.mean(0)
    slope = (x * y).sum(0) / x.pow(2).sum(0).clamp_min(1e-300)
    shaped = slope * mag_o.std(0, unbiased=False) / amp.mean(0).clamp_min(1e-300)
    scale = float(weight.max())
    live = weight > 1e-9 * max(scale, 1e-300)
    zero = torch.zeros_like(raw)
    raw, relative, shaped = (torch.where(live, v, zero) for v in (raw, relative, shaped))
    value = float((raw * weight).sum() / weight.sum()) if scale > 0 else 0.0
    pizza_value = float((shaped * weight).sum() / weight.sum()) if scale > 0 else 0.0
    return AmplitudeModulation(freqs=freqs, raw=raw, relative=relative, weight=weight, value=value,
                               pizza_shaped=shaped, pizza_value=pizza_value)


# ----------------------------------------------------------------- circularity
@dataclass(repr=False)
class Circularity(Result):
    """Zhong et al.'s circularity of an embedding: how closely its top principal components are circles.

    Attributes:
        value: Mean over the first ``n_components`` principal components of the share of the
            component's energy (over the token axis) held by its strongest frequency: 1 when
            each component is a pure ``cos(w a + phi)``.
        per_component: ``[n_components]`` that share per component.
        frequencies: ``[n_components]`` each component's strongest frequency.
    """

    value: float
    per_component: Tensor
    frequencies: list[int]

    def __repr__(self) -> str:
        return f"Circularity({self.value:.3f}; components on frequencies {self.frequencies})"


def circularity(embed: Tensor, p: Optional[int] = None, n_components: int = 4) -> Circularity:
    """Zhong et al.'s circularity of a token embedding ``[p, d]`` (their third clock/pizza measure).

    The embedding is centred over tokens and its principal components (over the token axis)
    taken by SVD; each component is a function of the token ``a``, and its circularity is
    the share of its energy in the one frequency that holds most (cos and sin together).
    Both the clock and the pizza embed the operands on circles, so it measures that the
    embedding is Fourier-shaped, not which algorithm reads it.

    Args:
        embed: ``[p, d]`` the embedding of the p operand tokens (extra rows beyond ``p``,
            such as '=', are dropped when ``p`` is given).
        p: The modulus (default ``embed.shape[0]``).
        n_components: Principal components averaged (Zhong et al. use 4).

    Example:
        >>> import math, torch
        >>> from fourier_interp.analysis import circularity
        >>> a = torch.arange(13, dtype=torch.float64)[:, None]
        >>> embed = torch.cat([torch.cos(2 * math.pi * 3 * a / 13), torch.sin(2 * math.pi * 3 * a / 13),
        ...                    0.5 * torch.cos(2 * math.pi * 5 * a / 13), 0.5 * torch.sin(2 * math.pi * 5 * a / 13)], 1)
        >>> res = circularity(embed)
        >>> round(res.value, 6), sorted(set(res.frequencies))
        (1.0, [3, 5])
    """
    if not isinstance(embed, Tensor) or embed.ndim != 2:
        raise InvalidArgumentTypeError(f"embed must be a 2-D torch.Tensor [p, d], got {type(embed).__name__}"
                        + (f" of shape {tuple(embed.shape)}" if isinstance(embed, Tensor) else ""))
    p = embed.shape[0] if p is None else int(p)
    if embed.shape[0] < p:
        raise InvalidArgumentError(f"embed has {embed.shape[0]} rows; expected at least p={p}")
    if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
        raise InvalidArgumentError(f"n_components={n_components!r}: expected a positive int")
    from ..fourier import frequency_energy

    e = embed[:p].detach().double().cpu()
    e = e - e.mean(0, keepdim=True)
    u, s, _ = torch.linalg.svd(e, full_matrices=False)
    n = min(n_components, int((s > 1e-9 * s.max().clamp_min(1e-300)).sum()))
    if n == 0:
        return Circularity(value=0.0, per_component=torch.zeros(0, dtype=torch.float64), frequencies=[])
    comps = u[:, :n]  # [p, n] principal components as functions of the token
    energy = torch.stack([frequency_energy(comps[:, i], dim=0) for i in range(n)], 1)  # [p//2 + 1, n] (0 = const)
    share = energy[1:] / energy.sum(0).clamp_min(1e-300)
    best, freq = share.max(0)
    return Circularity(value=float(best.mean()), per_component=best, frequencies=(freq + 1).tolist())
