"""Linear probes: is a quantity linearly readable from a layer's activations?

Both probes take plain tensors (activations ``[n, d]``, targets or operands), so they work
on any model's activations; ``from_hook`` is a shortcut that runs one of ours on the grid.
Both share one interface:

* ``fit(x, y)`` fits on every row given and returns the probe;
* ``score(x, y)`` scores the fitted probe on the rows given (your own held-out rows);
* ``evaluate(x, y)`` does both on a seeded random split, scoring the held-out rows.

For a :class:`FourierProbe`, ``y`` is each row's operands ``[n, k]`` and scores are a
:class:`ProbeTable` (R^2 per frequency and target); for a :class:`LinearProbe` ``y`` is
the target and ``score`` is a float (``evaluate`` gives a :class:`ProbeResult`).

* :class:`LinearProbe` — ridge least squares for real targets, scored by R^2; multinomial
  logistic regression for class targets (integer tensors), scored by accuracy. Scores come
  from rows held out of the fit.
* :class:`FourierProbe` — every frequency's ``cos/sin(w a_j)`` and ``cos/sin(w (s.a))`` at
  once; a (frequency, target) pair is *readable* when both cos and sin reach held-out
  ``R^2 >= threshold`` (0.9).

Example:
    >>> import torch
    >>> from fourier_interp.analysis import LinearProbe
    >>> x = torch.randn(400, 8, generator=torch.Generator().manual_seed(0))
    >>> LinearProbe().evaluate(x, x @ torch.arange(8.0)).test_score > 0.99
    True
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from ..fourier import n_frequencies
from ..tasks import ModularArithmetic
from .grid import check_model, check_task, grid_activations
from .results import ProbeResult, ProbeTable

RIDGE = 1e-4  # relative: lambda = ridge * trace(X^T X) / d
READABLE_R2 = 0.9


def random_split(n: int, test_frac: float, seed: int) -> tuple[Tensor, Tensor]:
    """Disjoint ``(train_rows, test_rows)`` of ``range(n)``, both non-empty."""
    if not 0 < test_frac < 1:
        raise InvalidArgumentError(f"test_frac={test_frac!r}: expected a fraction in (0, 1)")
    if n < 2:
        raise InvalidArgumentError(f"need at least 2 rows to hold some out, got {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = min(n - 1, max(1, round(test_frac * n)))
    return perm[n_test:], perm[:n_test]


def r2_score(pred: Tensor, y: Tensor) -> Tensor:
    """Per-column ``1 - SS_res / SS_tot`` (a constant column scores 1 if matched exactly, else 0)."""
    ss_res = (y - pred).pow(2).sum(0)
    ss_tot = (y - y.mean(0)).pow(2).sum(0)
    exact = torch.where(ss_res <= 1e-12 * (1 + y.pow(2).sum(0)), 1.0, 0.0).to(y.dtype)
    return torch.where(ss_tot > 0, 1 - ss_res / ss_tot.clamp_min(1e-300), exact)


class LinearProbe:
    """A linear readout from activations ``[n, d]`` to a target, fitted in closed form or by L-BFGS.

    Args:
        kind: ``"regression"``, ``"classification"``, or ``"auto"`` (integer targets are classes).
        ridge: L2 penalty. Regression: relative, ``lambda = ridge * trace(X^T X) / d`` on
            centred features (0 = plain least squares, minimum-norm). Classification: on
            the weights over standardised features.
        max_iter: L-BFGS iterations for classification.

    Attributes (after ``fit``): ``weight [d, t]``, ``bias [t]``, ``kind``; after
    ``evaluate``/``from_hook``: ``result`` (:class:`ProbeResult`).

    Example:
        >>> import torch
        >>> x = torch.randn(300, 4, generator=torch.Generator().manual_seed(1))
        >>> y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
        >>> probe = LinearProbe(ridge=0).fit(x[:200], y[:200])
        >>> round(probe.score(x[200:], y[200:]), 6)
        1.0
    """

    def __init__(self, kind: str = "auto", ridge: float = RIDGE, max_iter: int = 200):
        if kind not in ("auto", "regression", "classification"):
            raise InvalidArgumentError(f"kind={kind!r}: expected 'auto', 'regression' or 'classification'")
        if not (isinstance(ridge, (int, float)) and ridge >= 0):
            raise InvalidArgumentError(f"ridge={ridge!r}: expected a number >= 0")
        self.kind, self.ridge, self.max_iter = kind, float(ridge), int(max_iter)
        self.weight: Optional[Tensor] = None
        self.bias: Optional[Tensor] = None
        self.result: Optional[ProbeResult] = None

    # ---------------------------------------------------------------- fitting
    def fit(self, x: Tensor, y: Tensor) -> LinearProbe:
        """Fit on activations ``x [n, d]`` and targets ``y`` (``[n]`` or ``[n, t]`` reals, or ``[n]`` class ids)."""
        x, y = _check_xy(x, y)
        kind = self._kind(y)
        if kind == "regression":
            self._fit_regression(x, y.double().reshape(len(y), -1))
        else:
            self._fit_classes(x, y.long())
        self._fitted_kind, self._squeeze = kind, y.ndim == 1
        return self

    def _kind(self, y: Tensor) -> str:
        if self.kind != "auto":
            return self.kind
        return "regression" if y.is_floating_point() else "classification"

    def _fit_regression(self, x: Tensor, y: Tensor) -> None:
        x_mean, y_mean = x.mean(0), y.mean(0)
        xc, yc = x - x_mean, y - y_mean
        if self.ridge > 0:
            gram = xc.T @ xc
            lam = self.ridge * float(gram.trace()) / x.shape[1]
            eye = torch.eye(x.shape[1], dtype=x.dtype)
            weight = torch.linalg.solve(gram + max(lam, 1e-12) * eye, xc.T @ yc)
        else:
            weight = torch.linalg.lstsq(xc, yc, driver="gelsd").solution
        self.weight, self.bias = weight, y_mean - x_mean @ weight

    def _fit_classes(self, x: Tensor, y: Tensor) -> None:
        if y.ndim != 1:
            raise InvalidArgumentError(f"class targets must be [n] integer ids, got shape {tuple(y.shape)}")
        if int(y.min()) < 0:
            raise InvalidArgumentError(f"class targets must be ids >= 0, got {int(y.min())}")
        n_classes = int(y.max()) + 1
        mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
        z = (x - mean) / std
        w = torch.zeros(x.shape[1], n_classes, dtype=x.dtype, requires_grad=True)
        b = torch.zeros(n_classes, dtype=x.dtype, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=self.max_iter, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(z @ w + b, y) + self.ridge * w.pow(2).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        self.weight = (w.detach() / std[:, None])
        self.bias = b.detach() - mean @ self.weight

    # --------------------------------------------------------------- scoring
    def predict(self, x: Tensor) -> Tensor:
        """Predicted targets (regression) or class ids (classification) for ``x [n, d]``."""
        if self.weight is None:
            raise RuntimeError("LinearProbe.predict called before fit")
        _check_tensor("x", x)
        out = x.double() @ self.weight + self.bias
        if self._fitted_kind == "classification":
            return out.argmax(-1)
        return out.squeeze(1) if self._squeeze else out

    def score_all(self, x: Tensor, y: Tensor) -> Tensor:
        """Per-target R^2 ``[t]`` (regression) or the accuracy as a 1-element tensor (classification)."""
        x, y = _check_xy(x, y)
        pred = self.predict(x)
        if self._fitted_kind == "classification":
            return (pred == y.long()).double().mean().reshape(1)
        return r2_score(pred.reshape(len(y), -1), y.double().reshape(len(y), -1))

    def score(self, x: Tensor, y: Tensor) -> float:
        """Mean R^2 over targets (regression) or accuracy (classification) of the fitted probe on ``(x, y)``."""
        return float(self.score_all(x, y).mean())

    def evaluate(self, x: Tensor, y: Tensor, test_frac: float = 0.3, seed: int = 0) -> ProbeResult:
        """Fit on a random ``1 - test_frac`` of the rows and score the held-out rest (also in ``.result``)."""
        x, y = _check_xy(x, y)
        train, test = random_split(len(x), test_frac, seed)
        self.fit(x[train], y[train])
        per_target = self.score_all(x[test], y[test])
        classes = self._fitted_kind == "classification"
        self.result = ProbeResult(
            metric="accuracy" if classes else "r2",
            train_score=self.score(x[train], y[train]),
            test_score=float(per_target.mean()),
            n_train=len(train),
            n_test=len(test),
            per_target=None if classes else [float(v) for v in per_target],
        )
        return self.result

    @classmethod
    def from_hook(
        cls,
        model: nn.Module,
        task: ModularArithmetic,
        hook: Optional[str],
        target: Union[str, Tensor],
        *,
        pos: Optional[int] = -1,
        test_frac: float = 0.3,
        seed: int = 0,
        **kwargs,
    ) -> LinearProbe:
        """Probe ``hook``'s activations over the full grid for ``target``; the score is in ``.result``.

        Args:
            target: A tensor over ``task.inputs`` rows, or a name: ``"answer"`` and
                ``"a1"``..``"ak"`` (classes), ``"cos 3 sum"``, ``"sin 5 a2"`` (reals).
            kwargs: ``kind``, ``ridge``, ``max_iter`` of the probe.

        Example:
            >>> import fourier_interp as fi
            >>> model, task = fi.planted_mlp(p=11, freqs=[2]), fi.ModularArithmetic(p=11)
            >>> fi.LinearProbe.from_hook(model, task, "hook_post", "cos 2 sum").result.test_score > 0.99
            True
        """
        check_model(model, check_task(task))
        x = grid_activations(model, task, hook, pos=pos)
        probe = cls(**kwargs)
        probe.evaluate(x, named_target(target, task), test_frac=test_frac, seed=seed)
        return probe

    def __repr__(self) -> str:
        state = "unfitted" if self.result is None else repr(self.result)
        return f"LinearProbe(kind={self.kind!r}, ridge={self.ridge}, {state})"


def named_target(target: Union[str, Tensor], task: ModularArithmetic) -> Tensor:
    """A target over ``task.inputs``: a tensor as given, or one named as in :meth:`LinearProbe.from_hook`."""
    if _is_array(target):
        _check_tensor("target", target)
    if isinstance(target, Tensor):
        if target.shape[0] != task.n:
            raise InvalidArgumentError(f"target has {target.shape[0]} rows; expected one per row of task.inputs ({task.n})")
        return target
    if not isinstance(target, str):
        raise InvalidArgumentTypeError(f"target must be a tensor or a name, got {type(target).__name__}")
    if target == "answer":
        return task.labels
    operand = re.fullmatch(r"a(\d+)", target)
    if operand and 1 <= int(operand.group(1)) <= task.k:
        return task.inputs[:, int(operand.group(1)) - 1]
    wave = re.fullmatch(r"(cos|sin) (\d+) (sum|a\d+)", target)
    if wave:
        fn, f, what = wave.groups()
        targets = fourier_targets(task.inputs, task.p, [int(f)], task.signs)
        if what in targets.get(int(f), {}):
            return targets[int(f)][what][0 if fn == "cos" else 1]
    raise InvalidArgumentError(
        f"target={target!r} is not recognised; expected a tensor, 'answer', 'a1'..'a{task.k}', "
        f"or '<cos|sin> <f> <sum|a1..a{task.k}>' with f in 1..{n_frequencies(task.p)}"
    )


def fourier_targets(
    inputs: Tensor, p: int, freqs: Sequence[int], signs: Optional[Sequence[int]] = None
) -> dict[int, dict[str, tuple[Tensor, Tensor]]]:
    """``{f: {"a1": (cos, sin), ..., "sum": (cos, sin)}}`` of ``w a_j`` and ``w (s.a)`` per row of ``inputs [n, k]``."""
    inputs = inputs.long()
    k = inputs.shape[1]
    s = torch.ones(k, dtype=torch.long) if signs is None else torch.as_tensor(signs, dtype=torch.long)
    values = {f"a{j + 1}": inputs[:, j] for j in range(k)}
    values["sum"] = (inputs * s).sum(1).remainder(p)
    out = {}
    for f in freqs:
        out[f] = {}
        for name, v in values.items():
            angle = 2 * math.pi * f * v.double() / p
            out[f][name] = (torch.cos(angle), torch.sin(angle))
    return out


class FourierProbe:
    """Which frequencies' ``cos/sin(w a_j)`` and ``cos/sin(w (s.a))`` are linearly readable.

    Args:
        p: The modulus.
        ridge: Relative ridge penalty of the underlying :class:`LinearProbe`.
        threshold: Held-out R^2 that both cos and sin must reach to be readable (0.9).
        test_frac: Share of the rows held out of the fit.
        seed: Seeds the held-out split.

    Example:
        >>> import fourier_interp as fi
        >>> from fourier_interp.analysis import FourierProbe
        >>> model, task = fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11)
        >>> acts = model.U[0].detach()[task.inputs[:, 0]]        # the first operand's input weights
        >>> FourierProbe(11).evaluate(acts, task.inputs).readable("a1")
        [2, 5]
        >>> train, test = task.train_idx, task.test_idx          # or fit and score on your own split
        >>> probe = FourierProbe(11).fit(acts[train], task.inputs[train])
        >>> probe.score(acts[test], task.inputs[test]).readable("a1")
        [2, 5]
    """

    def __init__(self, p: int, ridge: float = RIDGE, threshold: float = READABLE_R2, test_frac: float = 0.3, seed: int = 0):
        if isinstance(p, bool) or not isinstance(p, int) or p < 3:
            raise InvalidArgumentError(f"p={p!r}: expected an int >= 3 (a modulus with at least one frequency)")
        if not 0 < threshold <= 1:
            raise InvalidArgumentError(f"threshold={threshold!r}: expected a fraction in (0, 1]")
        if not (isinstance(test_frac, (int, float)) and 0 < test_frac < 1):
            raise InvalidArgumentError(f"test_frac={test_frac!r}: expected a fraction in (0, 1)")
        self.p, self.ridge, self.threshold = p, ridge, float(threshold)
        self.test_frac, self.seed = test_frac, seed
        self.table: Optional[ProbeTable] = None  # the held-out table of the last evaluate / from_hook
        self._readout: Optional[LinearProbe] = None

    # ---------------------------------------------------------------- interface
    def fit(self, acts: Tensor, inputs: Tensor, signs: Optional[Sequence[int]] = None) -> FourierProbe:
        """Fit the readout of every target from ``acts [n, d]`` on all rows; return the probe.

        Args:
            acts: Activations, one row per example.
            inputs: Each row's operands, an integer ``[n, k]`` tensor with values in ``0..p-1``.
            signs: Per-operand signs of the sum target (default all ``+1``; ``task.signs``).
        """
        self._fit(acts, inputs, signs)
        return self

    def score(self, acts: Tensor, inputs: Tensor, signs: Optional[Sequence[int]] = None) -> ProbeTable:
        """R^2 of the fitted readout on the rows given (rows held out of the fit): one row per (frequency, target)."""
        if self._readout is None:
            raise RuntimeError("FourierProbe.score called before fit")
        names, columns = self._targets(acts, inputs, signs)
        r2 = self._readout.score_all(acts, columns)
        return self._table(names, [float(v) for v in r2])

    def evaluate(self, acts: Tensor, inputs: Tensor, signs: Optional[Sequence[int]] = None) -> ProbeTable:
        """Fit on a random ``1 - test_frac`` of the rows (seeded by ``seed``) and score the rest.

        Returns the held-out :class:`ProbeTable`, also kept in ``.table``.
        """
        _check_tensor("acts", acts)
        train, test = random_split(len(acts), self.test_frac, self.seed)
        self._fit(acts[train], _check_inputs(inputs, self.p)[train], signs)
        self.table = self.score(acts[test], inputs[test], signs)
        return self.table

    @classmethod
    def from_hook(
        cls, model: nn.Module, task: ModularArithmetic, hook: Optional[str] = None, pos: Optional[int] = -1, **kwargs
    ) -> ProbeTable:
        """Run ``model`` over the grid and probe ``hook`` (``None``: the spec's neurons); the held-out table."""
        x = grid_activations(model, task, hook, pos=pos)
        return cls(task.p, **kwargs).evaluate(x, task.inputs, task.signs)

    # ---------------------------------------------------------------- internals
    def _targets(self, acts: Tensor, inputs: Tensor, signs: Optional[Sequence[int]]) -> tuple[list, Tensor]:
        """``[(freq, target)]`` and their ``[n, 2 * len]`` cos/sin columns for ``inputs``."""
        _check_tensor("acts", acts)
        inputs = _check_inputs(inputs, self.p)
        if len(inputs) != len(acts):
            raise InvalidArgumentError(f"acts has {len(acts)} rows but inputs has {len(inputs)}")
        targets = fourier_targets(inputs, self.p, list(range(1, n_frequencies(self.p) + 1)), signs)
        names, columns = [], []
        for f, by_name in targets.items():
            for name, (cos, sin) in by_name.items():
                names.append((f, name))
                columns += [cos, sin]
        return names, torch.stack(columns, 1)

    def _fit(self, acts: Tensor, inputs: Tensor, signs: Optional[Sequence[int]]) -> None:
        _, columns = self._targets(acts, inputs, signs)
        self._readout = LinearProbe(kind="regression", ridge=self.ridge).fit(acts, columns)

    def _table(self, names: list, r2: list[float]) -> ProbeTable:
        rows = []
        for i, (f, name) in enumerate(names):
            cos_r2, sin_r2 = r2[2 * i], r2[2 * i + 1]
            rows.append(
                {"freq": f, "target": name, "cos_r2": cos_r2, "sin_r2": sin_r2,
                 "readable": min(cos_r2, sin_r2) >= self.threshold}
            )
        return ProbeTable(rows=rows, threshold=self.threshold)

    def __repr__(self) -> str:
        return f"FourierProbe(p={self.p}, ridge={self.ridge}, threshold={self.threshold}, table={self.table!r})"


def _is_array(value: Any) -> bool:
    """A numpy (or other non-torch) array: it has a shape and dtype but is not a tensor."""
    return not isinstance(value, Tensor) and hasattr(value, "shape") and hasattr(value, "dtype")


def _check_tensor(name: str, value: Any) -> Tensor:
    """``value`` must be a ``torch.Tensor``; a numpy array gets told how to convert it."""
    if isinstance(value, Tensor):
        return value
    kind = f"{type(value).__module__}.{type(value).__name__}" if _is_array(value) else type(value).__name__
    raise InvalidArgumentTypeError(f"{name} must be a torch.Tensor, got {kind}; convert it first with torch.as_tensor({name})")


def _check_inputs(inputs: Any, p: int) -> Tensor:
    """Operands: an integer ``[n, k]`` tensor with values in ``0..p-1``."""
    _check_tensor("inputs", inputs)
    if inputs.ndim != 2 or inputs.is_floating_point() or inputs.is_complex() or inputs.dtype == torch.bool:
        raise InvalidArgumentError(f"inputs must be an integer [n, k] tensor of operands, got {inputs.dtype} {tuple(inputs.shape)}")
    if inputs.numel() and (int(inputs.min()) < 0 or int(inputs.max()) >= p):
        raise InvalidArgumentError(f"inputs holds operands outside 0..{p - 1}")
    return inputs


def _check_xy(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    _check_tensor("x", x)
    _check_tensor("y", y)
    if x.ndim != 2:
        raise InvalidArgumentError(f"x must be a 2-D [n, d] tensor of activations, got shape {tuple(x.shape)}")
    if y.ndim not in (1, 2):
        raise InvalidArgumentError(f"y must be a [n] or [n, t] tensor, got shape {tuple(y.shape)}")
    if y.shape[0] != x.shape[0]:
        raise InvalidArgumentError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    return x.detach().double(), y.detach()
