"""The one training loop: runs stepped, evaluated, stopped and saved together.

:func:`fi.train` hands it one model trained in place (:class:`~fourier_interp.training.single.OneModel`),
:func:`fi.train_many` many seeds stacked under vmap (:class:`fourier_interp.seeds.StackedModels`);
both are :class:`Runs`, which say how their runs compute. Everything else is written here once:

* the step: ``zero_grad``, every run's forward and backward, one AdamW step over all of them
  (replayed from a CUDA graph where enabled, :mod:`fourier_interp.stepping`), the warmup;
* each run's minibatch: :func:`~fourier_interp.evaluation.sample_rows` seeded by the run's seed
  and the step, so a run draws the same rows alone, among many and after a resume;
* the evaluations: float64 split metrics on the full grid, the weight norm and the callbacks'
  fields, one record per run in one format (:class:`~fourier_interp.training.config.History`);
* early stopping, per run: a run whose rule holds stops on its own and keeps its weights of
  that step; the loop ends when every run has stopped or ``cfg.steps`` is reached;
* checkpoints, the resumable trainer state (:mod:`fourier_interp.trainer_state`), stopping
  on request (:func:`request_stop`), the progress bar.

Example:
    >>> import fourier_interp as fi
    >>> from fourier_interp.training.loop import fit
    >>> from fourier_interp.training.single import OneModel
    >>> model, task = fi.HookedMLP(fi.MLPConfig(p=5, d_hidden=8)), fi.ModularArithmetic(p=5)
    >>> cfg = fi.TrainConfig(steps=4, eval_every=2, progress=False)
    >>> [r["step"] for r in fit(OneModel(model, task, cfg), cfg)[0].records]
    [0, 2, 4]
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, ContextManager, Optional, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from ..checks import progress_bar
from ..errors import InvalidArgumentError
from ..evaluation import EarlyStopping, SplitRows, metrics_from_values, sample_rows, split_metric_values
from ..stepping import StepRunner, use_graph
from ..storage import CheckpointError, atomic_directory
from ..tasks import ModularArithmetic
from ..trainer_state import (
    STATE_DIR,
    STATE_FILE,
    callback_states,
    read_state,
    restore_callbacks,
    restore_rng,
    rng_state,
    write_state,
)
from .config import History, TrainConfig, make_optimizer

EvalCallback = Callable[[nn.Module, ModularArithmetic, Tensor, int], Optional[dict[str, Any]]]


# ------------------------------------------------------- stopping on request (a cluster's signal)
class StopRequested(BaseException):
    """Raised by :func:`fi.train` / :func:`fi.train_many` after :func:`request_stop`: the run
    saved its trainer state (and, for ``fi.train``, a checkpoint) at step ``step``, and
    ``resume=True`` continues it. A ``BaseException``, like ``KeyboardInterrupt``, so code that
    records a run's errors lets it through."""

    def __init__(self, step: int):
        super().__init__(f"training stopped on request at step {step}; resume=True continues it")
        self.step = step


_stop_requested = False


def request_stop(requested: bool = True) -> None:
    """Ask a running training that saves to ``cfg.out_dir`` to stop at the end of its step.

    It saves its state, then raises :class:`StopRequested`. Safe to call from a signal
    handler (it sets a flag); ``request_stop(False)`` clears it. Training without an
    ``out_dir`` has nowhere to save and ignores the request.

    Example:
        >>> import signal
        >>> from fourier_interp.training import request_stop
        >>> previous = signal.signal(signal.SIGUSR2, lambda signum, frame: request_stop())  # doctest: +SKIP
        >>> request_stop(False)  # clear it again
    """
    global _stop_requested
    _stop_requested = bool(requested)


# ------------------------------------------------------------------ what the loop trains
class Runs:
    """The runs one loop trains: how they compute, what they save. The loop does the rest.

    Attributes:
        models: Each run's model (what callbacks are given; the trained weights end up there).
        tasks: Each run's task (all with training splits of one size).
        seeds: Each run's minibatch seed.
        device: Where the weights live.
        desc: The progress bar's label.
    """

    models: list[nn.Module]
    tasks: list[ModularArithmetic]
    seeds: list[int]
    device: torch.device
    desc: str = "train"

    def leaves(self) -> list[Tensor]:
        """The tensors one AdamW updates (every run's trainable weights)."""
        raise NotImplementedError

    def loss_backward(self, rows: Optional[Int[Tensor, "runs batch"]]) -> None:
        """Every run's loss on its rows of the training split (all of it for ``None``), backpropagated."""
        raise NotImplementedError

    def grid_logits(self) -> list[Float[Tensor, "n p"]]:
        """Each run's float64 logits on its task's full grid."""
        raise NotImplementedError

    def weight_norm(self, i: int) -> Tensor:
        """Run ``i``'s sum of squared parameters (a 0-d tensor on the device: the loop reads it back with the rest)."""
        raise NotImplementedError

    def start(self) -> None:
        """Before the first evaluation of this call (a resumed run's state is loaded by then)."""

    def evaluating(self) -> ContextManager[None]:
        """The mode evaluations run in (a model's ``eval()``, then back)."""
        return nullcontext()

    def hold(self, i: int) -> None:
        """Run ``i`` stopped early: keep its weights of now as its result."""

    def release(self, i: int) -> None:
        """Run ``i`` runs again (a resume under another early-stopping rule)."""

    def checkpoint(self, out_dir: Path, step: int, histories: list[History]) -> None:
        """Write a model checkpoint of step ``step``, if this kind of run keeps them."""

    def state(self, directory: Path, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], dict[str, dict[str, Tensor]]]:
        """Weights and optimiser state for the trainer state in ``directory``: JSON fields and tensor groups."""
        raise NotImplementedError

    def restore(self, state: dict[str, Any], tensors: dict[str, dict[str, Tensor]], optimizer: torch.optim.Optimizer,
                where: Path) -> None:
        """Load what :meth:`state` saved (``where`` is the run directory, for messages).

        Raises:
            InvalidArgumentError: the saved runs are other models or tasks.
        """
        raise NotImplementedError

    def published(self, out_dir: Path, histories: list[History]) -> None:
        """After the trainer state is saved: update what readers of ``out_dir`` see."""

    def finish(self, out_dir: Optional[Path], step: int, stopped_at: list[Optional[int]], histories: list[History],
               cfg: TrainConfig) -> None:
        """After the last step: the weights into the models, the final models saved under ``out_dir``."""


# ------------------------------------------------------------------ the loop
def fit(runs: Runs, cfg: TrainConfig, resume: bool = False, callbacks: Sequence[EvalCallback] = ()) -> list[History]:
    """Train ``runs`` with ``cfg`` (arguments already checked) and return each run's :class:`History`.

    Args:
        runs: What to train.
        cfg: Optimisation, evaluation, stopping and saving settings.
        resume: Continue the run saved in ``cfg.out_dir``.
        callbacks: Called at every evaluation of every run as ``cb(model, task, logits, step)``.
    """
    return _Loop(runs, cfg, callbacks).run(resume)


class _Loop:
    def __init__(self, runs: Runs, cfg: TrainConfig, callbacks: Sequence[EvalCallback]):
        self.runs, self.cfg, self.callbacks = runs, cfg, list(callbacks)
        self.out_dir = Path(cfg.out_dir) if cfg.out_dir is not None else None
        graph = use_graph(cfg.cuda_graph, runs.device, cfg.compile)
        self.optimizer, self.schedule = make_optimizer(runs.leaves(), cfg, graph)
        self.run_step = StepRunner(self.one_step, self.optimizer, runs.device, graph, required=bool(cfg.cuda_graph))
        n = len(runs.tasks)
        self.histories = [History() for _ in range(n)]
        self.stopping = [EarlyStopping(cfg.early_stop_acc, cfg.early_stop_patience) for _ in range(n)]
        self.split_rows = [SplitRows(task, runs.device) for task in runs.tasks]  # on the device once, not per evaluation
        self.stopped_at: list[Optional[int]] = [None] * n  # each run's early-stopping step
        self.elapsed = 0.0

    def running(self) -> list[int]:
        return [i for i, s in enumerate(self.stopped_at) if s is None]

    def one_step(self, rows: Optional[Tensor]) -> None:
        """Every run's forward and backward, then one AdamW step over all of them."""
        self.optimizer.zero_grad(set_to_none=True)
        self.runs.loss_backward(rows)
        self.optimizer.step()

    def record(self, step: int) -> None:
        """One evaluation of every run still running."""
        runs = self.runs
        with runs.evaluating():
            logits = runs.grid_logits()  # each [p**k, p] float64
            running = self.running()
            if not running:
                return
            values = torch.stack([  # every run's metrics and weight norm, read back in one transfer
                torch.cat([split_metric_values(logits[i], runs.tasks[i], self.split_rows[i]),
                           torch.as_tensor(runs.weight_norm(i), dtype=torch.float64, device=runs.device).reshape(1)])
                for i in running]).tolist()
            for i, (*metrics, weight_norm) in zip(running, values):
                task = runs.tasks[i]
                r = {"step": step, "time_s": round(self.elapsed, 3), **metrics_from_values(metrics, task)}
                r["weight_norm"] = weight_norm
                for cb in self.callbacks:
                    r.update(cb(runs.models[i], task, logits[i].detach(), step) or {})
                self.histories[i].records.append(r)

    def evaluate(self, step: int, bar) -> None:
        """Record step ``step``; a run whose early-stopping rule now holds stops on its own."""
        running = self.running()
        self.record(step)
        for i in running:
            if self.stopping[i].update(self.histories[i].records[-1]["test_acc"]):
                self.stopped_at[i], self.histories[i].stopped_early = step, True
                self.runs.hold(i)
        last = [self.histories[i].records[-1] for i in running]
        if len(self.histories) == 1:
            bar.set_postfix(loss=f"{last[0]['train_loss']:.3g}", test_acc=_fmt(last[0]["test_acc"]), refresh=False)
        else:
            bar.set_postfix(min_test_acc=f"{min(r['test_acc'] or 0 for r in last):.3f}", refresh=False)

    def run(self, resume: bool) -> list[History]:
        cfg, runs = self.cfg, self.runs
        start = self.load_state() if resume else 0
        runs.start()
        if not self.histories[0].records:
            self.record(0)
        n_train = len(runs.tasks[0].train_idx)
        bar = progress_bar(total=cfg.steps, initial=start, disable=not cfg.progress, desc=runs.desc, unit="step",
                           dynamic_ncols=True)
        step = start
        last = cfg.steps if self.running() else start  # runs that had all stopped early stay stopped
        saving = self.out_dir is not None
        try:  # an interrupt leaves the last trainer_state / checkpoints intact (atomic writes)
            for step in range(start + 1, last + 1):
                t0 = time.perf_counter()
                rows = [sample_rows(n_train, cfg.batch_size, seed, step) for seed in runs.seeds]  # each run's own
                # non_blocking: on a GPU the copy does not wait for the steps queued before it
                self.run_step(None if rows[0] is None else torch.stack(rows).to(runs.device, non_blocking=True))
                self.schedule.step()
                self.elapsed += time.perf_counter() - t0
                bar.update(1)
                if step % cfg.eval_every == 0:
                    self.evaluate(step, bar)
                    if not self.running():
                        break
                stop_now = _stop_requested and saving and step < cfg.steps
                if saving and ((cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or stop_now):
                    runs.checkpoint(self.out_dir, step, self.histories)
                    self.save_state(step, self.snapshot())
                if stop_now:
                    raise StopRequested(step)
        finally:
            bar.close()

        # The state to resume from is taken before the final read-out below: a run continued past
        # this step would not have evaluated here, so the read-out must not count (nor feed a callback).
        snapshot = self.snapshot()
        if any(self.histories[i].records[-1]["step"] != step for i in self.running()):
            self.record(step)
        if saving:
            runs.checkpoint(self.out_dir, step, self.histories)
            self.save_state(step, snapshot)
        runs.finish(self.out_dir, step, self.stopped_at, self.histories, cfg)
        return self.histories

    # ------------------------------------------------------------ the trainer state
    def snapshot(self) -> dict[str, Any]:
        """What decides the runs' future besides weights and optimiser, taken now."""
        return {"early_stopping": [s.state_dict() for s in self.stopping], "stopped_at": list(self.stopped_at),
                "callbacks": callback_states(self.callbacks), "rng": rng_state(self.runs.device),
                "n_records": [len(h.records) for h in self.histories]}

    def save_state(self, step: int, snapshot: dict[str, Any]) -> None:
        """Everything needed to continue exactly, as one atomically replaced directory.

        The histories are cut to the evaluations the ``snapshot`` saw: later ones (the final
        read-out) are not part of the state a continued run starts from.
        """
        resumable = [History(records=h.records[:k], checkpoints=list(h.checkpoints), stopped_early=h.stopped_early)
                     for h, k in zip(self.histories, snapshot["n_records"])]
        with atomic_directory(self.out_dir / STATE_DIR) as tmp:
            fields, tensors = self.runs.state(tmp, self.optimizer)
            write_state(tmp, {
                "step": step, "elapsed_s": self.elapsed, "train_config": self.cfg.to_dict(),
                "schedule": self.schedule.state_dict(), "early_stopping": snapshot["early_stopping"],
                "stopped_at": snapshot["stopped_at"], "callbacks": snapshot["callbacks"],
                "histories": [h.to_dict() for h in resumable], **fields,
            }, {**tensors, "rng": snapshot["rng"]})
        self.runs.published(self.out_dir, self.histories)

    def load_state(self) -> int:
        """Put the saved state back; returns its step."""
        cfg, out_dir, n = self.cfg, self.out_dir, len(self.histories)
        state_dir = out_dir / STATE_DIR
        state, tensors = read_state(state_dir)
        where = state_dir / STATE_FILE
        try:
            saved_cfg, step, elapsed = state["train_config"], int(state["step"]), float(state["elapsed_s"])
            # fi.train wrote one "history" and one "early_stopping" object before the loops became one
            histories = [History.from_dict(h) for h in state["histories"]] if "histories" in state else \
                [History.from_dict(state["history"])]
            rules = state.get("early_stopping", {})
            rules = [rules] if isinstance(rules, dict) else list(rules)
            stopped_at = list(state.get("stopped_at", [None] * n))
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{where}: malformed trainer state ({type(e).__name__}: {e})") from None
        if not (len(histories) == len(stopped_at) == n and len(rules) in (0, n)):
            raise CheckpointError(f"{where}: malformed trainer state (it holds {len(histories)} runs, this call trains {n})")
        mine = cfg.to_dict()
        changed = [k for k in mine if k not in TrainConfig.RESUMABLE_CHANGES and saved_cfg.get(k) != mine[k]]
        if changed:
            raise InvalidArgumentError(
                f"cannot resume {out_dir}: TrainConfig fields {changed} differ from the saved run "
                f"({ {k: saved_cfg.get(k) for k in changed} }); only {TrainConfig.RESUMABLE_CHANGES} may change")
        if cfg.steps < step:
            raise InvalidArgumentError(f"cannot resume {out_dir} with TrainConfig.steps={cfg.steps}: "
                                       f"the saved run is already at step {step}")
        try:
            self.runs.restore(state, tensors, self.optimizer, out_dir)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            if isinstance(e, InvalidArgumentError):
                raise
            raise CheckpointError(f"{where}: malformed trainer state ({type(e).__name__}: {e})") from None
        restore_callbacks(state.get("callbacks", []), self.callbacks, out_dir)
        self.schedule.load_state_dict(state["schedule"])
        for group, lr in zip(self.optimizer.param_groups, self.schedule.get_last_lr()):
            group["lr"] = lr
        for i, (history, saved) in enumerate(zip(self.histories, histories)):
            history.records[:], history.checkpoints[:] = saved.records, saved.checkpoints
            history.stopped_early = saved.stopped_early
            # a state without a counter (written before it was saved) recounts over its history
            self.stopping[i].load_state_dict(rules[i] if rules else {}, history.records)
            self.stopped_at[i] = stopped_at[i]
            if self.stopping[i].stopped != (stopped_at[i] is not None):  # the rule changed on resume: it decides
                self.stopped_at[i] = step if self.stopping[i].stopped else None
                history.stopped_early = self.stopping[i].stopped
                if self.stopping[i].stopped:
                    self.runs.hold(i)
                else:
                    self.runs.release(i)
        restore_rng(tensors.get("rng", {}), self.runs.device)
        self.elapsed = elapsed
        return step


def _fmt(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.3f}"
