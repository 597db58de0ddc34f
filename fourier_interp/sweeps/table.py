"""The sweep's results table (Parquet, CSV on request) and its summary plots (matplotlib, no pyplot).

One row per run: its config (``run``, ``preset``, ``family``, ``seed``, ``p``, ``k``,
``frac_train`` and every grid and override key), its outcome (``status``, ``error``),
the verdict (``passed``, ``algorithm``, ``key_frequencies``, ``n_key_frequencies``,
``failed_claims``), one ``claim_<name>`` column per claim value, the training
(``grokked_step``, the phases ``memorisation_end``, ``circuit_formation_end``,
``cleanup_end`` of :func:`fi.locate_phases`, ``final_step``, ``train_acc``, ``test_acc``, ``train_loss``,
``test_loss``, ``stopped_early``, ``training``: trained / resumed / loaded / together) and
the time spent (``train_s``, ``verify_s``, ``wall_s``).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, Sequence

from .config import RunSpec, SweepConfig

ALGORITHMS = ("clock", "clock-superposed", "pizza", "mixed", "fourier-incomplete", "non-fourier", "failed")
ALGORITHM_COLOURS = {"clock": "#1f77b4", "clock-superposed": "#17becf", "pizza": "#ff7f0e", "mixed": "#9467bd",
                     "fourier-incomplete": "#bcbd22", "non-fourier": "#7f7f7f", "failed": "#d62728"}
RESULT_COLUMNS = ("status", "error", "passed", "algorithm", "n_key_frequencies", "key_frequencies", "failed_claims",
                  "grokked_step", "memorisation_end", "circuit_formation_end", "cleanup_end", "final_step", "train_acc", "test_acc", "train_loss", "test_loss", "stopped_early",
                  "training", "resumed_from_step", "seeds_together", "train_s", "verify_s", "wall_s", "finished_at")


def claim_column(name: str) -> str:
    """A claim's key as a column: ``"distance_irrelevance"`` -> ``"claim_distance_irrelevance"``."""
    return "claim_" + (re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "unnamed")


def build_table(config: SweepConfig, rows: Sequence[dict[str, Any]]):
    """The results as a pandas DataFrame, one row per run in grid order."""
    import pandas as pd

    config_keys = ["run", "preset", "family", "seed", "p", "k", "frac_train"]
    for run_spec in config.runs:
        for key in list(run_spec.axes) + list(run_spec.overrides):
            if key not in config_keys:
                config_keys.append(key)
    claim_names: dict[str, str] = {}  # column -> claim name; two names that sanitise alike get a suffix
    for row in rows:
        for name in row.get("claims") or {}:
            if name in claim_names.values():
                continue
            column, n = claim_column(name), 2
            while column in claim_names:
                column, n = f"{claim_column(name)}_{n}", n + 1
            claim_names[column] = name

    records = []
    for row in rows:
        spec = RunSpec.from_dict(row["spec"])
        record: dict[str, Any] = {"run": row["run"], "preset": spec.preset, "family": row.get("family"), "seed": spec.seed}
        for key in ("p", "k", "frac_train"):
            record[key] = row.get(key, spec.overrides.get(key))
        for key, value in {**spec.overrides, **spec.axes}.items():
            record[key] = json.dumps(value) if isinstance(value, list) else value
        for key in RESULT_COLUMNS:
            record[key] = row.get(key)
        keys = row.get("key_frequencies")
        record["n_key_frequencies"] = None if keys is None else len(keys)
        claims = row.get("claims") or {}
        for column, name in claim_names.items():
            record[column] = claims.get(name)
        records.append(record)
    columns = config_keys + list(RESULT_COLUMNS) + list(claim_names)
    df = pd.DataFrame.from_records(records, columns=columns)
    for column in ("passed", "stopped_early"):
        df[column] = df[column].astype("boolean")
    for column in ("grokked_step", "memorisation_end", "circuit_formation_end", "cleanup_end", "final_step", "n_key_frequencies", "resumed_from_step", "seeds_together"):
        df[column] = df[column].astype("Int64")
    df.attrs["claims"] = claim_names  # column -> claim name (not written to the files)
    df.attrs["claims_passed"] = [row.get("claims_passed") or {} for row in rows]  # per row, for the plot colours
    return df


def write_table(df, out_dir: Path, csv: bool = False) -> dict[str, Path]:
    """``results.parquet`` (and ``results.csv``), each written atomically."""
    from ..checkpoint import atomic_write_bytes

    out_dir = Path(out_dir)
    written = {}
    df = df.copy()
    df.attrs = {}
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    atomic_write_bytes(out_dir / "results.parquet", buf.getvalue())
    written["parquet"] = out_dir / "results.parquet"
    if csv:
        flat = df.copy()
        for column in ("key_frequencies", "failed_claims"):
            flat[column] = [None if v is None else json.dumps(list(v)) for v in flat[column]]
        atomic_write_bytes(out_dir / "results.csv", flat.to_csv(index=False).encode())
        written["csv"] = out_dir / "results.csv"
    return written


# ------------------------------------------------------------------- plots
def summary_plots(df, config: SweepConfig, out_dir: Path) -> dict[str, Path]:
    """``plots/verdicts.png`` and ``plots/claims.png``, written atomically; returns their paths."""
    from ..checkpoint import atomic_write_bytes

    plots = Path(out_dir) / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    axes = [a for a in config.varied if a != "seed"] or [None]
    figures = {"verdicts": verdict_figure(df, axes, config.name), "claims": claim_figure(df, axes[0], config.name)}
    paths = {}
    for key, fig in figures.items():
        if fig is None:
            continue
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        atomic_write_bytes(plots / f"{key}.png", buf.getvalue())
        paths[key] = plots / f"{key}.png"
    return paths


def _figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _groups(df, axis):
    """``[(label, sub-frame)]`` per value of ``axis`` in grid order (``None``: all runs)."""
    if axis is None:
        return [("all runs", df)]
    return [(str(value), df[df[axis].astype(str) == str(value)]) for value in dict.fromkeys(df[axis].astype(str))]


def _outcome(df):
    return [("failed" if status != "ok" else (alg or "non-fourier")) for status, alg in zip(df["status"], df["algorithm"])]


def verdict_figure(df, axes: list, title: str):
    """Per grid axis: the share of each algorithm (stacked bars) and the pass rate per value."""
    fig = _figure((4.2 * len(axes), 3.4))
    for i, axis in enumerate(axes):
        ax = fig.add_subplot(1, len(axes), i + 1)
        groups = _groups(df, axis)
        bottoms = [0.0] * len(groups)
        for alg in ALGORITHMS:
            shares = [sum(o == alg for o in _outcome(g)) / max(len(g), 1) for _, g in groups]
            if any(shares):
                ax.bar(range(len(groups)), shares, bottom=bottoms, color=ALGORITHM_COLOURS[alg], label=alg, width=0.6)
                bottoms = [b + s for b, s in zip(bottoms, shares)]
        for j, (_, g) in enumerate(groups):
            passed = int(g["passed"].fillna(False).sum())
            ax.text(j, 1.02, f"pass {passed}/{len(g)}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(groups)), [label for label, _ in groups])
        ax.set_xlabel(axis or "")
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("share of runs")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{title}: algorithm and verify pass rate", fontsize=10)
    return fig


def claim_figure(df, axis, title: str):
    """One strip plot per claim: each run's value over ``axis`` (green passed, red failed, grey info)."""
    import numpy as np

    claims = df.attrs.get("claims", {})
    columns = [c for c in claims if df[c].notna().any()]
    if not columns:
        return None
    ncols = min(4, len(columns))
    nrows = -(-len(columns) // ncols)
    fig = _figure((3.3 * ncols, 2.5 * nrows))
    rng = np.random.default_rng(0)
    groups = _groups(df, axis)
    for i, column in enumerate(columns):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for j, (_, g) in enumerate(groups):
            values = g[column].astype(float).to_numpy()
            colours = [_claim_colour(df.attrs["claims_passed"][r].get(claims[column])) for r in g.index]
            ax.scatter(j + rng.uniform(-0.15, 0.15, len(values)), values, s=14, c=colours, alpha=0.8)
        ax.set_xticks(range(len(groups)), [label for label, _ in groups], fontsize=7)
        ax.set_xlim(-0.5, len(groups) - 0.5)
        ax.set_title(_wrap(claims[column]), fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(f"{title}: claim values" + (f" by {axis}" if axis else ""), fontsize=10)
    fig.tight_layout()
    return fig


def _claim_colour(passed) -> str:
    return "#2ca02c" if passed is True else "#d62728" if passed is False else "#7f7f7f"


def _wrap(text: str, width: int = 38) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + len(w) + 1 > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "\n".join(lines + [line])
