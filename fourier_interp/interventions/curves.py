"""Ablation curves (Rangamani, ICASSP 2025): remove key frequencies one at a time.

``ablation_curve(model, task, hook, freqs)`` removes the given frequencies cumulatively at
``hook`` — after step i the first i of them are removed together, with
:func:`~.ablation.frequency_ablation_hook` (default: every term in which some operand axis
has the frequency) — and reports loss and accuracy on the full grid after each step.

Orders: ``"importance"`` — descending loss increase when each frequency is removed *alone*
(ties: lower frequency first); ``"random"`` — a seeded permutation; or an explicit list.
Control: the same number of random non-key frequencies (seeded), removed one at a time
the same way. A model that relies on the key frequencies collapses on the key curve and
barely moves on the control curve.

Long orders (a wide MLP uses every frequency) can be sampled: ``points=12`` evaluates at
most 12 removal counts, spread evenly and always including the whole set; ``removed``
says which counts were evaluated. :func:`fi.verify`'s ablation claim is this curve.

Example:
    >>> import fourier_interp as fi
    >>> model, task = fi.planted_mlp(p=23, freqs=[3, 7]), fi.ModularArithmetic(p=23)
    >>> curve = fi.ablation_curve(model, task, "hook_post", [3, 7])
    >>> curve.accuracy[0], curve.accuracy[-1] < 0.2, curve.control_accuracy[-1]
    (1.0, True, 1.0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from ..fourier import Freqs, as_freq_list, n_frequencies
from ..tasks import ModularArithmetic
from ._common import (
    InvalidArgumentError,
    _grid_logits,
    check_choice,
    check_hook_names,
    check_model,
    check_task,
    loss_and_accuracy,
)
from .ablation import SUBSPACES, FrequencyAblation
from .results import new_axes


@dataclass
class AblationCurve:
    """Loss and accuracy as frequencies are removed one by one (index i: first i removed).

    Attributes:
        hooks: Where the frequencies were removed.
        order: Key frequencies in removal order; ``order_rule`` says how it was chosen.
        loss, accuracy: One value per entry of ``removed`` (index 0: nothing removed);
            ``len(order) + 1`` values unless the curve was sampled (``points``).
        control_order, control_loss, control_accuracy: The same for the control frequencies.
        single_loss: Loss with each key frequency removed alone (importance order only).
        split, subspace, mean: The evaluation split and the ablation settings.
        removed, control_removed: How many frequencies were removed at each value
            (``0, 1, ..., len(order)`` unless sampled).
    """

    hooks: list[str]
    order: list[int]
    order_rule: str
    loss: list[float]
    accuracy: list[float]
    control_order: list[int]
    control_loss: list[float]
    control_accuracy: list[float]
    single_loss: dict[int, float] = field(default_factory=dict)
    split: str = "all"
    subspace: str = "operands"
    mean: bool = False
    removed: list[int] = field(default_factory=list)
    control_removed: list[int] = field(default_factory=list)

    def __post_init__(self):
        self.removed = list(self.removed) or list(range(len(self.loss)))
        self.control_removed = list(self.control_removed) or list(range(len(self.control_loss)))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable fields."""
        d = asdict(self)
        d["single_loss"] = {str(f): v for f, v in self.single_loss.items()}
        return d

    def to_dataframe(self):
        """Long form: ``curve`` (key/control), ``n_removed``, ``removed`` (last frequency), ``loss``, ``accuracy``."""
        import pandas as pd

        rows = []
        for curve, order, loss, acc in (("key", self.order, self.loss, self.accuracy),
                                        ("control", self.control_order, self.control_loss, self.control_accuracy)):
            counts = self.removed if curve == "key" else self.control_removed
            for n, l, a in zip(counts, loss, acc):
                rows.append({"curve": curve, "n_removed": n, "removed": order[n - 1] if n else None,
                             "loss": l, "accuracy": a})
        return pd.DataFrame(rows)

    def plot(self, ax=None):
        """Accuracy and loss against the number of frequencies removed; returns a matplotlib Figure."""
        fig, axes = new_axes(None, ncols=2) if ax is None else (ax[0].figure, ax)
        for i, (values, control, label) in enumerate(((self.accuracy, self.control_accuracy, "accuracy"),
                                                     (self.loss, self.control_loss, "loss"))):
            axes[i].plot(self.removed, values, "o-", label=f"key {self.order}")
            axes[i].plot(self.control_removed, control, "s--", label=f"control {self.control_order}")
            axes[i].set_xlabel("frequencies removed")
            axes[i].set_ylabel(label)
        axes[0].set_ylim(-0.02, 1.02)
        axes[0].legend(fontsize="small")
        fig.suptitle(f"ablation curve at {', '.join(self.hooks)} ({self.order_rule} order)")
        return fig

    def __repr__(self) -> str:
        fmt = lambda xs: "[" + ", ".join(f"{x:.3g}" for x in xs) + "]"
        return (f"AblationCurve(order={self.order} ({self.order_rule}), accuracy={fmt(self.accuracy)}, "
                f"control {self.control_order}: accuracy={fmt(self.control_accuracy)})")


def ablation_curve(
    model: nn.Module,
    task: ModularArithmetic,
    hook: Union[str, Sequence[str]],
    freqs: Freqs,
    order: Union[str, Sequence[int]] = "importance",
    *,
    seed: int = 0,
    control: Union[bool, Sequence[int]] = True,
    subspace: str = "operands",
    mean: bool = False,
    split: str = "all",
    where: Any = None,
    points: Optional[int] = None,
    baseline: Optional[Tensor] = None,
) -> AblationCurve:
    """Loss and accuracy after removing ``freqs`` one at a time, cumulatively, at ``hook``.

    Args:
        model: A hooked model (built-in or :class:`HookedWrapper`).
        task: The task; the model runs on the full grid ``task.inputs``.
        hook: Hook name (or several, ablated together) whose activation is ``[p**k, ...]``.
        freqs: The key frequencies.
        order: ``"importance"``, ``"random"`` or an explicit permutation of ``freqs``.
        seed: Seeds the random order and the control frequencies.
        control: Also run the control curve: ``True`` for seeded random non-key
            frequencies, or the control frequencies themselves (none of them key).
        subspace: Passed to :func:`~.ablation.frequency_ablation_hook`.
        mean: Passed to :func:`~.ablation.frequency_ablation_hook`.
        split: Rows scored: ``"all"``, ``"train"`` or ``"test"``.
        where: Restrict the ablation to an index after the batch axis (e.g. ``-1``, the
            last position), as in :func:`~.ablation.frequency_ablation_hook`.
        points: Evaluate each curve at no more than this many removal counts (spread
            evenly, the last always the whole set; see :func:`removal_counts`); ``None``:
            at every count. The counts are in ``curve.removed``.
        baseline: The unablated model's full-grid logits ``[p**k, p]``, when already
            computed: the value at 0 removed comes from them instead of another pass.

    Returns:
        An :class:`AblationCurve`.
    """
    check_model(model, check_task(task))
    hooks = check_hook_names(model, hook)
    key = as_freq_list(freqs, task.p)
    if not key:
        raise InvalidArgumentError("freqs is empty: give the key frequencies to remove")
    task.split(split)  # validates the name
    check_choice("subspace", subspace, SUBSPACES)
    if points is not None and (isinstance(points, bool) or not isinstance(points, int) or points < 1):
        raise InvalidArgumentError(f"points={points!r}: expected None or a positive int")
    if baseline is not None and (not isinstance(baseline, Tensor) or tuple(baseline.shape) != (task.n, task.p)):
        raise InvalidArgumentError(f"baseline must be the [p**k, p] = [{task.n}, {task.p}] full-grid logits, "
                                   f"got {getattr(baseline, 'shape', type(baseline).__name__)}")
    if isinstance(order, str):
        if order not in ("importance", "random"):
            raise InvalidArgumentError(f"order={order!r}: expected 'importance', 'random' or a list of the frequencies")
    else:
        order = [int(f) for f in order]
        if sorted(order) != key:
            raise InvalidArgumentError(f"order={order!r} must be a permutation of freqs={key}")
    if not isinstance(control, bool):
        control = [int(f) for f in control]
        as_freq_list(control, task.p)
        if set(control) & set(key):
            raise InvalidArgumentError(f"control={control} shares frequencies with freqs={key}; control frequencies "
                                       "must be non-key")
    return _ablation_curve(model, task, hooks, key, order, seed=seed, control=control, subspace=subspace, mean=mean,
                           split=split, where=where, points=points, baseline=baseline)


def _ablation_curve(
    model: nn.Module,
    task: ModularArithmetic,
    hooks: list[str],
    key: list[int],
    order: Union[str, list[int]],
    *,
    seed: int = 0,
    control: Union[bool, list[int]] = True,
    subspace: str = "operands",
    mean: bool = False,
    split: str = "all",
    where: Any = None,
    points: Optional[int] = None,
    baseline: Optional[Tensor] = None,
) -> AblationCurve:
    """:func:`ablation_curve` once its arguments are checked: ``hooks``, ``key`` (distinct, sorted), ``order``
    (a rule or a permutation of ``key``) and ``control`` (a bool or non-key frequencies) as lists."""
    gen = torch.Generator().manual_seed(int(seed))

    def run(removed: list[int]) -> tuple[float, float]:
        if not removed:
            return loss_and_accuracy(_grid_logits(model, task), task, split)
        fn = FrequencyAblation(task, removed, "remove", subspace, mean, where)
        return loss_and_accuracy(_grid_logits(model, task, [(h, fn) for h in hooks]), task, split)

    base_loss, base_acc = run([]) if baseline is None else loss_and_accuracy(baseline.double(), task, split)
    single: dict[int, float] = {}
    if order == "importance":
        single = {f: run([f])[0] for f in key}
        chosen, rule = sorted(key, key=lambda f: (-(single[f] - base_loss), f)), order
    elif order == "random":
        chosen, rule = [key[i] for i in torch.randperm(len(key), generator=gen).tolist()], order
    else:
        chosen, rule = list(order), "given"

    def curve(sequence: list[int]) -> tuple[list[int], list[float], list[float]]:
        counts, losses, accs = [0], [base_loss], [base_acc]
        for n in removal_counts(len(sequence), points):
            loss, acc = run(sequence[:n])
            counts.append(n)
            losses.append(loss)
            accs.append(acc)
        return counts, losses, accs

    removed, loss, acc = curve(chosen)
    if isinstance(control, bool):
        others = [g for g in range(1, n_frequencies(task.p) + 1) if g not in key]
        picked = [others[i] for i in torch.randperm(len(others), generator=gen)[: len(key)].tolist()] if control else []
    else:
        picked = list(control)
    control_removed, control_loss, control_acc = curve(picked) if picked else ([], [], [])
    return AblationCurve(hooks, chosen, rule, loss, acc, picked, control_loss, control_acc, single, split, subspace, mean,
                         removed, control_removed)


def removal_counts(n: int, points: Optional[int] = None) -> list[int]:
    """The removal counts a curve over ``n`` frequencies is evaluated at: ``1..n``, or with
    ``points`` no more than that many, spread evenly and always including ``n``.

    Example:
        >>> removal_counts(5), removal_counts(30, points=4)
        ([1, 2, 3, 4, 5], [8, 15, 22, 30])
    """
    if points is None or n <= points:
        return list(range(1, n + 1))
    return sorted({max(1, round(n * i / points)) for i in range(1, points + 1)} | {n})
