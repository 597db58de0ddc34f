"""Clock or pizza: Zhong et al.'s measures on known answers, and verify naming the algorithm."""

import math

import pytest
import torch

import fourier_interp as fi
from fourier_interp.analysis import distance_irrelevance, gradient_symmetricity, logit_forms
from fourier_interp.analysis.algorithm import pizza_magnitude, shift_orbits

PIZZA_CLAIM = "distance_irrelevance"  # the key of the shape claim a pizza fails


def _forms(p, freqs, clock=1.0, pizza=0.0, op="add"):
    """Logits ``sum_f clock * C_f + pizza * P_f`` over the grid: the two forms, planted exactly."""
    task = fi.ModularArithmetic(p=p, op=op)
    s = (task.inputs * task.signs).sum(1).remainder(p).double()
    c = torch.arange(p, dtype=torch.float64)
    logits = torch.zeros(task.n, p, dtype=torch.float64)
    for f in freqs:
        C = torch.cos(2 * math.pi * f / p * (s[:, None] - c))
        logits += clock * C + pizza * pizza_magnitude(task, f)[:, None] * C
    return logits, task


# ------------------------------------------------------------ known answers
def test_pizza_magnitude_is_cos_of_half_the_difference():
    task = fi.ModularArithmetic(p=13)
    a, b = task.inputs[:, 0].double(), task.inputs[:, 1].double()
    expected = torch.cos(2 * math.pi * 4 / 13 * (a - b) / 2).abs()
    torch.testing.assert_close(pizza_magnitude(task, 4), expected)


def test_shift_orbits_group_inputs_by_difference():
    task = fi.ModularArithmetic(p=11)
    orbit = shift_orbits(task)
    d = (task.inputs[:, 0] - task.inputs[:, 1]).remainder(11)
    for o in orbit.unique():
        assert len(d[orbit == o].unique()) == 1 and int((orbit == o).sum()) == 11
    assert len(orbit.unique()) == 11
    k3 = fi.ModularArithmetic(p=7, k=3)
    assert torch.bincount(shift_orbits(k3)).tolist() == [7] * 49  # 49 orbits of p inputs each


@pytest.mark.parametrize("op", ["add", "sub"])
def test_clock_form_logits_are_distance_irrelevant_and_pizza_forms_are_not(op):
    clock, task = _forms(23, [3, 7], op=op)
    pizza, _ = _forms(23, [3, 7], clock=0.0, pizza=1.0, op=op)
    res = distance_irrelevance(clock, task)
    assert res.value == 1.0 and res.difference_share == 0.0  # the correct logit is constant
    res = distance_irrelevance(pizza, task)
    assert res.value < 1e-6 and res.difference_share > 1 - 1e-6  # it depends on a - b only
    assert res.table.shape == (23, 23)


def test_pizza_index_reads_the_share_of_amplitude_carried_by_the_pizza_form():
    freqs = [2, 5, 9]
    clock, task = _forms(29, freqs)
    pizza, _ = _forms(29, freqs, clock=0.0, pizza=1.0)
    assert logit_forms(clock, task, freqs).pizza_index == pytest.approx(0.0, abs=1e-9)
    assert logit_forms(pizza, task, freqs).pizza_index == pytest.approx(1.0, abs=1e-9)
    # equal mean amplitudes: x C + y P with x = y m_f gives rho = 1/2 at every frequency
    m = logit_forms(pizza, task, freqs).mean_magnitude
    half = sum(_forms(29, [f], clock=float(m[i]), pizza=1.0)[0] for i, f in enumerate(freqs))
    res = logit_forms(half, task, freqs)
    torch.testing.assert_close(res.pizza_index_by_freq, torch.full((3,), 0.5, dtype=torch.float64))
    assert res.clock_total + float(res.pizza_share.sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="freqs"):
        logit_forms(clock, task, [15])


def test_distance_irrelevance_checks_its_arguments():
    logits, task = _forms(11, [2])
    with pytest.raises(ValueError, match="logit="):
        distance_irrelevance(logits, task, logit="largest")
    with pytest.raises(ValueError, match="rows"):
        distance_irrelevance(logits[:10], task)
    assert distance_irrelevance(logits, task, logit="wrong").logit == "wrong"


def test_gradient_symmetricity_is_forced_by_constant_attention_and_not_by_softmax():
    task = fi.ModularArithmetic(p=11)
    constant = fi.HookedTransformer(fi.TransformerConfig(p=11, d_model=32, d_mlp=64, attn_coeff=0.0))
    res = gradient_symmetricity(constant, task)
    assert res.forced and res.value == pytest.approx(1.0)
    softmax = fi.HookedTransformer(fi.TransformerConfig(p=11, d_model=32, d_mlp=64))
    res = gradient_symmetricity(softmax, task, answers="correct", n_samples=50)
    assert not res.forced and res.value < 1 - 1e-4 and res.n_samples == 50  # near 1 untrained, but not exactly
    with pytest.raises(ValueError, match="hook="):
        gradient_symmetricity(fi.HookedMLP(fi.MLPConfig(p=11)), task)
    with pytest.raises(ValueError, match="answers="):
        gradient_symmetricity(softmax, task, answers="all")


def test_gradient_symmetricity_matches_autograd_on_one_input():
    model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32))
    task = fi.ModularArithmetic(p=7)
    res = gradient_symmetricity(model, task, n_samples=1, answers="correct", seed=3)
    row = int(torch.randperm(task.n, generator=torch.Generator().manual_seed(3))[0])
    embed = model.W_E[model.to_tokens(task.inputs[row : row + 1])].detach().requires_grad_(True)
    resid = embed + model.W_pos
    resid = model.blocks[0](resid)
    logit = (resid[:, -1] @ model.W_U)[0, task.labels[row]]
    (g,) = torch.autograd.grad(logit, embed)
    expected = torch.nn.functional.cosine_similarity(g[0, 0], g[0, 1], dim=0)
    assert res.value == pytest.approx(float(expected), abs=1e-5)


# ----------------------------------------------------- the attention rate
@pytest.mark.parametrize("attn_coeff,n_layers", [(0.0, 1), (0.5, 1), (0.0, 2), (0.3, 2)])
def test_attention_rate_fast_path_equals_hooked_path(attn_coeff, n_layers):
    cfg = fi.TransformerConfig(p=11, d_model=32, n_heads=2, d_head=16, d_mlp=64, attn_coeff=attn_coeff,
                               n_layers=n_layers, seed=2)
    model, task = fi.HookedTransformer(cfg), fi.ModularArithmetic(p=11)
    slow, fast = model(task.inputs), model.fast_logits(task.inputs)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    g_slow = torch.autograd.grad(slow.square().mean(), model.W_E)[0]
    g_fast = torch.autograd.grad(model.fast_logits(task.inputs).square().mean(), model.W_E)[0]
    torch.testing.assert_close(g_fast, g_slow, atol=1e-5, rtol=1e-4)


def test_constant_attention_weights_every_visible_position_one():
    model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32, attn_coeff=0.0))
    _, cache = model.run_with_cache(fi.ModularArithmetic(p=7).inputs[:3])
    pattern = cache["blocks.0.attn.hook_pattern"]
    torch.testing.assert_close(pattern[0, 0], torch.tensor([[1.0, 0, 0], [1, 1, 0], [1, 1, 1]]))


@pytest.mark.parametrize("bad", [1.5, -0.1, True, "1"])
def test_attention_rate_is_validated(bad):
    with pytest.raises(ValueError, match="attn_coeff"):
        fi.TransformerConfig(p=7, attn_coeff=bad)


def test_zhong_presets():
    clock, task, cfg = fi.from_preset("zhong2023-clock")
    pizza, _, _ = fi.from_preset("zhong2023-pizza")
    assert (task.p, task.frac_train, cfg.lr, cfg.weight_decay) == (59, 0.8, 1e-3, 2.0)
    assert (clock.cfg.d_model, clock.cfg.n_heads, clock.cfg.d_head, clock.cfg.d_mlp) == (128, 4, 32, 512)
    assert clock.cfg.attn_coeff == 1.0 and pizza.cfg.attn_coeff == 0.0


# ------------------------------------------------------------ verify's verdict
@pytest.mark.parametrize("op", ["add", "sub"])
def test_planted_pizza_is_named_pizza_and_fails_the_pizza_claim(op):
    model, task = fi.planted_pizza(p=23, freqs=[3, 7], op=op), fi.ModularArithmetic(p=23, op=op)
    assert fi.accuracy(model, task) == 1.0
    report = fi.verify(model, task)
    assert report.algorithm == "pizza" and report.algorithm is fi.Algorithm.PIZZA
    assert not report.passed and PIZZA_CLAIM in {c.key for c in report.failed_claims}
    assert report.key_frequencies == [3, 7]
    assert report.claim("unit_variance").passed  # the same Fourier features as a clock
    assert report.claim("unit_projection").passed and report.blocks == 1
    assert report.claim("pizza_index").value > 0.9
    assert report.claim("amplitude_modulation").value > 0.4


@pytest.mark.parametrize("k,freqs", [(2, [3, 7]), (3, [2, 5])])
def test_planted_clocks_are_named_clock_and_pass(k, freqs):
    p = 23 if k == 2 else 11
    report = fi.verify(fi.planted_mlp(p=p, freqs=freqs, k=k), fi.ModularArithmetic(p=p, k=k))
    assert report.passed and report.algorithm == "clock" and str(report.algorithm) == "clock"
    assert report.claim(PIZZA_CLAIM).value == pytest.approx(1.0)


def test_lookup_and_untrained_models_are_non_fourier():
    assert fi.verify(fi.memorizing_mlp(p=23), fi.ModularArithmetic(p=23)).algorithm == "non-fourier"
    untrained = fi.HookedTransformer(fi.TransformerConfig(p=23, seed=1))
    assert fi.verify(untrained, fi.ModularArithmetic(p=23)).algorithm == "non-fourier"


def test_thresholds_are_checked():
    with pytest.raises(ValueError, match="pizza band"):
        fi.Thresholds(distance_irrelevance=0.3, pizza_distance_irrelevance=0.4)
    with pytest.raises(ValueError, match="distance_irrelevance"):
        fi.Thresholds(distance_irrelevance=1.5)
    with pytest.raises(TypeError, match="collapse"):
        fi.Thresholds(collapse="0.1")
    with pytest.raises(ValueError, match="max_blocks"):
        fi.Thresholds(max_blocks=0)


def test_report_carries_the_algorithm(tmp_path):
    report = fi.verify(fi.planted_pizza(p=23, freqs=[2, 9]), fi.ModularArithmetic(p=23))
    assert report.to_dict()["algorithm"] == "pizza"
    assert "algorithm: pizza" in str(report) and "algorithm='pizza'" in repr(report)
    page = report.to_html(tmp_path / "r.html")
    assert "id='fig-algorithm'" in page and "<strong>pizza</strong>" in page


# ------------------------------------------------ Zhong et al.'s trained pair
@pytest.mark.parametrize("name,algorithm", [("transformer-clock-p59", "clock"), ("transformer-pizza-p59", "pizza")])
def test_shipped_zhong_models_are_named_right(name, algorithm):
    model, task = fi.load_pretrained(name)
    report = fi.verify(model, task, name=name)
    assert report.algorithm == algorithm
    assert report.passed == (algorithm == "clock")
    if algorithm == "pizza":  # every core and clock claim holds: only the shape tells it from a clock
        assert {c.role for c in report.failed_claims} == {"shape"} and PIZZA_CLAIM in report.reason + str(
            [c.key for c in report.failed_claims])


def test_shipped_zhong_pair_falls_on_the_papers_side():
    clock, task = fi.load_pretrained("transformer-clock-p59")
    pizza, _ = fi.load_pretrained("transformer-pizza-p59")
    di_clock, di_pizza = distance_irrelevance(clock, task).value, distance_irrelevance(pizza, task).value
    gs_clock, gs_pizza = gradient_symmetricity(clock, task), gradient_symmetricity(pizza, task)
    assert di_clock > di_pizza + 0.3
    assert gs_pizza.value > gs_clock.value + 0.3
    assert gs_pizza.forced and not gs_clock.forced  # constant attention at '=' sums the operands


def test_mlp_on_summed_embeddings_is_pizza_prone_by_construction():
    model = fi.HookedMLP(fi.MLPConfig(p=11, form="embed_relu", combine="sum", d_embed=8, d_hidden=32, seed=1))
    task = fi.ModularArithmetic(p=11)
    torch.testing.assert_close(model.fast_logits(task.inputs), model(task.inputs), atol=1e-5, rtol=1e-5)
    assert model.W_in.shape == (8, 32)  # one block shared by every operand
    assert gradient_symmetricity(model, task).forced
    concat = fi.HookedMLP(fi.MLPConfig(p=11, form="embed_relu", d_embed=8, d_hidden=32, seed=1))
    assert not gradient_symmetricity(concat, task).forced
