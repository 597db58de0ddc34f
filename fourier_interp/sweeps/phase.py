"""Phase diagrams labelled by algorithm: two hyperparameters, several seeds, one verdict per run.

Liu et al. (NeurIPS 2022; "Omnigrok", ICLR 2023) draw grids of hyperparameters split into four
regimes of generalisation: *comprehension* (generalise about when the training set is fit),
*grokking* (generalise long after), *memorisation* (fit the training set, never generalise)
and *confusion* (fit neither). Zhong et al. (NeurIPS 2023) show that *which algorithm* a
network learns also changes across such grids. :func:`phase_diagram` draws both at once: every
cell of an ``x`` by ``y`` grid is trained for each seed on the sweep machinery (a local
process pool, Ray or SLURM: :func:`fi.sweep`), every run is verified, and the figure colours
each cell by the share of each algorithm ``report.algorithm`` named, with grokking time as
contours and memorising and confused cells marked.

A run's regime, from its final accuracies and the steps at which it fit and generalised
(:data:`FIT_ACC`; ``memorisation_end`` is the first evaluation with train accuracy >= 0.99
and ``grokked_step`` the first with test accuracy >= 0.99):

* ``confusion``: final train accuracy < ``FIT_ACC``;
* ``memorisation``: train accuracy >= ``FIT_ACC``, test accuracy < ``FIT_ACC``;
* ``grokking``: both >= ``FIT_ACC``, and generalisation came more than ``grokking_ratio``
  times later than the fit (default 3);
* ``comprehension``: both >= ``FIT_ACC``, generalisation within that ratio.

The diagram is a sweep directory: calling again with the same ``out_dir`` reuses every
finished run, an interrupted call resumes, and ``reverify=True`` verifies every trained model
again without training (so a newer ``fi.verify`` relabels a diagram already made).

Example:
    >>> import fourier_interp as fi, tempfile
    >>> diagram = fi.phase_diagram("li2025-k2", x=("weight_decay", [0.1, 1.0]), y=("frac_train", [0.3, 0.6]),
    ...                            seeds=[0], p=7, steps=20, out_dir=tempfile.mkdtemp(),
    ...                            workers=1, threads=1, progress=False)  # doctest: +SKIP
    >>> diagram.table[["weight_decay", "frac_train", "seed", "verdict", "algorithm", "regime"]]  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from ..errors import InvalidArgumentError

FIT_ACC = 0.9
"""Accuracy at which a split counts as fit (Liu et al.'s 90%)."""

REGIMES = ("comprehension", "grokking", "memorisation", "confusion")

ALGORITHM_COLOURS = {
    "clock": "#1f77b4",
    "clock-superposed": "#17becf",
    "pizza": "#ff7f0e",
    "mixed": "#9467bd",
    "fourier-incomplete": "#bcbd22",
    "non-fourier": "#7f7f7f",
    "failed": "#d62728",
    "pending": "#ffffff",
}
"""Fixed colours for the algorithm names ``fi.verify`` gives; any other name gets one from :data:`SPARE_COLOURS`."""

SPARE_COLOURS = ("#2ca02c", "#e377c2", "#8c564b", "#aec7e8", "#98df8a", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")

TABLE_FILE = "phase_table.csv"
FIGURE_FILE = "phase_diagram.png"


@dataclass
class PhaseDiagram:
    """The runs of a phase diagram and its figure.

    Attributes:
        x: ``(name, values)`` of the axis across, values in grid order.
        y: ``(name, values)`` of the axis up.
        table: One row per run (a pandas DataFrame): ``x``'s and ``y``'s columns (named after
            them), ``seed``, ``verdict`` (``"PASS"`` / ``"FAIL"``; ``"ERROR"`` for a run that
            failed), ``algorithm`` (what ``fi.verify`` named; ``"failed"`` for a failed run),
            ``regime``, ``grokked_step``, ``memorisation_end``, ``train_acc``, ``test_acc``,
            ``final_step``, ``key_frequencies``, ``status``, ``run``.
        out_dir: The sweep directory the runs live in.
        preset: The preset every run was built from.
        overrides: The fixed overrides of every run.
        files: ``"table"`` (CSV), ``"figure"`` (PNG), plus the sweep's own files.
    """

    x: tuple[str, list]
    y: tuple[str, list]
    table: Any
    out_dir: Path
    preset: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def cells(self):
        """One row per cell: ``x``, ``y``, ``runs``, ``share_<algorithm>`` of each algorithm
        present, ``regime`` (the most common one), ``pass_rate`` and ``median_grokked_step``."""
        import pandas as pd

        xn, yn = self.x[0], self.y[0]
        names = list(dict.fromkeys(self.table["algorithm"]))
        rows = []
        for xv in self.x[1]:
            for yv in self.y[1]:
                runs = self.table[(self.table[xn].map(_key) == _key(xv)) & (self.table[yn].map(_key) == _key(yv))]
                row = {xn: xv, yn: yv, "runs": len(runs)}
                for name in names:
                    row[f"share_{name}"] = float((runs["algorithm"] == name).mean()) if len(runs) else 0.0
                regimes = runs["regime"].dropna()
                row["regime"] = regimes.value_counts().index[0] if len(regimes) else None
                row["pass_rate"] = float((runs["verdict"] == "PASS").mean()) if len(runs) else None
                steps = runs["grokked_step"].dropna()
                row["median_grokked_step"] = float(steps.median()) if len(steps) else None
                rows.append(row)
        return pd.DataFrame(rows)

    def plot(self, path: Union[str, Path, None] = None, title: Optional[str] = None):
        """The phase diagram as a matplotlib ``Figure`` (written as PNG to ``path`` when given).

        Each cell is split into vertical bands, one per algorithm, as wide as that
        algorithm's share of the cell's seeds; the cell's runs' median grokking step is
        written in it and drawn as contours (log scale) over the grid; a memorising cell is
        hatched ``//`` and marked M, a confused cell hatched ``xx`` and marked C.
        """
        fig = _phase_figure(self, title)
        if path is not None:
            _write_png(fig, Path(path))
        return fig

    def __repr__(self) -> str:
        counts = self.table["algorithm"].value_counts().to_dict() if len(self.table) else {}
        return (f"PhaseDiagram({self.preset!r}: {self.x[0]} x {self.y[0]} = {len(self.x[1])} x {len(self.y[1])} cells, "
                f"{len(self.table)} runs, algorithms {counts}, out_dir={str(self.out_dir)!r})")


def phase_diagram(
    preset: str,
    x: tuple[str, Sequence[Any]],
    y: tuple[str, Sequence[Any]],
    seeds: Union[int, Sequence[int]] = (0,),
    backend: str = "local",
    *,
    out_dir: Union[str, Path, None] = None,
    workers: Optional[int] = None,
    threads: Optional[int] = None,
    address: Optional[str] = None,
    slurm: Optional[dict[str, Any]] = None,
    verify: Optional[Mapping[str, float]] = None,
    vectorize_seeds: Optional[bool] = None,
    reverify: bool = False,
    grokking_ratio: float = 3.0,
    name: Optional[str] = None,
    progress: bool = True,
    **overrides: Any,
) -> PhaseDiagram:
    """Train and verify every cell of an ``x`` by ``y`` grid for every seed; the runs' table and their figure.

    Args:
        preset: A name from :func:`fi.list_presets`.
        x: ``(setting, values)``: any setting :func:`fi.from_preset` takes (``weight_decay``,
            ``frac_train``, ``lr``, ``attn_coeff``, ``d_mlp`` ...), across the figure.
        y: ``(setting, values)`` of the other axis, up the figure.
        seeds: The seeds of every cell (an int n means ``range(n)``).
        backend: ``"local"`` (a process pool), ``"ray"`` or ``"slurm"`` (see :func:`fi.sweep`).
        out_dir: The diagram's directory: runs, the sweep's table, ``phase_table.csv`` and
            ``phase_diagram.png``. Give one to resume or relabel later; ``None``: a new
            temporary directory.
        workers: Runs at once (local, ray), as for :func:`fi.sweep`.
        threads: torch threads per run, as for :func:`fi.sweep`.
        address: The Ray cluster, as for :func:`fi.sweep`.
        slurm: SLURM options, as for :func:`fi.sweep`.
        verify: Thresholds passed to :func:`fi.verify`.
        vectorize_seeds: Train a cell's seeds together with :func:`fi.train_many`; ``None``
            (default): when the runs train on a GPU (``device="cuda"`` in the overrides).
        reverify: Verify every trained run again (no training), e.g. after ``fi.verify``
            learned new algorithm names.
        grokking_ratio: A run that generalised groks when its ``grokked_step`` is more than
            this many times its ``memorisation_end`` (see the module docstring).
        name: The sweep's name (default ``phase-<preset>-<x>-<y>``).
        progress: Show a progress bar over the runs.
        **overrides: Fixed settings of every run, as for :func:`fi.from_preset` (``p=``,
            ``steps=``, ``device=`` ...).

    Returns:
        A :class:`PhaseDiagram`: ``.table`` (one row per run), ``.cells()``, ``.plot()``;
        the figure is also written to ``out_dir/phase_diagram.png``.

    Raises:
        InvalidArgumentError: an axis is not a ``(name, values)`` pair, both axes name the
            same setting, a setting or value the preset rejects (named), or bad backend options.
    """
    from .api import sweep
    from .config import load_config
    from .runner import RESULT_FILE, plan, run_dir

    x, y = _axis("x", x), _axis("y", y)
    if x[0] == y[0]:
        raise InvalidArgumentError(f"x and y both vary {x[0]!r}; give two different settings")
    seed_list = _seeds(seeds)
    for axis_name in (x[0], y[0]):
        if axis_name in ("seed", "preset", "family"):
            raise InvalidArgumentError(f"{axis_name!r} cannot be an axis of a phase diagram; the seeds are the "
                                       "repeats inside each cell (seeds=)")
        if axis_name in overrides:
            raise InvalidArgumentError(f"{axis_name}={overrides[axis_name]!r} is also an axis; an axis is swept, not fixed")
    if not (isinstance(grokking_ratio, (int, float)) and grokking_ratio >= 1):
        raise InvalidArgumentError(f"grokking_ratio={grokking_ratio!r}: expected a number >= 1")
    config = load_config({
        "name": name or f"phase-{preset}-{x[0]}-{y[0]}",
        "preset": preset,
        "grid": {x[0]: x[1], y[0]: y[1], "seed": seed_list},
        "overrides": dict(overrides),
        "verify": dict(verify or {}),
    })
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="phase-"))
    if reverify:  # forget each trained run's verdict: the sweep verifies its saved model again
        for spec in config.runs:
            if plan(out, spec) == "verify":
                (run_dir(out, spec) / RESULT_FILE).unlink(missing_ok=True)
    if vectorize_seeds is None:
        vectorize_seeds = str(overrides.get("device", "cpu")).startswith("cuda") and len(seed_list) > 1
    result = sweep(config, out, backend=backend, workers=workers, threads=threads, address=address, slurm=slurm,
                   progress=progress, vectorize_seeds=vectorize_seeds)
    diagram = PhaseDiagram(x=(x[0], list(config.grid[x[0]])), y=(y[0], list(config.grid[y[0]])),
                           table=phase_table(result.table, x[0], y[0], grokking_ratio), out_dir=out, preset=preset,
                           overrides=dict(overrides), files=dict(result.files))
    diagram.files["table"] = _write_csv(diagram.table, out / TABLE_FILE)
    diagram.files["figure"] = out / FIGURE_FILE
    diagram.plot(out / FIGURE_FILE)
    return diagram


def phase_table(sweep_table, x: str, y: str, grokking_ratio: float = 3.0):
    """The phase diagram's table from a sweep's results table (one row per run)."""
    import pandas as pd

    rows = []
    for _, r in sweep_table.iterrows():
        ok = r["status"] == "ok"
        rows.append({
            x: r[x], y: r[y], "seed": int(r["seed"]),
            "verdict": ("PASS" if bool(r["passed"]) else "FAIL") if ok else ("ERROR" if r["status"] == "failed" else None),
            "algorithm": (r["algorithm"] or "non-fourier") if ok else ("failed" if r["status"] == "failed" else "pending"),
            "regime": regime(r["train_acc"], r["test_acc"], _int(r["memorisation_end"]), _int(r["grokked_step"]),
                             _int(r["final_step"]), grokking_ratio) if ok else None,
            "grokked_step": _int(r["grokked_step"]),
            "memorisation_end": _int(r["memorisation_end"]),
            "train_acc": _float(r["train_acc"]),
            "test_acc": _float(r["test_acc"]),
            "final_step": _int(r["final_step"]),
            "key_frequencies": None if r["key_frequencies"] is None else [int(f) for f in r["key_frequencies"]],
            "status": r["status"],
            "run": r["run"],
        })
    df = pd.DataFrame(rows, columns=[x, y, "seed", "verdict", "algorithm", "regime", "grokked_step", "memorisation_end",
                                     "train_acc", "test_acc", "final_step", "key_frequencies", "status", "run"])
    for column in ("grokked_step", "memorisation_end", "final_step"):
        df[column] = df[column].astype("Int64")
    return df


def regime(train_acc: Optional[float], test_acc: Optional[float], fit_step: Optional[int],
           grokked_step: Optional[int], final_step: Optional[int], grokking_ratio: float = 3.0) -> Optional[str]:
    """A run's regime from its accuracies and steps (rule in the module docstring).

    Example:
        >>> regime(1.0, 0.2, 300, None, 5000), regime(0.5, 0.1, None, None, 5000)
        ('memorisation', 'confusion')
        >>> regime(1.0, 1.0, 300, 6000, 9000), regime(1.0, 1.0, 300, 400, 9000)
        ('grokking', 'comprehension')
    """
    if train_acc is None or (isinstance(train_acc, float) and math.isnan(train_acc)):
        return None
    if train_acc < FIT_ACC:
        return "confusion"
    if test_acc is None or (isinstance(test_acc, float) and math.isnan(test_acc)) or test_acc < FIT_ACC:
        return "memorisation"
    generalised = grokked_step if grokked_step is not None else final_step
    fit = fit_step if fit_step is not None else generalised
    if generalised is None or fit is None:
        return "comprehension"
    return "grokking" if generalised > grokking_ratio * max(fit, 1) else "comprehension"


def colour_of(name: str, others: Sequence[str] = ()) -> str:
    """The colour of algorithm ``name``: fixed for the names ``fi.verify`` gives, else a spare one.

    ``others`` are the unknown names of the same figure, sorted, so that each gets its own.

    Example:
        >>> colour_of("clock"), colour_of("spiral", ["helix", "spiral"]) == SPARE_COLOURS[1]
        ('#1f77b4', True)
    """
    if name in ALGORITHM_COLOURS:
        return ALGORITHM_COLOURS[name]
    unknown = sorted(set(others) | {name})
    return SPARE_COLOURS[unknown.index(name) % len(SPARE_COLOURS)]


# ------------------------------------------------------------------ the figure
def _phase_figure(diagram: PhaseDiagram, title: Optional[str]):
    import numpy as np
    from matplotlib.patches import Patch, Rectangle

    from .table import _figure

    (xn, xs), (yn, ys) = diagram.x, diagram.y
    table = diagram.table
    names = [n for n in dict.fromkeys(table["algorithm"]) if n is not None]
    order = [n for n in ALGORITHM_COLOURS if n in names] + sorted(n for n in names if n not in ALGORITHM_COLOURS)
    unknown = [n for n in names if n not in ALGORITHM_COLOURS]
    fig = _figure((1.6 + 1.35 * len(xs) + 2.2, 1.2 + 1.1 * len(ys)))
    ax = fig.add_axes((0.12, 0.14, 0.62, 0.74))
    steps = np.full((len(ys), len(xs)), np.nan)
    for i, xv in enumerate(xs):
        for j, yv in enumerate(ys):
            runs = table[(table[xn].map(_key) == _key(xv)) & (table[yn].map(_key) == _key(yv))]
            left = i - 0.5
            for alg in order:
                share = float((runs["algorithm"] == alg).mean()) if len(runs) else 0.0
                if share > 0:
                    ax.add_patch(Rectangle((left, j - 0.5), share, 1.0, facecolor=colour_of(alg, unknown),
                                           edgecolor="none"))
                    left += share
            regimes = runs["regime"].dropna()
            main = regimes.value_counts().index[0] if len(regimes) else None
            if main in ("memorisation", "confusion"):
                ax.add_patch(Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=0,
                                       hatch="//" if main == "memorisation" else "xx"))
                ax.text(i - 0.42, j + 0.42, "M" if main == "memorisation" else "C", ha="left", va="top",
                        fontsize=11, fontweight="bold", bbox=dict(facecolor="white", edgecolor="none", pad=1))
            grokked = runs["grokked_step"].dropna()
            if len(grokked):
                steps[j, i] = float(grokked.astype(float).median())
                ax.text(i, j, f"{steps[j, i]:,.0f}", ha="center", va="center", fontsize=8,
                        bbox=dict(facecolor="white", alpha=0.7, edgecolor="none", pad=1))
            passed = int((runs["verdict"] == "PASS").sum())
            ax.text(i + 0.45, j - 0.45, f"{passed}/{len(runs)}", ha="right", va="bottom", fontsize=7)
    finite = np.isfinite(steps)
    if finite.sum() >= 3 and len(xs) > 1 and len(ys) > 1 and np.nanmax(steps) > np.nanmin(steps):
        logs = np.ma.masked_invalid(np.log10(np.where(finite, steps, np.nan)))
        grid_x, grid_y = np.meshgrid(np.arange(len(xs)), np.arange(len(ys)))
        lines = ax.contour(grid_x, grid_y, logs, levels=min(5, int(finite.sum())), colors="black", linewidths=0.9,
                           alpha=0.75)
        ax.clabel(lines, fmt=lambda v: f"{10 ** v:,.0f}", fontsize=7)
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.set_ylim(-0.5, len(ys) - 0.5)
    ax.set_xticks(range(len(xs)), [_label(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_label(v) for v in ys])
    ax.set_xlabel(xn)
    ax.set_ylabel(yn)
    for k in range(len(xs) - 1):
        ax.axvline(k + 0.5, color="white", linewidth=2)
    for k in range(len(ys) - 1):
        ax.axhline(k + 0.5, color="white", linewidth=2)
    handles = [Patch(facecolor=colour_of(n, unknown), label=n) for n in order]
    handles += [Patch(facecolor="white", edgecolor="black", hatch="//", label="M: memorisation"),
                Patch(facecolor="white", edgecolor="black", hatch="xx", label="C: confusion")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False,
              title="algorithm (share of seeds)", title_fontsize=8)
    seeds = sorted(set(int(s) for s in table["seed"])) if len(table) else []
    ax.set_title(title or f"{diagram.preset}: algorithm by cell ({len(seeds)} seed{'s' * (len(seeds) != 1)}); "
                 "numbers: median grokking step, passed/runs", fontsize=9)
    return fig


# ------------------------------------------------------------------ helpers
def _axis(which: str, axis: Any) -> tuple[str, list]:
    if not (isinstance(axis, (tuple, list)) and len(axis) == 2 and isinstance(axis[0], str)):
        raise InvalidArgumentError(f"{which}={axis!r}: expected a (setting name, list of values) pair, "
                                   f"e.g. {which}=('weight_decay', [0.1, 1.0])")
    name, values = axis
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise InvalidArgumentError(f"{which}=({name!r}, {values!r}): expected a non-empty list of values")
    return name, list(values)


def _seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise InvalidArgumentError(f"seeds={seeds}: expected a count >= 1 or a list of seeds")
        return list(range(seeds))
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise InvalidArgumentError(f"seeds={seeds!r}: expected a non-empty list of ints >= 0 (or a count)")
    return list(seeds)


def _key(value: Any) -> str:
    """A value as the table compares it (floats and ints alike: 1 == 1.0)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _int(value: Any) -> Optional[int]:
    try:
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> Optional[float]:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _write_png(fig, path: Path) -> Path:
    from ..checkpoint import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _write_csv(df, path: Path) -> Path:
    from ..checkpoint import atomic_write_bytes

    flat = df.copy()
    flat["key_frequencies"] = [None if v is None else json.dumps(v) for v in flat["key_frequencies"]]
    atomic_write_bytes(path, flat.to_csv(index=False).encode())
    return path
