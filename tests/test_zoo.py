"""scripts/zoo.py end to end, reduced: every class trains or is built, is verified, and is named right.

The reduced zoo (one seed, p = 23, short training) holds a trained softmax transformer, a trained
MLP on summed embeddings, a memoriser, an untrained transformer, the Fourier-dressed lookup table,
and the planted clock and pizza. Each has a ground truth fixed before any verdict (scripts/zoo.py
states it per class); the test asserts every run is named consistently with it: no summed-embedding
MLP, pizza or memoriser is named clock, no grokked model non-fourier.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(ROOT / "scripts" / "zoo.py"), "all", "--reduced", "--out", str(out)],
                   check=True, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    with open(out / "results.csv") as f:
        return out, list(csv.DictReader(f))


@pytest.mark.slow
def test_reduced_zoo_names_every_class_right(zoo):
    out, rows = zoo
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from zoo import REDUCED
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert {r["cls"] for r in rows} == set(REDUCED)
    judged = [r for r in rows if r["correct"] != ""]
    assert len(judged) == len(rows), [r for r in rows if r["correct"] == ""]  # every trained run reached its regime
    wrong = [(r["cls"], r["truth"], r["name"]) for r in judged if r["correct"] != "True"]
    assert not wrong
    assert not [r for r in rows if r["name"] == "clock" and r["truth"] in ("not-clock", "non-fourier")]
    confusion = (out / "confusion.md").read_text()
    assert "| **all** | 7 | 0 | 0% |" in confusion
