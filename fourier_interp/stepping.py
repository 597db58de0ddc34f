"""One optimiser step, run eagerly or replayed from a CUDA graph; and the GPU-only speed options.

A training step of these small models is a few dozen small kernels: on a GPU its time is
kernel launches, not arithmetic. :class:`StepRunner` captures the whole step — forward,
float64 loss, backward and a fused AdamW update — as one CUDA graph after a few eager
steps, and replays it for every later step: one launch instead of hundreds. On a CPU (and
whenever capture is off) it runs exactly the eager step :func:`fi.train` always ran, op for
op, so CPU results stay bit for bit what they were.

The graph reads its inputs from fixed buffers: the full training split, or a minibatch's
row indices copied into a fixed index buffer before each replay. The learning rate is a
tensor on the device that the warmup schedule fills in place, and AdamW keeps its step
count on the device (``capturable=True``), so nothing the step reads changes behind the
graph's back.

Example:
    >>> import torch
    >>> from fourier_interp.stepping import StepRunner
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> opt = torch.optim.SGD([w], lr=0.5)
    >>> def step(rows):
    ...     opt.zero_grad(set_to_none=True)
    ...     (w ** 2).sum().backward()
    ...     opt.step()
    >>> runner = StepRunner(step, opt, torch.device("cpu"))
    >>> runner(None); runner.graphed, w.tolist()
    (False, [0.0, 0.0, 0.0])
"""

from __future__ import annotations

import os
import shutil
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, TypeVar, Union

import torch
from torch import Tensor

from .errors import InvalidArgumentError

EAGER_STEPS = 3
"""Eager steps before capture: AdamW creates its state and the allocator settles on them."""

MATMUL_PRECISIONS = ("highest", "high", "medium")
"""``torch.set_float32_matmul_precision`` values: float32, TF32, bfloat16 (CUDA matmuls)."""

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
"""``torch.compile`` modes ``TrainConfig.compile`` accepts by name."""


def use_graph(option: Optional[bool], device: torch.device, compile: Union[bool, str] = False) -> bool:
    """Whether to capture the step: ``option`` when given (``True`` needs CUDA), else on CUDA only
    unless the step is compiled (``torch.compile`` then owns the graphs)."""
    if option is None:
        return device.type == "cuda" and compile_mode(compile, device) is None
    if option and device.type != "cuda":
        raise InvalidArgumentError(f"TrainConfig.cuda_graph=True needs a CUDA device; the model is on {device}")
    return bool(option)


class StepRunner:
    """Run ``step(rows)`` once per training step, replaying it from a CUDA graph where enabled.

    Args:
        step: One full step: ``zero_grad``, forward, loss, ``backward``, ``optimizer.step()``.
            Takes the minibatch's row indices on the device (``None`` for full batch) and reads
            everything else from tensors that stay in place (parameters, the training split).
        optimizer: The step's optimiser; with a graph it must be capturable (see
            :func:`capturable_optimizer_options`).
        device: Where the model lives.
        graph: Capture the step (CUDA only; see :func:`use_graph`).
        eager_steps: Steps run eagerly before capture (real steps: they train the model).
        required: What to do when the step cannot be captured (it reads a value back to the
            host: ``.item()``, a data-dependent ``if``, ``nonzero``): ``True`` raises, naming
            the way out; ``False`` warns once and runs every step eagerly from then on.
    """

    def __init__(self, step: Callable[[Optional[Tensor]], None], optimizer: torch.optim.Optimizer, device: torch.device,
                 graph: bool = False, eager_steps: int = EAGER_STEPS, required: bool = False):
        self.step, self.optimizer, self.device = step, optimizer, device
        self.graph_wanted, self.eager_steps, self.required = graph, eager_steps, required
        self.graph: Optional["torch.cuda.CUDAGraph"] = None
        self._rows: Optional[Tensor] = None
        self._calls = 0
        self._stream = torch.cuda.Stream(device) if graph else None

    @property
    def graphed(self) -> bool:
        """Whether steps are now replayed from a captured graph."""
        return self.graph is not None

    def __call__(self, rows: Optional[Tensor]) -> None:
        self._calls += 1
        if self.graph is not None:
            if rows is not None:
                self._rows.copy_(rows, non_blocking=True)
            self.graph.replay()
            return
        if not self.graph_wanted:
            self.step(rows)
            return
        if self._calls == 1:
            self._make_capturable()
        if self._calls <= self.eager_steps:  # warm up on a side stream, as capture requires
            self._stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(self._stream):
                self.step(rows)
            torch.cuda.current_stream(self.device).wait_stream(self._stream)
            return
        if self._capture(rows):
            self.graph.replay()  # capture records the step without running it
        else:
            self.step(rows)

    def _make_capturable(self) -> None:
        """Step counts and learning rates on the device: a resumed run brings them back as host values."""
        for state in self.optimizer.state.values():
            if "step" in state and torch.is_tensor(state["step"]) and state["step"].device != self.device:
                state["step"] = state["step"].to(device=self.device, dtype=torch.float32)
        for group in self.optimizer.param_groups:
            if not torch.is_tensor(group["lr"]):  # the schedule then fills it in place
                group["lr"] = torch.tensor(group["lr"], dtype=torch.float32, device=self.device)

    def _capture(self, rows: Optional[Tensor]) -> bool:
        """Record the step as ``self.graph``; ``False`` when it cannot be (and eager steps from now on).

        A failed capture has run no kernel: parameters and optimiser state are as they were,
        and the gradients it allocated in the graph's pool are dropped.
        """
        self._rows = None if rows is None else rows.clone()
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize(self.device)
        stream = torch.cuda.current_stream(self.device)
        try:
            with torch.cuda.graph(graph):
                self.step(self._rows)
        except RuntimeError as err:
            torch.cuda.set_stream(stream)  # a failed capture_end leaves its side stream current
            self.optimizer.zero_grad(set_to_none=True)
            self.graph_wanted, self._rows = False, None
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            if self.required:
                raise InvalidArgumentError(f"TrainConfig.cuda_graph=True: the training step cannot be captured as "
                                           f"a CUDA graph ({reason}); cuda_graph=None falls back to eager steps, "
                                           f"cuda_graph=False runs them from the start") from err
            warnings.warn(f"the training step could not be captured as a CUDA graph ({reason}); every step runs "
                          f"eagerly from now on. TrainConfig(cuda_graph=False) skips the attempt.",
                          RuntimeWarning, stacklevel=2)
            return False
        self.graph = graph
        return True


def capturable_optimizer_options(lr: float, device: torch.device, graph: bool) -> dict:
    """AdamW keyword arguments for a step that may be captured: a device tensor lr, ``capturable=True``."""
    if not graph:
        return {}
    return {"lr": torch.tensor(lr, dtype=torch.float32, device=device), "capturable": True}


@contextmanager
def matmul_precision(precision: Optional[str], device: torch.device) -> Iterator[None]:
    """Run the block with ``torch.set_float32_matmul_precision(precision)`` on CUDA, then restore it.

    ``None`` (and any CPU run) changes nothing. ``"high"`` allows TF32 matmuls, ``"medium"``
    bfloat16; the loss is still computed in float64.
    """
    if precision is None or device.type != "cuda":
        yield
        return
    if precision not in MATMUL_PRECISIONS:
        raise InvalidArgumentError(f"matmul_precision={precision!r}: expected None or one of {MATMUL_PRECISIONS}")
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def compile_mode(option: Union[bool, str, None], device: torch.device) -> Optional[str]:
    """The ``torch.compile`` mode of ``TrainConfig.compile``: ``None`` for eager steps.

    ``True`` picks ``"reduce-overhead"`` on CUDA (the compiled step replayed from CUDA graphs)
    and ``"default"`` elsewhere; a string is the mode itself.
    """
    if option is None or option is False:
        return None
    if option is True:
        return "reduce-overhead" if device.type == "cuda" else "default"
    return option


def check_compile(option: Union[bool, str, None], cuda_graph: Optional[bool], name: str = "TrainConfig.compile") -> None:
    """One line for a ``compile`` option that is not a bool or a mode, or that meets ``cuda_graph=True``."""
    if not (option is None or isinstance(option, bool) or option in COMPILE_MODES):
        raise InvalidArgumentError(f"{name}={option!r}: expected True, False or one of {COMPILE_MODES}")
    if option not in (None, False) and cuda_graph:
        raise InvalidArgumentError(f"{name}={option!r} with cuda_graph=True: both capture the step; pick one")


Fn = TypeVar("Fn", bound=Callable)


def compiled(fn: Fn, option: Union[bool, str, None], device: torch.device) -> Fn:
    """``fn`` under ``torch.compile`` when ``option`` asks for it (see :func:`compile_mode`), else ``fn``.

    Shapes are static (``dynamic=False``): a training step's shapes never change. On a CPU
    inductor builds C++ kernels, so a compiler must be on ``PATH`` (checked here, one line).
    """
    mode = compile_mode(option, device)
    if mode is None:
        return fn
    if device.type == "cpu" and not any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "clang++", "c++") if c):
        raise InvalidArgumentError("TrainConfig.compile on a CPU needs a C++ compiler (g++ or clang++) on PATH")
    return torch.compile(fn, mode=mode, dynamic=False)
