"""Sweeps: the config, the table, reuse and resume, and every backend on a tiny sweep.

One tiny sweep (a small transformer at p = 11, 2 seeds x 2 attention rates, 200 steps) is
trained once on the local process pool; the other tests copy its directory or run a
subset of it, so the backends' rows can be compared value for value. Every run uses one
torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import fourier_interp as fi
from fourier_interp.errors import InvalidArgumentError
from fourier_interp.sweeps import load_config, plan_local, sweep
from fourier_interp.sweeps.backends import cpu_count, parse_gb, parse_minutes
from fourier_interp.sweeps.table import claim_column


TINY = {"p": 11, "steps": 200, "eval_every": 50, "frac_train": 0.8, "d_model": 16, "d_mlp": 32, "n_heads": 2, "d_head": 8}
CONFIG = {"name": "tiny", "preset": "zhong2023-clock", "grid": {"seed": [0, 1], "attn_coeff": [0.0, 1.0]}, "overrides": TINY}
# the same runs as CONFIG's attention-rate-1 half: same names, so rows compare one to one
SUBSET = {"name": "tiny", "preset": "zhong2023-clock", "grid": {"seed": [0, 1], "attn_coeff": [1.0]}, "overrides": TINY}
QUIET = dict(threads=1, progress=False)


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """CONFIG swept once on the local process pool: ``(result, out_dir)``."""
    out = tmp_path_factory.mktemp("sweep") / "tiny"
    result = sweep(CONFIG, out, workers=min(2, cpu_count()), csv=True, **QUIET)
    return result, out


def copy_of(done, tmp_path) -> Path:
    shutil.copytree(done[1], tmp_path / "copy")
    return tmp_path / "copy"


def rows_by_run(table: pd.DataFrame) -> dict[str, dict]:
    return {r["run"]: r for r in table.to_dict("records")}


def assert_same_rows(table, reference, columns):
    ours, ref = rows_by_run(table), rows_by_run(reference)
    for run, row in ours.items():
        for column in columns:
            a, b = row[column], ref[run][column]
            if isinstance(b, float):
                assert a == pytest.approx(b, rel=1e-6, abs=1e-9, nan_ok=True), (run, column)
            else:
                assert str(a) == str(b), (run, column)


def mtimes(out: Path) -> dict[str, int]:
    files = list(out.glob("runs/*/result.json")) + list(out.glob("runs/*/train/config.json"))
    return {str(f.relative_to(out)): f.stat().st_mtime_ns for f in files}


CLAIM_COLUMNS = ["passed", "algorithm", "key_frequencies", "test_acc", "train_loss", "claim_accuracy",
                 "claim_logits", "claim_gradient_symmetricity"]


# ---------------------------------------------------------------- the table
def test_table_has_one_row_per_run_with_config_verdict_and_claim_columns(done):
    result, out = done
    table = result.table
    assert len(table) == 4 and result.ran and not result.failed and not result.reused
    assert list(zip(table["seed"], table["attn_coeff"])) == [(0, 0.0), (0, 1.0), (1, 0.0), (1, 1.0)]
    assert set(table["status"]) == {"ok"} and set(table["preset"]) == {"zhong2023-clock"}
    assert set(table["family"]) == {"transformer"} and set(table["p"]) == {11} and set(table["steps"]) == {200}
    for column in ("passed", "algorithm", "key_frequencies", "n_key_frequencies", "grokked_step", "train_acc",
                   "test_acc", "wall_s", "error", "failed_claims", "claim_accuracy",
                   "claim_distance_irrelevance", "claim_attention"):
        assert column in table.columns, column
    assert set(table["algorithm"]) <= {"clock", "pizza", "mixed", "non-fourier"}
    assert (table["final_step"] == 200).all() and (table["training"] == "trained").all()

    on_disk = pd.read_parquet(out / "results.parquet")
    assert list(on_disk.columns) == list(table.columns) and len(on_disk) == 4
    assert [list(k) for k in on_disk["key_frequencies"]] == [list(k) for k in table["key_frequencies"]]
    csv = pd.read_csv(out / "results.csv")
    assert list(csv["run"]) == list(table["run"])
    for key in ("verdicts", "claims"):
        assert result.files[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rows_record_what_verify_says_of_each_saved_model(done):
    result, _ = done
    row = result.table.iloc[1]
    model, task = result.load(row["run"])
    report = fi.verify(model, task, history=fi.History.load(result.run_dir(row["run"]) / "train"))
    assert row["passed"] == report.passed and row["algorithm"] == str(report.algorithm)
    assert list(row["key_frequencies"]) == report.key_frequencies
    for claim in report.claims:
        value = row[claim_column(claim.key)]
        assert (value is None or pd.isna(value)) if claim.value is None else value == pytest.approx(claim.value)


def test_claim_columns_are_sanitised_names():
    assert claim_column("distance_irrelevance") == "claim_distance_irrelevance"
    assert claim_column("low_rank:W_hh") == "claim_low_rank_w_hh"
    assert claim_column("normalised L_{2,k+1} margin") == "claim_normalised_l_2_k_1_margin"


# ------------------------------------------------------------ reuse and resume
def test_a_second_call_reuses_every_run_and_retrains_nothing(done, tmp_path):
    out = copy_of(done, tmp_path)
    before = mtimes(out)
    again = sweep(CONFIG, out, workers=1, **QUIET)
    assert again.ran == [] and sorted(again.reused) == sorted(done[0].table["run"])
    assert mtimes(out) == before  # no result rewritten, no model retrained
    assert_same_rows(again.table, done[0].table, CLAIM_COLUMNS)


def test_an_interrupted_sweep_redoes_only_the_missing_run(done, tmp_path):
    out = copy_of(done, tmp_path)
    lost = done[0].table["run"].iloc[2]
    (out / "runs" / lost / "result.json").unlink()  # killed after training, before its row was written
    before = {k: v for k, v in mtimes(out).items() if not k.startswith(f"runs/{lost}/result")}
    again = sweep(CONFIG, out, workers=1, **QUIET)
    assert again.ran == [lost] and len(again.reused) == 3
    assert rows_by_run(again.table)[lost]["training"] == "loaded"  # verified again, not retrained
    assert {k: v for k, v in mtimes(out).items() if k in before} == before
    assert_same_rows(again.table, done[0].table, CLAIM_COLUMNS)


@pytest.mark.slow
def test_a_run_killed_while_training_resumes_from_its_checkpoint(tmp_path):
    config = {"preset": "li2025-k2", "overrides": {"p": 7, "frac_train": 0.8, "steps": 1500, "eval_every": 100,
                                                   "checkpoint_every": 100}}
    out = tmp_path / "killed"
    run = load_config(config).runs[0].name
    state = out / "runs" / run / "train" / "trainer_state" / "state.json"
    code = f"import fourier_interp.sweeps as s; s.sweep({config!r}, {str(out)!r}, workers=1, threads=1, progress=False)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                if json.loads(state.read_text())["step"] >= 100:
                    break
            except (OSError, ValueError, KeyError):
                pass  # not written yet, or being replaced
            assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "no checkpoint within 180 s"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "runs" / run / "result.json").exists() and not (out / "runs" / run / "train" / "config.json").exists()

    result = sweep(config, out, workers=1, **QUIET)
    row = rows_by_run(result.table)[run]
    assert row["status"] == "ok" and row["training"] == "resumed"
    assert 100 <= row["resumed_from_step"] < 1500 and row["final_step"] == 1500
    steps = [r["step"] for r in fi.History.load(out / "runs" / run / "train").records]
    assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == 1500  # nothing lost, nothing twice


def test_a_failing_run_is_recorded_and_retried_on_the_next_call(done, tmp_path, monkeypatch):
    out = copy_of(done, tmp_path)
    broken = done[0].table["run"].iloc[0]
    (out / "runs" / broken / "result.json").unlink()

    def boom(*args, **kwargs):
        raise RuntimeError("verify exploded")

    with monkeypatch.context() as m:
        m.setattr("fourier_interp.verification.verify", boom)
        failed = sweep(CONFIG, out, workers=1, **QUIET)
    assert failed.failed == [broken] and len(failed.table) == 4
    row = rows_by_run(failed.table)[broken]
    assert row["status"] == "failed" and row["error"] == "RuntimeError: verify exploded" and pd.isna(row["passed"])
    assert set(failed.table["status"]) == {"ok", "failed"}
    assert "verify exploded" in json.loads((out / "runs" / broken / "result.json").read_text())["traceback"]

    fixed = sweep(CONFIG, out, workers=1, **QUIET)
    assert fixed.ran == [broken] and not fixed.failed
    assert_same_rows(fixed.table, done[0].table, CLAIM_COLUMNS)


def test_seeds_trained_together_match_seeds_trained_alone(done, tmp_path):
    result = sweep(SUBSET, tmp_path / "together", workers=1, vectorize_seeds=True, **QUIET)
    assert set(result.table["training"]) == {"together"} and set(result.table["seeds_together"]) == {2}
    ref = rows_by_run(done[0].table)
    for run, row in rows_by_run(result.table).items():
        assert row["train_loss"] == pytest.approx(ref[run]["train_loss"], rel=1e-4)
        assert row["test_acc"] == pytest.approx(ref[run]["test_acc"], abs=0.01)


# --------------------------------------------------------------- backends
@pytest.mark.slow
def test_ray_backend_on_a_local_instance_gives_the_same_rows(done, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'fourier-interp[ray]'")
    result = sweep(SUBSET, tmp_path / "ray", backend="ray", **QUIET)
    assert len(result.table) == 2 and set(result.table["status"]) == {"ok"}, result.table["error"].tolist()
    assert_same_rows(result.table, done[0].table, CLAIM_COLUMNS)


@pytest.mark.slow
def test_slurm_backend_through_submitits_local_executor_gives_the_same_rows(done, tmp_path):
    pytest.importorskip("submitit", reason="submitit is not installed: pip install 'fourier-interp[slurm]'")
    out = tmp_path / "slurm"
    result = sweep(SUBSET, out, backend="slurm", slurm={"cluster": "local", "cpus": 1, "time": "0:10:00"}, **QUIET)
    assert len(result.table) == 2 and set(result.table["status"]) == {"ok"}, result.table["error"].tolist()
    assert_same_rows(result.table, done[0].table, CLAIM_COLUMNS)
    assert list((out / "slurm").glob("*_submitted.pkl"))  # it went through submitit


def test_slurm_backend_refuses_a_machine_without_slurm_unless_asked_for_the_local_executor(tmp_path):
    pytest.importorskip("submitit", reason="submitit is not installed: pip install 'fourier-interp[slurm]'")
    if shutil.which("sbatch"):
        pytest.skip("this machine has SLURM")
    with pytest.raises(InvalidArgumentError, match="no SLURM on this machine"):
        sweep(SUBSET, tmp_path / "s", backend="slurm", **QUIET)
    with pytest.raises(InvalidArgumentError, match="slurm option 'partion' is unknown"):
        sweep(SUBSET, tmp_path / "s", backend="slurm", slurm={"cluster": "local", "partion": "gpu"}, **QUIET)


def test_optional_backends_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(InvalidArgumentError, match=r"pip install 'fourier-interp\[ray\]'"):
        sweep(SUBSET, tmp_path / "r", backend="ray", **QUIET)
    with pytest.raises(InvalidArgumentError, match=r"pip install 'fourier-interp\[slurm\]'"):
        sweep(SUBSET, tmp_path / "s", backend="slurm", **QUIET)
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_local_pool_never_oversubscribes_the_cores():
    assert plan_local(None, None, cores=8) == (8, 1)
    assert plan_local(2, None, cores=8) == (2, 4)
    assert plan_local(None, 3, cores=8) == (2, 3)
    with pytest.raises(InvalidArgumentError, match="exceeds the 2 CPU cores"):
        plan_local(4, 1, cores=2)
    with pytest.raises(InvalidArgumentError, match="exceeds"):
        plan_local(None, 3, cores=2)
    with pytest.raises(InvalidArgumentError, match="workers=0"):
        plan_local(0, None, cores=2)


def test_slurm_time_and_memory_parse():
    assert parse_minutes(90) == 90 and parse_minutes("30") == 30 and parse_minutes("1:30:00") == 90
    assert parse_minutes("2-00:00:00") == 2880 and parse_minutes("1-12") == 2160 and parse_minutes("10:30") == 11
    assert parse_gb("8G") == 8 and parse_gb("512M") == 0.5 and parse_gb(16) == 16 and parse_gb("1TB") == 1024
    for bad in ("soon", "0"):
        with pytest.raises(InvalidArgumentError, match="slurm time"):
            parse_minutes(bad)
    with pytest.raises(InvalidArgumentError, match="slurm mem"):
        parse_gb("lots")


# ------------------------------------------------------------------ tracking
def test_wandb_logger_writes_each_run_offline_under_out_dir(done, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    out = copy_of(done, tmp_path)
    redo = done[0].table["run"].iloc[3]
    (out / "runs" / redo / "result.json").unlink()
    result = sweep(CONFIG, out, workers=1, logger=fi.sweeps.WandbLogger(project="tiny"), **QUIET)
    assert result.ran == [redo]
    runs = list(out.glob("wandb/offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


# ------------------------------------------------------------------ config
@pytest.mark.parametrize(
    "config, message",
    [
        ({"preset": "zhong2023-clock", "gird": {}}, r"^gird: unknown key; did you mean 'grid'\?"),
        ({"grid": {"seed": [0]}}, r"^preset: missing"),
        ({"preset": "nanda"}, r"^preset: unknown preset 'nanda'; did you mean 'nanda2023'\?"),
        ({"preset": "zhong2023-clock", "grid": {"seed": []}}, r"^grid.seed: the list is empty"),
        ({"preset": "zhong2023-clock", "grid": {"seed": 3}}, r"^grid.seed: expected a list of values, got int 3"),
        ({"preset": "zhong2023-clock", "grid": {"seed": [0, -1]}}, r"^grid.seed: -1 is not an int >= 0"),
        ({"preset": "zhong2023-clock", "grid": {"attn_coef": [0.0]}}, r"^grid.attn_coef: not a setting .*did you mean 'attn_coeff'\?"),
        ({"preset": "zhong2023-clock", "overrides": {"steps": "300"}}, r"^overrides.steps: expected an int, got str '300'"),
        ({"preset": "zhong2023-clock", "overrides": {"lr": True}}, r"^overrides.lr: expected a number, got bool"),
        ({"preset": "zhong2023-clock", "overrides": {"out_dir": "x"}}, r"^overrides.out_dir: out_dir cannot be set here"),
        ({"preset": "zhong2023-clock", "overrides": {"seed": 1}}, r"^overrides.seed: .*grid.seed"),
        ({"preset": "zhong2023-clock", "grid": {"p": [11]}, "overrides": {"p": 13}}, r"overrides.p and grid.p"),
        ({"preset": "zhong2023-clock", "grid": {"p": [11, 11]}}, r"^grid.p: \[11, 11\] repeats a value"),
        ({"preset": "zhong2023-clock", "grid": {"p": [2]}}, r"^run p=2: .*p=2"),
        ({"grid": {"preset": ["li2025-k2", "nanda2023"]}, "overrides": {"attn_coeff": 0.5}},
         r"^overrides.attn_coeff: not a setting of preset 'li2025-k2' \(HookedMLP\).*\[overrides.PRESET\]"),
        ({"preset": "li2025-k2", "overrides": {"nanda2023": {"d_mlp": 64}}}, r"^overrides.nanda2023: a sub-table must name a preset"),
        ({"preset": "li2025-k2", "preset_": 1}, r"^preset_: unknown key"),
        ({"preset": "li2025-k2", "verify": {"logit_frac": 0.5}}, r"^verify.logit_frac: .*did you mean 'logit_fraction'\?"),
        ({"grid": {"family": ["transformer", "cnn"]}}, r"^grid.family: unknown family 'cnn'"),
    ],
)
def test_config_errors_name_the_key(config, message):
    with pytest.raises(InvalidArgumentError, match=message):
        load_config(config)


def test_config_expands_families_presets_and_per_preset_overrides():
    config = load_config({"grid": {"family": ["mlp", "transformer"], "seed": [0, 1]},
                          "overrides": {"p": 7, "steps": 10, "nanda2023": {"d_mlp": 64}}})
    assert [(r.preset, r.seed) for r in config.runs] == [("li2025-k2", 0), ("li2025-k2", 1), ("nanda2023", 0), ("nanda2023", 1)]
    assert config.runs[2].overrides == {"p": 7, "steps": 10, "d_mlp": 64} and "d_mlp" not in config.runs[0].overrides
    assert len({r.name for r in config.runs}) == 4
    # a run's name depends on its settings only: the same run in another sweep has the same name
    other = load_config({"preset": "nanda2023", "overrides": {"p": 7, "steps": 10, "d_mlp": 64}})
    assert other.runs[0].name == config.runs[2].name
    assert load_config({"preset": "zhong2023-clock", "grid": {"attn_coeff": [0, 1]}}).runs[0].overrides == {"attn_coeff": 0.0}


def test_example_configs_are_valid():
    from fourier_interp.sweeps.examples import example_path, list_examples

    config = load_config(example_path("sweep-small"))
    assert config.name == "clock-vs-pizza-small" and len(config.runs) == 4 and config.varied == ["seed", "attn_coeff"]
    assert all(load_config(example_path(name)).runs for name in list_examples())
    with pytest.raises(InvalidArgumentError, match="'nope' is not a shipped sweep config"):
        example_path("nope")


def test_toml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("preset = 'zhong2023-clock'\n[grid\n")
    with pytest.raises(InvalidArgumentError, match="bad.toml: not valid TOML"):
        load_config(bad)
    with pytest.raises(InvalidArgumentError, match="no such file"):
        load_config(tmp_path / "missing.toml")


# ---------------------------------------------------------------------- CLI
def parse(argv):
    from fourier_interp.sweeps.cli import add_sweep_parser

    parser = argparse.ArgumentParser()
    add_sweep_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def write_toml(path: Path) -> Path:
    lines = ['name = "tiny"', 'preset = "zhong2023-clock"', "[grid]", "seed = [0, 1]", "attn_coeff = [0.0, 1.0]",
             "[overrides]"] + [f"{k} = {v}" for k, v in TINY.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_sweep_reuses_a_finished_sweep_and_reports_it(done, tmp_path, capsys):
    from fourier_interp.cli import UsageError
    from fourier_interp.sweeps.cli import cmd_sweep

    out, toml = copy_of(done, tmp_path), write_toml(tmp_path / "tiny.toml")
    assert cmd_sweep(parse(["sweep", str(toml), "--out", str(out), "--dry-run"])) == 0
    assert capsys.readouterr().out.count("done ") == 4
    assert cmd_sweep(parse(["sweep", str(toml), "--out", str(out), "--quiet", "--threads", "1", "--csv"])) == 0
    printed = capsys.readouterr()
    assert "4 runs (0 ran, 4 reused, 0 failed)" in printed.out and "results.csv" in printed.err

    toml.write_text(toml.read_text().replace("attn_coeff", "attn_coef"))
    with pytest.raises(UsageError, match="grid.attn_coef: not a setting"):
        cmd_sweep(parse(["sweep", str(toml), "--out", str(out)]))
    with pytest.raises(UsageError, match="--partition belong to --backend slurm"):
        cmd_sweep(parse(["sweep", str(toml), "--out", str(out), "--partition", "gpu"]))


def test_progress_measures_are_recorded_at_every_evaluation_and_change_the_fingerprint(tmp_path):
    config = {**SUBSET, "grid": {"seed": [0], "attn_coeff": [1.0]}, "progress_measures": True}
    result = sweep(config, tmp_path / "pm", workers=1, **QUIET)
    assert not result.failed
    (spec,) = load_config(config).runs
    (plain,) = load_config({**config, "progress_measures": False}).runs
    assert spec.progress_measures and not plain.progress_measures and spec.fingerprint != plain.fingerprint
    history = fi.History.load(tmp_path / "pm" / "runs" / spec.name / "train")
    evaluations = [r for r in history.records if "test_loss" in r]
    assert len(evaluations) == TINY["steps"] // TINY["eval_every"] + 1
    # every evaluation carries the measures and the frequencies they used (none yet: no value)
    for r in evaluations:
        assert "progress_freqs" in r and r["embed_gini"] is not None
        assert (r["restricted_loss"] is None) == (not r["progress_freqs"]) == (r["excluded_loss"] is None)
    row = result.table.iloc[0]
    phases = fi.locate_phases(history, p=TINY["p"]).to_dict()
    assert (None if pd.isna(row["memorisation_end"]) else row["memorisation_end"]) == phases["memorisation_end"]
    with pytest.raises(InvalidArgumentError, match="progress_measures"):
        load_config({**config, "progress_measures": "yes"})


@pytest.mark.slow
def test_the_clock_vs_pizza_example_names_a_clock_and_a_pizza(tmp_path):
    """The shipped example does what its comment says (seed 0 of its two seeds: one run per attention kind)."""
    import tomllib

    from fourier_interp.sweeps.examples import example_path

    config = tomllib.loads(example_path("sweep-small").read_text())
    config["grid"]["seed"] = [0]
    result = fi.sweep(config, tmp_path / "out", workers=1, threads=1, progress=False)
    names = {float(row["attn_coeff"]): row["algorithm"] for _, row in result.table.iterrows()}
    assert names == {0.0: "pizza", 1.0: "clock"}, names
