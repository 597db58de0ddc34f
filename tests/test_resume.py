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
