"""Regenerate the pretrained checkpoints shipped in fourier_interp/pretrained/.

    python scripts/make_pretrained.py                 # all of them
    python scripts/make_pretrained.py rnn-p113        # one

Each model is trained with its preset (seed and step budget below), early-stopped a fixed
number of evaluations after test accuracy first holds >= 0.99 so the circuit is cleaned
up, and saved with its history. The history also gets restricted/excluded
loss at every checkpoint (Nanda et al.'s progress measures, with the final model's key
frequencies), so reports can draw progress curves without shipping the checkpoints. The command, seed, versions and accuracy are recorded
in the checkpoint's metadata.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

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


def add_progress_measures(run_dir: Path, model, task, history) -> list[int]:
    """Restricted/excluded loss and embedding Gini at every checkpoint, with the final key frequencies."""
    freqs = fi.key_frequencies(model, task)
    by_step = {row["step"]: row for row in fi.progress_measures(run_dir, freqs, task)}
    for record in history.records:
        row = by_step.get(record["step"])
        if row is not None:
            for key in ("restricted_loss", "excluded_loss", "embed_gini"):
                record[key] = row[key]
    return freqs


def make(name: str, quiet: bool) -> None:
    preset, seed, overrides, patience = SPECS[name]
    model, task, cfg = fi.from_preset(preset, seed=seed, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        cfg.out_dir = tmp
        cfg.progress = not quiet
        cfg.early_stop_acc, cfg.early_stop_patience = 0.99, patience
        cfg.checkpoint_every = 500
        t0 = time.time()
        history = fi.train(model, task, cfg)
        wall = time.time() - t0
        freqs = add_progress_measures(Path(tmp), model, task, history)
    acc = fi.accuracy(model, task, "all")
    if acc < 0.99:
        raise SystemExit(f"{name}: accuracy on all inputs {acc:.4f} < 0.99 after {history.final['step']} steps; not saved")
    algorithm = str(fi.verify(model, task).algorithm)
    if algorithm != ALGORITHM.get(name, "clock"):
        raise SystemExit(f"{name}: verify names it {algorithm!r}, expected {ALGORITHM.get(name, 'clock')!r}; not saved")
    dest = PRETRAINED_DIR / name
    if dest.exists():
        shutil.rmtree(dest)
    model.save(
        dest,
        task=task,
        history=history,
        metadata={
            "name": name,
            "preset": preset,
            "seed": seed,
            "overrides": overrides,
            "command": f"python scripts/make_pretrained.py {name}",
            "train_config": {**cfg.to_dict(), "out_dir": None},
            "step": history.final["step"],
            "accuracy_all": acc,
            "key_frequencies": freqs,
            "algorithm": algorithm,
            "train_seconds": round(wall, 1),
            "torch_threads": torch.get_num_threads(),
        },
    )
    print(f"{name}: accuracy {acc:.4f}, grokked at step {history.grokked_step}, stopped at {history.final['step']} "
          f"({wall:.0f} s) -> {dest}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"checkpoints to make, from {list(SPECS)} (default: all)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in SPECS]
    if unknown:
        parser.error(f"unknown names {unknown}; expected some of {list(SPECS)}")
    for name in args.names or list(SPECS):
        make(name, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
