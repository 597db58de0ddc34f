"""Tasks: every operand tuple of a group composition, with its answers and a seeded split.

A task owns its answers: :meth:`GroupTask.answers` is the one function in the package that
computes a label, and models, losses, analyses and verification ask the task (or, for a
model's own loss, the rule its config records: :meth:`GroupTask.config_fields`).

* :class:`GroupTask` — ``g_1 g_2 ... g_k`` in any finite group of :mod:`fourier_interp.groups`
  (Chughtai et al.'s two-element composition; Marchetti et al.'s sequences for k > 2).
* :class:`ModularArithmetic` — the cyclic case: ``a_1 + ... + a_k mod p`` (``op="add"``),
  ``a - b mod p`` (``"sub"``), and ``a_1 * ... * a_k mod p`` on the nonzero residues
  (``"mul"``, the group Z_p^*).

Tokens are element indices ``0..order-1`` (``task.p`` of them, the order of the group). The
whole dataset is the full input grid, so analyses can reshape any activation computed on
``task.inputs`` from ``[p**k, ...]`` to ``[p, ..., p, ...]`` and transform the operand axes.

Example:
    >>> import fourier_interp as fi
    >>> task = fi.ModularArithmetic(p=5, k=2, frac_train=0.6, seed=0)
    >>> task.inputs[:3].tolist(), task.labels[:3].tolist()
    ([[0, 0], [0, 1], [0, 2]], [0, 1, 2])
    >>> len(task.train_idx) + len(task.test_idx) == 25
    True
    >>> s3 = fi.GroupTask(fi.groups.symmetric(3), k=2)
    >>> s3.n, s3.p, s3.labels[7].item() == s3.group.compose(1, 1).item()
    (36, 6, True)
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import torch
from jaxtyping import Int
from torch import Tensor

from . import groups as _groups
from .errors import InvalidArgumentError, InvalidArgumentTypeError

OPS = ("add", "sub", "mul")
MIN_P = 3  # Z_2 has no frequency 1..(p-1)//2, so there is no Fourier Multiplication to find
MAX_GRID_ROWS = 50_000_000


def answers(inputs: Tensor, group: _groups.Group, k: int, signs: Optional[Sequence[int]] = None) -> Int[Tensor, " batch"]:
    """The answer ``g_1^{s_1} ... g_k^{s_k}`` of each row of ``inputs`` (``[batch, >= k]``; extra positions ignored).

    The one place an answer is computed (:meth:`GroupTask.answers`, a model's default loss).
    ``signs`` (default all +1) inverts the operands marked -1 (``a - b`` is ``(1, -1)``).
    """
    tokens = torch.as_tensor(inputs).long()
    tokens = tokens.unsqueeze(0) if tokens.ndim == 1 else tokens
    elements = tokens[:, :k]
    if signs is not None:
        flip = torch.as_tensor(list(signs), device=elements.device) < 0
        elements = torch.where(flip, group.inverse(elements), elements)
    return group.compose_all(elements)


def rule_group(group_spec: str, op: str, p: int) -> _groups.Group:
    """The group a model config's ``group``/``op`` name (``""``: Z_p, or Z_{p+1}^* for ``op="mul"``)."""
    if group_spec:
        return _groups.from_spec(group_spec)
    return _groups.multiplicative(p + 1) if op == "mul" else _groups.cyclic(p)


def rule_signs(op: str, k: int) -> list[int]:
    """Operand signs of an op: ``(1, -1)`` for ``"sub"``, all +1 otherwise."""
    return [1, -1] if op == "sub" else [1] * k


class GroupTask:
    """All ``order**k`` tuples of group elements with their product and a seeded train/test split.

    Args:
        group: A :class:`fourier_interp.groups.Group` (``fi.groups.symmetric(4)`` ...).
        k: Number of operands (``>= 1``); the answer is ``g_1 g_2 ... g_k``.
        frac_train: Fraction of the grid in the training split, in ``(0, 1]``. The split
            holds ``max(1, floor(frac_train * order**k))`` rows.
        seed: Seed of the split; the same seed always gives the same split.

    Attributes:
        group: The group.
        p: The number of element tokens (and of answers): ``group.order``.
        inputs: ``[p**k, k]`` LongTensor of element indices, lexicographic (first operand slowest).
        labels: ``[p**k]`` LongTensor of answers (element indices).
        train_idx, test_idx: disjoint sorted LongTensors of row indices covering the grid.
        signs: per-operand signs: ``labels`` is the product of ``g_j`` (``+1``) or ``g_j^-1`` (``-1``).
        op: ``"compose"`` (:class:`ModularArithmetic` says ``"add"``, ``"sub"`` or ``"mul"``).

    Example:
        >>> import fourier_interp as fi
        >>> task = fi.GroupTask(fi.groups.dihedral(5), k=2, frac_train=0.5, seed=1)
        >>> task, task.answers(torch.tensor([[1, 5]])).item()   # r s
        (GroupTask(g1 g2 in D5: 100 rows, 50 train / 50 test, seed=1), 6)
    """

    op = "compose"

    def __init__(self, group: _groups.Group, k: int = 2, frac_train: float = 0.3, seed: int = 0):
        if not isinstance(group, _groups.Group):
            raise InvalidArgumentTypeError(f"group must be a fi.groups.Group (e.g. fi.groups.symmetric(4)), got {type(group).__name__}")
        _check_int("k", k, minimum=1)
        if k * math.log(max(group.order, 2)) > math.log(MAX_GRID_ROWS):  # before [1] * k is built
            raise InvalidArgumentError(f"order**k = {group.order}**{k} rows is too large a grid ({group.name}, k={k}); "
                                       "keep it under 5e7")
        self._build(group, k, [1] * k, frac_train, seed)

    def _build(self, group: _groups.Group, k: int, signs: list[int], frac_train: float, seed: int) -> None:
        _check_int("k", k, minimum=1)
        if isinstance(frac_train, bool) or not isinstance(frac_train, (int, float)):
            raise InvalidArgumentTypeError(f"frac_train must be a float in (0, 1], got {type(frac_train).__name__}")
        if math.isnan(frac_train) or not (0.0 < float(frac_train) <= 1.0):
            raise InvalidArgumentError(f"frac_train={frac_train!r} is outside (0, 1]")
        _check_int("seed", seed, minimum=0)
        order = group.order
        if k * math.log(order) > math.log(MAX_GRID_ROWS):  # in logs: order**k itself may be astronomically large
            raise InvalidArgumentError(f"order**k = {order}**{k} rows is too large a grid ({group.name}, k={k}); "
                                       "keep it under 5e7")
        self.group, self.k = group, int(k)
        self.frac_train, self.seed = float(frac_train), int(seed)
        self.signs = torch.tensor(signs, dtype=torch.long)

        axes = [torch.arange(order)] * k
        self.inputs: Int[Tensor, "n k"] = torch.cartesian_prod(*axes).reshape(-1, k)
        self.labels: Int[Tensor, " n"] = self.answers(self.inputs)

        n = order**k
        n_train = max(1, int(self.frac_train * n))
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
        self.train_idx: Int[Tensor, " n_train"] = perm[:n_train].sort().values
        self.test_idx: Int[Tensor, " n_test"] = perm[n_train:].sort().values

    # ------------------------------------------------------------- answers
    def answers(self, inputs: Tensor) -> Int[Tensor, " batch"]:
        """The right answer of each row of ``inputs`` (``[batch, k]`` element indices; extra positions ignored)."""
        return answers(inputs, self.group, self.k, self.signs.tolist())

    def config_fields(self) -> dict[str, Any]:
        """The model-config fields that pose this task: ``p``, ``k``, ``group`` and ``op``.

        A model records them (``fi.MLPConfig(**task.config_fields())``), so its own loss
        (``model(x, return_type="loss")``) uses this task's answers, and a model is refused
        on another task.
        """
        return {"p": self.p, "k": self.k, "group": self._group_field(), "op": self.op}

    def _group_field(self) -> str:
        return self.group.spec

    # ------------------------------------------------------------------ views
    @property
    def p(self) -> int:
        """The number of element tokens and answers: the order of the group."""
        return self.group.order

    @property
    def order(self) -> int:
        """The order of the group (same as :attr:`p`)."""
        return self.group.order

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
        return {"group": self.group.spec, "k": self.k, "frac_train": self.frac_train, "seed": self.seed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GroupTask:
        """Rebuild a task from :meth:`to_dict` (a :class:`ModularArithmetic` when ``d`` holds ``p`` and ``op``)."""
        if "group" not in d:
            return ModularArithmetic(**{key: d[key] for key in ("p", "k", "op", "frac_train", "seed")})
        return GroupTask(_groups.from_spec(d["group"]), **{key: d[key] for key in ("k", "frac_train", "seed")})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GroupTask) and type(other) is type(self) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.to_dict().items()))

    def _expression(self) -> str:
        return " ".join(f"g{j + 1}" for j in range(self.k)) + f" in {self.group.name}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self._expression()}: {self.n} rows, "
                f"{len(self.train_idx)} train / {len(self.test_idx)} test, seed={self.seed})")


class ModularArithmetic(GroupTask):
    """All operand tuples of ``a_1 + ... + a_k mod p`` (or ``a - b``, or a product) with a seeded split.

    Args:
        p: The modulus (``>= 3``). Odd p is recommended: the real Fourier basis of
            Z_p then has no Nyquist row and every frequency owns a (cos, sin) pair.
            ``p = 2`` is refused: its only non-constant basis row is the Nyquist row
            ``(-1)^a``, so there is no frequency ``1..(p-1)//2`` to analyse.
        k: Number of operands (``>= 1``).
        op: ``"add"`` (``a_1 + ... + a_k mod p``, any k), ``"sub"`` (``a - b mod p``, k = 2)
            or ``"mul"`` (``a_1 * ... * a_k mod p`` on the nonzero residues, p prime: the
            group Z_p^* = ``fi.groups.multiplicative(p)``, cyclic of order p - 1).
        frac_train: Fraction of the grid in the training split, in ``(0, 1]``. The
            split holds ``max(1, floor(frac_train * p**k))`` rows (nanda2023: 3,830 of 12,769).
        seed: Seed of the split; the same seed always gives the same split.

    Attributes:
        inputs: ``[p**k, k]`` LongTensor, lexicographic (first operand slowest).
        labels: ``[p**k]`` LongTensor of answers in ``0..p-1``.
        train_idx, test_idx: disjoint sorted LongTensors of row indices covering the grid.
        signs: per-operand signs, so for add/sub ``labels == (inputs * signs).sum(-1) % p``.
        modulus: The modulus passed as ``p``.
        p: The number of element tokens and answers. For ``"add"``/``"sub"`` the modulus.
            For ``"mul"`` it is ``p - 1``: the tokens are element indices of Z_p^*, token
            ``i`` the residue ``i + 1`` (``task.group.residues``), so ``fi.ModularArithmetic(113,
            op="mul").p == 112`` and a model for it has ``cfg.p = 112``.

    Example:
        >>> import fourier_interp as fi
        >>> mul = fi.ModularArithmetic(p=7, op="mul")
        >>> mul.p, mul.modulus, mul.group.residues[mul.labels[mul.n - 1]].item()   # 6 * 6 = 36 = 1 mod 7
        (6, 7, 1)
    """

    def __init__(self, p: int, k: int = 2, op: str = "add", frac_train: float = 0.3, seed: int = 0):
        _check_int("p", p, minimum=MIN_P)
        _check_int("k", k, minimum=1)
        if op not in OPS:
            raise InvalidArgumentError(f"op={op!r} is not supported; expected one of {OPS}")
        if op == "sub" and k != 2:
            raise InvalidArgumentError(f"op='sub' needs k=2 operands (a - b mod p), got k={k}")
        if k * math.log(p) > math.log(MAX_GRID_ROWS):  # in logs: p**k itself may be astronomically large
            raise InvalidArgumentError(f"p**k = {p}**{k} rows is too large a grid (p={p}, k={k}); keep it under 5e7")
        if op == "mul" and not _groups.families.is_prime(p):
            raise InvalidArgumentError(f"op='mul' needs a prime p (the nonzero residues form the group Z_p^*), got p={p}")
        self.op, self.modulus = op, int(p)
        group = _groups.multiplicative(p) if op == "mul" else _groups.cyclic(p)
        self._build(group, k, rule_signs(op, k), frac_train, seed)

    def _group_field(self) -> str:
        return ""  # the default of every model config: Z_p (Z_p^* with op="mul")

    def to_dict(self) -> dict[str, Any]:
        return {"p": self.modulus, "k": self.k, "op": self.op, "frac_train": self.frac_train, "seed": self.seed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModularArithmetic:
        return cls(**{key: d[key] for key in ("p", "k", "op", "frac_train", "seed")})

    def _expression(self) -> str:
        symbol = {"add": " + ", "sub": " - ", "mul": " * "}[self.op]
        return symbol.join(f"a{j + 1}" for j in range(self.k)) + f" mod {self.modulus}"


def task_from_dict(d: dict[str, Any]) -> GroupTask:
    """The task a ``to_dict()`` record describes (either class)."""
    return GroupTask.from_dict(d)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentTypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        why = " (Z_2 has no Fourier frequency: frequencies are 1..(p-1)//2)" if name == "p" and value == 2 else ""
        raise InvalidArgumentError(f"{name}={value} is not allowed; expected an int >= {minimum}{why}")
