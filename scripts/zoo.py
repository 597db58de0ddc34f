"""The verdict zoo: train models of every kind, verify each, and measure ``fi.verify``'s error rates.

    python scripts/zoo.py run                    # train every class (resumable; ~1 h on one core)
    python scripts/zoo.py run --only rnn-tanh    # one class
    python scripts/zoo.py measure                # verify every finished model; write the tables
    python scripts/zoo.py all --reduced --out /tmp/zoo   # the small end-to-end zoo the test suite runs

Each class has a *ground truth* fixed before any verdict is read, by construction or by a
measure the verdict does not use (stated per class in :data:`CLASSES`):

* ``clock`` — networks whose operands meet multiplicatively and which the literature shows
  run Fourier Multiplication (softmax-attention transformers, Li et al.'s power MLPs) and
  planted clocks; a clock may be named ``clock`` or ``clock-superposed``;
* ``not-clock`` — networks whose operands meet only through the sum of their embeddings
  (constant attention, summed-embedding MLPs): with a positively homogeneous activation a
  single-frequency unit's output scales with ``|cos(w (a - b) / 2)|``, the pizza's signature,
  so they may be ``pizza`` or ``mixed``, never ``clock``; and planted pizzas;
* ``fourier`` — grokked models (test accuracy >= 0.99 on held-out pairs) of the families the
  literature finds computing with Fourier features, whichever way they combine them: any
  name but ``non-fourier``;
* ``non-fourier`` — memorisers (held-out accuracy < 0.5), untrained networks and planted
  lookup tables, including one with Fourier-sparse embeddings and a clock-shaped readout.

Preset classes train with the sweep machinery (``fi.sweep``: resumable, one folder per run);
the two user-designed modules (scripts/zoo_models.py, through ``fi.HookedWrapper``) train with
``fi.train`` and are saved whole when done (a finished run is reused). ``measure`` verifies every model with the current ``fi.verify``
and writes ``results.csv``, ``confusion.md`` (ground truth x name, per-family error rates) and
a JSON of the claims.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "sweeps" / "zoo"
SEEDS = [0, 1, 2]
P = 31

# how long a grokked run keeps training: 15 evaluations (1,500 steps) past test accuracy 0.99;
# the transformer classes trained first keep 30 (3,000 steps)
GROKKED = dict(early_stop_acc=0.99, early_stop_patience=15)
ZHONG = dict(p=P, steps=12_000, early_stop_acc=0.99, early_stop_patience=30)
ZHONG59 = dict(p=59, steps=12_000, **GROKKED)
MEMORISE = dict(frac_train=0.3, weight_decay=0.0, steps=1_500)

# name -> (family, ground truth, why, how it is built)
CLASSES: dict[str, dict] = {
    # Zhong et al.'s setting (p = 59), where their measures separate the two algorithms
    "transformer-softmax": dict(
        family="transformer", truth="clock",
        why="softmax attention at p = 59: the operands meet multiplicatively in attention; Zhong et al.'s Model A",
        preset="zhong2023-clock", overrides=ZHONG59),
    "transformer-constant": dict(
        family="transformer", truth="not-clock",
        why="constant attention at p = 59: '=' reads the mean of the operands' embeddings; Zhong et al.'s Model B",
        preset="zhong2023-pizza", overrides=ZHONG59),
    "mlp-relu-sum": dict(
        family="mlp", truth="not-clock", why="ReLU MLP on the summed embeddings (homogeneity: pizza-shaped units)",
        preset="li2025-k2", overrides=dict(p=59, frac_train=0.6, form="embed_relu", combine="sum", steps=15_000,
                                           **GROKKED)),
    "wrapper-summed": dict(
        family="wrapper", truth="not-clock", why="a user's summed-embedding ReLU MLP through HookedWrapper",
        module="SummedReLU", p=59),
    "mlp-power-k3-narrow-p23": dict(
        family="mlp", truth="fourier", why="x^3 network below the width bound (88 units, a quarter of it) at p = 23",
        preset="li2025-k3", overrides=dict(p=23, frac_train=0.5, lr=3e-3, d_hidden=88, steps=20_000, **GROKKED)),
    "mlp-relu-concat": dict(
        family="mlp", truth="fourier", why="ReLU MLP on the concatenated embeddings: grokked",
        preset="li2025-k2", overrides=dict(p=59, frac_train=0.6, form="embed_relu", combine="concat", steps=15_000,
                                           **GROKKED)),
    "wrapper-two-tower": dict(
        family="wrapper", truth="fourier", why="a user's two-tower GELU MLP through HookedWrapper: grokked",
        module="TwoTowerGELU", p=59),
    "transformer-rate0.5": dict(
        family="transformer", truth="fourier",
        why="attention rate 0.5 at p = 59: Zhong et al. find clocks, pizzas and mixtures here",
        preset="zhong2023-clock", overrides=dict(attn_coeff=0.5, **ZHONG59)),
    # the same architectures at p = 31, where the shape measures of the two attention kinds overlap
    "transformer-softmax-p31": dict(
        family="transformer", truth="fourier", why="softmax attention at p = 31 (small p: the shape is not settled)",
        preset="zhong2023-clock", overrides=ZHONG),
    "transformer-constant-p31": dict(
        family="transformer", truth="fourier", why="constant attention at p = 31 (small p: the shape is not settled)",
        preset="zhong2023-pizza", overrides=ZHONG),
    "transformer-at-grokking": dict(
        family="transformer", truth="fourier",
        why="the softmax transformer stopped as soon as it generalises (circuit formation)",
        preset="zhong2023-clock", overrides=dict(p=P, steps=12_000, early_stop_acc=0.99, early_stop_patience=1)),
    "transformer-rate0.5-p31": dict(
        family="transformer", truth="fourier",
        why="attention rate 0.5 at p = 31",
        preset="zhong2023-clock", overrides=dict(attn_coeff=0.5, **ZHONG)),
    "transformer-ln-gelu": dict(
        family="transformer", truth="fourier", why="grokked; LayerNorm and GELU",
        preset="zhong2023-clock", overrides=dict(normalization_type="LN", act_fn="gelu", **ZHONG)),
    "transformer-2layer": dict(
        family="transformer", truth="fourier", why="grokked; two layers",
        preset="zhong2023-clock", overrides=dict(n_layers=2, p=P, steps=12_000, **GROKKED)),
    "transformer-sub": dict(
        family="transformer", truth="fourier", why="grokked on a - b",
        preset="zhong2023-clock", overrides=dict(op="sub", p=P, steps=12_000, **GROKKED)),
    "transformer-k3": dict(
        family="transformer", truth="fourier", why="grokked on a + b + c",
        preset="nanda2023", overrides=dict(k=3, p=13, frac_train=0.7, steps=20_000, **GROKKED)),
    "rnn-relu": dict(
        family="rnn", truth="fourier", why="grokked; Rangamani finds Fourier Multiplication",
        preset="rnn", overrides=dict(p=P, frac_train=0.6, steps=15_000, **GROKKED)),
    "rnn-tanh": dict(
        family="rnn", truth="fourier", why="grokked; tanh",
        preset="rnn", overrides=dict(p=P, frac_train=0.6, act_fn="tanh", steps=15_000, **GROKKED)),
    "mlp-power-k2": dict(
        family="mlp", truth="clock", why="Li et al.'s x^2 network at the width bound: single-frequency neurons",
        preset="li2025-k2", overrides=dict(p=P, frac_train=0.6, steps=15_000, **GROKKED)),
    "mlp-power-k3": dict(
        family="mlp", truth="fourier", why="Li et al.'s x^3 network on three operands at the width bound",
        preset="li2025-k3", overrides=dict(p=11, frac_train=0.6, lr=3e-3, steps=15_000, **GROKKED)),
    "mlp-power-k3-narrow": dict(
        family="mlp", truth="fourier", why="x^3 network below the width bound (a quarter of it)",
        preset="li2025-k3", overrides=dict(p=11, frac_train=0.6, lr=3e-3, d_hidden=40, steps=15_000, **GROKKED)),
    "memoriser-transformer": dict(
        family="transformer", truth="non-fourier", why="no weight decay, 30% train: held-out accuracy < 0.5",
        preset="zhong2023-clock", overrides=dict(p=P, **MEMORISE)),
    "memoriser-mlp": dict(
        family="mlp", truth="non-fourier", why="no weight decay, 30% train: held-out accuracy < 0.5",
        preset="li2025-k2", overrides=dict(p=P, form="embed_relu", **MEMORISE)),
    "untrained-transformer": dict(family="transformer", truth="non-fourier", why="random initialisation",
                                  static="untrained", preset="zhong2023-clock"),
    "untrained-rnn": dict(family="rnn", truth="non-fourier", why="random initialisation", static="untrained",
                          preset="rnn"),
    "untrained-mlp": dict(family="mlp", truth="non-fourier", why="random initialisation", static="untrained",
                          preset="li2025-k2"),
    "planted-lookup": dict(family="planted", truth="non-fourier", why="one ReLU unit per input pair",
                           static="lookup"),
    "planted-fourier-lookup": dict(
        family="planted", truth="non-fourier",
        why="lookup units on Fourier-sparse embeddings with a clock-shaped readout", static="fourier_lookup"),
    "planted-clock": dict(family="planted", truth="clock", why="Gromov's analytic solution", static="clock"),
    "planted-pizza": dict(family="planted", truth="not-clock", why="the pizza written by hand", static="pizza"),
}

REDUCED = {  # the zoo the test suite runs: one seed, small p, short training (names must still hold)
    "transformer-softmax-p31": dict(overrides=dict(p=23, frac_train=0.8, lr=3e-3, steps=2_500, early_stop_acc=0.99,
                                               early_stop_patience=15)),
    "mlp-relu-sum": dict(overrides=dict(p=23, frac_train=0.8, form="embed_relu", combine="sum", lr=3e-3,
                                        steps=2_500, early_stop_acc=0.99, early_stop_patience=15)),
    "memoriser-mlp": dict(overrides=dict(p=23, form="embed_relu", frac_train=0.3, weight_decay=0.0, steps=400)),
    "untrained-transformer": {},
    "planted-fourier-lookup": {},
    "planted-clock": {},
    "planted-pizza": {},
}


# ------------------------------------------------------------------ building
def class_p(name: str, reduced: bool) -> int:
    spec = {**CLASSES[name], **(REDUCED.get(name, {}) if reduced else {})}
    return int(spec.get("overrides", {}).get("p", spec.get("p", 23 if reduced else P)) if not (reduced and "module" in
               spec) else 23)


def build_static(name: str, seed: int, reduced: bool):
    import fourier_interp as fi

    spec, p = CLASSES[name], class_p(name, reduced)
    kind = spec["static"]
    freqs = [[2, 7], [3, 11], [5, 9]][seed % 3]
    if kind == "untrained":
        model, task, _ = fi.from_preset(spec["preset"], seed=seed, p=p)
        return model, task, None
    if kind == "lookup":
        return fi.memorizing_mlp(p), fi.ModularArithmetic(p=p), None
    if kind == "fourier_lookup":
        return fi.fourier_lookup_mlp(p, freqs), fi.ModularArithmetic(p=p), None
    if kind == "clock":
        return fi.planted_mlp(p=p, freqs=freqs), fi.ModularArithmetic(p=p), None
    if kind == "pizza":
        return fi.planted_pizza(p=p, freqs=freqs), fi.ModularArithmetic(p=p), None
    raise ValueError(kind)


def wrapper_model(name: str, seed: int, p: int):
    import fourier_interp as fi

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import zoo_models

    cls = getattr(zoo_models, CLASSES[name]["module"])
    net = cls(p=p, seed=seed)
    return fi.HookedWrapper(net, p=p, k=2, init_kwargs={"p": p, "seed": seed})


def run_class(name: str, out: Path, seeds: list[int], reduced: bool, threads: int) -> None:
    import fourier_interp as fi

    spec = {**CLASSES[name], **(REDUCED.get(name, {}) if reduced else {})}
    if "static" in spec:
        return
    if "preset" in spec:
        fi.sweep({"preset": spec["preset"], "grid": {"seed": seeds}, "overrides": spec["overrides"]},
                 out / "sweeps" / name, workers=1, threads=threads, progress=not reduced)
        return
    p = class_p(name, reduced)
    for seed in seeds:
        run_dir = out / "wrappers" / f"{name}__seed{seed}"
        if (run_dir / "config.json").is_file():
            continue
        model = wrapper_model(name, seed, p)
        task = fi.ModularArithmetic(p=p, frac_train=0.6, seed=seed)
        cfg = fi.TrainConfig(steps=400 if reduced else 15_000, lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98),
                             warmup_steps=10, eval_every=100, seed=seed, early_stop_acc=0.99,
                             early_stop_patience=30, progress=not reduced, threads=threads)
        # fi.train checkpoints built-in models only; a wrapper run (a minute) is saved whole when done
        history = fi.train(model, task, cfg)
        model.save(run_dir, task=task, history=history)


def finished(name: str, out: Path, seeds: list[int], reduced: bool):
    """``(seed, model, task, history)`` of every finished run of a class (static ones built here)."""
    import fourier_interp as fi

    spec = CLASSES[name]
    if "static" in spec:
        for seed in seeds:
            model, task, history = build_static(name, seed, reduced)
            yield seed, model, task, history
        return
    if "preset" in spec:
        runs = sorted((out / "sweeps" / name / "runs").glob("*"))
        for run in runs:
            train_dir = run / "train"
            if not (train_dir / "config.json").is_file():
                continue
            model, task = fi.load(train_dir, with_task=True)
            seed = int(run.name.split("__seed")[1].split("__")[0])  # <preset>__seed<N>__<fingerprint>
            yield seed, model, task, fi.History.load(train_dir)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import zoo_models  # noqa: F401  (fi.load rebuilds the wrapped modules from this module's classes)

    for seed in seeds:
        run_dir = out / "wrappers" / f"{name}__seed{seed}"
        if (run_dir / "config.json").is_file():
            model, task = fi.load(run_dir, with_task=True)
            yield seed, model, task, fi.History.load(run_dir)


# ------------------------------------------------------------------ measuring
def correct_name(truth: str, name: str) -> bool:
    return {
        "clock": name in ("clock", "clock-superposed"),
        "not-clock": name in ("pizza", "mixed"),
        "fourier": name != "non-fourier",
        "non-fourier": name == "non-fourier",
    }[truth]


def measure(out: Path, names: list[str], seeds: list[int], reduced: bool, threads: int, reuse: bool = False) -> list[dict]:
    import torch

    import fourier_interp as fi

    torch.set_num_threads(threads)
    rows = []
    cache = out / "rows"  # one verified row per run: `measure --reuse` reads them instead of verifying again
    cache.mkdir(parents=True, exist_ok=True)
    for name in names:
        spec = CLASSES[name]
        for seed, model, task, history in finished(name, out, seeds, reduced):
            saved = cache / f"{name}__seed{seed}.json"
            if reuse and saved.is_file():
                rows.append(json.loads(saved.read_text()))
                continue
            test = task.split("test") if len(task.test_idx) else task.split("all")
            logits = fi.grid_logits(model, task) if hasattr(fi, "grid_logits") else None
            acc = fi.accuracy(model, task, "test" if len(task.test_idx) else "all")
            truth = spec["truth"]
            if "static" not in spec and truth in ("clock", "not-clock", "fourier") and acc < 0.99:
                truth = "not-grokked"  # a run that did not generalise is not a grokked model of its class
            if truth == "non-fourier" and "preset" in spec and acc >= 0.5:
                truth = "not-memorised"
            report = fi.verify(model, task, hook=spec.get("hook"), name=f"{name} seed {seed}")
            row = dict(cls=name, family=spec["family"], seed=seed, p=task.p, k=task.k, truth=truth,
                       name=str(report.algorithm), passed=report.passed, test_acc=round(acc, 4),
                       key=" ".join(map(str, report.key_frequencies)),
                       correct=correct_name(truth, str(report.algorithm)) if truth in
                       ("clock", "not-clock", "fourier", "non-fourier") else None)
            for key, claim in report.claims_by_key().items():
                row[key] = None if claim.value is None else round(float(claim.value), 4)
            rows.append(row)
            saved.write_text(json.dumps(row))
            print(f"{name:28s} seed {seed}: truth {truth:12s} named {row['name']:18s} "
                  f"{'ok' if row['correct'] else ('--' if row['correct'] is None else 'WRONG')}", flush=True)
            del logits, test
    return rows


def confusion(rows: list[dict]) -> str:
    """The confusion table (ground truth x name) and the error rates per family, as Markdown."""
    names = ["clock", "clock-superposed", "pizza", "mixed", "fourier-incomplete", "non-fourier"]
    truths = ["clock", "not-clock", "fourier", "non-fourier", "not-grokked", "not-memorised"]
    counts = Counter((r["truth"], r["name"]) for r in rows)
    lines = ["| ground truth \\ name | " + " | ".join(names) + " | runs |", "|---" * (len(names) + 2) + "|"]
    for t in truths:
        n = sum(counts[(t, x)] for x in names)
        if n:
            lines.append(f"| {t} | " + " | ".join(str(counts[(t, x)] or "") for x in names) + f" | {n} |")
    lines += ["", "| family | runs judged | wrong | error rate |", "|---|---|---|---|"]
    by_family = defaultdict(list)
    for r in rows:
        if r["correct"] is not None:
            by_family[r["family"]].append(r["correct"])
    for fam, oks in sorted(by_family.items()):
        wrong = sum(1 for ok in oks if not ok)
        lines.append(f"| {fam} | {len(oks)} | {wrong} | {wrong / len(oks):.0%} |")
    judged = [r["correct"] for r in rows if r["correct"] is not None]
    wrong = sum(1 for ok in judged if not ok)
    lines.append(f"| **all** | {len(judged)} | {wrong} | {wrong / max(1, len(judged)):.0%} |")
    return "\n".join(lines)


def write(out: Path, rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    (out / "confusion.md").write_text(confusion(rows) + "\n")
    per_class = ["| class | family | ground truth | why | names (seeds) |", "|---|---|---|---|---|"]
    for name, spec in CLASSES.items():
        got = [r for r in rows if r["cls"] == name]
        if got:
            named = ", ".join(f"{r['name']} ({r['seed']})" for r in got)
            per_class.append(f"| {name} | {spec['family']} | {spec['truth']} | {spec['why']} | {named} |")
    (out / "classes.md").write_text("\n".join(per_class) + "\n")


DOCS_PAGE = ROOT / "docs" / "verify.md"
BEGIN, END = "<!-- zoo tables: written by scripts/zoo.py measure --docs -->", "<!-- end of zoo tables -->"


def write_docs(rows: list[dict], page: Path = DOCS_PAGE) -> None:
    """Put the confusion table, the error rates and the per-class names into the docs page, between its markers."""
    text = page.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page} has no zoo markers ({BEGIN!r} ... {END!r})")
    per_class = ["| class | family | ground truth | why | names (seed) |", "|---|---|---|---|---|"]
    for name, spec in CLASSES.items():
        got = sorted((r for r in rows if r["cls"] == name), key=lambda r: r["seed"])
        if got:
            named = ", ".join(f"{r['name']} ({r['seed']}" + ("" if r["truth"] == spec["truth"] else f", {r['truth']}")
                              + ")" for r in got)
            per_class.append(f"| `{name}` | {spec['family']} | {spec['truth']} | {spec['why']} | {named} |")
    block = "\n".join([BEGIN, "", confusion(rows), "", *per_class, "", END])
    head, rest = text.split(BEGIN, 1)
    page.write_text(head + block + rest.split(END, 1)[1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=["run", "measure", "all"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="*", default=None, help="class names (default: every class)")
    parser.add_argument("--seeds", type=int, nargs="*", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", type=Path, default=None, help="where measure writes its tables (default: --out)")
    parser.add_argument("--reuse", action="store_true", help="measure: reuse the rows of runs already verified")
    parser.add_argument("--docs", action="store_true", help="measure: also write the tables into docs/verify.md")
    parser.add_argument("--reduced", action="store_true", help="the small zoo the test suite runs")
    args = parser.parse_args(argv)
    names = args.only or (list(REDUCED) if args.reduced else list(CLASSES))
    unknown = [n for n in names if n not in CLASSES]
    if unknown:
        parser.error(f"unknown class(es) {unknown}; classes: {', '.join(CLASSES)}")
    seeds = args.seeds if args.seeds is not None else ([0] if args.reduced else SEEDS)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.stage in ("run", "all"):
        for name in names:
            print(f"== training {name}", flush=True)
            try:
                run_class(name, args.out, seeds, args.reduced, args.threads)
            except Exception as e:  # one class failing must not stop the others; `run` again retries it
                print(f"!! {name} failed: {type(e).__name__}: {e}", flush=True)
    if args.stage in ("measure", "all"):
        rows = measure(args.out, names, seeds, args.reduced, args.threads, args.reuse)
        write(args.results or args.out, rows)
        if args.docs:
            write_docs(rows)
        print(confusion(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
