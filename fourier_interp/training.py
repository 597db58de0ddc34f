"""The training loop: full-batch AdamW with warmup, evaluations, checkpoints, exact resume.

Example:
    >>> import fourier_interp as fi
    >>> task = fi.ModularArithmetic(p=7, frac_train=0.5)
    >>> model = fi.HookedMLP(fi.MLPConfig(p=7, form="embed_relu", d_hidden=32))
    >>> history = fi.train(model, task, fi.TrainConfig(steps=20, eval_every=10, progress=False))
    >>> [r["step"] for r in history.records]
    [0, 10, 20]
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from . import jsonio
from .checkpoint import (
    CONFIG_FILE,
    CheckpointError,
    atomic_directory,
    atomic_write_json,
    save_model,
)
from .checks import check_device, check_model_task, check_threads, device_of, progress_bar, torch_threads
from .errors import InvalidArgumentError
from .evaluation import (  # noqa: F401  (evaluate, accuracy, loss_fn, split_metrics: their old home, still importable)
    EarlyStopping,
    accuracy,
    check_training_memory,
    evaluate,
    grid_logits,
    hooks_attached,
    loss_fn,
    sample_rows,
    split_metrics,
)
from .stepping import MATMUL_PRECISIONS, StepRunner, capturable_optimizer_options, matmul_precision, use_graph
from .tasks import GroupTask, ModularArithmetic
from .trainer_state import (
    STATE_DIR,
    STATE_FILE,
    callback_states,
    optimizer_state,
    read_state,
    restore_callbacks,
    restore_optimizer,
    restore_rng,
    rng_state,
    write_state,
)

GROK_ACC = 0.99
CHECKPOINTS_DIR = "checkpoints"


# ------------------------------------------------------- stopping on request (a cluster's signal)
class StopRequested(BaseException):
    """Raised by :func:`train` after :func:`request_stop`: the run saved a checkpoint and its trainer
    state at step ``step``, and ``train(..., resume=True)`` continues it. A ``BaseException``, like
    ``KeyboardInterrupt``, so code that records a run's errors lets it through."""

    def __init__(self, step: int):
        super().__init__(f"training stopped on request at step {step}; resume=True continues it")
        self.step = step


_stop_requested = False


def request_stop(requested: bool = True) -> None:
    """Ask a running :func:`train` that saves to ``cfg.out_dir`` to stop at the end of its step.

    It saves a checkpoint and the trainer state, then raises :class:`StopRequested`. Safe to
    call from a signal handler (it sets a flag); ``request_stop(False)`` clears it. Training
    without an ``out_dir`` has nowhere to save and ignores the request.

    Example:
        >>> import signal
        >>> from fourier_interp.training import request_stop
        >>> previous = signal.signal(signal.SIGUSR2, lambda signum, frame: request_stop())  # doctest: +SKIP
        >>> request_stop(False)  # clear it again
    """
    global _stop_requested
    _stop_requested = bool(requested)


@dataclass
class TrainConfig:
    """Optimisation settings. Defaults are nanda2023's (AdamW, lr 1e-3, wd 1, betas 0.9/0.98).

    Attributes:
        steps: Optimiser steps in total (a resumed run counts the steps already done).
        lr, weight_decay, betas: AdamW settings.
        warmup_steps: Linear warmup; step s uses ``lr * min(1, (s + 1) / warmup_steps)``.
        eval_every: Evaluate train/test loss and accuracy every this many steps (and at
            step 0 and the last step).
        seed: Seeds minibatch sampling (full batch uses no randomness).
        batch_size: ``None`` for full batch (the papers' setting), else rows per step,
            drawn with a generator seeded by ``(seed, step)`` so resumes are exact.
        progress: Show a tqdm progress bar.
        out_dir: Where to write ``history.json``, checkpoints, the resumable trainer
            state and the final model (``fi.load(out_dir)``). ``None`` writes nothing.
        checkpoint_every: Save a model checkpoint (and the trainer state) every this many
            steps under ``out_dir/checkpoints/step_XXXXXXX``; ``None``: only at the end.
        early_stop_acc, early_stop_patience: Stop once test accuracy has been
            ``>= early_stop_acc`` for this many consecutive evaluations (``None``: never).
        fast: Use the model's hook-free ``fast_logits`` path. ``None`` (default) uses it
            unless hooks are attached to the model, so attached interventions still apply.
        device: Train on this device (default: where the model is). Checked before
            training starts: a device this machine lacks is an ``InvalidArgumentError``.
        threads: torch's intra-op thread count while :func:`train` runs. ``"auto"``
            (default): the cores no other task is using when the call starts, at most
            torch's setting (all of them on a quiet machine, 1 on a busy 2-core one, where
            two threads are 2-5x slower than one); an int: exactly that many (runs on a
            shared machine repeat bit for bit only with a fixed count); ``None``: leave
            torch's setting alone. Set for the call only and restored afterwards, even on
            an exception (docs/performance.md).
        cuda_graph: Capture the whole step (forward, loss, backward, fused AdamW) as one CUDA
            graph after a few eager steps and replay it (:mod:`fourier_interp.stepping`).
            ``None`` (default): on CUDA, yes; on a CPU nothing changes. ``False`` runs the
            step eagerly everywhere.
        matmul_precision: ``None`` (default, float32 matmuls), ``"high"`` (TF32) or
            ``"medium"`` (bfloat16) for CUDA matmuls during this call; the loss stays
            float64. Ignored on a CPU.
    """

    steps: int = 10_000
    lr: float = 1e-3
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 10
    eval_every: int = 100
    seed: int = 0
    batch_size: Optional[int] = None
    progress: bool = True
    out_dir: Optional[str] = None
    checkpoint_every: Optional[int] = None
    early_stop_acc: Optional[float] = None
    early_stop_patience: int = 5
    fast: Optional[bool] = None
    device: Optional[str] = None
    threads: Union[int, str, None] = "auto"
    cuda_graph: Optional[bool] = None
    matmul_precision: Optional[str] = None

    def __post_init__(self):
        self.betas = tuple(float(b) for b in self.betas)
        for name in ("steps", "warmup_steps", "eval_every", "early_stop_patience"):
            value = getattr(self, name)
            minimum = 0 if name == "steps" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InvalidArgumentError(f"TrainConfig.{name}={value!r}: expected an int >= {minimum}")
        for name in ("batch_size", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidArgumentError(f"TrainConfig.{name}={value!r}: expected None or a positive int")
        if not (self.lr > 0):
            raise InvalidArgumentError(f"TrainConfig.lr={self.lr!r}: expected a positive float")
        if not (self.weight_decay >= 0):
            raise InvalidArgumentError(f"TrainConfig.weight_decay={self.weight_decay!r}: expected >= 0")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise InvalidArgumentError(f"TrainConfig.betas={self.betas!r}: expected two floats in [0, 1)")
        if self.early_stop_acc is not None and not (0 < self.early_stop_acc <= 1):
            raise InvalidArgumentError(f"TrainConfig.early_stop_acc={self.early_stop_acc!r}: expected None or (0, 1]")
        check_threads(self.threads, "TrainConfig.threads")
        if self.cuda_graph is not None and not isinstance(self.cuda_graph, bool):
            raise InvalidArgumentError(f"TrainConfig.cuda_graph={self.cuda_graph!r}: expected None, True or False")
        if self.matmul_precision not in (None, *MATMUL_PRECISIONS):
            raise InvalidArgumentError(f"TrainConfig.matmul_precision={self.matmul_precision!r}: "
                                       f"expected None or one of {MATMUL_PRECISIONS}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InvalidArgumentError(f"TrainConfig got unknown fields {unknown}")
        return cls(**d)

    # Fields that may differ between a run and its resumption without changing the maths.
    RESUMABLE_CHANGES = ("steps", "progress", "out_dir", "checkpoint_every", "early_stop_acc",
                         "early_stop_patience", "device", "eval_every", "threads", "cuda_graph")


@dataclass
class History:
    """What a training run measured.

    Attributes:
        records: One dict per evaluation: ``step``, ``time_s`` (training seconds so far),
            ``train_loss``, ``test_loss``, ``train_acc``, ``test_acc``, ``weight_norm``
            (sum of squared parameters); test fields are ``None`` without a test split.
        checkpoints: ``(step, path)`` of every model checkpoint written, the path relative
            to the run's ``out_dir`` (so a run directory can be moved);
            :meth:`checkpoint_dirs` gives full paths.
        stopped_early: Whether early stopping ended the run.
        out_dir: The run directory, when the history came from one (training with
            ``out_dir`` or :meth:`History.load`).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[tuple[int, str]] = field(default_factory=list)
    stopped_early: bool = False
    out_dir: Optional[str] = None

    def checkpoint_dirs(self, out_dir=None) -> list[tuple[int, Path]]:
        """``(step, directory)`` of every checkpoint, ready for ``fi.load``."""
        root = out_dir if out_dir is not None else self.out_dir
        if root is None:
            raise ValueError("this history does not know its run directory; pass out_dir=")
        return [(step, Path(root) / path) for step, path in self.checkpoints]

    @property
    def grokked_step(self) -> Optional[int]:
        """First evaluated step with test accuracy >= 0.99, or None."""
        for r in self.records:
            if r.get("test_acc") is not None and r["test_acc"] >= GROK_ACC:
                return r["step"]
        return None

    @property
    def final(self) -> dict[str, Any]:
        return self.records[-1] if self.records else {}

    def column(self, key: str) -> list:
        return [r[key] for r in self.records]

    def to_dict(self) -> dict[str, Any]:
        """The history as a dict; files get it through :mod:`fourier_interp.jsonio` (inf/nan as strings), :meth:`load` reads it back."""
        return {
            "records": self.records,
            "checkpoints": [list(c) for c in self.checkpoints],
            "stopped_early": self.stopped_early,
            "grokked_step": self.grokked_step,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """The inverse of :meth:`to_dict`; a record of the wrong shape is a ``ValueError`` naming it."""
        records = d.get("records", []) if isinstance(d, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) and isinstance(r.get("step"), int) for r in records):
            raise ValueError("a history holds 'records', a list of objects each with an int 'step'")
        try:
            checkpoints = [(int(s), str(p)) for s, p in d.get("checkpoints", [])]
        except (TypeError, ValueError):
            raise ValueError("a history's 'checkpoints' must be [step, path] pairs") from None
        return cls(records=list(records), checkpoints=checkpoints, stopped_early=bool(d.get("stopped_early", False)))

    @classmethod
    def load(cls, path) -> History:
        """Read ``history.json`` from a file or a training output directory.

        Raises:
            CheckpointError: the file is missing, not JSON or not a history (one line naming it).
        """
        from .storage import member

        path = Path(path)
        if path.is_dir():
            path = member(path, "history.json", path / "history.json")
        try:
            history = cls.from_dict(jsonio.loads(path.read_text()))  # inf/nan written as strings come back as floats
        except FileNotFoundError:
            raise CheckpointError(f"{path}: no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as e:
            raise CheckpointError(f"{path}: not a training history ({str(e).splitlines()[0][:120]})") from None
        history.out_dir = str(path.parent)
        return history

    def __repr__(self) -> str:
        last = self.final
        return (
            f"History({len(self.records)} evaluations, last step {last.get('step')}, "
            f"train_acc {last.get('train_acc')}, test_acc {last.get('test_acc')}, "
            f"grokked_step {self.grokked_step})"
        )


def make_optimizer(params: list[Tensor], cfg: TrainConfig, graph: bool = False) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW (the fused kernel, where the device supports it) and its linear-warmup schedule.

    ``graph=True``: capturable for a CUDA graph (the lr a device tensor the schedule fills).
    """
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float64) for p in params)
    options = {"lr": cfg.lr, **capturable_optimizer_options(cfg.lr, params[0].device if params else None, graph)}
    optimizer = torch.optim.AdamW(params, betas=cfg.betas, weight_decay=cfg.weight_decay, fused=fused or None, **options)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / cfg.warmup_steps))
    return optimizer, schedule


EvalCallback = Callable[[nn.Module, ModularArithmetic, Tensor, int], Optional[dict[str, Any]]]


def train(model: nn.Module, task: ModularArithmetic, cfg: Optional[TrainConfig] = None, resume: bool = False,
          *, callbacks: Sequence[EvalCallback] = ()) -> History:
    """Train ``model`` on ``task`` and return its :class:`History`.

    Deterministic: the same model config, task and ``cfg`` give the same weights on CPU.
    With ``cfg.out_dir`` set, writes ``history.json``, checkpoints and the final model
    there (all atomically); ``resume=True`` continues from ``out_dir/trainer_state``
    exactly as if the run had not stopped (optimizer state included).

    Args:
        model: A built-in model, or any module mapping ``[batch, k]`` tokens to ``[batch, p]``.
        task: The dataset; training uses ``task.train_idx``.
        cfg: Optimisation settings (default ``TrainConfig()``); ``cfg.threads`` sets
            torch's intra-op threads for this call only.
        resume: Continue the run saved in ``cfg.out_dir``.
        callbacks: Called at every evaluation as ``cb(model, task, logits, step)`` with the
            full-grid float64 logits ``[p**k, p]`` already computed for the losses
            (:func:`fourier_interp.evaluation.grid_logits`, on the model's device); the dict each
            returns is added to that evaluation's record. E.g.
            ``fi.ProgressRecorder()`` records Nanda et al.'s progress measures as it trains.

    Raises:
        InvalidArgumentError: the model was built for another task, ``cfg.device`` is
            not on this machine, or ``resume`` has no run to continue or changes it.
        InsufficientMemoryError: a step (at full batch, the whole training split) or an
            evaluation over the grid would not fit in the free memory; the message gives a
            ``batch_size`` that fits. Raised before the first step.
        TypeError: ``cfg.out_dir`` is set but the model's class could not be loaded
            back (see ``fi.save``); raised before the first step.
    """
    cfg = cfg or TrainConfig()
    if not isinstance(task, GroupTask):
        raise TypeError(f"task must be a fi.ModularArithmetic or fi.GroupTask, got {type(task).__name__}")
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    check_model_task(model, task)
    if resume and cfg.out_dir is None:
        raise InvalidArgumentError("resume=True needs cfg.out_dir, the directory of the run to continue")
    if cfg.device is not None:
        check_device(cfg.device, "TrainConfig.device")
    if cfg.out_dir is not None:  # a run that saves must be loadable: refuse now, not after training
        from .models.base import check_saveable

        check_saveable(model)
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables cb(model, task, logits, step), got {type(cb).__name__}")
    with torch_threads(cfg.threads), matmul_precision(cfg.matmul_precision, device_of(model) if cfg.device is None
                                                       else torch.device(cfg.device)):
        return _train(model, task, cfg, resume, callbacks)


def _train(model: nn.Module, task: ModularArithmetic, cfg: TrainConfig, resume: bool,
           callbacks: Sequence[EvalCallback] = ()) -> History:
    """:func:`train` once its arguments are checked."""
    if cfg.device is not None:
        model.to(cfg.device)
    device = device_of(model)
    out_dir = Path(cfg.out_dir) if cfg.out_dir is not None else None
    check_training_memory(model, task, cfg.batch_size)  # one line now, not an out-of-memory error mid-run

    graph = use_graph(cfg.cuda_graph, device)
    optimizer, schedule = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg, graph)
    stopping = EarlyStopping(cfg.early_stop_acc, cfg.early_stop_patience)

    history, start, elapsed = History(out_dir=cfg.out_dir), 0, 0.0
    if resume:
        start, elapsed, history = _load_state(out_dir, model, optimizer, schedule, cfg, stopping, callbacks)
        history.out_dir = cfg.out_dir

    use_fast = cfg.fast if cfg.fast is not None else not hooks_attached(model)
    forward = model.fast_logits if (use_fast and hasattr(model, "fast_logits")) else model
    train_x = task.inputs[task.train_idx].to(device)
    train_y = task.labels[task.train_idx].to(device)
    n_train = len(train_y)
    step_forward = forward
    built_in = getattr(getattr(type(model), "fast_logits", None), "__module__", "").startswith("fourier_interp.models")
    if use_fast and built_in and hasattr(model, "prepare_tokens"):  # a built-in fast path: check the tokens once
        train_x, step_forward = model.prepare_tokens(train_x), model.fast_forward  # checked once, not every step

    def one_step(rows: Optional[Tensor]) -> None:
        x, y = (train_x, train_y) if rows is None else (train_x[rows], train_y[rows])
        loss = loss_fn(step_forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    run_step = StepRunner(one_step, optimizer, device, graph)

    def record(step: int) -> dict[str, Any]:
        model.eval()
        logits = grid_logits(model, task, forward=forward)  # [p**k, p] float64, chunked
        r = {"step": step, "time_s": round(elapsed, 3), **split_metrics(logits, task)}
        r["weight_norm"] = float(sum(p.detach().pow(2).sum() for p in model.parameters()))
        for cb in callbacks:
            r.update(cb(model, task, logits.detach(), step) or {})
        model.train()
        history.records.append(r)
        return r

    def run_state() -> dict[str, Any]:
        """What decides the run's future besides weights and optimiser, taken now."""
        return {"early_stopping": stopping.state_dict(), "callbacks": callback_states(callbacks),
                "rng": rng_state(device), "n_records": len(history.records)}

    def save_state(step: int, state: dict[str, Any]) -> None:
        if out_dir is not None:
            _save_state(out_dir, model, optimizer, schedule, cfg, task, step, elapsed, history, state)

    was_training = model.training
    model.train()
    bar = progress_bar(total=cfg.steps, initial=start, disable=not cfg.progress, desc="train", unit="step", dynamic_ncols=True)
    if not history.records:
        record(0)
    step = start
    last = start if stopping.stopped else cfg.steps  # a run that had stopped early stays stopped
    try:  # an interrupt leaves the last trainer_state / checkpoints intact (atomic writes)
        for step in range(start + 1, last + 1):
            t0 = time.perf_counter()
            rows = sample_rows(n_train, cfg.batch_size, cfg.seed, step)
            run_step(None if rows is None else rows.to(device))
            schedule.step()
            elapsed += time.perf_counter() - t0
            bar.update(1)

            if step % cfg.eval_every == 0:
                r = record(step)
                bar.set_postfix(loss=f"{r['train_loss']:.3g}", test_acc=_fmt(r["test_acc"]), refresh=False)
                if stopping.update(r["test_acc"]):
                    break
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and out_dir is not None:
                _save_checkpoint(out_dir, model, task, step, history)
                save_state(step, run_state())
            elif _stop_requested and out_dir is not None and step < cfg.steps:
                _save_checkpoint(out_dir, model, task, step, history)
                save_state(step, run_state())
            if _stop_requested and out_dir is not None and step < cfg.steps:
                raise StopRequested(step)
    finally:
        bar.close()

    history.stopped_early = stopping.stopped
    # The state to resume from is taken before the final read-out below: a run continued past
    # this step would not have evaluated here, so the read-out must not count (nor feed a callback).
    state = run_state()
    if history.records[-1]["step"] != step:
        record(step)
    if out_dir is not None:
        if not history.checkpoints or history.checkpoints[-1][0] != step:
            _save_checkpoint(out_dir, model, task, step, history)
        save_state(step, state)
        save_model(model, out_dir, task=task, history=history, metadata={"train_config": cfg.to_dict(), "step": step})
    model.train(was_training)
    return history


# ------------------------------------------------------------------ helpers
def _fmt(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.3f}"


def _save_checkpoint(out_dir: Path, model, task, step: int, history: History) -> None:
    path = out_dir / CHECKPOINTS_DIR / f"step_{step:07d}"
    with atomic_directory(path) as tmp:
        save_model(model, tmp, task=task, metadata={"step": step})
    history.checkpoints.append((step, str(path.relative_to(out_dir))))
    atomic_write_json(out_dir / "history.json", history.to_dict())


def _save_state(out_dir, model, optimizer, schedule, cfg, task, step, elapsed, history, run_state) -> None:
    """Everything needed to continue the run exactly, as one atomically replaced directory.

    ``run_state`` (early stopping, callbacks, RNG) was taken when the history had
    ``run_state["n_records"]`` evaluations; later ones (the final read-out) are not part of
    the state a continued run starts from.
    """
    names = {id(p): n for n, p in model.named_parameters()}
    opt_tensors, opt_scalars = optimizer_state(optimizer, names)
    resumable = History(records=history.records[:run_state["n_records"]], checkpoints=list(history.checkpoints),
                        stopped_early=history.stopped_early)
    with atomic_directory(out_dir / STATE_DIR) as tmp:
        save_model(model, tmp, task=task)
        write_state(tmp, {
            "step": step,
            "elapsed_s": elapsed,
            "optimizer": {"scalars": opt_scalars},
            "schedule": schedule.state_dict(),
            "train_config": cfg.to_dict(),
            "early_stopping": run_state["early_stopping"],
            "callbacks": run_state["callbacks"],
            "history": resumable.to_dict(),
        }, {"optimizer": opt_tensors, "rng": run_state["rng"]})
    atomic_write_json(out_dir / "history.json", history.to_dict())


def _load_state(out_dir: Path, model, optimizer, schedule, cfg: TrainConfig, stopping: EarlyStopping,
                callbacks: Sequence[EvalCallback]):
    from .checkpoint import load

    state_dir = out_dir / STATE_DIR
    state, tensors = read_state(state_dir)
    state_path = state_dir / STATE_FILE
    try:
        saved_cfg, step, elapsed = state["train_config"], int(state["step"]), float(state["elapsed_s"])
        history = History.from_dict(state["history"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{state_path}: malformed trainer state ({type(e).__name__}: {e})") from None
    mine = cfg.to_dict()
    changed = [k for k in mine if k not in TrainConfig.RESUMABLE_CHANGES and saved_cfg.get(k) != mine[k]]
    if changed:
        raise InvalidArgumentError(
            f"cannot resume {out_dir}: TrainConfig fields {changed} differ from the saved run "
            f"({ {k: saved_cfg.get(k) for k in changed} }); only {TrainConfig.RESUMABLE_CHANGES} may change"
        )
    if cfg.steps < step:
        raise InvalidArgumentError(f"cannot resume {out_dir} with TrainConfig.steps={cfg.steps}: "
                                   f"the saved run is already at step {step}")
    saved_model = load(state_dir)
    if type(saved_model) is not type(model) or saved_model.cfg.to_dict() | {"device": None} != model.cfg.to_dict() | {"device": None}:
        raise InvalidArgumentError(f"cannot resume {out_dir}: the saved model's config differs from the model passed in")
    restore_callbacks(state.get("callbacks", []), callbacks, out_dir)
    model.load_state_dict(saved_model.state_dict())

    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    restore_optimizer(optimizer, trainable, tensors.get("optimizer", {}), state["optimizer"]["scalars"])
    schedule.load_state_dict(state["schedule"])
    for group, lr in zip(optimizer.param_groups, schedule.get_last_lr()):
        group["lr"] = lr
    # a state without a counter (written before it was saved) recounts over its history
    stopping.load_state_dict(state.get("early_stopping", {}), history.records)
    restore_rng(tensors.get("rng", {}), device_of(model))
    return step, elapsed, history
