"""The model-family contract: what every family must do, checked the same way for each.

Each case is a family at a small config and at a deeper or k = 3 variant, plus a fourth family
written here from the documentation alone (models/spec.py and docs/models.md "Adding a model"):
a ``ModelConfig`` dataclass, a ``HookedModel`` subclass at module level with HookPoints,
``forward`` and ``analysis_spec``. A new built-in family must add its cases here (the last
test fails otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn
from transformer_lens.hook_points import HookPoint

import fourier_interp as fi
from fourier_interp.interventions import ablate_weight_frequencies
from fourier_interp.models import MODEL_REGISTRY


@dataclass
class EmbedSquareConfig(fi.ModelConfig):
    """A fourth family: one shared embedding per operand, summed, squared, unembedded."""

    d_hidden: int = 32

    def __post_init__(self):
        self._check()
        self._check_positive("d_hidden")


class EmbedSquare(fi.HookedModel):
    """``logits = (sum_j W_E[a_j] @ W_in)^2 @ W_U`` — written from the docs, nothing else."""

    config_class = EmbedSquareConfig

    def __init__(self, cfg: EmbedSquareConfig):
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        self.W_E = nn.Parameter(torch.randn(cfg.p, cfg.d_hidden, generator=gen) * cfg.p**-0.5)
        self.W_U = nn.Parameter(torch.randn(cfg.d_hidden, cfg.p, generator=gen) * cfg.d_hidden**-0.5)
        self.hook_embed = HookPoint()  # [batch, k, d_hidden]
        self.hook_pre = HookPoint()  # [batch, d_hidden]
        self.hook_post = HookPoint()  # [batch, d_hidden]
        self.to(cfg.device)
        self.setup()

    def forward(self, inputs):
        tokens = self.check_inputs(inputs)
        pre = self.hook_pre(self.hook_embed(self.W_E[tokens]).sum(1))
        return self.hook_post(pre * pre) @ self.W_U

    def analysis_spec(self):
        return fi.AnalysisSpec(
            neurons="hook_post", embed=self.W_E.detach(), unembed=self.W_U.detach(), operand_embed="hook_embed",
            token_params={"W_E": (0, "embed"), "W_U": (1, "unembed")}, harmonic_order=2,
            weight_matrices={"W_E": self.W_E.detach()}, evidence={"low_rank"},
        )


class UsersEmbedMLP(fi.HookedMLP):
    """A user's subclass of ``HookedMLP`` itself (not of a form class): it runs ``cfg.form``'s pieces."""


CASES = {
    "transformer": lambda seed=0: fi.HookedTransformer(fi.TransformerConfig(
        p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32, seed=seed)),
    "transformer-2layer-LN": lambda seed=0: fi.HookedTransformer(fi.TransformerConfig(
        p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32, n_layers=2, normalization_type="LN", seed=seed)),
    "transformer-k3-constant-attention": lambda seed=0: fi.HookedTransformer(fi.TransformerConfig(
        p=5, k=3, d_model=16, n_heads=2, d_head=8, d_mlp=32, attn_coeff=0.0, seed=seed)),
    "rnn": lambda seed=0: fi.HookedRNN(fi.RNNConfig(p=7, d_embed=8, d_hidden=16, seed=seed)),
    "rnn-2layer-k3": lambda seed=0: fi.HookedRNN(fi.RNNConfig(p=5, k=3, d_embed=8, d_hidden=16, n_layers=2, seed=seed)),
    "mlp-power": lambda seed=0: fi.HookedMLP(fi.MLPConfig(p=7, seed=seed)),
    "mlp-power-k3": lambda seed=0: fi.HookedMLP(fi.MLPConfig(p=5, k=3, seed=seed)),
    "mlp-embed-relu": lambda seed=0: fi.HookedMLP(fi.MLPConfig(p=7, form="embed_relu", d_embed=8, d_hidden=24, seed=seed)),
    "mlp-summed-k3": lambda seed=0: fi.HookedMLP(fi.MLPConfig(
        p=5, k=3, form="embed_relu", combine="sum", d_embed=8, d_hidden=24, seed=seed)),
    "mlp-users-subclass": lambda seed=0: UsersEmbedMLP(fi.MLPConfig(p=7, form="embed_relu", d_embed=8, d_hidden=24,
                                                                     seed=seed)),
    "fourth-family": lambda seed=0: EmbedSquare(EmbedSquareConfig(p=7, seed=seed)),
}


@pytest.fixture(params=sorted(CASES))
def case(request):
    model = CASES[request.param]()
    return request.param, model, fi.ModularArithmetic(p=model.cfg.p, k=model.cfg.k, frac_train=0.6)


def test_every_spec_name_exists_and_every_unit_hook_fires(case):
    _, model, task = case
    spec = model.analysis_spec()
    params = dict(model.named_parameters())
    for name, (axis, _role) in spec.token_params.items():
        assert name in params, name
        assert params[name].shape[axis] in (task.p, task.p + 1)  # tokens (and '=') or answers
    hooks = [*spec.units, spec.attention_pattern, spec.operand_embed]
    hooks = [h for h in hooks if h is not None]
    assert set(hooks) <= set(model.hook_dict)
    _, cache = model.run_with_cache(task.inputs[:5])
    for h in hooks:
        assert h in cache and cache[h].shape[0] == 5
    for h in spec.units:
        act = cache[h]
        assert act.ndim == (3 if spec.unit_position is not None else 2), (h, act.shape)
    if spec.operand_embed is not None:
        assert cache[spec.operand_embed].shape[1] >= task.k
    if spec.embed is not None:
        assert spec.embed.shape[0] == task.p
    if spec.unembed is not None:
        assert spec.unembed.shape[-1] == task.p
    assert spec.harmonic_order >= 1


def test_fast_path_equals_hooked_path_in_value_and_gradient(case):
    _, model, task = case
    slow = model(task.inputs)
    fast = model.fast_logits(task.inputs)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-4)
    params = [p for p in model.parameters() if p.requires_grad]
    g_slow = torch.autograd.grad(slow.square().mean(), params, allow_unused=True)
    g_fast = torch.autograd.grad(model.fast_logits(task.inputs).square().mean(), params, allow_unused=True)
    for a, b in zip(g_slow, g_fast):
        if a is None or b is None:
            assert a is None and b is None
            continue
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-3)


def test_keeping_every_frequency_in_weight_space_changes_no_logit(case):
    _, model, task = case
    before = model(task.inputs)
    every = list(range(1, (task.p - 1) // 2 + 1))
    # every frequency kept, the constant restored as the mean: the projection is complete
    with ablate_weight_frequencies(model, every, mode="keep", p=task.p, mean=True):
        kept = model(task.inputs)
    torch.testing.assert_close(kept, before, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model(task.inputs), before)  # restored exactly


def test_save_load_round_trip(case, tmp_path):
    _, model, task = case
    model.save(tmp_path / "ckpt", task=task)
    loaded, loaded_task = fi.load(tmp_path / "ckpt", with_task=True)
    assert type(loaded) is type(model) and loaded_task == task
    assert torch.equal(loaded(task.inputs), model(task.inputs))


def test_train_many_of_two_seeds_equals_train(case):
    name, model, task = case
    cfg = fi.TrainConfig(steps=5, eval_every=5, progress=False, lr=1e-2)
    alone = [CASES[name](seed=s) for s in (0, 1)]
    tasks = [fi.ModularArithmetic(p=task.p, k=task.k, frac_train=0.6, seed=s) for s in (0, 1)]
    for m, t in zip(alone, tasks):
        fi.train(m, t, fi.TrainConfig(steps=5, eval_every=5, progress=False, lr=1e-2, seed=m.cfg.seed))
    together = [CASES[name](seed=s) for s in (0, 1)]
    fi.train_many(together, tasks, cfg)
    for a, b in zip(alone, together):
        torch.testing.assert_close(b(tasks[0].inputs), a(tasks[0].inputs), atol=1e-4, rtol=1e-3)


def test_verify_runs_on_every_family(case):
    _, model, task = case
    report = fi.verify(model, task)
    assert report.algorithm in list(fi.Algorithm)
    assert report.neurons == model.analysis_spec().neurons


def test_every_built_in_family_has_a_case():
    built_in = {name for name, cls in MODEL_REGISTRY.items() if cls.__module__.startswith("fourier_interp.")}
    covered = {cls.__name__ for make in CASES.values() for cls in type(make()).__mro__}  # HookedMLP: its forms
    assert built_in <= covered, f"add contract cases for {sorted(built_in - covered)}"


def test_a_deep_transformer_points_the_analysis_at_a_chosen_layer():
    deep = dict(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32, n_layers=2)
    assert fi.HookedTransformer(fi.TransformerConfig(**deep)).analysis_spec().neurons == "blocks.1.mlp.hook_post"
    spec = fi.HookedTransformer(fi.TransformerConfig(**deep, analysis_layer=0)).analysis_spec()
    assert spec.neurons == "blocks.0.mlp.hook_post" and spec.attention_pattern == "blocks.0.attn.hook_pattern"
    assert spec.units == ("blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post")
    with pytest.raises(ValueError, match="analysis_layer"):
        fi.TransformerConfig(**deep, analysis_layer=2)


def test_spec_is_validated():
    with pytest.raises(ValueError, match="evidence"):
        fi.AnalysisSpec(neurons="h", evidence={"lowrank"})
    with pytest.raises(ValueError, match="token_params"):
        fi.AnalysisSpec(neurons="h", token_params={"W": (0, "embedding")})
    with pytest.raises(ValueError, match="units"):
        fi.AnalysisSpec(neurons="h", units=("a", "b"))
    assert fi.AnalysisSpec(neurons="h", activation="tanh").harmonic_order == 3


def test_a_hook_that_does_not_fire_is_named_in_the_error():
    model = CASES["transformer"]()
    with pytest.raises(ValueError, match="did not fire"):
        fi.grid_activations(model, fi.ModularArithmetic(p=7), "blocks.0.attn.hook_result")
