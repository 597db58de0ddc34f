"""Many seeds at once: N independent runs of one configuration as one vectorised model.

The N models' parameters are stacked along a new leading axis and the hook-free training
path (``model.fast_forward``) runs under ``torch.func.vmap``, so every seed's forward and
backward is one batched kernel per op instead of N small ones. AdamW is elementwise, so
one AdamW over the stacked parameters updates each seed exactly as its own optimiser
would; the loss is the sum of the per-seed mean losses, so gradients do not mix. Each
seed's result equals training it alone with :func:`fi.train` (to float rounding, tested;
bit for bit for a single seed). On a CPU the seeds go through in passes small enough to
stay cheap (see :func:`auto_chunk`).

The loop is :func:`fi.train`'s (:mod:`fourier_interp.training.loop`); this module says only how
the stacked seeds compute and save (:class:`StackedModels`).

On a GPU this is the way to run sweeps: N seeds cost little more than one.

Example:
    >>> import fourier_interp as fi
    >>> sweep = fi.train_seeds("li2025-k2", seeds=[0, 1, 2], p=11, steps=20, progress=False)
    >>> len(sweep.models), [h.records[-1]["step"] for h in sweep.histories]
    (3, [20, 20, 20])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .checks import check_device, check_model_task, torch_threads
from .errors import InvalidArgumentError
from .evaluation import as_logits, check_training_memory, grid_batches, loss_fn, sample_rows  # noqa: F401  (sample_rows: its old home)
from .models import HookedModel
from .models.base import check_saveable
from .stepping import compiled, matmul_precision
from .tasks import ModularArithmetic
from .training import History, TrainConfig
from .training.loop import Runs, fit


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

    The loop is :func:`fi.train`'s (:mod:`fourier_interp.training.loop`): the minibatch
    sampler (:func:`~fourier_interp.evaluation.sample_rows`, seeded by each model's seed),
    the float64 split metrics of every evaluation, the records, the early-stopping rule and
    stopping on request (:func:`fourier_interp.training.request_stop`) are one code. Early
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
        raise InvalidArgumentError(f"need as many tasks as models (got {len(models)} models, {len(tasks)} tasks)")
    for m, t in zip(models, tasks):
        check_model_task(m, t)
    ref = models[0]
    for m in models:
        if type(m) is not type(ref) or {**m.cfg.to_dict(), "seed": 0} != {**ref.cfg.to_dict(), "seed": 0}:
            raise InvalidArgumentError("train_many needs models of one class and config, differing only in cfg.seed")
    if len({len(t.train_idx) for t in tasks}) != 1 or len({(t.p, t.k) for t in tasks}) != 1:
        raise InvalidArgumentError("train_many needs tasks with the same p, k and training-split size")
    if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1):
        raise InvalidArgumentError(f"chunk={chunk!r}: expected a positive int (seeds per vmapped pass) or None")
    if cfg.device is not None:
        check_device(cfg.device, "TrainConfig.device")
    if resume and cfg.out_dir is None:
        raise InvalidArgumentError("resume=True needs cfg.out_dir, the directory of the run to continue")
    if cfg.out_dir is not None:
        check_saveable(ref)  # every run is saved at the end: refuse now, not after training
    device = ref.device if cfg.device is None else torch.device(cfg.device)
    with torch_threads(cfg.threads), matmul_precision(cfg.matmul_precision, device):
        histories = fit(StackedModels(models, tasks, cfg, chunk), cfg, resume)
    return SeedSweep(models, tasks, histories)


class StackedModels(Runs):
    """N seeds of one configuration for the one loop: parameters stacked on a leading axis, vmapped.

    One leaf per parameter and pass of ``chunk`` seeds; the step runs every pass's forward
    and backward (the loss the sum of the seeds' mean losses, so gradients do not mix).
    """

    def __init__(self, models: list[HookedModel], tasks: list[ModularArithmetic], cfg: TrainConfig,
                 chunk: Optional[int]):
        ref = models[0]
        if cfg.device is not None:
            for m in models:
                m.to(cfg.device)
        self.models, self.tasks, self.seeds, self.device = models, tasks, [m.cfg.seed for m in models], ref.device
        self.desc = f"train x{len(models)}"
        check_training_memory(ref, tasks[0], cfg.batch_size, n_models=len(models))
        self.params = list(ref.named_parameters())
        self.names = [n for n, p in self.params if p.requires_grad]
        self.frozen = {n: p.detach() for n, p in self.params if not p.requires_grad}
        self.all_tokens = ref.prepare_tokens(tasks[0].inputs.to(self.device))  # the grid is the same for every task
        self.train_x = torch.stack([self.all_tokens[t.train_idx.to(self.device)] for t in tasks])  # [seeds, n_train, pos]
        self.train_y = torch.stack([t.labels[t.train_idx].to(self.device) for t in tasks])  # [seeds, n_train]
        n_train = self.train_x.shape[1]
        rows = n_train if cfg.batch_size is None else min(cfg.batch_size, n_train)
        self.chunk = chunk or auto_chunk(ref, rows, len(models))
        self.spans = [(lo, min(lo + self.chunk, len(models))) for lo in range(0, len(models), self.chunk)]
        self.groups = [  # each [seeds in the pass, *shape]
            {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models[lo:hi]]).clone().requires_grad_(True)
             for n in self.names}
            for lo, hi in self.spans
        ]
        self.at_stop: dict[int, dict[str, Tensor]] = {}  # seed index -> its weights when it stopped
        adapter = _Fast(ref)
        prefixed_frozen = {f"model.{n}": p for n, p in self.frozen.items()}

        def one(params: dict[str, Tensor], tokens: Tensor) -> Tensor:
            return functional_call(adapter, {**{f"model.{n}": p for n, p in params.items()}, **prefixed_frozen}, (tokens,))

        self.one, self.batched = one, vmap(one)
        self.pass_loss = compiled(self._pass_loss, cfg.compile, self.device)

    def run(self, group: dict[str, Tensor], tokens: Int[Tensor, "seeds batch pos"]) -> Float[Tensor, "seeds batch p"]:
        """Logits of one pass; a single seed skips vmap (its overhead buys nothing)."""
        if len(tokens) == 1:
            return self.one({n: p[0] for n, p in group.items()}, tokens[0])[None]
        return self.batched(group, tokens)

    def param(self, name: str, i: int) -> Tensor:
        """Seed ``i``'s value of parameter ``name``."""
        return self.groups[i // self.chunk][name][i % self.chunk]

    def leaves(self) -> list[Tensor]:
        return [p for g in self.groups for p in g.values()]

    def loss_backward(self, rows: Optional[Int[Tensor, "seeds batch"]]) -> None:
        x, y = self.train_x, self.train_y
        if rows is not None:
            x, y = torch.gather(x, 1, rows[..., None].expand(-1, -1, x.shape[-1])), torch.gather(y, 1, rows)
        for group, (lo, hi) in zip(self.groups, self.spans):
            self.pass_loss(group, x[lo:hi], y[lo:hi]).backward()

    def _pass_loss(self, group: dict[str, Tensor], x: Int[Tensor, "seeds batch pos"], y: Int[Tensor, "seeds batch"]) -> Tensor:
        """The sum of one pass's per-seed mean losses (so the seeds' gradients do not mix)."""
        logits = self.run(group, x)  # [seeds, batch, p]
        return sum(loss_fn(logits[i], y[i]) for i in range(len(x)))

    def grid_logits(self) -> list[Float[Tensor, "n p"]]:
        """Every seed's grid logits (chunked as in fi.evaluate), stopped seeds' too."""
        with torch.no_grad():
            logits = torch.cat([  # [seeds, p**k, p]
                torch.cat([self.run({n: p.detach() for n, p in g.items()}, self.all_tokens[rows].expand(hi - lo, -1, -1))
                           for rows in grid_batches(len(self.all_tokens))], dim=1)
                for g, (lo, hi) in zip(self.groups, self.spans)
            ])
        return [as_logits(logits[i], task.p) for i, task in enumerate(self.tasks)]

    def weight_norm(self, i: int) -> Tensor:
        return sum((self.param(n, i) if n not in self.frozen else p).detach().pow(2).sum() for n, p in self.params)

    def hold(self, i: int) -> None:
        self.at_stop[i] = {n: self.param(n, i).detach().clone() for n in self.names}

    def release(self, i: int) -> None:
        self.at_stop.pop(i, None)

    def state(self, directory: Path, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], dict[str, dict[str, Tensor]]]:
        """The stacked weights and AdamW moments of all seeds, and each stopped seed's weights."""
        names, groups = self.names, self.groups
        stacked = {n: torch.cat([g[n].detach() for g in groups]) for n in names}
        opt = {}
        for field in ("exp_avg", "exp_avg_sq"):
            for n in names:
                parts = [optimizer.state[g[n]][field] for g in groups if field in optimizer.state.get(g[n], {})]
                if len(parts) == len(groups):
                    opt[f"{n}::{field}"] = torch.cat(parts)
        steps = {n: float(optimizer.state[groups[0][n]]["step"]) for n in names if "step" in optimizer.state.get(groups[0][n], {})}
        stops = {f"{i}::{n}": t for i, ws in self.at_stop.items() for n, t in ws.items()}
        fields = {"model_class": type(self.models[0]).__name__, "models": [m.cfg.to_dict() | {"device": None} for m in self.models],
                  "tasks": [t.to_dict() for t in self.tasks], "optimizer": {"steps": steps}}
        return fields, {"params": stacked, "optimizer": opt, "at_stop": stops}

    def restore(self, state: dict[str, Any], tensors: dict[str, dict[str, Tensor]], optimizer: torch.optim.Optimizer,
                where: Path) -> None:
        if (state["model_class"] != type(self.models[0]).__name__
                or state["models"] != [m.cfg.to_dict() | {"device": None} for m in self.models]
                or state["tasks"] != [t.to_dict() for t in self.tasks]):
            raise InvalidArgumentError(f"cannot resume {where}: the saved run trained other models or tasks "
                                       f"(seeds {[m.get('seed') for m in state['models']]}); pass the same ones")
        params, opt, stops = tensors["params"], tensors.get("optimizer", {}), tensors.get("at_stop", {})
        with torch.no_grad():
            for g, (lo, hi) in zip(self.groups, self.spans):
                for n in self.names:
                    g[n].copy_(params[n][lo:hi])
                    entry = {f: opt[f"{n}::{f}"][lo:hi].clone().to(g[n].device) for f in ("exp_avg", "exp_avg_sq")
                             if f"{n}::{f}" in opt}
                    if n in state["optimizer"]["steps"]:
                        entry["step"] = torch.tensor(state["optimizer"]["steps"][n])
                    if entry:
                        optimizer.state[g[n]] = entry
        for i, stopped in enumerate(state["stopped_at"]):
            if stopped is not None:
                self.at_stop[i] = {n: stops[f"{i}::{n}"].to(self.device) for n in self.names}

    def finish(self, out_dir: Optional[Path], step: int, stopped_at: list[Optional[int]], histories: list[History],
               cfg: TrainConfig) -> None:
        """Each seed's weights (of its stop, if it stopped early) into its model; each saved to ``out_dir/seed_<seed>``."""
        with torch.no_grad():
            for i, m in enumerate(self.models):
                params = dict(m.named_parameters())
                for n in self.names:
                    params[n].copy_(self.at_stop[i][n] if i in self.at_stop else self.param(n, i))
                m.eval()
        if out_dir is None:
            return
        for m, task, history, stop in zip(self.models, self.tasks, histories, stopped_at):
            m.save(out_dir / f"seed_{m.cfg.seed}", task=task, history=history,
                   metadata={"train_config": {**cfg.to_dict(), "seed": m.cfg.seed}, "step": step if stop is None else stop})


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
        raise InvalidArgumentError("seeds is empty; give at least one seed")
    cfg = built[0][2]
    cfg.progress = progress
    return train_many([b[0] for b in built], [b[1] for b in built], cfg, chunk=chunk)

