"""One sweep job on whichever machine runs it: train (or resume, or reload), verify, write the row.

A run's directory ``out_dir/runs/<name>/`` holds

* ``train/`` — :func:`fi.train`'s output directory: checkpoints and the resumable trainer
  state while it runs, the final model (``train/config.json``, the commit point) when done;
* ``result.json`` — the run's row of the results table, written atomically last.

Runs that differ only in seed and train together (``vectorize_seeds``) share
``out_dir/together/<group>/`` while they train: the group's trainer state, so a killed
group resumes exactly too; it is removed once every run of the group has its model and row.

So a run is finished when ``result.json`` names its fingerprint; a run whose final model
exists is only verified again; a run with a trainer state resumes from its last checkpoint
(exactly: :func:`fi.train` with ``resume=True``); anything else starts afresh.

:func:`execute` is what every backend calls. It takes and returns plain data (dicts), so
it pickles to a process pool, a Ray worker or a SLURM job alike, and imports torch only
when called.
"""

from __future__ import annotations

import json
import shutil
import time
import traceback
from pathlib import Path
from typing import Any, Optional

from .. import jsonio
from .config import RunSpec, family_name

RUNS_DIR = "runs"
TRAIN_DIR = "train"
RESULT_FILE = "result.json"
TOGETHER_DIR = "together"
STATE_FILE = Path("trainer_state") / "state.json"


def run_dir(out_dir, spec: RunSpec) -> Path:
    return Path(out_dir) / RUNS_DIR / spec.name


def read_result(out_dir, spec: RunSpec, verify_options: dict[str, float]) -> Optional[dict[str, Any]]:
    """The run's recorded row, if it was made from this spec and these verify options."""
    path = run_dir(out_dir, spec) / RESULT_FILE
    try:
        row = jsonio.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if row.get("fingerprint") != spec.fingerprint or row.get("verify_options") != verify_options:
        return None
    return row


def write_result(out_dir, row: dict[str, Any]) -> None:
    from ..checkpoint import atomic_write_json

    path = Path(out_dir) / RUNS_DIR / row["run"] / RESULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, row)


def plan(out_dir, spec: RunSpec) -> str:
    """What a run needs: ``"verify"`` (model trained), ``"resume"`` (trainer state saved) or ``"train"``."""
    train_dir = run_dir(out_dir, spec) / TRAIN_DIR
    if (train_dir / "config.json").is_file():
        return "verify"
    if (train_dir / STATE_FILE).is_file():
        return "resume"
    return "train"


def execute(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one job and return its rows (also written to each run's ``result.json``).

    ``job`` holds ``specs`` (RunSpec dicts), ``out_dir``, ``threads``, ``verify`` (threshold
    overrides) and ``together`` (train the specs, which differ only in seed, as one
    vectorised model with :func:`fi.train_many`). A run that raises is recorded as failed;
    the others go on.
    """
    from ..checks import torch_threads

    with torch_threads(job["threads"]):  # set explicitly for every job, restored afterwards
        specs = [RunSpec.from_dict(s) for s in job["specs"]]
        if job.get("together") and len(specs) > 1:
            return _execute_together(specs, job)
        return [_execute_one(spec, job) for spec in specs]


def failed_row(spec: RunSpec, verify_options: dict[str, float], error: BaseException, detail: str = "") -> dict[str, Any]:
    """The row of a run that did not finish: the backend lost it, or it raised."""
    row = _base_row(spec, verify_options)
    row.update(status="failed", error=f"{type(error).__name__}: {error}",
               traceback=detail or "".join(traceback.format_exception_only(type(error), error)),
               finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    return row


# ------------------------------------------------------------------ one run
def _execute_one(spec: RunSpec, job: dict[str, Any]) -> dict[str, Any]:
    out_dir, verify_options = job["out_dir"], job["verify"]
    start = time.perf_counter()
    row = _base_row(spec, verify_options)
    try:
        model, task, history, training = _train_or_load(spec, run_dir(out_dir, spec) / TRAIN_DIR, job["threads"])
        row.update(training)
        row["train_s"] = round(time.perf_counter() - start, 3)
        row.update(_verify(model, task, history, spec, verify_options))
    except Exception as e:  # a failing run is recorded, not fatal to the sweep
        row = failed_row(spec, verify_options, e, traceback.format_exc())
    row["wall_s"] = round(time.perf_counter() - start, 3)
    write_result(out_dir, row)
    return row


def _train_or_load(spec: RunSpec, train_dir: Path, threads: int):
    from ..checkpoint import CheckpointError, load
    from ..interventions.progress import ProgressRecorder
    from ..presets import from_preset
    from ..training import History, train

    def callbacks():
        return [ProgressRecorder()] if spec.progress_measures else []

    if (train_dir / "config.json").is_file():
        try:
            model, task = load(train_dir, with_task=True)
            return model, task, History.load(train_dir), {"training": "loaded", "resumed_from_step": None}
        except (CheckpointError, OSError, ValueError):
            shutil.rmtree(train_dir, ignore_errors=True)

    def build():
        model, task, cfg = from_preset(spec.preset, seed=spec.seed, **spec.overrides)
        cfg.out_dir, cfg.progress, cfg.threads = str(train_dir), False, threads
        if cfg.checkpoint_every is None:  # so a killed run resumes: about ten checkpoints a run
            cfg.checkpoint_every = max(cfg.eval_every, cfg.steps // 10)
        return model, task, cfg

    state = train_dir / STATE_FILE
    if state.is_file():
        try:
            step = int(json.loads(state.read_text())["step"])
            model, task, cfg = build()
            history = train(model, task, cfg, resume=True, callbacks=callbacks())
            return model, task, history, {"training": "resumed", "resumed_from_step": step}
        except Exception:  # an unreadable or mismatched state: start this run again (a real bug raises again below)
            pass
    shutil.rmtree(train_dir, ignore_errors=True)
    model, task, cfg = build()
    history = train(model, task, cfg, callbacks=callbacks())
    return model, task, history, {"training": "trained", "resumed_from_step": None}


def _verify(model, task, history, spec: RunSpec, verify_options: dict[str, float]) -> dict[str, Any]:
    from .. import verification
    from ..interventions.progress import locate_phases
    from ..models import family_of

    t0 = time.perf_counter()
    report = verification.verify(model, task, history=history, name=spec.name, **verify_options)
    final = history.final
    phases = locate_phases(history, task.p).to_dict()
    return {
        "status": "ok",
        "error": None,
        "traceback": None,
        "model_class": type(model).__name__,
        "family": family_of(model) or family_name(type(model).__name__),  # PowerMLP -> mlp
        "p": task.p,
        "k": task.k,
        "frac_train": task.frac_train,
        "passed": bool(report.passed),
        "algorithm": None if report.algorithm is None else str(report.algorithm),
        "key_frequencies": [int(f) for f in report.key_frequencies],
        "claims": {c.key: _number(c.value) for c in report.claims},
        "claims_passed": {c.key: c.passed for c in report.claims},
        "failed_claims": [c.key for c in report.failed_claims],
        "grokked_step": history.grokked_step,
        **phases,
        "final_step": final.get("step"),
        "train_acc": final.get("train_acc"),
        "test_acc": final.get("test_acc"),
        "train_loss": final.get("train_loss"),
        "test_loss": final.get("test_loss"),
        "stopped_early": bool(history.stopped_early),
        "verify_s": round(time.perf_counter() - t0, 3),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# --------------------------------------------------- seeds as one vectorised model
def _execute_together(specs: list[RunSpec], job: dict[str, Any]) -> list[dict[str, Any]]:
    """Train runs that differ only in seed with :func:`fi.train_many`, then save and verify each.

    The group trains in ``out_dir/together/<group>/`` (its trainer state is saved as for a
    run alone, so a killed group resumes exactly where it stopped); once every run's model
    and row are written, that directory is removed.
    """
    from ..presets import from_preset
    from ..seeds import train_many

    out_dir, verify_options = job["out_dir"], job["verify"]
    group_dir = together_dir(out_dir, specs)
    start = time.perf_counter()
    resumed_from = None
    try:
        def build():
            built = [from_preset(s.preset, seed=s.seed, **s.overrides) for s in specs]
            cfg = built[0][2]
            cfg.progress, cfg.threads, cfg.out_dir = False, job["threads"], str(group_dir)
            if cfg.checkpoint_every is None:  # as for a run alone: about ten trainer states a run
                cfg.checkpoint_every = max(cfg.eval_every, cfg.steps // 10)
            return [b[0] for b in built], [b[1] for b in built], cfg

        result = None
        state = group_dir / STATE_FILE
        if state.is_file():
            try:
                resumed_from = int(json.loads(state.read_text())["step"])
                models, tasks, cfg = build()
                result = train_many(models, tasks, cfg, resume=True)
            except Exception:  # an unreadable or mismatched state: train the group again
                resumed_from = None
        if result is None:
            shutil.rmtree(group_dir, ignore_errors=True)
            models, tasks, cfg = build()
            result = train_many(models, tasks, cfg)
    except Exception as e:
        rows = [failed_row(s, verify_options, e, traceback.format_exc()) for s in specs]
        for row in rows:
            write_result(out_dir, row)
        return rows
    train_s = (time.perf_counter() - start) / len(specs)

    rows = []
    for spec, model, task, history in zip(specs, result.models, result.tasks, result.histories):
        t0 = time.perf_counter()
        row = _base_row(spec, verify_options)
        try:
            train_dir = run_dir(out_dir, spec) / TRAIN_DIR
            shutil.rmtree(train_dir, ignore_errors=True)
            step = history.final.get("step")
            model.save(train_dir, task=task, history=history,
                       metadata={"train_config": {**cfg.to_dict(), "seed": spec.seed, "out_dir": str(train_dir)},
                                 "step": step, "trained_with_seeds": [s.seed for s in specs]})
            row.update(training="together", resumed_from_step=resumed_from, seeds_together=len(specs), train_s=round(train_s, 3))
            row.update(_verify(model, task, history, spec, verify_options))
        except Exception as e:
            row = failed_row(spec, verify_options, e, traceback.format_exc())
        row["wall_s"] = round(train_s + time.perf_counter() - t0, 3)
        write_result(out_dir, row)
        rows.append(row)
    if all(r["status"] == "ok" for r in rows):  # every model is in its run's directory now
        shutil.rmtree(group_dir, ignore_errors=True)
    return rows


def together_dir(out_dir, specs: list[RunSpec]) -> Path:
    """Where a group of runs trained together keeps its trainer state: named by the runs' fingerprints."""
    import hashlib

    key = hashlib.sha256(",".join(sorted(s.fingerprint for s in specs)).encode()).hexdigest()[:16]
    return Path(out_dir) / TOGETHER_DIR / key


# ------------------------------------------------------------------ helpers
def _base_row(spec: RunSpec, verify_options: dict[str, float]) -> dict[str, Any]:
    return {
        "run": spec.name,
        "fingerprint": spec.fingerprint,
        "spec": spec.to_dict(),
        "verify_options": dict(verify_options),
        "status": None,
        "training": None,
        "resumed_from_step": None,
        "seeds_together": 1,
    }


def _number(value: Any) -> Optional[float]:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
