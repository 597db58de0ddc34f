"""Analysis benchmarks on the p = 113 transformer: caching the full grid, HookPoint overhead, verify."""

from __future__ import annotations

import time

import torch

from .common import Settings, Table, Timing, get_verify, interleaved, say, timing_row, transformer_p113
from .reference import from_model, without_hookpoints

CACHE_GOAL_MS = 300.0
HOOK_OVERHEAD_GOAL = 1.05
VERIFY_GOAL_S = 10.0


def cache(settings: Settings) -> list[Table]:
    """``run_with_cache`` on all p^2 inputs, and what empty HookPoints add to a forward pass.

    The forward passes are compared on the whole grid under ``torch.no_grad``:

    * ours (``model(inputs)``: HookPoints attached but empty, input checks included) against
      ``ReferenceTransformer.last_logits`` (the same maths op for op, no HookPoints);
    * ours against a deep copy of our model whose HookPoint calls are identity functions
      (the same module and code, so only the HookPoints' call overhead differs).
    """
    model, task, source = transformer_p113()
    inputs = task.inputs
    ref, bare = from_model(model), without_hookpoints(model)
    say(f"[cache] model: {source}; {len(inputs):,} inputs")
    with torch.no_grad():
        ours_logits = model(inputs)
        diff_ref = float((ref.last_logits(inputs) - ours_logits).abs().max())
        diff_bare = float((bare(inputs) - ours_logits).abs().max())
    say(f"[cache] same-output check: max |logit diff| vs reference {diff_ref:.1e}, vs HookPoint-free copy {diff_bare:.1e}"
        f": {'OK' if max(diff_ref, diff_bare) < 1e-4 else 'MISMATCH'}")
    if max(diff_ref, diff_bare) >= 1e-4:
        raise AssertionError(f"forward passes disagree (max |diff| {max(diff_ref, diff_bare):.1e})")

    def cached() -> None:
        model.run_with_cache(inputs)

    def cached_no_grad() -> None:
        with torch.no_grad():
            model.run_with_cache(inputs)

    def forward(module_call):
        def run() -> None:
            with torch.no_grad():
                module_call(inputs)
        return run

    t = interleaved(
        {
            "run_with_cache": cached,
            "run_with_cache_no_grad": cached_no_grad,
            "hooked": forward(model),
            "reference": forward(ref.last_logits),
            "bare": forward(bare),
        },
        repeats=settings.n(21, 2),
        warmup=settings.n(3, 1),
    )
    _, cache_dict = model.run_with_cache(inputs)
    n_bytes = sum(v.numel() * v.element_size() for v in cache_dict.values())
    say(f"[cache] run_with_cache holds {len(cache_dict)} activations, {n_bytes / 2**20:.0f} MiB")

    table = Table(f"cache: p=113 transformer, all {len(inputs):,} inputs (reference = same maths without HookPoints)")
    row = timing_row(table, "run_with_cache (as users call it: autograd on)", t["run_with_cache"], t["reference"],
                     goal=f"<= {CACHE_GOAL_MS:.0f} ms", note="reference: a plain forward, caching nothing")
    row.met = row.ours <= CACHE_GOAL_MS
    row = timing_row(table, "run_with_cache under torch.no_grad()", t["run_with_cache_no_grad"], t["reference"],
                     goal=f"<= {CACHE_GOAL_MS:.0f} ms")
    row.met = row.ours <= CACHE_GOAL_MS
    row = timing_row(table, "forward, HookPoints empty vs reference", t["hooked"], t["reference"],
                     goal=f"ratio <= {HOOK_OVERHEAD_GOAL}", note="ours includes input checks; no_grad")
    row.met = row.ratio <= HOOK_OVERHEAD_GOAL
    row = timing_row(table, "forward, HookPoints empty vs same module without them", t["hooked"], t["bare"],
                     goal=f"ratio <= {HOOK_OVERHEAD_GOAL}", note="reference column: our model, HookPoint calls removed")
    row.met = row.ratio <= HOOK_OVERHEAD_GOAL
    return [table]


def verify(settings: Settings) -> list[Table]:
    """``fi.verify`` end to end on the p = 113 transformer; skipped while it does not exist."""
    run_verify, why = get_verify()
    if run_verify is None:
        say(f"[verify] SKIPPED: {why}")
        return []
    model, task, source = transformer_p113()
    say(f"[verify] model: {source}")
    t0 = time.perf_counter()
    report = run_verify(model, task)
    first = time.perf_counter() - t0
    say(f"[verify] first call {first:.2f} s; passed={getattr(report, 'passed', '?')}")
    warm = Timing()
    for _ in range(settings.n(3, 1)):
        t0 = time.perf_counter()
        run_verify(model, task)
        warm.samples.append(time.perf_counter() - t0)

    table = Table("verify: fi.verify(model, task) end to end, p=113 transformer", unit="s")
    row = table.add("first call (includes lazy imports)", first, goal=f"<= {VERIFY_GOAL_S:.0f} s")
    row.met = first <= VERIFY_GOAL_S
    row = timing_row(table, f"warm (median of {len(warm.samples)})", warm, None, scale=1.0, goal=f"<= {VERIFY_GOAL_S:.0f} s")
    row.met = row.ours <= VERIFY_GOAL_S
    if source.startswith("FRESH"):
        for r in table.rows:
            r.note = "fresh (ungrokked) weights"
    return [table]
