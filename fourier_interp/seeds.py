"""Many seeds at once: N independent runs of one configuration as one vectorised model.

The N models' parameters are stacked along a new leading axis and the hook-free training
path (``model.fast_forward``) runs under ``torch.func.vmap``, so every seed's forward and
backward is one batched kernel per op instead of N small ones. AdamW is elementwise, so
one AdamW over the stacked parameters updates each seed exactly as its own optimiser
would; the loss is the sum of the per-seed mean losses, so gradients do not mix. Each
seed's result equals training it alone with :func:`fi.train` (to float rounding, tested).
On a CPU the seeds go through in passes small enough to stay cheap (see :func:`auto_chunk`).

On a GPU this is the way to run sweeps: N seeds cost little more than one.

Example:
    >>> import fourier_interp as fi
    >>> sweep = fi.train_seeds("li2025-k2", seeds=[0, 1, 2], p=11, steps=20, progress=False)
    >>> len(sweep.models), [h.records[-1]["step"] for h in sweep.histories]
    (3, [20, 20, 20])
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .checks import check_device, check_model_task, progress_bar, torch_threads
from .errors import InvalidArgumentError
from .models import HookedModel
from .models.base import check_saveable
from .tasks import ModularArithmetic
from .evaluation import EarlyStopping, as_logits, check_training_memory, grid_batches, loss_fn, sample_rows, split_metrics
from .stepping import StepRunner, matmul_precision, use_graph
from .storage import CheckpointError, atomic_directory
from .trainer_state import STATE_DIR, STATE_FILE, read_state, restore_rng, rng_state, write_state
from .training import History, TrainConfig, make_optimizer


@dataclass
class SeedSweep:
    """Results of :func:`train_many` / :func:`train_seeds`: one model, task and history per seed."""

    models: list[HookedModel]
    tasks: list[ModularArithmetic]
    histories: list[History]

    @property
    def grokked_steps(self) -> list[Optional[int]]:
        return [h.grokked_step for h in self.histories]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seeds": [m.cfg.seed for m in self.models],
            "grokked_steps": self.grokked_steps,
            "final": [h.final for h in self.histories],
        }

    def __repr__(self) -> str:
        return f"SeedSweep({len(self.models)} seeds, grokked_steps={self.grokked_steps})"


class _Fast(nn.Module):
    """Adapter so ``functional_call`` runs a model's ``fast_forward``."""

    def __init__(self, model: HookedModel):
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor) -> Tensor:
        return self.model.fast_forward(tokens)


def train_many(
    models: Sequence[HookedModel],
    tasks: Sequence[ModularArithmetic],
    cfg: Optional[TrainConfig] = None,
    chunk: Optional[int] = None,
    *,
    resume: bool = False,
) -> SeedSweep:
    """Train ``models[i]`` on ``tasks[i]`` for every i at once; weights are written back into the models.

    All models must be the same class with the same config except the seed, and all
    tasks the same size of training split. ``cfg.seed`` is ignored: each run's minibatch
    seed is its model's ``cfg.seed``, as if each were trained alone with that seed.
    With ``cfg.out_dir`` set, writes each run to ``cfg.out_dir/seed_<seed>`` at the end and
    the trainer state of all seeds (stacked weights, optimiser, each seed's early-stopping
    counter and stop, histories, RNG) to ``cfg.out_dir/trainer_state`` every
    ``cfg.checkpoint_every`` steps and at the end; ``resume=True`` continues from it exactly
    as if the run had not stopped (same seeds, models and tasks; ``chunk`` may differ).

    Shared with :func:`fi.train` through :mod:`fourier_interp.evaluation`: the minibatch
    sampler (:func:`~fourier_interp.evaluation.sample_rows`, seeded by each model's seed),
    the float64 split metrics of every evaluation and the early-stopping rule. Early
    stopping is per seed (``cfg.early_stop_acc``): a seed whose test accuracy has held for
    ``early_stop_patience`` evaluations stops *on its own* — its history ends at that
    evaluation (``stopped_early=True``) and its model gets its weights of that step, exactly
    what ``fi.train`` of that seed alone returns. Under vmap the seeds share stacked
    parameters, so a stopped seed's slot is still computed (and discarded) until every seed
    has stopped or ``cfg.steps`` is reached; the run ends at the first of the two.

    ``chunk`` is how many seeds go through one vmapped forward and backward; the
    optimiser step is always one over all seeds. ``None`` picks it: every seed on a
    GPU; on a CPU as many as keep the largest activation under ~8 MiB (see
    :func:`auto_chunk`): where one seed is already compute-bound, batching adds
    allocator traffic and saves nothing, so large configurations run seed by seed.
    ``cfg.threads`` sets torch's intra-op threads for this call only, as in :func:`fi.train`.
    """
    cfg = cfg or TrainConfig()
    models, tasks = list(models), list(tasks)
    if not models or len(models) != len(tasks):
        raise ValueError(f"need as many tasks as models (got {len(models)} models, {len(tasks)} tasks)")
    for m, t in zip(models, tasks):
        check_model_task(m, t)
    ref = models[0]
    for m in models:
        if type(m) is not type(ref) or {**m.cfg.to_dict(), "seed": 0} != {**ref.cfg.to_dict(), "seed": 0}:
            raise ValueError("train_many needs models of one class and config, differing only in cfg.seed")
    if len({len(t.train_idx) for t in tasks}) != 1 or len({(t.p, t.k) for t in tasks}) != 1:
        raise ValueError("train_many needs tasks with the same p, k and training-split size")
    if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1):
        raise ValueError(f"chunk={chunk!r}: expected a positive int (seeds per vmapped pass) or None")
    if cfg.device is not None:
        check_device(cfg.device, "TrainConfig.device")
    if resume and cfg.out_dir is None:
        raise InvalidArgumentError("resume=True needs cfg.out_dir, the directory of the run to continue")
    if cfg.out_dir is not None:
        check_saveable(ref)  # every run is saved at the end: refuse now, not after training
    device = ref.device if cfg.device is None else torch.device(cfg.device)
    with torch_threads(cfg.threads), matmul_precision(cfg.matmul_precision, device):
        return _train_many(models, tasks, cfg, chunk, resume)


def _train_many(models: list[HookedModel], tasks: list[ModularArithmetic], cfg: TrainConfig, chunk: Optional[int],
                resume: bool = False) -> SeedSweep:
    """:func:`train_many` once its arguments are checked."""
    ref = models[0]
    if cfg.device is not None:
        for m in models:
            m.to(cfg.device)
    device = ref.device
    check_training_memory(ref, tasks[0], cfg.batch_size, n_models=len(models))
    names = [n for n, p in ref.named_parameters() if p.requires_grad]
    frozen = {n: p.detach() for n, p in ref.named_parameters() if not p.requires_grad}
    all_tokens = ref.prepare_tokens(tasks[0].inputs.to(device))  # the grid is the same for every task
    train_x = torch.stack([all_tokens[t.train_idx.to(device)] for t in tasks])
    train_y = torch.stack([t.labels[t.train_idx].to(device) for t in tasks])
    seeds = [m.cfg.seed for m in models]
    histories = [History() for _ in models]
    n_train, elapsed = train_x.shape[1], 0.0
    chunk = chunk or auto_chunk(ref, n_train if cfg.batch_size is None else min(cfg.batch_size, n_train), len(models))
    spans = [(lo, min(lo + chunk, len(models))) for lo in range(0, len(models), chunk)]
    # one leaf per parameter and pass, seeds stacked on a leading axis; one optimiser over all
    groups = [
        {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models[lo:hi]]).clone().requires_grad_(True) for n in names}
        for lo, hi in spans
    ]
    graph = use_graph(cfg.cuda_graph, device)
    optimizer, schedule = make_optimizer([p for g in groups for p in g.values()], cfg, graph)

    adapter = _Fast(ref)
    prefixed_frozen = {f"model.{n}": p for n, p in frozen.items()}

    def one(params: dict[str, Tensor], tokens: Tensor) -> Tensor:
        return functional_call(adapter, {**{f"model.{n}": p for n, p in params.items()}, **prefixed_frozen}, (tokens,))

    batched = vmap(one)

    def run(group: dict[str, Tensor], tokens: Tensor) -> Tensor:
        """``[seeds, batch, p]`` logits of one pass; a single seed skips vmap (its overhead buys nothing)."""
        if len(tokens) == 1:
            return one({n: p[0] for n, p in group.items()}, tokens[0])[None]
        return batched(group, tokens)

    def param(name: str, i: int) -> Tensor:
        """Seed ``i``'s value of parameter ``name``."""
        return groups[i // chunk][name][i % chunk]

    stopping = [EarlyStopping(cfg.early_stop_acc, cfg.early_stop_patience) for _ in models]
    stopped_at: list[Optional[int]] = [None] * len(models)  # each seed's own early-stopping step
    at_stop: dict[int, dict[str, Tensor]] = {}  # seed index -> its weights at that step
    out_dir = Path(cfg.out_dir) if cfg.out_dir is not None else None

    def record(step: int) -> None:
        """One evaluation of every seed still running (grid chunked as in fi.evaluate, float64 metrics)."""
        with torch.no_grad():
            logits = torch.cat([  # [seeds, p**k, p]
                torch.cat([run({n: p.detach() for n, p in g.items()}, all_tokens[rows].expand(hi - lo, -1, -1))
                           for rows in grid_batches(len(all_tokens))], dim=1)
                for g, (lo, hi) in zip(groups, spans)
            ])
        for i, (task, history) in enumerate(zip(tasks, histories)):
            if stopped_at[i] is not None:
                continue
            r = {"step": step, "time_s": round(elapsed, 3), **split_metrics(as_logits(logits[i], task.p), task)}
            r["weight_norm"] = float(sum(param(n, i).detach().pow(2).sum() for n in names) + sum(p.pow(2).sum() for p in frozen.values()))
            history.records.append(r)

    def one_step(rows: Optional[Tensor]) -> None:
        """Every pass's forward and backward, then one AdamW step over all seeds."""
        if rows is None:
            x, y = train_x, train_y
        else:
            x, y = torch.gather(train_x, 1, rows[..., None].expand(-1, -1, train_x.shape[-1])), torch.gather(train_y, 1, rows)
        optimizer.zero_grad(set_to_none=True)
        for group, (lo, hi) in zip(groups, spans):
            logits = run(group, x[lo:hi])  # [seeds, batch, p]
            sum(loss_fn(logits[i], y[lo + i]) for i in range(hi - lo)).backward()
        optimizer.step()

    run_step = StepRunner(one_step, optimizer, device, graph)
    def save_state(step: int, n_records: list[int], rng: dict[str, Tensor]) -> None:
        """All seeds' resumable state (the histories cut to ``n_records`` each: later records are read-outs)."""
        if out_dir is None:
            return
        stacked = {n: torch.cat([g[n].detach() for g in groups]) for n in names}
        opt = {}
        for field in ("exp_avg", "exp_avg_sq"):
            for n in names:
                parts = [optimizer.state[g[n]][field] for g in groups if field in optimizer.state.get(g[n], {})]
                if len(parts) == len(groups):
                    opt[f"{n}::{field}"] = torch.cat(parts)
        steps = {n: float(optimizer.state[groups[0][n]]["step"]) for n in names if "step" in optimizer.state.get(groups[0][n], {})}
        stops = {f"{i}::{n}": t for i, ws in at_stop.items() for n, t in ws.items()}
        with atomic_directory(out_dir / STATE_DIR) as tmp:
            write_state(tmp, {
                "step": step, "elapsed_s": elapsed, "train_config": cfg.to_dict(), "model_class": type(ref).__name__,
                "models": [m.cfg.to_dict() | {"device": None} for m in models], "tasks": [t.to_dict() for t in tasks],
                "optimizer": {"steps": steps}, "schedule": schedule.state_dict(),
                "early_stopping": [s.state_dict() for s in stopping], "stopped_at": stopped_at,
                "histories": [History(records=h.records[:k], stopped_early=h.stopped_early).to_dict()
                              for h, k in zip(histories, n_records)],
            }, {"params": stacked, "optimizer": opt, "at_stop": stops, "rng": rng})

    start = 0
    if resume:
        start, elapsed = _load_many_state(out_dir, models, tasks, cfg, groups, spans, names, optimizer, schedule,
                                          stopping, stopped_at, at_stop, histories)
    else:
        record(0)
    bar = progress_bar(total=cfg.steps, initial=start, disable=not cfg.progress, desc=f"train x{len(models)}",
                       unit="step", dynamic_ncols=True)
    step = start
    last = start if all(s is not None for s in stopped_at) else cfg.steps
    try:
        for step in range(start + 1, last + 1):
            t0 = time.perf_counter()
            rows = [sample_rows(n_train, cfg.batch_size, s, step) for s in seeds]  # each seed's own minibatch
            run_step(None if rows[0] is None else torch.stack(rows).to(device))
            schedule.step()
            elapsed += time.perf_counter() - t0
            bar.update(1)
            if step % cfg.eval_every == 0:
                record(step)
                running = [i for i in range(len(models)) if stopped_at[i] is None]
                for i in running:  # early stopping, seed by seed: a seed that holds stops on its own
                    if stopping[i].update(histories[i].records[-1]["test_acc"]):
                        stopped_at[i], histories[i].stopped_early = step, True
                        at_stop[i] = {n: param(n, i).detach().clone() for n in names}
                accs = [histories[i].records[-1]["test_acc"] for i in running]
                bar.set_postfix(min_test_acc=f"{min(a or 0 for a in accs):.3f}", refresh=False)
                if all(s is not None for s in stopped_at):
                    break
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                save_state(step, [len(h.records) for h in histories], rng_state(device))
    finally:
        bar.close()

    # the state to resume from is taken before the final read-out (see fi.train)
    n_records, rng = [len(h.records) for h in histories], rng_state(device)
    if any(stopped_at[i] is None and h.records[-1]["step"] != step for i, h in enumerate(histories)):
        record(step)
    with torch.no_grad():
        for i, m in enumerate(models):
            params = dict(m.named_parameters())
            for n in names:
                params[n].copy_(at_stop[i][n] if i in at_stop else param(n, i))
            m.eval()
    if out_dir is not None:
        save_state(step, n_records, rng)
        for i, (m, task, h) in enumerate(zip(models, tasks, histories)):
            final = step if stopped_at[i] is None else stopped_at[i]
            m.save(out_dir / f"seed_{m.cfg.seed}", task=task, history=h,
                   metadata={"train_config": {**cfg.to_dict(), "seed": m.cfg.seed}, "step": final})
    return SeedSweep(models, tasks, histories)


def _load_many_state(out_dir: Path, models, tasks, cfg: TrainConfig, groups, spans, names, optimizer, schedule,
                     stopping, stopped_at, at_stop, histories) -> tuple[int, float]:
    """Put the state :func:`train_many` saved in ``out_dir`` back into this run's stacked parameters and bookkeeping."""
    state_dir = out_dir / STATE_DIR
    state, tensors = read_state(state_dir)
    where = state_dir / STATE_FILE
    ref = models[0]
    mine = cfg.to_dict()
    try:
        saved_cfg = state["train_config"]
        changed = [k for k in mine if k not in TrainConfig.RESUMABLE_CHANGES and saved_cfg.get(k) != mine[k]]
        if changed:
            raise InvalidArgumentError(
                f"cannot resume {out_dir}: TrainConfig fields {changed} differ from the saved run; "
                f"only {TrainConfig.RESUMABLE_CHANGES} may change")
        if (state["model_class"] != type(ref).__name__ or state["models"] != [m.cfg.to_dict() | {"device": None} for m in models]
                or state["tasks"] != [t.to_dict() for t in tasks]):
            raise InvalidArgumentError(f"cannot resume {out_dir}: the saved run trained other models or tasks "
                                       f"(seeds {[m.get('seed') for m in state['models']]}); pass the same ones")
        step = int(state["step"])
        if cfg.steps < step:
            raise InvalidArgumentError(f"cannot resume {out_dir} with TrainConfig.steps={cfg.steps}: "
                                       f"the saved run is already at step {step}")
        params, opt, stops = tensors["params"], tensors.get("optimizer", {}), tensors.get("at_stop", {})
        with torch.no_grad():
            for g, (lo, hi) in zip(groups, spans):
                for n in names:
                    g[n].copy_(params[n][lo:hi])
                    entry = {f: opt[f"{n}::{f}"][lo:hi].clone().to(g[n].device) for f in ("exp_avg", "exp_avg_sq")
                             if f"{n}::{f}" in opt}
                    if n in state["optimizer"]["steps"]:
                        entry["step"] = torch.tensor(state["optimizer"]["steps"][n])
                    if entry:
                        optimizer.state[g[n]] = entry
        schedule.load_state_dict(state["schedule"])
        for group, lr in zip(optimizer.param_groups, schedule.get_last_lr()):
            group["lr"] = lr
        for i, saved in enumerate(state["histories"]):
            histories[i].records[:] = History.from_dict(saved).records
            histories[i].stopped_early = bool(saved.get("stopped_early", False))
            stopping[i].load_state_dict(state["early_stopping"][i], histories[i].records)
            stopped_at[i] = state["stopped_at"][i]
            if stopped_at[i] is not None:
                at_stop[i] = {n: stops[f"{i}::{n}"].to(ref.device) for n in names}
        restore_rng(tensors.get("rng", {}), ref.device)
        return step, float(state["elapsed_s"])
    except (KeyError, IndexError, TypeError, ValueError) as e:
        if isinstance(e, InvalidArgumentError):
            raise
        raise CheckpointError(f"{where}: malformed trainer state ({type(e).__name__}: {e})") from None


def auto_chunk(model: HookedModel, rows: int, n_seeds: int, budget_bytes: int = 8 * 2**20) -> int:
    """Seeds per vmapped pass: on a GPU as many as its free memory holds; on a CPU, as many as keep the largest activation under budget.

    On a GPU one seed's step is estimated as ``GPU_ACTIVATIONS`` activations of the largest
    size (forward, backward and their copies); a pass takes at most half the free memory.

    One seed's largest activation is estimated as ``rows`` times the widest dimension of
    any parameter (d_mlp, d_hidden, ...) times the element size. vmap pays on a CPU only
    while a seed's step is dominated by per-op overhead: measured on the 2-core
    benchmark box, 16 nanda2023 seeds at p = 23 (158 rows) cost 34-39 ms per step in one
    pass against 68-72 ms seed by seed, while at p = 113 (3,830 rows, one seed 33-40 ms,
    already compute-bound) one pass cost ~830 ms, passes of 3-4 seeds 620-820 ms and
    seed by seed 515-585 ms: large batched activations are fresh pages from the
    allocator on every step. A pass of one seed runs without vmap.
    """
    params = list(model.parameters())
    width = max(max(p.shape) for p in params)
    per_seed = rows * width * params[0].element_size()
    if model.device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(model.device)
        return max(1, min(n_seeds, int(free // 2) // max(GPU_ACTIVATIONS * per_seed, 1)))
    if model.device.type != "cpu":
        return n_seeds
    return max(1, min(n_seeds, budget_bytes // max(per_seed, 1)))


GPU_ACTIVATIONS = 12
"""Activations of the largest size one seed's step keeps alive on a GPU (an estimate with margin)."""


def train_seeds(
    preset: str, seeds: Iterable[int], progress: bool = True, chunk: Optional[int] = None, **overrides: Any
) -> SeedSweep:
    """Build ``preset`` for every seed and train them all at once (see :func:`train_many`).

    Args:
        preset: A name from :func:`fi.list_presets`.
        seeds: The seeds (model init, split and minibatches each follow the seed).
        progress: Show a progress bar.
        chunk: Seeds per vmapped pass (see :func:`train_many`); ``None`` picks it.
        **overrides: As for :func:`fi.from_preset` (``p``, ``steps``, ``lr`` ...), plus
            ``device``, ``out_dir``, ``early_stop_acc`` and other TrainConfig fields.
    """
    from .checks import int_list
    from .presets import from_preset

    built = [from_preset(preset, seed=s, **overrides) for s in int_list(seeds, "seeds", scalar=False)]
    if not built:
        raise ValueError("seeds is empty; give at least one seed")
    cfg = built[0][2]
    cfg.progress = progress
    return train_many([b[0] for b in built], [b[1] for b in built], cfg, chunk=chunk)

