"""Reproductions beyond Z_p: Chughtai et al.'s GCR on S_4, S_5 and D_n, and multiplication mod p.

    python scripts/reproduce_groups.py run --out /tmp/groups [--only s5,mul] [--workers 14] [--device cuda]
    python scripts/reproduce_groups.py measure --out /tmp/groups    # verify the saved models again (current code)
    python scripts/reproduce_groups.py table --out /tmp/groups      # the markdown table of docs/reproductions.md

Every run trains one model (``fi.train``, full batch, threads 1 per worker), verifies it with
``verify_group`` and appends one JSON line to ``OUT/results.jsonl``: the test accuracy, the
step it first reached 0.99, the name ``verify_group`` gives, the key irreps, the share of the
answer-dependent logits their characters explain, the share of the logits that depends on
the operands only through their product, the irrep-selective and coset-like unit shares and
the accuracy with the key irreps projected out of the units. The weights go to
``OUT/models/<run>.pt``. Runs already in ``results.jsonl`` are skipped, so a stopped run
resumes; ``--deadline`` (seconds) stops starting new runs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_TRANSFORMER = dict(family="transformer", model={})
_POWER = dict(family="mlp", model=dict(form="power"))
_CHUGHTAI_MLP = dict(family="mlp", model=dict(form="embed_relu", combine="concat", d_embed=256, d_hidden=128))


def _run(name, task, arch, frac, steps, lr, wd, seeds, **model):
    spec = dict(arch, model={**arch["model"], **model})
    return [dict(name=f"{name}-seed{s}", task=task, frac=frac, steps=steps, lr=lr, wd=wd, seed=s, **spec)
            for s in seeds]


def plan() -> dict[str, list[dict]]:
    """The runs, by group of the docs table."""
    runs: dict[str, list[dict]] = {"mul": [], "s4": [], "dihedral": [], "s5": []}
    for p in (23, 29, 31):  # the transformer setting of mul113's small override; the power MLP for comparison
        runs["mul"] += _run(f"mul{p}-transformer", f"mul{p}", _TRANSFORMER, 0.7, 3000, 3e-3, 1.0, range(3))
        runs["mul"] += _run(f"mul{p}-power", f"mul{p}", _POWER, 0.6, 3000, 3e-3, 1.0, [0])
    runs["s4"] += _run("s4-power", "symmetric(4)", _POWER, 0.7, 3000, 3e-3, 3.0, range(3), d_hidden=128)
    runs["dihedral"] += _run("d23-power", "dihedral(23)", _POWER, 0.6, 4000, 3e-3, 3.0, range(3), d_hidden=256)
    runs["dihedral"] += _run("d23-chughtai-mlp", "dihedral(23)", _CHUGHTAI_MLP, 0.5, 10000, 1e-3, 1.0, range(2))
    runs["s5"] += _run("s5-power", "symmetric(5)", _POWER, 0.4, 4000, 3e-3, 3.0, range(3), d_hidden=256)
    runs["s5"] += _run("s5-chughtai-mlp", "symmetric(5)", _CHUGHTAI_MLP, 0.4, 10000, 1e-3, 1.0, range(2))
    return runs


def build(run: dict):
    import fourier_interp as fi

    if run["task"].startswith("mul"):
        task = fi.ModularArithmetic(int(run["task"][3:]), op="mul", frac_train=run["frac"], seed=run["seed"])
    else:
        task = fi.GroupTask(fi.groups.from_spec(run["task"]), frac_train=run["frac"], seed=run["seed"])
    fields = dict(**task.config_fields(), **run["model"], seed=run["seed"])
    if run["family"] == "transformer":
        model = fi.HookedTransformer(fi.TransformerConfig(**fields))
    else:
        model = fi.HookedMLP(fi.MLPConfig(**fields))
    return model, task


def measure(run: dict, model, task) -> dict:
    """What ``verify_group`` says of a trained model, as one flat record."""
    import fourier_interp as fi
    from fourier_interp.verification.groups import verify_group

    report = verify_group(model, task)
    claims = report.claims_by_key()
    value = lambda key: None if claims[key].value is None else round(float(claims[key].value), 4)  # noqa: E731
    return dict(test_acc=round(fi.accuracy(model, task, "test"), 4), algorithm=str(report.algorithm),
                passed=report.passed, key_irreps=report.key_irreps, key_frequencies=report.key_frequencies,
                rule=report.extras["irreps"].rule, failed=[c.key for c in report.failed_claims],
                logits=value("logits"), answer_share=value("answer_share"), units=value("units"),
                cosets=value("cosets"), ablation=value("ablation"), control=value("control"),
                restricted=value("restricted_loss"), excluded=value("excluded_loss"), blocks=report.blocks,
                projection_keep=[round(a, 4) for a in report.extras["unit_projection"].keep_accuracy],
                projection_rest=[round(a, 4) for a in report.extras["unit_projection"].rest_accuracy])


def execute(run: dict, out: str, device: str) -> dict:
    import torch

    import fourier_interp as fi

    torch.set_num_threads(1)
    start = time.time()
    model, task = build(run)
    cfg = fi.TrainConfig(steps=run["steps"], lr=run["lr"], weight_decay=run["wd"], betas=(0.9, 0.98), warmup_steps=10,
                         eval_every=100, seed=run["seed"], progress=False, device=device, threads=1,
                         early_stop_acc=1.0, early_stop_patience=20)
    history = fi.train(model, task, cfg)
    train_s = time.time() - start
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, Path(out) / "models" / f"{run['name']}.pt")
    return dict(run, grokked_step=history.grokked_step, steps_run=history.records[-1]["step"],
                **measure(run, model.cpu(), task), train_s=round(train_s, 1), total_s=round(time.time() - start, 1))


def cmd_measure(args) -> None:
    """Verify every saved model again with the current code (no training); rewrite results.jsonl."""
    import torch

    torch.set_num_threads(1)
    results = Path(args.out) / "results.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    out = []
    for row in rows:
        if "error" not in row:
            model, task = build(row)
            model.load_state_dict(torch.load(Path(args.out) / "models" / f"{row['name']}.pt"))
            row = dict(row, **measure(row, model.eval(), task))
        out.append(row)
        print(row["name"], row.get("algorithm"), row.get("key_irreps"), row.get("failed"), flush=True)
    tmp = results.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in out))
    tmp.replace(results)


def _worker(args):
    run, out, device = args
    try:
        return execute(run, out, device)
    except Exception as exc:  # one failed run is reported, the others go on
        return dict(run, error=f"{type(exc).__name__}: {exc}")


def cmd_run(args) -> None:
    out = Path(args.out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    done = set()
    results = out / "results.jsonl"
    if results.exists():
        done = {json.loads(line)["name"] for line in results.read_text().splitlines() if line.strip()}
    groups = plan()
    chosen = args.only.split(",") if args.only else list(groups)
    todo = [r for g in chosen for r in groups[g] if r["name"] not in done]
    if args.steps:  # a quick check of the script itself
        todo = [dict(r, steps=args.steps) for r in todo]
    deadline = time.time() + args.deadline if args.deadline else None
    print(f"{len(todo)} runs, {args.workers} workers", flush=True)
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers) as pool, results.open("a") as fh:
        pending = [pool.apply_async(_worker, ((r, str(out), args.device),)) for r in todo]
        for r, job in zip(todo, pending):
            left = None if deadline is None else max(1.0, deadline - time.time())
            try:
                res = job.get(timeout=left)
            except mp.TimeoutError:
                print(f"deadline: {r['name']} and later runs not finished", flush=True)
                pool.terminate()
                break
            fh.write(json.dumps(res) + "\n")
            fh.flush()
            print(json.dumps({k: res.get(k) for k in ("name", "test_acc", "grokked_step", "algorithm", "key_irreps",
                                                        "logits", "answer_share", "ablation", "error", "total_s")}),
                  flush=True)


def cmd_table(args) -> None:
    rows = [json.loads(line) for line in (Path(args.out) / "results.jsonl").read_text().splitlines() if line.strip()]
    print("| run | test acc | grokked at | name | key irreps | chars / answer logits | answer share | "
          "irrep units | coset units | acc. key irreps out | blocks per unit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: r["name"]):
        if "error" in r:
            print(f"| {r['name']} | error: {r['error']} |")
            continue
        irreps = ", ".join(f"`{n}`" for n in r["key_irreps"])
        print(f"| {r['name']} | {r['test_acc']:.3f} | {r['grokked_step'] or '-'} | {r['algorithm']} | {irreps} | "
              f"{r['logits']} | {r['answer_share']} | {r['units']} | {r['cosets']} | {r['ablation']} | "
              f"{r.get('blocks')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--out", required=True)
    run.add_argument("--only", default="")
    run.add_argument("--workers", type=int, default=1)
    run.add_argument("--device", default="cpu")
    run.add_argument("--deadline", type=float, default=None)
    run.add_argument("--steps", type=int, default=None, help="override every run's steps (a quick check)")
    for name in ("measure", "table"):
        sub.add_parser(name).add_argument("--out", required=True)
    args = parser.parse_args()
    {"run": cmd_run, "measure": cmd_measure, "table": cmd_table}[args.cmd](args)


if __name__ == "__main__":
    main()
