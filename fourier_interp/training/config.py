"""What a training run is told and what it measured: :class:`TrainConfig`, :class:`History`, the optimiser.

Example:
    >>> from fourier_interp.training import TrainConfig
    >>> cfg = TrainConfig(steps=100, lr=3e-3)
    >>> cfg.threads, TrainConfig.from_dict(cfg.to_dict()) == cfg
    (1, True)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import Tensor

from .. import jsonio
from ..checks import check_threads
from ..errors import InvalidArgumentError
from ..stepping import MATMUL_PRECISIONS, capturable_optimizer_options, check_compile
from ..storage import CheckpointError

GROK_ACC = 0.99


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
        threads: torch's intra-op thread count while :func:`train` runs. An int: exactly
            that many; the default, 1, makes a run repeat bit for bit whatever else the
            machine is doing and never slows down beside other work (two threads are 2-5x
            slower than one on a busy 2-core machine, 1.6x faster on a quiet one).
            ``"auto"``: the cores no other task is using when the call starts (reads the
            machine's load, so two runs of one command may differ); ``None``: leave torch's
            setting alone. Set for the call only and restored afterwards, even on an
            exception (docs/performance.md).
        cuda_graph: Capture the whole step (forward, loss, backward, fused AdamW) as one CUDA
            graph after a few eager steps and replay it (:mod:`fourier_interp.stepping`).
            ``None`` (default): on CUDA, yes; on a CPU nothing changes. ``False`` runs the
            step eagerly everywhere. A step that cannot be captured (a model that reads a
            value back to the host in its forward: ``.item()``, a data-dependent ``if``)
            runs eagerly with a warning under ``None``, and stops training with one line
            under ``True``.
        matmul_precision: ``None`` (default, float32 matmuls), ``"high"`` (TF32) or
            ``"medium"`` (bfloat16) for CUDA matmuls during this call; the loss stays
            float64. Ignored on a CPU.
        compile: Run each step's forward and loss through ``torch.compile`` (its backward
            is compiled with it). ``False`` (default): eager. ``True``: mode
            ``"reduce-overhead"`` on CUDA (compiled kernels replayed from CUDA graphs; the
            step's own ``cuda_graph`` then stays off) and ``"default"`` on a CPU; or a mode
            by name (:data:`fourier_interp.stepping.COMPILE_MODES`). The first steps pay the
            compilation (3-25 s here); the losses equal the eager ones to rounding, not bit
            for bit. On a CPU it needs a C++ compiler and gains little: nanda2023's step
            runs 7% faster at one thread, level at two (docs/performance.md).
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
    threads: Union[int, str, None] = 1
    cuda_graph: Optional[bool] = None
    matmul_precision: Optional[str] = None
    compile: Union[bool, str] = False

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
        check_compile(self.compile, self.cuda_graph)
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
                         "early_stop_patience", "device", "eval_every", "threads", "cuda_graph", "compile")


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
            raise InvalidArgumentError("this history does not know its run directory; pass out_dir=")
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
        """The inverse of :meth:`to_dict`; a record of the wrong shape is an ``InvalidArgumentError`` naming it."""
        records = d.get("records", []) if isinstance(d, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) and isinstance(r.get("step"), int) for r in records):
            raise InvalidArgumentError("a history holds 'records', a list of objects each with an int 'step'")
        try:
            checkpoints = [(int(s), str(p)) for s, p in d.get("checkpoints", [])]
        except (TypeError, ValueError):
            raise InvalidArgumentError("a history's 'checkpoints' must be [step, path] pairs") from None
        return cls(records=list(records), checkpoints=checkpoints, stopped_early=bool(d.get("stopped_early", False)))

    @classmethod
    def load(cls, path) -> History:
        """Read ``history.json`` from a file or a training output directory.

        Raises:
            CheckpointError: the file is missing, not JSON or not a history (one line naming it).
        """
        from ..storage import member

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


