"""The analyses written for Z_p refuse multiplication and other groups with one clear error; the
group-agnostic tools (patching, unit ablation) keep working on them."""

import pytest
import torch

import fourier_interp as fi

MUL = fi.ModularArithmetic(11, op="mul")
S3 = fi.GroupTask(fi.groups.symmetric(3))


def _model(task):
    return fi.HookedMLP(fi.MLPConfig(**task.config_fields(), form="power", d_hidden=24, seed=0))


def _enter(ctx):
    with ctx:
        pass


ZP_ONLY = {
    "analyze_frequencies": lambda m, t: fi.analyze_frequencies(m, t),
    "key_frequencies": lambda m, t: fi.key_frequencies(m, t),
    "neuron_alignment(model)": lambda m, t: fi.neuron_alignment(m),
    "neuron_alignment(model, task)": lambda m, t: fi.neuron_alignment(m, t),
    "normalized_margin": lambda m, t: fi.normalized_margin(m, t),
    "ablate_frequencies": lambda m, t: _enter(fi.ablate_frequencies(m, t, "hook_post", [1])),
    "ablate_weight_frequencies": lambda m, t: _enter(fi.ablate_weight_frequencies(m, [1])),
    "restricted_loss": lambda m, t: fi.restricted_loss(m, t, [1]),
    "excluded_loss": lambda m, t: fi.excluded_loss(m, t, [1]),
    "ablation_curve": lambda m, t: fi.ablation_curve(m, t, "hook_post", [1]),
    "patch_frequencies": lambda m, t: fi.patch_frequencies(m, t, t.inputs[:4], t.inputs[4:8], "hook_post", [1],
                                                           m.U[0].detach()),
    "locate_units": lambda m, t: fi.locate_units(m, t),
    "distance_irrelevance": lambda m, t: fi.distance_irrelevance(torch.zeros(t.n, t.p), t),
    "gradient_symmetricity": lambda m, t: fi.gradient_symmetricity(m, t, "hook_post"),
    "progress_measures": lambda m, t: fi.progress_measures([(0, m)], [1], t),
}


@pytest.mark.parametrize("task", [MUL, S3], ids=["mul", "S3"])
@pytest.mark.parametrize("name", sorted(ZP_ONLY))
def test_zp_analyses_refuse_other_groups_with_the_way_round(name, task):
    with pytest.raises(fi.InvalidArgumentError, match=r"frequencies of Z_p .*fi\.analysis\.irreps"):
        ZP_ONLY[name](_model(task), task)


@pytest.mark.parametrize("task", [MUL, S3], ids=["mul", "S3"])
def test_group_agnostic_tools_still_work(task):
    model = _model(task)
    clean, corrupted = task.inputs[:4], task.inputs[4:8]
    patched = fi.patch_activation(model, clean, corrupted, "hook_post")  # the whole hidden layer: the clean run
    torch.testing.assert_close(patched, model(clean))
    res = fi.patch_units(model, task, clean, corrupted, "hook_post")
    assert res.values.shape[1] == model.cfg.d_hidden
    with fi.ablate_neurons(model, "hook_post", list(range(model.cfg.d_hidden))):
        logits = model(task.inputs)
    assert torch.allclose(logits, logits[:1].expand_as(logits))  # every unit off: nothing depends on the input
