"""The Fourier maths on Z_p: known answers from cos/sin built at chosen frequencies."""

import math

import pytest
import torch

import fourier_interp as fi
from fourier_interp.fourier import (
    as_freq_list,
    fold_frequency,
    frequency_block_masks,
    frequency_phase,
    grid_spectrum,
    grid_transform,
    harmonics,
    operand_frequency_mask,
    row_frequency,
    to_grid,
    wrap_angle,
)

PS = [2, 3, 7, 8, 12, 13, 113]


def wave(p, f, phase=0.0, fn=torch.cos):
    return fn(2 * math.pi * f * torch.arange(p, dtype=torch.float64) / p + phase)


@pytest.mark.parametrize("p", PS)
def test_basis_is_orthonormal_for_odd_and_even_p(p):
    basis, names = fi.fourier_basis(p)
    assert basis.shape == (p, p) and len(names) == p
    assert torch.allclose(basis @ basis.T, torch.eye(p), atol=1e-6)
    assert names[0] == "const" and (names[-1] == "nyquist") == (p % 2 == 0)
    assert row_frequency(p).tolist()[:3] == [0, 1, 1][: min(3, p)]


def test_basis_rejects_bad_p():
    for bad in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="p="):
            fi.fourier_basis(bad)


@pytest.mark.parametrize("p", [7, 8, 13])
def test_parseval_and_round_trip_over_several_axes(p):
    x = torch.randn(p, 3, p, generator=torch.Generator().manual_seed(p), dtype=torch.float64)
    coeffs = fi.fourier_transform(x, [0, 2])
    assert torch.allclose(coeffs.pow(2).sum(), x.pow(2).sum())
    assert torch.allclose(fi.inverse_fourier_transform(coeffs, [0, 2]), x, atol=1e-10)
    spec = fi.frequency_energy(x, dim=2)
    assert spec.shape == (p // 2 + 1,) and torch.allclose(spec.sum(), x.pow(2).sum())


def test_grid_transform_matches_transforming_each_operand_axis():
    p, k = 5, 3
    x = torch.randn(p**k, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected = fi.fourier_transform(x.reshape(p, p, p, 4), [0, 1, 2])
    assert torch.allclose(grid_transform(x, p, k), expected)
    with pytest.raises(ValueError, match="p\\*\\*k = 125"):
        to_grid(x[:100], p, k)


@pytest.mark.parametrize("p", [11, 12])
@pytest.mark.parametrize("f", [1, 3, 5])
def test_energy_of_a_planted_wave_is_all_at_its_frequency(p, f):
    x = 2.0 * wave(p, f, phase=0.4) + 0.5 * wave(p, f, fn=torch.sin)
    energy = fi.frequency_energy(x, dim=0, normalize=True)
    assert energy[f].item() == pytest.approx(1.0, abs=1e-9)
    norms = fi.frequency_norms(x, dim=0)
    assert norms.argmax().item() == f - 1 and norms.shape == ((p - 1) // 2,)


def test_nyquist_row_holds_the_alternating_sign_for_even_p():
    energy = fi.frequency_energy(torch.tensor([1.0, -1.0] * 4), dim=0, normalize=True)
    assert energy[-1].item() == pytest.approx(1.0)


def test_frequency_phase_recovers_amplitude_and_phase():
    p = 13
    for f, amp, phi in [(1, 1.0, 0.0), (4, 3.0, -2.5), (6, 0.5, 3.0)]:
        a, ph = frequency_phase(amp * wave(p, f, phase=phi), f)
        assert a.item() == pytest.approx(amp, abs=1e-9)
        assert ph.item() == pytest.approx(phi, abs=1e-9)
    x = torch.stack([wave(p, 2, 0.3), wave(p, 2, -1.0)], 1)
    assert torch.allclose(frequency_phase(x, 2, dim=0)[1], torch.tensor([0.3, -1.0], dtype=torch.float64))
    assert torch.allclose(wrap_angle(torch.tensor([3 * math.pi, -0.5, 2 * math.pi + 0.1])), torch.tensor([math.pi, -0.5, 0.1]))


def test_sum_and_answer_directions():
    p, k, f = 7, 3, 2
    cos_sum, sin_sum = fi.sum_directions(p, k, f)
    task = fi.ModularArithmetic(p=p, k=k)
    angle = 2 * math.pi * f * task.inputs.sum(1).double() / p
    assert torch.allclose(cos_sum.double(), torch.cos(angle), atol=1e-6)
    assert torch.allclose(sin_sum.double(), torch.sin(angle), atol=1e-6)
    d2, d3 = (fi.answer_directions(p, k, g).double() for g in (2, 3))
    assert abs((d2 * d3).sum().item()) < 1e-6 * d2.pow(2).sum().item()  # orthogonal across frequencies
    assert d2.pow(2).sum().item() == pytest.approx(p**k * p / 2, rel=1e-6)
    assert torch.equal(d2.argmax(1), task.labels)  # peaks at the right answer
    sub = fi.answer_directions(p, 2, 1, signs=[1, -1])
    assert torch.equal(sub.argmax(1), fi.ModularArithmetic(p=p, op="sub").labels)


def test_grid_spectrum_places_planted_products_and_keeps_energy():
    p, k = 11, 2
    task = fi.ModularArithmetic(p=p, k=k)
    a, b = task.inputs.double().T
    w = 2 * math.pi / p
    unit = torch.cos(w * 3 * a) * torch.sin(w * 5 * b) + 0.5 * torch.cos(w * 2 * b)
    spec = grid_spectrum(unit, p, k)
    assert spec.shape == (6, 6)
    assert torch.allclose(spec.sum(), unit.pow(2).sum())
    total = spec.sum()
    assert (spec[3, 5] / total).item() == pytest.approx(2 / 3, abs=1e-9)  # mean squares 1/4 and 1/8
    assert (spec[0, 2] / total).item() == pytest.approx(1 / 3, abs=1e-9)


def test_block_masks_are_nanda_blocks_for_k_operands():
    p, k = 7, 3
    masks = frequency_block_masks(p, k, [[2], [1, 2]]).reshape(2, 4, 4, 4).bool()
    assert masks[0].sum() == 2**3 - 1 and not masks[0][0, 0, 0] and masks[0][2, 0, 2]  # axes in {const, 2}
    assert masks[1].sum() == 3**3 - 1 and masks[1][1, 2, 0] and not masks[1][3, 0, 0]
    mask_all = operand_frequency_mask(p, 2, [2], mode="all")
    assert mask_all.sum() == 8 and not mask_all[0, 0]


def test_harmonics_and_folding():
    assert fold_frequency(20, 23) == 3 and fold_frequency(23, 23) == 0
    assert harmonics(10, 23, 2) == [10, 3]
    assert harmonics(4, 8, 3) == [4]  # 8 = 0 mod 8 dropped, 12 folds to 4
    assert as_freq_list(3, 11) == [3] and as_freq_list([5, 1, 5], 11) == [1, 5]
    with pytest.raises(ValueError, match="outside 1..5"):
        as_freq_list([0, 6], 11)
