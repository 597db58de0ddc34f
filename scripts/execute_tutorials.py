"""Execute the tutorial notebooks and store them with their outputs, so the site shows them.

    python scripts/execute_tutorials.py             # every tutorials/*.ipynb
    python scripts/execute_tutorials.py 03 07       # the notebooks whose names start so

The documentation site renders the notebooks as stored (mkdocs-jupyter, ``execute: false``),
so what a reader sees is what this script last ran. Each notebook runs top to bottom in a
fresh Jupyter kernel in a temporary directory (its files stay out of the repository), then
is written back with its outputs and, in its metadata, the hash of the code that made them
(``metadata.fourier_interp.code_sha256``). ``tests/test_tutorials.py`` fails when a
notebook's code no longer matches that hash (edited after it was run: run this script on it)
and runs every notebook fresh to check it still runs and shows the same kinds of output.

After editing a tutorial: ``jupytext --sync tutorials/NN_name.py``, then this script on it.
Prints each notebook's run time; torch uses one thread, as in the test suite's runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
CELL_TIMEOUT_S = 900


def code_sha256(nb) -> str:
    """Hash of the notebook's code cells, in order (what its outputs depend on)."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode("utf-8") + b"\0")
    return digest.hexdigest()


def execute(path: Path) -> float:
    """Run ``path`` in a fresh kernel and store it with its outputs; returns the seconds it took."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="fi-tutorial-") as workdir, \
            tempfile.TemporaryDirectory(prefix="fi-kernel-") as sockets:
        km = (KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "ipc"))
              if os.name == "posix" else KernelManager(kernel_name="python3"))
        client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, record_timing=False,
                                resources={"metadata": {"path": workdir}})
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timings: noise in every diff
    nb.metadata["fourier_interp"] = {"code_sha256": code_sha256(nb)}
    nbformat.write(nb, path)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Execute the tutorials and store their outputs.")
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes, e.g. 03 07 (default: all)")
    args = parser.parse_args(argv)
    notebooks = sorted(TUTORIALS.glob("*.ipynb"))
    if args.prefixes:
        notebooks = [nb for nb in notebooks if nb.name.startswith(tuple(args.prefixes))]
        if not notebooks:
            parser.error(f"no notebook in {TUTORIALS} starts with {args.prefixes}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the kernels inherit it
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    total = 0.0
    for nb in notebooks:
        seconds = execute(nb)
        total += seconds
        print(f"{nb.name}: {seconds:.0f} s, {nb.stat().st_size / 1e3:.0f} kB", flush=True)
    print(f"{len(notebooks)} notebooks in {total:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
