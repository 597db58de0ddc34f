""":func:`sweep`: expand the config, skip what is done, run the rest on a backend, write the table."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from ..errors import InvalidArgumentError
from .config import RunSpec, SweepConfig, load_config, settings
from .runner import TRAIN_DIR, failed_row, plan, read_result, run_dir, write_result


@dataclass
class SweepResult:
    """What :func:`sweep` did and found.

    Attributes:
        config: The validated :class:`SweepConfig`.
        out_dir: The sweep's directory.
        table: The results, one row per run (a pandas DataFrame; columns in
            ``fourier_interp.sweeps.table``); also in ``files["parquet"]``.
        ran: Runs done in this call (trained, resumed or re-verified).
        reused: Runs whose recorded result was reused.
        failed: Runs whose row records a failure (``status == "failed"``, with ``error``).
        files: ``"parquet"``, ``"csv"`` (with ``csv=True``) and the plots (``"verdicts"``,
            ``"claims"``), name -> path.
        submitted: Runs queued or running on SLURM and not finished in this call (a detached
            sweep's runs; ``fourier-interp sweep status DIR`` follows them, ``collect`` reads them).
    """

    config: SweepConfig
    out_dir: Path
    table: Any
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    submitted: list[str] = field(default_factory=list)

    def run_dir(self, run: str) -> Path:
        """The directory of run ``run`` (a value of ``table["run"]``); its model is in ``train/``."""
        return self.out_dir / "runs" / run

    def load(self, run: str):
        """``(model, task)`` of a finished run, as :func:`fi.load` gives them."""
        from ..checkpoint import load

        return load(self.run_dir(run) / TRAIN_DIR, with_task=True)

    @property
    def pass_rate(self) -> float:
        """Share of the runs that passed :func:`fi.verify`."""
        return float(self.table["passed"].fillna(False).mean()) if len(self.table) else 0.0

    def __repr__(self) -> str:
        queued = f", {len(self.submitted)} queued" if self.submitted else ""
        return (f"SweepResult({self.config.name!r}: {len(self.table)} runs, {len(self.ran)} ran, "
                f"{len(self.reused)} reused, {len(self.failed)} failed{queued}, pass rate {self.pass_rate:.2f}, "
                f"out_dir={str(self.out_dir)!r})")


def sweep(
    config: Union[str, Path, dict, SweepConfig],
    out_dir: Union[str, Path],
    *,
    backend: str = "local",
    workers: Optional[int] = None,
    threads: Optional[int] = None,
    address: Optional[str] = None,
    slurm: Optional[dict[str, Any]] = None,
    csv: bool = False,
    logger: Any = None,
    progress: bool = True,
    vectorize_seeds: bool = False,
    retry_failed: bool = True,
) -> SweepResult:
    """Train and verify every run of a sweep config; write one results table and summary plots.

    Each run trains into ``out_dir/runs/<name>/train`` (``<name>``: its preset, grid values
    and a hash of its settings) and records its row in ``result.json`` there, atomically.
    A later call with the same config reuses every finished run; an interrupted sweep
    resumes: a run killed while training continues from its last checkpoint, one killed
    while verifying is verified again. A run that raises is recorded (``status="failed"``,
    ``error``) and the sweep goes on; the next call retries it (``retry_failed``).

    Args:
        config: A TOML file, a dict of the same structure or a :class:`SweepConfig` (see
            ``fourier_interp.sweeps.config`` for the format).
        out_dir: The sweep's directory (created if needed); on a cluster, a path every node sees.
        backend: ``"local"`` (a process pool here), ``"ray"`` or ``"slurm"`` (submitit).
        workers: Runs at once (local and ray). Default: with ``threads``, as many as fit the
            cores; ``workers x threads`` may not exceed them.
        threads: torch threads per run (default 1, or the cores divided among ``workers``;
            for slurm, ``slurm["cpus"]``).
        address: The Ray cluster to connect to; ``None`` starts a local Ray instance.
        slurm: SLURM options (``partition``, ``time``, ``cpus``, ``mem``, ``gpus``,
            ``array``, ``parallelism``, ``cluster``, ``max_timeouts``, ``detach`` ...; see
            ``SlurmBackend``). Jobs are requeued on their time limit and on preemption and
            resume from a checkpoint written at the signal; runs whose jobs an earlier call
            submitted and that are still queued or running are waited for, not submitted again.
        csv: Also write ``results.csv``.
        logger: ``None``, ``"wandb"`` (an offline ``WandbLogger``) or an object with
            ``log_run(row, history, run_dir)``; called for each run done in this call.
        progress: Show a progress bar over the runs.
        vectorize_seeds: Train runs that differ only in seed together as one vectorised
            model (:func:`fi.train_many`): much faster on a GPU, and on a CPU at small ``p``.
            A killed group resumes from its last trainer state, exactly; runs with early
            stopping or a checkpoint of their own to resume from still train alone.
        retry_failed: Run again the runs recorded as failed.

    Returns:
        A :class:`SweepResult`: ``.table``, ``.ran``, ``.reused``, ``.failed``, ``.files``.

    Raises:
        InvalidArgumentError: the config (naming the key), the backend options, or a
            missing optional dependency (Ray, submitit); raised before any run starts.

    Example:
        >>> import fourier_interp as fi, tempfile
        >>> result = fi.sweep({"preset": "li2025-k2", "grid": {"seed": [0, 1]},
        ...                    "overrides": {"p": 7, "steps": 30}}, tempfile.mkdtemp(),
        ...                   workers=1, threads=1, progress=False)  # doctest: +SKIP
        >>> result.table[["seed", "passed", "algorithm", "test_acc"]]  # doctest: +SKIP
    """
    from ..checks import progress_bar as tqdm

    from .backends import make_backend
    from .table import build_table, summary_plots, write_table
    from .tracking import make_logger

    _check_table_dependencies()
    config = load_config(config)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidArgumentError(f"out_dir={str(out_dir)!r} exists and is not a directory")
    runner = make_backend(backend, out_dir=out_dir, workers=workers, threads=threads, address=address, slurm=slurm)
    log = make_logger(logger)
    out_dir.mkdir(parents=True, exist_ok=True)

    with _lock(out_dir):
        _write_manifest(out_dir, config)
        rows: dict[str, dict[str, Any]] = {}
        reused, todo = [], []
        for spec in config.runs:
            row = read_result(out_dir, spec, config.verify)
            if row is not None and (row.get("status") == "ok" or not retry_failed):
                rows[spec.name] = row
                reused.append(spec.name)
            else:
                todo.append(spec)
        jobs = _jobs(todo, out_dir, config, runner, vectorize_seeds)
        if log is not None and jobs and hasattr(log, "start"):
            log.start(config.name, out_dir, config.to_dict())
        ran: list[str] = []
        bar = tqdm(total=len(todo), disable=not progress, desc=config.name, unit="run", dynamic_ncols=True)
        try:
            for job, outcome in (runner.run(jobs) if jobs else []):
                for row in _rows(job, outcome, out_dir, config):
                    rows[row["run"]] = row
                    ran.append(row["run"])
                    _log(log, row, out_dir)
                bar.update(len(job["specs"]))
                bar.set_postfix(failed=sum(rows[r]["status"] != "ok" for r in ran), refresh=False)
        finally:
            bar.close()
            if log is not None and jobs and hasattr(log, "finish"):
                log.finish()
            ordered = [rows.get(spec.name) or _pending_row(spec, config) for spec in config.runs]
            table = build_table(config, ordered)
            files = write_table(table, out_dir, csv=csv)
        files.update(summary_plots(table, config, out_dir))

    failed = [r["run"] for r in ordered if r.get("status") == "failed"]
    submitted = [run for run in getattr(runner, "submitted", []) if run not in rows]
    return SweepResult(config=config, out_dir=out_dir, table=table, ran=ran, reused=reused, failed=failed, files=files,
                       submitted=submitted)


def status(out_dir: Union[str, Path]) -> list[dict[str, Any]]:
    """Where each run of the sweep in ``out_dir`` stands, without running anything.

    One dict per run, in grid order: ``run``, ``state`` and ``job_id`` (the SLURM job that
    was submitted for it, if any). ``state`` is ``"done"`` or ``"failed"`` (a result is
    recorded), ``"running"`` / ``"queued"`` (its SLURM job is alive and has / has not
    started it), or, with no live job, what the next sweep would do: ``"resume"`` (a
    checkpoint is saved), ``"verify"`` (trained) or ``"train"``.

    Raises:
        InvalidArgumentError: ``out_dir`` holds no sweep (no ``sweep.json``).

    Example:
        >>> import fourier_interp as fi
        >>> fi.sweep("grid.toml", "/shared/sweeps/grid", backend="slurm", slurm={"detach": True})  # doctest: +SKIP
        >>> [s["state"] for s in fi.sweeps.status("/shared/sweeps/grid")]  # doctest: +SKIP
        ['done', 'running', 'queued', 'queued']
    """
    from .slurm import JOB_FILE, job_state, read_jobs

    out_dir = Path(out_dir)
    config = _read_manifest(out_dir)
    jobs = read_jobs(out_dir)
    states = []
    for spec in config.runs:
        row = read_result(out_dir, spec, config.verify)
        job = jobs.get(spec.name, {})
        if row is not None and row.get("status") in ("ok", "failed"):
            state = "done" if row["status"] == "ok" else "failed"
        elif job and job_state(job) == "alive":
            started = _read_json(run_dir(out_dir, spec) / JOB_FILE).get("job_id")
            state = "running" if started is not None and str(started) == str(job.get("job_id")) else "queued"
        else:
            state = plan(out_dir, spec)
        states.append({"run": spec.name, "state": state, "job_id": job.get("job_id")})
    return states


def collect(out_dir: Union[str, Path], *, csv: bool = False) -> SweepResult:
    """The results table and plots of the sweep in ``out_dir`` from what its runs recorded, running nothing.

    For a detached sweep (``slurm={"detach": True}``): the finished runs' rows, and a
    ``"pending"`` row for each run still queued, running or never started (``.submitted``
    names those whose SLURM job is alive). Writes ``results.parquet`` (and ``results.csv``)
    and the plots, as :func:`sweep` does.

    Raises:
        InvalidArgumentError: ``out_dir`` holds no sweep, or another sweep process holds it.

    Example:
        >>> import fourier_interp as fi
        >>> result = fi.sweeps.collect("/shared/sweeps/grid", csv=True)  # doctest: +SKIP
        >>> result.table[["run", "status", "passed"]], result.submitted  # doctest: +SKIP
    """
    from .table import build_table, summary_plots, write_table

    _check_table_dependencies()
    out_dir = Path(out_dir)
    config = _read_manifest(out_dir)
    with _lock(out_dir):
        states = {s["run"]: s for s in status(out_dir)}
        rows = [read_result(out_dir, spec, config.verify) or _pending_row(spec, config) for spec in config.runs]
        table = build_table(config, rows)
        files = write_table(table, out_dir, csv=csv)
        files.update(summary_plots(table, config, out_dir))
    done = [r["run"] for r in rows if r.get("status") == "ok"]
    failed = [r["run"] for r in rows if r.get("status") == "failed"]
    alive = [run for run, s in states.items() if s["state"] in ("queued", "running")]
    return SweepResult(config=config, out_dir=out_dir, table=table, reused=done, failed=failed, files=files,
                       submitted=alive)


def _read_manifest(out_dir: Path) -> SweepConfig:
    """The config a sweep ran with, from its ``sweep.json`` (written by :func:`sweep`)."""
    manifest = _read_json(out_dir / "sweep.json")
    if not manifest:
        raise InvalidArgumentError(f"{out_dir} holds no sweep (no sweep.json): give the --out directory of a sweep")
    if "specs" not in manifest:
        raise InvalidArgumentError(f"{out_dir / 'sweep.json'} was written by an older version without its runs' "
                                   "settings; run the sweep command again once to update it")
    fields = ("name", "grid", "overrides", "preset_overrides", "verify", "progress_measures")
    config = SweepConfig(**{k: manifest[k] for k in fields if k in manifest})
    config.runs = [RunSpec.from_dict(spec) for spec in manifest["specs"]]
    return config


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------------ helpers
def _jobs(todo: list[RunSpec], out_dir: Path, config: SweepConfig, runner, vectorize: bool) -> list[dict[str, Any]]:
    """One job per run; with ``vectorize``, fresh runs that differ only in seed share one."""
    base = {"out_dir": str(out_dir), "threads": runner.threads, "verify": config.verify}
    singles, groups = [], {}
    for spec in todo:
        early_stop = spec.overrides.get("early_stop_acc", settings(spec.preset).get("early_stop_acc"))
        if vectorize and plan(out_dir, spec) == "train" and early_stop is None and not spec.progress_measures:
            groups.setdefault(json.dumps([spec.preset, spec.overrides], sort_keys=True), []).append(spec)
        else:
            singles.append(spec)
    jobs = [{**base, "specs": [s.to_dict()], "together": False} for s in singles]
    parallel = getattr(runner, "workers", None) or 1
    for specs in groups.values():
        if len(specs) == 1:
            jobs.append({**base, "specs": [specs[0].to_dict()], "together": False})
            continue
        n_chunks = max(1, min(len(specs), parallel // max(len(groups), 1)))
        size = -(-len(specs) // n_chunks)
        for i in range(0, len(specs), size):
            jobs.append({**base, "specs": [s.to_dict() for s in specs[i:i + size]], "together": True})
    return jobs


def _rows(job: dict[str, Any], outcome, out_dir: Path, config: SweepConfig) -> list[dict[str, Any]]:
    """The job's rows, written to each run's ``result.json`` here too (the workers may not share this disk)."""
    specs = [RunSpec.from_dict(s) for s in job["specs"]]
    if isinstance(outcome, BaseException):  # the backend lost the job: keep what its runs recorded
        rows = [read_result(out_dir, s, config.verify) or failed_row(s, config.verify, outcome) for s in specs]
    else:
        rows = list(outcome)
    for row in rows:
        write_result(out_dir, row)
    return rows


def _log(log, row: dict[str, Any], out_dir: Path) -> None:
    if log is None:
        return
    from ..training import History

    spec = RunSpec.from_dict(row["spec"])
    train_dir = run_dir(out_dir, spec) / TRAIN_DIR
    try:
        history = History.load(train_dir) if (train_dir / "history.json").is_file() else None
        log.log_run(row, history, run_dir(out_dir, spec))
    except Exception as e:  # tracking is optional: it never fails the sweep
        warnings.warn(f"sweep logger failed on run {row['run']}: {type(e).__name__}: {e}", stacklevel=3)


def _check_table_dependencies() -> None:
    """The results table needs pandas and pyarrow: say so before any run starts, not after."""
    import importlib.util

    missing = [name for name in ("pandas", "pyarrow") if importlib.util.find_spec(name) is None]
    if missing:
        raise InvalidArgumentError(f"fi.sweep writes its table with pandas and pyarrow; install {' and '.join(missing)} "
                                   "(pip install 'fourier-interp[sweep]')")


def _pending_row(spec: RunSpec, config: SweepConfig) -> dict[str, Any]:
    return {"run": spec.name, "fingerprint": spec.fingerprint, "spec": spec.to_dict(),
            "verify_options": config.verify, "status": "pending"}


def _write_manifest(out_dir: Path, config: SweepConfig) -> None:
    from ..checkpoint import atomic_write_json

    atomic_write_json(out_dir / "sweep.json", {**config.to_dict(), "runs": [r.name for r in config.runs],
                                               "specs": [r.to_dict() for r in config.runs]})


@contextlib.contextmanager
def _lock(out_dir: Path) -> Iterator[None]:
    """One sweep process per directory at a time (the lock goes with the process, even if it is killed)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    with open(out_dir / ".sweep.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InvalidArgumentError(f"another sweep is running in {out_dir} (it holds {out_dir / '.sweep.lock'})") from None
        try:
            f.write(str(os.getpid()))
            f.flush()
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
