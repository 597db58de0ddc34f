"""Modular-arithmetic datasets: every operand tuple of ``a_1 + ... + a_k mod p``.

The whole dataset is the full input grid, so analyses can reshape any activation
computed on ``task.inputs`` from ``[p**k, ...]`` to ``[p, ..., p, ...]`` and take
Fourier transforms over the operand axes.

Example:
    >>> import fourier_interp as fi
    >>> task = fi.ModularArithmetic(p=5, k=2, frac_train=0.6, seed=0)
    >>> task.inputs[:3].tolist(), task.labels[:3].tolist()
    ([[0, 0], [0, 1], [0, 2]], [0, 1, 2])
    >>> len(task.train_idx) + len(task.test_idx) == 25
    True
"""

from __future__ import annotations

import math
from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor

from .errors import InvalidArgumentError

OPS = ("add", "sub")
MIN_P = 3  # Z_2 has no frequency 1..(p-1)//2, so there is no Fourier Multiplication to find
MAX_GRID_ROWS = 50_000_000


class ModularArithmetic:
    """All ``p**k`` operand tuples with their answers and a seeded train/test split.

    Args:
        p: The modulus (``>= 3``). Odd p is recommended: the real Fourier basis of
            Z_p then has no Nyquist row and every frequency owns a (cos, sin) pair.
            ``p = 2`` is refused: its only non-constant basis row is the Nyquist row
            ``(-1)^a``, so there is no frequency ``1..(p-1)//2`` to analyse.
        k: Number of operands (``>= 1``).
        op: ``"add"`` (``a_1 + ... + a_k mod p``, any k) or ``"sub"`` (``a - b mod p``, k = 2).
        frac_train: Fraction of the grid in the training split, in ``(0, 1]``. The
            split holds ``max(1, floor(frac_train * p**k))`` rows (nanda2023: 3,830 of 12,769).
        seed: Seed of the split; the same seed always gives the same split.

    Attributes:
        inputs: ``[p**k, k]`` LongTensor, lexicographic (first operand slowest).
        labels: ``[p**k]`` LongTensor of answers in ``0..p-1``.
        train_idx, test_idx: disjoint sorted LongTensors of row indices covering the grid.
        signs: per-operand signs, so ``labels == (inputs * signs).sum(-1) % p``.
    """

    def __init__(self, p: int, k: int = 2, op: str = "add", frac_train: float = 0.3, seed: int = 0):
        _check_int("p", p, minimum=MIN_P)
        _check_int("k", k, minimum=1)
        if op not in OPS:
            raise InvalidArgumentError(f"op={op!r} is not supported; expected one of {OPS}")
        if op == "sub" and k != 2:
            raise InvalidArgumentError(f"op='sub' needs k=2 operands (a - b mod p), got k={k}")
        if isinstance(frac_train, bool) or not isinstance(frac_train, (int, float)):
            raise TypeError(f"frac_train must be a float in (0, 1], got {type(frac_train).__name__}")
        if not (0.0 < float(frac_train) <= 1.0) or math.isnan(frac_train):
            raise InvalidArgumentError(f"frac_train={frac_train!r} is outside (0, 1]")
        _check_int("seed", seed, minimum=0)
        if p**k > MAX_GRID_ROWS:
            raise InvalidArgumentError(f"p**k = {p**k} rows is too large a grid (p={p}, k={k}); keep it under 5e7")

        self.p, self.k, self.op = int(p), int(k), op
        self.frac_train, self.seed = float(frac_train), int(seed)
        self.signs = torch.tensor([1, -1] if op == "sub" else [1] * k, dtype=torch.long)

        axes = [torch.arange(p)] * k
        self.inputs: Int[Tensor, "n k"] = torch.cartesian_prod(*axes).reshape(-1, k)
        self.labels: Int[Tensor, " n"] = (self.inputs * self.signs).sum(-1).remainder(p)

        n = p**k
        n_train = max(1, int(self.frac_train * n))
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
        self.train_idx: Int[Tensor, " n_train"] = perm[:n_train].sort().values
        self.test_idx: Int[Tensor, " n_test"] = perm[n_train:].sort().values

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        """Number of rows in the full grid, ``p**k``."""
        return self.p**self.k

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """``(p,) * k``: the operand axes of the full grid."""
        return (self.p,) * self.k

    def to_grid(self, x: Tensor) -> Tensor:
        """Reshape a tensor computed on ``task.inputs`` from ``[p**k, ...]`` to ``[p, ..., p, ...]``."""
        if x.shape[0] != self.n:
            raise InvalidArgumentError(
                f"x has {x.shape[0]} rows along dim 0; expected p**k = {self.n} "
                "(activations computed on task.inputs, in order)"
            )
        return x.reshape(*self.grid_shape, *x.shape[1:])

    def split(self, name: str) -> Tensor:
        """Row indices of ``"train"``, ``"test"`` or ``"all"``."""
        if name == "train":
            return self.train_idx
        if name == "test":
            return self.test_idx
        if name == "all":
            return torch.arange(self.n)
        raise InvalidArgumentError(f"split={name!r} is not one of 'train', 'test', 'all'")

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {"p": self.p, "k": self.k, "op": self.op, "frac_train": self.frac_train, "seed": self.seed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModularArithmetic:
        return cls(**{key: d[key] for key in ("p", "k", "op", "frac_train", "seed")})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModularArithmetic) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.to_dict().items()))

    def __repr__(self) -> str:
        symbol = " - " if self.op == "sub" else " + "
        expr = symbol.join(f"a{j + 1}" for j in range(self.k))
        return (
            f"ModularArithmetic({expr} mod {self.p}: {self.n} rows, "
            f"{len(self.train_idx)} train / {len(self.test_idx)} test, seed={self.seed})"
        )


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        why = " (Z_2 has no Fourier frequency: frequencies are 1..(p-1)//2)" if name == "p" and value == 2 else ""
        raise InvalidArgumentError(f"{name}={value} is not allowed; expected an int >= {minimum}{why}")
