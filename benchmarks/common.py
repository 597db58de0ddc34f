"""Shared machinery: interleaved timing, result tables, machine info and model loading.

Timings of ours and of the reference are always taken in the same process, interleaved
(each repeat runs every candidate once, in a rotating order, after a warm-up), and
summarised by the median; the spread shown is half the inter-quartile range.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

REPO_ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ settings
@dataclass
class Settings:
    """How hard to measure.

    Attributes:
        quick: Smoke-test mode: tiny repeat counts, long runs replaced by extrapolations.
        threads: Value passed to ``torch.set_num_threads`` (``None``: torch's default).
    """

    quick: bool = False
    threads: Optional[int] = None

    def n(self, full: int, quick: int) -> int:
        """A repeat count: ``full`` normally, ``quick`` under ``--quick``."""
        return quick if self.quick else full


# -------------------------------------------------------------------- timing
@dataclass
class Timing:
    """Wall-clock samples of one candidate, in seconds."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Half the inter-quartile range (0 with fewer than 4 samples)."""
        if len(self.samples) < 4:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4)
        return (q3 - q1) / 2


def interleaved(candidates: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, Timing]:
    """Time every candidate ``repeats`` times, alternating between them.

    Each repeat runs every candidate once; the starting candidate rotates so none always
    runs first (or right after a particular other one). Warm-up calls are not timed.

    Args:
        candidates: Name -> zero-argument callable doing one unit of work.
        repeats: Timed calls per candidate.
        warmup: Untimed calls per candidate before timing starts.

    Returns:
        Name -> :class:`Timing`.

    Example:
        >>> t = interleaved({"a": lambda: sum(range(100)), "b": lambda: None}, repeats=3)
        >>> sorted(t), len(t["a"].samples)
        (['a', 'b'], 3)
    """
    names = list(candidates)
    for _ in range(warmup):
        for name in names:
            candidates[name]()
    timings = {name: Timing() for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            candidates[name]()
            timings[name].samples.append(time.perf_counter() - t0)
    return timings


# -------------------------------------------------------------------- tables
@dataclass
class Row:
    """One line of a result table; ``ours`` and ``reference`` are in the table's unit."""

    case: str
    ours: Optional[float]
    reference: Optional[float] = None
    goal: str = "-"
    met: Optional[bool] = None
    note: str = ""
    ours_spread: float = 0.0
    reference_spread: float = 0.0

    @property
    def ratio(self) -> Optional[float]:
        if self.ours is None or not self.reference:
            return None
        return self.ours / self.reference


@dataclass
class Table:
    """A titled result table; ``ours`` and ``reference`` name the two measured columns."""

    title: str
    unit: str = "ms"
    ours: str = "ours"
    reference: str = "reference"
    rows: list[Row] = field(default_factory=list)

    def add(self, *args: Any, **kwargs: Any) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        return row

    def render(self) -> str:
        header = ["case", f"{self.ours} {self.unit}", f"{self.reference} {self.unit}", "ratio", "goal", "met?"]
        body = [
            [
                r.case,
                _num(r.ours, r.ours_spread),
                _num(r.reference, r.reference_spread),
                "-" if r.ratio is None else f"{r.ratio:.3f}",
                r.goal,
                {True: "yes", False: "NO", None: "-"}[r.met],
            ]
            for r in self.rows
        ]
        if any(r.note for r in self.rows):
            header.append("note")
            for line, r in zip(body, self.rows):
                line.append(r.note)
        widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]

        def fmt(line: list[str]) -> str:
            cells = [c.ljust(w) if i == 0 or i == len(line) - 1 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
            return "| " + " | ".join(cells) + " |"

        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([f"### {self.title}", fmt(header), rule] + [fmt(line) for line in body])

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "unit": self.unit,
            "columns": [self.ours, self.reference],
            "rows": [{**r.__dict__, "ratio": r.ratio} for r in self.rows],
        }


def _num(value: Optional[float], spread: float = 0.0) -> str:
    if value is None:
        return "-"
    digits = 0 if abs(value) >= 1000 else 1 if abs(value) >= 10 else 2 if abs(value) >= 1 else 3
    text = f"{value:,.{digits}f}"
    if spread:
        text += f" ±{spread:.{digits}f}"
    return text


def timing_row(table: Table, case: str, ours: Timing, reference: Optional[Timing], scale: float = 1e3, **kwargs: Any) -> Row:
    """Add a row from two :class:`Timing` s (seconds, shown times ``scale``: ms by default)."""
    return table.add(
        case,
        ours.median * scale,
        None if reference is None else reference.median * scale,
        ours_spread=ours.spread * scale,
        reference_spread=0.0 if reference is None else reference.spread * scale,
        **kwargs,
    )


# -------------------------------------------------------------- environment
def machine_info() -> dict[str, Any]:
    """CPU, cores, versions, threads, load and date: the header of every run."""
    import torch
    from importlib.metadata import PackageNotFoundError, version

    cpu, flags = None, ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu is None:
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    cpu = cpu or platform.processor() or "unknown"
    try:
        tl_version = version("transformer-lens")
    except PackageNotFoundError:
        tl_version = "not installed"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu,
        "avx512": "avx512f" in flags.split(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformer_lens": tl_version,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": _safe(lambda: torch.backends.cpu.get_cpu_capability()),
        "git": _safe(lambda: subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT,
                                            capture_output=True, text=True, timeout=10).stdout.strip()),
    }


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:  # informational only: a missing field must not stop the run
        return None


def format_machine_info(info: dict[str, Any]) -> str:
    return "\n".join(f"  {key:<22} {value}" for key, value in info.items())


# ------------------------------------------------------------------- models
def transformer_p113() -> tuple[Any, Any, str]:
    """The p = 113 transformer to analyse: the shipped checkpoint, else a fresh nanda2023 model.

    Returns:
        ``(model, task, description)``; the description says which one it is and why.
    """
    import fourier_interp as fi

    try:
        model, task = fi.load_pretrained("transformer-p113")
        return model, task, "pretrained transformer-p113"
    except Exception as e:  # not shipped yet: analysis timings barely depend on the weights
        model, task, _ = fi.from_preset("nanda2023", seed=0)
        return model, task, (f"FRESHLY INITIALISED nanda2023 seed 0 (fi.load_pretrained('transformer-p113') "
                             f"unavailable: {type(e).__name__}: {e})")


def get_verify() -> tuple[Optional[Callable], str]:
    """``(fi.verify, "")`` if it exists, else ``(None, why)``."""
    import fourier_interp as fi

    try:
        verify = getattr(fi, "verify", None)
    except ImportError as e:  # exported but its module does not import (yet)
        return None, f"fi.verify does not import: {e}"
    if verify is None:
        return None, "fi.verify does not exist yet (issue 5)"
    return verify, ""


def say(*lines: str) -> None:
    """Print progress lines immediately (long benchmarks)."""
    for line in lines:
        print(line, flush=True)
    sys.stdout.flush()
