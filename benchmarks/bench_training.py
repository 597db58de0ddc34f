"""Training benchmarks: one AdamW step per model family, time to grok, many seeds at once.

Every step timed here is what ``fi.train`` does per step: the loss (float64 cross-entropy)
on the whole training split, ``zero_grad``, ``backward`` and an AdamW update with the
preset's settings. Ours and the reference each get their own copy of the weights and their
own optimiser, and are timed interleaved in this process. The fast path runs as ``fi.train``
runs it: tokens prepared once (``prepare_tokens``, then ``fast_forward`` every step) and
``fi.train``'s optimiser (fused AdamW, :func:`fourier_interp.training.make_optimizer`); the
reference is the naive step a user would write (its full forward, ``torch.optim.AdamW``
with its defaults). The row "fast path, reference's AdamW" takes the optimiser out of the
comparison.
"""

from __future__ import annotations

import copy
import sys
import time
from typing import Callable

import torch

import fourier_interp as fi
from fourier_interp.training import loss_fn, make_optimizer

from .common import Settings, Table, Timing, interleaved, say, timing_row
from .reference import check_same_loss, from_model

# (label, preset, goal: fast-path step time as a fraction of the reference's)
STEP_CASES = (
    ("transformer nanda2023", "nanda2023", 0.2),
    ("RNN rnn", "rnn", 0.5),
    ("MLP li2025-k2", "li2025-k2", 0.5),
)
GROK_ACC = 0.99
GROK_GOAL_S = 300.0
ASSUMED_GROK_STEPS = 12_000  # middle of issue 6's "~10-14k steps", used only when nothing better is known
SEEDS_GOAL = 8.0
QUICK_GROK_STEPS = 50  # --quick: steps actually run before extrapolating


# ------------------------------------------------------------------ helpers
def _adamw_step(module: torch.nn.Module, forward: Callable, x: torch.Tensor, y: torch.Tensor, cfg,
                ours: bool = False) -> Callable[[], None]:
    """One training step (without ``fi.train``'s bookkeeping), as a closure; ``ours``: ``fi.train``'s optimiser."""
    params = [p for p in module.parameters() if p.requires_grad]
    if ours:
        optimizer = make_optimizer(params, cfg)[0]
    else:
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    module.train()

    def step() -> None:
        loss = loss_fn(forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def step_candidates(preset: str, compile_too: bool = False,
                    **overrides) -> tuple[dict[str, Callable[[], None]], str, int, tuple[float, float]]:
    """Reference, hooked and fast training steps for ``preset``, after the equal-loss check
    (``compile_too``: also the fast step under ``torch.compile``, compiled in its warm-up).

    Returns:
        ``(candidates, check_summary, training_rows, (our_gflop, reference_gflop))`` per step.
    """
    model, task, cfg = fi.from_preset(preset, seed=0, **overrides)
    x, y = task.inputs[task.train_idx], task.labels[task.train_idx]
    ref = from_model(model)
    check = check_same_loss(model, ref, x, y)
    hooked, fast, plain = copy.deepcopy(model), copy.deepcopy(model), copy.deepcopy(model)
    candidates = {
        "reference": _adamw_step(ref, ref, x, y, cfg),
        "hooked": _adamw_step(hooked, hooked, x, y, cfg),
        "fast": _adamw_step(fast, fast.fast_forward, fast.prepare_tokens(x), y, cfg, ours=True),
        "fast, reference's AdamW": _adamw_step(plain, plain.fast_forward, plain.prepare_tokens(x), y, cfg),
    }
    if compile_too:  # TrainConfig(compile=True) on a CPU: inductor's fused kernels around the same products
        comp = copy.deepcopy(model)
        forward = torch.compile(comp.fast_forward, mode="default", dynamic=False)
        candidates["fast, torch.compile"] = _adamw_step(comp, forward, comp.prepare_tokens(x), y, cfg, ours=True)
    return candidates, check, len(y), step_gflop(model, len(y))


def step_gflop(model: torch.nn.Module, n: int) -> tuple[float, float]:
    """Matrix-product work of one training step on ``n`` rows: ``(our fast path, reference)``, GFLOP.

    Counts 2 FLOPs per multiply-add over the products whose size grows with the batch
    (per-token tables cost O(p), not O(n)); forward + backward is 3x the forward for a
    product whose input needs a gradient and 2x for one-hot inputs, which do not.
    Written for the presets' shapes: one-layer transformer and RNN, k operands.
    """
    c = model.cfg
    if isinstance(model, fi.HookedTransformer):
        pos, hd = c.k + 1, c.n_heads * c.d_head
        if c.n_layers == 1 and c.normalization_type is None:
            # ours (folded_logits' table readout): the pre-activations and direct logits at '=' are
            # weighted sums of `picks` table rows of width d_mlp + p (forward, and the sampled product
            # and sparse product of the backward), then post @ (W_out W_U). The torch.compile and
            # vmap rows run the dense form instead: z @ (W_O W_in), z @ (W_O W_U), post @ (W_out W_U).
            picks = c.k * c.n_heads + c.n_heads + 1
            ours = 3 * (picks * (c.d_mlp + c.p) + c.d_mlp * c.p)
        else:
            # ours: attention output, MLP and unembedding at '=' only (scores and values are tables)
            ours = 3 * (hd * c.d_model + 2 * c.d_model * c.d_mlp + c.d_model * c.p)
        # reference: Q, K, V, O, MLP and unembedding at every position, plus scores and z
        ref = 3 * (pos * (4 * hd * c.d_model + 2 * c.d_model * c.d_mlp + c.d_model * c.p) + 2 * pos * pos * hd)
    elif isinstance(model, fi.HookedRNN):
        # ours: steps 1 and 2 are tables, then W_hh for steps 3..k and the readout
        ours = 3 * (max(c.k - 2, 0) * c.d_hidden**2 + c.d_hidden * c.p)
        # reference: one-hot @ W_E, x @ W_ih and h @ W_hh at every step (h_0 = 0 needs no grad), readout
        ref = (2 * c.k * c.p * c.d_embed + 3 * c.k * c.d_embed * c.d_hidden
               + (2 + 3 * (c.k - 1)) * c.d_hidden**2 + 3 * c.d_hidden * c.p)
    else:
        # ours: the hidden layer is a sum of gathered table rows; only the readout is a product
        ours = 3 * c.d_hidden * c.p
        if c.form == "power":
            ref = 2 * c.k * c.p * c.d_hidden + 3 * c.d_hidden * c.p
        else:
            ref = 2 * c.k * c.p * c.d_embed + 3 * c.k * c.d_embed * c.d_hidden + 3 * c.d_hidden * c.p
    return 2 * ours * n / 1e9, 2 * ref * n / 1e9


# --------------------------------------------------------------- train_step
def train_step(settings: Settings) -> list[Table]:
    """Our fast and hooked training steps against the naive reference, per model family."""
    table = Table("train_step: one full-batch AdamW step incl. backward (median of interleaved repeats)")
    for label, preset, goal in STEP_CASES:
        compile_too = preset == "nanda2023" and not settings.quick  # compiling costs ~25 s
        candidates, check, n, (ours_gf, ref_gf) = step_candidates(preset, compile_too=compile_too)
        say(f"[train_step] {label}: {n:,} training rows; {check}")
        t = interleaved(candidates, repeats=settings.n(25, 2), warmup=settings.n(3, 1))
        fast = timing_row(table, f"{label}: fast path", t["fast"], t["reference"], goal=f"ratio <= {goal}",
                          note=f"work {ours_gf:.2f} vs {ref_gf:.2f} GFLOP (ratio {ours_gf / ref_gf:.3f}); "
                               f"{ours_gf / t['fast'].median:.0f} vs {ref_gf / t['reference'].median:.0f} GFLOP/s")
        fast.met = fast.ratio <= goal
        timing_row(table, f"{label}: fast path, reference's AdamW", t["fast, reference's AdamW"], t["reference"],
                   note="informational: the same optimiser on both sides")
        timing_row(table, f"{label}: hooked path", t["hooked"], t["reference"], note="informational")
        if compile_too:
            timing_row(table, f"{label}: fast path, torch.compile", t["fast, torch.compile"], t["reference"],
                       note="informational: TrainConfig(compile=True) on a CPU")
    return [table]


# ------------------------------------------------------------- time_to_grok
def _grok_steps_hint() -> tuple[int, str]:
    """Steps to extrapolate to under --quick: the shipped checkpoint's, else the issue's anchor."""
    try:
        from fourier_interp.pretrained import describe_pretrained

        for row in describe_pretrained():
            if row["name"] == "transformer-p113" and row.get("grokked_step"):
                return int(row["grokked_step"]), "grokked_step of the shipped transformer-p113"
    except Exception:  # no checkpoints shipped yet
        pass
    return ASSUMED_GROK_STEPS, "ASSUMED (issue 6: ~10-14k steps; no shipped checkpoint records it)"


def time_to_grok(settings: Settings) -> list[Table]:
    """nanda2023, p = 113, seed 0, trained with ``fi.train`` until test accuracy >= 0.99.

    Under ``--quick`` only ``QUICK_GROK_STEPS`` steps run; their time per step and per
    evaluation is extrapolated to the grokking step (rows labelled EXTRAPOLATED).
    The reference column is the reference's measured step time times the same step count.
    """
    candidates, check, _, _ = step_candidates("nanda2023")
    say(f"[time_to_grok] {check}")
    t = interleaved({k: candidates[k] for k in ("fast", "reference")}, repeats=settings.n(7, 2))
    ref_step = t["reference"].median
    say(f"[time_to_grok] reference step {ref_step * 1e3:.1f} ms, our fast step {t['fast'].median * 1e3:.1f} ms")

    # threads=None: fi.train keeps torch's setting (--threads), the one the reference's step was timed with
    model, task, cfg = fi.from_preset("nanda2023", seed=0, early_stop_acc=GROK_ACC, early_stop_patience=1, threads=None,
                                      progress=sys.stderr.isatty())  # a bar on a terminal, silence in logs
    if settings.quick:
        cfg.steps, cfg.early_stop_acc = QUICK_GROK_STEPS, None
    say(f"[time_to_grok] training {f'{QUICK_GROK_STEPS} steps (--quick)' if settings.quick else f'up to {cfg.steps:,} steps'} ...")
    t0 = time.perf_counter()
    history = fi.train(model, task, cfg)
    wall = time.perf_counter() - t0
    last = history.final
    steps, train_s = last["step"], last["time_s"]
    say(f"[time_to_grok] ran {steps:,} steps in {wall:.1f} s ({train_s:.1f} s in training steps); "
        f"test_acc {last['test_acc']:.4f}, grokked_step {history.grokked_step}")

    table = Table(f"time_to_grok: nanda2023 p=113 seed 0, fi.train until test acc >= {GROK_ACC} "
                  "(reference = its step time x the same steps)", unit="s")
    if settings.quick:  # extrapolate training steps and evaluations separately
        target, source = _grok_steps_hint()
        n_evals = len(history.records)
        per_eval = (wall - train_s) / n_evals
        estimate = train_s / steps * target + per_eval * (target // cfg.eval_every + 1)
        table.add(f"measured: {steps} steps + {n_evals} evaluations, wall", wall, steps * ref_step)
        row = table.add(f"EXTRAPOLATED wall to {target:,} steps", estimate, target * ref_step,
                        goal=f"< {GROK_GOAL_S:.0f} s", note=f"estimate, --quick; steps: {source}")
        row.met = row.ours < GROK_GOAL_S
        table.add(f"EXTRAPOLATED training steps only, {target:,} steps", train_s / steps * target, target * ref_step,
                  note="estimate, --quick")
        return [table]
    grokked = history.grokked_step is not None
    row = table.add(f"wall to test acc >= {GROK_ACC} ({steps:,} steps, eval every {cfg.eval_every})", wall,
                    steps * ref_step, goal=f"< {GROK_GOAL_S:.0f} s",
                    note="" if grokked else f"did NOT reach {GROK_ACC} within {steps:,} steps")
    row.met = grokked and wall < GROK_GOAL_S
    table.add("  of which training steps (no evaluation)", train_s, steps * ref_step)
    return [table]


# -------------------------------------------------------------------- seeds
def _per_step(history: fi.History, start: int, end: int) -> float:
    """Seconds per training step between two evaluated steps (``time_s`` excludes evaluation)."""
    t = {r["step"]: r["time_s"] for r in history.records}
    return (t[end] - t[start]) / (end - start)


def seeds(settings: Settings) -> list[Table]:
    """16 seeds at once with ``fi.train_seeds`` (vmap) against one seed with ``fi.train``.

    Per-step time comes from the runs' own ``time_s`` between the middle and the last
    evaluation, so warm-up steps, model building and evaluation are excluded.
    """
    n_seeds = 16
    cases = (  # label, overrides, (steps, measured from) full / quick
        ("nanda2023 p=113", dict(p=113), (20, 10), (2, 1)),
        ("nanda2023 p=23 (small p)", dict(p=23, frac_train=0.3), (200, 100), (10, 5)),
    )
    table = Table(f"seeds: {n_seeds} seeds at once (fi.train_seeds) vs one seed (fi.train), CPU",
                  unit="ms/step", ours=f"{n_seeds} seeds", reference="1 seed")
    for label, overrides, full, quick in cases:
        steps, start = quick if settings.quick else full
        run = dict(steps=steps, eval_every=start, **overrides)
        many, one = Timing(), Timing()
        for r in range(settings.n(3, 1)):
            for which in (("one", "many") if r % 2 == 0 else ("many", "one")):
                if which == "one":
                    model, task, cfg = fi.from_preset("nanda2023", seed=0, progress=False, **run)
                    rows = len(task.train_idx)
                    one.samples.append(_per_step(fi.train(model, task, cfg), start, steps))
                else:
                    sweep = fi.train_seeds("nanda2023", range(n_seeds), progress=False, **run)
                    many.samples.append(_per_step(sweep.histories[0], start, steps))
        say(f"[seeds] {label}: {n_seeds} seeds {many.median * 1e3:.1f} ms/step, 1 seed {one.median * 1e3:.1f} ms/step "
            f"(steps {start + 1}-{steps} of each run, {len(many.samples)} run(s) each)")
        row = timing_row(table, f"{label}, {rows:,} rows", many, one, goal=f"ratio <= {SEEDS_GOAL:.0f}",
                         note=f"{n_seeds} separate runs would be ratio {n_seeds}")
        row.met = row.ratio <= SEEDS_GOAL
    return [table]


# ------------------------------------------------------------------- threads
# A competing process: one torch thread doing dense products without end, like a second
# training run (or a test suite) sharing the machine.
_COMPETITOR = ("import torch\ntorch.set_num_threads(1)\na = torch.randn(384, 384)\n"
               "while True:\n    a = torch.tanh(a @ a)\n")


def _competitors(n: int) -> list:
    import subprocess

    return [subprocess.Popen([sys.executable, "-c", _COMPETITOR]) for _ in range(n)]


def threads(settings: Settings) -> list[Table]:
    """nanda2023 training step at 1 vs 2 intra-op threads, alone and beside competing processes.

    Both thread counts are timed interleaved in this process (the same weights, one step
    each in turn), first with nothing else started by the benchmark, then with one and
    with two single-thread competitors (a second run, or a test suite, sharing the cores).
    The load average before each case is in the note: "alone" is only quiet if the machine
    was. Ratio = 1 thread / 2 threads: below 1, one thread is faster.
    """
    import os

    from fourier_interp.checks import torch_threads

    cores = os.cpu_count() or 1
    model, task, cfg = fi.from_preset("nanda2023", seed=0)
    x, y = task.inputs[task.train_idx], task.labels[task.train_idx]
    runs = {}
    for n_threads in (1, 2):
        own = copy.deepcopy(model)  # each thread count trains its own copy
        runs[n_threads] = _adamw_step(own, own.fast_logits, x, y, cfg)

    def at(n_threads: int) -> Callable[[], None]:
        def go() -> None:
            with torch_threads(n_threads):
                runs[n_threads]()
        return go

    table = Table(f"threads: nanda2023 training step (fast path), 1 vs 2 torch threads, {cores} cores",
                  ours="1 thread", reference="2 threads")
    for n_comp in (0, 1, 2):
        procs = _competitors(n_comp)
        try:
            time.sleep(2.0 if n_comp else 0.0)  # let the competitors start
            load = os.getloadavg() if hasattr(os, "getloadavg") else None
            say(f"[threads] {n_comp} competing process(es); load {load}")
            t = interleaved({"1": at(1), "2": at(2)}, repeats=settings.n(20, 2), warmup=settings.n(3, 1))
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
        label = "alone" if n_comp == 0 else f"{n_comp} competing process{'es' if n_comp > 1 else ''}"
        timing_row(table, label, t["1"], t["2"],
                   note="load average " + ("-" if load is None else ", ".join(f"{v:.2f}" for v in load)))
    return [table]
