"""SLURM jobs that survive their time limit and preemption, and are submitted once.

* :class:`SweepJob` is what each SLURM job runs: :func:`runner.execute` on its runs. SLURM (or
  submitit's local executor) signals a job shortly before its time limit and on preemption;
  the job then asks training to stop at the end of its current step
  (:func:`fourier_interp.training.request_stop`), which writes a checkpoint and the trainer
  state there, and submitit requeues the job. The requeued job resumes every run from its
  last checkpoint (``runner.plan``: ``"resume"``), so a time limit costs at most one step.
  A job signalled outside training (while verifying) finishes its work instead.
* ``DIR/slurm/jobs.json`` records the job of every submitted run, so a second ``fi.sweep`` on
  the same directory waits for runs still queued or running instead of submitting them
  again, and ``fourier-interp sweep status DIR`` reports them. Each job also writes
  ``runs/<name>/job.json`` when it starts (job id, host, process).

Nothing here imports torch or submitit at import time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any, Optional

JOBS_FILE = Path("slurm") / "jobs.json"
JOB_FILE = "job.json"  # in runs/<name>/: written by the job when it starts
# sacct / squeue states of a job that has not ended (a requeued job passes through them again)
ALIVE_STATES = frozenset({"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED",
                          "CONFIGURING", "COMPLETING", "SIGNALING", "STAGE_OUT", "STOPPED", "PREEMPTED"})


class SweepJob:
    """The callable each SLURM job runs; submitit requeues it on its time limit or preemption.

    Checkpointable in submitit's sense (it has :meth:`checkpoint`): on the signal the job
    stops training at a step boundary with a checkpoint written, and the same job is submitted
    again, which resumes each unfinished run from its last checkpoint.
    """

    def __call__(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        from ..training import StopRequested, request_stop
        from .runner import execute

        request_stop(False)
        previous = _install_stop_handler()  # before the record: a signal from then on stops training cleanly
        _record_start(job)
        try:
            return execute(job)
        except StopRequested as stop:  # a checkpoint is written: now submitit checkpoints this job and requeues it
            if callable(previous):
                previous(_preempt_signal(), None)  # requeues and exits, or raises why it cannot
            # not in a submitit job (a debug run): an ordinary failure; the next sweep resumes the run
            raise RuntimeError(f"{stop}; run the sweep again to resume it") from None
        finally:
            _restore_handler(previous)

    def checkpoint(self, job: dict[str, Any]):
        """What submitit resubmits after a time limit or preemption: this job, unchanged."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, job)


def _preempt_signal() -> signal.Signals:
    """The signal submitit asks SLURM to send before the time limit (``SUBMITIT_PREEMPT_SIGNAL``, default USR2)."""
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))


def _install_stop_handler() -> Any:
    """On the preemption signal: ask training to stop at its next step (submitit's own handler is kept for later)."""
    if threading.current_thread() is not threading.main_thread():
        return None  # signals reach the main thread only (a debug executor run from a thread)
    from ..training import request_stop

    def on_signal(signum, frame):
        request_stop(True)

    return signal.signal(_preempt_signal(), on_signal)


def _restore_handler(previous: Any) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(_preempt_signal(), previous)


def _record_start(job: dict[str, Any]) -> None:
    """``runs/<name>/job.json``: which job runs this run, where, since when (best effort)."""
    from ..checkpoint import atomic_write_json
    from .runner import RUNS_DIR

    record = {"job_id": _current_job_id(), "host": socket.gethostname(), "pid": os.getpid(),
              "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for spec in job["specs"]:
        path = Path(job["out_dir"]) / RUNS_DIR / spec["name"] / JOB_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, record)
        except OSError:
            pass


def _current_job_id() -> Optional[str]:
    try:
        import submitit

        return str(submitit.JobEnvironment().job_id)
    except Exception:  # not inside a submitit job (or no submitit): nothing to record
        return None


# ------------------------------------------------------------------ the record of submitted jobs
def read_jobs(out_dir) -> dict[str, dict[str, Any]]:
    """``{run name: {"job_id", "cluster", "folder", "submitted_at"}}`` of the runs submitted from ``out_dir``."""
    try:
        return json.loads((Path(out_dir) / JOBS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def record_jobs(out_dir, entries: dict[str, dict[str, Any]]) -> None:
    """Add ``entries`` to ``DIR/slurm/jobs.json`` (written atomically)."""
    from ..checkpoint import atomic_write_json

    jobs = read_jobs(out_dir)
    jobs.update(entries)
    path = Path(out_dir) / JOBS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, jobs)


def job_state(entry: dict[str, Any]) -> str:
    """A recorded job's state: ``"alive"`` (queued or running), ``"ended"`` or ``"unknown"``.

    SLURM jobs are asked through submitit (``sacct``); a job of submitit's local executor is
    alive while its controller process is; a debug job runs inside the sweep's own process,
    so it never outlives it.
    """
    cluster, job_id = entry.get("cluster"), entry.get("job_id")
    if not job_id:
        return "unknown"
    if cluster == "local":
        return "alive" if _local_controller_alive(str(job_id)) else "ended"
    if cluster == "slurm":
        try:
            import submitit

            state = submitit.SlurmJob(folder=entry.get("folder", "."), job_id=str(job_id)).state
        except Exception:
            return "unknown"
        state = str(state).split()[0].upper()
        if state == "UNKNOWN":
            return "unknown"
        return "alive" if state in ALIVE_STATES else "ended"
    return "ended"


def _local_controller_alive(pid: str) -> bool:
    """Whether process ``pid`` runs submitit's local controller (a reused process id is not it)."""
    try:
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes().replace(b"\0", b" ")
    except (OSError, ValueError):
        return False
    return b"submitit.local._local" in cmdline
