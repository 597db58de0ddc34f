"""Training: full-batch AdamW with warmup, evaluations, early stopping, checkpoints, exact resume.

One loop trains one model (:func:`train`) or many seeds at once (:func:`fi.train_many`):

* :mod:`~fourier_interp.training.config` — :class:`TrainConfig` (what a run is told) and
  :class:`History` (what it measured), the optimiser;
* :mod:`~fourier_interp.training.loop` — the loop itself, written once for N runs;
* :mod:`~fourier_interp.training.single` — :func:`train`: one model, trained in place;
* :mod:`fourier_interp.seeds` — :func:`fi.train_many`: N seeds stacked under vmap.

Example:
    >>> import fourier_interp as fi
    >>> task = fi.ModularArithmetic(p=7, frac_train=0.5)
    >>> model = fi.HookedMLP(fi.MLPConfig(p=7, form="embed_relu", d_hidden=32))
    >>> history = fi.train(model, task, fi.TrainConfig(steps=20, eval_every=10, progress=False))
    >>> [r["step"] for r in history.records]
    [0, 10, 20]
"""

from ..evaluation import (  # noqa: F401  (evaluate, accuracy, loss_fn, split_metrics, sample_rows: their old home, still importable)
    EarlyStopping,
    accuracy,
    evaluate,
    grid_logits,
    loss_fn,
    sample_rows,
    split_metrics,
)
from .config import GROK_ACC, History, TrainConfig, make_optimizer
from .loop import EvalCallback, StopRequested, request_stop
from .single import CHECKPOINTS_DIR, train

__all__ = ["CHECKPOINTS_DIR", "GROK_ACC", "EvalCallback", "History", "StopRequested", "TrainConfig", "make_optimizer",
           "request_stop", "train"]
