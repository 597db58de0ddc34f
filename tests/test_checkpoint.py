"""Save/load round trips, and every way a checkpoint can be bad."""

import json

import pytest
import torch

import fourier_interp as fi
from fourier_interp import checkpoint


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

    monkeypatch.setattr(checkpoint, "atomic_write_json", crash)
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


def test_config_that_does_not_match_the_weights(saved):
    path, config, weights = saved
    config["config"]["d_mlp"] = 64
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(fi.CheckpointError, match="W_in.*shape"):
        fi.load(path)


def test_malformed_config(saved):
    path, config, weights = saved
    (path / "config.json").write_text("{not json")
    with pytest.raises(fi.CheckpointError, match="config.json: not valid JSON"):
        fi.load(path)
    (path / "config.json").write_text(json.dumps({**config, "model_class": "EvilModel"}))
    with pytest.raises(fi.CheckpointError, match="EvilModel"):
        fi.load(path)
    (path / "config.json").write_text(json.dumps({**config, "config": {**config["config"], "bogus": 1}}))
    with pytest.raises(fi.CheckpointError, match="bogus"):
        fi.load(path)
    (path / "config.json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(fi.CheckpointError, match="not a fourier_interp checkpoint"):
        fi.load(path)
