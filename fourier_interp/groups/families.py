"""The group families: cyclic, multiplicative, dihedral, symmetric, alternating and direct products.

Element indices and irreps of each:

* ``cyclic(n)`` — Z_n: index ``x`` is the residue ``x``; irreps ``"trivial"``, the rotations
  ``"f1" .. "f{(n-1)//2}"`` by ``2 pi f x / n`` (complex type) and, for even n, ``"f{n/2}"``
  (``(-1)^x``). Its Fourier basis is :func:`fourier_interp.fourier.fourier_basis` row for row.
* ``multiplicative(p)`` — Z_p^*, the nonzero residues under multiplication mod a prime p:
  index ``i`` is the residue ``i + 1`` (``residues``); with the smallest primitive root
  ``g`` (``generator``), ``residue = g^log`` (``log``, the discrete logarithm), so the group
  is Z_{p-1} in log coordinates and its irreps ``"f1", ...`` are the rotations by
  ``2 pi f log(a) / (p - 1)``: frequencies in the log basis.
* ``dihedral(n)`` — D_n of order 2n, the symmetries of an n-gon: index ``k + n e`` is
  ``r^k s^e`` (rotations first); ``s r s = r^-1``. Irreps: ``"trivial"``, ``"sign"``
  (reflections -> -1), for even n ``"alt"`` (``r -> -1``) and ``"alt*sign"``, and the 2-D
  ``"rot{f}"``: ``r -> `` rotation by ``2 pi f / n``, ``s -> diag(1, -1)``.
* ``symmetric(n)`` (``n <= 6``) — S_n: the permutations of ``0..n-1`` in lexicographic order
  (one-line notation, index 0 the identity); ``(a b)(i) = a(b(i))``. Irreps: Young's
  orthogonal form, one per partition, named ``"(3,1)"`` (``"(n)"`` trivial, ``"(1,...,1)"``
  sign, ``"(n-1,1)"`` standard).
* ``alternating(n)`` (``3 <= n <= 6``) — A_n: the even permutations, in S_n's order. Irreps:
  the S_n irreps restricted, one of each conjugate pair ``lam, lam'`` (named by the one that
  comes first); a self-conjugate ``lam`` splits into ``"lam+"`` and ``"lam-"`` where it
  splits over the reals (A_5's ``(3,1,1)``), else stays one real irrep of complex type
  (A_4's ``(2,2)``). The split is computed numerically (:func:`~.core.decompose`) and checked.
* ``product(g, h)`` — G x H: index ``i |H| + j`` is ``(g_i, h_j)``. Irreps: the real
  irreducible pieces of every ``rho x sigma`` (Kronecker product), named ``"rho x sigma"``;
  two complex-type irreps give two pieces, ``"... (a)"`` and ``"... (b)"``.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import torch
from torch import Tensor

from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from .core import Group, Irrep, decompose, frobenius_schur_kind
from .young import conjugate, partition_name, partitions, transposition_matrices

MAX_SYMMETRIC = 6


def _check_int(name: str, value, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentTypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise InvalidArgumentError(f"{name}={value} is not allowed; expected an int >= {minimum}{upper}")
    return value


def _rotation(angle: Tensor) -> Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # [..., 2, 2]


def _cyclic_irreps(n: int, x: Tensor) -> list[Irrep]:
    """Irreps of Z_n evaluated at the residues ``x`` (``[order]``, float64)."""
    out = [Irrep("trivial", 1, torch.ones(len(x), 1, 1, dtype=torch.float64))]
    for f in range(1, (n - 1) // 2 + 1):
        out.append(Irrep(f"f{f}", 2, _rotation(2 * math.pi * f * x / n), "complex"))
    if n % 2 == 0:
        out.append(Irrep(f"f{n // 2}", 1, torch.cos(math.pi * x)[:, None, None]))
    return out


# ------------------------------------------------------------------ cyclic
@lru_cache(maxsize=None)
def cyclic(n: int) -> Group:
    """Z_n, addition mod n (module docstring for its elements and irreps).

    Example:
        >>> import torch
        >>> from fourier_interp import groups
        >>> z = groups.cyclic(7)
        >>> z.compose(torch.tensor(5), torch.tensor(4)).item(), z.basis_labels()[:3]
        (2, ['trivial[0,0]', 'f1[0,0]', 'f1[1,0]'])
    """
    _check_int("n", n, 1)
    x = torch.arange(n)
    table = (x[:, None] + x[None, :]).remainder(n)
    return Group(f"Z{n}", f"cyclic({n})", table, [str(i) for i in range(n)],
                 lambda: _cyclic_irreps(n, x.double()))


# ----------------------------------------------------------- multiplicative
def is_prime(p: int) -> bool:
    return p >= 2 and all(p % d for d in range(2, math.isqrt(p) + 1))


def primitive_root(p: int) -> int:
    """The smallest primitive root mod the prime ``p``."""
    factors = {q for q in range(2, p) if (p - 1) % q == 0 and is_prime(q)}
    for g in range(2, p):
        if all(pow(g, (p - 1) // q, p) != 1 for q in factors):
            return g
    return 1  # p = 2


class MultiplicativeGroup(Group):
    """Z_p^*: index ``i`` is the residue ``i + 1``; ``log[i]`` its discrete log to base ``generator``."""

    def __init__(self, p: int):
        self.modulus = p
        self.generator = primitive_root(p)
        self.residues = torch.arange(1, p)  # index -> residue
        log = torch.zeros(p - 1, dtype=torch.long)
        value = 1
        for e in range(p - 1):
            log[value - 1] = e
            value = value * self.generator % p
        self.log = log  # index -> discrete log
        r = self.residues
        table = (r[:, None] * r[None, :]).remainder(p) - 1
        super().__init__(f"Z{p}*", f"multiplicative({p})", table, [str(int(v)) for v in r],
                         lambda: _cyclic_irreps(p - 1, self.log.double()))

    def index_of(self, residues) -> Tensor:
        """Element index of each residue in ``1..p-1``."""
        r = torch.as_tensor(residues).long()
        if r.numel() and (int(r.min()) < 1 or int(r.max()) >= self.modulus):
            raise InvalidArgumentError(f"residues must lie in 1..{self.modulus - 1} (Z_{self.modulus}^*)")
        return r - 1


@lru_cache(maxsize=None)
def multiplicative(p: int) -> MultiplicativeGroup:
    """Z_p^*, the nonzero residues under multiplication mod a prime ``p`` (cyclic of order p - 1).

    Example:
        >>> from fourier_interp import groups
        >>> g = groups.multiplicative(7)
        >>> g.order, g.generator, g.residues.tolist(), g.log.tolist()
        (6, 3, [1, 2, 3, 4, 5, 6], [0, 2, 1, 4, 5, 3])
        >>> int(g.residues[g.compose(g.index_of(3), g.index_of(5))])   # 3 * 5 = 15 = 1 mod 7
        1
    """
    _check_int("p", p, 3)
    if not is_prime(p):
        raise InvalidArgumentError(f"p={p} is not prime; multiplicative(p) is Z_p^*, a group only for prime p")
    return MultiplicativeGroup(p)


# --------------------------------------------------------------- dihedral
@lru_cache(maxsize=None)
def dihedral(n: int) -> Group:
    """D_n, the 2n symmetries of a regular n-gon (module docstring for its elements and irreps).

    Example:
        >>> from fourier_interp import groups
        >>> [(r.name, r.dim) for r in groups.dihedral(5).irreps()]
        [('trivial', 1), ('sign', 1), ('rot1', 2), ('rot2', 2)]
    """
    _check_int("n", n, 3)
    k, e = torch.arange(2 * n) % n, torch.arange(2 * n) // n
    sign_e = 1 - 2 * e  # (-1)^e
    table = (k[:, None] + sign_e[:, None] * k[None, :]).remainder(n) + n * ((e[:, None] + e[None, :]) % 2)
    names = [("e" if i == 0 else f"r^{i}") if j == 0 else ("s" if i == 0 else f"r^{i} s") for j in (0, 1)
             for i in range(n)]

    def irreps() -> list[Irrep]:
        ones = torch.ones(2 * n, dtype=torch.float64)
        refl, alt = sign_e.double(), torch.cos(math.pi * k.double())
        out = [Irrep("trivial", 1, ones[:, None, None]), Irrep("sign", 1, refl[:, None, None])]
        if n % 2 == 0:
            out += [Irrep("alt", 1, alt[:, None, None]), Irrep("alt*sign", 1, (alt * refl)[:, None, None])]
        flip = torch.diag_embed(torch.stack([ones, refl], -1))  # s^e = diag(1, (-1)^e)
        for f in range(1, (n - 1) // 2 + 1):
            out.append(Irrep(f"rot{f}", 2, _rotation(2 * math.pi * f * k.double() / n) @ flip))
        return out

    return Group(f"D{n}", f"dihedral({n})", table, names, irreps)


# ------------------------------------------------------------ permutations
def _permutation_table(perms: Tensor) -> Tensor:
    """Cayley table of a list of permutations (``[order, n]`` one-line), ``(a b)(i) = a(b(i))``."""
    order, n = perms.shape
    composed = perms[:, None, :].expand(order, order, n).gather(2, perms[None, :, :].expand(order, order, n))
    weights = n ** torch.arange(n)
    code = lambda p: (p * weights).sum(-1)  # noqa: E731
    lookup = torch.full((n**n,), -1, dtype=torch.long)
    lookup[code(perms)] = torch.arange(order)
    table = lookup[code(composed)]
    if (table < 0).any():
        raise RuntimeError("the permutations are not closed under composition")
    return table


def _cycle_name(perm: tuple[int, ...]) -> str:
    seen, cycles = set(), []
    for start in range(len(perm)):
        if start in seen or perm[start] == start:
            continue
        cycle, i = [], start
        while i not in seen:
            seen.add(i)
            cycle.append(i)
            i = perm[i]
        cycles.append("(" + " ".join(map(str, cycle)) + ")")
    return "".join(cycles) or "e"


def _represent(table: Tensor, identity: int, generators: list[int], matrices: list[Tensor]) -> Tensor:
    """``rho`` on every element from ``rho`` of generators: ``rho(s g) = rho(s) rho(g)`` along a search."""
    order, d = table.shape[0], matrices[0].shape[0]
    rho = torch.zeros(order, d, d, dtype=torch.float64)
    done = torch.zeros(order, dtype=torch.bool)
    rho[identity], done[identity] = torch.eye(d, dtype=torch.float64), True
    frontier = [identity]
    while frontier:
        nxt = []
        for g in frontier:
            for s, m in zip(generators, matrices):
                h = int(table[s, g])
                if not done[h]:
                    rho[h], done[h] = m @ rho[g], True
                    nxt.append(h)
        frontier = nxt
    if not done.all():
        raise RuntimeError("the generators do not generate the group")
    return rho


@lru_cache(maxsize=None)
def _symmetric_parts(n: int) -> tuple[Tensor, Tensor, dict]:
    perms = torch.tensor(list(itertools.permutations(range(n))), dtype=torch.long).reshape(-1, n)
    table = _permutation_table(perms)
    index = {tuple(p.tolist()): i for i, p in enumerate(perms)}
    gens = []
    for i in range(n - 1):
        s = list(range(n))
        s[i], s[i + 1] = i + 1, i
        gens.append(index[tuple(s)])
    reps = {lam: _represent(table, 0, gens, transposition_matrices(lam)) if n > 1
            else torch.ones(1, 1, 1, dtype=torch.float64) for lam in partitions(n)}
    return perms, table, reps


@lru_cache(maxsize=None)
def symmetric(n: int) -> Group:
    """S_n for ``n <= 6`` (module docstring for its elements and irreps).

    Example:
        >>> from fourier_interp import groups
        >>> s4 = groups.symmetric(4)
        >>> s4.order, [(r.name, r.dim) for r in s4.irreps()]
        (24, [('(4)', 1), ('(3,1)', 3), ('(2,2)', 2), ('(2,1,1)', 3), ('(1,1,1,1)', 1)])
    """
    _check_int("n", n, 1, MAX_SYMMETRIC)
    perms, table, reps = _symmetric_parts(n)
    names = [_cycle_name(tuple(p.tolist())) for p in perms]
    return Group(f"S{n}", f"symmetric({n})", table, names,
                 lambda: [Irrep(partition_name(lam), m.shape[-1], m) for lam, m in reps.items()])


@lru_cache(maxsize=None)
def alternating(n: int) -> Group:
    """A_n for ``3 <= n <= 6``: the even permutations (module docstring for its irreps).

    Example:
        >>> from fourier_interp import groups
        >>> [(r.name, r.dim, r.kind) for r in groups.alternating(4).irreps()]
        [('(4)', 1, 'real'), ('(3,1)', 3, 'real'), ('(2,2)', 2, 'complex')]
    """
    _check_int("n", n, 3, MAX_SYMMETRIC)
    perms, table, reps = _symmetric_parts(n)
    parity = torch.tensor([_parity(tuple(p.tolist())) for p in perms])
    even = (parity == 0).nonzero().flatten()
    position = torch.full((len(perms),), -1, dtype=torch.long)
    position[even] = torch.arange(len(even))
    sub_table = position[table[even][:, even]]
    names = [_cycle_name(tuple(perms[i].tolist())) for i in even]

    def irreps() -> list[Irrep]:
        out, seen = [], set()
        for lam, m in reps.items():
            if lam in seen:
                continue
            seen |= {lam, conjugate(lam)}
            pieces = decompose(m[even])
            if len(pieces) == 1:
                out.append(Irrep(partition_name(lam), m.shape[-1], pieces[0], frobenius_schur_kind(pieces[0])))
            else:
                for piece, sign in zip(pieces, "+-"):
                    out.append(Irrep(partition_name(lam) + sign, piece.shape[-1], piece, frobenius_schur_kind(piece)))
        return out

    return Group(f"A{n}", f"alternating({n})", sub_table, names, irreps)


def _parity(perm: tuple[int, ...]) -> int:
    return sum(1 for i in range(len(perm)) for j in range(i + 1, len(perm)) if perm[i] > perm[j]) % 2


# ---------------------------------------------------------------- products
@lru_cache(maxsize=None)
def product(g: Group, h: Group) -> Group:
    """The direct product G x H (module docstring for its elements and irreps).

    Example:
        >>> from fourier_interp import groups
        >>> gh = groups.product(groups.cyclic(3), groups.cyclic(3))
        >>> gh.order, gh.irrep_names
        (9, ['trivial', 'trivial x f1', 'f1 x trivial', 'f1 x f1 (a)', 'f1 x f1 (b)'])
    """
    if not isinstance(g, Group) or not isinstance(h, Group):
        raise InvalidArgumentTypeError(f"product(g, h) takes two groups, got {type(g).__name__} and {type(h).__name__}")
    n = h.order
    i, j = torch.arange(g.order * n) // n, torch.arange(g.order * n) % n
    table = g.table[i[:, None], i[None, :]] * n + h.table[j[:, None], j[None, :]]
    names = [f"({a}, {b})" for a in g.element_names for b in h.element_names]

    def irreps() -> list[Irrep]:
        out = []
        for rho in g.irreps():
            for sigma in h.irreps():
                name = "trivial" if rho.name == sigma.name == "trivial" else f"{rho.name} x {sigma.name}"
                kron = torch.einsum("gij,hkl->ghikjl", rho.matrices, sigma.matrices)
                kron = kron.reshape(g.order * n, rho.dim * sigma.dim, rho.dim * sigma.dim)
                pieces = decompose(kron)
                for piece, tag in zip(pieces, "abcd"):
                    label = name if len(pieces) == 1 else f"{name} ({tag})"
                    out.append(Irrep(label, piece.shape[-1], piece, frobenius_schur_kind(piece)))
        return out

    return Group(f"{g.name}x{h.name}", f"product({g.spec}, {h.spec})", table, names, irreps)


# ------------------------------------------------------------------ specs
FAMILIES = {"cyclic": cyclic, "multiplicative": multiplicative, "dihedral": dihedral, "symmetric": symmetric,
            "alternating": alternating}


def from_spec(spec: str) -> Group:
    """The group a spec names: ``"symmetric(4)"``, ``"product(cyclic(3), dihedral(4))"`` (``group.spec``).

    Example:
        >>> from fourier_interp import groups
        >>> groups.from_spec("product(cyclic(2), symmetric(3))").order
        12
    """
    if not isinstance(spec, str):
        raise InvalidArgumentTypeError(f"spec must be a string like 'symmetric(4)', got {type(spec).__name__}")
    text = spec.replace(" ", "")
    group, rest = _parse(text, spec)
    if rest:
        raise InvalidArgumentError(f"group spec {spec!r} has trailing text {rest!r}")
    return group


def _parse(text: str, spec: str):
    head, sep, rest = text.partition("(")
    if not sep:
        raise InvalidArgumentError(f"group spec {spec!r}: expected name(arguments), e.g. 'symmetric(4)'")
    if head == "product":
        g, rest = _parse(rest, spec)
        if not rest.startswith(","):
            raise InvalidArgumentError(f"group spec {spec!r}: product needs two groups")
        h, rest = _parse(rest[1:], spec)
        if not rest.startswith(")"):
            raise InvalidArgumentError(f"group spec {spec!r}: unclosed product(")
        return product(g, h), rest[1:]
    if head not in FAMILIES:
        raise InvalidArgumentError(f"group spec {spec!r}: unknown family {head!r}; expected one of "
                                   f"{sorted(FAMILIES) + ['product']}")
    number, sep, rest = rest.partition(")")
    if not sep or not number.isdigit():
        raise InvalidArgumentError(f"group spec {spec!r}: expected {head}(<int>)")
    return FAMILIES[head](int(number)), rest
