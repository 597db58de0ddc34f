"""Analysis and verification over groups: planted GCR found exactly, lookups fail, Z_p agrees with frequencies."""

import dataclasses

import pytest
import torch

import fourier_interp as fi
from fourier_interp import groups
from fourier_interp.analysis import irreps as ir
from fourier_interp.evaluation import grid_logits
from fourier_interp.verification.groups import (
    GROUP_CLAIMS,
    GroupVerificationReport,
    name_group_algorithm,
    verify_group,
)


@pytest.mark.parametrize("group,planted", [
    (groups.symmetric(4), ["(3,1)"]),
    (groups.symmetric(4), ["(2,1,1)", "(2,2)"]),
    (groups.dihedral(5), ["rot2"]),
    (groups.dihedral(6), ["rot1", "alt"]),
    (groups.alternating(4), ["(3,1)"]),
])
def test_planted_gcr_is_found_exactly_and_passes(group, planted):
    task = fi.GroupTask(group)
    model = fi.planted_gcr(group, planted)
    assert fi.accuracy(model, task) == 1.0
    report = verify_group(model, task)
    assert isinstance(report, fi.VerificationReport) and isinstance(report, GroupVerificationReport)
    assert report.passed and report.algorithm == "gcr"
    assert sorted(report.key_irreps) == sorted(planted)
    assert report.claim("logits").value > 1 - 1e-6 and report.claim("answer_share").value > 1 - 1e-6
    assert report.claim("units").value == 1.0
    assert sorted(report.extras["irreps"].units.counts()) == sorted(planted)


@pytest.mark.parametrize("group", [groups.symmetric(4), groups.dihedral(5)])
def test_lookup_table_fails_as_non_representation(group):
    task = fi.GroupTask(group)
    report = verify_group(fi.memorizing_mlp(task=task), task)
    assert not report.passed and report.algorithm == "non-representation"
    assert "unit_projection" in {c.key for c in report.failed_claims}  # no irrep block per unit carries it
    assert report.blocks is None and report.claim("units").value < 0.05
    assert report.claim("cosets").value < 0.05 and "not coset-like" in report.reason  # one pair per unit: no cosets


def test_logit_shares_on_z_p_equal_the_frequency_analysis():
    task = fi.ModularArithmetic(23)
    for model in (fi.planted_mlp(23, [3, 7]), fi.HookedTransformer(fi.TransformerConfig(p=23, d_model=32, n_heads=2,
                                                                                        d_head=16, d_mlp=64))):
        logits = grid_logits(model, task)
        freq = fi.logit_frequencies(logits, 23, 2).fraction.double()
        irr = ir.logit_irreps(logits, task).fraction[1:].double()
        torch.testing.assert_close(irr, freq, atol=1e-6, rtol=1e-5)
    sub = fi.ModularArithmetic(23, op="sub")  # the task's answers carry the signs
    logits = grid_logits(fi.planted_mlp(23, [4], op="sub"), sub)
    assert ir.logit_irreps(logits, sub).key == ["f4"]


def test_restricted_and_excluded_logits_split_the_answers_functions():
    s4 = groups.symmetric(4)
    task = fi.GroupTask(s4)
    logits = grid_logits(fi.planted_gcr(s4, ["(3,1)"]), task)
    full = float(torch.nn.functional.cross_entropy(logits, task.labels))
    assert ir.restricted_loss(logits, task, ["(3,1)"]) == pytest.approx(full, abs=1e-6)
    assert ir.excluded_loss(logits, task, ["(3,1)"]) > 0.9 * torch.log(torch.tensor(24.0)).item()
    # restricted + excluded = the logits plus the bias correction
    kept = ir.restricted_logits(logits, task, ["(2,2)"])
    removed = ir.excluded_logits(logits, task, ["(2,2)"])
    torch.testing.assert_close(kept + removed, logits + removed.mean(0, keepdim=True), atol=1e-9, rtol=0)


def test_irrep_ablation_removes_exactly_the_chosen_irreps():
    s4 = groups.symmetric(4)
    task = fi.GroupTask(s4)
    model = fi.planted_gcr(s4, ["(3,1)", "(2,1,1)"])
    assert ir.irrep_accuracy(model, task, "hook_post", ["(2,2)"]) == 1.0  # not planted: nothing changes
    assert ir.irrep_accuracy(model, task, "hook_post", ["(3,1)"]) == 1.0  # (2,1,1) alone still decides
    assert ir.irrep_accuracy(model, task, "hook_post", ["(3,1)", "(2,1,1)"]) < 0.2
    x = torch.randn(task.n, 3, generator=torch.Generator().manual_seed(0))
    kept = ir.project_grid_irreps(x, task, ["(3,1)"], mode="keep")
    torch.testing.assert_close(kept + ir.project_grid_irreps(x, task, ["(3,1)"]), x, atol=1e-5, rtol=0)


def test_irrep_norms_of_embeddings_name_the_irrep():
    d5 = groups.dihedral(5)
    spec = fi.planted_gcr(d5, ["rot1"]).analysis_spec()
    shares = ir.irrep_norms(spec.unit_input_weights, d5, dim=2)
    assert d5.irrep_names[int(shares.argmax())] == "rot1" and float(shares.max()) > 1 - 1e-6


def test_multiplication_is_the_clock_in_the_log_basis():
    task = fi.ModularArithmetic(23, op="mul")
    report = verify_group(fi.planted_gcr(task.group, ["f3", "f5"]), task)
    assert report.passed and report.algorithm == "clock" and report.key_frequencies == [3, 5]
    assert repr(fi.verify(fi.planted_gcr(task.group, ["f3", "f5"]), task)) == repr(report)  # fi.verify routes here
    with pytest.raises(fi.InvalidArgumentError, match="log basis"):
        fi.analyze_frequencies(fi.planted_gcr(task.group, ["f3"]), task)  # the Z_p analyses refuse, with the way round


def test_planted_gcr_refuses_an_unfaithful_choice():
    with pytest.raises(fi.InvalidArgumentError, match="faithful"):
        fi.planted_gcr(groups.symmetric(4), ["(2,2)"])
    with pytest.raises(fi.InvalidArgumentError, match="irreps"):
        fi.planted_gcr(groups.symmetric(4), ["rot1"])


def test_claims_carry_keys_and_roles_and_the_name_follows_the_table():
    s4 = groups.symmetric(4)
    report = verify_group(fi.planted_gcr(s4, ["(3,1)"]), fi.GroupTask(s4))
    roles = {c.key: c.role for c in report.claims}
    assert roles == {key: role for key, (role, _) in GROUP_CLAIMS.items()}
    by_key = report.claims_by_key()
    assert name_group_algorithm(by_key, cyclic=False)[0] == "gcr"
    assert name_group_algorithm(by_key, cyclic=True)[0] == "clock"
    flipped = dict(by_key, units=dataclasses.replace(by_key["units"], passed=False))
    assert name_group_algorithm(flipped, cyclic=False)[0] == "coset"  # the planted GCR's units are coset-like too
    flipped["cosets"] = dataclasses.replace(by_key["cosets"], passed=False)
    # units that are neither irrep-selective by variance nor coset-like, but work projected onto one
    # irrep block each (the per-unit projection, a core claim, holds): GCR
    assert name_group_algorithm(flipped, cyclic=False)[0] == "gcr"
    assert name_group_algorithm(flipped, cyclic=False, blocks=2)[0] == "gcr-superposed"
    assert name_group_algorithm(flipped, cyclic=True, blocks=2)[0] == "clock-superposed"
    flipped["unit_projection"] = dataclasses.replace(by_key["unit_projection"], passed=False)
    assert name_group_algorithm(flipped, cyclic=False, blocks=None)[0] == "non-representation"
    flipped["accuracy"] = dataclasses.replace(by_key["accuracy"], passed=False)
    assert name_group_algorithm(flipped, cyclic=False) == ("non-representation", "the model does not solve the task")


def test_answer_share_splits_off_what_does_not_go_through_the_product():
    """Known answer: GCR logits plus a term with no answer-dependent part, and softmax-invariant shifts."""
    d5 = groups.dihedral(5)
    task = fi.GroupTask(d5)
    logits = grid_logits(fi.planted_gcr(d5, ["rot1", "rot2"]), task)
    noise = torch.randn(logits.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    noise = ir.centred_logits(noise, task)
    by_answer = torch.zeros(d5.order, d5.order, dtype=torch.float64).index_add_(0, task.labels, noise) / d5.order
    noise = noise - by_answer[task.labels]  # varies between inputs with the same answer only
    base = ir.logit_irreps(logits, task)
    mixed = ir.logit_irreps(logits + 0.5 * noise * logits.std() / noise.std(), task)
    c, n = ir.centred_logits(logits, task).pow(2).sum(), (0.5 * noise * logits.std() / noise.std()).pow(2).sum()
    assert base.answer_share == pytest.approx(1.0, abs=1e-9)
    assert mixed.answer_share == pytest.approx(float(c / (c + n)), rel=1e-6)
    assert mixed.of_answer(mixed.key) == pytest.approx(1.0, abs=1e-6) and mixed.key == base.key
    shift = torch.randn(task.n, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)  # per input
    shifted = ir.logit_irreps(logits + shift, task)
    torch.testing.assert_close(shifted.fraction, base.fraction)
    assert shifted.answer_share == pytest.approx(base.answer_share)


def test_verdict_is_invariant_to_permuting_units():
    s4 = groups.symmetric(4)
    task = fi.GroupTask(s4)
    model = fi.planted_coset(s4)
    perm = torch.randperm(model.cfg.d_hidden, generator=torch.Generator().manual_seed(0))
    permuted = fi.planted_coset(s4)
    with torch.no_grad():
        permuted.W_in.copy_(model.W_in[:, perm])
        permuted.b_in.copy_(model.b_in[perm])
        permuted.W_out.copy_(model.W_out[perm])
    a, b = verify_group(model, task), verify_group(permuted, task)
    assert a.algorithm == b.algorithm == "coset"
    for key in ("units", "logits", "cosets", "ablation"):
        assert a.claim(key).value == pytest.approx(b.claim(key).value, abs=1e-9)


@pytest.mark.slow
def test_power_mlp_trained_on_s4_passes_as_gcr_with_its_irreps_named():
    s4 = groups.symmetric(4)
    task = fi.GroupTask(s4, frac_train=0.7, seed=0)
    model = fi.HookedMLP(fi.MLPConfig(**task.config_fields(), form="power", d_hidden=128, seed=0))
    fi.train(model, task, fi.TrainConfig(steps=1500, lr=3e-3, weight_decay=3.0, betas=(0.9, 0.98), eval_every=100,
                                         progress=False))
    assert fi.accuracy(model, task, "test") >= 0.99
    report = verify_group(model, task)
    assert report.passed and report.algorithm == "gcr", report
    assert report.key_irreps and set(report.key_irreps) <= set(s4.irrep_names[1:])
    # the characters explain the answer-dependent logits; ~0.15 of the centred logits do not go through g1 g2
    assert report.claim("logits").value >= 0.9
    assert 0.5 < report.claim("answer_share").value < 0.95


@pytest.mark.slow
def test_multiplication_mod_23_groks_and_passes_with_sparse_frequencies_in_the_log_basis():
    from fourier_interp.presets import preset

    model, task, cfg = fi.from_preset("mul113", seed=0, **preset("mul113").small, progress=False, threads=1)
    assert task.op == "mul" and task.modulus == 23 and task.p == 22
    history = fi.train(model, task, cfg)
    assert history.grokked_step is not None and fi.accuracy(model, task, "test") >= 0.99
    report = verify_group(model, task)
    assert report.passed and report.algorithm == "clock", report
    assert 1 <= len(report.key_frequencies) <= 5  # of the 11 frequencies of Z_22: sparse, as for addition
    assert set(report.key_frequencies) <= set(range(1, 12))
    assert sorted(report.key_irreps) == sorted(f"f{f}" for f in report.key_frequencies)
