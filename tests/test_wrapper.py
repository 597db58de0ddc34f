"""``fi.HookedWrapper`` on plain PyTorch modules: input hooks, traced functional operations, eval
mode, TransformerLens's own patching and cache helpers, and ``save`` / ``fi.load``.

The central model is the one the issue names: a plain module whose hidden activation exists
only as ``torch.relu(...)`` inside ``forward`` (no submodule produces it). Trained on every
pair of Z_11 it learns the clock; patching, frequency ablation, probes and ``fi.verify`` must
all reach its hidden units through the traced hook ``"relu"``.
"""

from __future__ import annotations

import json
import pickle
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformer_lens import patching

import fourier_interp as fi

P = 11


# ------------------------------------------------------------------ modules a user writes
class PlainMLP(nn.Module):
    """``[batch, 2]`` operands -> ``[batch, p]``: embed, concatenate, ``torch.relu``, unembed."""

    def __init__(self, p: int = P, d_embed: int = 16, d_hidden: int = 64, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)  # as a user would; save/load must leave the global RNG alone anyway
        self.embed = nn.Embedding(p, d_embed)
        self.fc = nn.Linear(2 * d_embed, d_hidden)
        self.unembed = nn.Linear(d_hidden, p)

    def forward(self, x):
        h = torch.relu(self.fc(self.embed(x).flatten(1)))
        return self.unembed(h)


class Functional(nn.Module):
    """Every kind of functional operation: a Parameter indexed, arithmetic, relu, gelu, a nested module."""

    def __init__(self):
        super().__init__()
        self.W_E = nn.Parameter(torch.randn(7, 4))
        self.inner = Inner()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        n = x.shape[0]  # metadata: no hook point
        e = self.W_E[x].reshape(n, -1)  # [batch, 8]
        return self.fc(self.inner(e) + 1.0)


class Inner(nn.Module):
    def forward(self, e):
        return F.gelu(e) * torch.relu(e)


class Untraceable(nn.Module):
    """Python control flow on a tensor's value: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        if y.sum() > 0:
            return torch.relu(y)
        return y


class TrainFlag(nn.Module):
    """A forward whose Python branch depends on ``self.training``."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        return y * 2 if self.training else torch.tanh(y)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.bil = nn.Bilinear(3, 3, 2)
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        h = self.fc(x)
        return self.bil(h, x)


class Attention(nn.Module):
    """Multi-head causal self-attention written with plain tensor operations."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x):  # [batch, pos, d_model]
        b, t, _ = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (u.reshape(b, t, self.n_heads, self.d_head).transpose(1, 2) for u in (q, k, v))
        scores = q @ k.transpose(-1, -2) * self.d_head ** -0.5
        pattern = scores.softmax(-1)  # [batch, head, query, key]
        z = (pattern @ v).transpose(1, 2).reshape(b, t, self.d_model)
        return self.out(z)


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.attn = Attention(d_model, n_heads)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.ReLU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class PlainTransformer(nn.Module):
    """``[batch, 3]`` tokens (a, b, '=') -> ``[batch, p]`` logits at '='."""

    def __init__(self, p: int = P, d_model: int = 16, n_heads: int = 2, n_layers: int = 2, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.W_E = nn.Parameter(torch.randn(p + 1, d_model, generator=gen) / d_model**0.5)
        self.W_pos = nn.Parameter(torch.randn(3, d_model, generator=gen) / d_model**0.5)
        self.layers = nn.ModuleList([Block(d_model, n_heads) for _ in range(n_layers)])
        self.unembed = nn.Linear(d_model, p)

    def forward(self, tokens):
        x = self.W_E[tokens] + self.W_pos
        for block in self.layers:
            x = block(x)
        return self.unembed(x[:, -1])


def no_hooks_left(module: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and "forward" not in m.__dict__
               for m in module.modules())


# ------------------------------------------------------------------ hook points
def test_inputs_are_hook_points_and_edit_like_by_hand():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.randn(5, 4)
    wrapped = fi.HookedWrapper(net)
    _, cache = wrapped.run_with_cache(x)
    assert torch.equal(cache["0.hook_in"], x) and torch.equal(cache["2.hook_in"], cache["1"])
    mask = torch.tensor([1.0, 0.0] * 4)
    edited = wrapped.run_with_hooks(x, fwd_hooks=[("2.hook_in", lambda a, hook: a * mask)])
    assert torch.equal(edited, net[2](torch.relu(net[0](x)) * mask))

    two = fi.HookedWrapper(TwoInputs())
    _, cache = two.run_with_cache(torch.randn(5, 3))
    assert {"bil.hook_in.0", "bil.hook_in.1"} <= set(cache.keys()) and "bil.hook_in" not in two.hook_dict
    assert torch.equal(cache["bil.hook_in.0"], cache["fc"]) and torch.equal(cache["bil.hook_in.1"], cache["fc.hook_in"])
    with pytest.raises(TypeError, match=r"called with 2 positional arguments.*'bil\.hook_in\.0'"):
        with fi.HookedWrapper(TwoInputs()).hooks(fwd_hooks=[("bil.hook_in", lambda a, hook: a)]) as fresh:
            fresh(torch.randn(5, 3))


def test_functional_operations_get_hook_points_named_by_their_fx_nodes():
    torch.manual_seed(0)
    module = Functional()
    x = torch.randint(0, 7, (5, 2))
    wrapped = fi.HookedWrapper(module)
    assert wrapped.traced == {"": ["getitem_1", "reshape", "add"], "inner": ["inner.gelu", "inner.relu", "inner.mul"]}
    assert not any(name.startswith(("getattr", "sum")) for name in wrapped.hook_dict)  # x.shape[0] is metadata
    out, cache = wrapped.run_with_cache(x)
    assert torch.equal(out, module(x))
    e = module.W_E[x].reshape(5, -1)
    assert torch.equal(cache["getitem_1"], module.W_E[x]) and torch.equal(cache["inner.relu"], torch.relu(e))
    assert torch.equal(cache["inner.gelu"], F.gelu(e)) and torch.equal(cache["fc.hook_in"], cache["add"])
    # editing a traced operation changes what flows on, exactly as editing by hand
    edited = wrapped.run_with_hooks(x, fwd_hooks=[("inner.relu", lambda a, hook: a * 0 + 1)])
    assert torch.equal(edited, module.fc(F.gelu(e) * 1 + 1.0))
    assert no_hooks_left(module) and torch.equal(module(x), out)


def test_an_untraceable_module_says_why_in_one_line_and_keeps_its_module_hooks():
    module, x = Untraceable(), torch.randn(3, 4)
    with pytest.warns(UserWarning, match=r"cannot trace the module \(Untraceable\.forward\).*control flow") as caught:
        wrapped = fi.HookedWrapper(module)
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert set(wrapped.untraced) == {""} and "relu" not in wrapped.hook_dict
    out, cache = wrapped.run_with_cache(x)
    assert torch.equal(out, module(x)) and torch.equal(cache["fc"], module.fc(x))
    with pytest.raises(ValueError, match="not traced.*control flow"):
        fi.patch_activation(wrapped, x, x, "relu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = fi.HookedWrapper(Untraceable(), trace=False)
    assert quiet.traced == {} and quiet.untraced == {}
    with pytest.raises(TypeError, match="trace must be True or False"):
        fi.HookedWrapper(Untraceable(), trace="yes")


SCALE = torch.tensor([1.0, 2.0, 3.0, 4.0])


class TensorAttributes(nn.Module):
    def __init__(self, use_global: bool = False):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.mask = torch.ones(4)  # a plain tensor attribute, not a buffer
        self.use_global = use_global

    def forward(self, x):
        y = torch.relu(self.fc(x)) * self.mask
        return y * SCALE if self.use_global else y


def test_tensor_attributes_are_read_live_and_globals_are_refused():
    module, x = TensorAttributes(), torch.randn(3, 4)
    wrapped = fi.HookedWrapper(module)
    module.mask = torch.tensor([0.0, 1.0, 0.0, 1.0])  # the traced graph reads the attribute, not a copy
    assert torch.equal(wrapped(x), module(x)) and "relu" in wrapped.hook_dict
    glob = TensorAttributes(use_global=True)
    with pytest.warns(UserWarning, match="not parameters, buffers or attributes of the module"):
        wrapped = fi.HookedWrapper(glob)
    assert not [name for name in vars(glob) if "constant" in name]  # fx's constant was taken back off
    assert torch.equal(wrapped(x), glob(x))


class FrozenFirstLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        with torch.no_grad():  # fx would drop this: the traced graph would train fc
            y = self.fc(x)
        return torch.relu(y) + x


def test_a_forward_that_switches_grad_mode_is_not_traced():
    module = FrozenFirstLayer()
    with pytest.warns(UserWarning, match="switches gradient or autocast mode"):
        wrapped = fi.HookedWrapper(module).train()
    x = torch.randn(3, 4, requires_grad=True)
    wrapped(x).sum().backward()
    assert module.fc.weight.grad is None and x.grad is not None


def test_eval_mode_by_default_and_each_mode_traced_as_it_runs():
    module, x = TrainFlag(), torch.randn(3, 4)
    assert module.training
    wrapped = fi.HookedWrapper(module)
    assert not wrapped.training and not module.training
    assert torch.equal(wrapped(x), torch.tanh(module.fc(x))) and "tanh" in wrapped.hook_dict
    wrapped.train()
    assert torch.equal(wrapped(x), module.fc(x) * 2) and "mul" in wrapped.hook_dict
    _, cache = wrapped.run_with_cache(x)
    assert torch.equal(cache["mul"], module.fc(x) * 2)
    wrapped.eval()
    assert torch.equal(wrapped(x), torch.tanh(module.fc(x))) and no_hooks_left(module)


def test_nothing_stays_on_the_module_after_a_failing_hook():
    module, x = Functional(), torch.randint(0, 7, (4, 2))
    wrapped = fi.HookedWrapper(module)

    def boom(a, hook):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        wrapped.run_with_hooks(x, fwd_hooks=[("inner.mul", boom)])
    assert no_hooks_left(module) and all(not hp._forward_hooks for hp in wrapped.hook_dict.values())
    assert torch.equal(module(x), wrapped(x))
    expected = wrapped.run_with_cache(x)[1]["inner.mul"]
    for copy in (__import__("copy").deepcopy(wrapped), pickle.loads(pickle.dumps(wrapped))):
        _, cache = copy.run_with_cache(x)  # traced again: the traced code is not pickled
        assert torch.equal(cache["inner.mul"], expected) and copy.traced == wrapped.traced


# ------------------------------------------------------------------ the package's functions
@pytest.fixture(scope="module")
def task():
    return fi.ModularArithmetic(p=P, frac_train=1.0, seed=0)


@pytest.fixture(scope="module")
def trained(task):
    wrapped = fi.HookedWrapper(PlainMLP(), p=P, k=2, init_kwargs={"p": P})
    fi.train(wrapped, task, fi.TrainConfig(steps=3000, lr=3e-3, weight_decay=1.0, progress=False, eval_every=500,
                                            threads=1))
    assert not wrapped.training and fi.accuracy(wrapped, task) == 1.0
    return wrapped


def test_the_traced_hook_is_the_hidden_activation(trained, task):
    net = trained.module
    _, cache = trained.run_with_cache(task.inputs)
    hidden = torch.relu(net.fc(net.embed(task.inputs).flatten(1)))
    assert torch.equal(cache["relu"], hidden) and torch.equal(cache["unembed.hook_in"], hidden)
    assert torch.equal(cache["fc"], net.fc(net.embed(task.inputs).flatten(1)))  # the pre-activation, not it


def test_patching_at_the_traced_hook(trained, task):
    clean, corrupted = fi.corrupt_operand(task, operand=0, shift=3)
    patched = fi.patch_activation(trained, clean, corrupted, "relu")
    assert torch.equal(patched, trained(clean))  # the hidden layer carries everything
    some = fi.patch_activation(trained, clean, corrupted, "relu", index=(..., [0, 1, 2]))
    net = trained.module
    hidden = torch.relu(net.fc(net.embed(corrupted).flatten(1)))
    hidden[:, :3] = torch.relu(net.fc(net.embed(clean).flatten(1)))[:, :3]
    torch.testing.assert_close(some, net.unembed(hidden))


def test_frequency_ablation_at_the_traced_hook(trained, task):
    key = fi.key_frequencies(trained, task, hook="relu")
    assert key and set(key) <= set(range(1, P // 2 + 1))
    with fi.ablate_frequencies(trained, task, "relu", key):
        removed = fi.accuracy(trained, task)
    with fi.ablate_frequencies(trained, task, "relu", key, mode="keep"):
        kept = fi.accuracy(trained, task)
    assert removed <= 2 / P and kept == 1.0


def test_probes_at_the_traced_hook(trained, task):
    answer = fi.LinearProbe.from_hook(trained, task, "relu", "answer")
    assert answer.result.test_score >= 0.95


def test_verify_through_the_traced_hook(trained, task):
    report = fi.verify(trained, task, hook="relu", embed=trained.module.embed.weight.detach())
    assert report.passed and report.algorithm == "clock"
    untrained = fi.HookedWrapper(PlainMLP(seed=1), p=P, k=2)
    control = fi.verify(untrained, task, hook="relu", embed=untrained.module.embed.weight.detach())
    assert not control.passed


# ------------------------------------------------------------------ TransformerLens
@pytest.fixture(scope="module")
def transformer():
    return fi.HookedWrapper(PlainTransformer(), p=P, k=2, init_kwargs={"p": P})


def tokens(operands):
    return torch.cat([operands, torch.full((len(operands), 1), P)], dim=1)


def test_transformer_lens_configuration_and_names(transformer):
    cfg = transformer.cfg
    assert (cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.d_head) == (2, 2, 16, 8) and transformer.blocks_path == "layers"
    for i in range(2):
        for name in ("resid_pre", "resid_post", "attn_out", "mlp_out"):
            assert f"blocks.{i}.hook_{name}" in transformer.hook_dict
    assert "layers.0.attn.softmax" in transformer.traced["layers.0.attn"]
    assert transformer.config.hidden_size == 16 and transformer.config.num_hidden_layers == 2


def test_transformer_lens_patching_runs_on_the_wrapper_and_matches_a_manual_patch(transformer):
    task = fi.ModularArithmetic(p=P, seed=0)
    clean_ops, corrupted_ops = fi.corrupt_operand(task, operand=0, shift=1)
    clean, corrupted = tokens(clean_ops[:40]), tokens(corrupted_ops[:40])
    answers = task.labels[:40]
    _, clean_cache = transformer.run_with_cache(clean)

    def metric(logits):
        return logits.gather(1, answers[:, None]).mean()

    def manual(hook, pos):
        def patch(act, hook):
            act = act.clone()
            act[:, pos] = clean_cache[hook.name][:, pos]
            return act
        return metric(transformer.run_with_hooks(corrupted, fwd_hooks=[(hook, patch)]))

    resid = patching.get_act_patch_resid_pre(transformer, corrupted, clean_cache, metric)
    mlp = patching.get_act_patch_mlp_out(transformer, corrupted, clean_cache, metric)
    assert resid.shape == mlp.shape == (2, 3)
    for layer, pos in [(0, 0), (1, 2), (0, 2)]:
        torch.testing.assert_close(resid[layer, pos], manual(f"blocks.{layer}.hook_resid_pre", pos))
        torch.testing.assert_close(mlp[layer, pos], manual(f"layers.{layer}.mlp", pos))
    # patching resid_pre of layer 0 at every position restores the clean run
    torch.testing.assert_close(manual("blocks.0.hook_resid_pre", slice(None)), metric(transformer(clean)))


def test_activation_cache_helpers_on_the_wrapper(transformer):
    x = tokens(fi.ModularArithmetic(p=P).inputs[:8])
    _, cache = transformer.run_with_cache(x)
    stack, labels = cache.accumulated_resid(return_labels=True)
    assert labels == ["0_pre", "1_pre", "final_post"]
    torch.testing.assert_close(stack[1], cache["layers.1.hook_in"])
    torch.testing.assert_close(stack[-1], cache["layers.1"])
    torch.testing.assert_close(cache.stack_activation("mlp_out"), torch.stack([cache["layers.0.mlp"], cache["layers.1.mlp"]]))
    assert torch.equal(cache["resid_post", -1], cache["layers.1"])


def test_transformer_lens_refuses_a_wrapper_in_train_mode():
    wrapped = fi.HookedWrapper(PlainTransformer()).train()
    x = tokens(fi.ModularArithmetic(p=P).inputs[:4])
    _, cache = wrapped.run_with_cache(x)
    with pytest.raises(ValueError, match="evaluation mode"):
        patching.get_act_patch_resid_pre(wrapped, x, cache, lambda logits: logits.sum())


def test_blocks_argument_is_checked():
    with pytest.raises(ValueError, match=r"blocks='stack'.*\['layers'"):
        fi.HookedWrapper(PlainTransformer(), blocks="stack")
    assert fi.HookedWrapper(PlainTransformer(), blocks=None).cfg.n_layers is None


# ------------------------------------------------------------------ save / load
def test_save_and_load_round_trip(transformer, tmp_path):
    transformer.cfg.normalization_type = None
    transformer.cfg.d_mlp = 64  # a field the user set comes back
    x = tokens(fi.ModularArithmetic(p=P).inputs[:8])
    rng = torch.get_rng_state()
    fi.save(transformer, tmp_path / "ckpt")
    assert torch.equal(torch.get_rng_state(), rng)  # rebuilding the module at save time drew nothing
    record = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert record["model_class"] == "HookedWrapper"
    assert record["wrapped"]["class"].endswith(":PlainTransformer") and record["wrapped"]["init_kwargs"] == {"p": P}
    loaded = fi.load(tmp_path / "ckpt")
    assert isinstance(loaded, fi.HookedWrapper) and type(loaded.module) is PlainTransformer
    assert torch.equal(loaded(x), transformer(x)) and not loaded.training
    assert sorted(loaded.hook_dict) == sorted(transformer.hook_dict) and loaded.cfg == transformer.cfg
    assert torch.equal(torch.get_rng_state(), rng)
    trained_dir = tmp_path / "mlp"
    task = fi.ModularArithmetic(p=P)
    wrapped = fi.HookedWrapper(PlainMLP(), p=P, k=2)  # every constructor argument has a default
    wrapped.save(trained_dir, task=task)
    again, saved_task = fi.load(trained_dir, with_task=True)
    assert saved_task == task and torch.equal(again(task.inputs), wrapped(task.inputs))


def test_save_refuses_what_load_could_not_rebuild(tmp_path):
    class Local(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

    with pytest.raises(TypeError, match="inside a function"):
        fi.HookedWrapper(Local()).save(tmp_path / "a")
    with pytest.raises(TypeError, match=r"builds different tensors.*init_kwargs"):
        fi.HookedWrapper(PlainMLP(d_hidden=32)).save(tmp_path / "b")  # the default builds d_hidden=64
    with pytest.raises(TypeError, match="raised TypeError.*init_kwargs"):
        fi.HookedWrapper(PlainMLP(), init_kwargs={"width": 3}).save(tmp_path / "c")
    with pytest.raises(TypeError, match="not JSON-safe"):
        fi.HookedWrapper(PlainMLP(), init_kwargs={"p": torch.tensor(11)}).save(tmp_path / "d")
    with pytest.raises(TypeError, match="init_kwargs must be a dict"):
        fi.HookedWrapper(PlainMLP(), init_kwargs=[("p", 11)])
    assert not any(tmp_path.iterdir())  # nothing was written


def test_load_names_the_module_to_import(tmp_path):
    fi.HookedWrapper(PlainMLP()).save(tmp_path / "ckpt")
    config_path = tmp_path / "ckpt" / "config.json"
    record = json.loads(config_path.read_text())
    record["wrapped"]["class"] = "my_research_code.nets:PlainMLP"
    config_path.write_text(json.dumps(record))
    with pytest.raises(fi.CheckpointError, match="content does not match the SHA-256"):  # an edit is caught first
        fi.load(tmp_path / "ckpt")

    def rehashed(record):  # as if written so: the checks behind the hash
        return json.dumps({**record, "content_sha256": fi.storage.content_hash(record)})

    config_path.write_text(rehashed(record))
    with pytest.raises(fi.CheckpointError, match="import my_research_code.nets first"):
        fi.load(tmp_path / "ckpt")
    record["wrapped"]["class"] = "torch:cat"
    config_path.write_text(rehashed(record))
    with pytest.raises(fi.CheckpointError, match="not a torch.nn.Module class"):
        fi.load(tmp_path / "ckpt")


# ------------------------------------------------------- modules taking several inputs
class TwoTowers(nn.Module):
    """forward(a, b): one embedding tower per operand, multiplied, read out."""

    def __init__(self, p: int = P, d: int = 32):
        super().__init__()
        self.left, self.right = nn.Embedding(p, d), nn.Embedding(p, d)
        self.head = nn.Linear(d, p)

    def forward(self, a, b):
        return self.head(torch.relu(self.left(a) * self.right(b)))


class KeywordTowers(TwoTowers):
    def forward(self, *, left_token, right_token):
        return super().forward(left_token, right_token)


class DictTowers(TwoTowers):
    def forward(self, batch):
        return super().forward(batch["a"], batch["b"])


def as_batch(tokens):
    """The task's tokens as DictTowers' input (module level, so a saved wrapper finds it by name)."""
    return {"a": tokens[:, 0], "b": tokens[:, 1]}


def test_a_two_input_forward_without_an_adapter_names_the_fix():
    wrapped = fi.HookedWrapper(TwoTowers(), p=P, k=2)
    task = fi.ModularArithmetic(p=P)
    with pytest.raises(TypeError, match="takes 2 positional inputs.*inputs='operands'") as info:
        fi.accuracy(wrapped, task)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("module,inputs", [(TwoTowers, "operands"), (KeywordTowers, ["left_token", "right_token"]),
                                           (DictTowers, as_batch)], ids=["positional", "keywords", "dict"])
def test_each_way_of_taking_the_operands_runs_caches_trains_and_saves(module, inputs, tmp_path):
    torch.manual_seed(0)
    net = module()
    task = fi.ModularArithmetic(p=P, frac_train=0.8)
    wrapped = fi.HookedWrapper(net, p=P, k=2, inputs=inputs)
    a, b = task.inputs[:, 0], task.inputs[:, 1]
    direct = net(a, b) if module is TwoTowers else (net(left_token=a, right_token=b) if module is KeywordTowers
                                                     else net({"a": a, "b": b}))
    logits, cache = wrapped.run_with_cache(task.inputs)
    assert torch.equal(logits, direct)
    assert {"left", "right", "head", "relu"} <= set(cache.keys())
    with fi.ablate_frequencies(wrapped, task, "left", [1, 2, 3, 4, 5]):  # every frequency of the left operand
        assert fi.accuracy(wrapped, task) < 0.5
    history = fi.train(wrapped, task, fi.TrainConfig(steps=300, lr=1e-2, eval_every=100, progress=False, threads=1))
    assert history.final["train_acc"] > 0.9
    wrapped.save(tmp_path / "ckpt", task=task)
    again = fi.load(tmp_path / "ckpt")
    assert again.inputs == wrapped.inputs and torch.equal(again(task.inputs), wrapped(task.inputs))


def test_an_adapter_that_cannot_be_found_again_is_refused_at_save(tmp_path):
    wrapped = fi.HookedWrapper(DictTowers(), p=P, k=2, inputs=lambda t: {"a": t[:, 0], "b": t[:, 1]})
    assert wrapped(fi.ModularArithmetic(p=P).inputs).shape == (P * P, P)
    with pytest.raises(TypeError, match="inputs= function.*define it at module level"):
        wrapped.save(tmp_path / "ckpt")
    assert not (tmp_path / "ckpt").exists()


@pytest.mark.parametrize("inputs,error", [(["a"], ValueError), ("both", TypeError), ([1, 2], TypeError),
                                          (["not a name", "b"], TypeError)])
def test_bad_adapters_are_refused(inputs, error):
    with pytest.raises(error, match="inputs"):
        fi.HookedWrapper(TwoTowers(), p=P, k=2, inputs=inputs)


def test_a_wrapper_saved_from_a_script_names_the_fix_where_it_is_loaded(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = f"""
import torch, fourier_interp as fi
class ScriptNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, {P})
    def forward(self, x):
        return self.fc(x.float())
fi.HookedWrapper(ScriptNet(), p={P}, k=2).save({str(tmp_path / 'ckpt')!r})
"""
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, cwd=tmp_path,
                   env={**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"})
    with pytest.raises(fi.CheckpointError, match=r"ScriptNet was defined in the script.*\(__main__\).*move ScriptNet "
                                                 r"into a module you can import") as info:
        fi.load(tmp_path / "ckpt")
    assert "\n" not in str(info.value)
