"""fi.verify: no false positives, no false negatives, and the report in every format."""

import base64
import io
import json
import re

import pytest
import torch
from torch import nn

import fourier_interp as fi
from fourier_interp.cli import main


@pytest.mark.parametrize("p,k,freqs", [(23, 2, [3, 7]), (31, 2, [4, 9, 13]), (11, 3, [2, 5])])
def test_planted_model_passes_with_exactly_its_frequencies(p, k, freqs):
    report = fi.verify(fi.planted_mlp(p=p, freqs=freqs, k=k), fi.ModularArithmetic(p=p, k=k))
    assert report.passed, report
    assert report.key_frequencies == freqs
    assert all(c.passed is not False for c in report.claims if c.counted)


def test_planted_subtraction_passes():
    report = fi.verify(fi.planted_mlp(p=23, freqs=[5, 8], op="sub"), fi.ModularArithmetic(p=23, op="sub"))
    assert report.passed and report.key_frequencies == [5, 8]


def test_lookup_table_fails_on_the_structure_claims():
    report = fi.verify(fi.memorizing_mlp(p=23), fi.ModularArithmetic(p=23))
    assert report.claim("accuracy").passed  # it is accurate ...
    assert not report.passed and report.algorithm == "non-fourier"  # ... but it is not Fourier Multiplication
    failed = {c.key for c in report.failed_claims}
    assert "unit_projection" in failed and "unit_projection" in report.reason
    assert "unit_weights" in failed
    assert report.claim("unit_variance").value < 0.05
    assert "FAIL" in str(report) and "unit_projection" in str(report)


@pytest.mark.parametrize("make", [
    lambda: fi.HookedTransformer(fi.TransformerConfig(p=23, seed=1)),
    lambda: fi.HookedRNN(fi.RNNConfig(p=23, seed=1)),
    lambda: fi.HookedMLP(fi.MLPConfig(p=23, seed=1)),
])
def test_untrained_models_fail_accuracy_and_structure(make):
    report = fi.verify(make(), fi.ModularArithmetic(p=23))
    assert not report.passed
    assert report.claim("accuracy").passed is False and report.algorithm == "non-fourier"
    assert report.claim("unit_variance").passed is False
    assert report.claim("logits").passed is False


@pytest.mark.slow
@pytest.mark.parametrize("family", ["transformer", "rnn", "mlp_k2", "mlp_k3"])
def test_trained_small_models_pass(trained_small, family):
    model, task, history = trained_small(family)
    report = fi.verify(model, task, history=history)
    assert report.passed, report
    # every frequency the logits use is one the units compute with
    assert set(report.frequencies.methods["logits"]) <= set(report.key_frequencies)


@pytest.mark.parametrize("name", fi.list_pretrained())
def test_every_shipped_pretrained_model_gets_its_recorded_verdict(name):
    from fourier_interp.pretrained import describe_pretrained

    expected = {r["name"]: r["algorithm"] for r in describe_pretrained()}[name]
    model, task = fi.load_pretrained(name)
    report = fi.verify(model, task, name=name)
    assert report.algorithm == expected, report
    assert report.passed == (expected in ("clock", "clock-superposed")), report  # the pizza: shipped negative control
    assert report.claim("accuracy").value >= 0.99


class PlainPlanted(nn.Module):
    """A user's own PyTorch module (no HookPoints): the planted network, written by hand."""

    def __init__(self, planted):
        super().__init__()
        self.U = nn.Parameter(planted.U.detach().clone())
        self.out = nn.Linear(planted.cfg.d_hidden, planted.cfg.p, bias=False)
        self.out.weight.data = planted.W_out.detach().T.clone()
        self.act = Square()

    def forward(self, x):
        pre = self.U[0][x[:, 0]] + self.U[1][x[:, 1]]
        return self.out(self.act(pre))


class Square(nn.Module):
    def forward(self, x):
        return x * x


def test_custom_module_through_hooked_wrapper():
    planted = fi.planted_mlp(p=23, freqs=[4, 9])
    wrapped = fi.HookedWrapper(PlainPlanted(planted), p=23, k=2)
    task = fi.ModularArithmetic(p=23)
    report = fi.verify(wrapped, task, hook="act")
    assert report.passed and report.key_frequencies == [4, 9]
    assert report.claim("inputs").passed is None  # no embedding named: n/a
    scanned = fi.verify(wrapped, task)  # no hook named: the layer where the units live is found
    assert scanned.neurons == "act" and scanned.passed and "act" in scanned.claim("unit_scan").detail
    with pytest.raises(TypeError, match="neurons"):  # the old name of hook= is gone
        fi.verify(wrapped, task, neurons="act")


CHECKS = ("check_task", "check_group_task", "check_model_task", "check_model", "check_hooked")


@pytest.mark.parametrize("make", [
    lambda: (fi.planted_mlp(p=23, freqs=[3, 7]), fi.ModularArithmetic(p=23)),
    lambda: fi.load_pretrained("transformer-clock-p59"),  # attention, low rank, gradient symmetricity
    lambda: (fi.HookedWrapper(PlainPlanted(fi.planted_mlp(p=23, freqs=[4, 9])), p=23, k=2), fi.ModularArithmetic(p=23)),
], ids=["planted-mlp", "transformer", "wrapper-scanned"])
def test_one_verify_checks_its_model_and_task_once(make, monkeypatch):
    """Checked at the door: fi.verify checks model and task once and every layer below trusts them."""
    model, task = make()
    calls = count_checks(monkeypatch)
    report = fi.verify(model, task)
    assert report.passed
    # check_model -> check_hooked and check_model_task -> check_group_task: one check of each
    assert calls == {"check_task": 0, "check_group_task": 1, "check_model_task": 1, "check_model": 1, "check_hooked": 1}


def test_one_verify_on_a_group_checks_the_model_against_the_task_once(monkeypatch):
    d5 = fi.groups.dihedral(5)
    model, task = fi.planted_gcr(d5, ["rot2"]), fi.GroupTask(d5)
    calls = count_checks(monkeypatch)
    assert fi.verify(model, task).passed
    assert calls["check_model_task"] == 1 and calls["check_model"] == 1 and calls["check_task"] == 0


def count_checks(monkeypatch) -> dict:
    """Count, until the test ends, every call of the checks in ``CHECKS`` from any module of the package."""
    import sys

    import fourier_interp.verification.groups  # noqa: F401  (every layer imported before counting)
    from fourier_interp import analysis, checks, interventions, verification  # noqa: F401

    calls = dict.fromkeys(CHECKS, 0)
    for name in CHECKS:
        original = getattr(checks, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        for module in [m for n, m in sys.modules.items() if n.startswith("fourier_interp")]:
            if getattr(module, name, None) is original:
                monkeypatch.setattr(module, name, counted)
    return calls


def test_thresholds_can_be_overridden_and_are_checked():
    model, task = fi.planted_mlp(p=23, freqs=[3, 7]), fi.ModularArithmetic(p=23)
    strict = fi.verify(model, task, excluded_gap=100.0)
    assert not strict.passed and [c.key for c in strict.failed_claims] == ["excluded_loss"]
    assert strict.algorithm == "fourier-incomplete" and "excluded_loss" in strict.reason
    with pytest.raises(ValueError, match="Thresholds.accuracy"):
        fi.verify(model, task, accuracy=1.01)  # a fraction above 1 can never pass: refused
    assert fi.verify(model, task, thresholds=fi.Thresholds(logit_fraction=0.5)).thresholds.logit_fraction == 0.5
    with pytest.raises(TypeError, match="unknown threshold"):
        fi.verify(model, task, logit_fractoin=0.5)


def test_report_exports(tmp_path):
    model, task = fi.planted_mlp(p=23, freqs=[3, 7]), fi.ModularArithmetic(p=23)
    report = fi.verify(model, task)
    d = report.to_dict()
    assert d["passed"] is True and d["key_frequencies"] == [3, 7]
    assert [c["name"] for c in d["claims"]] == [c.name for c in report.claims]
    for c in d["claims"]:
        assert {"name", "value", "threshold", "passed", "detail"} <= c.keys()
    report.to_json(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == json.loads(report.to_json())
    text = str(report)
    assert "PASS" in text and all(c.name in text for c in report.claims)


def _data_uri_images(page):
    return re.findall(r"src='data:image/png;base64,([^']+)'", page)


def test_html_is_self_contained_and_every_image_decodes(tmp_path):
    from matplotlib.image import imread

    model = fi.HookedTransformer(fi.TransformerConfig(p=11, d_model=32, n_heads=2, d_head=16, d_mlp=64))
    task = fi.ModularArithmetic(p=11)
    history = fi.train(model, task, fi.TrainConfig(steps=20, eval_every=10, progress=False))
    report = fi.verify(model, task, history=history)
    page = report.to_html(tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text() == page
    assert not re.search(r"<script[^>]+src=", page) and "unpkg" not in page and "jsdelivr" not in page
    assert not re.search(r"<(img|link)[^>]+(src|href)=['\"]https?:", page)
    images = _data_uri_images(page)
    assert len(images) >= 5  # embedding, units, logits, ablation, training, attention
    for b64 in images:
        pixels = imread(io.BytesIO(base64.b64decode(b64)), format="png")
        assert pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert "CircuitsVis" in page  # the attention patterns, with circuitsvis's bundled JS inlined


def test_cli_verify_exit_codes(tmp_path, capsys):
    fi.memorizing_mlp(p=11).save(tmp_path / "lookup", task=fi.ModularArithmetic(p=11))
    assert main(["verify", "--checkpoint", str(tmp_path / "lookup"), "--out", str(tmp_path / "r1")]) == 1
    assert (tmp_path / "r1" / "report.html").is_file() and (tmp_path / "r1" / "report.json").is_file()
    assert "FAIL" in capsys.readouterr().out
    fi.planted_mlp(p=11, freqs=[2, 3]).save(tmp_path / "planted", task=fi.ModularArithmetic(p=11))
    assert main(["verify", "--checkpoint", str(tmp_path / "planted"), "--out", str(tmp_path / "r2"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True
    fi.planted_mlp(p=11, freqs=[2]).save(tmp_path / "no_task")
    assert main(["verify", "--checkpoint", str(tmp_path / "no_task")]) == 2
