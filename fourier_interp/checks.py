"""Argument checks shared by every layer: one clear error naming the argument and what is allowed.

Checked at the door: a public function (``fi.verify``, ``fi.run_grid``, an analysis, an
intervention, the command line) checks its arguments once, here, and passes them inward;
what it calls trusts them. Where a public function is also a step of a larger one, its
body is a private ``_name`` (``evaluation._grid_logits``, ``analysis.grid._run_grid``,
``interventions.curves._ablation_curve`` ...) that the larger one calls after its own checks.

Every check raises :class:`~fourier_interp.errors.InvalidArgumentError` (a ``ValueError``),
or :class:`~fourier_interp.errors.InvalidArgumentTypeError` (also a ``TypeError``) for an
argument of the wrong type.

Also the one place that scopes torch's global intra-op thread count to a call
(:func:`torch_threads`) and checks a device string before any work uses it
(:func:`check_device`).
"""

from __future__ import annotations

import difflib
import math
import weakref
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence, Union

import torch
from torch import nn

from .errors import InsufficientMemoryError, InvalidArgumentError, InvalidArgumentTypeError
from .tasks import GroupTask, ModularArithmetic


def check_group_task(task: Any) -> GroupTask:
    """``task`` must be a task (``fi.ModularArithmetic`` or ``fi.GroupTask``)."""
    if not isinstance(task, GroupTask):
        raise InvalidArgumentTypeError(f"task must be a fi.ModularArithmetic or fi.GroupTask, got {type(task).__name__}")
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
        raise InvalidArgumentTypeError(f"task must be a fi.ModularArithmetic, got {type(task).__name__}")
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
        raise InvalidArgumentTypeError(
            f"{what} must be a transformer_lens HookedRootModule mapping [batch, k] tokens to [batch, p] logits "
            f"(a built-in model or fi.HookedWrapper(module)), got {type(model).__name__}; "
            "wrap a plain nn.Module with fi.HookedWrapper first"
        )
    return model


def check_model(model: Any, task: Optional[GroupTask] = None, what: str = "model") -> nn.Module:
    """``model`` must be a hooked module and, with ``task``, built for it (:func:`check_hooked`, :func:`check_model_task`).

    The door check of every analysis and intervention that runs a model; returns ``model``.
    """
    check_hooked(model, what)
    if task is not None:
        check_model_task(model, task)
    return model


def check_hook_names(model: nn.Module, names: Union[str, Sequence[str]], what: str = "hook") -> list[str]:
    """Validate hook names against ``model.hook_dict``; an unknown name lists close valid ones."""
    if isinstance(names, str):
        names = [names]
    elif isinstance(names, (bytes, dict)) or not hasattr(names, "__iter__"):
        raise InvalidArgumentTypeError(f"{what} must be a hook name (str) or a list of them, got {type(names).__name__} {names!r:.60}")
    else:
        names = list(names)
    valid = list(model.hook_dict)
    for name in names:
        if not isinstance(name, str):
            raise InvalidArgumentTypeError(f"{what} must be a hook name (str), got {type(name).__name__} {name!r}")
        if name not in model.hook_dict:
            close = difflib.get_close_matches(name, valid, n=5, cutoff=0.4) or valid[:5]
            pending = getattr(model, "pending_hook_hint", None)
            hint = pending(name) if callable(pending) else ""
            raise InvalidArgumentError(
                f"{what}={name!r} is not a hook point of {type(model).__name__}; "
                f"valid names include {close} ({len(valid)} in model.hook_dict){hint}"
            )
    return names


def int_list(value: Any, what: str, *, scalar: bool = True) -> list[int]:
    """``value`` as a list of ints, refusing what would be read wrongly.

    Accepts an int (when ``scalar``), or a list, tuple, range, set or integer tensor of
    ints (numpy integers included). Refuses a string or bytes (``"21"`` is not ``[2, 1]``),
    bools, floats (even ``2.0``), float tensors and anything not iterable.

    Raises:
        InvalidArgumentTypeError: (a ``TypeError``) naming ``what``, what it got and what is expected.

    Example:
        >>> int_list([3, 7], "freqs"), int_list(5, "freqs")
        ([3, 7], [5])
        >>> int_list("21", "freqs")
        Traceback (most recent call last):
        ...
        fourier_interp.errors.InvalidArgumentTypeError: freqs must be an int or a list of ints, got the string '21' (write [21] for one value)
    """
    expected = "an int or a list of ints" if scalar else "a list of ints"
    if isinstance(value, (str, bytes)):
        example = f"[{value}]" if isinstance(value, str) and value.strip().isdigit() else "a list"
        raise InvalidArgumentTypeError(f"{what} must be {expected}, got the string {value!r} (write {example} for one value)")
    if isinstance(value, bool):
        raise InvalidArgumentTypeError(f"{what} must be {expected}, got the bool {value!r}")
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool or value.ndim > 1:
            raise InvalidArgumentTypeError(f"{what} must be {expected}, got a {value.dtype} tensor of shape {tuple(value.shape)}")
        if value.ndim == 0 and not scalar:
            raise InvalidArgumentTypeError(f"{what} must be {expected}, got a 0-d tensor")
        return [int(v) for v in value.reshape(-1).tolist()]
    if hasattr(value, "__index__"):
        if not scalar:
            raise InvalidArgumentTypeError(f"{what} must be {expected}, got the single value {value!r} (write [{value!r}])")
        return [value.__index__()]
    if isinstance(value, dict) or not hasattr(value, "__iter__"):
        raise InvalidArgumentTypeError(f"{what} must be {expected}, got {type(value).__name__} {value!r:.60}")
    items = list(value)
    wrong = [v for v in items if isinstance(v, (bool, str, bytes)) or not hasattr(v, "__index__")]
    if wrong:
        raise InvalidArgumentTypeError(f"{what} must hold ints only, got {type(wrong[0]).__name__} {wrong[0]!r:.40} in {items!r:.80}")
    return [v.__index__() for v in items]


def is_prime(p: Any) -> bool:
    """Whether ``p`` is a prime number (an int > 1 with no divisor but 1 and itself).

    Example:
        >>> [n for n in range(2, 30) if is_prime(n)]
        [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
        >>> is_prime(21), is_prime(113), is_prime(7.0)
        (False, True, False)
    """
    if isinstance(p, bool) or not isinstance(p, int) or p < 2:
        return False
    if p < 4:
        return True
    if p % 2 == 0:
        return False
    d = 3
    while d * d <= p:
        if p % d == 0:
            return False
        d += 2
    return True


def non_prime_note(p: int) -> Optional[str]:
    """One line saying what changes when the modulus is not prime, or ``None`` for a prime ``p``.

    Example:
        >>> non_prime_note(113) is None
        True
        >>> print(non_prime_note(21))  # doctest: +ELLIPSIS
        note: p = 21 is not prime (21 = 3 x 7), so Z_21 is not a field: ...
    """
    if is_prime(p):
        return None
    factors, n, d = [], p, 2
    while d * d <= n:
        while n % d == 0:
            factors.append(d)
            n //= d
        d += 1
    if n > 1:
        factors.append(n)
    shared = [f for f in range(1, (p - 1) // 2 + 1) if math.gcd(f, p) > 1]
    return (f"note: p = {p} is not prime ({p} = {' x '.join(map(str, factors))}), so Z_{p} is not a field: the Fourier "
            f"basis, the measures and the ablations are exact as for any p, but a frequency sharing a factor with p "
            f"({', '.join(map(str, shared[:6]))}{', ...' if len(shared) > 6 else ''}) repeats every p / gcd(f, p) and "
            f"cannot single out the answer alone, and the papers' statements (every frequency equivalent, each key "
            f"frequency enough by itself, the k-input results) assume a prime")


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
        raise InvalidArgumentTypeError(f"{what} must be a torch device or a string like 'cpu' or 'cuda', got {type(device).__name__}")
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
        raise InvalidArgumentTypeError(f"{what} must be None, 'auto' or an int >= 1, got {type(threads).__name__} {threads!r}")
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


# ------------------------------------------------------------------ memory
MEMORY_HEADROOM = 0.9
"""Refuse when an estimate exceeds this share of the free memory (the rest is for everything else)."""


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human-readable size.

    Example:
        >>> format_bytes(3 * 2**30), format_bytes(1536), format_bytes(2.7e12)
        ('3.0 GiB', '1.5 KiB', '2.5 TiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def available_bytes(device: Any) -> Optional[int]:
    """Memory free for new tensors on ``device`` now, or ``None`` where it cannot be read.

    CUDA: ``torch.cuda.mem_get_info``. CPU (Linux): ``MemAvailable`` of ``/proc/meminfo``,
    lowered to what the process's cgroup still allows where it has a limit. The environment
    variable ``FOURIER_INTERP_MEMORY_LIMIT`` (bytes, or with a ``K``/``M``/``G`` suffix)
    lowers it further: to keep room for other work on a shared machine.
    """
    import os

    free = _free_bytes(torch.device(device))
    limit = os.environ.get("FOURIER_INTERP_MEMORY_LIMIT")
    if limit:
        scale = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
        text = limit.strip().upper().removesuffix("B").removesuffix("I")
        try:
            cap = int(float(text[:-1]) * scale[text[-1]]) if text[-1:] in scale else int(text)
        except ValueError:
            raise InvalidArgumentError(f"FOURIER_INTERP_MEMORY_LIMIT={limit!r}: expected bytes, e.g. 8G or 512M") from None
        free = cap if free is None else min(free, cap)
    return free


def _free_bytes(dev: torch.device) -> Optional[int]:
    if dev.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(dev)[0])
        except Exception:  # noqa: BLE001  (no driver answer: no check)
            return None
    if dev.type != "cpu":
        return None
    free = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        return None
    try:  # a container's limit
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            used = int(f.read().strip())
        if limit != "max" and free is not None:
            free = min(free, int(limit) - used)
    except (OSError, ValueError):
        pass
    return free


def forward_bytes(model: nn.Module, k: int, rows: int, *, fast: bool = False) -> int:
    """Upper estimate of the bytes one forward pass of ``model`` over ``rows`` input rows creates.

    Measured, not allocated: the model runs once on 1 and once on 2 rows of ``meta`` tensors
    (shapes only) and every tensor its operations create is counted (``TorchDispatchMode``),
    which gives a fixed part (tables built from the weights) and a per-row part (the
    activations: every width the model has, at every position). Autograd keeps most of
    these for the backward pass, so this bounds a training step's activations; a pass
    without gradients frees them as it goes and needs less. A model that cannot run on
    ``meta`` tensors (one that reads values) is estimated from its widest weight instead:
    ``rows * (k + 1) * widest dimension * 4`` bytes.

    Args:
        model: Maps ``[batch, k]`` tokens to logits.
        k: Operands per row.
        rows: Rows in the pass.
        fast: Estimate ``model.fast_forward`` (the training path) instead of the hooked forward.

    Example:
        >>> import fourier_interp as fi
        >>> model = fi.HookedMLP(fi.MLPConfig(p=11, d_hidden=64))
        >>> forward_bytes(model, 2, 2000) > forward_bytes(model, 2, 1000) > 1000 * 64 * 4  # a [1000, 64] float32 at least
        True
    """
    const, per_row = forward_profile(model, k, fast=fast)
    return int(const + rows * per_row)


_PROFILES: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def forward_profile(model: nn.Module, k: int, *, fast: bool = False) -> tuple[float, float]:
    """``(fixed bytes, bytes per row)`` of one forward pass (see :func:`forward_bytes`), cached per model and shapes.

    Measured only while no hook is attached to the model (a hook would run on the meta
    tensors, and one that records what it sees would record them); with hooks attached and
    nothing measured yet, the widest-weight estimate.
    """
    shapes = tuple((n, tuple(t.shape), t.dtype) for n, t in [*model.named_parameters(), *model.named_buffers()])
    key = (fast, k, shapes)
    known = _PROFILES.setdefault(model, {})
    if key not in known:
        if _any_hooks(model):
            return _width_profile(model, k)
        known.clear()  # other shapes: the model was changed
        known[key] = _measure_profile(model, k, fast)
    return known[key]


def _any_hooks(model: nn.Module) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
               for m in model.modules())


def _width_profile(model: nn.Module, k: int) -> tuple[float, float]:
    widest = max((max(t.shape) for t in model.parameters() if t.ndim), default=1)
    return 0.0, float((k + 1) * widest * 4)


def _measure_profile(model: nn.Module, k: int, fast: bool) -> tuple[float, float]:
    """``(fixed bytes, bytes per row)`` of one forward pass, measured on meta tensors (see :func:`forward_bytes`)."""
    from torch.func import functional_call
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.bytes = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self.bytes += t.numel() * t.element_size()
            return out

    class Fast(nn.Module):  # functional_call runs forward: this forward is the model's fast path
        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, tokens):
            return self.inner.fast_forward(self.inner.prepare_tokens(tokens))

    runner = Fast(model) if fast and hasattr(model, "fast_forward") else model
    prefix = "inner." if runner is not model else ""
    state = {prefix + n: torch.empty_like(t, device="meta") for n, t in
             [*model.named_parameters(), *model.named_buffers()]}
    checked = getattr(model, "_inputs_checked", None)
    totals = []
    try:
        if checked is not None:
            model._inputs_checked = True  # the input checks read values, which meta tensors have not
        for n in (1, 2):
            x = torch.zeros(n, k, dtype=torch.long, device="meta")
            with torch.no_grad(), Count() as count:
                functional_call(runner, state, (x,))
            totals.append(count.bytes)
    except Exception:  # noqa: BLE001  (any model that cannot run on meta: the width estimate)
        return _width_profile(model, k)
    finally:
        if checked is not None:
            model._inputs_checked = checked
    per_row = max(totals[1] - totals[0], 0)
    return float(max(totals[0] - per_row, 0)), float(per_row)


def check_memory(need: int, device: Any, what: str, way_out: str) -> None:
    """Refuse, in one line, a computation whose estimated peak ``need`` exceeds the free memory.

    Args:
        need: The estimated peak, in bytes.
        device: Where it would be allocated.
        what: What needs it and why (the cause), e.g. ``"fi.accuracy on p**k = 49,000,000 rows"``.
        way_out: What to change, e.g. ``"use a smaller p or k, or TrainConfig(batch_size=...)"``.

    Raises:
        InsufficientMemoryError: naming the estimate, the free memory, the cause and the way out.

    Example:
        >>> from fourier_interp.checks import check_memory
        >>> check_memory(2**60, "cpu", "a test", "ask for less")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fourier_interp.errors.InsufficientMemoryError: a test needs about 1024.0 PiB ... ask for less
    """
    import os

    if os.environ.get("FOURIER_INTERP_NO_MEMORY_CHECK"):
        return
    free = available_bytes(device)
    if free is None or need <= MEMORY_HEADROOM * free:
        return
    raise InsufficientMemoryError(
        f"{what} needs about {format_bytes(need)} but {format_bytes(free)} is free on {torch.device(device)}; "
        f"refused before allocating: {way_out}"
    )
