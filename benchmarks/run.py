"""Run the benchmarks: ``python -m benchmarks [--quick] [--only NAME[,NAME]] [--json PATH]``.

Also runnable as ``python benchmarks/run.py``. Prints the machine, then one table per
benchmark; a benchmark that fails (e.g. the equal-loss check) is reported and the others
still run; the exit status is 1 if any failed. Goals that are not met are shown as ``NO``,
not treated as failures: the benchmarks measure, they do not assert timings.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Optional, Sequence

if __package__ in (None, ""):  # run as a script: make the repository root importable instead of benchmarks/
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    __package__ = "benchmarks"

# name -> (module, function, one-line description)
BENCHMARKS = {
    "train_step": ("bench_training", "train_step", "one AdamW step per model family: fast / hooked vs naive reference"),
    "time_to_grok": ("bench_training", "time_to_grok", "nanda2023 p=113 until test acc >= 0.99 (--quick: extrapolated)"),
    "cache": ("bench_analysis", "cache", "run_with_cache on all 12,769 inputs; HookPoint overhead"),
    "verify": ("bench_analysis", "verify", "fi.verify end to end on the p=113 transformer"),
    "seeds": ("bench_training", "seeds", "16 seeds at once vs one seed, per step"),
    "gpu": ("bench_gpu", "gpu", "CUDA: graphed step vs naive, one seed to grokking, 128 seeds (skipped without a GPU)"),
    "threads": ("bench_training", "threads", "nanda2023 step at 1 vs 2 torch threads, alone and beside competing processes"),
    "startup": ("bench_system", "startup", "fourier-interp --help, bad arguments and imports, fresh processes"),
    "memory": ("bench_system", "memory", "peak RSS per case, fresh processes"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of fourier_interp against naive references, measured in the same process. "
                    "See docs/performance.md.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny repeat counts, long runs extrapolated")
    parser.add_argument("--only", metavar="NAME[,NAME]", help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--threads", type=int, metavar="N", help="torch.set_num_threads(N) (default: torch's choice)")
    parser.add_argument("--json", metavar="PATH", help="also write machine info and every table to PATH")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for name, (_, _, description) in BENCHMARKS.items():
            print(f"{name:<13} {description}")
        return 0
    names = list(BENCHMARKS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            print(f"error: unknown benchmark(s) {unknown}; expected some of {list(BENCHMARKS)}", file=sys.stderr)
            return 2
    if args.threads is not None and args.threads < 1:
        print("error: --threads must be >= 1", file=sys.stderr)
        return 2

    import torch

    from .common import Settings, format_machine_info, machine_info, say

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings(quick=args.quick, threads=args.threads)
    info = machine_info()
    say("# fourier_interp benchmarks" + ("  (--quick: smoke test, NOT a measurement)" if args.quick else ""),
        format_machine_info(info), "")

    results: dict[str, list] = {}
    failures: dict[str, str] = {}
    for name in names:
        module_name, function_name, description = BENCHMARKS[name]
        say(f"## {name}: {description}")
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f".{module_name}", __package__)
            tables = getattr(module, function_name)(settings)
        except Exception as e:  # report and go on to the next benchmark
            failures[name] = f"{type(e).__name__}: {e}"
            say(f"FAILED: {failures[name]}", traceback.format_exc(limit=4), "")
            continue
        for table in tables:
            say(table.render())
        results[name] = [table.to_dict() for table in tables]
        say(f"({name}: {time.perf_counter() - t0:.1f} s)", "")

    missed = [f"{name}: {row['case']}" for name, tables in results.items() for t in tables
              for row in t["rows"] if row["met"] is False]
    say("## summary",
        f"goals met: {sum(row['met'] is True for ts in results.values() for t in ts for row in t['rows'])}, "
        f"not met: {len(missed)}, failed benchmarks: {len(failures)}")
    for line in missed:
        say(f"  not met: {line}")
    for name, error in failures.items():
        say(f"  FAILED: {name}: {error}")
    if args.json:
        payload = {"machine": info, "quick": args.quick, "threads": args.threads,
                   "results": results, "failures": failures}
        Path(args.json).write_text(json.dumps(payload, indent=2))
        say(f"wrote {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
