"""scripts/learning_order.py: the encoding's Fourier statistics set the order irreps are learned in.

Known answers for the pieces (a template with chosen irrep energies, the singular value of
its Fourier coefficient, the per-irrep share explained), then one cheap training run per
template on Z_7 (Marchetti et al.'s regression from a small init): the irreps arrive one at
a time, strongest first, and swapping the template's energies swaps the order.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import fourier_interp as fi
from fourier_interp.analysis.irreps import irrep_norms

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture(scope="module")
def lo():
    sys.path.insert(0, str(SCRIPTS))
    try:
        import learning_order
    finally:
        sys.path.remove(str(SCRIPTS))
    return learning_order


def test_template_puts_the_chosen_energy_in_each_irrep(lo):
    d5 = fi.groups.dihedral(5)
    x = lo.template(d5, {"rot1": 0.5, "sign": 0.3, "rot2": 0.2}, seed=3)
    assert float(x.norm()) == pytest.approx(1.0)
    assert irrep_norms(x, d5).tolist() == pytest.approx([0.0, 0.3, 0.5, 0.2], abs=1e-12)
    # row g of the encoding is the template translated by g: e_g(g h) = x(h)
    enc = lo.regular_encoding(d5, x)
    g, h = 7, torch.arange(10)
    assert torch.equal(enc[g, d5.compose(torch.tensor(g), h)], x)


def test_fourier_sigma_is_the_coefficient_singular_value(lo):
    d5 = fi.groups.dihedral(5)
    energy = {"rot1": 0.5, "sign": 0.3, "rot2": 0.2}
    sigma = lo.fourier_sigma(d5, lo.template(d5, energy, seed=0))
    for name, e in energy.items():  # orthogonal blocks: sigma^2 = order * energy / d^2
        assert sigma[name] ** 2 == pytest.approx(10 * e / d5.irrep(name).dim ** 2)
    delta = torch.zeros(10, dtype=torch.float64)
    delta[0] = 1.0  # the one-hot encoding: every coefficient is rho(e) = I
    assert lo.fourier_sigma(d5, delta) == pytest.approx({n: 1.0 for n in d5.irrep_names})


def test_irrep_r2_counts_each_irrep_of_the_target(lo):
    z7 = fi.groups.cyclic(7)
    task = fi.GroupTask(z7, k=2, frac_train=1.0)
    target = lo.regular_encoding(z7, lo.template(z7, {"f1": 0.2, "f2": 0.5, "f3": 0.3}, seed=1))[task.labels]
    basis = z7.fourier_basis(dtype=torch.float64)
    keep = (z7.basis_irreps() != 2).double()  # the target without its f2 part
    r2 = lo.irrep_r2(target @ basis.T * keep @ basis, target, z7)
    assert torch.isnan(r2[0])  # the template has no trivial part
    assert r2[1:].tolist() == pytest.approx([1.0, 0.0, 1.0], abs=1e-9)
    assert lo.irrep_r2(torch.zeros_like(target), target, z7)[1:].tolist() == pytest.approx([0.0] * 3)


@pytest.mark.slow
def test_irreps_are_learned_one_at_a_time_in_the_encodings_order(lo):
    z7 = fi.groups.cyclic(7)
    torch.set_num_threads(1)
    orders = []
    for energy in ({"f2": 0.5, "f3": 0.3, "f1": 0.2}, {"f1": 0.5, "f3": 0.3, "f2": 0.2}):
        records, x = lo.regression(z7, energy, seed=0, steps=12_000)
        learned = {n: lo.first_step(records, "r2", z7.irrep_names.index(n), lo.LEARNED) for n in energy}
        order = sorted(learned, key=lambda n: learned[n] if learned[n] is not None else float("inf"))
        orders.append(order)
        assert order == sorted(energy, key=lambda n: -energy[n]), learned
        times = [learned[n] for n in order]
        assert all(b >= 1.3 * a for a, b in zip(times, times[1:])), learned  # separated, one at a time
        assert min(records[-1]["r2"][1:]) > 0.9  # every irrep is learned in the end
        # the loss plateaus between the steps: halfway between two learned steps it has
        # already fallen by the first irrep's energy and not yet by the second's
        mid = next(r for r in records if r["step"] >= (times[0] + times[1]) // 2)
        first, second = (energy[n] / sum(energy.values()) for n in order[:2])
        assert 1 - first - 0.5 * second < mid["loss"] < 1 - 0.5 * first
    assert orders[0] != orders[1]  # the encoding, not the frequency, sets the order
