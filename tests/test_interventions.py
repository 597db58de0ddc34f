"""Interventions on real models: planted ground truths, patching identities, wrappers, curves.

Nothing is mocked: planted (Gromov) MLPs give known answers, small built-in models give
exact patching identities, and a short real training run gives checkpoints.
"""

import json
import math

import pytest
import torch
from torch import nn
from transformer_lens import ActivationCache
from transformer_lens import patching as tl_patching

import fourier_interp as fi
from fourier_interp.fourier import sum_directions
from fourier_interp.interventions import METRICS
from fourier_interp.interventions._common import answers
from fourier_interp.training import loss_fn

PLANTED = [  # (p, k, planted frequencies)
    (23, 2, [3, 7]),
    (13, 3, [2, 5]),
]


@pytest.fixture(scope="module", params=PLANTED, ids=lambda c: f"p{c[0]}k{c[1]}")
def planted(request):
    p, k, freqs = request.param
    return fi.planted_mlp(p, freqs, k=k), fi.ModularArithmetic(p, k=k, frac_train=0.3), freqs


def no_hooks_left(model):
    return all(not hp.fwd_hooks and not hp.bwd_hooks for hp in model.hook_dict.values())


def small_transformer(p=11, seed=1):
    return fi.HookedTransformer(fi.TransformerConfig(p=p, d_model=32, n_heads=2, d_head=16, d_mlp=64, seed=seed))


# ------------------------------------------------------------------ frequency ablation
@pytest.mark.parametrize("hook", ["hook_pre", "hook_post"])
def test_ablating_the_planted_set_destroys_the_model_and_other_frequencies_do_nothing(planted, hook):
    model, task, freqs = planted
    p = task.p
    with fi.ablate_frequencies(model, task, hook, freqs), torch.no_grad():
        logits = model(task.inputs)
    # logits carry no information: uniform distribution, accuracy decided by rounding noise
    assert float(loss_fn(logits, task.labels)) == pytest.approx(math.log(p), abs=1e-3)
    assert fi.accuracy(model, task) == 1.0 and no_hooks_left(model)
    assert float((logits.argmax(-1) == task.labels).double().mean()) < 3 / p
    for g in set(range(1, (p - 1) // 2 + 1)) - set(freqs):
        with fi.ablate_frequencies(model, task, hook, [g]):
            assert fi.accuracy(model, task) > 0.99, g
    with fi.ablate_frequencies(model, task, hook, freqs, mode="keep", mean=True):
        assert fi.accuracy(model, task) == 1.0


def test_project_grid_frequencies_known_answers():
    p, task = 11, fi.ModularArithmetic(11)
    a, b = task.inputs.T.double()
    w = lambda f: 2 * math.pi * f / p
    s_sum = torch.cos(w(2) * (a + b))          # a (2, 2) term on the sum direction
    s_op = torch.cos(w(2) * a) * torch.sin(w(4) * b)  # freq 2 on axis a, freq 4 on axis b
    other = torch.cos(w(3) * b) + 0.5           # another frequency plus a constant
    x = torch.stack([s_sum + s_op + other, 2 * s_sum], dim=-1).float()  # trailing axis of 2
    keep_any = fi.project_grid_frequencies(x, task, [2], mode="keep")
    keep_sum = fi.project_grid_frequencies(x, task, [2], mode="keep", subspace="sum")
    torch.testing.assert_close(keep_any[:, 0].double(), s_sum + s_op, atol=1e-5, rtol=0)
    torch.testing.assert_close(keep_sum[:, 0].double(), s_sum, atol=1e-5, rtol=0)
    torch.testing.assert_close(keep_any + fi.project_grid_frequencies(x, task, [2]), x, atol=1e-5, rtol=0)
    # mean ablation: nothing in 'remove' mode, the constant in 'keep' mode
    torch.testing.assert_close(fi.project_grid_frequencies(x, task, [2], mean=True), fi.project_grid_frequencies(x, task, [2]))
    kept_mean = fi.project_grid_frequencies(x, task, [2], mode="keep", mean=True)
    torch.testing.assert_close(kept_mean, keep_any + x.mean(0), atol=1e-5, rtol=0)
    # k = 3 and subtraction use the task's signs; trailing shapes are kept
    task3 = fi.ModularArithmetic(7, k=3)
    cos3, _ = sum_directions(7, 3, 2)
    y = torch.stack([cos3] * 6).T.reshape(343, 2, 3)
    torch.testing.assert_close(fi.project_grid_frequencies(y, task3, [2], mode="keep", subspace="sum"), y, atol=1e-5, rtol=0)
    sub = fi.ModularArithmetic(7, op="sub")
    cos_diff, _ = sum_directions(7, 2, 3, signs=[1, -1])
    assert fi.project_grid_frequencies(cos_diff, sub, [3], subspace="sum").abs().max() < 1e-5
    assert fi.project_grid_frequencies(cos_diff, fi.ModularArithmetic(7), [3], subspace="sum").abs().max() > 0.5


def test_removed_old_names_are_gone():
    """The deprecated aliases were removed in 0.1.0 (CHANGELOG.md, "Removed")."""
    import importlib

    assert not hasattr(fi, "frequency_projection") and not hasattr(fi.interventions, "frequency_projection")
    assert not hasattr(fi.interventions, "gini")  # one gini: fi.analysis.gini
    report = fi.analyze_frequencies(fi.planted_mlp(11, [2, 5]), fi.ModularArithmetic(11))
    assert report.key_frequencies == [2, 5] and not hasattr(report, "key_freqs")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("fourier_interp.interventions.wrapper")


def test_frequency_hook_rejects_activations_off_the_grid():
    model, task = fi.planted_mlp(11, [2]), fi.ModularArithmetic(11)
    hook = fi.frequency_ablation_hook(task, [2])
    with pytest.raises(ValueError, match=r"at hook 'hook_post'.*\[121, \.\.\.\]"):
        model.run_with_hooks(task.inputs[:50], fwd_hooks=[("hook_post", hook)])
    assert no_hooks_left(model)
    with pytest.raises(ValueError, match="outside 1..5"):
        fi.frequency_ablation_hook(task, [6])
    with pytest.raises(ValueError, match="mode='drop'"):
        fi.frequency_ablation_hook(task, [2], mode="drop")
    with pytest.raises(ValueError, match="hook_postt.*valid names include.*hook_post"):
        with fi.ablate_frequencies(model, task, "hook_postt", [2]):
            pass
    with pytest.raises(ValueError, match="model.cfg.p=11 does not match task.p=13"):
        with fi.ablate_frequencies(model, fi.ModularArithmetic(13), "hook_post", [2]):
            pass


def test_context_managers_remove_hooks_and_restore_weights_on_exceptions():
    model, task = fi.planted_mlp(11, [2, 4]), fi.ModularArithmetic(11)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with pytest.raises(RuntimeError, match="boom"):
        with fi.ablate_frequencies(model, task, ["hook_pre", "hook_post"], [2]):
            with fi.ablate_neurons(model, "hook_post", [0, 1], "mean"):
                with fi.ablate_weight_frequencies(model, [2, 4]):
                    assert fi.accuracy(model, task) < 0.5
                    raise RuntimeError("boom")
    assert no_hooks_left(model)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())

    def bad(act, hook):
        raise RuntimeError("bad hook")

    hook = fi.frequency_ablation_hook(task, [2])
    with pytest.raises(RuntimeError, match="bad hook"):
        model.run_with_hooks(task.inputs, fwd_hooks=[("hook_pre", hook), ("hook_post", bad)])
    assert no_hooks_left(model) and fi.accuracy(model, task) == 1.0


def test_frequency_ablation_on_every_family_keeps_shapes_and_is_exact_when_keeping_everything(small_model, task7):
    hook = small_model.analysis_spec().neurons  # [49, (pos,) units] on the grid
    every = [1, 2, 3]
    with torch.no_grad():
        reference = small_model(task7.inputs)
        with fi.ablate_frequencies(small_model, task7, hook, every, mode="keep", mean=True):
            torch.testing.assert_close(small_model(task7.inputs), reference, atol=1e-4, rtol=1e-4)
        with fi.ablate_frequencies(small_model, task7, hook, every):  # only the grid mean is left
            _, cache = small_model.run_with_cache(task7.inputs, names_filter=[hook])
    act = cache[hook]
    torch.testing.assert_close(act, act.mean(0, keepdim=True).expand_as(act), atol=1e-5, rtol=1e-5)
    assert no_hooks_left(small_model)
    curve = fi.ablation_curve(small_model, task7, hook, [1, 2], order="random", control=False)
    assert len(curve.loss) == 3 and all(math.isfinite(v) for v in curve.loss)


def test_weight_space_projection():
    model, task = fi.planted_mlp(11, [2, 4]), fi.ModularArithmetic(11)
    clean = model(task.inputs)
    with fi.ablate_weight_frequencies(model, [3, 5], weights="unit_input"):
        torch.testing.assert_close(model(task.inputs), clean, atol=1e-5, rtol=1e-5)
    with fi.ablate_weight_frequencies(model, [2, 4], weights=["unit_input"]):
        assert fi.accuracy(model, task) < 0.3
    with fi.ablate_weight_frequencies(model, [2, 4], weights="unembed"):  # W_out's token axis
        assert model(task.inputs).abs().max() < 1e-5 * clean.abs().max()
    transformer = small_transformer()
    W_E = transformer.W_E.detach().clone()
    with fi.ablate_weight_frequencies(transformer, [1, 2, 3, 4, 5], weights="embed", mode="remove"):
        inside = transformer.W_E.detach().clone()
    assert torch.equal(inside[11], W_E[11])  # the '=' row is not a token of Z_p
    torch.testing.assert_close(inside[:11], W_E[:11].mean(0).expand(11, -1), atol=1e-5, rtol=0)
    assert torch.equal(transformer.W_E, W_E)
    with pytest.raises(ValueError, match="neither a role"):
        with fi.ablate_weight_frequencies(transformer, [1], weights="W_Q"):
            pass


# ------------------------------------------------------------------ progress measures
def test_restricted_and_excluded_loss_on_planted_models(planted):
    model, task, freqs = planted
    full = fi.evaluate(model, task)
    assert fi.restricted_loss(model, task, freqs, split="train") == pytest.approx(full["train_loss"], abs=1e-5)
    assert fi.excluded_loss(model, task, freqs) > 8 * full["train_loss"]
    assert fi.excluded_loss(model, task, freqs) == pytest.approx(math.log(task.p), abs=1e-3)
    other = [f for f in range(1, (task.p - 1) // 2 + 1) if f not in freqs][:2]
    assert fi.restricted_loss(model, task, other) == pytest.approx(math.log(task.p), abs=1e-3)


def test_restricted_and_excluded_loss_match_the_definition_for_subtraction():
    model, task = fi.planted_mlp(13, [2, 5], op="sub"), fi.ModularArithmetic(13, op="sub", frac_train=0.4)
    logits = model(task.inputs).detach().double()
    kept = torch.zeros_like(logits)
    for f in (2, 5):  # Nanda et al.: project each answer's logit column onto cos/sin(w (a - b))
        for d in sum_directions(13, 2, f, signs=[1, -1]):
            d = d.double() / d.double().norm()
            kept += d[:, None] * (d @ logits)[None, :]
    restricted = kept + (logits - kept).mean(0)
    excluded = logits - kept
    assert fi.restricted_loss(model, task, [2, 5]) == pytest.approx(float(loss_fn(restricted, task.labels)), rel=1e-9)
    train = task.train_idx
    assert fi.excluded_loss(model, task, [2, 5]) == pytest.approx(float(loss_fn(excluded[train], task.labels[train])), rel=1e-9)


def test_progress_measures_over_a_real_training_run(tmp_path):
    task = fi.ModularArithmetic(p=11, frac_train=0.5)
    model = fi.HookedMLP(fi.MLPConfig(p=11, form="embed_relu", d_hidden=32, d_embed=16))
    cfg = fi.TrainConfig(steps=200, lr=3e-3, eval_every=50, checkpoint_every=50, progress=False, out_dir=str(tmp_path))
    history = fi.train(model, task, cfg)
    freqs = [1, 3]
    table = fi.progress_measures(tmp_path, freqs)
    assert isinstance(table, fi.ProgressMeasures)
    assert table["step"] == [s for s, _ in history.checkpoints] == [50, 100, 150, 200]
    d = table.to_dict()
    json.dumps(d)
    for column in ("train_loss", "test_loss", "restricted_loss", "excluded_loss", "weight_norm", "embed_gini"):
        assert len(d[column]) == 4 and all(math.isfinite(v) for v in d[column]), column
    for (step, path), restricted, excluded in zip(history.checkpoints, d["restricted_loss"], d["excluded_loss"]):
        ckpt = fi.load(tmp_path / path)
        assert restricted == pytest.approx(fi.restricted_loss(ckpt, task, freqs), rel=1e-12)
        assert excluded == pytest.approx(fi.excluded_loss(ckpt, task, freqs), rel=1e-12)
    last = history.records[-1]
    assert d["train_loss"][-1] == pytest.approx(last["train_loss"], rel=1e-6)
    assert d["weight_norm"][-1] == pytest.approx(last["weight_norm"], rel=1e-5)
    in_memory = fi.progress_measures([(200, model)], freqs, task)
    assert in_memory["restricted_loss"] == pytest.approx(d["restricted_loss"][-1:], rel=1e-9)
    assert table.to_dataframe().shape[0] == 4
    assert table.plot().axes


# ------------------------------------------------------------------ patching
@pytest.mark.parametrize("family,hook", [
    ("mlp", "hook_pre"),
    ("transformer", "blocks.0.hook_resid_pre"),
    ("transformer", "hook_embed"),
    ("rnn", "layers.0.steps.0.hook_hidden"),
])
def test_patching_everything_gives_clean_logits_and_nothing_gives_corrupted(family, hook):
    p = 11
    task = fi.ModularArithmetic(p)
    model = {
        "mlp": lambda: fi.HookedMLP(fi.MLPConfig(p=p, form="embed_relu", d_hidden=24, d_embed=8)),
        "transformer": small_transformer,
        "rnn": lambda: fi.HookedRNN(fi.RNNConfig(p=p, d_embed=8, d_hidden=16)),
    }[family]()
    clean, corrupted = fi.corrupt_operand(task, task.inputs[:40], operand=0, shift=3)  # step 0 of the RNN sees it
    clean_logits, corrupted_logits = model(clean), model(corrupted)
    assert torch.equal(fi.patch_activation(model, clean, corrupted, hook), clean_logits)
    assert torch.equal(fi.patch_activation(model, clean, corrupted, hook, index=[]), corrupted_logits)
    assert no_hooks_left(model)


def test_our_patching_equals_transformer_lens_patching():
    model, task = small_transformer(), fi.ModularArithmetic(11)
    clean, corrupted = fi.corrupt_operand(task, task.inputs[::3], operand=1, shift=4)
    labels = answers(task, clean)
    metric = lambda logits: torch.nn.functional.cross_entropy(logits, labels)
    _, cache = model.run_with_cache(model.to_tokens(clean))
    tl = tl_patching.get_act_patch_resid_pre(model, model.to_tokens(corrupted), cache, metric)  # [layer, pos]
    ours = torch.stack([metric(fi.patch_activation(model, clean, corrupted, "blocks.0.hook_resid_pre", index=pos))
                        for pos in range(3)])
    torch.testing.assert_close(ours, tl[0])
    sweep = fi.patch_positions_layers(model, task, clean, corrupted, "resid_pre")
    assert [(c["layer"], c["pos"]) for c in sweep.cells] == [(0, 0), (0, 1), (0, 2)]
    torch.testing.assert_close(sweep.mean()[sweep.metric_names.index("loss")].float(), ours, rtol=1e-5, atol=1e-6)
    heads = fi.patch_positions_layers(model, task, clean, corrupted, "head_out", metrics=["logit_diff"])
    one = fi.patch_activation(model, clean, corrupted, "blocks.0.attn.hook_z", index=(2, 1))
    cell = [c["pos"] == 2 and c["head"] == 1 for c in heads.cells].index(True)
    torch.testing.assert_close(heads["logit_diff"][cell].float(),
                               METRICS["logit_diff"](one, labels, answers(task, corrupted)).float())


def test_subspace_patches():
    model, task = fi.planted_mlp(11, [2, 4]), fi.ModularArithmetic(11)
    clean, corrupted = fi.corrupt_operand(task, shift=2)
    full = fi.patch_activation(model, clean, corrupted, "hook_post")
    basis = torch.linalg.qr(torch.randn(18, 18, generator=torch.Generator().manual_seed(0)))[0].T  # orthonormal rows
    torch.testing.assert_close(fi.patch_activation(model, clean, corrupted, "hook_post", fi.Subspace(basis)), full,
                               atol=1e-5, rtol=1e-5)
    sub = fi.Subspace.frequency(model.W_out, 2, token_dim=1)  # unit directions that write frequency 2
    assert sub.rank == 2
    _, clean_cache = model.run_with_cache(clean)
    _, corr_cache = model.run_with_cache(corrupted)
    with model.hooks(fwd_hooks=[("hook_post", fi.patching_hook(clean_cache["hook_post"], sub))]):
        _, patched = model.run_with_cache(corrupted, names_filter=["hook_post"])
    P = sub.basis.T @ sub.basis
    act, c0, c1 = patched["hook_post"], corr_cache["hook_post"], clean_cache["hook_post"]
    torch.testing.assert_close(act - act @ P, c0 - c0 @ P, atol=1e-5, rtol=0)  # complement untouched
    torch.testing.assert_close(act @ P, c1 @ P, atol=1e-5, rtol=0)
    logits_sub = fi.Subspace.fourier(11, [2, 4])  # on the logits' own p axis: all the signal
    torch.testing.assert_close(fi.patch_activation(model, clean, corrupted, "hook_logits", logits_sub),
                               model(clean), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="not orthonormal"):
        fi.Subspace(torch.ones(2, 5))
    assert fi.Subspace.span(torch.tensor([[1.0, 1.0, 0.0], [2.0, 2.0, 0.0]])).rank == 1
    with pytest.raises(TypeError, match="index="):
        fi.patch_activation(model, clean, corrupted, "hook_post", index=1.5)
    with pytest.raises(ValueError, match="same shape"):
        fi.patch_activation(model, clean, corrupted[:5], "hook_post")


def test_sweeps_steps_units_frequencies_and_tables():
    task = fi.ModularArithmetic(11)
    clean, corrupted = fi.resample_operand(task, operand=1, seed=0)
    assert bool((answers(task, clean) != answers(task, corrupted)).all())
    rnn = fi.HookedRNN(fi.RNNConfig(p=11, d_embed=8, d_hidden=16))
    steps = fi.patch_steps(rnn, task, clean, corrupted)
    assert [c["step"] for c in steps.cells] == [0, 1]
    torch.testing.assert_close(steps.values[:, 1], steps.clean)  # the last state is everything the readout sees
    torch.testing.assert_close(steps.values[:, 0], steps.corrupted)  # step 0 reads operand 0, unchanged

    model = fi.planted_mlp(11, [2, 5])
    units = fi.patch_units(model, task, clean, corrupted, "hook_post", units=[0, 9])
    assert [c["unit"] for c in units.cells] == [0, 9] and units.values.shape == (4, 2, 121)
    clusters = fi.patch_units(model, task, clean, corrupted, "hook_post", clusters={2: range(9), 5: range(9, 18)})
    assert float(clusters.recovered("logit_diff").sum()) == pytest.approx(1.0, abs=1e-5)
    freqs = fi.patch_frequencies(model, task, clean, corrupted, "hook_post", [2, 5], model.W_out, token_dim=1)
    assert [c["freq"] for c in freqs.cells] == [2, 5, "all"]
    torch.testing.assert_close(freqs.recovered("logit_diff"), torch.tensor(
        clusters.recovered("logit_diff").tolist() + [1.0], dtype=torch.float64), atol=1e-4, rtol=0)
    df = freqs.to_dataframe()
    assert set(df.columns) >= {"freq", "hook", "metric", "value", "clean", "corrupted"} and len(df) == 12
    assert len(freqs.to_dataframe(per_example=True)) == 12 * 121
    json.dumps(freqs.to_dict())


def test_pairs_change_every_answer_and_are_seeded():
    task = fi.ModularArithmetic(7, k=3)
    answer = answers
    clean, corrupted = fi.corrupt_operand(task, operand=2, shift=3)
    assert torch.equal(clean, task.inputs) and bool((answer(task, clean) != answer(task, corrupted)).all())
    a = fi.resample_operand(task, operand=1, seed=5)[1]
    assert torch.equal(a, fi.resample_operand(task, operand=1, seed=5)[1])
    assert bool((a[:, 1] != task.inputs[:, 1]).all()) and torch.equal(a[:, [0, 2]], task.inputs[:, [0, 2]])
    with pytest.raises(ValueError, match="operand=3"):
        fi.corrupt_operand(task, operand=3)
    with pytest.raises(ValueError, match="shift=7"):
        fi.corrupt_operand(task, shift=7)


# ------------------------------------------------------------------ neuron ablations
def test_neuron_ablations():
    model, task = fi.planted_mlp(11, [2, 5]), fi.ModularArithmetic(11)
    x = torch.arange(24.0).reshape(4, 2, 3)
    zero = fi.neuron_ablation_hook([0, 2], "zero")(x)
    assert torch.equal(zero[..., 1], x[..., 1]) and not zero[..., [0, 2]].any()
    mean = fi.neuron_ablation_hook([1], "mean")(x)
    assert torch.equal(mean[..., 1], x[..., 1].mean(0).expand(4, 2))
    resampled = fi.neuron_ablation_hook([0], "resample", seed=3)(x)
    rows = (resampled[:, 0, 0] / 6).long()  # row r of x holds 6r + ...
    assert sorted(rows.tolist()) == [0, 1, 2, 3] and bool((rows != torch.arange(4)).all())
    assert torch.equal(resampled, fi.neuron_ablation_hook([0], "resample", seed=3)(x))
    ref = torch.full((7, 2, 3), -1.0)
    assert bool((fi.neuron_ablation_hook([0], "resample", reference=ref)(x)[..., 0] == -1).all())
    with pytest.raises(ValueError, match="units"):
        model.run_with_hooks(task.inputs, fwd_hooks=[("hook_post", fi.neuron_ablation_hook([99]))])
    assert no_hooks_left(model)

    table = fi.cluster_ablation(model, task, "hook_post", {2: range(9), 5: range(9, 18)}, method="mean")
    assert table["cluster"] == ["none", 2, 5, "all"] and table["n_units"] == [0, 9, 9, 18]
    acc = dict(zip(table["cluster"], table["accuracy"]))
    assert acc["none"] == 1.0 and acc["all"] < 0.2
    assert table["loss_increase"][1] > 0 and table["loss_increase"][2] > 0
    json.dumps(table.to_dict())
    with fi.ablate_neurons(model, "hook_post", range(18), "zero"):
        assert model(task.inputs).abs().max() == 0
    assert no_hooks_left(model)


# ------------------------------------------------------------------ ablation curves
def test_ablation_curve_on_a_planted_model():
    model, task = fi.planted_mlp(23, [3, 7, 10]), fi.ModularArithmetic(23)
    curve = fi.ablation_curve(model, task, "hook_post", [3, 7, 10])
    assert curve.order_rule == "importance" and sorted(curve.order) == [3, 7, 10]
    assert set(curve.single_loss) == {3, 7, 10}
    assert curve.accuracy[0] == 1.0 and curve.accuracy[-1] < 3 / 23
    assert curve.loss == sorted(curve.loss)  # removing more never helps here
    assert len(curve.control_order) == 3 and not set(curve.control_order) & {3, 7, 10}
    assert curve.control_accuracy == [1.0] * 4
    json.dumps(curve.to_dict())
    assert len(curve.to_dataframe()) == 8
    fig = curve.plot()
    assert len(fig.axes) == 2
    again = fi.ablation_curve(model, task, "hook_post", [3, 7, 10], order="random", seed=4)
    assert again.order == fi.ablation_curve(model, task, "hook_post", [3, 7, 10], order="random", seed=4).order
    given = fi.ablation_curve(model, task, "hook_post", [3, 7, 10], order=[10, 3, 7], control=False)
    assert given.order == [10, 3, 7] and given.control_loss == []
    with pytest.raises(ValueError, match="permutation"):
        fi.ablation_curve(model, task, "hook_post", [3, 7], order=[3, 5])


def test_ablation_curve_importance_order_on_unequal_frequencies():
    model, task = fi.planted_mlp(17, [2, 6]), fi.ModularArithmetic(17)
    with torch.no_grad():  # make frequency 6 carry twice the weight of frequency 2
        model.W_out[9:] *= 2
    curve = fi.ablation_curve(model, task, "hook_pre", [2, 6])
    assert curve.order == [6, 2] and curve.single_loss[6] > curve.single_loss[2]


# ------------------------------------------------------------------ HookedWrapper
class TwoLayer(nn.Module):
    def __init__(self, d_in=6, d_hidden=10, d_out=4):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(d_hidden, d_out)
        self.layers = nn.ModuleList([nn.Sequential(nn.Identity(), nn.Tanh())])
        self.name = "user attribute"  # HookedRootModule.setup would overwrite this

    def forward(self, x):
        return self.fc2(self.layers[0](self.act(self.fc1(x))))


@pytest.mark.parametrize("make", [
    lambda: nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 4)),
    TwoLayer,
], ids=["sequential", "custom"])
def test_wrapper_changes_no_numbers_caches_every_path_and_edits_like_by_hand(make):
    torch.manual_seed(0)
    module = make()
    x = torch.randn(5, 6)
    expected = module(x)
    wrapped = fi.HookedWrapper(module)
    out, cache = wrapped.run_with_cache(x)
    assert torch.equal(out, expected) and torch.equal(wrapped(x), expected)
    assert isinstance(cache, ActivationCache)
    paths = [n for n, m in module.named_modules() if n and not isinstance(m, nn.ModuleList)]
    own = [name for name in cache.keys() if not name.startswith("blocks.")]  # blocks.*: TL names of layers.0
    outputs = sorted(name for name in own if not name.endswith(".hook_in"))
    inputs = sorted(name[: -len(".hook_in")] for name in own if name.endswith(".hook_in"))
    assert outputs == sorted(paths) == inputs and sorted(cache.keys()) == sorted(wrapped.hook_dict)
    first, act = ("0", "1") if isinstance(module, nn.Sequential) else ("fc1", "act")
    assert torch.equal(cache[first], module[0](x) if isinstance(module, nn.Sequential) else module.fc1(x))

    mask = torch.tensor([1.0, 0.0] * 5)
    edited = wrapped.run_with_hooks(x, fwd_hooks=[(act, lambda a, hook: a * mask)])
    if isinstance(module, nn.Sequential):
        by_hand = module[2](torch.relu(module[0](x)) * mask)
    else:
        by_hand = module.fc2(torch.tanh(torch.relu(module.fc1(x)) * mask))
        assert module.name == "user attribute" and "layers.0.1" in cache.keys()
    assert torch.equal(edited, by_hand)
    # nothing stays on the user's module, even after a failing hook
    def boom(a, hook):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        wrapped.run_with_hooks(x, fwd_hooks=[(act, boom)])
    assert all(not m._forward_hooks for m in module.modules()) and no_hooks_left(wrapped)
    assert wrapped.unwrap() is module and torch.equal(module(x), expected)


class Splitter(nn.Module):
    def forward(self, x):
        return x[:, :3], (x[:, 3:] * 2, None)


class WithTuples(nn.Module):
    def __init__(self):
        super().__init__()
        self.split = Splitter()
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.shared = nn.Linear(3, 3)

    def forward(self, x):
        a, (b, _) = self.split(x)
        a = self.shared(self.shared(a))  # called twice
        seq, _ = self.lstm(a.unsqueeze(1))
        return seq[:, -1] + b.sum(-1, keepdim=True)


def test_wrapper_tuple_outputs_and_repeated_modules():
    torch.manual_seed(0)
    module, x = WithTuples(), torch.randn(5, 6)
    expected = module(x)
    wrapped = fi.HookedWrapper(module)
    with pytest.warns(UserWarning, match="shared"):
        out, cache = wrapped.run_with_cache(x)
    assert torch.equal(out, expected) and wrapped.repeated == ["shared", "shared.hook_in"]
    assert {"split.0", "split.1.0", "lstm.0", "lstm.1.0", "lstm.1.1", "shared"} <= set(cache.keys())
    assert "split" not in wrapped.hook_dict and "split.1.1" not in wrapped.hook_dict  # None is skipped
    doubled = wrapped.run_with_hooks(x, fwd_hooks=[("split.1.0", lambda b, hook: b * 2)])
    torch.testing.assert_close(doubled - expected, x[:, 3:].mul(2).sum(-1, keepdim=True).expand(5, 4))
    with pytest.raises(ValueError, match="fires more than once"):
        fi.patch_activation(wrapped, x, x, "shared")
    with pytest.warns(UserWarning, match="called more than once"):
        fresh = fi.HookedWrapper(WithTuples(), example_inputs=x)
    assert "lstm.0" in fresh.hook_dict
    untouched = fi.HookedWrapper(WithTuples())
    with pytest.raises(TypeError, match="returns a tuple"):
        with untouched.hooks(fwd_hooks=[("lstm", lambda a, hook: a)]):
            untouched(x)
    assert no_hooks_left(untouched)
    with pytest.raises(TypeError, match="already a HookedRootModule"):
        fi.HookedWrapper(fi.planted_mlp(5, [1]))


class PlainGromov(nn.Module):
    """The planted network written as a user would, without hooks: embed, square, readout."""

    def __init__(self, planted):
        super().__init__()
        k, p, m = planted.U.shape
        self.embeds = nn.ModuleList([nn.Embedding(p, m) for _ in range(k)])
        for j, e in enumerate(self.embeds):
            e.weight.data.copy_(planted.U[j])
        self.hidden = Square()
        self.readout = nn.Linear(m, p, bias=False)
        self.readout.weight.data.copy_(planted.W_out.T)

    def forward(self, x):
        return self.readout(self.hidden(sum(e(x[:, j]) for j, e in enumerate(self.embeds))))


class Square(nn.Module):
    def forward(self, x):
        return x**2


def test_interventions_work_the_same_on_a_wrapped_plain_module():
    model, task = fi.planted_mlp(23, [3, 7]), fi.ModularArithmetic(23, frac_train=0.3)
    wrapped = fi.HookedWrapper(PlainGromov(model), p=23, k=2)
    torch.testing.assert_close(wrapped(task.inputs), model(task.inputs))
    with fi.ablate_frequencies(wrapped, task, "hidden", [3, 7]):
        ablated = wrapped(task.inputs)
    with fi.ablate_frequencies(model, task, "hook_post", [3, 7]):
        torch.testing.assert_close(ablated, model(task.inputs), atol=1e-4, rtol=0)
    assert fi.restricted_loss(wrapped, task, [3, 7]) == pytest.approx(fi.restricted_loss(model, task, [3, 7]), rel=1e-5)
    curve = fi.ablation_curve(wrapped, task, "hidden", [3, 7])
    assert curve.accuracy[0] == 1.0 and curve.accuracy[-1] < 0.15 and curve.control_accuracy[-1] == 1.0
    clean, corrupted = fi.corrupt_operand(task)
    assert torch.equal(fi.patch_activation(wrapped, clean, corrupted, "hidden"), wrapped(clean))
    table = fi.cluster_ablation(wrapped, task, "hidden", {3: range(9), 7: range(9, 18)}, method="zero")
    assert table["accuracy"][-1] < 0.2
    with fi.ablate_weight_frequencies(wrapped, [3, 7], weights={"module.embeds.0.weight": 0}):
        assert fi.accuracy(wrapped, task) < 0.2
    with pytest.raises(ValueError, match="built-in models only"):
        with fi.ablate_weight_frequencies(wrapped, [3]):
            pass
    with pytest.raises(ValueError, match="model.cfg.p=23 does not match"):
        fi.restricted_loss(wrapped, fi.ModularArithmetic(11), [3])
    with pytest.raises(ValueError, match="'hiden'.*'hidden'"):
        fi.ablation_curve(wrapped, task, "hiden", [3])
    with pytest.raises(TypeError, match="HookedWrapper"):
        fi.ablation_curve(PlainGromov(model), task, "hidden", [3])
