"""Progress measures of Nanda et al. (ICLR 2023): restricted and excluded loss, over training.

The logits on the full grid, ``L[n, c]`` with ``n = p**k`` inputs and ``c`` the answers, are
for each answer c a function of the inputs. With ``s = task.signs`` and ``w = 2 pi f / p``:

* **restricted loss** — keep only the components of ``L[:, c]`` along ``cos(w s.a)`` and
  ``sin(w s.a)`` for f in ``freqs``, add back the mean over the inputs of what was removed
  (the bias correction: exactly the grid mean of ``L[:, c]``, since the kept directions have
  zero mean), then take the cross-entropy with the true answers over ``split`` (default all
  p**k inputs). Near the full loss once the model uses only ``freqs``.
* **excluded loss** — remove those components (no bias correction) and take the
  cross-entropy over ``split`` (default the *training* set). It rises as the model comes to
  rely on ``freqs`` while the training loss stays low.

Both are :func:`~.ablation.project_grid_frequencies` of the logits with ``subspace="sum"``,
computed in float64. :func:`progress_measures` evaluates them, with train/test loss and
accuracy, the sum of squared weights and the Gini coefficient of the embedding's Fourier
norms, at every checkpoint of a training run.

Example:
    >>> import fourier_interp as fi
    >>> model, task = fi.planted_mlp(p=23, freqs=[3, 7]), fi.ModularArithmetic(p=23)
    >>> full = fi.evaluate(model, task)["train_loss"]
    >>> abs(fi.restricted_loss(model, task, [3, 7], split="train") - full) < 1e-6
    True
    >>> fi.excluded_loss(model, task, [3, 7]) > 10 * full
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from jaxtyping import Float
from torch import Tensor, nn

from ..analysis.frequencies import gini
from ..checks import check_task, int_list
from ..errors import InvalidArgumentError
from ..evaluation import grid_logits, split_loss, split_metrics
from ..fourier import Freqs, as_freq_list, frequency_norms
from ..tasks import ModularArithmetic
from .ablation import _project_grid_frequencies, project_grid_frequencies
from .results import ResultTable


def restricted_logits(logits: Float[Tensor, "n p"], task: ModularArithmetic, freqs: Freqs) -> Float[Tensor, "n p"]:
    """Full-grid logits keeping only the ``cos/sin(w s.a)`` components of ``freqs``, plus the grid mean."""
    return project_grid_frequencies(logits.double(), task, freqs, "keep", subspace="sum", mean=True)


def excluded_logits(logits: Float[Tensor, "n p"], task: ModularArithmetic, freqs: Freqs) -> Float[Tensor, "n p"]:
    """Full-grid logits with the ``cos/sin(w s.a)`` components of ``freqs`` removed."""
    return project_grid_frequencies(logits.double(), task, freqs, "remove", subspace="sum")


def _progress_losses(logits: Float[Tensor, "n p"], task: ModularArithmetic, freqs: list[int],
                     restricted_split: str = "all", excluded_split: str = "train") -> tuple[float, float]:
    """``(restricted loss, excluded loss)`` of full-grid ``logits``, for a caller that has checked its arguments.

    The one place both are computed: :func:`progress_measures`, :class:`ProgressRecorder`
    and ``fi.verify``'s progress claims call it.
    """
    logits = logits.double()
    restricted = _project_grid_frequencies(logits, task, freqs, "keep", "sum", True)
    excluded = _project_grid_frequencies(logits, task, freqs, "remove", "sum", False)
    return split_loss(restricted, task, restricted_split), split_loss(excluded, task, excluded_split)


def restricted_loss(model: nn.Module, task: ModularArithmetic, freqs: Freqs, split: str = "all") -> float:
    """Cross-entropy of the restricted logits (see the module docstring) over ``split``.

    Args:
        model: Any module mapping ``task.inputs`` to ``[p**k, p]`` logits.
        task: The task (its signs give the directions: ``a - b`` for ``op="sub"``).
        freqs: The key frequencies.
        split: ``"all"`` (default), ``"train"`` or ``"test"``.
    """
    return split_loss(restricted_logits(grid_logits(model, task), task, freqs), task, split)


def excluded_loss(model: nn.Module, task: ModularArithmetic, freqs: Freqs, split: str = "train") -> float:
    """Cross-entropy of the excluded logits (see the module docstring) over ``split`` (default train)."""
    return split_loss(excluded_logits(grid_logits(model, task), task, freqs), task, split)


def _embed_gini(model: nn.Module, p: int) -> Optional[float]:
    """Gini of the Fourier norms of the model's token embedding (or per-unit input weights)."""
    spec_fn = getattr(model, "analysis_spec", None)
    if spec_fn is None:
        return None
    spec = spec_fn()
    if spec.embed is not None:
        return float(gini(frequency_norms(spec.embed[:p].double(), dim=0).flatten()))
    if spec.unit_input_weights is not None:  # [units, k, p]
        return float(gini(frequency_norms(spec.unit_input_weights.double(), dim=2).flatten()))
    return None


class ProgressMeasures(ResultTable):
    """One row per checkpoint: ``step``, ``train_loss``, ``test_loss``, ``train_acc``,
    ``test_acc``, ``restricted_loss``, ``excluded_loss``, ``weight_norm`` (sum of squared
    parameters), ``embed_gini``. ``to_dict()`` gives columns; ``plot()`` a figure."""

    def plot(self, ax=None):
        """Losses (log scale) against step; returns the matplotlib Figure (no pyplot, no display needed)."""
        from .results import new_axes

        fig, ax = new_axes(ax)
        steps = self["step"]
        for column in ("train_loss", "test_loss", "restricted_loss", "excluded_loss"):
            values = self[column]
            if any(v is not None for v in values):
                ax.plot(steps, [float("nan") if v is None else v for v in values], label=column.replace("_", " "))
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy")
        ax.legend()
        ax.set_title(self.title)
        return fig


Run = Union[str, Path, Sequence[tuple[int, Union[str, Path, nn.Module]]]]


def progress_measures(
    run: Run, freqs: Freqs, task: Optional[ModularArithmetic] = None, *, restricted_split: str = "all",
    excluded_split: str = "train",
) -> ProgressMeasures:
    """Progress measures at every checkpoint of a training run.

    Args:
        run: A training output directory (``TrainConfig.out_dir``: its ``history.json``
            lists the checkpoints), or a list of ``(step, checkpoint_dir_or_model)``.
        freqs: The key frequencies (typically found on the final model).
        task: The task; default: the one saved with the first checkpoint.
        restricted_split: Split scored by the restricted loss.
        excluded_split: Split scored by the excluded loss.

    Returns:
        A :class:`ProgressMeasures` table, one row per checkpoint, in step order.

    Example:
        >>> import fourier_interp as fi  # doctest: +SKIP
        >>> table = fi.progress_measures("runs/nanda_seed0", freqs=[14, 35, 41, 42, 52])  # doctest: +SKIP
        >>> table.to_dataframe().plot(x="step", y=["restricted_loss", "excluded_loss"], logy=True)  # doctest: +SKIP
    """
    from ..checkpoint import load
    from ..training import History

    if isinstance(run, (str, Path)):
        root = Path(run)
        if not (root / "history.json").is_file():
            raise InvalidArgumentError(f"run={str(run)!r}: no history.json there; expected a training out_dir")
        entries: list[tuple[int, Any]] = [(step, root / path) for step, path in History.load(root).checkpoints]
        if not entries:
            raise InvalidArgumentError(f"run={str(run)!r}: history.json lists no checkpoints (train with checkpoint_every=...)")
    else:
        entries = list(run)
        if not entries or not all(isinstance(e, (tuple, list)) and len(e) == 2 for e in entries):
            raise InvalidArgumentError("run must be a run directory or a non-empty list of (step, checkpoint dir or model)")
    rows = []
    for step, item in sorted(entries, key=lambda e: e[0]):
        if isinstance(item, nn.Module):
            model = item
        else:
            model, saved_task = load(item, with_task=True)
            task = task or saved_task
        if task is None:
            raise InvalidArgumentError("task is unknown: pass task= (the checkpoint has no saved task)")
        key = as_freq_list(freqs, task.p)
        logits = grid_logits(model, check_task(task))
        row: dict[str, Any] = {"step": int(step), **split_metrics(logits, task)}
        row["restricted_loss"], row["excluded_loss"] = _progress_losses(logits, task, key, restricted_split,
                                                                        excluded_split)
        row["weight_norm"] = float(sum(p.detach().double().pow(2).sum() for p in model.parameters()))
        row["embed_gini"] = _embed_gini(model, task.p)
        rows.append(row)
    return ProgressMeasures(rows, title=f"progress measures, key frequencies {as_freq_list(freqs, task.p)}")


# ------------------------------------------------------- during training
class ProgressRecorder:
    """Record Nanda et al.'s progress measures while training: pass to ``fi.train(callbacks=[...])``.

    At every evaluation it adds ``restricted_loss`` (all inputs) and ``excluded_loss`` (train
    split) of the logits the trainer has just computed, ``embed_gini``, and the key
    frequencies they used (``progress_freqs``). Cheap: the logits are reused, so each
    evaluation costs two projections of a ``[p**k, p]`` tensor.

    Args:
        freqs: Fixed key frequencies (e.g. a finished run's), or ``None`` to re-estimate
            them from the model itself (``fi.key_frequencies``, one hooked pass over the
            grid) every ``refresh_every`` evaluations; before any unit is clustered the
            estimate falls back to the logits' frequencies (see ``analyze_frequencies``).
        refresh_every: Evaluations between re-estimates when ``freqs`` is ``None`` (while the
            estimate is empty, it is taken again at every evaluation).

    Example:
        >>> import fourier_interp as fi
        >>> model, task, cfg = fi.from_preset("nanda2023", p=11, steps=20, eval_every=10, progress=False)
        >>> history = fi.train(model, task, cfg, callbacks=[fi.ProgressRecorder()])
        >>> sorted(k for k in history.records[-1] if "loss" in k)
        ['excluded_loss', 'restricted_loss', 'test_loss', 'train_loss']
    """

    def __init__(self, freqs: Optional[Freqs] = None, *, refresh_every: int = 10):
        if isinstance(refresh_every, bool) or not isinstance(refresh_every, int) or refresh_every < 1:
            raise InvalidArgumentError(f"refresh_every={refresh_every!r}: expected a positive int")
        self.fixed = None if freqs is None else int_list(freqs, "ProgressRecorder freqs")  # "21" is not [2, 1]
        self.refresh_every = refresh_every
        self._freqs: Optional[list[int]] = None
        self._calls = 0

    def __call__(self, model: nn.Module, task: ModularArithmetic, logits: Tensor, step: int) -> dict[str, Any]:
        check_task(task)
        if self.fixed is not None:
            freqs = as_freq_list(self.fixed, task.p)
        else:
            if not self._freqs or self._calls % self.refresh_every == 0:  # while none are found, look every time
                from ..analysis import key_frequencies

                self._freqs = key_frequencies(model, task)
            freqs = self._freqs
        self._calls += 1
        out: dict[str, Any] = {"progress_freqs": list(freqs), "embed_gini": _embed_gini(model, task.p)}
        if not freqs:
            return {**out, "restricted_loss": None, "excluded_loss": None}
        out["restricted_loss"], out["excluded_loss"] = _progress_losses(logits, task, list(freqs))
        return out

    def state_dict(self) -> dict[str, Any]:
        """What the next evaluations depend on (the current estimate and the evaluation count);
        ``fi.train`` saves it with its trainer state so a resumed run re-estimates when the
        uninterrupted one would."""
        return {"freqs": None if self._freqs is None else list(self._freqs), "calls": self._calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`."""
        freqs = state.get("freqs")
        self._freqs = None if freqs is None else [int(f) for f in freqs]
        self._calls = int(state.get("calls", 0))


@dataclass
class Phases:
    """The three phases of grokking located on a training history (Nanda et al.).

    Attributes:
        memorisation_end: First evaluation with train accuracy >= 0.99 (the train set is fit).
        circuit_formation_end: First evaluation after it with test accuracy >= 0.5: the
            Fourier circuit now outweighs memorisation on held-out inputs and clean-up begins.
        cleanup_end: First evaluation after that with test accuracy >= 0.99 and, where the
            history has it, restricted loss within ``0.1 ln p`` of the train loss (the logits
            are explained by the key frequencies alone).
    """

    memorisation_end: Optional[int]
    circuit_formation_end: Optional[int]
    cleanup_end: Optional[int]

    def to_dict(self) -> dict[str, Optional[int]]:
        return asdict(self)


def locate_phases(history: Any, p: Optional[int] = None) -> Phases:
    """Memorisation, circuit formation and clean-up from a ``History`` (or its records), by the rule in :class:`Phases`.

    Args:
        history: A ``fi.History`` or a list of its record dicts.
        p: The modulus, for the ``0.1 ln p`` restricted-loss margin of the clean-up rule;
            ``None`` (default): the margin is not applied.

    Example:
        >>> records = [{"step": s, "train_acc": a, "test_acc": b} for s, a, b in
        ...            [(0, 0.0, 0.0), (100, 1.0, 0.1), (200, 1.0, 0.6), (300, 1.0, 1.0)]]
        >>> locate_phases(records).to_dict()
        {'memorisation_end': 100, 'circuit_formation_end': 200, 'cleanup_end': 300}
    """
    import math

    records = list(getattr(history, "records", history))
    margin = 0.1 * math.log(p) if p else None

    def first(cond, after):
        for r in records:
            if after is not None and r["step"] <= after:
                continue
            if cond(r):
                return r["step"]
        return None

    t1 = first(lambda r: (r.get("train_acc") or 0) >= 0.99, None)
    t2 = first(lambda r: (r.get("test_acc") or 0) >= 0.5, t1) if t1 is not None else None

    def clean(r):
        if (r.get("test_acc") or 0) < 0.99:
            return False
        rl, tl = r.get("restricted_loss"), r.get("train_loss")
        return margin is None or rl is None or tl is None or rl - tl <= margin

    t3 = first(clean, t2) if t2 is not None else None
    return Phases(t1, t2, t3)
