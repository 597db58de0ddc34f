"""``fourier-interp phase-diagram CONFIG.toml --out DIR``: the command-line face of :func:`fi.phase_diagram`.

The config is a TOML file::

    preset = "li2025-k2"
    name = "liu-addition"                 # optional; default: the file's stem
    seeds = [0, 1]                        # or a count: seeds = 2
    x = { name = "weight_decay", values = [0.3, 1.0, 3.0] }
    y = { name = "frac_train", values = [0.3, 0.5, 0.7] }

    [overrides]                           # fixed for every run, as for fi.from_preset
    p = 23
    steps = 3000

    [verify]                              # thresholds passed to fi.verify (optional)

    [slurm]                               # options of --backend slurm (optional)
    partition = "gpu"

:func:`add_phase_parser` adds the subcommand to the ``fourier-interp`` parser and
:func:`cmd_phase` runs it. Importing this module does not import torch. Exit status: 0 when
every run finished (whatever its verdict), 1 when a run failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._cliargs import UsageError, int_at_least
from .cli import add_backend_options

CONFIG_KEYS = ("preset", "name", "seeds", "x", "y", "overrides", "verify", "slurm")


def add_phase_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``phase-diagram`` to an ``argparse`` subparsers object; returns the new parser."""
    s = subparsers.add_parser(
        "phase-diagram", help="train and verify a grid of two settings x seeds; draw it labelled by algorithm",
        description="Train every cell of a TOML config's x by y grid for every seed (on the sweep machinery), verify "
                    "every run, write DIR/phase_table.csv and DIR/phase_diagram.png: cells coloured by the share of "
                    "each algorithm, grokking time as contours, memorising and confused cells marked. Run the same "
                    "command again to resume; --reverify relabels trained runs without training. Exit 0 when every "
                    "run finished, 1 if one failed, 2 on bad input.")
    s.add_argument("config", metavar="CONFIG.toml", help="the phase-diagram config")
    s.add_argument("--out", required=True, metavar="DIR", help="the diagram's directory (runs, table, figure)")
    add_backend_options(s)
    s.add_argument("--reverify", action="store_true", help="verify every trained run again (no training)")
    s.add_argument("--vectorize-seeds", action="store_true",
                   help="train a cell's seeds together as one vectorised model (default: only with device = cuda)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    return s


def read_phase_config(path: Path) -> dict[str, Any]:
    """The config as :func:`fi.phase_diagram`'s keyword arguments (torch-free), or a ``UsageError`` naming the key."""
    from .config import read_toml
    from ..errors import InvalidArgumentError

    try:
        raw = read_toml(path)
    except InvalidArgumentError as e:
        raise UsageError(str(e)) from None
    unknown = [k for k in raw if k not in CONFIG_KEYS]
    if unknown:
        raise UsageError(f"{path}: unknown key {unknown[0]!r}; allowed: {', '.join(CONFIG_KEYS)}")
    for key in ("preset", "x", "y"):
        if key not in raw:
            raise UsageError(f"{path}: {key} is missing (e.g. x = {{ name = \"weight_decay\", values = [0.1, 1.0] }})"
                             if key != "preset" else f"{path}: preset is missing")
    kwargs: dict[str, Any] = {"preset": raw["preset"], "seeds": raw.get("seeds", [0]),
                              "name": raw.get("name", path.stem), "verify": raw.get("verify")}
    for key in ("x", "y"):
        axis = raw[key]
        if isinstance(axis, dict):
            extra = [k for k in axis if k not in ("name", "values")]
            if extra or "name" not in axis or "values" not in axis:
                raise UsageError(f"{path}: {key} must be {{ name = \"setting\", values = [...] }}, got {axis!r}")
            axis = (axis["name"], axis["values"])
        kwargs[key] = tuple(axis) if isinstance(axis, list) else axis
    for key in ("overrides", "slurm", "verify"):
        if key in raw and not isinstance(raw[key], dict):
            raise UsageError(f"{path}: [{key}] must be a table, got {raw[key]!r}")
    kwargs["overrides"] = dict(raw.get("overrides", {}))
    kwargs["slurm"] = raw.get("slurm")
    return kwargs


def cmd_phase(args) -> int:
    """Run ``fourier-interp phase-diagram``; returns the exit status."""
    from ..checkpoint import CheckpointError
    from ..errors import InvalidArgumentError

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    kwargs = read_phase_config(Path(args.config))
    if kwargs["slurm"] is not None and args.backend != "slurm":
        raise UsageError(f"{args.config}: [slurm] belongs to --backend slurm, not --backend {args.backend}")
    if args.address is not None and args.backend != "ray":
        raise UsageError(f"--address belongs to --backend ray, not --backend {args.backend}")
    from .phase import phase_diagram

    overrides = kwargs.pop("overrides")
    try:
        diagram = phase_diagram(**kwargs, backend=args.backend, out_dir=out, workers=args.workers, threads=args.threads,
                                address=args.address, reverify=args.reverify,
                                vectorize_seeds=True if args.vectorize_seeds else None, progress=not args.quiet,
                                **overrides)
    except (InvalidArgumentError, CheckpointError) as e:
        raise UsageError(str(e)) from None
    except TypeError as e:  # an override that is not a keyword of phase_diagram nor a setting
        raise UsageError(f"{args.config}: {e}") from None
    table = diagram.table
    failed = table[table["status"] == "failed"]
    print(f"{kwargs['name']}: {len(table)} runs; algorithms: "
          + ", ".join(f"{name} {n}" for name, n in table["algorithm"].value_counts().items())
          + "; regimes: " + ", ".join(f"{name} {n}" for name, n in table["regime"].value_counts().items()))
    for _, row in failed.iterrows():
        print(f"failed: {row['run']}", file=sys.stderr)
    print(f"wrote {diagram.files['table']}, {diagram.files['figure']}", file=sys.stderr)
    return 1 if len(failed) else 0
