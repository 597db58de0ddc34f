"""Exact resume: a run interrupted anywhere and resumed ends bit-identical to the uninterrupted run.

Each test trains a reference run once, then the same run interrupted (an exception raised
from a callback at a chosen evaluation, or a shorter run continued to the full length) and
resumed, and compares weights, histories (all but wall-clock ``time_s``) and where it
stopped. Early stopping, progress recording, many seeds at once and a sweep each have their
own state; all of it must survive the interrupt. Threads are fixed to 1.
"""

from __future__ import annotations

import pytest
import torch

import fourier_interp as fi

# a tiny k = 2 MLP at p = 11 that reaches test accuracy 0.5 within ~500 steps: early stopping ends it mid-run
RUN = dict(p=11, frac_train=0.9, seed=0, eval_every=20, progress=False, threads=1)
EARLY = dict(early_stop_acc=0.5, early_stop_patience=3)


class Interrupt(Exception):
    pass


class InterruptAt:
    """A callback that raises at one evaluation step: the run dies there, as on a kill."""

    def __init__(self, step: int):
        self.step = step

    def __call__(self, model, task, logits, step):
        if step == self.step:
            raise Interrupt(step)
        return {}


def build(**overrides):
    return fi.from_preset("li2025-k2", **{**RUN, **overrides})


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def records(history):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in history.records]


def train_interrupted(out_dir, at, recorder, **overrides):
    """Train with ``cfg.out_dir = out_dir`` until the callback interrupts at step ``at``; return the resumed run."""
    model, task, cfg = build(out_dir=str(out_dir), **overrides)
    first = [fi.ProgressRecorder(refresh_every=3)] if recorder else []
    with pytest.raises(Interrupt):
        fi.train(model, task, cfg, callbacks=[*first, InterruptAt(at)])
    model, task, cfg = build(out_dir=str(out_dir), **overrides)  # a new process starts from a fresh model
    again = [fi.ProgressRecorder(refresh_every=3)] if recorder else []
    return model, fi.train(model, task, cfg, resume=True, callbacks=again), again


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted runs, with early stopping, with and without progress recording."""
    out = {}
    for recorder in (False, True):
        model, task, cfg = build(steps=800, checkpoint_every=20, out_dir=str(tmp_path_factory.mktemp("ref")), **EARLY)
        callbacks = [fi.ProgressRecorder(refresh_every=3)] if recorder else []
        history = fi.train(model, task, cfg, callbacks=callbacks)
        out[recorder] = weights(model), history, [cb.state_dict() for cb in callbacks]
    return out


def test_the_reference_run_stops_early_mid_run(reference):
    _, history, _ = reference[False]
    assert history.stopped_early and 200 < history.records[-1]["step"] < 800
    # interrupted 0, 1, 2 evaluations before the stop, a run resumes with early-stopping counter 2, 1, 0
    held = [r["test_acc"] >= EARLY["early_stop_acc"] for r in history.records]
    assert held[-3:] == [True, True, True] and not held[-4]


@pytest.mark.parametrize("recorder", [False, True], ids=["plain", "progress-recorder"])
@pytest.mark.parametrize("back", [0, 1, 2, 5], ids=lambda b: f"{b}-evals-before-the-stop")
def test_an_interrupt_anywhere_resumes_to_the_same_stop_and_weights(reference, tmp_path, recorder, back):
    w_ref, h_ref, _ = reference[recorder]
    stop = h_ref.records[-1]["step"]
    at = stop - 20 * back  # dies at this evaluation; resumes from the checkpoint before it (every evaluation)
    model, history, again = train_interrupted(tmp_path / "run", at, recorder, steps=800, checkpoint_every=20, **EARLY)
    assert history.stopped_early and history.records[-1]["step"] == stop
    assert records(history) == records(h_ref)
    assert same_weights(weights(model), w_ref)
    if recorder:  # the recorder went on counting evaluations where it had stopped
        assert [cb.state_dict() for cb in again] == reference[recorder][2]


@pytest.mark.parametrize("recorder", [False, True], ids=["plain", "progress-recorder"])
def test_a_shorter_run_continued_to_full_length_equals_the_full_run(reference, tmp_path, recorder):
    w_ref, h_ref, _ = reference[recorder]
    out = str(tmp_path / "run")
    # 330 is neither an evaluation nor a checkpoint step: its final read-out must not count
    model, task, cfg = build(steps=330, checkpoint_every=20, out_dir=out, **EARLY)
    first = fi.train(model, task, cfg, callbacks=[fi.ProgressRecorder(refresh_every=3)] if recorder else [])
    assert first.records[-1]["step"] == 330 and not first.stopped_early
    model, task, cfg = build(steps=800, checkpoint_every=20, out_dir=out, **EARLY)
    history = fi.train(model, task, cfg, resume=True, callbacks=[fi.ProgressRecorder(refresh_every=3)] if recorder else [])
    assert records(history) == records(h_ref)
    assert same_weights(weights(model), w_ref)


def test_a_run_that_stopped_early_stays_stopped_when_resumed_longer(reference, tmp_path):
    w_ref, h_ref, _ = reference[False]
    out = str(tmp_path / "run")
    model, task, cfg = build(steps=800, checkpoint_every=20, out_dir=out, **EARLY)
    fi.train(model, task, cfg)
    model, task, cfg = build(steps=2000, checkpoint_every=20, out_dir=out, **EARLY)
    history = fi.train(model, task, cfg, resume=True)
    assert history.stopped_early and records(history) == records(h_ref)
    assert same_weights(weights(model), w_ref)


def test_resuming_with_other_stateful_callbacks_is_refused(tmp_path):
    out = str(tmp_path / "run")
    model, task, cfg = build(steps=40, out_dir=out)
    fi.train(model, task, cfg, callbacks=[fi.ProgressRecorder()])
    model, task, cfg = build(steps=80, out_dir=out)
    with pytest.raises(fi.InvalidArgumentError, match="ProgressRecorder"):
        fi.train(model, task, cfg, resume=True)


def test_the_global_rng_is_restored_on_resume(tmp_path):
    # a model drawing from torch's generator (dropout) continues the same random stream
    draws = []

    def draw(model, task, logits, step):
        draws.append((step, torch.rand(()).item()))
        return {}

    torch.manual_seed(123)
    model, task, cfg = build(steps=80, checkpoint_every=20, out_dir=str(tmp_path / "a"))
    fi.train(model, task, cfg, callbacks=[draw])
    reference = dict(draws)

    draws.clear()
    torch.manual_seed(123)
    model, task, cfg = build(steps=80, checkpoint_every=20, out_dir=str(tmp_path / "b"))
    with pytest.raises(Interrupt):
        fi.train(model, task, cfg, callbacks=[draw, InterruptAt(60)])
    draws.clear()
    torch.manual_seed(999)  # whatever the new process's generator holds
    model, task, cfg = build(steps=80, checkpoint_every=20, out_dir=str(tmp_path / "b"))
    fi.train(model, task, cfg, resume=True, callbacks=[draw])
    assert dict(draws) == {s: v for s, v in reference.items() if s > 40}


# ------------------------------------------------------------ many seeds at once
SEEDS = [0, 1, 2]


def build_many(**overrides):
    built = [build(**{**overrides, "seed": s}) for s in SEEDS]
    return [b[0] for b in built], [b[1] for b in built], built[0][2]


@pytest.fixture(scope="module")
def many_reference(tmp_path_factory):
    models, tasks, cfg = build_many(steps=800, checkpoint_every=20, out_dir=str(tmp_path_factory.mktemp("many")), **EARLY)
    sweep = fi.train_many(models, tasks, cfg, chunk=2)  # two passes: the state is split and rejoined
    return [weights(m) for m in sweep.models], sweep.histories


def test_seeds_stop_on_their_own_in_the_reference(many_reference):
    _, histories = many_reference
    stops = [h.records[-1]["step"] for h in histories]
    assert all(h.stopped_early for h in histories) and len(set(stops)) > 1


@pytest.mark.parametrize("fault_step", ["first-stop", "after-first-stop"])
def test_many_seeds_interrupted_resume_to_the_same_weights_and_histories(many_reference, tmp_path, monkeypatch, fault_step):
    w_ref, h_ref = many_reference
    stops = sorted(h.records[-1]["step"] for h in h_ref)
    at = stops[0] if fault_step == "first-stop" else stops[0] + 30  # one seed already stopped, its weights saved
    import fourier_interp.training.loop as loop

    real = loop.sample_rows

    def dies_at(n_rows, batch_size, seed, step):  # a fault in step ``at``: the process dies there
        if step == at:
            raise Interrupt(step)
        return real(n_rows, batch_size, seed, step)

    out = str(tmp_path / "run")
    models, tasks, cfg = build_many(steps=800, checkpoint_every=20, out_dir=out, **EARLY)
    with monkeypatch.context() as m:
        m.setattr(loop, "sample_rows", dies_at)
        with pytest.raises(Interrupt):
            fi.train_many(models, tasks, cfg, chunk=2)
    models, tasks, cfg = build_many(steps=800, checkpoint_every=20, out_dir=out, **EARLY)
    sweep = fi.train_many(models, tasks, cfg, chunk=2, resume=True)
    for i in range(len(SEEDS)):
        assert records(sweep.histories[i]) == records(h_ref[i]) and sweep.histories[i].stopped_early
        assert same_weights(weights(sweep.models[i]), w_ref[i])
        assert same_weights(weights(fi.load(f"{out}/seed_{SEEDS[i]}")), w_ref[i])


def test_many_seeds_continued_from_a_shorter_run_equal_the_full_run(many_reference, tmp_path):
    w_ref, h_ref = many_reference
    out = str(tmp_path / "run")
    models, tasks, cfg = build_many(steps=330, checkpoint_every=20, out_dir=out, **EARLY)
    fi.train_many(models, tasks, cfg, chunk=2)
    models, tasks, cfg = build_many(steps=800, checkpoint_every=20, out_dir=out, **EARLY)
    sweep = fi.train_many(models, tasks, cfg, chunk=2, resume=True)
    assert [records(h) for h in sweep.histories] == [records(h) for h in h_ref]
    assert all(same_weights(weights(m), w) for m, w in zip(sweep.models, w_ref))


def test_many_seeds_stop_on_request_and_resume_to_the_full_run(many_reference, tmp_path, monkeypatch):
    """The one loop's stop request (a cluster's preemption signal) holds for many seeds too."""
    import fourier_interp.training.loop as loop
    from fourier_interp.training import StopRequested, request_stop

    w_ref, h_ref = many_reference
    real = loop.sample_rows

    def signalled_in(n_rows, batch_size, seed, step):  # the signal arrives during step 50
        if step == 50:
            request_stop()
        return real(n_rows, batch_size, seed, step)

    out = str(tmp_path / "run")
    models, tasks, cfg = build_many(steps=800, checkpoint_every=20, out_dir=out, **EARLY)
    try:
        with monkeypatch.context() as m, pytest.raises(StopRequested) as info:
            m.setattr(loop, "sample_rows", signalled_in)
            fi.train_many(models, tasks, cfg, chunk=2)
    finally:
        request_stop(False)
    assert info.value.step == 50
    models, tasks, cfg = build_many(steps=800, checkpoint_every=20, out_dir=out, **EARLY)
    sweep = fi.train_many(models, tasks, cfg, chunk=2, resume=True)
    assert [records(h) for h in sweep.histories] == [records(h) for h in h_ref]
    assert all(same_weights(weights(m), w) for m, w in zip(sweep.models, w_ref))


def test_many_seeds_refuse_to_resume_other_seeds(tmp_path):
    out = str(tmp_path / "run")
    models, tasks, cfg = build_many(steps=20, out_dir=out)
    fi.train_many(models, tasks, cfg)
    built = [build(steps=40, out_dir=out, seed=s) for s in (0, 1, 5)]
    with pytest.raises(fi.InvalidArgumentError, match="other models or tasks"):
        fi.train_many([b[0] for b in built], [b[1] for b in built], built[0][2], resume=True)
    with pytest.raises(fi.InvalidArgumentError, match="needs cfg.out_dir"):
        fi.train_many(models, tasks, fi.TrainConfig(steps=5, progress=False), resume=True)


# ------------------------------------------------------------------ in a sweep
SWEEP = {"name": "resume", "preset": "li2025-k2", "grid": {"seed": [0, 1]},
         "overrides": {"p": 11, "frac_train": 0.9, "steps": 800, "eval_every": 20, "checkpoint_every": 20, **EARLY}}
QUIET = dict(workers=1, threads=1, progress=False)
ROW = ["final_step", "stopped_early", "grokked_step", "train_loss", "test_loss", "test_acc", "passed", "key_frequencies"]


def sweep_weights(out):
    from pathlib import Path

    return {d.parent.name: weights(fi.load(d)) for d in sorted(Path(out).glob("runs/*/train"))}


def fault_at(monkeypatch, module, at):
    """Make step ``at`` of every training in ``module`` raise, as a kill would stop it there."""
    real = module.sample_rows

    def dies_at(n_rows, batch_size, seed, step):
        if step == at:
            raise Interrupt(step)
        return real(n_rows, batch_size, seed, step)

    monkeypatch.setattr(module, "sample_rows", dies_at)


@pytest.mark.parametrize("together", [False, True], ids=["each-run-alone", "seeds-together"])
def test_an_interrupted_sweep_resumes_to_the_rows_and_weights_of_an_uninterrupted_one(tmp_path, monkeypatch, together):
    import fourier_interp.training.loop
    from fourier_interp.sweeps import sweep

    config = SWEEP
    if together:  # seeds train together only without early stopping
        config = {**SWEEP, "overrides": {k: v for k, v in SWEEP["overrides"].items() if k not in EARLY} | {"steps": 400}}
    reference = sweep(config, tmp_path / "ref", vectorize_seeds=together, **QUIET)
    assert set(reference.table["status"]) == {"ok"}
    if not together:
        assert all(reference.table["stopped_early"]) and all(reference.table["final_step"] < 800)

    out = tmp_path / "interrupted"
    with monkeypatch.context() as m:
        fault_at(m, fourier_interp.training.loop, 250)  # the one loop: alone and together
        first = sweep(config, out, vectorize_seeds=together, **QUIET)
    assert set(first.table["status"]) == {"failed"}
    again = sweep(config, out, vectorize_seeds=together, **QUIET)
    assert set(again.table["status"]) == {"ok"}
    assert set(again.table["resumed_from_step"]) == {240}
    ref, mine = reference.table.set_index("run"), again.table.set_index("run")
    for column in ROW:
        assert [str(v) for v in mine[column]] == [str(v) for v in ref[column]], column
    w_ref, w_mine = sweep_weights(tmp_path / "ref"), sweep_weights(out)
    assert w_ref.keys() == w_mine.keys() and all(same_weights(w_ref[k], w_mine[k]) for k in w_ref)
    assert not (out / "together").exists() or not any((out / "together").iterdir())
