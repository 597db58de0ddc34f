"""Finite groups and their irreps: group axioms, homomorphisms, orthogonality, completeness, known answers."""

import itertools
import math

import pytest
import torch

import fourier_interp as fi
from fourier_interp import groups
from fourier_interp.groups import check_homomorphism, decompose

GROUPS = {
    "Z7": lambda: groups.cyclic(7),
    "Z8": lambda: groups.cyclic(8),
    "Z11*": lambda: groups.multiplicative(11),
    "D4": lambda: groups.dihedral(4),
    "D5": lambda: groups.dihedral(5),
    "S3": lambda: groups.symmetric(3),
    "S4": lambda: groups.symmetric(4),
    "S5": lambda: groups.symmetric(5),
    "A4": lambda: groups.alternating(4),
    "A5": lambda: groups.alternating(5),
    "Z3xD4": lambda: groups.product(groups.cyclic(3), groups.dihedral(4)),
    "Z3xZ5": lambda: groups.product(groups.cyclic(3), groups.cyclic(5)),
}
KIND_FACTOR = {"real": 1, "complex": 2, "quaternionic": 4}


@pytest.fixture(params=sorted(GROUPS))
def group(request):
    return GROUPS[request.param]()


def test_group_axioms(group):
    n, t = group.order, group.table
    e = group.identity
    a = torch.arange(n)
    assert torch.equal(t[e], a) and torch.equal(t[:, e], a)
    assert torch.equal(group.compose(a, group.inverse(a)), torch.full((n,), e))
    assert torch.equal(group.compose(group.inverse(a), a), torch.full((n,), e))
    # every row and column a permutation (Latin square), and associativity over all triples
    assert (t.sort(1).values == a).all() and (t.sort(0).values == a[:, None]).all()
    left = t[t[:, :, None], a[None, None, :]]  # [(a b) c]
    right = t[a[:, None, None], t[None, :, :]]  # [a (b c)]
    assert torch.equal(left, right)


def test_compose_broadcasts_over_index_tensors(group):
    a = torch.arange(group.order).reshape(-1, 1)
    b = torch.arange(group.order).reshape(1, -1)
    assert torch.equal(group.compose(a, b), group.table)
    rows = torch.randint(group.order, (5, 3), generator=torch.Generator().manual_seed(0))
    assert torch.equal(group.compose_all(rows), group.compose(group.compose(rows[:, 0], rows[:, 1]), rows[:, 2]))


def test_irreps_are_orthogonal_homomorphisms_irreducible_and_complete(group):
    reps = group.irreps()
    assert reps[0].dim == 1 and bool((reps[0].matrices == 1).all())  # trivial first
    assert len({r.name for r in reps}) == len(reps)
    total = 0
    for r in reps:
        assert r.matrices.shape == (group.order, r.dim, r.dim)
        eye = torch.eye(r.dim, dtype=torch.float64)
        assert torch.allclose(r.matrices @ r.matrices.transpose(1, 2), eye.expand_as(r.matrices), atol=1e-10)
        assert check_homomorphism(group, r.matrices) < 1e-10
        assert len(decompose(r.matrices, seed=7)) == 1  # irreducible over the reals
        total += r.dim**2 // KIND_FACTOR[r.kind]
    assert total == group.order  # sum over real irreps of dim^2 / (1, 2, 4) = |G|
    chars = torch.stack([r.character for r in reps])  # [irreps, order]
    gram = chars @ chars.T / group.order  # <chi_i, chi_j> = factor * delta_ij: distinct, irreducible
    expected = torch.diag(torch.tensor([float(KIND_FACTOR[r.kind]) for r in reps], dtype=torch.float64))
    assert torch.allclose(gram, expected, atol=1e-9)


def test_fourier_basis_is_orthonormal_square_and_labelled_by_irrep(group):
    basis = group.fourier_basis(dtype=torch.float64)
    assert basis.shape == (group.order, group.order)
    assert torch.allclose(basis @ basis.T, torch.eye(group.order, dtype=torch.float64), atol=1e-10)
    labels, owner = group.basis_labels(), group.basis_irreps()
    assert len(labels) == group.order
    for label, i in zip(labels, owner.tolist()):
        assert label.startswith(group.irreps()[i].name + "[")
    # each irrep's rows span exactly the functions of its matrix entries
    for i, rep in enumerate(group.irreps()):
        rows = basis[owner == i]
        entries = rep.matrices.reshape(group.order, -1).T  # [d*d, order]
        assert torch.allclose(entries @ rows.T @ rows, entries, atol=1e-9)
        assert len(rows) == rep.n_functions
    assert group.fourier_basis().dtype == torch.float32


@pytest.mark.parametrize("p", [2, 3, 7, 8, 12, 13])
def test_cyclic_basis_equals_the_real_fourier_basis_row_for_row(p):
    basis = groups.cyclic(p).fourier_basis()
    assert torch.allclose(basis, fi.fourier_basis(p)[0], atol=1e-6)
    kinds = {r.name: r.kind for r in groups.cyclic(p).irreps()}
    assert all(kinds[f"f{f}"] == "complex" for f in range(1, (p - 1) // 2 + 1))


def test_multiplicative_group_is_multiplication_mod_p_and_cyclic_in_the_log_basis():
    p = 11
    g = groups.multiplicative(p)
    assert g.order == 10 and g.generator == 2 and g.residues.tolist() == list(range(1, 11))
    r = g.residues
    assert torch.equal(r[g.table], (r[:, None] * r[None, :]) % p)
    assert torch.equal(torch.tensor(2).pow(g.log) % p, r)  # residue = g^log
    assert torch.equal(g.index_of(torch.tensor([1, 7])), torch.tensor([0, 6]))
    # its Fourier basis is Z_{p-1}'s, read at the discrete log of each element
    assert torch.allclose(g.fourier_basis(), fi.fourier_basis(p - 1)[0][:, g.log], atol=1e-6)
    with pytest.raises(fi.InvalidArgumentError, match="not prime"):
        groups.multiplicative(9)
    with pytest.raises(fi.InvalidArgumentError, match="1..10"):
        g.index_of(11)


def _fixed_points_and_parity(perm):
    fixed = sum(1 for i, x in enumerate(perm) if i == x)
    inversions = sum(1 for i, j in itertools.combinations(range(len(perm)), 2) if perm[i] > perm[j])
    return fixed, (-1) ** inversions


@pytest.mark.parametrize("n", [3, 4, 5])
def test_symmetric_group_known_characters(n):
    s = groups.symmetric(n)
    perms = list(itertools.permutations(range(n)))
    assert s.order == math.factorial(n) and s.identity == 0
    fixed, sign = zip(*(_fixed_points_and_parity(q) for q in perms))
    standard = s.irrep(f"({n - 1},1)")
    assert torch.allclose(standard.character, torch.tensor(fixed, dtype=torch.float64) - 1, atol=1e-10)
    assert torch.allclose(s.irrep("(" + ",".join(["1"] * n) + ")").character, torch.tensor(sign, dtype=torch.float64))
    # composition: (a b)(i) = a(b(i))
    a, b = 5 % s.order, 3
    assert perms[int(s.compose(a, b))] == tuple(perms[a][perms[b][i]] for i in range(n))


def test_dihedral_and_alternating_irrep_dimensions():
    assert [(r.name, r.dim) for r in groups.dihedral(4).irreps()] == [
        ("trivial", 1), ("sign", 1), ("alt", 1), ("alt*sign", 1), ("rot1", 2)]
    assert sorted(r.dim for r in groups.alternating(5).irreps()) == [1, 3, 3, 4, 5]
    assert [(r.dim, r.kind) for r in groups.alternating(4).irreps()] == [(1, "real"), (3, "real"), (2, "complex")]
    d5 = groups.dihedral(5)
    r, s = 1, 5  # r and s
    assert int(d5.compose(s, d5.compose(r, s))) == int(d5.inverse(r))  # s r s = r^-1


@pytest.mark.slow
def test_s6_and_a6_irreps_complete():
    for g in (groups.symmetric(6), groups.alternating(6)):
        basis = g.fourier_basis(dtype=torch.float64)
        assert torch.allclose(basis @ basis.T, torch.eye(g.order, dtype=torch.float64), atol=1e-9)
        assert max(check_homomorphism(g, r.matrices) for r in g.irreps()) < 1e-9


def test_specs_round_trip_and_bad_arguments_are_named():
    for make in GROUPS.values():
        g = make()
        assert groups.from_spec(g.spec) is g
    with pytest.raises(fi.InvalidArgumentError, match="unknown family"):
        groups.from_spec("quaternion(8)")
    with pytest.raises(fi.InvalidArgumentError, match="n=7"):
        groups.symmetric(7)
    with pytest.raises(TypeError, match="n must be an int"):
        groups.dihedral(4.0)
    with pytest.raises(fi.InvalidArgumentError, match="irreps"):
        groups.symmetric(3).check_irrep_names(["(2,2)"])
