"""TransformerLens 4's own entry points on our transformer, against the same numbers by hand.

Direct logit attribution, residual decompositions, the logit lens, every
``transformer_lens.patching`` sweep (direct path included), gradient caching and
attribution patching, LayerNorm folding, and the offline attention view. Small random
models (p = 7..11, d_model 16..24): the identities hold for any weights, so nothing needs
training; LayerNorm weights and MLP biases are randomised so folding is not trivially exact.
"""

from __future__ import annotations

import copy
import math
import socket

import pytest
import torch
import torch.nn.functional as F
from transformer_lens import ActivationCache, FactoredMatrix
from transformer_lens import patching as tl_patching
from transformer_lens.model_protocol import TransformerLensModelWithWeights
from transformer_lens.tools.analysis import EdgeAttributionConfig, attribution_patch, direct_logit_attribution, logit_lens

import fourier_interp as fi
from fourier_interp.models.running import ModelCache
from fourier_interp.report.attention import attention_view

P = 7
P_CTX = 3  # [a, b, =]


def _randomise(model: fi.HookedTransformer, seed: int = 0) -> fi.HookedTransformer:
    """LayerNorm weights away from 1/0 and non-zero MLP biases (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            if name.endswith(".w"):
                param.copy_(1 + 0.3 * noise)
            elif name.endswith((".b", "b_in", "b_out")):
                param.copy_(0.2 * noise)
    return model


def small(**overrides) -> fi.HookedTransformer:
    cfg = dict(p=P, d_model=16, n_heads=2, d_head=8, d_mlp=24, seed=1)
    cfg.update(overrides)
    return _randomise(fi.HookedTransformer(fi.TransformerConfig(**cfg)))


@pytest.fixture(scope="module")
def task():
    return fi.ModularArithmetic(p=P)


@pytest.fixture(scope="module")
def two_layer_ln():
    return small(n_layers=2, normalization_type="LN")


@pytest.fixture(scope="module")
def pair(task):
    """Clean tokens, corrupted tokens (operand 0 shifted), clean answers, corrupted answers."""
    rows = torch.arange(0, P * P, 2)  # 25 rows
    clean, corrupted = fi.corrupt_operand(task, task.inputs[rows], operand=0, shift=2)
    return clean, corrupted, task.labels[rows], (task.labels[rows] + 2) % P


def logit_of(logits, answers):
    return logits[torch.arange(len(answers)), answers]


# ---------------------------------------------------------------- the protocol
def test_transformer_meets_the_transformer_lens_model_protocol():
    model = small(n_layers=2)
    assert isinstance(model, TransformerLensModelWithWeights)
    assert torch.equal(model.unembed(torch.eye(16)), model.W_U + model.b_U)
    assert torch.equal(model.embed.W_E, model.W_E) and torch.equal(model.pos_embed.W_pos, model.W_pos)
    assert model.b_U.shape == (P,) and model.to_single_token("=") == P and model.to_single_token("3") == 3
    assert model.to_str_tokens(torch.tensor([3, 4])) == ["3", "4", "="]
    assert torch.equal(model.to_tokens(["1 2 =", "3 4"]), torch.tensor([[1, 2, P], [3, 4, P]]))
    with pytest.raises(ValueError, match="not a token"):
        model.to_single_token("x")
    assert isinstance(model.QK, FactoredMatrix) and model.QK.shape == (2, 2, 16, 16)
    torch.testing.assert_close(model.QK.AB, model.W_Q @ model.W_K.transpose(-2, -1))
    torch.testing.assert_close(model.OV.AB, model.W_V @ model.W_O)
    torch.testing.assert_close(model.blocks[1].attn.OV.AB, model.W_V[1] @ model.W_O[1])
    answers = torch.tensor([[1, 2], [3, 4]])
    assert torch.equal(model.tokens_to_residual_directions(answers), model.W_U[:, answers].permute(1, 2, 0))
    assert torch.equal(model.tokens_to_residual_directions("5"), model.W_U[:, 5])
    with pytest.raises(ValueError, match="answer tokens"):
        model.tokens_to_residual_directions(torch.tensor([0, P]))
    torch.testing.assert_close(model.accumulated_bias(2), model.b_out.sum(0))
    torch.testing.assert_close(model.accumulated_bias(1, mlp_input=True, include_mlp_biases=False), model.b_O[0] + model.b_O[1])


def test_opt_in_hooks_fire_without_changing_the_output(task):
    model = small(n_layers=2, normalization_type="LN")
    tokens = model.to_tokens(task.inputs[:10])
    reference = model(tokens)
    for setter, names in [
        ("set_use_attn_result", ["blocks.1.attn.hook_result"]),
        ("set_use_split_qkv_input", ["blocks.0.attn.hook_q_input", "blocks.1.attn.hook_v_input"]),
        ("set_use_attn_in", ["blocks.1.attn.hook_attn_in"]),
        ("set_use_hook_mlp_in", ["blocks.0.hook_mlp_in"]),
    ]:
        getattr(model, setter)(True)
        logits, cache = model.run_with_cache(tokens)
        torch.testing.assert_close(logits, reference)
        torch.testing.assert_close(model.fast_logits(tokens), reference)
        for name in names:
            expected = (10, 3, 16) if name.endswith("mlp_in") else (10, 3, 2, 16)
            assert cache[name].shape == expected
        if setter == "set_use_attn_result":  # each head's write, and TL's own recomputation of it
            by_hand = torch.einsum("bphe,hed->bphd", cache["blocks.1.attn.hook_z"], model.W_O[1])
            torch.testing.assert_close(cache["blocks.1.attn.hook_result"], by_hand)
            torch.testing.assert_close(cache.stack_head_results(), model.run_with_cache(tokens)[1].stack_head_results())
        getattr(model, setter)(False)
        assert not any(name in model.run_with_cache(tokens)[1] for name in names)
    model.set_use_split_qkv_input(True)
    with pytest.raises(ValueError, match="mutually exclusive"):
        model.set_use_attn_in(True)


# ---------------------------------------------------------------- attribution
def test_direct_logit_attribution_sums_to_the_logit_and_matches_the_weights(task):
    model = small(n_layers=1)  # no LayerNorm: attributions are plain dot products
    tokens, answers = model.to_tokens(task.inputs), task.labels
    logits, cache = model.run_with_cache(tokens)
    target = logit_of(logits, answers)

    stack, labels = cache.decompose_resid(pos_slice=-1, return_labels=True)
    assert labels == ["embed", "pos_embed", "0_attn_out", "0_mlp_out"]
    attrs = cache.logit_attrs(stack, answers, pos_slice=-1)
    torch.testing.assert_close(attrs.sum(0), target - model.b_U[answers], atol=1e-5, rtol=1e-5)
    direction = model.W_U[:, answers].T  # [batch, d_model]
    by_hand = (cache["blocks.0.hook_mlp_out"][:, -1] * direction).sum(-1)
    torch.testing.assert_close(attrs[3], by_hand)

    heads = direct_logit_attribution(model, tokens, answer_tokens=answers, unit="head")
    assert heads.labels == ["L0H0", "L0H1", "remainder"]
    z = cache["blocks.0.attn.hook_z"][:, -1]  # [batch, head, d_head]
    for h in range(2):
        torch.testing.assert_close(heads.attribution[h], ((z[:, h] @ model.W_O[0, h]) * direction).sum(-1))
    torch.testing.assert_close(heads.attribution.sum(0), target - model.b_U[answers], atol=1e-5, rtol=1e-5)

    diff = direct_logit_attribution(model, tokens, answer_tokens=answers, incorrect_tokens=(answers + 1) % P)
    torch.testing.assert_close(diff.attribution.sum(0), target - logit_of(logits, (answers + 1) % P), atol=1e-5, rtol=1e-5)


def test_full_residual_decomposition_sums_to_resid_post(two_layer_ln, task):
    model = two_layer_ln
    _, cache = model.run_with_cache(model.to_tokens(task.inputs[:12]))
    assert cache.stack_activation("pattern").shape == (2, 12, 2, 3, 3)
    stack, labels = cache.get_full_resid_decomposition(return_labels=True)
    assert stack.shape == (2 * 2 + 2 * 24 + 3, 12, 3, 16) and labels[:2] == ["L0H0", "L0H1"] and labels[-1] == "bias"
    torch.testing.assert_close(stack.sum(0), cache["blocks.1.hook_resid_post"], atol=1e-5, rtol=1e-5)
    neuron = labels.index("L1N5")
    by_hand = cache["blocks.1.mlp.hook_post"][..., 5, None] * model.W_out[1, 5]
    torch.testing.assert_close(stack[neuron], by_hand)
    torch.testing.assert_close(cache.accumulated_resid()[-1], cache["blocks.1.hook_resid_post"])
    mid = cache.get_full_resid_decomposition(layer=1, mlp_input=True, expand_neurons=False, pos_slice=-1)
    torch.testing.assert_close(mid.sum(0), cache["blocks.1.hook_resid_mid"][:, -1], atol=1e-5, rtol=1e-5)


def test_logit_lens_at_the_last_layer_equals_the_logits(two_layer_ln, task):
    model = two_layer_ln
    tokens = model.to_tokens(task.inputs[:15])
    logits, cache = model.run_with_cache(tokens)
    lens = cache.logit_lens()
    assert lens.labels == ["0_pre", "1_pre", "final_post"]
    torch.testing.assert_close(lens.values[-1], logits, atol=1e-5, rtol=1e-5)
    by_hand = model.ln_final(cache["blocks.0.hook_resid_post"][:, -1:])[:, 0] @ model.W_U
    torch.testing.assert_close(lens.values[1], by_hand, atol=1e-5, rtol=1e-5)
    # By default the readout is at '=' only, so TransformerLens's model-run check refuses the
    # model's [batch, p] logits rather than reading a wrong axis ...
    with pytest.raises(ValueError, match="logits of shape"):
        logit_lens(model, tokens)


def test_logits_at_every_position_let_the_logit_lens_run_on_the_model(two_layer_ln, task):
    model = copy.deepcopy(two_layer_ln)
    tokens = model.to_tokens(task.inputs[:15])
    last = model(tokens)
    every = model(tokens, all_positions=True)
    assert every.shape == (15, P_CTX, P)
    torch.testing.assert_close(every[:, -1], last)  # one matmul per position or per batch: rounding only
    # every position is ln_final -> unembed of its own residual stream
    _, cache = model.run_with_cache(tokens)
    by_hand = model.ln_final(cache["blocks.1.hook_resid_post"]) @ model.W_U
    torch.testing.assert_close(every, by_hand, atol=1e-5, rtol=1e-5)
    # the loss still reads '=' (the answer's position), whatever the logits' shape
    both_logits, loss = model(tokens, return_type="both", all_positions=True)
    assert both_logits.shape == every.shape
    torch.testing.assert_close(loss, model(tokens, return_type="loss"))
    # ... switched on in the config, TransformerLens's own logit lens runs on the model
    model.cfg.logits_all_positions = True
    lens = logit_lens(model, tokens)
    assert lens.labels == ["0_pre", "1_pre", "final_post"]
    torch.testing.assert_close(lens.values[-1], last, atol=1e-5, rtol=1e-5)
    layer_0 = model.ln_final(cache["blocks.0.hook_resid_post"][:, -1]) @ model.W_U  # "1_pre": after layer 0
    torch.testing.assert_close(lens.values[1], layer_0, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- weight processing
def test_folded_layernorm_keeps_the_logits_and_fixes_the_attributions(two_layer_ln, task):
    unfolded = two_layer_ln
    folded = copy.deepcopy(unfolded).process_weights_()
    assert folded.cfg.normalization_type == "LNPre" and unfolded.cfg.normalization_type == "LN"
    assert folded.cfg.weight_processing == ("fold_ln", "center_writing_weights", "fold_value_biases")
    tokens, answers = unfolded.to_tokens(task.inputs), task.labels
    logits, cache = unfolded.run_with_cache(tokens)
    folded_logits, folded_cache = folded.run_with_cache(tokens)
    torch.testing.assert_close(folded_logits, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(folded.fast_logits(tokens), logits, atol=1e-5, rtol=1e-5)

    with pytest.warns(UserWarning, match="process_weights_"):
        wrong = cache.logit_attrs(cache.decompose_resid(pos_slice=-1), answers, pos_slice=-1)
    target = logit_of(logits, answers)
    assert (wrong.sum(0) - target).abs().max() > 0.1  # the bug: ln_final's weight and bias are ignored

    stack = folded_cache.decompose_resid(pos_slice=-1)
    attrs = folded_cache.logit_attrs(stack, answers, pos_slice=-1)
    torch.testing.assert_close(attrs.sum(0) + folded.b_U[answers], target, atol=1e-4, rtol=1e-4)
    # by hand from the unfolded weights: centre, divide by the final scale, dot with w * W_U
    ln_f = unfolded.ln_final
    scale = cache["ln_final.hook_scale"][:, -1]
    raw = cache.decompose_resid(pos_slice=-1)
    by_hand = (((raw - raw.mean(-1, keepdim=True)) / scale) * (ln_f.w[:, None] * unfolded.W_U)[:, answers].T).sum(-1)
    torch.testing.assert_close(attrs, by_hand, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(folded.b_U, ln_f.b @ unfolded.W_U, atol=1e-6, rtol=1e-5)


def test_weight_processing_options_are_exact_and_recorded(tmp_path, task):
    x = task.inputs
    model = small(n_layers=1, normalization_type="LN", attn_coeff=0.5)
    before = model(x)
    model.process_weights_(center_unembed=True)
    # attention rows do not sum to 1 at attn_coeff=0.5, so b_V stays where it is
    assert model.cfg.weight_processing == ("fold_ln", "center_writing_weights", "center_unembed")
    torch.testing.assert_close(model(x).log_softmax(-1), before.log_softmax(-1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model(x).mean(-1), torch.zeros(P * P), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="attn_coeff=0.5"):
        model.process_weights_(fold_value_biases=True)
    model.save(tmp_path / "processed")
    loaded = fi.load(tmp_path / "processed")
    assert loaded.cfg.weight_processing == model.cfg.weight_processing and loaded.cfg.normalization_type == "LNPre"
    torch.testing.assert_close(loaded(x), model(x))

    plain_cfg = fi.TransformerConfig(p=P, d_model=16, n_heads=2, d_head=8, d_mlp=24)
    plain, other = fi.HookedTransformer(plain_cfg), fi.HookedTransformer(plain_cfg)
    plain.process_weights_()  # no LayerNorm: nothing is exact to do but fold the (zero) value biases
    assert plain.cfg.weight_processing == ("fold_value_biases",) and other.cfg.weight_processing == ()
    with pytest.raises(ValueError, match="LayerNorm"):
        plain.process_weights_(center_writing_weights=True)


# ---------------------------------------------------------------- patching
PATCH_CELLS = [  # TL sweep, hook, cell (TL's index), what the cell patches (after the batch axis)
    ("get_act_patch_resid_pre", "blocks.{}.hook_resid_pre", (1, 2), lambda c: (c[1],)),
    ("get_act_patch_resid_mid", "blocks.{}.hook_resid_mid", (0, 2), lambda c: (c[1],)),
    ("get_act_patch_attn_out", "blocks.{}.hook_attn_out", (0, 2), lambda c: (c[1],)),
    ("get_act_patch_mlp_out", "blocks.{}.hook_mlp_out", (0, 0), lambda c: (c[1],)),
    ("get_act_patch_attn_head_out_by_pos", "blocks.{}.attn.hook_z", (0, 0, 1), lambda c: (c[1], c[2])),
    ("get_act_patch_attn_head_q_by_pos", "blocks.{}.attn.hook_q", (1, 2, 0), lambda c: (c[1], c[2])),
    ("get_act_patch_attn_head_k_by_pos", "blocks.{}.attn.hook_k", (1, 0, 1), lambda c: (c[1], c[2])),
    ("get_act_patch_attn_head_v_by_pos", "blocks.{}.attn.hook_v", (0, 0, 0), lambda c: (c[1], c[2])),
    ("get_act_patch_attn_head_pattern_by_pos", "blocks.{}.attn.hook_pattern", (1, 1, 2), lambda c: (c[1], c[2])),
    ("get_act_patch_attn_head_pattern_dest_src_pos", "blocks.{}.attn.hook_pattern", (1, 0, 2, 0),
     lambda c: (c[1], c[2], c[3])),
    ("get_act_patch_attn_head_out_all_pos", "blocks.{}.attn.hook_z", (0, 1), lambda c: (slice(None), c[1])),
    ("get_act_patch_attn_head_q_all_pos", "blocks.{}.attn.hook_q", (1, 0), lambda c: (slice(None), c[1])),
    ("get_act_patch_attn_head_k_all_pos", "blocks.{}.attn.hook_k", (1, 1), lambda c: (slice(None), c[1])),
    ("get_act_patch_attn_head_v_all_pos", "blocks.{}.attn.hook_v", (0, 1), lambda c: (slice(None), c[1])),
    ("get_act_patch_attn_head_pattern_all_pos", "blocks.{}.attn.hook_pattern", (1, 0), lambda c: (c[1],)),
]


def manual_patch(model, corrupted, clean_cache, hook, where):
    def patch(act, hook=None):
        act = act.clone()
        act[(slice(None), *where)] = clean_cache[hook_name][(slice(None), *where)]
        return act

    hook_name = hook
    return model.run_with_hooks(corrupted, fwd_hooks=[(hook, patch)])


@pytest.mark.parametrize("sweep,hook,cell,where", PATCH_CELLS, ids=[c[0] for c in PATCH_CELLS])
def test_every_act_patch_sweep_equals_a_manual_patch(two_layer_ln, pair, sweep, hook, cell, where):
    model = two_layer_ln
    clean, corrupted, answers, _ = pair
    clean_tokens, corrupted_tokens = model.to_tokens(clean), model.to_tokens(corrupted)
    _, clean_cache = model.run_with_cache(clean_tokens)

    def metric(logits):
        return logit_of(logits, answers).mean()

    result = getattr(tl_patching, sweep)(model, corrupted_tokens, clean_cache, metric)
    manual = metric(manual_patch(model, corrupted_tokens, clean_cache, hook.format(cell[0]), where(cell)))
    torch.testing.assert_close(result[cell], manual)
    assert (result - metric(model(corrupted_tokens))).abs().max() > 1e-4  # some cell moves the metric


def test_every_combined_sweep_stacks_the_single_sweeps(two_layer_ln, pair):
    model = two_layer_ln
    clean, corrupted, answers, _ = pair
    corrupted_tokens = model.to_tokens(corrupted)
    _, clean_cache = model.run_with_cache(model.to_tokens(clean))

    def metric(logits):
        return logit_of(logits, answers).mean()

    block = tl_patching.get_act_patch_block_every(model, corrupted_tokens, clean_cache, metric)
    torch.testing.assert_close(block[2], tl_patching.get_act_patch_mlp_out(model, corrupted_tokens, clean_cache, metric))
    heads = tl_patching.get_act_patch_attn_head_all_pos_every(model, corrupted_tokens, clean_cache, metric)
    torch.testing.assert_close(heads[1, 1, 0], metric(manual_patch(model, corrupted_tokens, clean_cache,
                                                                   "blocks.1.attn.hook_q", (slice(None), 0))))
    by_pos = tl_patching.get_act_patch_attn_head_by_pos_every(model, corrupted_tokens, clean_cache, metric)
    torch.testing.assert_close(by_pos[0, 0, 2, 1], metric(manual_patch(model, corrupted_tokens, clean_cache,
                                                                       "blocks.0.attn.hook_z", (2, 1))))
    generic = tl_patching.generic_activation_patch(model, corrupted_tokens, clean_cache, lambda l: logit_of(l, answers),
                                                   tl_patching.layer_pos_patch_setter, "resid_pre",
                                                   index_axis_names=("layer", "pos"), reduce="none")
    torch.testing.assert_close(generic.mean(), tl_patching.get_act_patch_resid_pre(model, corrupted_tokens,
                                                                                    clean_cache, metric))


@pytest.mark.parametrize("component", ["q", "k", "v"])
def test_direct_path_patching_equals_a_manual_edge_patch(two_layer_ln, pair, component):
    model = two_layer_ln
    clean, corrupted, answers, _ = pair
    corrupted_tokens = model.to_tokens(corrupted)
    _, clean_cache = model.run_with_cache(model.to_tokens(clean))
    _, corrupted_cache = model.run_with_cache(corrupted_tokens)

    def metric(logits):
        return logit_of(logits, answers).mean()

    result = tl_patching.get_act_patch_direct_path(model, corrupted_tokens, clean_cache, corrupted_cache, metric,
                                                   src_layer=0, src_head=1, component=component, verbose=False)
    assert not model.cfg.use_split_qkv_input  # the sweep restored the flag
    # By hand: only head 0 of layer 1 reads (through ln1 and W_{Q,K,V}) the residual with
    # source head L0H1's clean-minus-corrupted write added; everything else is the corrupted run.
    delta = (clean_cache["blocks.0.attn.hook_z"][:, :, 1] - corrupted_cache["blocks.0.attn.hook_z"][:, :, 1]) @ model.W_O[0, 1]
    attn = model.blocks[1].attn
    weight, bias = {"q": (attn.W_Q, attn.b_Q), "k": (attn.W_K, attn.b_K), "v": (attn.W_V, attn.b_V)}[component]
    seen = {}

    def keep_resid(act, hook):
        seen["resid"] = act

    def replace_head(act, hook):
        act = act.clone()
        act[:, :, 0] = model.blocks[1].ln1(seen["resid"] + delta) @ weight[0] + bias[0]
        return act

    manual = metric(model.run_with_hooks(corrupted_tokens, fwd_hooks=[
        ("blocks.1.hook_resid_pre", keep_resid), (f"blocks.1.attn.hook_{component}", replace_head)]))
    torch.testing.assert_close(result[1, 0], manual)
    assert torch.equal(result[0], torch.zeros(2))  # rows l <= src_layer are placeholders
    every = tl_patching.get_act_patch_direct_path_all_sources(model, corrupted_tokens, clean_cache, corrupted_cache,
                                                              metric, component=component, verbose=False)
    torch.testing.assert_close(every[0, 1], result)


def test_operands_in_a_position_sweep_are_refused(two_layer_ln, pair):
    model = two_layer_ln
    clean, corrupted, answers, _ = pair
    _, clean_cache = model.run_with_cache(clean)  # operands: the model appends '=' itself
    with pytest.raises(ValueError, match=r"model\.to_tokens"):
        tl_patching.get_act_patch_resid_pre(model, corrupted, clean_cache, lambda l: l.mean())
    with pytest.raises(ValueError, match=r"model\.to_tokens"):
        tl_patching.get_act_patch_attn_head_pattern_by_pos(model, corrupted, clean_cache, lambda l: l.mean())
    # our own patching and plain run_with_hooks still take operands
    torch.testing.assert_close(fi.patch_activation(model, clean, corrupted, "blocks.1.hook_resid_pre", index=2),
                               fi.patch_activation(model, model.to_tokens(clean), model.to_tokens(corrupted),
                                                   "blocks.1.hook_resid_pre", index=2))


# ---------------------------------------------------------------- caches
def test_remove_batch_dim_gives_a_cache_without_a_batch_axis(two_layer_ln, task):
    model = two_layer_ln
    tokens = model.to_tokens(task.inputs[5:6])
    logits, cache = model.run_with_cache(tokens, remove_batch_dim=True)
    assert isinstance(cache, ActivationCache) and not cache.has_batch_dim
    assert cache["blocks.0.hook_resid_pre"].shape == (3, 16) and cache["hook_logits"].shape == (P,)
    with pytest.raises(AssertionError, match="without a batch dim"):
        cache.apply_slice_to_batch_dim(0)
    assert cache.remove_batch_dim() is cache  # a no-op (logged), not an assertion
    folded = copy.deepcopy(model).process_weights_()
    _, folded_cache = folded.run_with_cache(tokens, remove_batch_dim=True)
    answer = int(task.labels[5])
    attrs = folded_cache.logit_attrs(folded_cache.decompose_resid(pos_slice=-1), answer, pos_slice=-1,
                                     has_batch_dim=False)
    torch.testing.assert_close(attrs.sum() + folded.b_U[answer], logits[0, answer], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="single example"):
        model.run_with_cache(model.to_tokens(task.inputs[:2]), remove_batch_dim=True)
    _, batched = model.run_with_cache(tokens)
    sliced = batched.apply_slice_to_batch_dim(0)
    assert isinstance(sliced, ModelCache) and not sliced.has_batch_dim
    torch.testing.assert_close(sliced["blocks.1.hook_resid_post"], cache["blocks.1.hook_resid_post"])


def test_pos_slice_cuts_the_position_axis_only(two_layer_ln, task):
    model = two_layer_ln
    model.set_use_split_qkv_input(True)
    try:
        tokens = model.to_tokens(task.inputs[:6])
        logits, full = model.run_with_cache(tokens)
        _, cut = model.run_with_cache(tokens, pos_slice=-1)
    finally:
        model.set_use_split_qkv_input(False)
    torch.testing.assert_close(cut["hook_logits"], logits)  # [batch, p]: no position axis to cut
    last = slice(-1, None)  # as in TransformerLens, an int pos_slice keeps a length-1 position axis
    for name, index in [("blocks.1.hook_resid_post", (slice(None), last)), ("blocks.0.attn.hook_z", (slice(None), last)),
                        ("blocks.1.attn.hook_q_input", (slice(None), last)), ("blocks.0.ln1.hook_scale", (slice(None), last)),
                        ("blocks.1.attn.hook_pattern", (slice(None), slice(None), last))]:
        torch.testing.assert_close(cut[name], full[name][index])
    rnn = fi.HookedRNN(fi.RNNConfig(p=P, d_embed=8, d_hidden=12))
    _, rnn_cut = rnn.run_with_cache(task.inputs[:6], pos_slice=-1)
    assert rnn_cut["layers.0.steps.1.hook_hidden"].shape == (6, 12) and rnn_cut["layers.0.hook_hidden"].shape == (6, 1, 12)
    _, one = model.run_with_cache(tokens[:1], pos_slice=-1, remove_batch_dim=True)
    assert one["blocks.1.hook_resid_post"].shape == (1, 16) and one["hook_logits"].shape == (P,)


def test_oversized_decompositions_are_refused_with_the_size(two_layer_ln, task):
    model = two_layer_ln
    _, cache = model.run_with_cache(model.to_tokens(task.inputs))
    full = cache.get_full_resid_decomposition()
    cache.max_bytes = full.numel() * full.element_size()  # exactly the size: allowed
    cache.get_full_resid_decomposition()
    cache.max_bytes -= 1
    with pytest.raises(MemoryError, match=r"\[55, 49, 3, 16\].*pos_slice=-1"):
        cache.get_full_resid_decomposition()
    cache.max_bytes = 1000
    with pytest.raises(MemoryError, match="stack_neuron_results"):
        cache.stack_neuron_results(2)
    cache.max_bytes = full.numel() * full.element_size() // 3
    projected = cache.get_full_resid_decomposition(pos_slice=-1, project_output_onto=model.W_U[:, 0])
    torch.testing.assert_close(projected, (full[:, :, -1] @ model.W_U[:, 0]), atol=1e-5, rtol=1e-5)
    assert cache.apply_slice_to_batch_dim(slice(0, 10)).max_bytes == cache.max_bytes


def test_full_grid_decomposition_of_the_shipped_model_says_how_big_it_is():
    model, _ = fi.load_pretrained("transformer-p113")
    grid = fi.ModularArithmetic(p=113).inputs
    _, cache = model.run_with_cache(grid, names_filter=["hook_embed"])
    with pytest.raises(MemoryError, match=r"\[519, 12769, 3, 128\].*10\.2 GB"):
        cache.get_full_resid_decomposition()


# ---------------------------------------------------------------- gradients
def families():
    return {
        "transformer": (small(n_layers=2, normalization_type="LN"), "blocks.1.hook_resid_mid"),
        "rnn": (fi.HookedRNN(fi.RNNConfig(p=P, d_embed=8, d_hidden=12)), "layers.0.steps.0.hook_hidden"),
        "mlp": (fi.HookedMLP(fi.MLPConfig(p=P, k=2)), "hook_pre"),
    }


@pytest.mark.parametrize("family", ["transformer", "rnn", "mlp"])
def test_incl_bwd_gradients_equal_autograd(family, task):
    model, hook = families()[family]
    x = task.inputs
    loss, cache = model.run_with_cache(x, return_type="loss", incl_bwd=True)
    torch.testing.assert_close(loss, F.cross_entropy(model(x).double(), task.labels))
    grads = [name for name in cache.keys() if name.endswith("_grad")]
    assert f"{hook}_grad" in grads and "hook_logits_grad" in grads
    kept = {}

    def keep(act, hook):
        kept["act"] = act  # the tensor the rest of the forward reads

    logits = model.run_with_hooks(x, fwd_hooks=[(hook, keep)])
    (expected,) = torch.autograd.grad(F.cross_entropy(logits.double(), task.labels), kept["act"])
    torch.testing.assert_close(cache[f"{hook}_grad"], expected)

    def metric(logits):
        return logits[:, 0].sum()

    out, cache = model.run_with_cache(x, loss_fn=metric, incl_bwd=True)
    assert out.shape == (P * P, P)
    torch.testing.assert_close(cache["hook_logits_grad"], torch.zeros(P * P, P).index_fill_(1, torch.tensor([0]), 1.0))
    with pytest.raises(ValueError, match="return_type='loss'"):
        model.run_with_cache(x, incl_bwd=True)


def test_attribution_patching_matches_a_finite_patch_to_first_order(pair):
    model = small(n_layers=2, normalization_type="LN").double()
    clean, corrupted, answers, wrong = pair
    hook = "blocks.1.hook_resid_mid"

    def metric(logits):
        return (logit_of(logits, answers) - logit_of(logits, wrong)).mean()

    _, clean_cache = model.run_with_cache(clean, names_filter=[hook])
    _, corrupted_cache = model.run_with_cache(corrupted, loss_fn=metric, incl_bwd=True, names_filter=[hook])
    delta = clean_cache[hook] - corrupted_cache[hook]
    attribution = (delta * corrupted_cache[f"{hook}_grad"])[:, 2].sum()  # the '=' position
    eps = 1e-5

    def nudge(act, hook):
        act = act.clone()
        act[:, 2] += eps * delta[:, 2]
        return act

    with torch.no_grad():
        base = metric(model(corrupted))
        moved = metric(model.run_with_hooks(corrupted, fwd_hooks=[(hook, nudge)]))
    torch.testing.assert_close((moved - base) / eps, attribution, rtol=1e-4, atol=1e-6)
    assert attribution.abs() > 1e-3

    # TransformerLens's own attribution patching: its node score is the same gradient x difference
    tokens, corrupted_tokens = model.to_tokens(clean[:2]), model.to_tokens(corrupted[:2])
    per_row = lambda row: (lambda logits: logits[0, answers[row]] - logits[0, wrong[row]])  # noqa: E731
    result = attribution_patch(model, tokens[:1], corrupted_tokens[:1], per_row(0))
    _, c0 = model.run_with_cache(tokens[:1], names_filter=["blocks.0.hook_mlp_out"])
    _, g0 = model.run_with_cache(corrupted_tokens[:1], loss_fn=per_row(0), incl_bwd=True,
                                 names_filter=["blocks.0.hook_mlp_out"])
    by_hand = ((c0["blocks.0.hook_mlp_out"] - g0["blocks.0.hook_mlp_out"]) * g0["blocks.0.hook_mlp_out_grad"])[0, 2].sum()
    node = next(n for n in result.node_scores if n.kind == "mlp_out" and n.layer == 0 and n.position == 2)
    assert result.node_scores[node] == pytest.approx(float(by_hand), rel=1e-6, abs=1e-9)
    edges = attribution_patch(model, tokens[:1], corrupted_tokens[:1], per_row(0), EdgeAttributionConfig(granularity="edge"))
    assert edges.node_scores[node] == pytest.approx(result.node_scores[node], rel=1e-5, abs=1e-8)
    assert not (model.cfg.use_attn_result or model.cfg.use_split_qkv_input or model.cfg.use_hook_mlp_in)


def test_forward_return_types(task):
    model = small(n_layers=1)
    x = task.inputs
    logits = model(x)
    torch.testing.assert_close(model(x, return_type="loss"), F.cross_entropy(logits.double(), task.labels))
    both = model(x, return_type="both")
    torch.testing.assert_close(both[0], logits)
    assert model(x, return_type=None) is None
    sub = fi.ModularArithmetic(p=P, op="sub")
    torch.testing.assert_close(model(x, return_type="loss", labels=sub.labels), F.cross_entropy(logits.double(), sub.labels))
    with pytest.raises(ValueError, match="return_type"):
        model(x, return_type="probs")


def test_fast_path_equals_forward_with_biases_and_attention_rate(task):
    x = task.inputs
    for cfg in (dict(attn_bias=True, unembed_bias=True), dict(attn_coeff=0.3, attn_bias=True), dict(n_layers=2, attn_coeff=0.0)):
        model = small(**cfg)
        with torch.no_grad():
            for name in ("b_Q", "b_K", "b_V", "b_O"):
                if model.cfg.attn_bias:
                    getattr(model.blocks[0].attn, name).normal_()
        torch.testing.assert_close(model.fast_logits(x), model(x), atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- attention view
def test_attention_view_is_built_offline_with_bundled_javascript(monkeypatch, two_layer_ln, task):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    model = two_layer_ln
    view = attention_view(model, task.inputs, example=9)
    page = view._repr_html_()
    assert view.tokens == ["1", "2", "="] and view.head_names == ["L1H0", "L1H1"]
    assert "<script src=" not in page and "unpkg.com" not in page and "CircuitsVis.render" in page
    _, cache = model.run_with_cache(task.inputs)
    torch.testing.assert_close(view.pattern, cache["blocks.1.attn.hook_pattern"][9])
    from_cache = attention_view(cache, task.inputs, example=9, hook="blocks.0.attn.hook_pattern", heads=[1])
    assert from_cache.head_names == ["L0H1"] and from_cache.tokens == ["1", "2", "="]
    torch.testing.assert_close(from_cache.pattern[0], cache["blocks.0.attn.hook_pattern"][9, 1])


@pytest.mark.parametrize("kind", ["OV", "w_in", "w_out"])
def test_svd_interpreter_reads_singular_vectors_through_the_unembedding(two_layer_ln, kind):
    """TL's SVDInterpreter: each vector is W_U^T v for a right singular vector v of the matrix (up to
    sign), with a zero row for '=' (never an answer)."""
    from transformer_lens import SVDInterpreter

    model, layer, n = two_layer_ln, 1, 3
    block = model.blocks[layer]
    if kind == "OV":
        dense = block.attn.W_V[0] @ block.attn.W_O[0]             # [d_model, d_model], head 0
    elif kind == "w_in":
        dense = (block.mlp.W_in * block.ln2.w[:, None]).T          # [d_mlp, d_model]: TL scales by ln2 when unfolded
    else:
        dense = block.mlp.W_out                                    # [d_mlp, d_model]
    vectors = SVDInterpreter(model).get_singular_vectors(kind, layer, num_vectors=n,
                                                         head_index=0 if kind == "OV" else None)
    assert vectors.shape == (model.cfg.d_vocab, 1, n)
    assert torch.count_nonzero(vectors[model.cfg.p]) == 0              # the '=' row
    s = torch.linalg.svd(dense.detach().double()).S
    assert (s[:n] - s[1 : n + 1]).abs().min() > 1e-6                 # distinct: each vector is defined up to sign
    _, _, Vh = torch.linalg.svd(dense.detach().double())
    by_hand = model.W_U.detach().double().T @ Vh[:n].T                 # [p, n]
    ours = vectors[: model.cfg.p, 0].double()
    cosine = F.cosine_similarity(ours, by_hand, dim=0).abs()
    torch.testing.assert_close(cosine, torch.ones(n, dtype=torch.float64), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- TransformerLens's own formats
from fourier_interp.errors import InvalidArgumentError  # noqa: E402
from fourier_interp.models.transformer.bridge import tl_config, tl_state_dict  # noqa: E402

EXPORTED = {
    "nanda-like": dict(),
    "two layers, LayerNorm, biases": dict(n_layers=2, normalization_type="LN", attn_bias=True, unembed_bias=True),
    "gelu": dict(act_fn="gelu"),
    "constant attention (pizza)": dict(attn_coeff=0.0),
    "attention rate 0.5": dict(attn_coeff=0.5, n_layers=2),
}


def _random_biases(model, seed=3):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.rpartition(".")[2] in ("b_Q", "b_K", "b_V", "b_O", "b_U"):
                param.copy_(0.3 * torch.randn(param.shape, generator=gen))
    return model


@pytest.mark.parametrize("overrides", EXPORTED.values(), ids=EXPORTED.keys())
def test_export_builds_transformer_lens_native_model_with_the_same_logits_everywhere(overrides, task):
    from transformer_lens.model_bridge import TransformerBridge

    model = _random_biases(small(**overrides))
    bridge = fi.export_tl(model)
    assert isinstance(bridge, TransformerBridge) and not bridge.training
    tokens = model.to_tokens(task.inputs)
    theirs = bridge(tokens)
    assert theirs.shape == (P * P, P_CTX, P)
    torch.testing.assert_close(theirs, model(tokens, all_positions=True), atol=2e-5, rtol=2e-5)
    # the patterns they cache are the ones they use: the same as ours, attention rate included
    _, their_cache = bridge.run_with_cache(tokens)
    _, our_cache = model.run_with_cache(tokens)
    torch.testing.assert_close(their_cache["blocks.0.attn.hook_pattern"], our_cache["blocks.0.attn.hook_pattern"],
                               atol=1e-5, rtol=1e-5)


def test_exporting_the_shipped_transformer_keeps_every_answer_and_the_logit_lens_runs_on_it():
    model, task = fi.load_pretrained("transformer-p113")
    bridge = fi.export_tl(model)
    tokens = model.to_tokens(task.inputs)
    ours = model(tokens)
    theirs = torch.cat([bridge(chunk)[:, -1] for chunk in tokens.split(4096)])
    torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=1e-5)
    assert torch.equal(theirs.argmax(-1), ours.argmax(-1))
    assert (theirs.argmax(-1) == task.labels).float().mean() > 0.99
    lens = logit_lens(bridge, tokens[:64])
    torch.testing.assert_close(lens.values[-1], ours[:64], atol=1e-4, rtol=1e-5)


def _hooked_transformer_state_dict(cfg: dict, seed: int = 0, zero_biases: bool = False) -> dict:
    """A state dict as TransformerLens's HookedTransformer saves it (keys, shapes, buffers), random values."""
    gen = torch.Generator().manual_seed(seed)
    d, h, e, m = cfg["d_model"], cfg["n_heads"], cfg["d_head"], cfg["d_mlp"]
    state = {"embed.W_E": (cfg["d_vocab"], d), "pos_embed.W_pos": (cfg["n_ctx"], d)}
    for l in range(cfg["n_layers"]):
        b = f"blocks.{l}."
        if cfg["normalization_type"] == "LN":
            state.update({b + "ln1.w": (d,), b + "ln1.b": (d,), b + "ln2.w": (d,), b + "ln2.b": (d,)})
        state.update({b + "attn.W_Q": (h, d, e), b + "attn.W_K": (h, d, e), b + "attn.W_V": (h, d, e),
                      b + "attn.W_O": (h, e, d), b + "attn.b_Q": (h, e), b + "attn.b_K": (h, e),
                      b + "attn.b_V": (h, e), b + "attn.b_O": (d,), b + "mlp.W_in": (d, m), b + "mlp.b_in": (m,),
                      b + "mlp.W_out": (m, d), b + "mlp.b_out": (d,)})
    if cfg["normalization_type"] == "LN":
        state.update({"ln_final.w": (d,), "ln_final.b": (d,)})
    state.update({"unembed.W_U": (d, cfg["d_vocab_out"]), "unembed.b_U": (cfg["d_vocab_out"],)})
    out = {}
    for key, shape in state.items():
        value = torch.randn(shape, generator=gen) / math.sqrt(shape[-2] if len(shape) > 1 else 4)
        if key.endswith((".w",)):
            value = 1 + 0.3 * value
        if zero_biases and key.rpartition(".")[2] in ("b_Q", "b_K", "b_V", "b_O", "b_U"):
            value = torch.zeros(shape)
        out[key] = value
    for l in range(cfg["n_layers"]):  # the buffers HookedTransformer saves with its weights
        out[f"blocks.{l}.attn.mask"] = torch.tril(torch.ones(cfg["n_ctx"], cfg["n_ctx"])).bool()
        out[f"blocks.{l}.attn.IGNORE"] = torch.tensor(-1e5)
    return out


NANDA_CFG = dict(n_layers=1, d_model=16, n_heads=2, d_head=8, d_mlp=24, d_vocab=P + 1, d_vocab_out=P, n_ctx=3,
                 act_fn="relu", normalization_type=None)


@pytest.mark.parametrize("cfg", [NANDA_CFG, {**NANDA_CFG, "n_layers": 2, "normalization_type": "LN", "act_fn": "gelu"}],
                         ids=["nanda-like", "two layers, LayerNorm, gelu"])
def test_import_of_a_hooked_transformer_checkpoint_computes_what_transformer_lens_computes(cfg, task):
    # the reference is TransformerLens's own: its converter and its native model on the same state dict
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge
    from transformer_lens.model_bridge.sources import native  # noqa: F401
    from transformer_lens.utilities.tl_checkpoint_conversion import convert_tl_checkpoint

    state = _hooked_transformer_state_dict(cfg)
    model = fi.import_tl_checkpoint(state, cfg)
    assert model.cfg.p == P and model.cfg.k == 2 and model.cfg.attn_bias and model.cfg.unembed_bias
    reference = TransformerBridge.boot_native(TransformerBridgeConfig(**cfg, architecture="TransformerLensNative"))
    reference.load_state_dict(convert_tl_checkpoint(state, reference.cfg), strict=True)
    tokens = model.to_tokens(task.inputs)
    torch.testing.assert_close(model(tokens, all_positions=True), reference.eval()(tokens), atol=2e-5, rtol=2e-5)


def test_import_takes_the_config_as_an_object_too_and_zero_biases_stay_fixed_zeros(task):
    from transformer_lens.config import TransformerBridgeConfig

    state = _hooked_transformer_state_dict(NANDA_CFG, zero_biases=True)  # ARENA freezes the biases at zero
    model = fi.import_tl_checkpoint(state, TransformerBridgeConfig(**NANDA_CFG))
    assert not model.cfg.attn_bias and not model.cfg.unembed_bias  # the nanda2023 architecture
    assert torch.equal(model.W_E, state["embed.W_E"]) and torch.equal(model.blocks[0].mlp.W_in, state["blocks.0.mlp.W_in"])


def test_export_and_import_round_trip_exactly(task):
    model = _random_biases(small(n_layers=2, normalization_type="LN", attn_bias=True, unembed_bias=True))
    again = fi.import_tl_checkpoint(tl_state_dict(model), tl_config(model))
    assert again.cfg.attn_bias and again.cfg.unembed_bias and again.cfg.normalization_type == "LN"
    for (name, ours), (_, theirs) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(ours, theirs), name
    assert torch.equal(again(task.inputs), model(task.inputs))


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda s, c: s.update({"blocks.0.attn.W_Q": torch.zeros(2, 16, 4)}), r"blocks.0.attn.W_Q.*shape \(2, 16, 4\)"),
        (lambda s, c: s.update({"blocks.0.attn.W_gate": torch.zeros(3)}), "W_gate"),
        (lambda s, c: s.pop("blocks.0.mlp.W_out"), "lacks.*blocks.0.mlp.W_out"),
        (lambda s, c: c.update(d_vocab=P + 3), "'=' token"),
        (lambda s, c: c.update(gated_mlp=True), "cfg.gated_mlp=True"),
        (lambda s, c: c.update(normalization_type="RMS"), "normalization_type='RMS'"),
    ],
)
def test_import_refuses_what_does_not_fit_naming_it(change, match):
    state, cfg = _hooked_transformer_state_dict(NANDA_CFG), dict(NANDA_CFG)
    change(state, cfg)
    with pytest.raises(InvalidArgumentError, match=match):
        fi.import_tl_checkpoint(state, cfg)


ZHONG_CFG = {"name": "modadd_7", "C": P, "n_heads": 2, "d_model": 16, "n_layers": 1, "act_fn": "ReLU",
             "attn_coeff": 0.3, "diff_vocab": 0, "eqn_sign": 1}


def _zhong_state_dict(cfg: dict, seed: int = 0) -> dict:
    """Random weights in the layout of Zhong et al.'s code: W_E [d_model, vocab], W_Q [head, d_head, d_model] ..."""
    gen = torch.Generator().manual_seed(seed)
    d, h, vocab = cfg["d_model"], cfg["n_heads"], cfg["C"] + 1
    e, m = d // h, 4 * d
    shapes = {"embed.W_E": (d, vocab), "pos_embed.W_pos": (3, d), "blocks.0.attn.W_K": (h, e, d),
              "blocks.0.attn.W_Q": (h, e, d), "blocks.0.attn.W_V": (h, e, d), "blocks.0.attn.W_O": (d, h * e),
              "blocks.0.mlp.W_in": (m, d), "blocks.0.mlp.b_in": (m,), "blocks.0.mlp.W_out": (d, m),
              "blocks.0.mlp.b_out": (d,), "unembed.W_U": (d, vocab)}
    state = {k: torch.randn(s, generator=gen) / math.sqrt(s[-1]) for k, s in shapes.items()}
    state["blocks.0.attn.mask"] = torch.tril(torch.ones(3, 3))
    return state


def _zhong_forward(state: dict, cfg: dict, tokens: torch.Tensor) -> torch.Tensor:
    """Their model's maths, written out: attention with no causal mask, rate c * softmax + (1 - c)."""
    c, d_head = cfg["attn_coeff"], cfg["d_model"] // cfg["n_heads"]
    x = state["embed.W_E"].T[tokens] + state["pos_embed.W_pos"]  # [batch, pos, d_model]
    q, k, v = (torch.einsum("hed,bpd->bhpe", state[f"blocks.0.attn.W_{n}"], x) for n in "QKV")
    pattern = c * (q @ k.transpose(-1, -2) / math.sqrt(d_head)).softmax(-1) + (1 - c)  # [batch, head, q, k]
    z = (pattern @ v).transpose(1, 2).flatten(2)  # [batch, pos, head * d_head], head-major
    x = x + z @ state["blocks.0.attn.W_O"].T
    hidden = torch.relu(x @ state["blocks.0.mlp.W_in"].T + state["blocks.0.mlp.b_in"])
    x = x + hidden @ state["blocks.0.mlp.W_out"].T + state["blocks.0.mlp.b_out"]
    return (x @ state["unembed.W_U"])[:, -1, : cfg["C"]]  # the answers' logits at the last position


def test_import_of_a_zhong_checkpoint_computes_their_model(task):
    state = _zhong_state_dict(ZHONG_CFG)
    model = fi.import_tl_checkpoint(state, ZHONG_CFG)
    assert model.cfg.attn_coeff == 0.3 and model.cfg.d_mlp == 64 and model.cfg.p == P
    tokens = model.to_tokens(task.inputs)
    torch.testing.assert_close(model(tokens), _zhong_forward(state, ZHONG_CFG, tokens), atol=2e-5, rtol=2e-5)
    torch.testing.assert_close(model.fast_logits(tokens), model(tokens), atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("change,match", [({"eqn_sign": 0}, "HookedWrapper"), ({"diff_vocab": 1}, "HookedWrapper"),
                                          ({"n_layers": 2}, "one layer"), ({"act_fn": "Tanh"}, "ReLU and GeLU")])
def test_zhong_checkpoints_that_are_another_architecture_are_refused(change, match):
    with pytest.raises(InvalidArgumentError, match=match):
        fi.import_tl_checkpoint(_zhong_state_dict(ZHONG_CFG), {**ZHONG_CFG, **change})


@pytest.mark.parametrize("cfg", [
    dict(act_fn="gelu", attn_bias=True, unembed_bias=True),
    dict(mlp_bias=False, attn_coeff=0.0),
    dict(k=3, attn_bias=True, attn_coeff=0.7),
    dict(op="mul", n_heads=3, d_head=5),
])
def test_folded_fast_path_equals_forward_in_value_and_gradient(cfg):
    """A one-block model without normalisation trains through ``folded_logits`` (W_O folded into
    W_in and W_U, W_out into W_U): the hooked forward's logits and every parameter's gradient."""
    op = cfg.pop("op", "add")
    model = small(**cfg)
    assert model.cfg.n_layers == 1 and model.cfg.normalization_type is None
    with torch.no_grad():
        for module in (model.blocks[0].attn, model.blocks[0].mlp, model):
            for name, param in module.named_parameters(recurse=False):
                if name.startswith("b_") and param.requires_grad:
                    param.normal_()
    task = fi.ModularArithmetic(p=P, k=model.cfg.k, op=op)
    slow, fast = model(task.inputs), model.fast_logits(task.inputs)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    params = [p for p in model.parameters() if p.requires_grad]
    g_slow = torch.autograd.grad(F.cross_entropy(slow, task.labels), params)
    g_fast = torch.autograd.grad(F.cross_entropy(model.fast_logits(task.inputs), task.labels), params)
    for (name, _), a, b in zip([(n, p) for n, p in model.named_parameters() if p.requires_grad], g_slow, g_fast):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-4, msg=name)


def test_the_dense_folded_readout_equals_autograd_of_its_expression():
    """``_ReluReadout``, the folded block's step on a GPU (and under vmap / compile), outside
    vmap: its in-place masked backward against autograd's for ``b_dir + z W_dir + relu(b_in + z W_in) W_out``,
    in float64, with a third of the units dead on some examples."""
    from fourier_interp.models.transformer.layers import _ReluReadout

    gen = torch.Generator().manual_seed(0)
    shapes = dict(z=(37, 12), W_in=(12, 20), b_in=(20,), W_dir=(12, 7), b_dir=(7,), W_out=(20, 7))
    leaves = {n: torch.randn(*s, generator=gen, dtype=torch.float64, requires_grad=True) for n, s in shapes.items()}
    z, W_in, b_in, W_dir, b_dir, W_out = leaves.values()
    target = torch.randn(37, 7, generator=gen, dtype=torch.float64)
    reference = b_dir + z @ W_dir + torch.relu(b_in + z @ W_in) @ W_out
    logits, post = _ReluReadout.apply(z, W_in, b_in, W_dir, b_dir, W_out)
    torch.testing.assert_close(logits, reference, rtol=1e-12, atol=1e-12)
    assert 0.1 < (post == 0).double().mean() < 0.9
    expected = torch.autograd.grad((reference * target).sum(), list(leaves.values()))
    got = torch.autograd.grad((logits * target).sum(), list(leaves.values()))
    for name, a, b in zip(leaves, expected, got):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12, msg=name)
