"""The public functions on a user's own ``HookedRootModule``, not only on our classes.

The model below is written the way a TransformerLens user writes one: an embedding, a
ReLU MLP with ``HookPoint``s, an unembedding, ``setup()``. Its ``run_with_cache`` is
TransformerLens's own, which returns a plain dict (not an ``ActivationCache``); a
subclass returns an ``ActivationCache`` instead, and both must work. Trained on every
pair of Z_11 with weight decay, it learns the clock (Fourier multiplication), so
``fi.verify`` should pass it; the untrained one must not.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformer_lens import ActivationCache, HookedRootModule
from transformer_lens.hook_points import HookPoint

import fourier_interp as fi

P = 11


class UserMLP(HookedRootModule):
    """``[batch, 2]`` operands -> ``[batch, p]`` logits: embed, concatenate, ReLU MLP, unembed."""

    def __init__(self, p: int, d_embed: int = 16, d_hidden: int = 64, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(p, d_embed)
        self.fc = nn.Linear(2 * d_embed, d_hidden)
        self.unembed = nn.Linear(d_hidden, p)
        self.hook_embed = HookPoint()  # [batch, 2, d_embed]
        self.hook_pre = HookPoint()  # [batch, d_hidden]
        self.hook_hidden = HookPoint()  # [batch, d_hidden]
        self.setup()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.hook_embed(self.embed(x))
        h = self.hook_hidden(torch.relu(self.hook_pre(self.fc(e.flatten(1)))))
        return self.unembed(h)


class UserMLPWithCache(UserMLP):
    """The same model whose ``run_with_cache`` wraps the dict in an ``ActivationCache``."""

    def run_with_cache(self, *args, **kwargs):
        out, cache = super().run_with_cache(*args, **kwargs)
        return out, ActivationCache(cache, self)


@pytest.fixture(scope="module")
def task():
    return fi.ModularArithmetic(p=P, frac_train=1.0, seed=0)


@pytest.fixture(scope="module")
def trained(task):
    model = UserMLP(P)
    fi.train(model, task, fi.TrainConfig(steps=3000, lr=3e-3, weight_decay=1.0, progress=False, eval_every=500,
                                          threads=1))
    model.eval()
    assert fi.accuracy(model, task) == 1.0
    return model


@pytest.fixture(params=["dict cache", "ActivationCache"])
def user_model(request, trained):
    if request.param == "dict cache":
        return trained
    model = UserMLPWithCache(P)
    model.load_state_dict(trained.state_dict())
    return model.eval()


def test_the_premise_transformer_lens_returns_a_plain_dict(trained, task):
    _, cache = trained.run_with_cache(task.inputs, names_filter=["hook_hidden"])
    assert type(cache) is dict and cache["hook_hidden"].shape == (P * P, 64)


def test_patch_activation_restores_the_clean_answers(user_model, task):
    clean, corrupted = fi.corrupt_operand(task, operand=0, shift=3)
    patched = fi.patch_activation(user_model, clean, corrupted, "hook_hidden")
    assert bool((patched.argmax(-1) == task.labels).all())
    nothing = fi.patch_activation(user_model, clean, corrupted, "hook_hidden", index=[])
    torch.testing.assert_close(nothing, user_model(corrupted))
    # patching the second operand's embedding only leaves the corrupted first operand in place
    second = fi.patch_activation(user_model, clean, corrupted, "hook_embed", index=1)
    assert bool((second.argmax(-1) == (corrupted.sum(-1) % P)).all())
    first = fi.patch_activation(user_model, clean, corrupted, "hook_embed", index=0)
    assert bool((first.argmax(-1) == task.labels).all())


def test_frequency_ablation_at_the_users_hook(user_model, task):
    key = fi.key_frequencies(user_model, task, hook="hook_hidden")
    assert key and set(key) <= set(range(1, P // 2 + 1))
    with fi.ablate_frequencies(user_model, task, "hook_hidden", key):
        removed = fi.accuracy(user_model, task)
    with fi.ablate_frequencies(user_model, task, "hook_hidden", key, mode="keep"):
        kept = fi.accuracy(user_model, task)
    assert removed <= 2 / P and kept == 1.0
    hook = fi.frequency_ablation_hook(task, key)
    logits = user_model.run_with_hooks(task.inputs, fwd_hooks=[("hook_hidden", hook)])
    assert float((logits.argmax(-1) == task.labels).double().mean()) == pytest.approx(removed)


def test_probes_on_the_users_cached_activations(user_model, task):
    answer = fi.LinearProbe.from_hook(user_model, task, "hook_hidden", "answer")
    assert answer.result.test_score >= 0.95
    # the ActivationCache / dict from the user's run_with_cache, probed directly
    _, cache = user_model.run_with_cache(task.inputs, names_filter=["hook_embed"])
    first_operand = cache["hook_embed"][:, 0]  # [p^2, d_embed]: the embedding of a1
    table = fi.FourierProbe(P).evaluate(first_operand, task.inputs)
    readable = table.readable("a1")
    key = fi.key_frequencies(user_model, task, hook="hook_hidden")
    assert readable and set(readable) <= set(key)
    assert table.readable("a2") == []  # the first operand's embedding knows nothing of a2


def test_verify_a_users_model_by_hook_name(trained, task):
    report = fi.verify(trained, task, hook="hook_hidden", embed=trained.embed.weight.detach())
    assert report.passed and report.algorithm == "clock"
    assert set(report.key_frequencies) <= set(range(1, P // 2 + 1))
    untrained = UserMLP(P, seed=1).eval()
    control = fi.verify(untrained, task, hook="hook_hidden", embed=untrained.embed.weight.detach())
    assert not control.passed
