"""GPU benchmarks (CUDA only; a one-line "skipped" table without a GPU).

* ``gpu``: the nanda2023 step on CUDA — the naive reference step (eager, ``torch.optim.AdamW``
  defaults), our fast step eager (fused AdamW, ``fi.train``'s optimiser) and replayed from a
  CUDA graph (:class:`fourier_interp.stepping.StepRunner`, capturable fused AdamW), with
  TF32 matmuls and ``torch.compile(mode="reduce-overhead")`` (``TrainConfig(compile=True)``) as
  informational rows; one seed trained to grokking with ``fi.train`` (graphed, then compiled);
  128 seeds with ``fi.train_seeds`` in seed-steps per second.

Goals (issue 22, on an H200): one seed grokked in <= 10 s; >= 10,000 seed-steps/s at p = 113
with 128 seeds; the graphed fast step <= 0.3x the naive eager step at 1 seed.
"""

from __future__ import annotations

import copy
import time

import torch

import fourier_interp as fi
from fourier_interp.stepping import StepRunner, compiled, matmul_precision
from fourier_interp.training import loss_fn, make_optimizer

from .common import Settings, Table, interleaved, say, timing_row
from .reference import from_model

STEP_GOAL = 0.3
GROK_GOAL_S = 10.0
SEED_STEPS_GOAL = 10_000
N_SEEDS = 128


def _synced(step):
    def run() -> None:
        step()
        torch.cuda.synchronize()

    return run


def _step(module, forward, x, y, cfg, ours: bool, graph: bool, compile_mode=None):
    params = [p for p in module.parameters() if p.requires_grad]
    if ours:
        optimizer = make_optimizer(params, cfg, graph=graph)[0]
    else:
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    module.train()
    forward_loss = compiled(lambda x, y: loss_fn(forward(x), y), compile_mode, torch.device("cuda"))

    def one(rows) -> None:
        loss = forward_loss(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    runner = StepRunner(one, optimizer, torch.device("cuda"), graph=graph, required=graph)  # a graphed row is graphed
    return _synced(lambda: runner(None))


def _grok_one_seed(settings: Settings, **step) -> tuple[fi.History, float]:
    """nanda2023 seed 0 trained on CUDA with ``fi.train`` to test accuracy 0.99 (``--quick``: 300 steps): history, wall s."""
    model, task, cfg = fi.from_preset("nanda2023", seed=0, device="cuda", early_stop_acc=0.99, early_stop_patience=1,
                                      progress=False, **step)
    if settings.quick:
        cfg.steps, cfg.early_stop_acc = 300, None
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    history = fi.train(model, task, cfg)
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    say(f"[gpu] fi.train({step or ''}): {history.final['step']:,} steps in {wall:.1f} s, grokked_step {history.grokked_step}")
    return history, wall


def gpu(settings: Settings) -> list[Table]:
    """Step ratios, time to grok and seed-steps per second on CUDA."""
    if not torch.cuda.is_available():
        table = Table("gpu: skipped (no CUDA device)")
        table.add("no CUDA device on this machine", None, None, note="run on a GPU")
        return [table]
    steps = Table(f"gpu: nanda2023 p=113 training step on {torch.cuda.get_device_name()} (median, synchronised)")
    model, task, cfg = fi.from_preset("nanda2023", seed=0, device="cuda")
    model.to("cuda")
    x, y = task.inputs[task.train_idx].cuda(), task.labels[task.train_idx].cuda()
    ref = from_model(model).cuda()
    fast, graphed, tf32, comp = (copy.deepcopy(model) for _ in range(4))
    candidates = {
        "reference": _step(ref, ref, x, y, cfg, ours=False, graph=False),
        "fast eager": _step(fast, fast.fast_forward, fast.prepare_tokens(x), y, cfg, ours=True, graph=False),
        "fast graphed": _step(graphed, graphed.fast_forward, graphed.prepare_tokens(x), y, cfg, ours=True, graph=True),
        # torch.compile's own CUDA graphs (TrainConfig(compile=True) on CUDA), the other way to drop the launches
        "fast compiled": _step(comp, comp.fast_forward, comp.prepare_tokens(x), y, cfg, ours=True, graph=False,
                               compile_mode="reduce-overhead"),
    }
    t = interleaved(candidates, repeats=settings.n(50, 5), warmup=settings.n(10, 5))
    with matmul_precision("high", torch.device("cuda")):
        tf = _step(tf32, tf32.fast_forward, tf32.prepare_tokens(x), y, cfg, ours=True, graph=True)
        t["tf32"] = interleaved({"tf32": tf}, repeats=settings.n(50, 5), warmup=settings.n(10, 5))["tf32"]
    timing_row(steps, "fast step, eager", t["fast eager"], t["reference"], note="informational")
    row = timing_row(steps, "fast step, CUDA graph", t["fast graphed"], t["reference"], goal=f"ratio <= {STEP_GOAL}")
    row.met = row.ratio <= STEP_GOAL
    timing_row(steps, "fast step, CUDA graph, TF32 matmuls", t["tf32"], t["reference"], note="informational")
    timing_row(steps, 'fast step, torch.compile(mode="reduce-overhead")', t["fast compiled"], t["reference"],
               note="informational: TrainConfig(compile=True)")

    grok = Table("gpu: one nanda2023 seed to test acc >= 0.99 with fi.train (CUDA graph)", unit="s")
    history, wall = _grok_one_seed(settings)
    row = grok.add(f"wall ({history.final['step']:,} steps{', --quick' if settings.quick else ''})", wall, None,
                   goal=f"<= {GROK_GOAL_S:.0f} s", note="" if history.grokked_step else "did not grok")
    row.met = None if settings.quick else (history.grokked_step is not None and wall <= GROK_GOAL_S)
    history, wall = _grok_one_seed(settings, compile=True)
    grok.add(f"wall with compile=True ({history.final['step']:,} steps, compilation included)", wall, None,
             note="informational" if history.grokked_step or settings.quick else "did not grok")

    seeds = Table(f"gpu: {N_SEEDS} nanda2023 seeds with fi.train_seeds (CUDA graph)", unit="seed-steps/s")
    walls = {}
    short, long = (20, 120) if not settings.quick else (5, 25)
    for n_steps in (short, long):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fi.train_seeds("nanda2023", range(N_SEEDS), progress=False, device="cuda", steps=n_steps, eval_every=10_000)
        torch.cuda.synchronize()
        walls[n_steps] = time.perf_counter() - t0
    per_step = (walls[long] - walls[short]) / (long - short)
    rate = N_SEEDS / per_step
    say(f"[gpu] {N_SEEDS} seeds: {per_step * 1e3:.1f} ms/step ({rate:,.0f} seed-steps/s)")
    row = seeds.add(f"{N_SEEDS} seeds, p=113, steps {short + 1}-{long}", rate, None, goal=f">= {SEED_STEPS_GOAL:,}",
                    note=f"{per_step * 1e3:.1f} ms per step of all seeds")
    row.met = rate >= SEED_STEPS_GOAL
    return [steps, grok, seeds]
