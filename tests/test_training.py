"""Real training runs: determinism, exact resume, histories, and each family grokking at small p."""

import json

import os

import pytest
import torch

import fourier_interp as fi


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_history_records_and_determinism():
    runs = []
    for _ in range(2):
        model = fi.HookedMLP(fi.MLPConfig(p=11, form="embed_relu", d_hidden=32, d_embed=8))
        task = fi.ModularArithmetic(p=11, frac_train=0.5)
        history = fi.train(model, task, fi.TrainConfig(steps=30, eval_every=10, progress=False))
        runs.append((weights(model), history))
    (w1, h1), (w2, h2) = runs
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert [r["step"] for r in h1.records] == [0, 10, 20, 30]
    for r in h1.records:
        assert {"step", "time_s", "train_loss", "test_loss", "train_acc", "test_acc", "weight_norm"} <= r.keys()
    assert h1.records[-1]["train_loss"] < h1.records[0]["train_loss"]
    assert [r["train_loss"] for r in h1.records] == [r["train_loss"] for r in h2.records]


@pytest.mark.parametrize("batch_size", [None, 16])
def test_resume_equals_the_uninterrupted_run(tmp_path, batch_size):
    def fresh():
        model = fi.HookedTransformer(fi.TransformerConfig(p=11, d_model=16, n_heads=2, d_head=8, d_mlp=32))
        return model, fi.ModularArithmetic(p=11, frac_train=0.5)

    cfg = dict(eval_every=5, progress=False, batch_size=batch_size, checkpoint_every=10, warmup_steps=8)
    model_a, task = fresh()
    hist_a = fi.train(model_a, task, fi.TrainConfig(steps=30, out_dir=str(tmp_path / "a"), **cfg))

    model_b, task = fresh()
    fi.train(model_b, task, fi.TrainConfig(steps=10, out_dir=str(tmp_path / "b"), **cfg))
    model_c, task = fresh()  # a new process would start from a fresh model too
    hist_c = fi.train(model_c, task, fi.TrainConfig(steps=30, out_dir=str(tmp_path / "b"), **cfg), resume=True)

    wa, wc = weights(model_a), weights(model_c)
    assert all(torch.equal(wa[k], wc[k]) for k in wa)
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h.records]
    assert strip(hist_a) == strip(hist_c)
    assert [s for s, _ in hist_c.checkpoints] == [10, 20, 30]
    assert torch.equal(fi.load(tmp_path / "b").W_E, model_a.W_E)


def test_resume_refuses_a_changed_config(tmp_path):
    model = fi.HookedMLP(fi.MLPConfig(p=5, d_hidden=8))
    task = fi.ModularArithmetic(p=5, frac_train=0.5)
    fi.train(model, task, fi.TrainConfig(steps=4, eval_every=2, progress=False, out_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="lr"):
        fi.train(model, task, fi.TrainConfig(steps=8, lr=0.1, eval_every=2, progress=False, out_dir=str(tmp_path)), resume=True)
    with pytest.raises(fi.CheckpointError, match="nothing to resume"):
        fi.train(model, task, fi.TrainConfig(steps=8, progress=False, out_dir=str(tmp_path / "empty")), resume=True)


def test_out_dir_holds_history_checkpoints_and_the_final_model(tmp_path):
    model = fi.HookedRNN(fi.RNNConfig(p=7, d_embed=8, d_hidden=8))
    task = fi.ModularArithmetic(p=7, frac_train=0.5)
    history = fi.train(model, task, fi.TrainConfig(steps=20, eval_every=5, checkpoint_every=10, progress=False, out_dir=str(tmp_path)))
    saved = json.loads((tmp_path / "history.json").read_text())
    assert [r["step"] for r in saved["records"]] == [0, 5, 10, 15, 20]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_0000010", "step_0000020"]
    loaded, loaded_task = fi.load(tmp_path, with_task=True)
    assert torch.equal(loaded.W_E, model.W_E) and loaded_task == task
    assert fi.History.load(tmp_path).records == history.records


def test_early_stopping_and_grokked_step():
    model, task, cfg = fi.from_preset("nanda2023", p=23, frac_train=0.8, lr=3e-3, steps=3000)
    cfg.progress, cfg.early_stop_acc, cfg.early_stop_patience, cfg.eval_every = False, 0.99, 3, 100
    history = fi.train(model, task, cfg)
    assert history.stopped_early
    grok = history.grokked_step
    assert grok is not None and history.records[-1]["step"] == grok + 200
    assert all(r["test_acc"] >= 0.99 for r in history.records[-3:])
    assert fi.accuracy(model, task, "test") >= 0.99


def test_training_leaves_no_trace_on_hooks_and_mode():
    model = fi.HookedMLP(fi.MLPConfig(p=5, d_hidden=8))
    fi.train(model, fi.ModularArithmetic(p=5), fi.TrainConfig(steps=3, eval_every=1, progress=False))
    assert not model.training
    assert all(not hp.fwd_hooks for hp in model.hook_dict.values())


@pytest.mark.parametrize("bad,match", [
    (dict(steps=-1), "steps"),
    (dict(lr=0), "lr"),
    (dict(betas=(0.9, 1.5)), "betas"),
    (dict(batch_size=0), "batch_size"),
    (dict(eval_every=0), "eval_every"),
])
def test_bad_train_config(bad, match):
    with pytest.raises(ValueError, match=match):
        fi.TrainConfig(**bad)


def test_model_and_task_must_match():
    with pytest.raises(ValueError, match="model.cfg.p=7 does not match task.p=5"):
        fi.train(fi.HookedMLP(fi.MLPConfig(p=7)), fi.ModularArithmetic(p=5), fi.TrainConfig(steps=1, progress=False))


def test_evaluation_refuses_a_model_built_for_another_task():
    model = fi.HookedMLP(fi.MLPConfig(p=7))
    for call in (fi.accuracy, fi.evaluate):
        with pytest.raises(fi.InvalidArgumentError, match="model.cfg.p=7 does not match task.p=5"):
            call(model, fi.ModularArithmetic(p=5))
    with pytest.raises(ValueError, match="model.cfg.k=2 does not match task.k=3"):
        fi.accuracy(model, fi.ModularArithmetic(p=7, k=3))
    assert 0 <= fi.accuracy(model, fi.ModularArithmetic(p=7)) <= 1


@pytest.mark.parametrize("build", [
    lambda: fi.ModularArithmetic(p=2),
    lambda: fi.MLPConfig(p=2),
    lambda: fi.RNNConfig(p=2),
    lambda: fi.TransformerConfig(p=2),
    lambda: fi.from_preset("nanda2023", p=2),
])
def test_p2_is_refused_at_construction(build):
    with pytest.raises(fi.InvalidArgumentError, match="p=2 is not allowed; expected (an int )?>= 3"):
        build()


@pytest.mark.parametrize("preset", ["nanda2023", "rnn", "li2025-k2"])
def test_the_smallest_modulus_p3_trains_and_verifies(preset):
    model, task, cfg = fi.from_preset(preset, p=3, steps=5, eval_every=5, progress=False)
    history = fi.train(model, task, cfg)
    assert [r["step"] for r in history.records] == [0, 5]
    report = fi.verify(model, task)
    assert isinstance(report.passed, bool) and report.to_dict()


def test_threads_are_set_for_the_call_only():
    model = fi.HookedMLP(fi.MLPConfig(p=7, form="embed_relu", d_hidden=16, d_embed=8))
    task = fi.ModularArithmetic(p=7, frac_train=0.5)
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    seen = []

    def record(act, hook):
        seen.append(torch.get_num_threads())

    with model.hooks(fwd_hooks=[("hook_post", record)]):
        fi.train(model, task, fi.TrainConfig(steps=3, eval_every=1, progress=False, threads=wanted))
    assert seen and set(seen) == {wanted}
    assert torch.get_num_threads() == before

    def fail(act, hook):
        raise RuntimeError("boom")

    with model.hooks(fwd_hooks=[("hook_post", fail)]), pytest.raises(RuntimeError, match="boom"):
        fi.train(model, task, fi.TrainConfig(steps=3, progress=False, threads=wanted))
    assert torch.get_num_threads() == before  # restored after the exception too
    fi.train(model, task, fi.TrainConfig(steps=1, progress=False, threads=None))  # None: left alone
    assert torch.get_num_threads() == before
    fi.train(model, task, fi.TrainConfig(steps=1, progress=False, threads="auto"))  # "auto": restored too
    assert torch.get_num_threads() == before


def test_auto_threads_use_the_idle_cores_only(monkeypatch):
    """threads="auto": usable cores minus the other runnable tasks, within [1, torch's setting]."""
    import fourier_interp.checks as checks

    model = fi.HookedMLP(fi.MLPConfig(p=7, form="embed_relu", d_hidden=16, d_embed=8))
    task = fi.ModularArithmetic(p=7, frac_train=0.5)
    before = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    seen = []
    with model.hooks(fwd_hooks=[("hook_post", lambda act, hook: seen.append(torch.get_num_threads()))]):
        for others, wanted in [(0, min(before, cores)), (cores - 1, 1), (cores + 5, 1), (None, before)]:
            monkeypatch.setattr(checks, "_other_runnable", lambda others=others: others)
            seen.clear()
            fi.train(model, task, fi.TrainConfig(steps=2, eval_every=1, progress=False, threads="auto"))
            assert set(seen) == {wanted}, (others, seen)
            assert torch.get_num_threads() == before
    monkeypatch.undo()
    assert 1 <= checks.auto_threads() <= before  # the real reading (Linux: /proc/loadavg)


def test_the_default_threads_are_fixed_and_two_runs_agree(monkeypatch):
    """TrainConfig's default is one thread whatever the machine's load, so a run repeats bit for bit."""
    import fourier_interp.checks as checks

    assert fi.TrainConfig().threads == 1
    before = torch.get_num_threads()
    runs = []
    for others in (0, 50):  # a quiet machine, then a busy one: "auto" would pick different counts here
        monkeypatch.setattr(checks, "_other_runnable", lambda others=others: others)
        model, task, cfg = fi.from_preset("nanda2023", p=11, d_model=32, d_mlp=64, steps=30, eval_every=10, progress=False)
        seen = []
        history = fi.train(model, task, cfg, callbacks=[lambda *args: seen.append(torch.get_num_threads())])
        runs.append((weights(model), history))
        assert set(seen) == {1} and torch.get_num_threads() == before
    (w1, h1), (w2, h2) = runs
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h.records]
    assert strip(h1) == strip(h2)


@pytest.mark.parametrize("threads,error", [(0, ValueError), (-2, ValueError), ("2", TypeError), (1.5, TypeError),
                                           ("all", TypeError)])
def test_bad_threads(threads, error):
    with pytest.raises(error, match="threads"):
        fi.TrainConfig(threads=threads)


@pytest.mark.parametrize("device,match", [
    ("cpu:banana", "not a torch device"),
    ("tpu", "not a torch device"),
    ("meta", "holds no values"),
    pytest.param("cuda", "CUDA is not available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_a_device_this_machine_lacks_is_refused_before_training(device, match):
    model = fi.HookedMLP(fi.MLPConfig(p=5))
    start = weights(model)
    with pytest.raises(fi.InvalidArgumentError, match=f"TrainConfig.device=.*{match}"):
        fi.train(model, fi.ModularArithmetic(p=5), fi.TrainConfig(steps=2, progress=False, device=device))
    assert model.device.type == "cpu" and all(torch.equal(v, start[k]) for k, v in model.state_dict().items())


@pytest.mark.slow
@pytest.mark.parametrize("family", ["transformer", "rnn", "mlp_k2", "mlp_k3"])
def test_each_family_groks_with_its_preset_at_small_p(trained_small, family):
    model, task, history = trained_small(family)
    assert history.grokked_step is not None, history
    assert fi.accuracy(model, task, "test") >= 0.99
    assert fi.accuracy(model, task, "train") == 1.0
