"""A finite group on index tensors, its real irreps and its Fourier basis (Peter-Weyl).

Elements are the indices ``0..order-1``; :meth:`Group.compose` and :meth:`Group.inverse`
look them up in the Cayley table, so they take index tensors of any shape.

The Fourier basis (:meth:`Group.fourier_basis`) is built from the matrix entries of the
real irreps. For an irrep of *real type* (its commutant is the reals: every irrep of S_n
and D_n) the ``d^2`` entries ``g -> rho(g)[i, j]`` are orthogonal with squared norm
``|G| / d``, so the basis rows are the entries scaled by ``sqrt(d / |G|)``. For an irrep of
*complex type* (a complex irrep and its conjugate joined into one real irrep of twice the
dimension, like the 2x2 rotations of Z_n) the ``d^2`` entries span only ``d^2 / 2`` functions;
the basis then takes the entries in column-major order (``[0, 0], [1, 0], ..., [0, 1], ...``),
keeps each one that is not in the span of those before it, and orthonormalises them in that
order (Gram-Schmidt). For a rotation that keeps ``[0, 0] = cos`` and ``[1, 0] = sin``: the
real Fourier basis of Z_n, row for row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Optional, Sequence, Union

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..errors import InvalidArgumentError

TOL = 1e-8


@dataclass(frozen=True)
class Irrep:
    """One real irreducible representation of a group.

    Attributes:
        name: Its name (``"f3"`` for a rotation of Z_n, ``"(3,1)"`` for a partition of S_n ...).
        dim: The real dimension ``d``.
        matrices: ``[order, d, d]`` float64 real orthogonal matrices, ``matrices[g] = rho(g)``.
        kind: ``"real"`` (entries span ``d^2`` functions), ``"complex"`` (``d^2 / 2``) or
            ``"quaternionic"`` (``d^2 / 4``): the Frobenius-Schur type, read from
            ``sum_g chi(g)^2 / |G|`` (1, 2 or 4).
    """

    name: str
    dim: int
    matrices: Tensor = field(repr=False)
    kind: str = "real"

    @property
    def character(self) -> Float[Tensor, " order"]:
        """``chi(g) = tr rho(g)`` for every element."""
        return self.matrices.diagonal(dim1=-2, dim2=-1).sum(-1)

    @property
    def n_functions(self) -> int:
        """How many basis functions the irrep owns (the dimension of the span of its entries)."""
        return self.dim**2 // {"real": 1, "complex": 2, "quaternionic": 4}[self.kind]


def frobenius_schur_kind(matrices: Tensor) -> str:
    """``"real"``, ``"complex"`` or ``"quaternionic"`` from ``sum_g chi(g)^2 / |G|`` of a real irrep."""
    chi = matrices.diagonal(dim1=-2, dim2=-1).sum(-1)
    value = round(float((chi * chi).mean()))
    kinds = {1: "real", 2: "complex", 4: "quaternionic"}
    if value not in kinds:
        raise RuntimeError(f"sum chi^2 / |G| = {value}: the representation is not irreducible over the reals")
    return kinds[value]


class Group:
    """A finite group: elements ``0..order-1``, a Cayley table and its real irreps.

    Build one with :func:`~fourier_interp.groups.cyclic`, :func:`~fourier_interp.groups.dihedral`,
    :func:`~fourier_interp.groups.symmetric` ...; the constructor is the seam for new families.

    Args:
        name: A readable name (``"S4"``).
        spec: The call that rebuilds the group (``"symmetric(4)"``; see :func:`from_spec`).
        table: ``[order, order]`` Cayley table, ``table[a, b] = a b`` (``b`` acts first
            for permutations).
        element_names: One readable name per element.
        build_irreps: Returns the irreps, trivial first (called once, on first use).

    Example:
        >>> from fourier_interp import groups
        >>> g = groups.dihedral(4)
        >>> g.order, g.name, [r.name for r in g.irreps()]
        (8, 'D4', ['trivial', 'sign', 'alt', 'alt*sign', 'rot1'])
        >>> a = torch.tensor([1, 5])
        >>> bool((g.compose(a, g.inverse(a)) == g.identity).all())
        True
    """

    def __init__(self, name: str, spec: str, table: Int[Tensor, "order order"], element_names: Sequence[str],
                 build_irreps: Callable[[], list[Irrep]]):
        self.name, self.spec = name, spec
        self.table = table.long()
        self.order = int(table.shape[0])
        self.element_names = list(element_names)
        ident = (self.table == torch.arange(self.order)).all(1).nonzero().flatten()
        if len(ident) != 1:
            raise RuntimeError(f"{name}: the table has no unique identity")
        self.identity: int = int(ident[0])
        self.inverse_table = (self.table == self.identity).long().argmax(1)
        self._build_irreps = build_irreps

    # ------------------------------------------------------------ elements
    def compose(self, a: Union[Tensor, int], b: Union[Tensor, int]) -> Tensor:
        """``a b`` for index tensors (broadcast), on ``a``'s device."""
        a, b = torch.as_tensor(a), torch.as_tensor(b)
        table = self.table.to(a.device)
        return table[a.long(), b.long().to(a.device)]

    def inverse(self, a: Union[Tensor, int]) -> Tensor:
        """``a^-1`` for an index tensor."""
        a = torch.as_tensor(a)
        return self.inverse_table.to(a.device)[a.long()]

    def compose_all(self, elements: Int[Tensor, "... k"]) -> Int[Tensor, "..."]:
        """``g_1 g_2 ... g_k`` along the last axis (left to right)."""
        out = elements[..., 0]
        for j in range(1, elements.shape[-1]):
            out = self.compose(out, elements[..., j])
        return out

    def element(self, name: Union[str, int]) -> int:
        """The index of the element called ``name`` (``element_names``); an index passes through."""
        if isinstance(name, int) and not isinstance(name, bool):
            if not 0 <= name < self.order:
                raise InvalidArgumentError(f"element {name} is not an index of {self.name} (0..{self.order - 1})")
            return name
        if name not in self.element_names:
            raise InvalidArgumentError(f"{self.name} has no element {name!r}; its elements are named like "
                                       f"{self.element_names[:4]}")
        return self.element_names.index(name)

    def subgroup(self, generators: Sequence[Union[str, int]]) -> Int[Tensor, " n"]:
        """Sorted indices of the subgroup generated by ``generators`` (names or indices).

        Example:
            >>> from fourier_interp import groups
            >>> s4 = groups.symmetric(4)
            >>> [s4.element_names[i] for i in s4.subgroup(["(0 1)", "(2 3)"])]
            ['e', '(2 3)', '(0 1)', '(0 1)(2 3)']
        """
        members = torch.zeros(self.order, dtype=torch.bool)
        members[self.identity] = True
        gens = torch.tensor([self.element(g) for g in generators], dtype=torch.long)
        while True:
            current = members.nonzero().flatten()
            grown = members.clone()
            grown[self.table[current][:, gens].flatten()] = True
            if bool((grown == members).all()):
                return current
            members = grown

    # -------------------------------------------------------------- irreps
    def irreps(self) -> list[Irrep]:
        """The real irreducible representations, trivial first (computed once, then cached)."""
        return list(self._irreps)

    @cached_property
    def _irreps(self) -> tuple[Irrep, ...]:
        return tuple(self._build_irreps())

    def irrep(self, name: str) -> Irrep:
        """The irrep called ``name``."""
        for rep in self._irreps:
            if rep.name == name:
                return rep
        raise InvalidArgumentError(f"{self.name} has no irrep {name!r}; its irreps are {self.irrep_names}")

    @property
    def irrep_names(self) -> list[str]:
        return [rep.name for rep in self._irreps]

    def check_irrep_names(self, names: Union[str, Sequence[str]], what: str = "irreps") -> list[str]:
        """Validate a list of irrep names (one clear error naming the unknown ones)."""
        names = [names] if isinstance(names, str) else list(names)
        bad = [n for n in names if n not in self.irrep_names]
        if bad or not names:
            raise InvalidArgumentError(f"{what}={names!r}: expected names of {self.name}'s irreps {self.irrep_names}")
        return names

    # ------------------------------------------------------- Fourier basis
    @cached_property
    def _basis(self) -> tuple[Tensor, tuple[str, ...], Tensor]:
        rows, labels, owner = [], [], []
        for index, rep in enumerate(self._irreps):
            kept: list[Tensor] = []
            for j in range(rep.dim):  # column-major: [0, j], [1, j], ...
                for i in range(rep.dim):
                    v = rep.matrices[:, i, j].clone()
                    for u in kept:
                        v = v - (u @ v) * u
                    norm = v.norm()
                    if norm > TOL * self.order**0.5:
                        kept.append(v / norm)
                        labels.append(f"{rep.name}[{i},{j}]")
                        owner.append(index)
            if len(kept) != rep.n_functions:
                raise RuntimeError(f"{self.name}: irrep {rep.name} spans {len(kept)} functions, expected {rep.n_functions}")
            rows += kept
        basis = torch.stack(rows)
        if basis.shape != (self.order, self.order):
            raise RuntimeError(f"{self.name}: the irreps give {basis.shape[0]} basis functions for {self.order} elements")
        return basis, tuple(labels), torch.tensor(owner)

    def fourier_basis(self, device: Optional[torch.device] = None,
                      dtype: torch.dtype = torch.float32) -> Float[Tensor, "order order"]:
        """``[order, order]`` orthonormal basis of functions on the group: row ``i`` over elements.

        Rows are grouped by irrep (in :meth:`irreps` order) and built from the irreps'
        matrix entries (module docstring). Computed in float64, then cast.

        Example:
            >>> import torch
            >>> from fourier_interp import groups
            >>> basis = groups.symmetric(3).fourier_basis(dtype=torch.float64)
            >>> torch.allclose(basis @ basis.T, torch.eye(6, dtype=torch.float64))
            True
        """
        return self._basis[0].to(device=device, dtype=dtype)

    def basis_labels(self) -> list[str]:
        """The irrep and matrix entry of each basis row, ``"name[i,j]"``."""
        return list(self._basis[1])

    def basis_irreps(self) -> Int[Tensor, " order"]:
        """Index (into :meth:`irreps`) of the irrep owning each basis row."""
        return self._basis[2].clone()

    def irrep_rows(self, names: Union[str, Sequence[str]]) -> Tensor:
        """Boolean mask over basis rows owned by the irreps ``names``."""
        names = self.check_irrep_names(names)
        wanted = torch.tensor([self.irrep_names.index(n) for n in names])
        return torch.isin(self._basis[2], wanted)

    def __repr__(self) -> str:
        return f"Group({self.name}, order={self.order})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Group) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)


# ------------------------------------------------------- numerical tools
def decompose(matrices: Float[Tensor, "order d d"], seed: int = 0) -> list[Tensor]:
    """Split an orthogonal representation into real irreducible pieces (as matrices ``[order, d_i, d_i]``).

    A random symmetric matrix averaged over the group, ``M = mean_g rho(g) X rho(g)^T``,
    commutes with every ``rho(g)``; its eigenspaces are invariant. The representation is
    irreducible over the reals exactly when every such ``M`` is a multiple of the identity
    (the commutant of a real irrep is R, C or H, whose symmetric elements are scalars), so
    the split recurses until that holds.
    """
    gen = torch.Generator().manual_seed(seed)
    d = matrices.shape[-1]
    x = torch.randn(d, d, generator=gen, dtype=torch.float64)
    x = x + x.T
    m = torch.einsum("gij,jk,glk->il", matrices, x, matrices) / matrices.shape[0]
    values, vectors = torch.linalg.eigh((m + m.T) / 2)
    scale = values.abs().max().clamp_min(1.0)
    groups_, start = [], 0
    for i in range(1, d + 1):
        if i == d or values[i] - values[i - 1] > 1e-6 * scale:
            groups_.append(vectors[:, start:i])
            start = i
    if len(groups_) == 1:
        return [matrices]
    out = []
    for q in groups_:
        out += decompose(q.T @ matrices @ q, seed + 1)
    return out


def check_homomorphism(group: Group, matrices: Tensor) -> float:
    """Largest entry of ``rho(a b) - rho(a) rho(b)`` over all pairs (0 for a homomorphism)."""
    worst = 0.0
    for a in range(group.order):  # one row of the table at a time: [order, d, d]
        lhs = matrices[group.table[a]]
        rhs = matrices[a] @ matrices
        worst = max(worst, float((lhs - rhs).abs().max()))
    return worst
