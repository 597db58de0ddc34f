"""Result containers of the interventions: tensors plus pandas-friendly tables.

pandas and matplotlib are imported lazily, only by ``to_dataframe()`` and ``plot()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import torch
from jaxtyping import Float
from torch import Tensor

from ..jsonio import from_json, to_json


class ResultTable:
    """Rows of named values (one dict per row) with column access.

    Attributes:
        rows: The rows, each a dict column -> value.
        title: What the table measures.
    """

    def __init__(self, rows: list[dict[str, Any]], title: str = ""):
        self.rows = [dict(r) for r in rows]
        self.title = title

    @property
    def columns(self) -> list[str]:
        cols: dict[str, None] = {}
        for r in self.rows:
            cols.update(dict.fromkeys(r))
        return list(cols)

    def __getitem__(self, column: str) -> list[Any]:
        if column not in self.columns:
            raise KeyError(f"no column {column!r}; columns are {self.columns}")
        return [r.get(column) for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def to_dict(self) -> dict[str, list[Any]]:
        """Column-oriented: ``{column: [value per row]}`` (JSON-serialisable)."""
        return {c: [to_json(r.get(c)) for r in self.rows] for c in self.columns}

    def to_dataframe(self):
        """A ``pandas.DataFrame`` with one row per row."""
        import pandas as pd

        return pd.DataFrame(from_json(self.to_dict()))  # inf/nan back to floats

    def __repr__(self) -> str:
        cols = self.columns
        fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
        cells = [[fmt(r.get(c)) for c in cols] for r in self.rows]
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
        lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
        return "\n".join(lines)


@dataclass
class PatchResult:
    """Activation-patching results: one or more patches ("cells"), several metrics, per example.

    Attributes:
        values: ``[metric, cell, batch]`` metric of each patched corrupted run, per example.
        metric_names: Names of the metric axis (``"loss"``, ``"accuracy"``, ``"logit"``, ``"logit_diff"`` ...).
        cells: One dict per patch describing it (``hook``, ``index`` and sweep axes such as
            ``layer``, ``pos``, ``step``, ``unit``, ``cluster``, ``freq``).
        clean: ``[metric, batch]`` on the clean run (no patch).
        corrupted: ``[metric, batch]`` on the corrupted run (no patch).
    """

    values: Float[Tensor, "metric cell batch"]
    metric_names: list[str]
    cells: list[dict[str, Any]]
    clean: Float[Tensor, "metric batch"]
    corrupted: Float[Tensor, "metric batch"]

    def _m(self, metric: str) -> int:
        if metric not in self.metric_names:
            raise KeyError(f"unknown metric {metric!r}; have {self.metric_names}")
        return self.metric_names.index(metric)

    def __getitem__(self, metric: str) -> Float[Tensor, "cell batch"]:
        """Per-example values of one metric, ``[cell, batch]``."""
        return self.values[self._m(metric)]

    def mean(self) -> Float[Tensor, "metric cell"]:
        """Batch mean of every metric for every cell."""
        return self.values.mean(-1)

    def recovered(self, metric: str = "logit_diff") -> Float[Tensor, " cell"]:
        """Fraction of the clean-vs-corrupted gap each patch restores, on batch means:
        ``(patched - corrupted) / (clean - corrupted)`` (1 = fully restored, 0 = no effect)."""
        m = self._m(metric)
        clean, corrupted = self.clean[m].mean(), self.corrupted[m].mean()
        return (self.values[m].mean(-1) - corrupted) / (clean - corrupted)

    def to_dataframe(self, per_example: bool = False):
        """Long form: one row per (cell, metric) with ``value`` (batch mean, plus ``clean`` and
        ``corrupted`` means), or per (cell, metric, example) when ``per_example``."""
        import pandas as pd

        rows = []
        for c, cell in enumerate(self.cells):
            desc = {k: to_json(v) if not isinstance(v, (list, tuple)) else str(v) for k, v in cell.items()}
            for m, name in enumerate(self.metric_names):
                if per_example:
                    for b, v in enumerate(self.values[m, c].tolist()):
                        rows.append({**desc, "metric": name, "example": b, "value": v})
                else:
                    rows.append({**desc, "metric": name, "value": float(self.values[m, c].mean()),
                                 "clean": float(self.clean[m].mean()), "corrupted": float(self.corrupted[m].mean())})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """Batch means as plain lists: ``{"metrics", "cells", "mean" [metric][cell], "clean", "corrupted"}``."""
        return {
            "metrics": list(self.metric_names),
            "cells": [{k: to_json(v) if not isinstance(v, (list, tuple)) else list(v) for k, v in c.items()}
                      for c in self.cells],
            "mean": self.mean().tolist(),
            "clean": self.clean.mean(-1).tolist(),
            "corrupted": self.corrupted.mean(-1).tolist(),
        }

    def __repr__(self) -> str:
        return (f"PatchResult({len(self.cells)} cells x {self.metric_names}, batch {self.values.shape[-1]}; "
                f"clean {dict(zip(self.metric_names, [round(v, 4) for v in self.clean.mean(-1).tolist()]))}, "
                f"corrupted {dict(zip(self.metric_names, [round(v, 4) for v in self.corrupted.mean(-1).tolist()]))})")


def stack_metric_rows(rows: list[dict[str, Tensor]], names: list[str]) -> Tensor:
    """``[{metric: [batch]}] per cell`` -> ``[metric, cell, batch]`` float64."""
    return torch.stack([torch.stack([r[n].double().cpu() for r in rows]) for n in names])


def new_axes(ax=None, ncols: int = 1):
    """``(figure, axes)``: a new pyplot-free Figure (renders headless, backend untouched), or ``ax``'s."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5 * ncols + 1, 4), layout="constrained")
    return fig, fig.subplots(1, ncols)
