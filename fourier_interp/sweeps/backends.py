"""Where sweep jobs run: a local process pool, a Ray cluster or SLURM (through submitit).

Every backend takes a list of jobs (plain dicts for :func:`runner.execute`) and yields
``(job, rows)`` as each finishes, or ``(job, exception)`` when the backend lost it (a worker
killed, a SLURM job cancelled). The sweep records the rows either way; nothing here knows
about tables or plots.

* :class:`LocalBackend` — ``workers`` processes (started with ``spawn``), each with
  ``threads`` torch threads, ``workers x threads <= cores``: oversubscribing a CPU makes
  every training step many times slower. One worker runs in this process.
* :class:`RayBackend` — one Ray task per job, each reserving ``threads`` CPUs; with no
  address it starts (and afterwards stops) a local Ray instance.
* :class:`SlurmBackend` — one SLURM job per run or one job array, through submitit;
  ``cluster="local"`` runs the jobs as local processes (submitit's LocalExecutor).

Ray and submitit are optional: a backend that needs one that is missing says what to install.
Importing this module imports neither them nor torch (the command line's parser reads
:data:`BACKENDS` from here); :func:`runner.execute` is imported where jobs are run.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterator, Optional, Union

from ..errors import InvalidArgumentError

Outcome = Union[list, BaseException]


def cpu_count() -> int:
    """CPU cores this process may use (:func:`fourier_interp.checks.cpu_count`, imported when called)."""
    from ..checks import cpu_count as count

    return count()


def plan_local(workers: Optional[int], threads: Optional[int], cores: Optional[int] = None) -> tuple[int, int]:
    """``(workers, threads)`` with ``workers * threads <= cores``.

    Neither given: one thread per worker and a worker per core (small models train fastest
    on one thread each). One given: the other fills the cores. Both: checked.

    Raises:
        InvalidArgumentError: ``workers * threads`` exceeds the cores.

    Example:
        >>> from fourier_interp.sweeps.backends import plan_local
        >>> plan_local(None, None, cores=8), plan_local(2, None, cores=8), plan_local(None, 3, cores=8)
        ((8, 1), (2, 4), (2, 3))
    """
    cores = cores or cpu_count()
    for name, value in (("workers", workers), ("threads", threads)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidArgumentError(f"{name}={value!r}: expected None or an int >= 1")
    if workers is None and threads is None:
        workers, threads = cores, 1
    elif workers is None:
        workers = max(1, cores // threads)
    elif threads is None:
        threads = max(1, cores // workers)
    if workers * threads > cores:
        raise InvalidArgumentError(
            f"workers={workers} x threads={threads} = {workers * threads} exceeds the {cores} CPU cores here; "
            "oversubscribing makes every step many times slower: lower workers or threads"
        )
    return workers, threads


class LocalBackend:
    """A process pool on this machine; see :func:`plan_local` for its size."""

    name = "local"

    def __init__(self, workers: Optional[int] = None, threads: Optional[int] = None):
        self.workers, self.threads = plan_local(workers, threads)

    def run(self, jobs: list[dict[str, Any]]) -> Iterator[tuple[dict, Outcome]]:
        from .runner import execute

        if self.workers == 1 or len(jobs) <= 1:
            for job in jobs:
                yield job, execute(job)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn, not fork: a forked child of a process that has run torch's thread pools can hang
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)),
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self.threads,))
        try:
            futures = {pool.submit(execute, job): job for job in jobs}
            for future in as_completed(futures):
                try:
                    yield futures[future], future.result()
                except Exception as e:  # a worker died (BrokenProcessPool) or the job could not be sent
                    yield futures[future], e
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _init_worker(threads: int) -> None:
    """Before torch is imported in a worker: its thread pools get ``threads`` threads."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


class RayBackend:
    """One Ray task per job; each reserves ``threads`` CPUs.

    Args:
        address: A Ray cluster's address (``"auto"``, ``"ray://host:10001"`` ...); ``None``
            starts a local instance sized to this machine's cores and stops it afterwards
            (or uses the one this process already started).
        threads: torch threads (and Ray CPUs) per task.
        workers: At most this many tasks in flight (``None``: as many as Ray schedules).
    """

    name = "ray"

    def __init__(self, address: Optional[str] = None, threads: Optional[int] = None, workers: Optional[int] = None):
        try:
            import ray  # noqa: F401  (installed?)
        except ImportError:
            raise InvalidArgumentError(
                "backend='ray' needs Ray, which is not installed: pip install 'fourier-interp[ray]' (or pip install ray)"
            ) from None
        if address is not None and not isinstance(address, str):
            raise InvalidArgumentError(f"address={address!r}: expected a Ray address string or None")
        if address is not None:
            check_reachable(address)
        self.address = address
        self.threads = threads or 1
        self.workers = workers
        if address is None:  # a local instance: never more tasks at once than cores
            self.workers, self.threads = plan_local(workers, threads)

    def run(self, jobs: list[dict[str, Any]]) -> Iterator[tuple[dict, Outcome]]:
        import ray

        from .runner import execute

        started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if self.address is None:
                kwargs["num_cpus"] = cpu_count()
            else:
                kwargs["address"] = self.address
            ray.init(**kwargs)
            started = True
        try:
            remote = ray.remote(num_cpus=self.threads, max_retries=0)(execute)
            pending = list(jobs)
            in_flight: dict[Any, dict] = {}
            limit = self.workers or len(jobs)
            while pending or in_flight:
                while pending and len(in_flight) < limit:
                    job = pending.pop(0)
                    in_flight[remote.remote(job)] = job
                done, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in done:
                    job = in_flight.pop(ref)
                    try:
                        yield job, ray.get(ref)
                    except Exception as e:  # RayTaskError, WorkerCrashedError, ...
                        yield job, e
        finally:
            if started:
                ray.shutdown()


RAY_CONNECT_TIMEOUT_S = 5.0
"""How long a Ray address gets to accept a connection before the sweep is refused."""


def check_reachable(address: str, timeout: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Refuse, within ``timeout`` seconds, a ``host:port`` (or ``ray://host:port``) Ray address that does not answer.

    Ray itself waits for a cluster that is not there for minutes, printing warnings; a
    TCP connection to the address answers at once or within ``timeout``. ``"auto"`` and
    ``"local"`` (found by Ray itself) are not probed.

    Raises:
        InvalidArgumentError: the address is malformed or nothing accepts connections there.

    Example:
        >>> check_reachable("127.0.0.1:1")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fourier_interp.errors.InvalidArgumentError: address='127.0.0.1:1': no Ray cluster answers there ...
    """
    import socket

    if address in ("auto", "local"):
        return
    m = re.fullmatch(r"(?:ray://)?\[?([^\]]+?)\]?:(\d+)", address.strip())
    if not m:
        raise InvalidArgumentError(f"address={address!r}: expected 'host:port', 'ray://host:port' or 'auto'")
    host, port = m.group(1), int(m.group(2))
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as e:
        reason = "no answer within {:.0f} s".format(timeout) if isinstance(e, socket.timeout) else (e.strerror or str(e))
        raise InvalidArgumentError(
            f"address={address!r}: no Ray cluster answers there ({reason}); start one (ray start --head) "
            "and pass the address it prints, or leave address unset for a local instance"
        ) from None


SLURM_KEYS = ("partition", "time", "cpus", "mem", "gpus", "array", "parallelism", "account", "qos",
              "constraint", "cluster", "folder", "job_name", "extra", "max_timeouts", "detach")


class SlurmBackend:
    """SLURM jobs through submitit: one job array (default) or one job per run.

    Jobs survive their time limit and preemption: on SLURM's signal a job stops training at
    the end of its step with a checkpoint written, and submitit requeues it; the requeued job
    resumes from that checkpoint (:mod:`fourier_interp.sweeps.slurm`). Every submitted run's
    job is recorded in ``out_dir/slurm/jobs.json``; a run whose job is still queued or running
    is waited for, never submitted twice.

    Args:
        options: ``partition``, ``time`` (minutes or ``"[D-]HH:MM:SS"``, default 60), ``cpus``
            (per job, default ``threads`` or 1; each job's torch threads), ``mem`` (``"8G"``
            or GB), ``gpus`` (per job), ``array`` (one job array, default True; False: one
            job per run), ``parallelism`` (array tasks at once), ``account``, ``qos``,
            ``constraint``, ``job_name``, ``max_timeouts`` (times a job may hit its time
            limit and be requeued, default 3; preemptions do not count), ``detach`` (submit
            and return without waiting; ``fourier-interp sweep status DIR`` and
            ``sweep collect DIR`` follow up), ``extra`` (more submitit parameters, e.g.
            ``{"slurm_mail_type": "END"}``), ``cluster`` (submitit's cluster: ``None`` picks
            SLURM when present, ``"local"`` runs jobs as local processes, ``"debug"`` in this
            process), ``folder`` (submitit's logs and pickles, default ``out_dir/slurm``).
        out_dir: The sweep's directory (shared with the compute nodes).
        threads: torch threads per job when ``cpus`` is not given.
    """

    name = "slurm"

    def __init__(self, options: Optional[dict[str, Any]], out_dir, threads: Optional[int] = None):
        try:
            import submitit
        except ImportError:
            raise InvalidArgumentError(
                "backend='slurm' needs submitit, which is not installed: pip install 'fourier-interp[slurm]' "
                "(or pip install submitit)"
            ) from None
        options = dict(options or {})
        for key in options:
            if key not in SLURM_KEYS:
                raise InvalidArgumentError(f"slurm option {key!r} is unknown; options: {', '.join(SLURM_KEYS)}")
        cpus = options.get("cpus", threads or 1)
        if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 1:
            raise InvalidArgumentError(f"slurm cpus={cpus!r}: expected an int >= 1")
        if threads is not None and threads > cpus:
            raise InvalidArgumentError(f"threads={threads} exceeds slurm cpus={cpus}: each job's torch threads fit its CPUs")
        self.threads = threads or cpus
        self.array = bool(options.get("array", True))
        self.detach = bool(options.get("detach", False))
        self.max_timeouts = options.get("max_timeouts", 3)
        if isinstance(self.max_timeouts, bool) or not isinstance(self.max_timeouts, int) or self.max_timeouts < 0:
            raise InvalidArgumentError(f"slurm max_timeouts={self.max_timeouts!r}: expected an int >= 0")
        self.cluster = options.get("cluster")
        if self.cluster not in (None, "slurm", "local", "debug"):
            raise InvalidArgumentError(f"slurm cluster={self.cluster!r}: expected None, 'slurm', 'local' or 'debug'")
        if self.cluster is None and submitit.AutoExecutor.which() != "slurm":
            raise InvalidArgumentError(
                "backend='slurm': no SLURM on this machine (sbatch not found); use backend='local', or "
                "slurm={'cluster': 'local'} to run the jobs through submitit as local processes"
            )
        if self.detach and self.cluster == "debug":
            raise InvalidArgumentError("slurm detach=True needs jobs that outlive this process; cluster='debug' runs them here")
        self.out_dir = os.fspath(out_dir)
        self.folder = options.get("folder", os.path.join(self.out_dir, "slurm"))
        params: dict[str, Any] = {
            "timeout_min": parse_minutes(options.get("time", 60)),
            "cpus_per_task": cpus,
            "name": options.get("job_name", "fourier-interp-sweep"),
        }
        if "mem" in options:
            params["mem_gb"] = parse_gb(options["mem"])
        if "gpus" in options:
            params["gpus_per_node"] = int(options["gpus"])
        for key in ("partition", "account", "qos", "constraint"):
            if key in options:
                params[f"slurm_{key}"] = str(options[key])
        if "parallelism" in options:
            params["slurm_array_parallelism"] = int(options["parallelism"])
        extra = options.get("extra", {})
        if not isinstance(extra, dict):
            raise InvalidArgumentError(f"slurm extra={extra!r}: expected a dict of submitit parameters")
        params.update(extra)
        self.params = params
        self.submitted: list[str] = []  # runs submitted by the last run() and not waited for (detach)

    def run(self, jobs: list[dict[str, Any]]) -> Iterator[tuple[dict, Outcome]]:
        import submitit

        from .slurm import SweepJob, job_state, read_jobs

        recorded = read_jobs(self.out_dir)
        queued = [job for job in jobs if any(job_state(recorded[n]) == "alive" for n in _runs(job) if n in recorded)]
        fresh = [job for job in jobs if not any(job is q for q in queued)]
        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster,
                                         slurm_max_num_timeout=self.max_timeouts, local_max_num_timeout=self.max_timeouts)
        executor.update_parameters(**self.params)
        # SLURM queues everything at once; submitit's local executor would start every job at once,
        # so here the jobs go in waves that fit the cores
        everything = executor.cluster == "slurm" or self.detach
        wave = len(fresh) if everything else max(1, cpu_count() // self.params["cpus_per_task"])
        poll = 10.0 if executor.cluster == "slurm" else 0.2
        self.submitted = []
        for lo in range(0, len(fresh), max(wave, 1)):
            batch = fresh[lo:lo + wave]
            submitted = self._submit(executor, SweepJob(), batch)
            if self.detach:
                continue
            by_id = {id(s): job for s, job in zip(submitted, batch)}
            for done in submitit.helpers.as_completed(submitted, poll_frequency=poll):
                try:
                    yield by_id[id(done)], done.result()
                except Exception as e:  # the job failed, timed out too often or was cancelled
                    yield by_id[id(done)], e
        if not self.detach:
            yield from self._wait_for(queued, recorded, poll)
        else:
            self.submitted += [n for job in queued for n in _runs(job)]

    def _submit(self, executor, function, batch: list[dict[str, Any]]) -> list:
        """Submit ``batch`` (an array when there are several) and record each run's job at once."""
        import time

        from .slurm import record_jobs

        if self.array and len(batch) > 1:
            submitted = executor.map_array(function, batch)
        else:
            submitted = [executor.submit(function, job) for job in batch]
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        record_jobs(self.out_dir, {run: {"job_id": str(s.job_id), "cluster": executor.cluster, "folder": str(self.folder),
                                         "submitted_at": now}
                                   for s, job in zip(submitted, batch) for run in _runs(job)})
        self.submitted += [run for job in batch for run in _runs(job)]
        return submitted

    def _wait_for(self, queued: list[dict[str, Any]], recorded: dict, poll: float) -> Iterator[tuple[dict, Outcome]]:
        """Jobs a previous sweep submitted and that are still queued or running: wait, then read their rows."""
        import time

        from .slurm import job_state

        pending = list(queued)
        while pending:
            for job in list(pending):
                if all(job_state(recorded[n]) != "alive" for n in _runs(job) if n in recorded):
                    pending.remove(job)
                    ids = sorted({recorded[n]["job_id"] for n in _runs(job) if n in recorded})
                    yield job, RuntimeError(f"SLURM job {', '.join(ids)} (submitted earlier) ended without recording "
                                            "this run's result")
            if pending:
                time.sleep(poll)


def _runs(job: dict[str, Any]) -> list[str]:
    return [spec["name"] for spec in job["specs"]]


def parse_minutes(value: Any) -> int:
    """SLURM time as minutes: an int, ``"MM"``, ``"HH:MM:SS"`` or ``"D-HH:MM:SS"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", str(value).strip())
    if not m:
        raise InvalidArgumentError(f"slurm time={value!r}: expected minutes or [D-]HH:MM:SS")
    days, a, b, c = (int(x) if x else None for x in m.groups())
    if c is not None:  # H:M:S
        minutes = a * 60 + b + (c > 0)
    elif b is not None:  # with a day: D-HH:MM; else MM:SS
        minutes = a * 60 + b if days is not None else a + (b > 0)
    else:
        minutes = a * 60 if days is not None else a
    minutes += (days or 0) * 24 * 60
    if minutes < 1:
        raise InvalidArgumentError(f"slurm time={value!r}: must be at least a minute")
    return minutes


def parse_gb(value: Any) -> float:
    """Memory in GB: a number, or ``"512M"``, ``"8G"``, ``"8GB"``, ``"1T"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([MGT])B?", str(value).strip(), flags=re.I)
    if not m:
        raise InvalidArgumentError(f"slurm mem={value!r}: expected GB or a size like '8G' or '512M'")
    return float(m.group(1)) * {"M": 1 / 1024, "G": 1, "T": 1024}[m.group(2).upper()]


BACKENDS = ("local", "ray", "slurm")


def make_backend(backend: str, *, out_dir, workers=None, threads=None, address=None, slurm=None):
    """The backend object for ``sweep(backend=...)``, its options checked."""
    if backend == "local":
        if address is not None or slurm is not None:
            raise InvalidArgumentError("address= and slurm= belong to the ray and slurm backends, not backend='local'")
        return LocalBackend(workers, threads)
    if backend == "ray":
        if slurm is not None:
            raise InvalidArgumentError("slurm= belongs to backend='slurm', not 'ray'")
        return RayBackend(address, threads, workers)
    if backend == "slurm":
        if address is not None:
            raise InvalidArgumentError("address= belongs to backend='ray', not 'slurm'")
        if workers is not None:
            raise InvalidArgumentError("workers= is for the local and ray backends; SLURM's parallelism is slurm={'parallelism': N}")
        return SlurmBackend(slurm, out_dir, threads)
    raise InvalidArgumentError(f"backend={backend!r} is not allowed; expected one of {BACKENDS}")
