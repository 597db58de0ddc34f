"""Save/load round trips, and every way a checkpoint can be bad."""

import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn
from transformer_lens.hook_points import HookPoint

import fourier_interp as fi
from fourier_interp import checkpoint, storage
from fourier_interp.models import MODEL_CLASSES, MODEL_REGISTRY, ModelConfig


# A fourth model family, written here as models/__init__.py says: a ModelConfig dataclass,
# a HookedModel subclass at module level with HookPoints, forward and analysis_spec.
@dataclass
class SumReluConfig(ModelConfig):
    """Architecture of :class:`SumRelu`: per-operand embeddings summed, ReLU, unembed."""

    d_hidden: int = 24

    def __post_init__(self):
        self._check()
        self._check_positive("d_hidden")


class SumRelu(fi.HookedModel):
    """``logits = relu(sum_j E[j, a_j]) @ W_U``."""

    config_class = SumReluConfig

    def __init__(self, cfg: SumReluConfig):
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        self.E = nn.Parameter(torch.randn(cfg.k, cfg.p, cfg.d_hidden, generator=gen) * cfg.p**-0.5)
        self.W_U = nn.Parameter(torch.randn(cfg.d_hidden, cfg.p, generator=gen) * cfg.d_hidden**-0.5)
        self.hook_pre = HookPoint()  # [batch, d_hidden]
        self.hook_post = HookPoint()  # [batch, d_hidden]
        self.to(cfg.device)
        self.setup()

    def forward(self, inputs):
        tokens = self.check_inputs(inputs)
        pre = self.hook_pre(self.E[torch.arange(self.cfg.k, device=tokens.device), tokens].sum(1))
        return self.hook_post(torch.relu(pre)) @ self.W_U

    def analysis_spec(self):
        return fi.AnalysisSpec(neurons="hook_post", unembed=self.W_U.detach())


class ConfiglessSumRelu(SumRelu):
    """Registered, but with no config class for ``fi.load`` to rebuild its config from."""

    config_class = None


def state_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_round_trip_is_exact_for_every_family(small_model, task7, tmp_path):
    small_model.save(tmp_path / "ckpt", task=task7)
    loaded, task = fi.load(tmp_path / "ckpt", with_task=True)
    assert type(loaded) is type(small_model)
    assert loaded.cfg.to_dict() == small_model.cfg.to_dict()
    assert state_equal(loaded, small_model)
    assert task == task7
    assert torch.equal(loaded(task7.inputs), small_model(task7.inputs))


def test_checkpoint_files_are_json_and_safetensors(task7, tmp_path):
    model = fi.HookedRNN(fi.RNNConfig(p=7, d_embed=4, d_hidden=4))
    model.save(tmp_path, task=task7, metadata={"note": "hi"})
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_class"] == "HookedRNN" and config["task"]["p"] == 7
    assert config["metadata"] == {"note": "hi"} and "torch" in config["versions"]
    weights = list(tmp_path.glob("*.safetensors"))
    assert [w.name for w in weights] == [config["weights"]["file"]]
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.pt"))


def test_resaving_replaces_the_weights_and_keeps_other_files(task7, tmp_path):
    a = fi.HookedMLP(fi.MLPConfig(p=7, seed=0))
    b = fi.HookedMLP(fi.MLPConfig(p=7, seed=1))
    (tmp_path / "notes.txt").write_text("mine")
    a.save(tmp_path)
    b.save(tmp_path)
    assert state_equal(fi.load(tmp_path), b)
    assert len(list(tmp_path.glob("model-*.safetensors"))) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_crash_while_saving_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    a = fi.HookedMLP(fi.MLPConfig(p=7, seed=0))
    b = fi.HookedMLP(fi.MLPConfig(p=7, seed=1))
    a.save(tmp_path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # interrupt at the commit point

    monkeypatch.setattr(storage, "atomic_write_json", crash)  # the commit lives in the storage layer
    with pytest.raises(KeyboardInterrupt):
        b.save(tmp_path)
    monkeypatch.undo()
    assert state_equal(fi.load(tmp_path), a)
    assert not list(tmp_path.glob("*.tmp"))


def test_missing_directory_or_config(tmp_path):
    with pytest.raises(fi.CheckpointError, match="no such checkpoint directory"):
        fi.load(tmp_path / "nope")
    with pytest.raises(fi.CheckpointError, match="config.json: missing"):
        fi.load(tmp_path)


@pytest.fixture
def saved(tmp_path):
    model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32))
    model.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    return tmp_path, config, tmp_path / config["weights"]["file"]


def test_truncated_weights(saved):
    path, config, weights = saved
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(fi.CheckpointError, match=f"{weights.name}.*truncated or was modified"):
        fi.load(path)


def test_tampered_weights(saved):
    path, config, weights = saved
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(fi.CheckpointError, match="SHA-256"):
        fi.load(path)


def test_missing_weights(saved):
    path, config, weights = saved
    weights.unlink()
    with pytest.raises(fi.CheckpointError, match="missing"):
        fi.load(path)


def rehashed(config):
    """``config`` with its content hash recomputed: an edit the hash cannot catch (a buggy writer's)."""
    return json.dumps({**config, storage.CONTENT_HASH: storage.content_hash(config)})


def test_any_edit_of_config_json_is_caught_by_its_hash(saved):
    path, config, weights = saved
    for edit in ({"model_module": "elsewhere"}, {"metadata": {"step": 1}}, {"config": {**config["config"], "act_fn": "gelu"}}):
        (path / "config.json").write_text(json.dumps({**config, **edit}, indent=4))
        with pytest.raises(fi.CheckpointError, match="config.json: its content does not match the SHA-256"):
            fi.load(path)
    (path / "config.json").write_text(json.dumps(config, indent=None))  # re-indented, content unchanged: fine
    fi.load(path)


def test_config_that_does_not_match_the_weights(saved):
    path, config, weights = saved
    config["config"]["d_mlp"] = 64
    (path / "config.json").write_text(rehashed(config))
    with pytest.raises(fi.CheckpointError, match="W_in.*weights record"):
        fi.load(path)


def test_malformed_config(saved):
    path, config, weights = saved
    (path / "config.json").write_text("{not json")
    with pytest.raises(fi.CheckpointError, match="config.json: not valid JSON"):
        fi.load(path)
    (path / "config.json").write_text(rehashed({**config, "model_class": "EvilModel"}))
    with pytest.raises(fi.CheckpointError, match="EvilModel"):
        fi.load(path)
    (path / "config.json").write_text(rehashed({**config, "config": {**config["config"], "bogus": 1}}))
    with pytest.raises(fi.CheckpointError, match="bogus"):
        fi.load(path)
    (path / "config.json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(fi.CheckpointError, match="not a fourier_interp checkpoint"):
        fi.load(path)


# ------------------------------------------------------------------ registry
def test_a_fourth_family_defined_here_trains_saves_and_loads(tmp_path):
    assert MODEL_REGISTRY["SumRelu"] is SumRelu  # subclassing registered it
    task = fi.ModularArithmetic(p=7, frac_train=0.6)
    model = SumRelu(SumReluConfig(p=7, seed=2))
    before = fi.evaluate(model, task)["train_loss"]
    history = fi.train(model, task, fi.TrainConfig(steps=30, lr=1e-2, eval_every=10, progress=False))
    assert history.final["train_loss"] < before  # it really trained
    assert fi.save(model, tmp_path / "a", task=task, history=history) == tmp_path / "a"
    model.save(tmp_path / "b")
    for path in ("a", "b"):
        loaded = fi.load(tmp_path / path)
        assert type(loaded) is SumRelu and loaded.cfg.to_dict() == model.cfg.to_dict()
        assert torch.equal(loaded(task.inputs), model(task.inputs))
    assert json.loads((tmp_path / "a" / "config.json").read_text())["model_module"] == __name__
    assert fi.load(tmp_path / "a", with_task=True)[1] == task


def test_the_old_registry_name_is_a_read_only_view():
    assert MODEL_CLASSES is MODEL_REGISTRY
    assert {"HookedTransformer", "HookedRNN", "HookedMLP"} <= set(MODEL_CLASSES)
    with pytest.raises(TypeError):
        MODEL_CLASSES["Mine"] = SumRelu


def test_saving_what_load_could_not_rebuild_fails_at_save_time(tmp_path):
    class LocalSumRelu(SumRelu):
        pass

    with pytest.raises(TypeError, match="LocalSumRelu.*inside a function.*define it at module level"):
        fi.save(LocalSumRelu(SumReluConfig(p=5)), tmp_path / "local")
    with pytest.raises(TypeError, match="LocalSumRelu.*inside a function"):
        LocalSumRelu(SumReluConfig(p=5)).save(tmp_path / "local")
    assert "LocalSumRelu" not in MODEL_REGISTRY
    with pytest.raises(TypeError, match="LocalSumRelu.*inside a function"):  # before the first step, not after the run
        fi.train(LocalSumRelu(SumReluConfig(p=5)), fi.ModularArithmetic(p=5),
                 fi.TrainConfig(steps=3, progress=False, out_dir=str(tmp_path / "run")))

    # a module-level class whose name another module's class already holds
    impostor = type("HookedMLP", (fi.HookedMLP,), {"__module__": __name__, "__qualname__": "HookedMLP"})
    with pytest.raises(TypeError, match="'HookedMLP' to fourier_interp.models.mlp.base.HookedMLP.*name of its own"):
        impostor(fi.MLPConfig(p=5)).save(tmp_path / "impostor")
    assert MODEL_REGISTRY["HookedMLP"] is fi.HookedMLP

    with pytest.raises(TypeError, match="ConfiglessSumRelu.config_class is None.*config_class = YourConfig"):
        fi.save(ConfiglessSumRelu(SumReluConfig(p=5)), tmp_path / "configless")
    with pytest.raises(TypeError, match="cannot save a Linear.*subclass fi.HookedModel"):
        fi.save(nn.Linear(3, 3), tmp_path / "linear")
    assert not any(tmp_path.iterdir())  # nothing was written


def test_loading_a_class_this_process_has_not_defined_names_its_module(saved):
    path, config, weights = saved
    (path / "config.json").write_text(rehashed({**config, "model_class": "Gone", "model_module": "my_lab.nets"}))
    with pytest.raises(fi.CheckpointError, match="'Gone' is not a registered.*'my_lab.nets': import that module"):
        fi.load(path)
