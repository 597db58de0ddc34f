"""Units that superpose two products, built exactly (tests/superposed.py), are named as such.

Each model computes exactly what a one-block-per-unit planted model computes, but two of every
three of its units carry two frequencies (irreps) at once. The per-unit projection must need
two blocks, keep the model unchanged with them, and the verdict must say ``clock-superposed`` /
``gcr-superposed``; the same model before superposing is ``clock`` / ``gcr`` at one block.
"""

import pytest
import torch

import fourier_interp as fi
from fourier_interp.interventions.units import project_unit_blocks, project_unit_irreps
from fourier_interp.verification.groups import verify_group
from superposed import rotated_gcr, superpose_pairs


def _superposed(model, task, blocks_of):
    acts = fi.grid_activations(model, task).double()
    _, _, chosen = blocks_of(acts)
    out = superpose_pairs(model, chosen[:, 0])
    torch.testing.assert_close(fi.evaluation.grid_logits(out, task), fi.evaluation.grid_logits(model, task),
                               atol=1e-3, rtol=1e-5)  # the same function, to float32 rounding
    return out


def test_superposed_frequencies_are_a_superposed_clock():
    task = fi.ModularArithmetic(p=13)
    planted = fi.planted_mlp(p=13, freqs=[2, 5])
    model = _superposed(planted, task, lambda a: project_unit_blocks(a, 13, 2, 1, 2))
    res = fi.unit_projection(model, task)
    assert res.blocks == 2 and res.works == [False, True] and res.breaks[-1]
    assert res.keep_loss[-1] == pytest.approx(res.base_loss, abs=1e-4)  # two blocks: nothing the model uses is lost
    assert sorted(map(sorted, res.unit_frequencies.tolist()))[0] == [2, 5]  # the paired units: both frequencies
    report = fi.verify(model, task)
    assert report.algorithm == "clock-superposed" and report.passed and report.blocks == 2, report.reason
    # Li et al.'s single-frequency weight claim fails, as it must, and does not decide here
    assert report.claim("unit_weights").passed is False
    before = fi.verify(planted, task)
    assert before.algorithm == "clock" and before.blocks == 1


@pytest.mark.parametrize("task", [fi.ModularArithmetic(p=13, op="mul"), fi.GroupTask(fi.groups.dihedral(11))],
                         ids=["mul13", "D11"])
def test_superposed_irreps_are_superposed_gcr(task):
    irreps = ["f1", "f5"] if task.group.order == 12 else ["rot1", "rot3"]
    planted = rotated_gcr(task.group, irreps)
    assert fi.accuracy(planted, task) == 1.0
    before = verify_group(planted, task)
    model = _superposed(planted, task, lambda a: project_unit_irreps(a, task, 1))
    report = verify_group(model, task)
    cyclic = task.group.order == 12
    assert before.algorithm == ("clock" if cyclic else "gcr") and before.blocks == 1
    assert report.algorithm == ("clock-superposed" if cyclic else "gcr-superposed"), report.reason
    assert report.passed and report.blocks == 2 and sorted(report.key_irreps) == sorted(irreps)
    res = report.extras["unit_projection"]
    assert res.keep_loss[-1] == pytest.approx(res.base_loss, abs=1e-4)
    assert {frozenset(row) for row in res.unit_irreps} >= {frozenset(irreps)}  # units holding both irreps


def test_coset_like_superposed_units_are_read_as_cosets():
    """The two descriptions overlap: planted GCR units that read single matrix entries of D_n's
    rotations are constant on the cosets of a reflection; superposed, they are no longer
    irrep-selective, and the verdict names what the units show (cosets), not GCR."""
    d11 = fi.groups.dihedral(11)
    task = fi.GroupTask(d11)
    planted = fi.planted_gcr(d11, ["rot1", "rot3"])
    model = _superposed(planted, task, lambda a: project_unit_irreps(a, task, 1))
    report = verify_group(model, task)
    assert report.blocks == 2 and report.claim("cosets").passed and not report.claim("units").passed
    assert report.algorithm == "coset" and not report.passed


def test_a_lookup_table_needs_every_block():
    task = fi.GroupTask(fi.groups.dihedral(11))
    res = fi.unit_projection(fi.memorizing_mlp(task=task), task)
    assert res.blocks is None and res.counts == [1, 2] and res.irrep_names == task.group.irrep_names
