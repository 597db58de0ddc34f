"""Phase diagrams: a tiny grid trained and verified end to end, its regimes, colours and command line."""

from __future__ import annotations

import pytest

import fourier_interp as fi
from fourier_interp.cli import main
from fourier_interp.sweeps.phase import ALGORITHM_COLOURS, SPARE_COLOURS, colour_of, regime

TINY = dict(p=7, steps=60, eval_every=20)


@pytest.fixture(scope="module")
def diagram(tmp_path_factory):
    out = tmp_path_factory.mktemp("phase")
    return fi.phase_diagram("li2025-k2", x=("weight_decay", [0.1, 1.0]), y=("frac_train", [0.4, 0.8]), seeds=[0],
                            out_dir=out, workers=1, threads=1, progress=False, **TINY)


def test_a_tiny_diagram_end_to_end(diagram):
    table = diagram.table
    assert len(table) == 4 and set(zip(table["weight_decay"], table["frac_train"])) == {
        (0.1, 0.4), (0.1, 0.8), (1.0, 0.4), (1.0, 0.8)}
    assert (table["status"] == "ok").all()
    assert set(table["verdict"]) <= {"PASS", "FAIL"} and table["algorithm"].notna().all()
    assert set(table["regime"]) <= {"comprehension", "grokking", "memorisation", "confusion"}
    assert (table["final_step"] == 60).all() and table["train_acc"].between(0, 1).all()
    for run in table["run"]:  # every verdict is the one fi.verify gives the saved model
        model, task = fi.load(diagram.out_dir / "runs" / run / "train", with_task=True)
        row = table[table["run"] == run].iloc[0]
        report = fi.verify(model, task)
        assert (str(report.algorithm), "PASS" if report.passed else "FAIL") == (row["algorithm"], row["verdict"])
    cells = diagram.cells()
    assert len(cells) == 4 and (cells["runs"] == 1).all()
    shares = cells[[c for c in cells.columns if c.startswith("share_")]].sum(axis=1)
    assert shares.round(9).eq(1.0).all()
    png = diagram.files["figure"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and diagram.files["table"].read_text().startswith("weight_decay,frac_train,seed")
    assert diagram.plot().axes


def test_the_diagram_resumes_and_reverifies(diagram):
    again = fi.phase_diagram("li2025-k2", x=("weight_decay", [0.1, 1.0]), y=("frac_train", [0.4, 0.8]), seeds=[0],
                             out_dir=diagram.out_dir, workers=1, threads=1, progress=False, **TINY)
    assert again.table.drop(columns=[]).equals(diagram.table)
    relabelled = fi.phase_diagram("li2025-k2", x=("weight_decay", [0.1, 1.0]), y=("frac_train", [0.4, 0.8]),
                                  seeds=[0], out_dir=diagram.out_dir, workers=1, threads=1, progress=False,
                                  reverify=True, **TINY)
    assert list(relabelled.table["algorithm"]) == list(diagram.table["algorithm"])
    import json

    rows = [json.loads((diagram.out_dir / "runs" / r / "result.json").read_text()) for r in diagram.table["run"]]
    assert {row["training"] for row in rows} == {"loaded"}  # verified again from the saved models, not retrained


def test_regimes_follow_the_accuracies_and_the_delay():
    assert regime(0.5, 0.4, None, None, 1000) == "confusion"
    assert regime(1.0, 0.3, 200, None, 1000) == "memorisation"
    assert regime(1.0, 1.0, 200, 300, 1000) == "comprehension"
    assert regime(1.0, 1.0, 200, 3000, 5000) == "grokking"
    assert regime(1.0, 1.0, 200, 3000, 5000, grokking_ratio=20) == "comprehension"
    assert regime(None, None, None, None, None) is None


def test_known_algorithms_have_fixed_colours_and_any_other_name_gets_its_own():
    for name in ("clock", "clock-superposed", "pizza", "mixed", "fourier-incomplete", "non-fourier"):
        assert colour_of(name) == ALGORITHM_COLOURS[name]
    unknown = ["spiral", "helix", "abacus"]
    colours = {colour_of(n, unknown) for n in unknown}
    assert len(colours) == 3 and colours <= set(SPARE_COLOURS)


@pytest.mark.parametrize("kwargs,match", [
    (dict(x="weight_decay", y=("frac_train", [0.3])), "x='weight_decay'"),
    (dict(x=("weight_decay", []), y=("frac_train", [0.3])), "non-empty list"),
    (dict(x=("frac_train", [0.3]), y=("frac_train", [0.5])), "both vary 'frac_train'"),
    (dict(x=("seed", [0, 1]), y=("frac_train", [0.5])), "seeds are the repeats"),
    (dict(x=("weight_decay", [1.0]), y=("frac_train", [0.5]), seeds=0), "seeds=0"),
    (dict(x=("weight_dcay", [1.0]), y=("frac_train", [0.5])), "did you mean 'weight_decay'"),
    (dict(x=("weight_decay", [1.0]), y=("frac_train", [0.5]), weight_decay=2.0), "is also an axis"),
])
def test_bad_arguments_name_what_is_wrong(kwargs, match, tmp_path):
    with pytest.raises(fi.InvalidArgumentError, match=match):
        fi.phase_diagram("li2025-k2", out_dir=tmp_path, progress=False, **kwargs)
    assert not (tmp_path / "runs").exists()


def test_command_line(diagram, tmp_path, capsys):
    config = tmp_path / "phase.toml"
    config.write_text('preset = "li2025-k2"\nseeds = [0]\n'
                      'x = { name = "weight_decay", values = [0.1, 1.0] }\ny = { name = "frac_train", values = [0.4, 0.8] }\n'
                      '[overrides]\np = 7\nsteps = 60\neval_every = 20\n')
    assert main(["phase-diagram", str(config), "--out", str(diagram.out_dir), "--workers", "1", "--threads", "1",
                 "--quiet"]) == 0
    out = capsys.readouterr()
    assert "4 runs" in out.out and "phase_diagram.png" in out.err
    config.write_text('preset = "li2025-k2"\nx = { name = "weight_decay", values = [0.1] }\n')
    assert main(["phase-diagram", str(config), "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "y is missing" in err
    config.write_text('preset = "li2025-k2"\nx = ["weight_decay", [0.1]]\ny = ["lr", [0.001]]\nsteps = 5\n')
    assert main(["phase-diagram", str(config), "--out", str(tmp_path / "d")]) == 2
    assert "unknown key 'steps'" in capsys.readouterr().err
