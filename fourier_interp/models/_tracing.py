"""torch.fx tracing for :class:`~fourier_interp.interventions.HookedWrapper`: hook points on the
functional operations inside a module's ``forward`` (``torch.relu``, ``F.gelu``, ``W[x]``, ``a + b``).

Each module whose class defines its own ``forward`` (a user's class, not ``torch.nn``'s) is
traced on its own, with every submodule call kept as one opaque call (submodules are traced
separately, and their inputs and outputs are hooked by the wrapper's module hooks). After
each ``call_function`` / ``call_method`` node the graph calls :func:`fire` with the node's
name; the generated ``forward`` replaces the module's ``forward`` only while the wrapper runs.

:func:`fire` routes through whichever wrapper is running in this thread, so the generated
code holds no reference to a wrapper (copies of a wrapper work) and a module called
directly, outside any wrapper, runs its traced graph without hooks.
"""

from __future__ import annotations

import operator
import threading
from typing import Any, Callable

import torch
from torch import fx, nn

_local = threading.local()

# nodes that produce metadata, never an activation: no hook point for them
_META_ATTRS = {"shape", "dtype", "device", "ndim", "is_cuda", "requires_grad", "layout"}
_META_METHODS = {"size", "dim", "numel", "nelement", "item", "tolist", "stride", "element_size"}
_OPERATORS = {getattr(operator, name) for name in ("getitem", "add", "sub", "mul", "floordiv", "truediv",
                                                   "mod", "neg", "eq", "ne", "lt", "le", "gt", "ge")}


class TraceFailure(Exception):
    """A module could not be traced; ``str(e)`` is the one-line reason."""


def running(wrapper: Any):
    """Context manager: ``wrapper`` receives the :func:`fire` calls made in this thread."""
    return _Running(wrapper)


class _Running:
    def __init__(self, wrapper: Any):
        self.wrapper = wrapper

    def __enter__(self) -> None:
        stack = _local.__dict__.setdefault("stack", [])
        stack.append(self.wrapper)

    def __exit__(self, *exc: Any) -> None:
        _local.stack.pop()


def fire(value: Any, name: str) -> Any:
    """Called by traced graphs after each operation: the running wrapper's hook point, if any."""
    stack = getattr(_local, "stack", None)
    if not stack:
        return value
    return stack[-1]._fire_traced(name, value)


def traceable(module: nn.Module) -> bool:
    """Whether the module's ``forward`` is its own code (not ``torch.nn``'s) and so worth tracing."""
    forward = getattr(type(module), "forward", None)
    return forward is not None and not (getattr(forward, "__module__", "") or "").startswith("torch.")


class _EachCallOpaque(fx.Tracer):
    """Trace one module's forward, keeping every submodule call as a single ``call_module`` node.

    fx does not record ``with torch.no_grad():`` or autocast blocks: the graph would run their
    operations with gradients. A node created under another grad or autocast mode than the
    trace started in is refused.
    """

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return True

    def trace(self, root, concrete_args=None):
        self._modes = _modes()
        return super().trace(root, concrete_args)

    def create_node(self, *args, **kwargs):
        if _modes() != self._modes:
            raise TraceFailure("forward switches gradient or autocast mode (torch.no_grad, autocast), "
                               "which torch.fx does not record")
        return super().create_node(*args, **kwargs)


def _modes() -> tuple[bool, ...]:
    return torch.is_grad_enabled(), torch.is_autocast_enabled("cpu"), torch.is_autocast_enabled("cuda")


def trace(module: nn.Module) -> fx.Graph:
    """The fx graph of ``module.forward``; :class:`TraceFailure` with the reason if it cannot be traced."""
    if "forward" in module.__dict__:
        raise TraceFailure("forward is set on the instance, not defined by its class")
    before = dict(module.__dict__)
    try:
        return _EachCallOpaque().trace(module)
    except TraceFailure:
        raise
    except Exception as e:  # fx raises TraceError, NameError, TypeError ... from user code
        reason = " ".join(str(e).split()) or type(e).__name__
        raise TraceFailure(f"{type(e).__name__}: {reason[:160]}") from None
    finally:
        # fx stores a tensor that is no attribute of the module (a global, a closure) on the module as
        # "_tensor_constant0": undo that (the wrapper sets nothing on user modules) and refuse
        added = sorted(set(module.__dict__) - set(before))
        for name in added:
            del module.__dict__[name]
        if added:
            raise TraceFailure("forward reads tensors that are not parameters, buffers or attributes of the module "
                               "(a global or a closure), which fx would store on the module; register them with "
                               "register_buffer")


def hooked_forward(graph: fx.Graph, module: nn.Module, name_of: Callable[[str], str]) -> tuple[Callable, list[str]]:
    """Insert a :func:`fire` call after each operation of ``graph``; return ``(forward, hook names)``.

    ``forward(self, ...)`` is the generated function (bind it to ``module``); ``name_of`` maps
    an fx node name to its hook name. Nodes that only read metadata (``x.shape``,
    ``x.size(0)`` and arithmetic on them) get no hook point.
    """
    meta: set[fx.Node] = set()
    names = []
    for node in list(graph.nodes):
        if node.op not in ("call_function", "call_method"):
            continue
        if _is_metadata(node, meta):
            meta.add(node)
            continue
        name = name_of(node.name)
        with graph.inserting_after(node):
            hooked = graph.call_function(fire, (node, name))
        node.replace_all_uses_with(hooked, delete_user_cb=lambda user, hooked=hooked: user is not hooked)
        names.append(name)
    graph.lint()
    try:
        gm = fx.GraphModule(module, graph)
    except Exception as e:
        raise TraceFailure(f"{type(e).__name__}: {' '.join(str(e).split())[:160]}") from None
    return type(gm).forward, names


def _is_metadata(node: fx.Node, meta: set) -> bool:
    if node.op == "call_function" and node.target is getattr:
        return len(node.args) > 1 and node.args[1] in _META_ATTRS
    if node.op == "call_method" and node.target in _META_METHODS:
        return True
    if node.op == "call_function" and node.target in _OPERATORS:
        inputs = [a for a in node.args if isinstance(a, fx.Node)]
        return bool(inputs) and all(a in meta for a in inputs)
    return False
