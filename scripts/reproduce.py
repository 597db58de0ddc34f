"""Reproduce the papers across seeds: train with the sweep machinery, measure, write docs/reproductions.md.

    python scripts/reproduce.py run                 # train every sweep (resumable; hours on 2 cores)
    python scripts/reproduce.py run --only nanda2023 --workers 1
    python scripts/reproduce.py report              # measure every finished run, write the page
    python scripts/reproduce.py all --reduced --out /tmp/repro   # the end-to-end check CI runs

Each paper is one or more sweeps (``fi.sweep``) over seeds with the paper's preset. Runs are
early-stopped a fixed number of evaluations after test accuracy first holds 0.99 (the
settings of ``scripts/make_pretrained.py``, so each family's seed-0 run is its shipped
checkpoint) and record Nanda et al.'s progress measures at every evaluation. A finished run
is reused, so an interrupted ``run`` resumes. ``report`` loads each finished model, takes the
paper's measurements, and writes ``results.csv``, PNG figures and the page.

``--reduced`` shrinks every sweep to two seeds at a small modulus and a few hundred steps:
the models do not grok, so the numbers mean nothing, but every stage of the script runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "sweeps" / "reproduce"
DOCS = ROOT / "docs"

SEEDS = [0, 1, 2, 3, 4]
STOP = dict(early_stop_acc=0.99)


def sweeps(reduced: bool) -> dict[str, dict]:
    """Sweep name -> fi.sweep config. The paper each serves is in :data:`PAPER`."""
    full = {
        # Nanda et al. 2023: the grokking transformer (seed 0 = transformer-p113)
        "nanda2023": dict(preset="nanda2023", grid=dict(seed=SEEDS),
                          overrides=dict(steps=40_000, early_stop_patience=80, **STOP)),
        # Rangamani 2025: the RNN, over seeds (seed 0 = rnn-p113) and over training-set sizes
        "rangamani2025": dict(preset="rnn", grid=dict(seed=SEEDS),
                              overrides=dict(steps=30_000, early_stop_patience=40, **STOP)),
        "rangamani2025-frac": dict(preset="rnn", grid=dict(seed=[0], frac_train=[0.3, 0.7]),
                                   overrides=dict(steps=30_000, early_stop_patience=40, **STOP)),
        # Li et al. 2024: the power MLP, k = 2 at p = 59, k = 3 at p = 23 at the width bound and
        # below it (seed 0 at the bound = mlp-k3-p23), k = 4 at p = 7
        "li2025-k2": dict(preset="li2025-k2", grid=dict(seed=SEEDS),
                          overrides=dict(p=59, steps=30_000, early_stop_patience=200, **STOP)),
        "li2025-k3": dict(preset="li2025-k3", grid=dict(seed=SEEDS, d_hidden=[352]),
                          overrides=dict(steps=30_000, early_stop_patience=40, **STOP)),
        "li2025-k3-narrow": dict(preset="li2025-k3", grid=dict(seed=SEEDS, d_hidden=[88]),
                                 overrides=dict(steps=30_000, early_stop_patience=40, **STOP)),
        "li2025-k4": dict(preset="li2025-k3", grid=dict(seed=SEEDS),
                          overrides=dict(k=4, p=7, frac_train=0.7, steps=30_000, early_stop_patience=200, **STOP)),
        # ... and the one-layer transformer on k = 3 inputs (Li et al. report similar Fourier structure)
        "li2025-transformer-k3": dict(preset="nanda2023", grid=dict(seed=SEEDS),
                                      overrides=dict(k=3, p=13, frac_train=0.7, steps=20_000, early_stop_patience=40,
                                                     **STOP)),
        # Zhong et al. 2023: softmax vs constant attention (seed 0 = transformer-clock/pizza-p59)
        "zhong2023": dict(preset="zhong2023-clock", grid=dict(seed=SEEDS, attn_coeff=[1.0, 0.5, 0.0]),
                          overrides=dict(steps=20_000, early_stop_patience=30, **STOP)),
        # negative controls: no weight decay, small training set: memorise, never generalise
        "memorisers": dict(grid=dict(preset=["nanda2023", "rnn", "li2025-k2"], seed=[0, 1, 2]),
                           overrides=dict(p=23, frac_train=0.3, weight_decay=0.0, steps=3_000)),
    }
    for config in full.values():
        config["progress_measures"] = True
    if not reduced:
        return full
    small = {}
    for name, config in full.items():
        grid = {k: (v[:2] if k == "seed" else v) for k, v in config["grid"].items()}
        overrides = {**config["overrides"], "steps": 200, "eval_every": 50}
        overrides.pop("early_stop_patience", None)
        overrides.pop("early_stop_acc", None)
        if "p" not in overrides or overrides["p"] > 11:
            overrides["p"] = 11 if overrides.get("k", 2) <= 3 else 5
        if "d_hidden" in grid:
            grid["d_hidden"] = [160] if grid["d_hidden"] == [352] else [40]  # 16(p-1) and 4(p-1) at p = 11
        small[name] = {**config, "grid": grid, "overrides": overrides}
    return small


PAPER = {
    "nanda2023": "nanda", "rangamani2025": "rangamani", "rangamani2025-frac": "rangamani",
    "li2025-k2": "li", "li2025-k3": "li", "li2025-k3-narrow": "li", "li2025-k4": "li", "li2025-transformer-k3": "li-transformer", "zhong2023": "zhong", "memorisers": "controls",
}


def adopt_shipped(out: Path, configs: dict[str, dict]) -> list[str]:
    """Place each shipped checkpoint that a sweep run made into that run's directory.

    ``scripts/make_pretrained.py --from-sweep`` takes each family's seed-0 checkpoint from
    a run of these sweeps, and its metadata names the run. A run whose final model exists is
    only verified again by ``fi.sweep``, so copying the checkpoint back saves training it a
    second time; the copy is checked to build the run's exact settings first.
    """
    import json
    import shutil

    from fourier_interp.pretrained import PRETRAINED_DIR
    from fourier_interp.sweeps.config import load_config

    runs = {spec.name: (sweep, spec) for sweep, config in configs.items()
            for spec in load_config({**config, "name": sweep}).runs}
    adopted = []
    for meta_file in sorted(PRETRAINED_DIR.glob("*/config.json")):
        command = json.loads(meta_file.read_text()).get("metadata", {}).get("command", "")
        if "(sweep run " not in command:
            continue
        run = command.split("(sweep run ", 1)[1].split(")", 1)[0]
        if run not in runs:
            continue
        sweep, spec = runs[run]
        train_dir = out / sweep / "runs" / run / "train"
        if (train_dir / "config.json").is_file():
            continue
        staged = train_dir.with_name("train.adopting")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(meta_file.parent, staged)
        staged.rename(train_dir)  # the final model appears whole or not at all
        adopted.append(f"{meta_file.parent.name} -> {sweep}/{run}")
    return adopted


def run(out: Path, reduced: bool, only: list[str], workers: int, seeds: list[int]) -> None:
    import fourier_interp as fi

    configs = sweeps(reduced)
    if not reduced:
        for line in adopt_shipped(out, {name: configs[name] for name in only or list(configs)}):
            print(f"shipped checkpoint reused: {line}")
    for name in only or list(configs):  # in the order asked for
        config = configs[name]
        if seeds:  # a share of the seeds, e.g. on a second machine; the runs' names do not change
            config = {**config, "grid": {**config["grid"], "seed": seeds}}
        result = fi.sweep({**config, "name": name}, out / name, workers=workers, threads=1, progress=True)
        print(f"{name}: {len(result.ran)} ran, {len(result.reused)} reused, {len(result.failed)} failed -> {out / name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["run", "report", "all"])
    parser.add_argument("--out", type=Path, default=None, help=f"sweeps' directory (default {DEFAULT_OUT})")
    parser.add_argument("--docs", type=Path, default=None,
                        help="where the page, table and figures go (default: docs/, or OUT/docs with --reduced)")
    parser.add_argument("--reduced", action="store_true", help="tiny sweeps that only check the script end to end")
    parser.add_argument("--only", nargs="*", default=[], help=f"sweeps to run, from {list(PAPER)}")
    parser.add_argument("--seeds", nargs="*", type=int, default=[],
                        help="train only these seeds of the chosen sweeps (runs keep their names, so a run "
                             "trained elsewhere can be moved into OUT/SWEEP/runs and is reused)")
    parser.add_argument("--workers", type=int, default=2, help="runs at once, one torch thread each (default 2)")
    args = parser.parse_args()
    unknown = [n for n in args.only if n not in PAPER]
    if unknown:
        parser.error(f"--only: unknown sweeps {unknown}; expected some of {list(PAPER)}")
    if args.workers < 1 or args.workers > (os.cpu_count() or 1):
        parser.error(f"--workers={args.workers}: expected 1..{os.cpu_count()} (one torch thread per run)")
    out = args.out or DEFAULT_OUT
    docs = args.docs or (out / "docs" if args.reduced else DOCS)
    if args.stage in ("run", "all"):
        run(out, args.reduced, args.only, args.workers, args.seeds)
    if args.stage in ("report", "all"):
        from reproduce_report import write_report

        write_report(out, docs, sweeps(args.reduced), reduced=args.reduced, paper_of=PAPER)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
