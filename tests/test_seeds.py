"""Many seeds at once equal each seed trained alone."""

import pytest
import torch

import fourier_interp as fi

CASES = [
    ("nanda2023", dict(p=11, d_model=32, d_mlp=64)),
    ("rnn", dict(p=11, d_hidden=32, d_embed=16)),
    ("li2025-k2", dict(p=11)),
    ("li2025-k3", dict(p=7)),
]


@pytest.mark.parametrize("preset,overrides", CASES)
@pytest.mark.parametrize("batch_size", [None, 24])
def test_each_seed_equals_training_it_alone(preset, overrides, batch_size):
    common = dict(steps=25, eval_every=5, batch_size=batch_size, **overrides)
    sweep = fi.train_seeds(preset, seeds=[0, 3], progress=False, **common)
    for i, seed in enumerate([0, 3]):
        model, task, cfg = fi.from_preset(preset, seed=seed, **common)
        cfg.progress = False
        history = fi.train(model, task, cfg)
        assert sweep.tasks[i] == task
        for name, value in model.state_dict().items():
            torch.testing.assert_close(sweep.models[i].state_dict()[name], value, rtol=1e-4, atol=1e-5, msg=name)
        for mine, alone in zip(sweep.histories[i].records, history.records):
            assert mine["step"] == alone["step"]
            assert mine["train_loss"] == pytest.approx(alone["train_loss"], rel=1e-4)
            assert mine["test_acc"] == pytest.approx(alone["test_acc"], abs=1e-3)


@pytest.mark.parametrize("preset,overrides", CASES)
@pytest.mark.parametrize("batch_size", [None, 24])
def test_one_seed_of_train_many_is_fi_train_bit_for_bit(preset, overrides, batch_size):
    """One loop: train_many of one seed steps, evaluates and records exactly as fi.train of it."""
    common = dict(steps=25, eval_every=5, batch_size=batch_size, progress=False, **overrides)
    model, task, cfg = fi.from_preset(preset, seed=3, **common)
    history = fi.train(model, task, cfg)
    many_model, many_task, many_cfg = fi.from_preset(preset, seed=3, **common)
    many = fi.train_many([many_model], [many_task], many_cfg)
    assert many.models[0] is many_model
    for name, value in model.state_dict().items():
        assert torch.equal(many_model.state_dict()[name], value), name
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h.records]
    assert strip(many.histories[0]) == strip(history) and [r["step"] for r in history.records] == [0, 5, 10, 15, 20, 25]
    assert many.histories[0].stopped_early is history.stopped_early is False


def test_one_seed_of_train_many_stops_early_where_fi_train_does():
    common = dict(p=11, d_model=32, d_mlp=64, frac_train=0.9, lr=1e-2, steps=400, eval_every=10, progress=False,
                  early_stop_acc=0.3, early_stop_patience=2)
    model, task, cfg = fi.from_preset("nanda2023", seed=1, **common)
    history = fi.train(model, task, cfg)
    assert history.stopped_early and history.records[-1]["step"] < 400
    many_model, many_task, many_cfg = fi.from_preset("nanda2023", seed=1, **common)
    many = fi.train_many([many_model], [many_task], many_cfg)
    assert many.histories[0].stopped_early
    assert [r["step"] for r in many.histories[0].records] == [r["step"] for r in history.records]
    assert all(torch.equal(many_model.state_dict()[k], v) for k, v in model.state_dict().items())


def test_sweep_saves_every_seed(tmp_path):
    sweep = fi.train_seeds("li2025-k2", seeds=[1, 2], progress=False, p=7, steps=5, out_dir=str(tmp_path))
    for seed, model in zip([1, 2], sweep.models):
        loaded, task = fi.load(tmp_path / f"seed_{seed}", with_task=True)
        assert task.seed == seed and torch.equal(loaded.U, model.U)


def test_mismatched_models_are_refused():
    a = fi.HookedMLP(fi.MLPConfig(p=7))
    b = fi.HookedMLP(fi.MLPConfig(p=7, d_hidden=10))
    task = fi.ModularArithmetic(p=7)
    with pytest.raises(ValueError, match="differing only in cfg.seed"):
        fi.train_many([a, b], [task, task], fi.TrainConfig(steps=1, progress=False))
    with pytest.raises(ValueError, match="as many tasks as models"):
        fi.train_many([a], [task, task])
    with pytest.raises(fi.InvalidArgumentError, match="model.cfg.p=7 does not match task.p=5"):
        fi.train_many([a], [fi.ModularArithmetic(p=5)], fi.TrainConfig(steps=1, progress=False))


@pytest.mark.parametrize("preset,overrides", CASES[:2])
def test_chunked_passes_equal_one_pass(preset, overrides):
    common = dict(steps=10, eval_every=5, progress=False, **overrides)
    whole = fi.train_seeds(preset, seeds=[0, 1, 2], chunk=3, **common)
    chunked = fi.train_seeds(preset, seeds=[0, 1, 2], chunk=2, **common)
    for a, b in zip(whole.models, chunked.models):
        for name, value in a.state_dict().items():
            torch.testing.assert_close(b.state_dict()[name], value, rtol=1e-5, atol=1e-6, msg=name)
    for h1, h2 in zip(whole.histories, chunked.histories):
        assert [r["step"] for r in h1.records] == [r["step"] for r in h2.records] == [0, 5, 10]
        assert [r["train_loss"] for r in h2.records] == pytest.approx([r["train_loss"] for r in h1.records], rel=1e-5)


def test_auto_chunk_keeps_activations_small_on_cpu():
    model = fi.HookedTransformer(fi.TransformerConfig(p=113))
    # one seed's widest activation: 3,830 rows x d_mlp 512 x 4 bytes = 7.8 MB -> one per 8 MiB pass
    assert fi.seeds.auto_chunk(model, rows=3830, n_seeds=16) == 1
    assert fi.seeds.auto_chunk(model, rows=158, n_seeds=16) == 16
    assert fi.seeds.auto_chunk(model, rows=10**6, n_seeds=16) == 1


@pytest.mark.parametrize("chunk", [0, -1, 1.5, True])
def test_bad_chunk_is_refused(chunk):
    with pytest.raises(ValueError, match="chunk"):
        fi.train_seeds("li2025-k2", seeds=[0, 1], p=7, steps=1, progress=False, chunk=chunk)
