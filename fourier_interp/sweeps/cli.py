"""``fourier-interp sweep CONFIG.toml --out DIR``: the command-line face of :func:`fi.sweep`.

:func:`add_sweep_parser` adds the subcommand to the ``fourier-interp`` parser and
:func:`cmd_sweep` runs it. Importing this module does not import torch (the sweep machinery
is imported inside :func:`cmd_sweep`), so ``--help`` and argument errors answer at once.
``--example NAME`` runs a config shipped with the package instead of a file. Exit status: 0
when every run finished (whatever its verdict), 1 when a run failed (its row records why), 2
on bad input.
"""

from __future__ import annotations

import argparse
import sys

from .._cliargs import UsageError, int_at_least
from .backends import BACKENDS  # torch-free at import
from .examples import example_path, list_examples

FOLLOW_UPS = ("status", "collect")  # fourier-interp sweep status DIR, sweep collect DIR



def add_backend_options(s: argparse.ArgumentParser) -> None:
    """Where a grid of runs executes: --backend, --workers, --threads, --address (sweep and phase-diagram)."""
    s.add_argument("--backend", choices=BACKENDS, default="local", help="where runs execute (default: local)")
    s.add_argument("--workers", type=int_at_least("workers", 1), metavar="N",
                   help="runs at once (local, ray); workers x threads may not exceed the cores (default: fill them)")
    s.add_argument("--threads", type=int_at_least("threads", 1), metavar="N",
                   help="torch threads per run (default 1, or the cores divided among --workers)")
    s.add_argument("--address", metavar="ADDR", help="ray: the cluster to connect to (default: start a local instance)")

def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``sweep`` to an ``argparse`` subparsers object; returns the new parser."""
    s = subparsers.add_parser(
        "sweep", help="train and verify every run of a sweep config; write a results table and plots",
        usage="fourier-interp sweep (CONFIG.toml | --example NAME) --out DIR [options]\n"
              "       fourier-interp sweep status DIR     (where each run stands; runs nothing)\n"
              "       fourier-interp sweep collect DIR    (the table and plots from what finished; runs nothing)",
        description="Run the cross product of a sweep config's grid (a TOML file: a preset, [grid] lists, "
                    "[overrides]), verify every run, write DIR/results.parquet and DIR/plots/. Finished runs "
                    "are reused: run the same command again to resume an interrupted sweep. Exit 0 when every "
                    "run finished, 1 if one failed, 2 on bad input.")
    s.add_argument("config", metavar="CONFIG.toml", nargs="?",
                   help="the sweep config (or --example NAME); or 'status' / 'collect' followed by a sweep's DIR")
    s.add_argument("dir", metavar="DIR", nargs="?", help=argparse.SUPPRESS)  # sweep status DIR, sweep collect DIR
    s.add_argument("--example", metavar="NAME", choices=list_examples(),
                   help=f"a sweep config shipped with the package instead of a file: {', '.join(list_examples())}")
    s.add_argument("--out", metavar="DIR", help="the sweep's directory (runs, table, plots); required to run one")
    add_backend_options(s)
    slurm = s.add_argument_group("slurm (submitit)")
    slurm.add_argument("--partition", help="SLURM partition")
    slurm.add_argument("--time", metavar="T", help="time limit per job: minutes or [D-]HH:MM:SS (default 60)")
    slurm.add_argument("--cpus", type=int_at_least("cpus", 1), metavar="N", help="CPUs per job (default: --threads or 1)")
    slurm.add_argument("--mem", metavar="M", help="memory per job, e.g. 8G")
    slurm.add_argument("--gpus", type=int_at_least("gpus", 0), metavar="N", help="GPUs per job")
    slurm.add_argument("--account", help="SLURM account")
    slurm.add_argument("--parallelism", type=int_at_least("parallelism", 1), metavar="N",
                       help="array tasks running at once")
    slurm.add_argument("--no-array", action="store_true", help="one job per run instead of one job array")
    slurm.add_argument("--max-timeouts", type=int_at_least("max-timeouts", 0), metavar="N",
                       help="times a job may reach its time limit and be requeued from its checkpoint (default 3)")
    slurm.add_argument("--detach", action="store_true",
                       help="submit the jobs and return; follow with `sweep status DIR` and `sweep collect DIR`")
    slurm.add_argument("--slurm-cluster", choices=("slurm", "local", "debug"),
                       help="submitit's executor (default: SLURM when present; local runs jobs as local processes)")
    s.add_argument("--csv", action="store_true", help="also write DIR/results.csv")
    s.add_argument("--wandb", action="store_true", help="log each run to Weights & Biases, offline (DIR/wandb)")
    s.add_argument("--vectorize-seeds", action="store_true",
                   help="train runs that differ only in seed together as one vectorised model (fast on a GPU)")
    s.add_argument("--no-retry-failed", action="store_true", help="keep recorded failures instead of running them again")
    s.add_argument("--dry-run", action="store_true", help="check the config and list the runs and what each needs")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    return s


def _slurm_options(args) -> dict | None:
    options = {"partition": args.partition, "time": args.time, "cpus": args.cpus, "mem": args.mem, "gpus": args.gpus,
               "account": args.account, "parallelism": args.parallelism,
               "cluster": args.slurm_cluster}
    options["max_timeouts"] = args.max_timeouts
    options = {k: v for k, v in options.items() if v is not None}
    if args.no_array:
        options["array"] = False
    if args.detach:
        options["detach"] = True
    if args.backend != "slurm":
        if options:
            flags = ", ".join("--slurm-cluster" if k == "cluster" else "--no-array" if k == "array"
                              else f"--{k.replace('_', '-')}" for k in options)
            raise UsageError(f"{flags} belong to --backend slurm, not --backend {args.backend}")
        return None
    return options


def cmd_sweep(args) -> int:
    """Run ``fourier-interp sweep``; returns the exit status."""
    from pathlib import Path

    if args.config in FOLLOW_UPS and args.example is None:
        return _follow_up(args)
    if args.dir is not None:
        raise UsageError(f"fourier-interp sweep: unexpected argument {args.dir!r} (a sweep takes one config; "
                         f"`sweep status DIR` and `sweep collect DIR` follow a sweep up)")
    if args.out is None:
        raise UsageError("fourier-interp sweep: --out DIR is required (the sweep's directory)")
    if (args.config is None) == (args.example is None):
        raise UsageError("fourier-interp sweep: give a config file or --example NAME, not both and not neither "
                         f"(examples: {', '.join(list_examples())})")
    config_path = Path(args.config) if args.config is not None else example_path(args.example)
    slurm = _slurm_options(args)
    if args.address is not None and args.backend != "ray":
        raise UsageError(f"--address belongs to --backend ray, not --backend {args.backend}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    # the arguments are checked: now the sweep machinery (torch) is worth importing
    from ..checkpoint import CheckpointError
    from ..errors import InvalidArgumentError
    from .api import sweep
    from .config import load_config
    from .runner import plan, read_result

    try:
        config = load_config(config_path)
        if args.dry_run:
            for spec in config.runs:
                done = read_result(out, spec, config.verify)
                state = "done" if done is not None and done.get("status") == "ok" else plan(out, spec)
                print(f"{state:<7} {spec.name}")
            print(f"{len(config.runs)} runs in {config.name}", file=sys.stderr)
            return 0
        result = sweep(config, out, backend=args.backend, workers=args.workers, threads=args.threads,
                       address=args.address, slurm=slurm, csv=args.csv, logger="wandb" if args.wandb else None,
                       progress=not args.quiet, vectorize_seeds=args.vectorize_seeds,
                       retry_failed=not args.no_retry_failed)
    except (InvalidArgumentError, CheckpointError) as e:
        raise UsageError(str(e)) from None
    _summary(result)
    if result.submitted:
        print(f"{len(result.submitted)} runs queued on SLURM: fourier-interp sweep status {out} (where they stand), "
              f"fourier-interp sweep collect {out} (the table once they finish)", file=sys.stderr)
    return 1 if result.failed else 0


def _follow_up(args) -> int:
    """``sweep status DIR`` and ``sweep collect DIR``: read a sweep's directory, run nothing."""
    if args.dir is None:
        raise UsageError(f"fourier-interp sweep {args.config}: give the sweep's directory, e.g. "
                         f"fourier-interp sweep {args.config} sweeps/small")
    ignored = [flag for flag, value in (("--out", args.out), ("--backend", args.backend != "local" or None),
                                        ("--dry-run", args.dry_run or None)) if value]
    if ignored:
        raise UsageError(f"fourier-interp sweep {args.config} takes only the sweep's DIR, not {', '.join(ignored)}")
    from ..errors import InvalidArgumentError
    from .api import collect, status

    try:
        if args.config == "status":
            states = status(args.dir)
            for s in states:
                job = f"  job {s['job_id']}" if s["job_id"] is not None else ""
                print(f"{s['state']:<8} {s['run']}{job}")
            counts: dict[str, int] = {}
            for s in states:
                counts[s["state"]] = counts.get(s["state"], 0) + 1
            print(", ".join(f"{n} {state}" for state, n in counts.items()) + f" of {len(states)} runs", file=sys.stderr)
            return 0
        result = collect(args.dir, csv=args.csv)
    except InvalidArgumentError as e:
        raise UsageError(str(e)) from None
    _summary(result)
    return 1 if result.failed else 0


def _summary(result) -> None:
    table, config = result.table, result.config
    print(f"{config.name}: {len(table)} runs ({len(result.ran)} ran, {len(result.reused)} reused, "
          f"{len(result.failed)} failed); passed verify: {int(table['passed'].fillna(False).sum())}/{len(table)}")
    counts = table.loc[table["status"] == "ok", "algorithm"].value_counts()
    if len(counts):
        print("algorithms: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    for run in result.failed:
        error = table.loc[table["run"] == run, "error"].iloc[0]
        print(f"failed: {run}: {error}", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in result.files.values()), file=sys.stderr)
