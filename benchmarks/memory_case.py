"""One memory case in a fresh process; prints one JSON line with the peak resident set size.

Run by ``bench_system.memory``, one process per case, so no case inherits another's peak:

    python -m benchmarks.memory_case train_fast [--threads N]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys


def peak_rss_mib() -> float:
    """Peak RSS of this process so far (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def _baseline() -> str:
    import fourier_interp as fi

    fi.from_preset("nanda2023", seed=0)
    return "imports + nanda2023 model and task"


def _train(path: str) -> str:
    import fourier_interp as fi

    from .bench_training import _adamw_step
    from .reference import from_model

    model, task, cfg = fi.from_preset("nanda2023", seed=0)
    x, y = task.inputs[task.train_idx], task.labels[task.train_idx]
    module = from_model(model) if path == "reference" else model
    forward = module.fast_logits if path == "fast" else module
    step = _adamw_step(module, forward, x, y, cfg)
    for _ in range(2):  # the second step has the optimiser state allocated
        step()
    return f"nanda2023, {len(y):,} rows, 2 steps ({path})"


def _run_with_cache() -> str:
    from .common import transformer_p113

    model, task, source = transformer_p113()
    model.run_with_cache(task.inputs)
    return source


def _verify() -> str:
    from .common import get_verify, transformer_p113

    run_verify, why = get_verify()
    if run_verify is None:
        raise _Skip(why)
    model, task, source = transformer_p113()
    run_verify(model, task)
    return source


def _seeds16() -> str:
    import fourier_interp as fi

    fi.train_seeds("nanda2023", range(16), progress=False, steps=2, eval_every=1)
    return "fi.train_seeds nanda2023 p=113, 16 seeds, 2 steps + evaluations"


class _Skip(Exception):
    pass


CASES = {
    "baseline": _baseline,
    "train_reference": lambda: _train("reference"),
    "train_fast": lambda: _train("fast"),
    "train_hooked": lambda: _train("hooked"),
    "run_with_cache": _run_with_cache,
    "verify": _verify,
    "seeds16": _seeds16,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        result = {"case": args.case, "what": CASES[args.case]()}
    except _Skip as e:
        result = {"case": args.case, "skipped": str(e)}
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
