"""Our models inside other interpretability libraries: nnsight traces and pyvene interventions.

Both are optional (``pip install -e ".[interop]"``); each group of tests is skipped when its
library is missing. Every result is compared with the same quantity computed with our own
hooks (``run_with_cache`` / ``run_with_hooks``) or with autograd.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fourier_interp as fi

P = 11


@pytest.fixture
def transformer():
    model, task, _ = fi.from_preset("nanda2023", p=P)
    return model, task


def envoy(traced, path: str):
    """The nnsight Envoy at a dotted module path (``"blocks.0.mlp.hook_post"``)."""
    for part in path.split("."):
        traced = traced[int(part)] if part.isdigit() else getattr(traced, part)
    return traced


FAMILIES = {
    "transformer": (lambda: fi.from_preset("nanda2023", p=P)[0], "blocks.0.mlp.hook_post"),
    "mlp": (lambda: fi.HookedMLP(fi.MLPConfig(p=P, form="embed_relu", d_hidden=32, d_embed=16)), "hook_post"),
    "rnn": (lambda: fi.HookedRNN(fi.RNNConfig(p=P, d_embed=16, d_hidden=16)), "layers.0.hook_hidden"),
}


# ------------------------------------------------------------------ nnsight
@pytest.fixture
def nnsight():
    return pytest.importorskip("nnsight")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_nnsight_reads_what_run_with_cache_caches(nnsight, family):
    make, hook = FAMILIES[family]
    model = make()
    x = fi.ModularArithmetic(p=P).inputs[:16]
    traced = nnsight.NNsight(model)
    with traced.trace(x):
        act = envoy(traced, hook).output.save()
        out = traced.output.save()
    logits, cache = model.run_with_cache(x)
    assert torch.equal(act, cache[hook]) and torch.equal(out, logits)


def test_nnsight_reads_a_shipped_checkpoint(nnsight):
    model, task = fi.load_pretrained("transformer-p113")
    x = task.inputs[:32]
    traced = nnsight.NNsight(model)
    with traced.trace(x):
        pattern = traced.blocks[0].attn.hook_pattern.output.save()
        mlp_in = traced.blocks[0].mlp.input.save()
    _, cache = model.run_with_cache(x, names_filter=["blocks.0.attn.hook_pattern", "blocks.0.hook_resid_mid"])
    assert torch.equal(pattern, cache["blocks.0.attn.hook_pattern"])
    assert torch.equal(mlp_in, cache["blocks.0.hook_resid_mid"])  # no ln2: the MLP reads resid_mid


def test_nnsight_sets_an_activation_like_run_with_hooks(nnsight, transformer):
    model, task = transformer
    base, source = task.inputs[:16], task.inputs[16:32]
    _, source_cache = model.run_with_cache(source)
    patch = source_cache["blocks.0.hook_resid_pre"][:, 0]
    traced = nnsight.NNsight(model)
    with traced.trace(base):
        traced.blocks[0].hook_resid_pre.output[:, 0] = patch
        patched = traced.output.save()

    def by_hooks(act, hook):
        act = act.clone()
        act[:, 0] = patch
        return act

    expected = model.run_with_hooks(base, fwd_hooks=[("blocks.0.hook_resid_pre", by_hooks)])
    torch.testing.assert_close(patched, expected, rtol=0, atol=0)
    assert not torch.equal(expected, model(base))  # the patch changed something


def test_nnsight_gradients_equal_autograd(nnsight, transformer):
    model, task = transformer
    x, y = task.inputs[:32], task.labels[:32]
    traced = nnsight.NNsight(model)
    with traced.trace(x):
        post = traced.blocks[0].mlp.hook_post.output
        loss = F.cross_entropy(traced.output, y)
        with loss.backward():
            grad = post.grad.save()
        loss = loss.save()
    # autograd by hand: keep the activation's gradient with a hook
    kept = {}

    def keep(act, hook):
        act.retain_grad()
        kept["post"] = act

    reference = F.cross_entropy(model.run_with_hooks(x, fwd_hooks=[("blocks.0.mlp.hook_post", keep)]), y)
    reference.backward()
    torch.testing.assert_close(loss.detach(), reference.detach())
    torch.testing.assert_close(grad, kept["post"].grad)
    _, cache = model.run_with_cache(x, return_type="loss", incl_bwd=True, names_filter=["blocks.0.mlp.hook_post"])
    torch.testing.assert_close(grad, cache["blocks.0.mlp.hook_post_grad"])


def test_nnsight_on_a_wrapped_plain_module(nnsight):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Embedding(P, 8), nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, P))
    wrapped = fi.HookedWrapper(net, p=P, k=2)
    x = fi.ModularArithmetic(p=P).inputs[:16]
    traced = nnsight.NNsight(wrapped)
    with traced.trace(x):
        hidden = traced.module[3].output.clone().save()  # a copy: the next line edits in place
        traced.module[3].output[:] = 0
        out = traced.output.save()
    _, cache = wrapped.run_with_cache(x)
    assert torch.equal(hidden, cache["3"])
    torch.testing.assert_close(out, net[4].bias.expand(16, P))


# ------------------------------------------------------------------ pyvene
@pytest.fixture
def pyvene():
    return pytest.importorskip("pyvene")


def test_model_config_is_what_pyvene_reads():
    for family, (make, _) in FAMILIES.items():
        model = make()
        config = model.config
        assert config.model_type == f"fourier_interp.{type(model).__name__}" and config.to_dict()["p"] == P
        assert config.hidden_size == getattr(model.cfg, "d_model", getattr(model.cfg, "d_hidden", None))
        with pytest.raises(AttributeError, match="read-only"):
            config.hidden_size = 3
    config = FAMILIES["transformer"][0]().config
    assert (config.num_attention_heads, config.intermediate_size, config.vocab_size) == (4, 512, P + 1)
    with pytest.raises(AttributeError, match="no field 'rope_theta'"):
        config.rope_theta


def test_pyvene_swap_equals_a_run_with_hooks_patch(pyvene, transformer):
    model, task = transformer
    base, source = task.inputs[:16], task.inputs[16:32]
    _, source_cache = model.run_with_cache(source)
    hook = "blocks.0.mlp.hook_post"
    spec = [{"component": "blocks[0].mlp.hook_post.output", "intervention": pyvene.VanillaIntervention()}]
    intervenable = pyvene.IntervenableModel(spec, model)
    _, out = intervenable({"inputs": base}, [{"inputs": source}], unit_locations={"sources->base": 2})

    def by_hooks(act, hook):
        act = act.clone()
        act[:, 2] = source_cache["blocks.0.mlp.hook_post"][:, 2]
        return act

    torch.testing.assert_close(out, model.run_with_hooks(base, fwd_hooks=[(hook, by_hooks)]), rtol=0, atol=0)


def test_pyvene_collects_what_run_with_cache_caches(pyvene, transformer):
    model, task = transformer
    x = task.inputs[:16]
    spec = [{"component": "blocks[0].hook_resid_post.output", "intervention": pyvene.CollectIntervention()}]
    intervenable = pyvene.IntervenableModel(spec, model)
    (_, collected), _ = intervenable({"inputs": x}, unit_locations={"base": 2})
    _, cache = model.run_with_cache(x)
    assert torch.equal(collected[0][:, 0], cache["blocks.0.hook_resid_post"][:, 2])


def test_pyvene_whole_activation_swap_on_the_mlp(pyvene):
    model, task = FAMILIES["mlp"][0](), fi.ModularArithmetic(p=P)
    base, source = task.inputs[:16], task.inputs[16:32]
    _, source_cache = model.run_with_cache(source)
    intervenable = pyvene.IntervenableModel(
        [{"component": "hook_post.output", "intervention": pyvene.VanillaIntervention()}], model)
    _, out = intervenable({"inputs": base}, [{"inputs": source}])
    expected = model.run_with_hooks(base, fwd_hooks=[("hook_post", lambda act, hook: source_cache["hook_post"])])
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_pyvene_trainable_rotation_matches_by_hand_and_gets_gradients(pyvene, transformer):
    model, task = transformer
    base, source = task.inputs[:16], task.inputs[16:32]
    torch.manual_seed(0)
    das = pyvene.LowRankRotatedSpaceIntervention(embed_dim=model.cfg.d_model, low_rank_dimension=2)
    spec = [{"component": "blocks[0].hook_resid_post.output", "intervention": das}]
    intervenable = pyvene.IntervenableModel(spec, model)
    _, out = intervenable({"inputs": base}, [{"inputs": source}], unit_locations={"sources->base": 2})
    loss = F.cross_entropy(out, task.labels[16:32])
    loss.backward()
    grads = [p.grad for p in das.parameters()]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())  # pyvene freezes the model

    # the same intervention by hand: swap the source's coordinates in the rotated 2-d subspace
    rotation = das.rotate_layer.weight.detach()  # [d_model, 2], orthonormal columns
    _, source_cache = model.run_with_cache(source)

    def by_hooks(act, hook):
        act = act.clone()
        delta = (source_cache[hook.name][:, 2] - act[:, 2]) @ rotation
        act[:, 2] = act[:, 2] + delta @ rotation.T
        return act

    expected = model.run_with_hooks(base, fwd_hooks=[("blocks.0.hook_resid_post", by_hooks)])
    torch.testing.assert_close(out.detach(), expected, rtol=1e-5, atol=1e-5)
    intervenable.enable_model_gradients()
    assert all(p.requires_grad for p in model.parameters())
