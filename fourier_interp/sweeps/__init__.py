"""Sweeps: the cross product of seeds x settings, each run trained, verified and tabulated.

The top of the pipeline: a sweep drives training and verification over many configurations
and collects their reports into one table. Nothing below imports it.

    config.py    the TOML config: validated, expanded into RunSpecs with stable names
    runner.py    one job on a worker: train / resume / reload, verify, write result.json
    backends.py  local process pool, Ray, SLURM via submitit: one interface
    table.py     the results table (Parquet, CSV) and the summary plots
    tracking.py  optional loggers (Weights & Biases, offline)
    api.py       fi.sweep and SweepResult
    cli.py       the ``fourier-interp sweep`` subcommand

Importing this package does not import torch, pandas, Ray, submitit or wandb; each is
imported where it is used.

Example:
    >>> import fourier_interp as fi
    >>> config = fi.sweeps.load_config({"preset": "zhong2023-clock",
    ...                                 "grid": {"seed": [0, 1], "attn_coeff": [0.0, 1.0]},
    ...                                 "overrides": {"p": 23, "steps": 300}})
    >>> len(config.runs), config.varied
    (4, ['seed', 'attn_coeff'])
"""

from .api import SweepResult, sweep
from .backends import LocalBackend, RayBackend, SlurmBackend, cpu_count, plan_local
from .config import RunSpec, SweepConfig, load_config
from .tracking import SweepLogger, WandbLogger

__all__ = [
    "sweep",
    "SweepResult",
    "SweepConfig",
    "RunSpec",
    "load_config",
    "LocalBackend",
    "RayBackend",
    "SlurmBackend",
    "plan_local",
    "cpu_count",
    "SweepLogger",
    "WandbLogger",
]
