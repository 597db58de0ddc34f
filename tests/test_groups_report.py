"""A verification over a group exports like one over Z_p: text, JSON and one self-contained HTML page."""

import json
import re

import fourier_interp as fi
from fourier_interp.verification.groups import GROUP_CLAIMS, verify_group


def test_group_report_to_html_json_and_text(tmp_path):
    s4 = fi.groups.symmetric(4)
    task = fi.GroupTask(s4)
    gcr = verify_group(fi.planted_gcr(s4, ["(3,1)", "(2,1,1)"]), task)
    path = tmp_path / "report.html"
    page = gcr.to_html(path)
    assert path.read_text() == page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"<script[^>]+src=", page)  # nothing fetched: one file works offline
    assert "PASS" in page and "<strong>gcr</strong>" in page and "(3,1), (2,1,1)" in page
    assert all(f"<code>{key}</code>" in page for key in GROUP_CLAIMS)  # every claim by key
    assert page.count("data:image/png;base64,") == 3  # logits, weights and units per irrep

    coset = verify_group(fi.planted_coset(s4), task)
    page = coset.to_html()
    assert "FAIL" in page and "<strong>coset</strong>" in page and "units are irrep-selective" in page
    data = json.loads(coset.to_json())
    assert data["algorithm"] == "coset" and data["group"] == "symmetric(4)" and data["failed_claims"] == ["units"]
    assert sorted(data["key_irreps"]) == ["(2,2)", "(3,1)"]
    assert {c["key"]: c["role"] for c in data["claims"]} == {k: role for k, (role, _) in GROUP_CLAIMS.items()}
    text = str(coset)
    assert "algorithm: coset" in text and "why: not GCR (units failed)" in text
