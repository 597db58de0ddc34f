"""Regenerate the pretrained checkpoints shipped in fourier_interp/pretrained/.

    python scripts/make_pretrained.py                 # all of them
    python scripts/make_pretrained.py rnn-p113        # one
    python scripts/make_pretrained.py --from-sweep sweeps/reproduce   # take them from reproduce.py's runs

Each model is trained with its preset (seed and step budget below), early-stopped a fixed
number of evaluations after test accuracy first holds >= 0.99 so the circuit is cleaned
up, and saved with its history. Nanda et al.'s progress measures (restricted and excluded
loss, embedding Gini) are recorded at every evaluation by ``fi.ProgressRecorder``, with the
key frequencies re-estimated from the model as it trains, so the history's curves are
unbroken and each value names the frequencies it used (``progress_freqs``).

``scripts/reproduce.py run`` trains each family's seed 0 with exactly these settings;
``--from-sweep DIR`` takes the checkpoint from such a run instead of training it again (a
run is used only when its preset, seed and every setting build the same model and training
config as here, and it recorded progress measures). The command, seed, versions and
accuracy are recorded in the checkpoint's metadata.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import torch

import fourier_interp as fi
from fourier_interp.pretrained import PRETRAINED_DIR

# name -> (preset, seed, overrides, patience in evaluations after grokking)
SPECS = {
    "transformer-p113": ("nanda2023", 0, dict(steps=40_000), 80),
    "rnn-p113": ("rnn", 0, dict(steps=30_000), 40),
    "mlp-k2-p113": ("li2025-k2", 0, dict(steps=30_000), 200),
    "mlp-k3-p23": ("li2025-k3", 0, dict(steps=30_000), 40),
    "transformer-clock-p59": ("zhong2023-clock", 0, dict(steps=20_000), 30),
    "transformer-pizza-p59": ("zhong2023-pizza", 0, dict(steps=20_000), 30),
}
# What fi.verify names each checkpoint (recorded in its metadata; tests check it still holds).
ALGORITHM = {"transformer-pizza-p59": "pizza"}


def train_fresh(name: str, quiet: bool):
    preset, seed, overrides, patience = SPECS[name]
    model, task, cfg = fi.from_preset(preset, seed=seed, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        cfg.out_dir = tmp
        cfg.progress = not quiet
        cfg.early_stop_acc, cfg.early_stop_patience = 0.99, patience
        cfg.checkpoint_every = 500
        t0 = time.time()
        history = fi.train(model, task, cfg, callbacks=[fi.ProgressRecorder()])
        wall = time.time() - t0
    return model, task, cfg, history, wall, f"python scripts/make_pretrained.py {name}"


def _settings(preset: str, seed: int, overrides: dict) -> tuple[dict, dict]:
    """The model config and training config a preset call builds, minus what does not change the maths."""
    model, _, cfg = fi.from_preset(preset, seed=seed, **overrides)
    train = {k: v for k, v in cfg.to_dict().items() if k not in ("out_dir", "progress", "threads", "checkpoint_every")}
    return model.cfg.to_dict() | {"class": type(model).__name__}, train


def from_sweep(name: str, sweep_dir: Path):
    """The finished run under ``sweep_dir`` (any sweep in it) that builds exactly ``SPECS[name]``."""
    preset, seed, overrides, patience = SPECS[name]
    wanted = _settings(preset, seed, {**overrides, "early_stop_acc": 0.99, "early_stop_patience": patience})
    for result in sorted(sweep_dir.glob("**/runs/*/result.json")):
        row = json.loads(result.read_text())
        spec = row.get("spec") or {}
        if row.get("status") != "ok" or not spec.get("progress_measures") or spec.get("seed") != seed:
            continue
        try:
            if _settings(spec["preset"], spec["seed"], spec["overrides"]) != wanted:
                continue
        except Exception:
            continue
        train_dir = result.parent / "train"
        model, task = fi.load(train_dir, with_task=True)
        history = fi.History.load(train_dir)
        cfg = fi.from_preset(spec["preset"], seed=seed, **spec["overrides"])[2]
        command = (f"python scripts/reproduce.py run (sweep run {result.parent.name}), "
                   f"then python scripts/make_pretrained.py {name} --from-sweep DIR")
        return model, task, cfg, history, row.get("train_s"), command
    raise SystemExit(f"{name}: no finished run under {sweep_dir} builds {preset} seed {seed} with {overrides} "
                     f"and patience {patience} (with progress measures)")


def make(name: str, quiet: bool, sweep_dir: Optional[Path] = None) -> None:
    preset, seed, overrides, patience = SPECS[name]
    if sweep_dir is None:
        model, task, cfg, history, wall, command = train_fresh(name, quiet)
    else:
        model, task, cfg, history, wall, command = from_sweep(name, sweep_dir)
    freqs = fi.key_frequencies(model, task)
    acc = fi.accuracy(model, task, "all")
    if acc < 0.99:
        raise SystemExit(f"{name}: accuracy on all inputs {acc:.4f} < 0.99 after {history.final['step']} steps; not saved")
    algorithm = str(fi.verify(model, task).algorithm)
    if algorithm != ALGORITHM.get(name, "clock"):
        raise SystemExit(f"{name}: verify names it {algorithm!r}, expected {ALGORITHM.get(name, 'clock')!r}; not saved")
    dest = PRETRAINED_DIR / name
    with tempfile.TemporaryDirectory(dir=PRETRAINED_DIR) as tmp:  # the old checkpoint goes only once the new one is whole
        staged = Path(tmp) / name
        model.save(
            staged,
            task=task,
            history=history,
            metadata={
                "name": name,
                "preset": preset,
                "seed": seed,
                "overrides": overrides,
                "command": command,
                "train_config": {**cfg.to_dict(), "out_dir": None, "early_stop_acc": 0.99, "early_stop_patience": patience},
                "step": history.final["step"],
                "accuracy_all": acc,
                "key_frequencies": freqs,
                "algorithm": algorithm,
                "train_seconds": None if wall is None else round(wall, 1),
                "torch_threads": 1 if sweep_dir is not None else torch.get_num_threads(),
                "progress_measures": "fi.ProgressRecorder() at every evaluation",
            },
        )
        if dest.exists():
            shutil.rmtree(dest)
        staged.rename(dest)
    print(f"{name}: accuracy {acc:.4f}, grokked at step {history.grokked_step}, stopped at {history.final['step']} "
          f"-> {dest}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"checkpoints to make, from {list(SPECS)} (default: all)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--from-sweep", type=Path, default=None, metavar="DIR",
                        help="take each checkpoint from a finished run of scripts/reproduce.py under DIR")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in SPECS]
    if unknown:
        parser.error(f"unknown names {unknown}; expected some of {list(SPECS)}")
    for name in args.names or list(SPECS):
        make(name, args.quiet, args.from_sweep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
