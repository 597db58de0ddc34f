"""The analysis layer on known answers: planted waves, planted and memorising MLPs, a trained model."""

import json
import math

import pytest
import torch
from torch import nn
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

import fourier_interp as fi
from fourier_interp.analysis import (
    FourierProbe,
    LinearProbe,
    cluster_units,
    logit_frequencies,
    low_rank,
    neuron_alignment,
    neuron_spectra,
    plots,
    run_grid,
    weight_frequencies,
    weight_low_rank,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def waves(task, freqs, seed=0):
    """Units over the grid built from cos/sin of each frequency: sums, products, single operands."""
    g = gen(seed)
    x = task.inputs.double()
    total = (x * task.signs).sum(1)
    units = []
    for f in freqs:
        w = 2 * math.pi * f / task.p
        phi = torch.rand(4, generator=g, dtype=torch.float64) * 2 * math.pi
        units += [
            torch.cos(w * total + phi[0]),
            torch.cos(w * x[:, 0] + phi[1]) * torch.cos(w * x[:, -1] + phi[2]),
            3.0 + torch.sin(w * x[:, 1] + phi[3]),  # one operand only, with an offset
        ]
    return torch.stack(units, 1)


class TinyPowerNet(HookedRootModule):
    """A user's own model (no analysis_spec): the planted MLP's maths with one hook."""

    def __init__(self, planted):
        super().__init__()
        self.U = nn.Parameter(planted.U.detach().clone())
        self.W = nn.Parameter(planted.W_out.detach().clone())
        self.hook_hidden = HookPoint()  # [batch, units]
        self.setup()

    def forward(self, x):
        pre = sum(self.U[j][x[:, j]] for j in range(x.shape[1]))
        return self.hook_hidden(pre**x.shape[1]) @ self.W


# ------------------------------------------------------------- planted waves
@pytest.mark.parametrize("p, k, freqs", [(13, 2, [2, 5]), (11, 3, [1, 4]), (11, 2, [3])])
def test_units_built_from_waves_cluster_on_exactly_their_frequency(p, k, freqs):
    task = fi.ModularArithmetic(p=p, k=k)
    res = cluster_units(waves(task, freqs), p, k, harmonic_order=1)
    assert res.freq.tolist() == [f for f in freqs for _ in range(3)]
    assert torch.allclose(res.fraction, torch.ones(len(res.freq)), atol=1e-6)
    assert res.share_clustered == 1.0 and res.frequencies() == freqs
    assert torch.allclose(res.fraction_by_freq.sum(1), torch.ones(len(res.freq)), atol=1e-6)


def test_logits_built_from_answer_directions_give_their_fractions():
    p, k = 13, 3
    task = fi.ModularArithmetic(p=p, k=k)
    alphas = {2: 3.0, 5: 2.0, 6: 1.0}
    logits = sum(a * fi.answer_directions(p, k, f) for f, a in alphas.items())
    logits = logits + torch.randn(task.n, 1, generator=gen()) + torch.randn(1, p, generator=gen(1))  # both means
    res = logit_frequencies(logits, p, k)
    expected = {f: a**2 / sum(b**2 for b in alphas.values()) for f, a in alphas.items()}
    for f in range(1, 7):
        assert res.fraction[f - 1].item() == pytest.approx(expected.get(f, 0.0), abs=1e-5)
    assert res.frequencies() == [2, 5, 6] and res.order[:3] == [2, 5, 6]
    assert res.total == pytest.approx(1.0, abs=1e-5) and res.cumulative[-1].item() == pytest.approx(1.0, abs=1e-5)
    negative = logit_frequencies(-fi.answer_directions(p, k, 4), p, k)  # anti-correlated: not a key frequency
    assert negative.fraction[3].item() == pytest.approx(1.0, abs=1e-6) and negative.frequencies() == []


def test_weights_built_from_waves_and_their_gini():
    p = 23
    basis, _ = fi.fourier_basis(p, dtype=torch.float64)
    embed = basis[[5, 6, 17, 18]].T @ torch.randn(4, 16, generator=gen(), dtype=torch.float64)  # frequencies 3, 9
    spec = weight_frequencies(embed, dim=0, name="W_E")
    assert spec.frequencies() == [3, 9] and spec.fraction[[2, 8]].sum().item() == pytest.approx(1.0)
    flat = weight_frequencies(torch.eye(p), dim=0)
    assert flat.gini == pytest.approx(0.0, abs=1e-9) and spec.gini > 0.7
    per_unit = weight_frequencies(fi.planted_mlp(p, [1, 2, 3, 4]).analysis_spec().unit_input_weights, 2, unit_dim=0)
    assert per_unit.unit_gini == pytest.approx(1 - 1 / 11, abs=1e-6)  # one frequency per unit: the Gini maximum


def test_harmonics_are_credited_to_the_fundamental():
    p = 23  # 2 * 10 = 20 = -3 mod 23: frequency 10's second harmonic is frequency 3
    task = fi.ModularArithmetic(p=p)
    a, b = task.inputs.double().T
    acts = torch.stack([torch.relu(torch.cos(2 * math.pi * f * a / p) + torch.cos(2 * math.pi * f * b / p + 0.7)) for f in (3, 10)], 1)
    pure, family = (cluster_units(acts, p, 2, harmonic_order=h) for h in (1, 2))
    assert pure.freq.tolist() == family.freq.tolist() == [3, 10]
    assert (family.fraction > pure.fraction).all() and (family.fraction > 0.99).all()
    task3 = fi.ModularArithmetic(p=11, k=3)
    x = task3.inputs.double().T
    cube = (sum(torch.cos(2 * math.pi * 2 * x[j] / 11 + j) for j in range(3))) ** 3
    assert cluster_units(cube, 11, 3, harmonic_order=3).fraction.item() == pytest.approx(1.0, abs=1e-6)
    assert cluster_units(cube, 11, 3, harmonic_order=1).fraction.item() < 0.9


def test_low_rank_of_a_planted_rank_r_matrix():
    g = gen()
    for r in (1, 3, 6):
        m = torch.randn(40, r, generator=g) @ torch.randn(r, 30, generator=g)
        res = low_rank(m, threshold=1.0)
        assert res.r == r and res.energy_at(r) == pytest.approx(1.0, abs=1e-10)
        assert res.rank(0.5) <= r and res.energy_at(r - 1) < 1.0
    task = fi.ModularArithmetic(p=13)
    two, five = waves(task, [2]), waves(task, [5])  # each frequency in its own columns, scaled apart
    acts = torch.cat([2 * two @ torch.randn(3, 8, generator=g, dtype=torch.float64), five], 1)
    grid = low_rank(acts - acts.mean(0), p=13, k=2, threshold=0.999)
    assert grid.frequencies() == [2, 5] and (grid.purity > 0.99).all()
    with pytest.raises(ValueError, match="no axis of length"):
        low_rank(torch.randn(5, 6), p=13)


# ------------------------------------------------- planted and memorising MLPs
PLANTED = [(13, 2, "add", [2, 3, 6]), (11, 2, "sub", [2, 3]), (7, 3, "add", [1, 3])]


@pytest.mark.parametrize("p, k, op, freqs", PLANTED)
def test_planted_mlp_gives_exactly_its_frequencies_every_way(p, k, op, freqs):
    model, task = fi.planted_mlp(p, freqs, k=k, op=op), fi.ModularArithmetic(p=p, k=k, op=op)
    report = fi.analyze_frequencies(model, task)
    assert report.accuracy == 1.0 and report.key_frequencies == freqs and report.agree
    assert report.methods == {"weights": freqs, "units": freqs, "logits": freqs}
    assert report.units.share_clustered == 1.0
    assert torch.allclose(report.units.fraction, torch.ones(model.cfg.d_hidden), atol=1e-6)
    assert report.logits.explained(freqs) == pytest.approx(1.0, abs=1e-5)
    assert fi.key_frequencies(model, task) == freqs
    grid = run_grid(model, task, ["hook_post", "hook_pre"])  # a caller's own single pass
    assert fi.analyze_frequencies(model, task, grid=grid).key_frequencies == freqs
    align = neuron_alignment(model, task)
    assert align.share_single == 1.0 and align.frequencies() == freqs
    assert align.max_phase_error < 1e-6
    json.dumps(report.to_dict()), json.dumps(align.to_dict())


def test_phase_error_measures_a_shifted_output_phase():
    p = 13
    spec = fi.planted_mlp(p, [4], op="sub").analysis_spec()
    a = torch.arange(p, dtype=torch.float64)
    shifted = torch.cos(2 * math.pi * 4 * a / p + 0.5)  # neuron 0 (all phases 0) with its output shifted by 0.5
    w = spec.unit_output_weights.clone()
    w[0] = shifted.float() * w[0].norm() / shifted.norm()
    res = neuron_spectra(spec.unit_input_weights, w, signs=[1, -1])
    assert res.phase_error[0].item() == pytest.approx(0.5, abs=1e-5) and res.phase_error[1:].max() < 1e-5
    assert neuron_spectra(spec.unit_input_weights, w).phase_error[1:].max() > 0.1  # wrong signs: relation fails
    with pytest.raises(ValueError, match="units, p"):
        neuron_spectra(spec.unit_input_weights, w[:, :5])


def test_power_two_units_need_their_harmonic():
    model, task = fi.planted_mlp(11, [2, 3]), fi.ModularArithmetic(p=11)
    pure = fi.unit_frequencies(model, task, harmonic_order=1)
    assert torch.allclose(pure.fraction, torch.full_like(pure.fraction, 0.8), atol=1e-6)  # 1 of 1.25 in the pure block
    assert pure.share_clustered == 0.0 and fi.unit_frequencies(model, task).share_clustered == 1.0


def test_margin_of_balanced_all_frequency_planted_mlp_is_the_reference():
    p = 11
    align = neuron_alignment(fi.planted_mlp(p, range(1, 6)), fi.ModularArithmetic(p=p))
    assert align.coverage == 1.0 and align.margin_ratio == pytest.approx(1.0, abs=1e-6)
    assert align.margin < align.balanced_margin  # planted W_out is scaled for a logit margin, not balanced
    subset = neuron_alignment(fi.planted_mlp(p, [2, 3]), fi.ModularArithmetic(p=p))
    assert 0 < subset.margin_ratio < 1  # Li et al.: the max-margin network uses every frequency
    random = fi.normalized_margin(fi.HookedMLP(fi.MLPConfig(p=p)), fi.ModularArithmetic(p=p))
    assert random < 0


def test_memorizing_mlp_is_not_fourier():
    model, task = fi.memorizing_mlp(11), fi.ModularArithmetic(p=11)
    report = fi.analyze_frequencies(model, task)
    assert report.accuracy == 1.0
    assert report.units.share_clustered < 0.05 and report.methods["units"] == []
    assert not report.agree
    assert report.weights["embed"].gini < 0.01
    assert neuron_alignment(model).share_single == 0.0


def test_neuron_alignment_refuses_a_task_the_model_was_not_built_for():
    with pytest.raises(ValueError, match="model.cfg.p=11 does not match task.p=13"):
        neuron_alignment(fi.planted_mlp(11, [2]), fi.ModularArithmetic(p=13))


def test_a_users_own_model_works_from_hook_names_alone():
    planted = fi.planted_mlp(13, [3, 4])
    model, task = TinyPowerNet(planted), fi.ModularArithmetic(p=13)
    report = fi.analyze_frequencies(model, task)  # no spec: logits only
    assert report.key_frequencies == [3, 4] and report.units is None and "weights" not in report.methods
    assert fi.key_frequencies(model, task, "hook_hidden") == [3, 4]
    assert fi.unit_frequencies(model, task, "hook_hidden").frequencies() == [3, 4]
    assert FourierProbe.from_hook(model, task, "hook_hidden").readable("sum") == [3, 4]
    with pytest.raises(ValueError, match="pass a hook name"):
        fi.unit_frequencies(model, task)


# -------------------------------------------------------------------- probes
def test_linear_probe_recovers_a_planted_feature_and_fails_on_noise():
    g = gen()
    x = torch.randn(600, 32, generator=g)
    feature = x @ torch.randn(32, generator=g) + 0.01 * torch.randn(600, generator=g)
    assert LinearProbe().evaluate(x, feature).test_score > 0.99
    assert LinearProbe().evaluate(x, torch.randn(600, generator=g)).test_score < 0.1
    labels = (x[:, :3].argmax(1)).long()
    assert LinearProbe(max_iter=50).evaluate(x, labels).test_score > 0.9
    probe = LinearProbe(ridge=0).fit(x, torch.stack([feature, 2 * feature], 1))
    assert probe.predict(x[:5]).shape == (5, 2)


def test_fourier_probe_reads_planted_frequencies():
    task = fi.ModularArithmetic(p=13)
    angle = 2 * math.pi * task.labels.double() / 13
    cos_sin = torch.stack([f(fr * angle) for fr in (2, 5) for f in (torch.cos, torch.sin)], 1)
    x = cos_sin @ torch.randn(4, 10, generator=gen(), dtype=torch.float64)  # cos/sin(w (a + b)), mixed
    table = FourierProbe(13).evaluate(x, task.inputs)
    assert table.readable("sum") == [2, 5] and table.readable("a1") == []
    frame = table.to_dataframe()
    assert len(frame) == 6 * 3 and set(frame.columns) >= {"freq", "target", "cos_r2", "sin_r2", "readable"}


def test_both_probes_share_fit_score_evaluate():
    task = fi.ModularArithmetic(p=13, frac_train=0.6)
    angle = 2 * math.pi * task.labels.double() / 13
    x = torch.stack([torch.cos(3 * angle), torch.sin(3 * angle)], 1) @ torch.randn(2, 8, generator=gen(), dtype=torch.float64)
    train, test = task.train_idx, task.test_idx
    fourier = FourierProbe(13)
    assert fourier.fit(x[train], task.inputs[train]) is fourier
    table = fourier.score(x[test], task.inputs[test])
    assert table.readable("sum") == [3] and table.readable("a1") == []
    held_out = FourierProbe(13).evaluate(x, task.inputs)
    assert held_out.readable("sum") == [3] and held_out.targets == ["a1", "a2", "sum"]

    y = torch.cos(3 * angle)
    linear = LinearProbe()
    assert linear.fit(x[train], y[train]) is linear
    assert linear.score(x[test], y[test]) > 0.99
    assert LinearProbe().evaluate(x, y).test_score > 0.99


def test_fourier_probe_fit_returns_the_probe_and_evaluate_the_table():
    task = fi.ModularArithmetic(p=13)
    angle = 2 * math.pi * task.labels.double() / 13
    x = torch.stack([torch.cos(2 * angle), torch.sin(2 * angle)], 1) @ torch.randn(2, 6, generator=gen(), dtype=torch.float64)
    probe = FourierProbe(13)
    assert probe.fit(x, task.inputs) is probe
    with pytest.raises(AttributeError, match="readable"):
        probe.readable("sum")  # the table API on the probe was removed: evaluate() or score() give the table
    assert FourierProbe(13).evaluate(x, task.inputs).readable("sum") == [2]
    assert len(FourierProbe(13).evaluate(x, task.inputs).rows) == 6 * 3


def test_probe_inputs_are_validated():
    task = fi.ModularArithmetic(p=7)
    x = torch.randn(49, 5, generator=gen(), dtype=torch.float64)
    table = FourierProbe(7).evaluate(x, task.inputs)
    with pytest.raises(ValueError, match=r"target='typo' is not in this table; expected one of \['a1', 'a2', 'sum'\]"):
        table.readable("typo")
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got numpy.ndarray; .*torch.as_tensor\(x\)"):
        LinearProbe().fit(x.numpy(), x[:, 0])
    with pytest.raises(TypeError, match=r"y must be a torch.Tensor, got numpy.ndarray"):
        LinearProbe().evaluate(x, x[:, 0].numpy())
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got numpy.ndarray"):
        LinearProbe().fit(x, x[:, 0]).predict(x.numpy())
    with pytest.raises(TypeError, match=r"acts must be a torch.Tensor, got numpy.ndarray"):
        FourierProbe(7).evaluate(x.numpy(), task.inputs)
    with pytest.raises(TypeError, match=r"inputs must be a torch.Tensor, got numpy.ndarray"):
        FourierProbe(7).fit(x, task.inputs.numpy())
    with pytest.raises(TypeError, match=r"target must be a torch.Tensor, got numpy.ndarray"):
        LinearProbe.from_hook(fi.planted_mlp(7, [1]), task, "hook_post", task.labels.numpy())
    with pytest.raises(ValueError, match="acts has 49 rows but inputs has 48"):
        FourierProbe(7).fit(x, task.inputs[:48])
    with pytest.raises(RuntimeError, match="before fit"):
        FourierProbe(7).score(x, task.inputs)


def test_probe_named_targets_and_errors():
    model, task = fi.planted_mlp(11, [2]), fi.ModularArithmetic(p=11)
    assert LinearProbe.from_hook(model, task, "hook_post", "cos 2 sum").result.test_score > 0.99
    assert LinearProbe.from_hook(model, task, "hook_pre", "sin 2 a1").result.test_score > 0.99
    with pytest.raises(ValueError, match="not recognised"):
        LinearProbe.from_hook(model, task, "hook_post", "tan 2 sum")
    with pytest.raises(ValueError, match="rows"):
        LinearProbe().fit(torch.randn(5, 3), torch.randn(4))


# ----------------------------------------------------------- inputs and errors
def test_grid_activations_positions_and_bad_hooks():
    model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=24))
    task = fi.ModularArithmetic(p=7)
    assert fi.grid_activations(model, task).shape == (49, 24)
    assert fi.grid_activations(model, task, "blocks.0.attn.hook_pattern").shape == (49, 2 * 3)  # last query
    assert fi.grid_activations(model, task, "blocks.0.hook_resid_post", pos=None).shape == (49, 3 * 16)
    with pytest.raises(ValueError, match="hook_post"):
        fi.unit_frequencies(model, task, "blocks.0.mlp.hook_pots")
    with pytest.raises(ValueError, match="task.p=11"):
        fi.unit_frequencies(model, fi.ModularArithmetic(p=11))
    with pytest.raises(TypeError, match="task"):
        fi.key_frequencies(model, "p=7")
    with pytest.raises(ValueError, match="p\\*\\*k"):
        cluster_units(torch.randn(40, 3), 7, 2)
    rnn = fi.HookedRNN(fi.RNNConfig(p=7, d_embed=8, d_hidden=12))
    assert fi.grid_activations(rnn, task).shape == (49, 12)
    mats = weight_low_rank(rnn)
    assert mats["layers.0.W_hh"].aligned_via == "W_E @ layers.0.W_ih @ layers.0.W_hh"


def test_plots_have_one_bar_per_frequency():
    model, task = fi.planted_mlp(11, [2, 5]), fi.ModularArithmetic(p=11)
    report = fi.analyze_frequencies(model, task)
    fig = plots.frequency_norms(list(report.weights.values()), highlight=report.key_frequencies)
    assert len(fig.axes) == 2 and all(len(ax.patches) == 5 for ax in fig.axes)
    assert len(plots.unit_frequencies(report.units).axes[0].patches) == 5
    assert len(plots.logit_frequencies(report.logits).axes[0].patches) == 5
    heat = plots.unit_spectrum(fi.grid_activations(model, task), 11, unit=0)
    assert len(heat.axes[0].images) == 1 and heat.axes[0].images[0].get_array().shape == (6, 6)


# -------------------------------------------------------------- trained model
@pytest.fixture(scope="module")
def grokked(trained_small):
    """nanda2023 at p = 23 trained until 20 evaluations past grokking (conftest; trained once per session)."""
    model, task, _ = trained_small("transformer")
    return model, task


@pytest.mark.slow
def test_three_key_frequency_methods_agree_on_a_trained_transformer(grokked):
    model, task = grokked
    report = fi.analyze_frequencies(model, task)
    assert report.accuracy > 0.99
    assert report.agree, report
    key = report.key_frequencies
    assert 1 <= len(key) <= 7 and report.methods["logits"] == key
    assert report.logits.explained(key) > 0.8
    assert report.units.share_clustered > 0.5
    assert min(report.weights["embed"].gini, report.weights["unembed"].gini) > 0.3
    assert set(low_rank(model.W_E[:23].detach(), p=23).frequencies()) <= set(key)
    assert FourierProbe.from_hook(model, task).readable("sum") == key
    json.dumps(report.to_dict())


def test_pure_block_share_follows_nanda_and_differs_from_the_family_rule():
    import math

    import torch

    from fourier_interp.analysis import cluster_units

    p = 13
    task = fi.ModularArithmetic(p=p)
    a, b = task.inputs[:, 0].double(), task.inputs[:, 1].double()
    w = 2 * math.pi * 3 / p
    product = torch.cos(w * a) * torch.cos(w * b)                    # only the pure {cos 3}^2 block
    square = (torch.cos(w * a) + torch.cos(w * b + 1.0)) ** 2       # 20% of its variance at 2f
    res = cluster_units(torch.stack([product, square], 1), p, 2, harmonic_order=2)
    assert res.clustered.tolist() == [True, True]
    assert res.share_clustered == 1.0 and res.share_clustered_pure == 0.5
