"""Sweeps: the cross product of seeds x settings, each run trained, verified and tabulated.

The top of the pipeline: a sweep drives training and verification over many configurations
and collects their reports into one table. Nothing below imports it.

    config.py    the TOML config: validated, expanded into RunSpecs with stable names
    runner.py    one job on a worker: train / resume / reload, verify, write result.json
    backends.py  local process pool, Ray, SLURM via submitit: one interface
    table.py     the results table (Parquet, CSV) and the summary plots
    tracking.py  optional loggers (Weights & Biases, offline)
    api.py       fi.sweep and SweepResult; status and collect for a detached sweep
    slurm.py     SLURM jobs that requeue on their time limit and are submitted once
    examples.py  the sweep configs shipped with the package
    cli.py       the ``fourier-interp sweep`` subcommand

Importing this package does not import torch, pandas, Ray, submitit or wandb: its names
load on first use (``fi.sweeps.sweep`` imports the machinery), and each optional library is
imported where it is used.

Example:
    >>> import fourier_interp as fi
    >>> config = fi.sweeps.load_config({"preset": "zhong2023-clock",
    ...                                 "grid": {"seed": [0, 1], "attn_coeff": [0.0, 1.0]},
    ...                                 "overrides": {"p": 23, "steps": 300}})
    >>> len(config.runs), config.varied
    (4, ['seed', 'attn_coeff'])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and the API reference read; at run time each loads on first use
    from .api import SweepResult, collect, status, sweep
    from .backends import LocalBackend, RayBackend, SlurmBackend, cpu_count, plan_local
    from .config import RunSpec, SweepConfig, load_config
    from .examples import example_path, list_examples
    from .tracking import SweepLogger, WandbLogger

# public name -> the module of this package that defines it (imported on first use)
_EXPORTS: dict[str, str] = {
    "sweep": "api",
    "SweepResult": "api",
    "status": "api",
    "collect": "api",
    "SweepConfig": "config",
    "RunSpec": "config",
    "load_config": "config",
    "LocalBackend": "backends",
    "RayBackend": "backends",
    "SlurmBackend": "backends",
    "plan_local": "backends",
    "cpu_count": "backends",
    "SweepLogger": "tracking",
    "WandbLogger": "tracking",
    "list_examples": "examples",
    "example_path": "examples",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fourier_interp.sweeps' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
