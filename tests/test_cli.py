"""The fourier-interp command: help, one-line errors with status 2, train and list."""

import json
import subprocess
import sys

import pytest
import torch

import fourier_interp as fi
from fourier_interp import cli
from fourier_interp.cli import main
from fourier_interp.tasks import MIN_P


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "fourier_interp.cli", *args], capture_output=True, text=True)


def run_module(*args):
    return subprocess.run([sys.executable, "-m", "fourier_interp", *args], capture_output=True, text=True)


class BuggyMLP(fi.HookedMLP):
    """A model with a bug: once ``broken`` is set, building it or running it raises ``error``,
    the kind of exception a user mistake also raises."""

    broken, error = None, ValueError

    def __init__(self, cfg):
        if self.broken == "init":
            raise self.error("a bug inside the model")
        super().__init__(cfg)

    def forward(self, inputs):
        if self.broken == "forward":
            raise self.error("a bug inside the model")
        return super().forward(inputs)


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


def test_list_names_the_shipped_sweep_configs(capsys):
    from fourier_interp.sweeps.examples import list_examples

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert list_examples() == ["sweep-small", "zhong2023"]
    assert all(f"  {name}\n" in out for name in list_examples())


def test_version_is_the_package_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"fourier-interp {fi.__version__}"


# The command line answers these without importing torch: run each in a fresh interpreter and
# look at sys.modules afterwards. (Times are not asserted; the absence of torch is the cause.)
TORCH_FREE = [
    ["--help"], ["--version"], ["list"], ["sweep", "--help"], ["train", "--help"], ["verify", "--help"],
    ["frobnicate"],
    ["train", "--model", "mlp", "--p", "2", "--out", "x"],
    ["train", "--model", "rnn", "--preset", "nanda2023", "--out", "x"],
    ["verify", "--pretrained", "nope"],
    ["verify", "--checkpoint", "/no/such/dir"],
    ["sweep", "--example", "nope", "--out", "x"],
    ["sweep", "--out", "x"],
    ["sweep", "--example", "sweep-small", "--out", "x", "--partition", "a"],
    ["sweep", "--example", "sweep-small", "--out", "x", "--address", "auto"],
    ["sweep", "status"],
    ["sweep", "collect", "x", "--out", "y"],
    ["sweep", "--example", "sweep-small", "--out", "x", "--detach"],
]


@pytest.mark.parametrize("args", TORCH_FREE, ids=" ".join)
def test_help_list_version_and_argument_errors_do_not_import_torch(args):
    code = (
        "import contextlib, io, json, sys\n"
        "from fourier_interp.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    try:\n"
        "        status = main(sys.argv[1:])\n"
        "    except SystemExit as e:  # --help and --version exit through argparse\n"
        "        status = e.code\n"
        "print(json.dumps({'status': status, 'torch': 'torch' in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["status"] in (0, 2)
    assert outcome["torch"] is False


def test_a_command_that_does_work_does_import_torch():
    # the negative control: the check above can see torch when it is loaded
    code = ("import sys\nfrom fourier_interp.cli import main\nfrom fourier_interp.sweeps import cpu_count\n"
            "import fourier_interp as fi\nfi.ModularArithmetic\nprint('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "True", result.stderr


def test_python_dash_m_is_the_same_command():
    via_module, via_cli = run_module("list"), run_cli("list")
    assert via_module.returncode == 0 and via_module.stdout == via_cli.stdout
    assert "nanda2023" in via_module.stdout
    assert "usage: fourier-interp" in run_module("train", "--help").stdout
    bad = run_module("train", "--model", "mlp", "--p", "2", "--out", "x")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [bad.stderr.strip()]


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.mark.parametrize("args,match", [
    pytest.param(["--device", "cuda"], "--device='cuda': CUDA is not available", marks=NO_CUDA),
    (["--device", "cuda:99"], "--device='cuda:99'"),
    (["--device", "cpu:banana"], "--device='cpu:banana' is not a torch device"),
    (["--device", "tpu"], "--device='tpu' is not a torch device"),
    (["--device", "meta"], "--device='meta' holds no values"),
    (["--p", "2"], "argument --p: p=2 is not allowed; expected an int >= 3"),
    (["--p", "1"], "p=1 is not allowed"),
    (["--p", "-7"], "p=-7 is not allowed"),
    (["--k", "0"], "argument --k: k=0 is not allowed; expected an int >= 1"),
    (["--steps", "-1"], "argument --steps: steps=-1 is not allowed; expected an int >= 0"),
    (["--seed", "-1"], "seed=-1 is not allowed"),
    (["--frac-train", "1.5"], "argument --frac-train: frac-train=1.5 is outside (0, 1]"),
    (["--frac-train", "0"], "frac-train=0 is outside (0, 1]"),
    (["--frac-train", "nan"], "frac-train=nan is outside (0, 1]"),
    (["--early-stop", "2"], "early-stop=2 is outside (0, 1]"),
    (["--checkpoint-every", "0"], "checkpoint-every=0 is not allowed"),
    (["--threads", "0"], "argument --threads: threads=0 is not allowed"),
    (["--threads", "many"], "argument --threads: threads='many' is not allowed; expected 'auto' or an int >= 1"),
    (["--p", "1000", "--k", "3"], "too large a grid"),  # found by the library's own check, before any work
    (["--resume"], "holds no run to continue"),
])
def test_every_train_argument_is_checked_before_work_starts(args, match, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--model", "mlp", "--p", "5", "--steps", "2", "--quiet", "--out", str(out), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert match in err[0]
    assert not out.exists()  # nothing started, nothing written


def test_every_verify_argument_is_checked_before_work_starts(tmp_path, capsys):
    fi.HookedMLP(fi.MLPConfig(p=5)).save(tmp_path / "no_task")
    (tmp_path / "empty").mkdir()
    for args, match in [
        (["--checkpoint", str(tmp_path / "nope")], "no such directory"),
        (["--checkpoint", str(tmp_path / "empty")], "config.json: missing"),
        (["--checkpoint", str(tmp_path / "no_task")], "records no task"),
        (["--pretrained", "nope"], "unknown pretrained model 'nope'"),
        (["--threads", "-1"], "threads=-1 is not allowed"),
        (["--out", str(tmp_path / "no_task" / "config.json")], "exists and is not a directory"),
    ]:
        assert main(["verify", *args]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0], (args, err)


@pytest.mark.parametrize("where", ["init", "forward"])
@pytest.mark.parametrize("error", [ValueError, TypeError])
def test_a_bug_in_the_library_or_model_stays_a_traceback(where, error, tmp_path, monkeypatch):
    BuggyMLP(fi.MLPConfig(p=5)).save(tmp_path / "buggy", task=fi.ModularArithmetic(p=5))
    monkeypatch.setattr(BuggyMLP, "broken", where)  # "init": fi.load fails while rebuilding the model
    monkeypatch.setattr(BuggyMLP, "error", error)
    with pytest.raises(error, match="a bug inside the model"):
        main(["verify", "--checkpoint", str(tmp_path / "buggy"), "--out", str(tmp_path / "report")])


def test_the_cli_refuses_the_moduli_the_library_refuses():
    assert cli.MIN_P == MIN_P
    with pytest.raises(fi.InvalidArgumentError, match="p=2"):
        fi.ModularArithmetic(p=cli.MIN_P - 1)
    fi.ModularArithmetic(p=cli.MIN_P)


def test_threads_option_trains_and_leaves_torch_as_it_was(tmp_path, capsys):
    before = torch.get_num_threads()
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--p", "5", "--steps", "3", "--threads", "1", "--quiet", "--out", str(out)]) == 0
    assert torch.get_num_threads() == before
    config = json.loads((out / "config.json").read_text())
    assert config["metadata"]["train_config"]["threads"] == 1 and config["metadata"]["step"] == 3
    out = tmp_path / "auto"  # the default, spelled out
    assert main(["train", "--model", "mlp", "--p", "5", "--steps", "2", "--threads", "auto", "--quiet", "--out", str(out)]) == 0
    assert torch.get_num_threads() == before
    assert json.loads((out / "config.json").read_text())["metadata"]["train_config"]["threads"] == "auto"
