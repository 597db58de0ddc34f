"""The tutorial notebooks run top to bottom (tutorials/*.ipynb).

Each notebook's code cells run in order in a fresh Python subprocess, in a temporary working
directory (so the files a notebook writes, such as report.html, stay out of the repository),
with matplotlib's Agg backend. No Jupyter is needed: the .ipynb JSON is parsed here. As in
Jupyter, a cell's last bare expression is shown: figures are rendered to PNG in memory (so a
broken plot fails the test) and other values are printed; ``display`` is defined; IPython
magics (``%...``) and shell escapes (``!...``) are skipped.

A notebook that loads a shipped checkpoint (``fi.load_pretrained("name")``) is skipped, with
the reason, while ``scripts/make_pretrained.py`` has not generated that checkpoint yet.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fourier_interp as fi

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))
TIMEOUT_S = 900  # each notebook takes well under two minutes on two quiet cores

# Executes the cells passed as a JSON list (argv[1]) like a notebook kernel would.
RUNNER = r'''
import ast, io, json, sys, time

def _show(value):
    if value is None:
        return
    if hasattr(value, "savefig"):                       # a matplotlib Figure: render it
        value.savefig(io.BytesIO(), format="png")
        print(f"<Figure with {len(value.axes)} axes>")
    else:
        print(repr(value))

def _flush_pyplot():
    """Jupyter shows (and closes) every open pyplot figure at the end of a cell."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        for num in plt.get_fignums():
            _show(plt.figure(num))
        plt.close("all")

def display(*values):
    for value in values:
        _show(value)

namespace = {"__name__": "__main__", "display": display}
for i, source in enumerate(json.load(open(sys.argv[1])), 1):
    name = f"<cell {i}>"
    print(f"----- cell {i}", flush=True)
    start = time.perf_counter()
    tree = ast.parse(source, name)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not source.rstrip().endswith(";"):
        last = tree.body.pop()
    exec(compile(tree, name, "exec"), namespace)
    if last is not None:
        _show(eval(compile(ast.Expression(last.value), name, "eval"), namespace))
    _flush_pyplot()
    print(f"----- cell {i}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
'''


def code_cells(notebook: Path) -> list[str]:
    """The notebook's code cells as Python source, magics and shell escapes removed."""
    nb = json.loads(notebook.read_text())
    assert nb["nbformat"] == 4, f"{notebook.name}: expected nbformat 4"
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        assert not cell.get("outputs"), f"{notebook.name}: outputs should be cleared before committing"
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        cells.append("\n".join(lines))
    return cells


def pretrained_needed(cells: list[str]) -> set[str]:
    return set(re.findall(r"""load_pretrained\(\s*["']([^"']+)["']""", "\n".join(cells)))


def run_notebook(notebook: Path, workdir: Path, cells: list[str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run the code cells (default: the notebook's) in a subprocess in ``workdir``; ``(process, seconds)``."""
    cells = code_cells(notebook) if cells is None else cells
    (workdir / "cells.json").write_text(json.dumps(cells))
    (workdir / "runner.py").write_text(RUNNER)
    env = {**os.environ, "MPLBACKEND": "Agg", "TQDM_DISABLE": "1"}
    # One intra-op thread unless the caller chose: the notebooks do small-tensor work, where a
    # second thread gains little, and on a busy machine two spinning threads per process slow
    # torch down many times over.
    env.setdefault("OMP_NUM_THREADS", "1")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "runner.py", "cells.json"], cwd=workdir, env=env,
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    return proc, time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(notebook, tmp_path):
    cells = code_cells(notebook)
    missing = sorted(pretrained_needed(cells) - set(fi.list_pretrained()))
    if missing:
        pytest.skip(f"{notebook.name} needs pretrained {missing}: run scripts/make_pretrained.py")
    proc, seconds = run_notebook(notebook, tmp_path, cells)
    assert proc.returncode == 0, (
        f"{notebook.name} failed after {seconds:.0f} s\n--- stdout (tail)\n{proc.stdout[-4000:]}\n"
        f"--- stderr (tail)\n{proc.stderr[-6000:]}"
    )


def test_there_are_tutorials():
    assert [nb.name for nb in NOTEBOOKS][:4] == [
        "01_quickstart.ipynb",
        "02_fourier_basis_and_key_frequencies.ipynb",
        "03_interventions.ipynb",
        "04_train_and_compare_families.ipynb",
    ]
