"""Coset circuits (Stander et al., 2024): the invariance-subgroup measure and the planted coset model."""

import pytest
import torch

import fourier_interp as fi
from fourier_interp import groups
from fourier_interp.analysis.cosets import invariance_changes, unit_cosets
from fourier_interp.verification.groups import verify_group


def _conjugates(group, members):
    """The conjugates g H g^-1 of a subgroup, as sets of indices."""
    h = torch.as_tensor(members)
    return {tuple(sorted(group.compose(group.compose(g, h), group.inverse(g)).tolist())) for g in range(group.order)}


def test_subgroup_is_generated_and_closed():
    s4 = groups.symmetric(4)
    klein = s4.subgroup(["(0 1)(2 3)", "(0 2)(1 3)"])
    assert len(klein) == 4 and len(s4.subgroup(["(0 1)", "(1 2)", "(2 3)"])) == 24
    assert len(s4.subgroup([])) == 1 and s4.subgroup([0]).tolist() == [s4.identity]
    assert set(s4.compose(klein[:, None], klein[None, :]).flatten().tolist()) == set(klein.tolist())
    with pytest.raises(fi.InvalidArgumentError, match="no element"):
        s4.subgroup(["(0 4)"])


def test_a_coset_indicator_unit_is_found_with_its_subgroup():
    """Known answer: a unit 1[g1 in a H] * 1[g2 in H b] is invariant exactly under H on each operand."""
    s4 = groups.symmetric(4)
    task = fi.GroupTask(s4)
    h = s4.subgroup(["(0 1)", "(2 3)"])
    a, b = s4.element("(1 2 3)"), s4.element("(0 2)")
    left = torch.isin(torch.arange(24), s4.compose(a, h))  # g1 in a H: invariant under g1 -> g1 h
    right = torch.isin(torch.arange(24), s4.compose(h, b))  # g2 in H b: invariant under g2 -> h g2
    unit = (left[task.inputs[:, 0]] & right[task.inputs[:, 1]]).double()[:, None]
    res = unit_cosets(unit, task)
    assert res.coset_like.tolist() == [True] and res.orders.tolist() == [[4, 4]]
    assert set(res.subgroups[0][0]) == set(h.tolist())  # g1's right-invariance subgroup is H itself
    # H b is a left coset of H and a right coset of b^-1 H b: the same order on both sides, the first side kept
    conj = s4.compose(s4.compose(s4.inverse(b), h), b)
    assert res.sides[0][1] == "right" and set(res.subgroups[0][1]) == set(conj.tolist())
    changes = invariance_changes(unit, task, 1, "left")
    assert torch.allclose(changes[0, h], torch.zeros(4, dtype=torch.float64))
    assert float(changes[0][~torch.isin(torch.arange(24), h)].min()) > 0.1


def test_units_without_cosets_are_not_coset_like():
    s4 = groups.symmetric(4)
    task = fi.GroupTask(s4)
    noise = torch.randn(task.n, 8, generator=torch.Generator().manual_seed(0))
    res = unit_cosets(noise, task)
    assert res.share_coset == 0.0 and (res.orders == 1).all()
    lookup = unit_cosets(fi.grid_activations(fi.memorizing_mlp(task=task), task), task)
    assert lookup.share_coset == 0.0


def test_planted_coset_is_named_coset_not_gcr():
    s4 = groups.symmetric(4)
    task = fi.GroupTask(s4)
    h = s4.subgroup(["(0 1)", "(2 3)"])
    model = fi.planted_coset(s4, ["(0 1)", "(2 3)"])
    assert fi.accuracy(model, task) == 1.0
    report = verify_group(model, task)
    assert report.algorithm == "coset" and not report.passed
    assert [c.key for c in report.failed_claims] == ["units"]  # its logits are characters; its units are not irreps'
    assert report.claim("cosets").value == 1.0
    assert report.claim("logits").value > 1 - 1e-6  # a permutation character: a sum of characters
    assert sorted(report.key_irreps) == ["(2,2)", "(3,1)"]  # S4 / (S2 x S2) carries (4) + (3,1) + (2,2)
    found = {s for unit in report.extras["cosets"].subgroups for s in unit}
    assert found <= _conjugates(s4, h)


def test_planted_coset_on_a_dihedral_group():
    d6 = groups.dihedral(6)
    task = fi.GroupTask(d6)
    model = fi.planted_coset(d6, ["s"])  # the reflection subgroup {e, s}: core-free
    assert fi.accuracy(model, task) == 1.0
    assert verify_group(model, task).algorithm == "coset"


def test_planted_coset_refuses_subgroups_that_cannot_work():
    s4 = groups.symmetric(4)
    with pytest.raises(fi.InvalidArgumentError, match="core-free"):
        fi.planted_coset(s4, ["(0 1)(2 3)", "(0 2)(1 3)"])  # the Klein group is normal
    with pytest.raises(fi.InvalidArgumentError, match="proper subgroup"):
        fi.planted_coset(s4, ["e"])
    with pytest.raises(fi.InvalidArgumentError, match="name the subgroup"):
        fi.planted_coset(groups.dihedral(5))
