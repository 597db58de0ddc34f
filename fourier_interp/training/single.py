""":func:`train`: one model, trained in place by the one loop (:mod:`fourier_interp.training.loop`).

Example:
    >>> import fourier_interp as fi
    >>> task = fi.ModularArithmetic(p=7, frac_train=0.5)
    >>> model = fi.HookedMLP(fi.MLPConfig(p=7, form="embed_relu", d_hidden=32))
    >>> history = fi.train(model, task, fi.TrainConfig(steps=20, eval_every=10, progress=False))
    >>> [r["step"] for r in history.records]
    [0, 10, 20]
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from ..checkpoint import atomic_directory, atomic_write_json, load, save_model
from ..checks import check_device, check_model_task, device_of, torch_threads
from ..errors import InvalidArgumentError
from ..evaluation import check_training_memory, chunked_logits, hooks_attached, loss_fn, model_logits
from ..stepping import compiled, matmul_precision
from ..tasks import GroupTask, ModularArithmetic
from ..trainer_state import STATE_DIR, optimizer_state, restore_optimizer
from .config import History, TrainConfig
from .loop import EvalCallback, Runs, fit

CHECKPOINTS_DIR = "checkpoints"


def train(model: nn.Module, task: ModularArithmetic, cfg: Optional[TrainConfig] = None, resume: bool = False,
          *, callbacks: Sequence[EvalCallback] = ()) -> History:
    """Train ``model`` on ``task`` and return its :class:`History`.

    Deterministic: the same model config, task and ``cfg`` give the same weights on CPU
    (``cfg.threads`` is fixed, 1 by default). The same loop as :func:`fi.train_many`: a
    built-in model trained here equals ``fi.train_many([model], [task], cfg)`` bit for bit.
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
        from ..models.base import check_saveable

        check_saveable(model)
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables cb(model, task, logits, step), got {type(cb).__name__}")
    device = device_of(model) if cfg.device is None else torch.device(cfg.device)
    with torch_threads(cfg.threads), matmul_precision(cfg.matmul_precision, device):
        history, = fit(OneModel(model, task, cfg), cfg, resume, callbacks)
    history.out_dir = cfg.out_dir
    return history


class OneModel(Runs):
    """One model trained in place: its own parameters, its own forward (with hooks, if attached).

    The step calls the model's hook-free ``fast_forward`` on tokens checked once, unless hooks
    are attached (or ``cfg.fast=False``): then the hooked forward, so interventions apply.
    """

    def __init__(self, model: nn.Module, task: ModularArithmetic, cfg: TrainConfig):
        if cfg.device is not None:
            model.to(cfg.device)
        self.model, self.models, self.tasks, self.seeds = model, [model], [task], [cfg.seed]
        self.device = device_of(model)
        self.was_training = model.training
        check_training_memory(model, task, cfg.batch_size)  # one line now, not an out-of-memory error mid-run
        use_fast = cfg.fast if cfg.fast is not None else not hooks_attached(model)
        self.forward = model.fast_logits if (use_fast and hasattr(model, "fast_logits")) else model
        self.train_x = task.inputs[task.train_idx].to(self.device)  # [n_train, k]
        self.train_y = task.labels[task.train_idx].to(self.device)  # [n_train]
        self.step_forward, self.grid_tokens = self.forward, None
        self.grid_inputs = task.inputs.to(self.device)  # copied once, not at every evaluation
        built_in = getattr(getattr(type(model), "fast_logits", None), "__module__", "").startswith("fourier_interp.models")
        if use_fast and built_in and hasattr(model, "prepare_tokens"):  # a built-in fast path: check the tokens once
            self.train_x, self.step_forward = model.prepare_tokens(self.train_x), model.fast_forward
            # the grid too, on the device: an evaluation then reads nothing back (a GPU's synchronisations)
            self.grid_tokens = model.prepare_tokens(self.grid_inputs)
        self.step_loss = compiled(self._step_loss, cfg.compile, self.device)

    def start(self) -> None:
        self.model.train()

    def leaves(self) -> list[Tensor]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def loss_backward(self, rows: Optional[Int[Tensor, "1 batch"]]) -> None:
        x, y = (self.train_x, self.train_y) if rows is None else (self.train_x[rows[0]], self.train_y[rows[0]])
        self.step_loss(x, y).backward()

    def _step_loss(self, x: Tensor, y: Tensor) -> Tensor:
        return loss_fn(self.step_forward(x), y)

    def grid_logits(self) -> list[Float[Tensor, "n p"]]:
        if self.grid_tokens is not None:  # its memory was checked before training
            return [chunked_logits(self.model.fast_forward, self.grid_tokens, self.tasks[0].p, self.device)]
        return [model_logits(self.model, self.grid_inputs, self.tasks[0].p, forward=self.forward)]  # chunked, float64

    def weight_norm(self, i: int) -> Tensor:
        return sum(p.detach().pow(2).sum() for p in self.model.parameters())

    @contextmanager
    def evaluating(self) -> Iterator[None]:
        self.model.eval()
        yield
        self.model.train()

    def checkpoint(self, out_dir: Path, step: int, histories: list[History]) -> None:
        """``out_dir/checkpoints/step_XXXXXXX`` (unless there is one of this step) and ``history.json``."""
        history = histories[0]
        if history.checkpoints and history.checkpoints[-1][0] == step:
            return
        path = out_dir / CHECKPOINTS_DIR / f"step_{step:07d}"
        with atomic_directory(path) as tmp:
            save_model(self.model, tmp, task=self.tasks[0], metadata={"step": step})
        history.checkpoints.append((step, str(path.relative_to(out_dir))))
        atomic_write_json(out_dir / "history.json", history.to_dict())

    def state(self, directory: Path, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], dict[str, dict[str, Tensor]]]:
        """The model saved into the state directory; AdamW's moments by parameter name."""
        names = {id(p): n for n, p in self.model.named_parameters()}
        opt_tensors, opt_scalars = optimizer_state(optimizer, names)
        save_model(self.model, directory, task=self.tasks[0])
        return {"optimizer": {"scalars": opt_scalars}}, {"optimizer": opt_tensors}

    def restore(self, state: dict[str, Any], tensors: dict[str, dict[str, Tensor]], optimizer: torch.optim.Optimizer,
                where: Path) -> None:
        saved = load(where / STATE_DIR)
        model = self.model
        if type(saved) is not type(model) or saved.cfg.to_dict() | {"device": None} != model.cfg.to_dict() | {"device": None}:
            raise InvalidArgumentError(f"cannot resume {where}: the saved model's config differs from the model passed in")
        model.load_state_dict(saved.state_dict())
        trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
        restore_optimizer(optimizer, trainable, tensors.get("optimizer", {}), state["optimizer"]["scalars"])

    def published(self, out_dir: Path, histories: list[History]) -> None:
        atomic_write_json(out_dir / "history.json", histories[0].to_dict())

    def finish(self, out_dir: Optional[Path], step: int, stopped_at: list[Optional[int]], histories: list[History],
               cfg: TrainConfig) -> None:
        """The final model into ``out_dir`` (``fi.load(out_dir)``); the model back in its mode."""
        if out_dir is not None:
            save_model(self.model, out_dir, task=self.tasks[0], history=histories[0],
                       metadata={"train_config": cfg.to_dict(), "step": step})
        self.model.train(self.was_training)
