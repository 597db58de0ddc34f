"""The standing bad-input suite: every mistake gets one clear line, never a traceback or a silent wrong answer.

Grouped by surface:

* **checkpoints** — a fuzz of the loader (truncations, byte flips, edited JSON fields, wrong
  types, huge shapes, links and names leading out of the folder): ``fi.load`` raises one
  :class:`fi.CheckpointError` line, reads nothing outside the folder and writes nothing;
  ``fourier-interp verify --checkpoint`` exits 2 with one line.
* **memory** — runs whose estimated peak exceeds the free memory are refused before
  allocating (``FOURIER_INTERP_MEMORY_LIMIT`` sets a small ceiling, so nothing large is built).
* **arguments at the door** — frequency, unit, seed and hook-name lists of the wrong type,
  a modulus that is not prime, a Ray address that does not answer.
* **the command line** — through a subprocess, as a user meets it: one line on stderr, exit 2.
* **the Python API** — directly: the named error type, the argument named in the message.

The README's promise for the command line (a mistake prints one line and exits with
status 2) is checked over every CLI case here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fourier_interp as fi
from fourier_interp import storage

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------- helpers
def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "fourier_interp", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def assert_one_line_exit_2(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The README's promise: a mistake prints one line (on stderr) and exits with status 2."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, f"exit {proc.returncode}: {proc.stderr[-3000:]}"
    assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{proc.stderr[-3000:]}"
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def one_line(error: BaseException) -> str:
    text = str(error)
    assert text and "\n" not in text, repr(text)
    return text


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time: to show nothing was written."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


class OpenedFiles:
    """The paths this process opens while active (a Python audit hook: ``open`` events)."""

    _installed = False
    _active: list[list[str]] = []

    def __enter__(self) -> list[str]:
        if not OpenedFiles._installed:
            sys.addaudithook(OpenedFiles._hook)
            OpenedFiles._installed = True
        self.paths: list[str] = []
        OpenedFiles._active.append(self.paths)
        return self.paths

    def __exit__(self, *exc) -> None:
        OpenedFiles._active.remove(self.paths)

    @staticmethod
    def _hook(event: str, args) -> None:
        if event == "open" and OpenedFiles._active and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.fsdecode(args[0])
            for paths in OpenedFiles._active:
                paths.append(path)


# ============================================================= checkpoints
P = 7


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    """A small trained transformer saved with its task and history (a checkpoint as users have them)."""
    root = tmp_path_factory.mktemp("original")
    model = fi.HookedTransformer(fi.TransformerConfig(p=P, d_model=16, n_heads=2, d_head=8, d_mlp=32))
    task = fi.ModularArithmetic(p=P, frac_train=0.6)
    history = fi.train(model, task, fi.TrainConfig(steps=4, eval_every=2, progress=False, threads=1))
    model.save(root / "ckpt", task=task, history=history, metadata={"note": "fuzz"})
    return root / "ckpt"


def fresh(original: Path, tmp_path: Path) -> tuple[Path, dict, Path]:
    """A copy of the checkpoint inside ``tmp_path/inside`` (so ``tmp_path`` has room outside it)."""
    path = tmp_path / "inside" / "ckpt"
    shutil.copytree(original, path)
    config = json.loads((path / "config.json").read_text())
    return path, config, path / config["weights"]["file"]


def rehashed(config: dict) -> str:
    """``config`` as a file whose content hash was recomputed: what a buggy writer (not an edit) would leave."""
    return json.dumps({**config, storage.CONTENT_HASH: storage.content_hash(config)}, indent=2)


def load_refused(path: Path, outside: Path, *needles: str) -> str:
    """``fi.load(path, with_task=True)`` raises one CheckpointError line, opens nothing under ``outside``
    except inside ``path``, and writes nothing."""
    before = snapshot(outside)
    with OpenedFiles() as opened:
        with pytest.raises(fi.CheckpointError) as info:
            fi.load(path, with_task=True)
    message = one_line(info.value)
    for needle in needles:
        assert needle in message, (needle, message)
    escaped = opened_outside(opened, path)
    assert not escaped, f"opened outside the checkpoint: {escaped}"
    assert snapshot(outside) == before, "the loader wrote something"
    return message


def opened_outside(opened: list[str], folder: Path) -> list[str]:
    """Opened files that are neither in ``folder`` nor code (Python's installation, this repository)."""
    allowed = [os.path.realpath(folder) + os.sep] + [os.path.realpath(p) + os.sep for p in
                                                     {sys.prefix, sys.base_prefix, str(ROOT / "fourier_interp")}]
    return [p for p in opened if not any(os.path.realpath(p).startswith(a) for a in allowed)]


def leaves(value, prefix=()):
    """``(path, value)`` for every leaf of a JSON value."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from leaves(v, prefix + (k,))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from leaves(v, prefix + (i,))
    else:
        yield prefix, value


def set_at(value, path, new):
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return copy


def edited(value):
    """A plausible edit of a JSON leaf of the same type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.5 + 0.25
    if isinstance(value, str):
        return value + "x"
    if value is None:
        return 0
    return [] if isinstance(value, dict) else {}


WRONG_TYPES = [None, "7", -1, 0, 2.5, 10**30, True, [], {}, [1, 2], {"a": 1}, "../../etc/passwd"]


@pytest.mark.parametrize("target", ["config.json", "weights"])
def test_truncations_are_refused_in_one_line(original, tmp_path, target):
    path, config, weights = fresh(original, tmp_path)
    file = path / "config.json" if target == "config.json" else weights
    data = file.read_bytes()
    body = len(data.rstrip())  # a cut in the trailing newline is no damage
    for cut in (0, 1, 7, body // 3, body // 2, body - 2, body - 1):
        file.write_bytes(data[:cut])
        load_refused(path, tmp_path, file.name)
    file.write_bytes(data)
    fi.load(path)  # the untouched bytes still load: the refusals were about the damage


@pytest.mark.parametrize("target", ["config.json", "weights"])
def test_byte_flips_are_refused_in_one_line(original, tmp_path, target):
    path, config, weights = fresh(original, tmp_path)
    file = path / "config.json" if target == "config.json" else weights
    data = file.read_bytes()
    for at in sorted({0, 1, 9, len(data) // 5, len(data) // 2, 3 * len(data) // 4, len(data) - 3}):
        for mask in (0x01, 0x80, 0xFF):
            flipped = bytearray(data)
            flipped[at] ^= mask
            if target == "config.json" and bytes(flipped).strip() == data.strip():
                continue  # whitespace that is still whitespace
            file.write_bytes(bytes(flipped))
            try:
                reread = json.loads(bytes(flipped)) if target == "config.json" else None
            except (ValueError, UnicodeDecodeError):
                reread = None
            if reread is not None and reread == config:
                continue  # a flip inside insignificant whitespace that JSON ignores
            load_refused(path, tmp_path)
    file.write_bytes(data)
    fi.load(path)


def test_every_edited_json_field_is_caught_by_the_content_hash(original, tmp_path):
    path, config, _ = fresh(original, tmp_path)
    edits = 0
    for where, value in leaves(config):
        if where == (storage.CONTENT_HASH,):
            continue
        (path / "config.json").write_text(json.dumps(set_at(config, where, edited(value)), indent=2))
        first_checked = where[0] in ("format", "format_version")  # these are read before the hash
        load_refused(path, tmp_path, "config.json", *(() if first_checked else ("SHA-256",)))
        edits += 1
    assert edits > 40  # every field of the config, task, weights record, metadata and versions


def test_fields_of_the_wrong_type_are_refused_in_one_line_even_with_a_valid_hash(original, tmp_path):
    """Past the hash (a config written wrong, not edited): each field of a wrong type is one line or harmless."""
    path, config, _ = fresh(original, tmp_path)
    refused = 0
    targets = [w for w, _ in leaves(config) if w[0] not in ("versions", "saved_at", storage.CONTENT_HASH)]
    targets += [(key,) for key in config if key != storage.CONTENT_HASH]
    for where in targets:
        for new in WRONG_TYPES:
            (path / "config.json").write_text(rehashed({k: v for k, v in set_at(config, where, new).items()
                                                        if k != storage.CONTENT_HASH}))
            before = snapshot(tmp_path)
            with OpenedFiles() as opened:
                try:
                    fi.load(path, with_task=True)
                except fi.CheckpointError as e:
                    one_line(e)
                    refused += 1
                except BaseException as e:  # anything else is a bug in the loader
                    pytest.fail(f"{'.'.join(map(str, where))} = {new!r}: {type(e).__name__}: {e}")
            assert snapshot(tmp_path) == before
            assert not opened_outside(opened, path), (where, new)
    assert refused > 100


@pytest.mark.parametrize("field,value", [("d_mlp", 10**9), ("d_model", 2**40), ("p", 10**6), ("n_layers", 10**7)])
def test_a_config_building_a_huge_model_is_refused_before_allocating_it(original, tmp_path, field, value):
    path, config, _ = fresh(original, tmp_path)
    config = {**config, "config": {**config["config"], field: value}}
    if field == "p":
        config["task"] = {**config["task"], "p": value}
    (path / "config.json").write_text(rehashed({k: v for k, v in config.items() if k != storage.CONTENT_HASH}))
    load_refused(path, tmp_path, "config.json")  # a real allocation would need terabytes: this returned at once


def test_a_weights_record_claiming_huge_shapes_is_refused(original, tmp_path):
    path, config, _ = fresh(original, tmp_path)
    shapes = {**config["weights"]["shapes"], "W_E": [10**12, 10**6]}
    config = {**config, "weights": {**config["weights"], "shapes": shapes}}
    (path / "config.json").write_text(rehashed({k: v for k, v in config.items() if k != storage.CONTENT_HASH}))
    load_refused(path, tmp_path, "W_E")


@pytest.mark.parametrize("name", ["../outside.safetensors", "../../inside/ckpt/../outside.safetensors", "/etc/passwd",
                                  "sub/model.safetensors", "..", ".", "", "a\\b.safetensors", "x\0y"])
def test_file_names_leading_out_of_the_folder_are_refused_before_opening(original, tmp_path, name):
    path, config, weights = fresh(original, tmp_path)
    shutil.copy(weights, tmp_path / "inside" / "outside.safetensors")  # a valid file: opening it would succeed
    (path / "sub").mkdir()
    shutil.copy(weights, path / "sub" / "model.safetensors")
    config = {**config, "weights": {**config["weights"], "file": name}}
    (path / "config.json").write_text(rehashed({k: v for k, v in config.items() if k != storage.CONTENT_HASH}))
    load_refused(path, tmp_path, "plain file name")


def test_links_out_of_the_folder_are_refused_before_opening(original, tmp_path):
    path, config, weights = fresh(original, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.move(weights, outside / weights.name)  # the weights now live outside; the folder links to them
    os.symlink(outside / weights.name, weights)
    load_refused(path, tmp_path, "is a link")
    weights.unlink()
    shutil.move(outside / weights.name, weights)
    shutil.move(path / "config.json", outside / "config.json")
    os.symlink(outside / "config.json", path / "config.json")
    load_refused(path, tmp_path, "is a link")


def test_a_malformed_history_is_one_line(original, tmp_path):
    path, _, _ = fresh(original, tmp_path)
    for text in ("", "{", "[]", '{"records": 3}', '{"records": [{"no_step": 1}]}', '{"checkpoints": [[1]]}'):
        (path / "history.json").write_text(text)
        with pytest.raises(fi.CheckpointError, match="history.json"):
            fi.History.load(path)


def test_a_format_version_from_the_future_or_the_past(original, tmp_path):
    path, config, _ = fresh(original, tmp_path)
    future = {k: v for k, v in config.items() if k != storage.CONTENT_HASH} | {"format_version": 3}
    (path / "config.json").write_text(rehashed(future))
    load_refused(path, tmp_path, "format_version 3 is not supported", "reads versions 1, 2")
    # version 1 (before config.json was hashed) still loads: the shipped checkpoints were migrated, others may not be
    old = {k: v for k, v in config.items() if k != storage.CONTENT_HASH} | {"format_version": 1}
    (path / "config.json").write_text(json.dumps(old))
    model, task = fi.load(path, with_task=True)
    assert task.p == P and torch.equal(model.W_E, fi.load(original).W_E)


def test_every_shipped_checkpoint_is_in_the_current_format_and_loads():
    for name in fi.list_pretrained():
        config = json.loads((fi.pretrained.pretrained_path(name) / "config.json").read_text())
        assert config["format_version"] == storage.FORMAT_VERSION
        assert config[storage.CONTENT_HASH] == storage.content_hash(config)


CLI_CHECKPOINT_CASES = {
    "edited-task-p": lambda path, config, weights: (path / "config.json").write_text(
        json.dumps(set_at(config, ("task", "p"), 11))),
    "rehashed-task-p": lambda path, config, weights: (path / "config.json").write_text(
        rehashed({k: v for k, v in set_at(config, ("task", "p"), 11).items() if k != storage.CONTENT_HASH})),
    "weights-outside": lambda path, config, weights: (path / "config.json").write_text(
        rehashed({k: v for k, v in set_at(config, ("weights", "file"), "../../../../etc/passwd").items()
                  if k != storage.CONTENT_HASH})),
    "truncated-weights": lambda path, config, weights: weights.write_bytes(weights.read_bytes()[:100]),
    "broken-history": lambda path, config, weights: (path / "history.json").write_text("{\"records\": 5}"),
}


@pytest.mark.parametrize("case", sorted(CLI_CHECKPOINT_CASES))
def test_cli_verify_of_a_damaged_checkpoint_is_one_line_exit_2(original, tmp_path, case):
    path, config, weights = fresh(original, tmp_path)
    CLI_CHECKPOINT_CASES[case](path, config, weights)
    before = snapshot(tmp_path / "inside")
    proc = run_cli("verify", "--checkpoint", str(path), "--out", str(tmp_path / "report"), "--threads", "1")
    assert_one_line_exit_2(proc, str(path))
    assert snapshot(tmp_path / "inside") == before and not (tmp_path / "report").exists()


# ================================================================== memory
def test_forward_bytes_grows_with_rows_and_width():
    from fourier_interp.checks import forward_bytes

    narrow, wide = (fi.HookedMLP(fi.MLPConfig(p=11, d_hidden=d)) for d in (32, 256))
    for model in (narrow, wide):
        a, b, c = (forward_bytes(model, 2, n) for n in (100, 200, 300))
        assert b - a == c - b > 0  # a fixed part and an exact per-row part
    per_row = [forward_bytes(m, 2, 2) - forward_bytes(m, 2, 1) for m in (narrow, wide)]
    assert per_row[0] >= 32 * 4 and per_row[1] >= 256 * 4 and per_row[1] > 4 * per_row[0]


def test_training_that_would_not_fit_is_refused_with_a_batch_size_that_does(monkeypatch):
    # full batch over 90% of p = 113's grid: the step's activations outgrow the evaluations' passes
    model, task, cfg = fi.from_preset("nanda2023", p=113, frac_train=0.9, steps=1, progress=False, threads=1)
    monkeypatch.setenv("FOURIER_INTERP_MEMORY_LIMIT", "200M")  # the passes' estimate fits (~106 MiB), the step's does not (~236 MiB)
    with pytest.raises(fi.errors.InsufficientMemoryError) as info:
        fi.train(model, task, cfg)
    message = one_line(info.value)
    assert "training step over 11,492 rows" in message and "200.0 MiB is free" in message
    fits = int(message.split("TrainConfig(batch_size=")[1].split(")")[0].replace(",", ""))
    assert 1 <= fits < 11492
    cfg.batch_size = fits
    fi.train(model, task, cfg)  # the size it named passes the check and trains


def test_a_grid_whose_logits_would_not_fit_is_refused_naming_the_grid(monkeypatch):
    from fourier_interp.evaluation import grid_logits

    model, task = fi.HookedMLP(fi.MLPConfig(p=23, k=3, form="power", d_hidden=64)), fi.ModularArithmetic(p=23, k=3)
    monkeypatch.setenv("FOURIER_INTERP_MEMORY_LIMIT", "2M")
    with pytest.raises(fi.errors.InsufficientMemoryError) as info:
        grid_logits(model, task)
    assert "12,167 grid rows x 23 answers" in one_line(info.value) and "smaller p or k" in str(info.value)


def test_accuracy_chunks_and_names_a_pass_size_that_fits(monkeypatch):
    model, task = fi.HookedTransformer(fi.TransformerConfig(p=23)), fi.ModularArithmetic(p=23)
    whole = fi.accuracy(model, task)
    monkeypatch.setenv("FOURIER_INTERP_MEMORY_LIMIT", "4M")
    with pytest.raises(fi.errors.InsufficientMemoryError) as info:
        fi.accuracy(model, task)
    fits = int(one_line(info.value).split("batch_rows=")[1].split(" ")[0].replace(",", ""))
    assert fi.accuracy(model, task, batch_rows=fits) == whole  # chunked, the same answer


def test_many_seeds_are_counted_together(monkeypatch):
    from fourier_interp.evaluation import check_training_memory

    model, task, _ = fi.from_preset("nanda2023", p=23)
    monkeypatch.setenv("FOURIER_INTERP_MEMORY_LIMIT", "200M")
    check_training_memory(model, task, None)  # one run fits
    with pytest.raises(fi.errors.InsufficientMemoryError, match="64 models"):
        check_training_memory(model, task, None, n_models=64)


def test_cli_train_of_a_grid_too_large_for_a_full_batch_is_one_line_exit_2(tmp_path):
    # p**k = 6.4 M rows: the full-batch step would need tens of GB; refused before anything is written
    proc = run_cli("train", "--model", "transformer", "--k", "5", "--p", "23", "--steps", "1",
                   "--out", str(tmp_path / "run"), "--threads", "1")
    assert_one_line_exit_2(proc, "training step over 1,930,902 rows", "batch_size=")
    assert not (tmp_path / "run").exists()


def test_cli_refusal_names_the_memory_limit_it_was_given(tmp_path):
    env_proc = subprocess.run(
        [sys.executable, "-m", "fourier_interp", "train", "--model", "mlp", "--p", "97", "--steps", "1",
         "--out", str(tmp_path / "run"), "--threads", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "FOURIER_INTERP_MEMORY_LIMIT": "16M"})
    assert_one_line_exit_2(env_proc, "16.0 MiB is free", "refused before allocating")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_cli_train_mlp_p7000_is_one_line_exit_2(tmp_path):
    # p**2 = 49 M rows (under the task's row limit): the evaluations' logits alone would be terabytes
    proc = run_cli("train", "--model", "mlp", "--p", "7000", "--steps", "1", "--out", str(tmp_path / "run"),
                   "--threads", "1", timeout=300)
    assert_one_line_exit_2(proc, "49,000,000 grid rows x 7000 answers", "smaller p or k")


# ====================================================== arguments at the door
@pytest.fixture(scope="module")
def planted():
    return fi.planted_mlp(p=23, freqs=[2, 5]), fi.ModularArithmetic(p=23)


@pytest.mark.parametrize("freqs", ["21", "2", b"2", 2.0, [2.5], [True], [2, "5"], None, {2: 1}, torch.tensor([2.0])])
def test_frequency_lists_of_the_wrong_type_are_refused(planted, freqs):
    model, task = planted
    with pytest.raises(TypeError, match="freqs") as info:
        with fi.ablate_frequencies(model, task, "hook_pre", freqs):
            pass
    one_line(info.value)
    calls = [lambda: fi.restricted_loss(model, task, freqs), lambda: fi.excluded_loss(model, task, freqs),
             lambda: fi.planted_mlp(p=23, freqs=freqs)]
    if freqs is not None:  # ProgressRecorder(None) re-estimates the frequencies as it goes
        calls.append(lambda: fi.ProgressRecorder(freqs))
    for call in calls:
        with pytest.raises(TypeError, match="freqs"):
            call()


def test_the_string_21_no_longer_ablates_frequencies_2_and_1():
    model, task = fi.planted_mlp(p=47, freqs=[21]), fi.ModularArithmetic(p=47)  # the model uses frequency 21 only
    with fi.ablate_frequencies(model, task, "hook_pre", [21]):
        assert fi.accuracy(model, task) < 0.1
    with fi.ablate_frequencies(model, task, "hook_pre", [2, 1]):  # what "21" used to mean: nothing the model uses
        assert fi.accuracy(model, task) == 1.0
    with pytest.raises(TypeError, match=r"write \[21\]"):
        with fi.ablate_frequencies(model, task, "hook_pre", "21"):
            pass
    # every accepted spelling of one list gives the same answer
    results = []
    for freqs in ([21], (21,), {21}, range(21, 22), 21, torch.tensor([21])):
        with fi.ablate_frequencies(model, task, "hook_pre", freqs):
            results.append(fi.accuracy(model, task))
    assert len(set(results)) == 1


@pytest.mark.parametrize("units", ["12", b"1", 1.5, [1.5], [True]])
def test_unit_lists_of_the_wrong_type_are_refused(planted, units):
    model, task = planted
    with pytest.raises(TypeError, match="units"):
        fi.interventions.neurons.as_units(units)


@pytest.mark.parametrize("seeds", ["01", 0, [0, "1"], [0.0]])
def test_seed_lists_of_the_wrong_type_are_refused_naming_seeds(seeds):
    with pytest.raises(TypeError, match="seeds"):
        fi.train_seeds("li2025-k2", seeds=seeds, p=7, steps=1, progress=False)


@pytest.mark.parametrize("hook", [3, [3], [b"hook_pre"], ["hook_pre", None]])
def test_hook_names_of_the_wrong_type_are_refused(planted, hook):
    model, task = planted
    with pytest.raises(TypeError, match="hook name"):
        with fi.ablate_frequencies(model, task, hook, [2]):
            pass


def test_is_prime_and_the_report_note_for_a_modulus_that_is_not_prime():
    from fourier_interp.checks import is_prime, non_prime_note

    assert [n for n in range(30) if is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
    assert is_prime(113) and not is_prime(21) and not is_prime(True)
    assert non_prime_note(23) is None and "21 = 3 x 7" in non_prime_note(21)
    report = fi.verify(fi.planted_mlp(p=21, freqs=[2, 5]), fi.ModularArithmetic(p=21))
    text = str(report)
    notes = [line for line in text.splitlines() if line.startswith("note: p = 21 is not prime")]
    assert len(notes) == 1 and "not a field" in notes[0]
    assert report.to_dict()["note"] == notes[0] and "is not prime" in report.to_html()
    prime = fi.verify(fi.planted_mlp(p=23, freqs=[2, 5]), fi.ModularArithmetic(p=23))
    assert prime.note is None and "not prime" not in str(prime)


def test_a_ray_address_that_does_not_answer_is_refused_at_once():
    pytest.importorskip("ray", reason="Ray is not installed")
    import time

    from fourier_interp.sweeps.backends import RayBackend

    start = time.monotonic()
    with pytest.raises(fi.InvalidArgumentError, match="no Ray cluster answers there"):
        RayBackend(address="127.0.0.1:1")
    with pytest.raises(fi.InvalidArgumentError, match="expected 'host:port'"):
        RayBackend(address="not an address")
    assert time.monotonic() - start < 15  # bounded: never Ray's minutes-long wait


# ========================================================= the command line
CLI_CASES = {
    "ray-address-that-does-not-answer": (["sweep", "--example", "sweep-small", "--backend", "ray", "--address",
                                          "127.0.0.1:1", "--out", "{tmp}/sweep"], "no Ray cluster answers"),
    "steps-negative": (["train", "--model", "mlp", "--p", "7", "--steps", "-1", "--out", "{tmp}/run"], "steps"),
    "p-too-small": (["train", "--model", "mlp", "--p", "2", "--out", "{tmp}/run"], "p=2"),
    "device-missing": (["train", "--model", "mlp", "--p", "7", "--device", "tpu", "--out", "{tmp}/run"], "tpu"),
    "threads-zero": (["train", "--model", "mlp", "--p", "7", "--threads", "0", "--out", "{tmp}/run"], "threads"),
    "unknown-pretrained": (["verify", "--pretrained", "nope"], "unknown pretrained model"),
    "checkpoint-missing": (["verify", "--checkpoint", "{tmp}/none"], "no such directory"),
    "resume-nothing": (["train", "--model", "mlp", "--p", "7", "--resume", "--out", "{tmp}/empty"], "--resume"),
    "sweep-file-missing": (["sweep", "{tmp}/none.toml", "--out", "{tmp}/sweep"], "none.toml"),
    "sweep-key-unknown": (["sweep", "{tmp}/bad.toml", "--out", "{tmp}/sweep"], "did you mean 'overrides'"),
    "p-not-a-number": (["train", "--model", "mlp", "--p", "seven", "--out", "{tmp}/run"], "seven"),
    "frac-train-too-big": (["train", "--model", "mlp", "--p", "7", "--frac-train", "2", "--out", "{tmp}/run"],
                           "frac-train"),
    "not-a-checkpoint": (["verify", "--checkpoint", "{tmp}"], "config.json: missing"),
    "unknown-command-option": (["train", "--model", "mlp", "--bogus", "--out", "{tmp}/run"], "--bogus"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_mistakes_are_one_line_exit_2(tmp_path, case):
    args, needle = CLI_CASES[case]
    (tmp_path / "bad.toml").write_text('preset = "nanda2023"\n[overides]\np = 23\n')  # a misspelt table
    proc = run_cli(*[a.format(tmp=tmp_path) for a in args])
    assert_one_line_exit_2(proc, needle)


# ============================================================ the Python API
API_CASES = {
    "task-p-2": (lambda: fi.ModularArithmetic(p=2), fi.InvalidArgumentError, "p=2"),
    "task-frac-0": (lambda: fi.ModularArithmetic(p=7, frac_train=0.0), fi.InvalidArgumentError, "frac_train"),
    "task-op": (lambda: fi.ModularArithmetic(p=7, op="div"), fi.InvalidArgumentError, "op="),
    "config-steps": (lambda: fi.TrainConfig(steps=-1), fi.InvalidArgumentError, "TrainConfig.steps"),
    "config-lr": (lambda: fi.TrainConfig(lr=0), fi.InvalidArgumentError, "TrainConfig.lr"),
    "config-batch": (lambda: fi.TrainConfig(batch_size=0), fi.InvalidArgumentError, "TrainConfig.batch_size"),
    "config-threads": (lambda: fi.TrainConfig(threads=0), fi.InvalidArgumentError, "threads"),
    "config-unknown-field": (lambda: fi.TrainConfig.from_dict({"stpes": 3}), fi.InvalidArgumentError, "stpes"),
    "train-device": (lambda: fi.train(fi.HookedMLP(fi.MLPConfig(p=7)), fi.ModularArithmetic(p=7),
                                      fi.TrainConfig(steps=1, device="tpu", progress=False)), fi.InvalidArgumentError, "tpu"),
    "train-wrong-task": (lambda: fi.train(fi.HookedMLP(fi.MLPConfig(p=7)), fi.ModularArithmetic(p=11),
                                          fi.TrainConfig(steps=1, progress=False)), fi.InvalidArgumentError, "task.p=11"),
    "resume-without-out-dir": (lambda: fi.train(fi.HookedMLP(fi.MLPConfig(p=7)), fi.ModularArithmetic(p=7),
                                                fi.TrainConfig(steps=1, progress=False), resume=True),
                               fi.InvalidArgumentError, "out_dir"),
    "accuracy-split": (lambda: fi.accuracy(fi.HookedMLP(fi.MLPConfig(p=7)), fi.ModularArithmetic(p=7), "val"),
                       ValueError, "val"),
    "unknown-preset": (lambda: fi.from_preset("nanda2024"), ValueError, "nanda2024"),
    "unknown-pretrained": (lambda: fi.load_pretrained("nope"), fi.InvalidArgumentError, "nope"),
    "load-missing": (lambda: fi.load("/nonexistent/checkpoint"), fi.CheckpointError, "no such checkpoint"),
    "memory-limit-malformed": (None, fi.InvalidArgumentError, "FOURIER_INTERP_MEMORY_LIMIT"),
    # torch seeds are 64-bit: a larger one was an OverflowError from inside torch at build time
    "model-seed-huge": (lambda: fi.HookedMLP(fi.MLPConfig(p=7, seed=10**30)), fi.InvalidArgumentError, "MLPConfig.seed"),
    # a switch given None or 0 crashed inside torch (nn.Parameter(requires_grad=None))
    "model-bool-none": (lambda: fi.TransformerConfig(p=7, mlp_bias=None), TypeError, "TransformerConfig.mlp_bias"),
    "model-bool-int": (lambda: fi.TransformerConfig(p=7, attn_bias=1), TypeError,
                       "TransformerConfig.attn_bias"),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_api_mistakes_raise_the_named_error_in_one_line(case, monkeypatch):
    call, error, needle = API_CASES[case]
    if case == "memory-limit-malformed":
        monkeypatch.setenv("FOURIER_INTERP_MEMORY_LIMIT", "lots")
        call = lambda: fi.accuracy(fi.HookedMLP(fi.MLPConfig(p=7)), fi.ModularArithmetic(p=7))  # noqa: E731
    with pytest.raises(error) as info:
        call()
    assert needle in one_line(info.value), (needle, str(info.value))
