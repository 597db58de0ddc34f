"""SLURM runs that survive: a stop on request writes a checkpoint, a signalled job is requeued and
resumes from it, and a run already queued is never submitted twice.

The jobs run through submitit's local executor (real processes, submitit's own signal handling
and requeueing); the time limit's signal is sent the way SLURM and submitit's local controller
send it, to the job's process.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
import torch

import fourier_interp as fi
from fourier_interp.sweeps.slurm import JOB_FILE, read_jobs
from fourier_interp.training import StopRequested, request_stop

submitit = pytest.importorskip("submitit", reason="submitit is not installed: pip install 'fourier-interp[slurm]'")
pytest.importorskip("pandas", reason="the sweep table needs pandas: pip install 'fourier-interp[sweep]'")

QUIET = dict(progress=False)
# a small run that takes a few seconds, with no checkpoint of its own before the end: a
# checkpoint in the middle can only be the one written on the signal
STEPS = 3000
RUN = {"name": "signalled", "preset": "li2025-k2",
       "overrides": {"p": 11, "steps": STEPS, "eval_every": 100, "checkpoint_every": 10 * STEPS}}


@pytest.fixture(autouse=True)
def no_stop_request_left_behind():
    yield
    request_stop(False)


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_stop_request_saves_a_checkpoint_at_that_step_and_resume_finishes_the_same_run(tmp_path):
    def build(out_dir):
        model, task, cfg = fi.from_preset("li2025-k2", seed=0, p=7, steps=60, eval_every=10, threads=1)
        cfg.progress, cfg.out_dir = False, str(out_dir)
        return model, task, cfg

    model, task, cfg = build(tmp_path / "whole")
    fi.train(model, task, cfg)

    def stop_at_30(model, task, logits, step):
        if step == 30:
            request_stop()  # what the job's signal handler does

    stopped, task, cfg = build(tmp_path / "stopped")
    with pytest.raises(StopRequested) as info:
        fi.train(stopped, task, cfg, callbacks=[stop_at_30])
    assert info.value.step == 30
    assert (tmp_path / "stopped" / "checkpoints" / "step_0000030").is_dir()
    assert json.loads((tmp_path / "stopped" / "trainer_state" / "state.json").read_text())["step"] == 30
    assert not (tmp_path / "stopped" / "config.json").exists()  # not a finished model

    request_stop(False)
    resumed, task, cfg = build(tmp_path / "stopped")
    history = fi.train(resumed, task, cfg, resume=True)
    assert history.final["step"] == 60
    assert _same_weights(resumed, model)


def test_a_stop_request_without_an_output_directory_is_ignored():
    model, task, cfg = fi.from_preset("li2025-k2", seed=0, p=7, steps=20, eval_every=10, threads=1)
    cfg.progress = False
    request_stop()
    assert fi.train(model, task, cfg).final["step"] == 20  # nowhere to save: it trains on


def _sweep_in_background(out, **kwargs):
    box = {}

    def target():
        try:
            box["result"] = fi.sweep(RUN, out, backend="slurm", threads=1, **QUIET, **kwargs)
        except BaseException as e:  # reported by the test
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def _wait_for(path, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.05)
    raise AssertionError(f"{path} did not appear within {timeout} s")


@pytest.mark.slow
def test_a_job_signalled_before_its_time_limit_checkpoints_is_requeued_and_resumes(tmp_path):
    out = tmp_path / "sweep"
    thread, box = _sweep_in_background(out, slurm={"cluster": "local", "cpus": 1, "max_timeouts": 2})
    run = fi.sweeps.load_config(RUN).runs[0]
    started = _wait_for(out / "runs" / run.name / JOB_FILE)  # the job's handler is installed by now
    time.sleep(1.0)
    os.kill(started["pid"], signal.SIGUSR2)  # what SLURM sends before the time limit, and on preemption
    thread.join(timeout=300)
    assert not thread.is_alive() and "error" not in box, box.get("error")

    row = box["result"].table.iloc[0]
    assert row["status"] == "ok" and row["final_step"] == STEPS
    assert row["training"] == "resumed"  # the requeued job went on from the checkpoint ...
    stopped_at = int(row["resumed_from_step"])
    assert 1 <= stopped_at < STEPS
    checkpoint = out / "runs" / run.name / "train" / "checkpoints" / f"step_{stopped_at:07d}"
    assert checkpoint.is_dir()  # ... written on the signal (checkpoint_every is beyond the run)
    logs = "".join(p.read_text() for p in (out / "slurm").glob("*_log.*"))
    assert "this job is preempted" in logs and "Requeued job" in logs  # submitit's own handling
    assert len(list((out / "slurm").glob("*_submitted.pkl"))) == 1  # one job, run twice

    # the same run trained without interruption ends with the same weights
    model, task, cfg = fi.from_preset(run.preset, seed=run.seed, **run.overrides)
    cfg.progress, cfg.threads = False, 1
    fi.train(model, task, cfg)
    trained, _ = box["result"].load(run.name)
    assert _same_weights(trained, model)


@pytest.mark.slow
def test_a_detached_sweep_is_followed_up_and_a_second_sweep_does_not_submit_it_again(tmp_path, capsys):
    from fourier_interp.cli import main

    out = tmp_path / "sweep"
    first = fi.sweep(RUN, out, backend="slurm", threads=1, slurm={"cluster": "local", "cpus": 1, "detach": True},
                     **QUIET)
    run = first.config.runs[0].name
    assert first.submitted == [run] and first.table.iloc[0]["status"] == "pending"
    job_id = read_jobs(out)[run]["job_id"]
    assert [s["state"] for s in fi.sweeps.status(out)] in (["queued"], ["running"])
    assert main(["sweep", "status", str(out)]) == 0
    assert f"{run}  job {job_id}" in capsys.readouterr().out

    second = fi.sweep(RUN, out, backend="slurm", threads=1, slurm={"cluster": "local", "cpus": 1}, **QUIET)
    assert read_jobs(out)[run]["job_id"] == job_id  # waited for, not submitted again
    assert len(list((out / "slurm").glob("*_submitted.pkl"))) == 1
    assert second.table.iloc[0]["status"] == "ok" and second.table.iloc[0]["final_step"] == STEPS
    assert _wait_for(out / "runs" / run / JOB_FILE)["job_id"] == job_id  # the row is the first job's

    assert [s["state"] for s in fi.sweeps.status(out)] == ["done"]
    collected = fi.sweeps.collect(out)
    assert collected.table.iloc[0]["status"] == "ok" and collected.submitted == []
    assert main(["sweep", "collect", str(out)]) == 0
    assert "1 runs (0 ran, 1 reused, 0 failed)" in capsys.readouterr().out


def test_status_and_collect_name_a_directory_that_holds_no_sweep(tmp_path, capsys):
    from fourier_interp.cli import main
    from fourier_interp.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="holds no sweep"):
        fi.sweeps.status(tmp_path)
    assert main(["sweep", "status", str(tmp_path)]) == 2
    assert "holds no sweep" in capsys.readouterr().err
    assert main(["sweep", "collect"]) == 2
    assert "give the sweep's directory" in capsys.readouterr().err


def test_status_before_any_job_says_what_the_next_sweep_would_do(tmp_path):
    out = tmp_path / "sweep"
    quick = {**RUN, "overrides": {**RUN["overrides"], "steps": 20, "eval_every": 10}}
    fi.sweep(quick, out, workers=1, threads=1, **QUIET)
    assert [s["state"] for s in fi.sweeps.status(out)] == ["done"]
    run = fi.sweeps.load_config(quick).runs[0].name
    (out / "runs" / run / "result.json").unlink()
    assert [s["state"] for s in fi.sweeps.status(out)] == ["verify"]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("FI_TIMING_TESTS"),
                    reason="depends on wall-clock timing (the job must start, and still be training, 15 s in); the "
                           "signalled test above drives the same requeue path deterministically; FI_TIMING_TESTS=1 runs it")
def test_a_job_that_reaches_its_time_limit_is_requeued_from_its_checkpoint(tmp_path):
    # submitit's local executor enforces the limit itself: a 45 s limit, signalled 30 s before it
    out = tmp_path / "sweep"
    limit = {"local_timeout_min": 45 / 60}
    long_run = {**RUN, "overrides": {**RUN["overrides"], "steps": 3 * STEPS}}  # longer than the 15 s before the signal
    result = fi.sweep(long_run, out, backend="slurm", threads=1,
                      slurm={"cluster": "local", "cpus": 1, "max_timeouts": 4, "extra": limit}, **QUIET)
    row = result.table.iloc[0]
    logs = "".join(p.read_text() for p in (out / "slurm").glob("*_log.*"))
    assert row["status"] == "ok" and row["final_step"] == 3 * STEPS, logs[-2000:]
    assert "this job is timed-out" in logs and "Requeued job" in logs
    assert row["training"] == "resumed" and 1 <= int(row["resumed_from_step"]) < 3 * STEPS
