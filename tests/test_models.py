"""Hook points, caches, input checks and the fast path of every model family."""

import pytest
import torch
from transformer_lens import ActivationCache, patching

import fourier_interp as fi


def expected_shapes(model, batch):
    """Documented shape of every hook point of ``model`` on a batch of operands."""
    cfg = model.cfg
    if isinstance(model, fi.HookedTransformer):
        n, d, h, e = cfg.n_ctx, cfg.d_model, cfg.n_heads, cfg.d_head
        shapes = {"hook_embed": (batch, n, d), "hook_pos_embed": (batch, n, d), "hook_logits": (batch, cfg.p)}
        for layer in range(cfg.n_layers):
            b = f"blocks.{layer}"
            for name in ("hook_resid_pre", "hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post"):
                shapes[f"{b}.{name}"] = (batch, n, d)
            for name in ("hook_q", "hook_k", "hook_v", "hook_z"):
                shapes[f"{b}.attn.{name}"] = (batch, n, h, e)
            shapes[f"{b}.attn.hook_attn_scores"] = shapes[f"{b}.attn.hook_pattern"] = (batch, h, n, n)
            shapes[f"{b}.mlp.hook_pre"] = shapes[f"{b}.mlp.hook_post"] = (batch, n, cfg.d_mlp)
        return shapes
    if isinstance(model, fi.HookedRNN):
        shapes = {"hook_embed": (batch, cfg.k, cfg.d_embed), "hook_logits": (batch, cfg.p)}
        for layer in range(cfg.n_layers):
            shapes[f"layers.{layer}.hook_pre"] = shapes[f"layers.{layer}.hook_hidden"] = (batch, cfg.k, cfg.d_hidden)
            for t in range(cfg.k):
                shapes[f"layers.{layer}.steps.{t}.hook_pre"] = (batch, cfg.d_hidden)
                shapes[f"layers.{layer}.steps.{t}.hook_hidden"] = (batch, cfg.d_hidden)
        return shapes
    shapes = {"hook_pre": (batch, cfg.d_hidden), "hook_post": (batch, cfg.d_hidden), "hook_logits": (batch, cfg.p)}
    if cfg.form == "embed_relu":
        shapes["hook_embed"] = (batch, cfg.k, cfg.d_embed)
    return shapes


def test_every_hook_point_fires_with_its_documented_shape(small_model, task7):
    logits, cache = small_model.run_with_cache(task7.inputs)
    assert isinstance(cache, ActivationCache)
    assert logits.shape == (49, 7)
    expected = expected_shapes(small_model, 49)
    assert {k: tuple(v.shape) for k, v in cache.items()} == expected
    # every registered hook point except opt-in ones is documented and fired
    opt_in = ("attn.hook_result", "attn.hook_attn_in", "attn.hook_q_input", "attn.hook_k_input", "attn.hook_v_input",
              "hook_mlp_in")  # fire only when their TransformerLens flag is on
    assert set(small_model.hook_dict) - set(expected) <= {f"blocks.{l}.{n}" for l in range(4) for n in opt_in}


def test_cached_logits_match_forward(small_model, task7):
    logits, cache = small_model.run_with_cache(task7.inputs)
    assert torch.equal(cache["hook_logits"], logits)
    assert torch.equal(small_model(task7.inputs), logits)


@pytest.mark.parametrize("cfg", [
    fi.TransformerConfig(p=11, k=3, n_layers=2, normalization_type="LN", act_fn="gelu", d_model=24, n_heads=3, d_head=8, d_mlp=32),
    fi.RNNConfig(p=11, k=3, n_layers=2, act_fn="tanh", d_embed=8, d_hidden=16),
])
def test_deeper_variants_fire_every_hook(cfg):
    model = (fi.HookedTransformer if isinstance(cfg, fi.TransformerConfig) else fi.HookedRNN)(cfg)
    task = fi.ModularArithmetic(p=11, k=3)
    _, cache = model.run_with_cache(task.inputs[:10])
    shapes = expected_shapes(model, 10)
    if isinstance(model, fi.HookedTransformer):
        for layer in range(2):
            for ln in ("ln1", "ln2"):
                shapes[f"blocks.{layer}.{ln}.hook_scale"] = (10, 4, 1)
                shapes[f"blocks.{layer}.{ln}.hook_normalized"] = (10, 4, 24)
        shapes["ln_final.hook_scale"], shapes["ln_final.hook_normalized"] = (10, 4, 1), (10, 4, 24)
    assert {k: tuple(v.shape) for k, v in cache.items()} == shapes


def test_fast_path_equals_hooked_path_in_value_and_gradient(small_model, task7):
    x, y = task7.inputs, task7.labels
    grads = []
    for fwd in (small_model, small_model.fast_logits):
        small_model.zero_grad()
        logits = fwd(x)
        torch.nn.functional.cross_entropy(logits, y).backward()
        grads.append({n: p.grad.clone() for n, p in small_model.named_parameters() if p.grad is not None})
        if fwd is small_model:
            reference = logits.detach()
    torch.testing.assert_close(small_model.fast_logits(x), reference, rtol=1e-5, atol=1e-5)
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_power_activation_matches_torch_pow_in_value_and_gradient(n):
    from fourier_interp.models.base import power

    x = torch.randn(64, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(n), requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: power(t, n), (x,))
    grad = torch.randn(64, 9, dtype=torch.float64)
    (mine,) = torch.autograd.grad(power(x, n), x, grad)
    (theirs,) = torch.autograd.grad(x.pow(n), x, grad)
    torch.testing.assert_close(power(x, n), x.pow(n), rtol=1e-12, atol=0)
    torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-12)


def test_lookup_equals_indexing_in_value_and_gradient():
    from fourier_interp.models.base import lookup

    table = torch.randn(13, 4, 5, dtype=torch.float64, requires_grad=True)
    idx = torch.randint(13, (50, 3), generator=torch.Generator().manual_seed(0))
    grad = torch.randn(50, 3, 4, 5, dtype=torch.float64)
    mine, theirs = lookup(table, idx), table[idx]
    assert mine.shape == theirs.shape == (50, 3, 4, 5) and torch.equal(mine, theirs)
    (g_mine,) = torch.autograd.grad(mine, table, grad)
    (g_theirs,) = torch.autograd.grad(theirs, table, grad)
    torch.testing.assert_close(g_mine, g_theirs, rtol=1e-12, atol=1e-12)


def test_hooks_are_removed_even_when_a_hook_raises(small_model, task7):
    name = "hook_logits"

    def bad_hook(act, hook):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        small_model.run_with_hooks(task7.inputs, fwd_hooks=[(name, bad_hook)])
    assert all(not hp.fwd_hooks and not hp.bwd_hooks for hp in small_model.hook_dict.values())
    with pytest.raises(RuntimeError, match="boom"):
        with small_model.hooks(fwd_hooks=[(name, bad_hook)]):
            small_model(task7.inputs)
    assert all(not hp.fwd_hooks for hp in small_model.hook_dict.values())


def test_hook_edit_changes_output_as_the_same_edit_by_hand():
    model = fi.HookedMLP(fi.MLPConfig(p=7, form="embed_relu", d_hidden=20, d_embed=6))
    task = fi.ModularArithmetic(p=7)
    keep = torch.zeros(20)
    keep[:10] = 1

    def zero_half(act, hook):
        return act * keep

    patched = model.run_with_hooks(task.inputs, fwd_hooks=[("hook_post", zero_half)])
    pre = model.W_E[task.inputs].flatten(1) @ model.W_in + model.b_in
    by_hand = (torch.relu(pre) * keep) @ model.W_out + model.b_out
    torch.testing.assert_close(patched, by_hand)


def test_rnn_step_hook_edits_propagate_through_the_recurrence():
    model = fi.HookedRNN(fi.RNNConfig(p=7, d_embed=8, d_hidden=12))
    x = fi.ModularArithmetic(p=7).inputs
    _, clean = model.run_with_cache(x)

    def zero(act, hook):
        return torch.zeros_like(act)

    logits = model.run_with_hooks(x, fwd_hooks=[("layers.0.steps.0.hook_hidden", zero)])
    layer = model.layers[0]
    h2 = torch.relu(model.W_E[x[:, 1]] @ layer.W_ih + layer.b_h)  # h_1 = 0: no recurrent input
    torch.testing.assert_close(logits, h2 @ model.W_out + model.b_out)
    assert not torch.allclose(logits, clean["hook_logits"])


def test_each_mlp_form_is_its_own_class_and_a_checkpoint_saved_as_hookedmlp_loads_as_it():
    from safetensors.torch import load_file

    from fourier_interp.models import EmbedMLP, PowerMLP
    from fourier_interp.pretrained import pretrained_path

    power = fi.HookedMLP(fi.MLPConfig(p=7))
    embed = fi.HookedMLP(fi.MLPConfig(p=7, form="embed_relu", d_embed=8, d_hidden=16))
    assert type(power) is PowerMLP and type(embed) is EmbedMLP
    assert isinstance(power, fi.HookedMLP) and isinstance(embed, fi.HookedMLP)
    with pytest.raises(fi.InvalidArgumentError, match="PowerMLP is the form 'power', but cfg.form='embed_relu'"):
        PowerMLP(fi.MLPConfig(p=7, form="embed_relu"))
    # the shipped checkpoint names its class "HookedMLP": it loads as the power form, whose
    # logits are Li et al.'s (U[0, a] + U[1, b])^2 @ W_out on the stored weights
    path = pretrained_path("mlp-k2-p113")
    model = fi.load(path)
    assert type(model) is PowerMLP
    weights = load_file(str(next(path.glob("*.safetensors"))))
    x = fi.ModularArithmetic(p=113).inputs[::97]
    by_hand = (weights["U"][0][x[:, 0]] + weights["U"][1][x[:, 1]]) ** 2 @ weights["W_out"]
    torch.testing.assert_close(model(x), by_hand, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("k, power", [(2, 2), (3, 3), (2, 1), (3, 2)])
def test_the_power_mlp_training_step_equals_its_forward_in_value_and_gradient(k, power):
    """``PowerMLP.fast_forward`` (one step with its own backward) against the forward built of its
    pieces, in float64, for every operand count and power it special-cases."""
    model = fi.HookedMLP(fi.MLPConfig(p=7, k=k, power=power, d_hidden=24)).double()
    task = fi.ModularArithmetic(p=7, k=k)
    x, y = task.inputs[::3], task.labels[::3]
    params = [model.U, model.W_out]

    def loss_and_grads(logits):
        loss = torch.nn.functional.cross_entropy(logits, y)
        return (loss, *torch.autograd.grad(loss, params))

    fast, slow = loss_and_grads(model.fast_logits(x)), loss_and_grads(model(x))
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # by hand: (sum_j U[j, a_j]) ** power @ W_out
    by_hand = sum(model.U[j][x[:, j]] for j in range(k)) ** power @ model.W_out
    torch.testing.assert_close(model.fast_logits(x), by_hand, rtol=1e-12, atol=1e-12)


def test_a_power_mlp_subclass_that_replaces_a_piece_trains_through_its_own_piece():
    from fourier_interp.models import PowerMLP

    class Shifted(PowerMLP):
        def activation(self, pre):
            return super().activation(pre) + 1.0

    model, plain = Shifted(fi.MLPConfig(p=7)), fi.HookedMLP(fi.MLPConfig(p=7))
    plain.load_state_dict(model.state_dict())
    x = fi.ModularArithmetic(p=7).inputs
    torch.testing.assert_close(model.fast_logits(x), model(x))
    torch.testing.assert_close(model.fast_logits(x) - plain.fast_logits(x), model.W_out.sum(0).expand(49, -1),
                               rtol=1e-5, atol=1e-5)


def test_the_transformer_training_path_reads_the_last_position_of_the_hooked_forward():
    # one forward: with hooks off and last_only, the block gives the hooked block's last row
    model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32, n_layers=2,
                                                      normalization_type="LN", attn_coeff=0.5))
    tokens = model.to_tokens(fi.ModularArithmetic(p=7).inputs)
    _, cache = model.run_with_cache(tokens)
    block = model.blocks[1]
    last = block(cache["blocks.1.hook_resid_pre"], hooked=False, last_only=True)
    assert last.shape == (49, 1, 16)
    torch.testing.assert_close(last[:, 0], cache["blocks.1.hook_resid_post"][:, -1], rtol=1e-5, atol=1e-6)
    # and layer 0 on the table of (position, token) residuals gives the per-example block's output
    rows = tokens + torch.arange(3) * model.cfg.d_vocab
    table = (model.W_pos[:, None] + model.W_E[None]).flatten(0, 1)
    torch.testing.assert_close(model.blocks[0](table, hooked=False, rows=rows), cache["blocks.0.hook_resid_post"],
                               rtol=1e-5, atol=1e-6)


def test_transformer_accepts_full_sequences_and_tokens():
    model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32))
    ops = fi.ModularArithmetic(p=7).inputs
    full = model.to_tokens(ops)
    assert full.shape == (49, 3) and bool((full[:, -1] == 7).all())
    torch.testing.assert_close(model(full), model(ops))
    with pytest.raises(ValueError, match="'=' token 7"):
        model(torch.tensor([[1, 2, 3]]))


@pytest.mark.parametrize(
    "bad,error,match",
    [
        (torch.tensor([[1, 7]]), ValueError, "token 7"),
        (torch.tensor([[1, -1]]), ValueError, "token -1"),
        (torch.tensor([[1.0, 2.0]]), TypeError, "integer tokens"),
        (torch.tensor([[1, 2, 3, 4]]), ValueError, "shape"),
        (torch.zeros(2, 2, 2, dtype=torch.long), ValueError, "shape"),
        ([[1, 2]], TypeError, "LongTensor"),
    ],
)
def test_bad_inputs_raise_clear_errors(small_model, bad, error, match):
    with pytest.raises(error, match=match):
        small_model(bad)


def test_default_configs_are_the_papers_architectures():
    model = fi.HookedTransformer(fi.TransformerConfig(p=113))
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert shapes["W_E"] == (114, 128) and shapes["W_pos"] == (3, 128) and shapes["W_U"] == (128, 113)
    assert shapes["blocks.0.attn.W_Q"] == (4, 128, 32) and shapes["blocks.0.attn.W_O"] == (4, 32, 128)
    assert shapes["blocks.0.mlp.W_in"] == (128, 512) and shapes["blocks.0.mlp.W_out"] == (512, 128)
    assert model.cfg.n_layers == 1 and model.cfg.normalization_type is None and model.cfg.act_fn == "relu"
    assert model.W_Q.shape == (1, 4, 128, 32)
    mlp = fi.HookedMLP(fi.MLPConfig(p=113, k=2))
    assert mlp.cfg.d_hidden == 4 * 112 and mlp.cfg.power == 2 and mlp.U.shape == (2, 113, 448)
    assert fi.MLPConfig(p=23, k=3).d_hidden == 16 * 22


def test_init_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = fi.HookedTransformer(fi.TransformerConfig(p=7, seed=3))
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = fi.HookedTransformer(fi.TransformerConfig(p=7, seed=3))
    c = fi.HookedTransformer(fi.TransformerConfig(p=7, seed=4))
    assert torch.equal(a.W_E, b.W_E) and not torch.equal(a.W_E, c.W_E)


@pytest.mark.parametrize("bad,match", [
    (dict(p=7, act_fn="swish"), "act_fn"),
    (dict(p=7, d_model=0), "d_model"),
    (dict(p=1), "p=1"),
    (dict(p=2), "p=2 is not allowed; expected >= 3"),
    (dict(p=7, normalization_type="RMS"), "normalization_type"),
])
def test_bad_configs(bad, match):
    with pytest.raises(ValueError, match=match):
        fi.TransformerConfig(**bad)


def test_transformer_lens_patching_equals_a_manual_patch():
    model = fi.HookedTransformer(fi.TransformerConfig(p=11, d_model=32, n_heads=2, d_head=16, d_mlp=64, seed=1))
    task = fi.ModularArithmetic(p=11)
    clean = model.to_tokens(task.inputs[:40])
    corrupted = clean.clone()
    corrupted[:, 0] = (corrupted[:, 0] + 3) % 11
    answers = task.labels[:40]

    def metric(logits):
        return logits[torch.arange(len(answers)), answers].mean()

    _, clean_cache = model.run_with_cache(clean)
    tl_result = patching.get_act_patch_resid_pre(model, corrupted, clean_cache, metric)
    assert tl_result.shape == (1, 3)
    for pos in range(3):
        def patch(act, hook, pos=pos):
            act = act.clone()
            act[:, pos] = clean_cache["blocks.0.hook_resid_pre"][:, pos]
            return act

        manual = metric(model.run_with_hooks(corrupted, fwd_hooks=[("blocks.0.hook_resid_pre", patch)]))
        torch.testing.assert_close(tl_result[0, pos], manual)
    heads = patching.get_act_patch_attn_head_out_all_pos(model, corrupted, clean_cache, metric)
    assert heads.shape == (1, 2)


def test_device_follows_the_model():
    model = fi.HookedRNN(fi.RNNConfig(p=5, d_embed=4, d_hidden=4))
    model.to("cpu")
    assert model.cfg.device == "cpu" and model.device.type == "cpu"


def test_models_built_from_one_config_object_do_not_share_it(small_model, task7):
    cfg = small_model.cfg
    a, b = type(small_model)(cfg), type(small_model)(cfg)
    b_logits = b(task7.inputs)
    a.to("meta")
    assert a.cfg.device == "meta" and b.cfg.device == "cpu" and cfg.device == "cpu"
    # each model reads one config object of its own, its layers included
    for model in (a, b):
        assert all(m.cfg is model.cfg for m in model.modules() if "cfg" in m.__dict__)
    assert a.cfg is not b.cfg and b.cfg is not cfg
    a.cfg.seed = 99  # editing one model's config touches neither the other model nor the original
    assert b.cfg.seed == cfg.seed != 99
    assert torch.equal(b(task7.inputs), b_logits)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_models_run_on_cuda(small_model, task7):
    cpu_logits = small_model(task7.inputs)
    small_model.to("cuda")
    assert small_model.cfg.device.startswith("cuda")
    torch.testing.assert_close(small_model(task7.inputs).cpu(), cpu_logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(small_model.fast_logits(task7.inputs).cpu(), cpu_logits, rtol=1e-4, atol=1e-4)
