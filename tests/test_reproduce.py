"""scripts/reproduce.py end to end, reduced: every sweep trains (tiny), is measured, and the page is written.

The reduced models do not grok, so no number is checked against a paper here; what is
checked is that every stage runs, every sweep contributes its runs to the table and the
page, the figures are written, a second ``report`` reuses the cached measurements, and
the negative controls (memorising runs) fail ``verify``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "reproduce.py"


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(SCRIPT), "all", "--reduced", "--out", str(out), "--workers", "1"],
                   check=True, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    return out


def test_every_sweep_runs_and_lands_in_the_table(reduced):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from reproduce import PAPER, sweeps
    finally:
        sys.path.remove(str(SCRIPT.parent))
    with open(reduced / "docs" / "reproductions" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    expected = {name: len(cfg["grid"].get("seed", [0])) * _product(cfg["grid"]) for name, cfg in sweeps(True).items()}
    counts = {name: sum(r["sweep"] == name for r in rows) for name in PAPER}
    assert counts == expected
    assert all(r["status"] == "ok" for r in rows)
    measured = [json.loads(r["measures"]) for r in rows if r["sweep"] == "nanda2023"]
    assert all(m["n_key"] == len(m["key"]) for m in measured)


def _product(grid) -> int:
    n = 1
    for key, values in grid.items():
        if key != "seed":
            n *= len(values)
    return n


def test_page_has_every_paper_and_its_figures(reduced):
    page = (reduced / "docs" / "reproductions.md").read_text()
    for heading in ("## Nanda et al.", "## Rangamani", "## Li et al.", "## Zhong et al.", "## How often `verify` is right",
                    "Reduced run"):
        assert heading in page
    for figure in ("nanda2023-progress.png", "rangamani2025-ablation.png", "zhong2023-measures.png"):
        assert f"reproductions/{figure}" in page
        assert (reduced / "docs" / "reproductions" / figure).stat().st_size > 10_000


def test_negative_controls_fail_verify(reduced):
    with open(reduced / "docs" / "reproductions" / "results.csv") as f:
        controls = [r for r in csv.DictReader(f) if r["sweep"] == "memorisers"]
    assert controls and all(r["passed"] == "False" for r in controls)


def test_report_again_reuses_cached_measurements(reduced):
    caches = sorted(reduced.glob("*/runs/*/measures.json"))
    assert caches
    before = {p: p.stat().st_mtime_ns for p in caches}
    subprocess.run([sys.executable, str(SCRIPT), "report", "--reduced", "--out", str(reduced)], check=True, cwd=ROOT,
                   env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert {p: p.stat().st_mtime_ns for p in caches} == before


def _records_from_table(path: Path) -> list[dict]:
    """The page's per-run table read back into the records ``section_verdict`` takes."""
    records = []
    with open(path) as f:
        for row in csv.DictReader(f):
            record = {key: json.loads(row[key]) if row[key] else None for key in ("claims", "failed_claims", "measures")}
            record.update({key: float(row[key]) if row[key] else None for key in ("train_acc", "test_acc")})
            record.update(sweep=row["sweep"], run=row["run"], status=row["status"], algorithm=row["algorithm"],
                          passed=row["passed"] == "True", spec={"preset": row["preset"], "seed": int(row["seed"])})
            records.append(record)
    return records


def test_verdict_section_says_when_its_runs_carry_the_previous_verdict():
    # the shipped page's runs were verified before the causal unit projection existed: the note leads the section
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from reproduce_report import PREVIOUS_VERDICT_NOTE, previous_verdict, section_verdict
    finally:
        sys.path.remove(str(SCRIPT.parent))
    records = _records_from_table(ROOT / "docs" / "reproductions" / "results.csv")
    assert previous_verdict(records)
    section = section_verdict(records, [r for r in records if r["sweep"] == "memorisers"])
    heading, first = section.split("\n\n")[:2]
    assert heading == "## How often `verify` is right" and first == PREVIOUS_VERDICT_NOTE
    assert PREVIOUS_VERDICT_NOTE in (ROOT / "docs" / "reproductions.md").read_text()


def test_page_from_current_verdict_runs_has_no_previous_verdict_note(reduced):
    # the reduced sweeps are verified now, with the current verdict: the note would be false there
    page = (reduced / "docs" / "reproductions.md").read_text()
    assert "## How often `verify` is right" in page and "Measured with the previous verdict" not in page
