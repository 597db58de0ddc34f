"""The tutorial notebooks (tutorials/*.ipynb) run top to bottom, in Jupyter, without a warning.

Each notebook is executed by ``nbclient`` in a fresh IPython kernel — the kernel Jupyter
uses, so what a student would see is what is checked: figures are rendered inline (a broken
plot fails, and so does a figure shown as ``<Figure size ...>`` text instead of an image),
and anything a cell writes to stderr, other than a text progress bar, fails the test. That includes every
warning: a setup cell run before the notebook's own cells shows each warning once per
location (``warnings.simplefilter("default")``, DeprecationWarnings included), and a
warning that only appears inside a kernel — such as tqdm's "IProgress not found" widget
warning — is caught too. The only exceptions allowed would be DeprecationWarnings raised
inside third-party packages, listed in ``ALLOWED_DEPRECATIONS`` with the reason; there are
none at present.

Each notebook runs in a temporary working directory (so the files it writes, such as
report.html, stay out of the repository). A notebook that loads a shipped checkpoint
(``fi.load_pretrained("name")``) is skipped, with the reason, while
``scripts/make_pretrained.py`` has not generated that checkpoint yet.

Every notebook is paired with a jupytext percent-format script (``tutorials/NN_name.py``,
the file to review and diff); both must hold the same code cells. The notebook is stored
executed, with its outputs, because the documentation site shows it as stored: its metadata
holds the hash of the code that made them, and a notebook edited since it was run fails here.
Edit either file, then ``jupytext --sync tutorials/NN_name.py`` and
``python scripts/execute_tutorials.py NN``. The fresh run here also checks that every cell
still shows the kinds of output stored for it (text, a figure, a table).

One notebook: ``pytest tests/test_tutorials.py -k 05 -s`` (``-s`` prints its run time and
slowest cells).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

import pytest

import fourier_interp as fi

nbformat = pytest.importorskip("nbformat", reason="the [test] extra installs nbformat (through mkdocs-jupyter)")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))
CELL_TIMEOUT_S = 900  # per cell; each notebook takes a few minutes on two busy cores

# (module regex, why) of third-party packages whose DeprecationWarnings a notebook may show. None so far.
ALLOWED_DEPRECATIONS: list[tuple[str, str]] = []

# Run in the kernel before the notebook's own cells.
SETUP = f"""
import sys, warnings
assert sys.prefix == {sys.prefix!r}, (
    f"the python3 Jupyter kernel runs {{sys.executable}}, not the test's interpreter in {sys.prefix!r}: "
    "install ipykernel there or remove the user-level python3 kernelspec")
warnings.simplefilter("default")   # every warning shown once per location, DeprecationWarning included
for _module, _why in {ALLOWED_DEPRECATIONS!r}:
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=_module)
"""


def read(notebook: Path):
    return nbformat.read(notebook, as_version=4)


def code_sources(nb) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def pretrained_needed(sources: list[str]) -> set[str]:
    return set(re.findall(r"""load_pretrained\(\s*["']([^"']+)["']""", "\n".join(sources)))


def run_notebook(notebook: Path, workdir: Path):
    """Execute ``notebook`` in a fresh kernel in ``workdir``; ``(executed notebook, seconds)``.

    Raises ``nbclient.exceptions.CellExecutionError`` (with the cell and traceback) on an error.
    """
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = read(notebook)
    nb.cells.insert(0, nbformat.v4.new_code_cell(SETUP))
    with tempfile.TemporaryDirectory(prefix="fi-kernel-") as sockets:
        # local sockets (IPC) where available: TCP makes the kernel warn about unencrypted traffic
        km = (KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "ipc"))
              if os.name == "posix" else KernelManager(kernel_name="python3"))
        client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(workdir)}})
        start = time.perf_counter()
        client.execute()
        return nb, time.perf_counter() - start


# A text progress bar (tqdm's, e.g. from transformer_lens's patching sweeps) is not a warning.
PROGRESS_BAR = re.compile(r"^[^\n]*\d+%\|[^\n]*\|[^\n]*\]\s*$")


def stderr_outputs(nb) -> list[str]:
    """``"code cell N: text"`` for what the cells wrote to stderr, progress bars left out (warnings among it)."""
    code = [cell for cell in nb.cells[1:] if cell.cell_type == "code"]  # cells[0] is SETUP
    found = []
    for n, cell in enumerate(code, 1):
        text = "".join(out["text"] for out in cell.get("outputs", [])
                       if out.get("output_type") == "stream" and out.get("name") == "stderr")
        rest = [piece for line in text.split("\n") for piece in line.split("\r")
                if piece.strip() and not PROGRESS_BAR.match(piece)]
        if rest:
            found.append(f"code cell {n}: " + "\n".join(rest))
    return found


def undrawn_figures(nb) -> list[str]:
    """Figures Jupyter showed as text (``<Figure size ...>``) instead of drawing them."""
    code = [cell for cell in nb.cells[1:] if cell.cell_type == "code"]
    return [f"code cell {n}: {out['data']['text/plain']}" for n, cell in enumerate(code, 1)
            for out in cell.get("outputs", []) if out.get("output_type") in ("execute_result", "display_data")
            and "image/png" not in out.get("data", {}) and out.get("data", {}).get("text/plain", "").startswith("<Figure")]


def cell_seconds(nb) -> list[tuple[int, float]]:
    """``(code cell number, seconds)`` from nbclient's timing metadata, slowest first."""
    from datetime import datetime

    times, n = [], 0
    for cell in nb.cells[1:]:
        if cell.cell_type != "code":
            continue
        n += 1
        meta = cell.get("metadata", {}).get("execution", {})
        begin, end = meta.get("iopub.execute_input"), meta.get("shell.execute_reply")
        if begin and end:
            parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
            times.append((n, (parse(end) - parse(begin)).total_seconds()))
    return sorted(times, key=lambda t: -t[1])


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(notebook, tmp_path):
    pytest.importorskip("nbclient", reason="the [test] extra installs nbclient (through mkdocs-jupyter)")
    pytest.importorskip("ipykernel", reason="the [test] extra installs ipykernel (through mkdocs-jupyter)")
    missing = sorted(pretrained_needed(code_sources(read(notebook))) - set(fi.list_pretrained()))
    if missing:
        pytest.skip(f"{notebook.name} needs pretrained {missing}: run scripts/make_pretrained.py")
    nb, seconds = run_notebook(notebook, tmp_path)
    slowest = ", ".join(f"cell {n}: {s:.0f} s" for n, s in cell_seconds(nb)[:3])
    print(f"{notebook.name}: {seconds:.0f} s (slowest {slowest})")
    stderr = stderr_outputs(nb)
    assert not stderr, f"{notebook.name} wrote to stderr (warnings fail the test):\n" + "\n".join(stderr)
    undrawn = undrawn_figures(nb)
    assert not undrawn, f"{notebook.name} shows figures as text, not images (no %matplotlib inline?):\n" + "\n".join(undrawn)
    fresh = output_kinds([cell for cell in nb.cells[1:] if cell.cell_type == "code"])
    stored = output_kinds([cell for cell in read(notebook).cells if cell.cell_type == "code"])
    changed = [f"code cell {n}: stored {s}, now {f}" for n, (s, f) in enumerate(zip(stored, fresh), 1) if s != f]
    assert not changed, (f"{notebook.name} shows other outputs than the stored ones; run "
                         f"python scripts/execute_tutorials.py {notebook.name[:2]}:\n" + "\n".join(changed))


def output_kinds(cells) -> list[list[str]]:
    """Per code cell, the kinds of output it shows: ``stdout``, ``image/png``, ``text/html`` ... (stderr left out)."""
    kinds = []
    for cell in cells:
        found = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                kind = out.get("name")
            elif out.get("output_type") == "error":
                kind = "error"
            else:
                data = out.get("data", {})
                kind = next((k for k in ("image/png", "text/html", "application/json") if k in data), "text/plain")
            if kind != "stderr" and kind not in found:
                found.append(kind)
        kinds.append(sorted(found))
    return kinds


def code_sha256(nb) -> str:
    """Hash of the notebook's code cells: scripts/execute_tutorials.py's, which stored it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("execute_tutorials", ROOT / "scripts" / "execute_tutorials.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.code_sha256(nb)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_is_stored_with_the_outputs_of_its_current_code(notebook):
    nb = read(notebook)
    rerun = f"run python scripts/execute_tutorials.py {notebook.name[:2]} (after jupytext --sync)"
    recorded = nb.metadata.get("fourier_interp", {}).get("code_sha256")
    assert recorded is not None, f"{notebook.name} is stored without outputs; {rerun}"
    assert recorded == code_sha256(nb), f"{notebook.name} was edited after its outputs were made; {rerun}"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in code), f"{notebook.name} has cells that did not run; {rerun}"
    assert not any(out.get("output_type") == "error" for cell in code for out in cell.get("outputs", []))
    assert any(output_kinds(code)), f"{notebook.name} shows no output at all; {rerun}"


def test_the_freshness_check_sees_a_code_edit_and_not_a_prose_edit():
    nb = read(NOTEBOOKS[0])
    before = code_sha256(nb)
    next(cell for cell in nb.cells if cell.cell_type == "markdown").source += "\nA sentence more."
    assert code_sha256(nb) == before  # the outputs do not depend on the prose
    next(cell for cell in nb.cells if cell.cell_type == "code").source += "\n1 + 1"
    assert code_sha256(nb) != before


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_and_its_script_have_the_same_code(notebook):
    """The jupytext pair (``NN_name.py``, percent format) holds the notebook's code cells, in order."""
    jupytext = pytest.importorskip("jupytext", reason="the [test] extra installs jupytext (through mkdocs-jupyter)")
    script = notebook.with_suffix(".py")
    assert script.is_file(), (
        f"{notebook.name} has no paired script: jupytext --set-formats ipynb,py:percent {notebook.relative_to(ROOT)}")
    paired = jupytext.read(script)
    assert code_sources(paired) == code_sources(read(notebook)), (
        f"{notebook.name} and {script.name} hold different code: edit one, then jupytext --sync tutorials/*.ipynb")
    assert [c.cell_type for c in paired.cells] == [c.cell_type for c in read(notebook).cells], (
        f"{notebook.name} and {script.name} have different cells: jupytext --sync tutorials/*.ipynb")


def test_every_script_has_a_notebook():
    scripts = sorted((ROOT / "tutorials").glob("[0-9]*.py"))
    assert [s.stem for s in scripts] == [nb.stem for nb in NOTEBOOKS]


def test_there_are_tutorials():
    assert [nb.name for nb in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_fourier_basis_and_key_frequencies.ipynb",
        "03_interventions.ipynb",
        "04_train_and_compare_families.ipynb",
        "05_rnn_rangamani.ipynb",
        "06_multi_input_mlp_li.ipynb",
        "07_clock_vs_pizza.ipynb",
        "08_probes_in_your_research.ipynb",
        "09_groups_and_representations.ipynb",
    ]
