"""Argument checks shared by every layer: one clear error naming the argument and what is allowed.

Also the one place that scopes torch's global intra-op thread count to a call
(:func:`torch_threads`) and checks a device string before any work uses it
(:func:`check_device`).
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence, Union

import torch
from torch import nn

from .errors import InvalidArgumentError
from .tasks import GroupTask, ModularArithmetic


def check_group_task(task: Any) -> GroupTask:
    """``task`` must be a task (``fi.ModularArithmetic`` or ``fi.GroupTask``)."""
    if not isinstance(task, GroupTask):
        raise TypeError(f"task must be a fi.ModularArithmetic or fi.GroupTask, got {type(task).__name__}")
    return task


def check_task(task: Any) -> ModularArithmetic:
    """``task`` must be addition or subtraction mod p: the analyses that read frequencies of Z_p.

    Other groups (and multiplication, Z_p^*, whose frequencies live in the log basis) are
    analysed over their irreps: :mod:`fourier_interp.analysis.irreps`.
    """
    if isinstance(task, GroupTask) and (not isinstance(task, ModularArithmetic) or task.op == "mul"):
        raise InvalidArgumentError(
            f"task={task!r}: this analysis reads frequencies of Z_p (addition or subtraction mod p); for "
            "multiplication and other groups use fi.analysis.irreps (irreps; frequencies in the log basis for Z_p^*) "
            "or fi.verification.groups.verify_group"
        )
    if not isinstance(task, ModularArithmetic):
        raise TypeError(f"task must be a fi.ModularArithmetic, got {type(task).__name__}")
    return task


def check_zp_model(model: Any) -> None:
    """Refuse a model whose config records a task other than addition or subtraction mod p.

    For the analyses that read a model's weights in Z_p's Fourier basis without a task
    (``fi.neuron_alignment(model)``, ``fi.ablate_weight_frequencies``): a model built for
    multiplication or another group (``cfg.op``, ``cfg.group``) has its structure in another
    basis, so the numbers would be silently wrong. Models without such a config pass.
    """
    cfg = getattr(model, "cfg", None)
    op, spec = getattr(cfg, "op", None), getattr(cfg, "group", None)
    if (isinstance(op, str) and op not in ("add", "sub")) or (isinstance(spec, str) and spec):
        built = spec or f"multiplication mod {getattr(cfg, 'p', 0) + 1}"
        raise InvalidArgumentError(
            f"model was built for {built} (cfg.group={spec!r}, cfg.op={op!r}): this analysis reads frequencies of Z_p "
            "(addition or subtraction mod p); for multiplication and other groups use fi.analysis.irreps (irreps; "
            "frequencies in the log basis for Z_p^*) or fi.verification.groups.verify_group"
        )


def check_model_task(model: Any, task: Any) -> None:
    """Raise if the model's config (when it has one) was built for another task.

    Compares ``cfg.p`` (element tokens), ``cfg.k`` and, where the config records them, the
    task's group and op (``cfg.group``, ``cfg.op``; see ``task.config_fields()``).
    """
    check_group_task(task)
    cfg = getattr(model, "cfg", None)
    for attr in ("p", "k"):
        value = getattr(cfg, attr, None)
        if isinstance(value, int) and value != getattr(task, attr):
            raise InvalidArgumentError(
                f"model.cfg.{attr}={value} does not match task.{attr}={getattr(task, attr)}; "
                "use the task the model was built for"
            )
    op, spec = getattr(cfg, "op", None), getattr(cfg, "group", None)
    if isinstance(op, str) and isinstance(spec, str):
        from .tasks import rule_group, rule_signs

        model_rule = (rule_group(spec, op, cfg.p).spec, tuple(rule_signs(op, cfg.k)))
        task_rule = (task.group.spec, tuple(task.signs.tolist()))
        if model_rule != task_rule:
            raise InvalidArgumentError(
                f"the model was built for {spec or ('Z_(p+1)^*' if op == 'mul' else 'Z_p')} with op={op!r} "
                f"(cfg.group, cfg.op) but the task is {task!r}; "
                f"use the task the model was built for, or build the model with task.config_fields() "
                f"({task.config_fields()})"
            )


def check_hooked(model: Any, what: str = "model") -> nn.Module:
    """``model`` must be a TransformerLens-style hooked module (it has a ``hook_dict``)."""
    if not isinstance(model, nn.Module) or not hasattr(model, "hook_dict"):
        raise TypeError(
            f"{what} must be a transformer_lens HookedRootModule mapping [batch, k] tokens to [batch, p] logits "
            f"(a built-in model or fi.HookedWrapper(module)), got {type(model).__name__}; "
            "wrap a plain nn.Module with fi.HookedWrapper first"
        )
    return model


def check_hook_names(model: nn.Module, names: Union[str, Sequence[str]], what: str = "hook") -> list[str]:
    """Validate hook names against ``model.hook_dict``; an unknown name lists close valid ones."""
    names = [names] if isinstance(names, str) else list(names)
    valid = list(model.hook_dict)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what} must be a hook name (str), got {type(name).__name__} {name!r}")
        if name not in model.hook_dict:
            close = difflib.get_close_matches(name, valid, n=5, cutoff=0.4) or valid[:5]
            pending = getattr(model, "pending_hook_hint", None)
            hint = pending(name) if callable(pending) else ""
            raise ValueError(
                f"{what}={name!r} is not a hook point of {type(model).__name__}; "
                f"valid names include {close} ({len(valid)} in model.hook_dict){hint}"
            )
    return names


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise InvalidArgumentError(f"{name}={value!r} is not allowed; expected one of {tuple(allowed)}")


def device_of(model: nn.Module) -> torch.device:
    """Where the module's parameters live (CPU for a module without parameters)."""
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def check_device(device: Any, what: str = "device") -> torch.device:
    """``device`` as a ``torch.device`` that exists on this machine, or a clear error.

    Accepts a ``torch.device`` or a string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``,
    ``"mps"``. Refuses malformed strings (``"cpu:banana"``), unknown device types
    (``"tpu"``), devices this machine lacks (``"cuda"`` without CUDA, ``"cuda:3"`` with
    two GPUs) and ``"meta"`` (meta tensors hold no values to train or analyse).

    Raises:
        InvalidArgumentError: naming ``what`` and the device, and saying what is available.

    Example:
        >>> from fourier_interp.checks import check_device
        >>> check_device("cpu")
        device(type='cpu')
        >>> check_device("tpu")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fourier_interp.errors.InvalidArgumentError: device='tpu' is not a torch device ...
    """
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"{what} must be a torch device or a string like 'cpu' or 'cuda', got {type(device).__name__}")
    available = "'cpu'" + (f", 'cuda' (0..{torch.cuda.device_count() - 1})" if torch.cuda.is_available() else "")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InvalidArgumentError(
            f"{what}={str(device)!r} is not a torch device (expected e.g. 'cpu', 'cuda' or 'cuda:0'); "
            f"available here: {available}"
        ) from None
    if dev.type == "meta":
        raise InvalidArgumentError(f"{what}='meta' holds no values; pick a real device ({available})")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidArgumentError(f"{what}={str(device)!r}: CUDA is not available on this machine; use {available}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidArgumentError(
                f"{what}={str(device)!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                f"numbered 0..{torch.cuda.device_count() - 1}"
            )
        return dev
    if dev.type == "cpu":
        return dev
    try:  # any other backend: usable if it can hold a tensor
        torch.empty(0, device=dev)
    except Exception as e:  # backends raise RuntimeError, AssertionError or NotImplementedError
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InvalidArgumentError(
            f"{what}={str(device)!r} is not available on this machine ({reason}); use {available}"
        ) from None
    return dev


Threads = Union[int, str, None]  # an int >= 1, "auto", or None (leave torch's setting alone)


def check_threads(threads: Any, what: str = "threads") -> Threads:
    """``threads`` must be ``None`` (leave torch's setting alone), ``"auto"`` or an int ``>= 1``."""
    if threads is None or threads == "auto":
        return threads
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"{what} must be None, 'auto' or an int >= 1, got {type(threads).__name__} {threads!r}")
    if threads < 1:
        raise InvalidArgumentError(f"{what}={threads} is not allowed; expected None, 'auto' or an int >= 1")
    return threads


def cpu_count() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _other_runnable(samples: int = 5, pause: float = 0.01) -> Optional[int]:
    """Runnable tasks on the machine other than the caller (Linux ``/proc/loadavg``), or ``None``.

    The fourth field of ``/proc/loadavg`` counts the tasks runnable *now* (the caller
    included); the median of a few readings smooths a momentary spike.
    """
    import statistics
    import time

    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg") as f:
                counts.append(int(f.read().split()[3].split("/")[0]))
        except (OSError, ValueError, IndexError):
            return None
        if i + 1 < samples:
            time.sleep(pause)
    return max(0, int(statistics.median(counts)) - 1)


def auto_threads() -> int:
    """The intra-op thread count ``threads="auto"`` picks: the cores no other task is using now.

    ``usable cores - other runnable tasks``, at least 1 and at most torch's current
    setting. With two cores: 2 on a quiet machine, 1 as soon as anything else runs
    (two threads then wait on each other at every operation: a nanda2023 step took
    57 ms with 2 threads and 88 ms with 1 alone, but 180 vs 90 ms beside one busy
    process and 727 vs 158 ms beside two; docs/performance.md). Where the load cannot
    be read (not Linux), torch's setting.

    Example:
        >>> import torch
        >>> from fourier_interp.checks import auto_threads
        >>> 1 <= auto_threads() <= torch.get_num_threads()
        True
    """
    current = torch.get_num_threads()
    others = _other_runnable()
    if others is None:
        return current
    return max(1, min(current, cpu_count() - others))


@contextmanager
def torch_threads(threads: Threads) -> Iterator[None]:
    """Run the block with torch's intra-op thread count set to ``threads``, then restore it.

    ``None`` changes nothing; ``"auto"`` uses :func:`auto_threads`, read once on entry.
    The previous count is restored in ``finally``, so an exception or interrupt inside
    the block leaves torch as it was. The setting is process-wide
    (``torch.set_num_threads``): other Python threads running torch code at the same
    time see it too.

    Example:
        >>> import torch
        >>> from fourier_interp.checks import torch_threads
        >>> before = torch.get_num_threads()
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    threads = check_threads(threads)
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    if threads == "auto":
        threads = auto_threads()
    if threads == previous:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def progress_bar(*args: Any, **kwargs: Any):
    """A tqdm bar: the notebook widget where ipywidgets is installed, the text bar otherwise.

    ``tqdm.auto`` warns ("IProgress not found") in Jupyter without ipywidgets, at import
    time; choosing here, when a bar is actually wanted, keeps library imports quiet.
    """
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(*args, **kwargs)
