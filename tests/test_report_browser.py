"""The HTML report in a real headless browser (skipped without Debian's chromium and playwright)."""

import importlib.util
import shutil
from pathlib import Path

import pytest

import fourier_interp as fi

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_report_in_browser.py"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="needs the playwright package"),
]


def load_checker():
    spec = importlib.util.spec_from_file_location("check_report_in_browser", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_loads_without_console_errors_and_every_image_decodes(tmp_path):
    model = fi.HookedTransformer(fi.TransformerConfig(p=11, d_model=32, n_heads=2, d_head=16, d_mlp=64))
    task = fi.ModularArithmetic(p=11)
    history = fi.train(model, task, fi.TrainConfig(steps=20, eval_every=10, progress=False))
    path = tmp_path / "report.html"
    fi.verify(model, task, history=history).to_html(path)
    assert load_checker().check(path) == []
