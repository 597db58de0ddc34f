"""The fourier-interp command: help, one-line errors with status 2, train and list."""

import subprocess
import sys

import pytest

import fourier_interp as fi
from fourier_interp.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "fourier_interp.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("command", [[], ["train"], ["verify"], ["list"]])
def test_help_on_every_command(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert "usage: fourier-interp" in result.stdout


@pytest.mark.parametrize(
    "args,match",
    [
        (["train", "--model", "cnn", "--out", "x"], "invalid choice: 'cnn'"),
        (["train", "--model", "rnn"], "--out"),
        (["train", "--model", "rnn", "--p", "seven", "--out", "x"], "invalid int value: 'seven'"),
        (["train", "--model", "rnn", "--preset", "nanda2023", "--out", "x"], "trains a transformer"),
        (["verify", "--pretrained", "nope"], "unknown pretrained model 'nope'"),
        (["verify", "--checkpoint", "/no/such/dir"], "no such directory"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_2(args, match):
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert match in lines[0]


def test_bad_values_caught_by_the_library_are_one_line_too(tmp_path):
    result = run_cli("train", "--model", "mlp", "--p", "1", "--steps", "2", "--out", str(tmp_path / "run"), "--quiet")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "p=1" in result.stderr.strip().splitlines()[-1]


def test_train_writes_a_loadable_run_and_refuses_to_overwrite_it(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--model", "mlp", "--p", "7", "--steps", "20", "--seed", "1", "--out", str(out), "--quiet"])
    assert code == 0
    model, task = fi.load(out, with_task=True)
    assert isinstance(model, fi.HookedMLP) and task.p == 7 and task.seed == 1
    assert "done: step 20" in capsys.readouterr().out
    assert main(["train", "--model", "mlp", "--p", "7", "--steps", "20", "--out", str(out), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["train", "--model", "mlp", "--p", "7", "--steps", "30", "--seed", "1", "--out", str(out), "--quiet", "--resume"]) == 0
    assert fi.History.load(out).records[-1]["step"] == 30


def test_list_names_every_shipped_model(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in fi.list_pretrained():
        assert name in out
    assert "nanda2023" in out
