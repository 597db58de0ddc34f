"""HookedWrapper: TransformerLens hooks on any plain PyTorch module, without editing its code.

``HookedWrapper(module)`` is a :class:`transformer_lens.HookedRootModule` holding the user's
module, so ``run_with_cache``, ``run_with_hooks``, ``hooks()``, activation patching and every
ablation, probe and verification in this package work on it unchanged.

Hook names, where ``path`` is a submodule's dotted path in ``module.named_modules()``:

    fc1, layers.0.act, 0              the submodule's output
    fc1.hook_in                       its input (called with one positional tensor)
    bil.hook_in.0, bil.hook_in.1      its inputs when it takes several (.hook_in.<kw>: keywords)
    relu, layers.0.attn.softmax       a functional operation inside a forward (torch.relu,
                                      F.gelu, self.W[x], a + b): its torch.fx node name after
                                      the module's path (the top-level module's have none)
    blocks.0.hook_resid_pre ...       TransformerLens names for a stack of layers (below)

* **Tuple outputs.** A submodule returning a tuple or list (``nn.LSTM``) gets one hook point
  per tensor element, ``"path.0"``, ``"path.1"``, nested ``"path.1.0"``; ``"path"`` itself is
  then not a hook point and non-tensor elements (``None``) are skipped. Inputs follow the
  same rule. Any other output (dict, ``None``) is not hooked and is listed in ``wrapped.unhooked``.
* **Functional operations** come from tracing each module whose class defines its own
  ``forward`` with ``torch.fx`` (``trace=True``, the default), submodule calls kept whole. A
  module fx cannot trace (Python control flow on tensor values, calls fx cannot follow), or
  whose graph would differ from it (``torch.no_grad`` blocks, tensors read from globals), keeps
  its own ``forward`` and gets no operation hooks: a one-line warning names it and the reason, and
  ``wrapped.untraced`` keeps it. Tracing records Python control flow as it ran (``if
  self.training:`` is traced again in each mode); operations that only read shapes get no
  hook. ``wrapped.traced`` lists each traced path's operation hooks.
* **TransformerLens names.** If the module has one ``nn.ModuleList`` / ``nn.Sequential`` of
  layers of one class named ``blocks``, ``layers``, ``layer`` or ``h`` (or ``blocks="path"`` names it),
  each layer ``i`` also gets ``blocks.{i}.hook_resid_pre`` (its input),
  ``blocks.{i}.hook_resid_post`` (its output), and ``blocks.{i}.hook_attn_out`` /
  ``hook_mlp_out`` for children named ``attn`` / ``attention`` / ``self_attn`` and ``mlp`` /
  ``ffn`` / ``feed_forward``. Each fires right after the hook it renames, on the same tensor.
  ``wrapped.cfg`` carries ``n_layers``, ``n_heads``, ``d_model`` ... (``None`` where the
  structure does not tell; set them), so ``transformer_lens.patching`` and
  ``ActivationCache`` helpers such as ``accumulated_resid`` run on the wrapper.
* The structure of outputs is found on the first forward pass: ``run_with_cache`` /
  ``run_with_hooks`` on a wrapper that has not run first run it once without gradients
  (pass ``example_inputs=`` to do it at construction).
* Containers that are never called (``nn.ModuleList``) get no hook point; a module object
  registered under two names gets the first; a hook point firing more than once per forward
  (weight sharing) fires on every call and is listed in ``wrapped.repeated`` (warned once).

* **Modules that take several inputs.** The package calls a model with one ``[batch, k]``
  tensor of operand tokens. For a ``forward(a, b)``, a ``forward(a=..., b=...)`` or a
  ``forward(batch)`` taking a dict, say how the tokens map onto it with ``inputs=``:
  ``"operands"`` (one positional tensor per operand, ``forward(t[:, 0], t[:, 1])``), a list
  of names (keyword arguments, ``["a", "b"]``: ``forward(a=t[:, 0], b=t[:, 1])``), or a
  function of the tokens returning the one argument (``lambda t: {"a": t[:, 0], "b":
  t[:, 1]}``) or a tuple of positional arguments. The adapter applies when the wrapper is
  called with one tensor; called with the module's own arguments, it passes them through.

Wrapping puts the module in eval mode, like the built-in models (TransformerLens's patching
refuses train mode); ``wrapped.train()`` switches back. The routing hooks and traced
``forward`` are attached to the user's submodules only while the wrapper's forward runs and
removed in ``finally``: ``module(x)`` runs it unhooked, :meth:`HookedWrapper.unwrap` returns
it. Forward returns exactly the module's output. ``wrapped.save(path)`` / ``fi.load(path)``
round-trip a module whose class can be imported (``init_kwargs=`` rebuilds it).

Example:
    >>> import torch, fourier_interp as fi
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> wrapped = fi.HookedWrapper(net)
    >>> x = torch.randn(5, 4)
    >>> logits, cache = wrapped.run_with_cache(x)
    >>> torch.equal(logits, net(x)), sorted(cache.keys())
    (True, ['0', '0.hook_in', '1', '1.hook_in', '2', '2.hook_in'])
    >>> zeroed = wrapped.run_with_hooks(x, fwd_hooks=[("1", lambda act, hook: act * 0)])
    >>> torch.equal(zeroed, net[2](torch.zeros(5, 8)))
    True
"""

from __future__ import annotations

import warnings
from collections import Counter
from functools import partial
from types import MethodType
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn
from .base import ActivationCache, HookedRootModule  # imported quietly there (tqdm.auto warns in Jupyter)
from transformer_lens.hook_points import HookPoint

from ..errors import InvalidArgumentError
from . import _tracing
from ._layout import WrapperConfig, find_blocks, tl_aliases, tl_fields

CONTAINERS = (nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)


class HookedWrapper(HookedRootModule):
    """Hook points on the inputs, outputs and functional operations of a plain ``nn.Module``.

    Args:
        module: Any ``torch.nn.Module``. It is held (``wrapped.module``), not copied: its
            parameters are the wrapper's parameters.
        p: Optional modulus, recorded in ``wrapped.cfg`` so the interventions can check
            it against a task.
        k: Optional number of operands, recorded in ``wrapped.cfg`` like ``p``.
        trace: Trace each module's ``forward`` with ``torch.fx`` for hook points on its
            functional operations (``False``: submodule inputs and outputs only).
        blocks: The dotted path of the module's ``nn.ModuleList`` of layers, for the
            TransformerLens names; ``"auto"`` finds one named ``blocks``/``layers``/``layer``/``h``,
            ``None`` adds none.
        init_kwargs: The JSON-safe keyword arguments that rebuild the module,
            ``type(module)(**init_kwargs)``, recorded by :meth:`save` (default: none).
        example_inputs: Optional input (a tensor, or a tuple of positional arguments) to run
            once at construction, so tuple outputs get their element hook points right away.
        inputs: How ``[batch, k]`` operand tokens map onto the module's ``forward`` when it does
            not take them as one tensor: ``"operands"`` (one positional tensor per operand), a
            list of keyword names (one per operand), or a function ``fn(tokens)`` returning
            the one argument (a dict, ...) or a tuple of positional arguments. A function
            defined at module level is saved by name; a lambda cannot be saved.

    Attributes:
        module: The wrapped module.
        cfg: :class:`WrapperConfig`: ``p``, ``k``, ``device`` and the TransformerLens fields.
        hook_dict: Hook name -> ``HookPoint``.
        blocks_path: The layer stack's path, or ``None``.
        traced: Path -> hook names of its functional operations.
        untraced: Path -> why torch.fx could not trace it.
        unhooked: Hook name -> type name of outputs that are not tensors (so not hooked).
        repeated: Hook names that fired more than once in the last forward pass.

    Example:
        >>> import torch, fourier_interp as fi
        >>> class Net(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = torch.nn.Linear(4, 8)
        ...     def forward(self, x):
        ...         return torch.relu(self.fc(x)).sum(-1)
        >>> wrapped = fi.HookedWrapper(Net())
        >>> sorted(wrapped.hook_dict), wrapped.training
        (['fc', 'fc.hook_in', 'relu', 'sum_1'], False)
        >>> x = torch.randn(3, 4)
        >>> _, cache = wrapped.run_with_cache(x)
        >>> torch.equal(cache["relu"], torch.relu(wrapped.module.fc(x)))
        True
    """

    def __init__(self, module: nn.Module, *, p: Optional[int] = None, k: Optional[int] = None, trace: bool = True,
                 blocks: Optional[str] = "auto", init_kwargs: Optional[dict[str, Any]] = None,
                 example_inputs: Any = None, inputs: Any = None):
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        if isinstance(module, HookedRootModule):
            raise TypeError(
                f"module is already a HookedRootModule ({type(module).__name__}); use it directly "
                "instead of wrapping it"
            )
        for name, value in (("p", p), ("k", k)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidArgumentError(f"{name}={value!r}: expected None or a positive int")
        if not isinstance(trace, bool):
            raise TypeError(f"trace must be True or False, got {trace!r}")
        if init_kwargs is not None and not (isinstance(init_kwargs, dict) and all(isinstance(key, str) for key in init_kwargs)):
            raise TypeError(f"init_kwargs must be a dict of keyword arguments (str keys), got {init_kwargs!r}")
        self.inputs = _check_inputs(inputs, k)
        self.module = module
        self.init_kwargs = dict(init_kwargs) if init_kwargs is not None else None
        self._trace = trace
        # plain dicts: hook points are not registered as submodules of the user's tree
        self._paths: dict[str, nn.Module] = {
            path: sub for path, sub in module.named_modules() if path and not isinstance(sub, CONTAINERS)
        }
        self.blocks_path = find_blocks(module, blocks)
        self.cfg = WrapperConfig(p=p, k=k, device=str(_device_of(module)), **tl_fields(module, self.blocks_path))
        self._aliases = tl_aliases(module, self.blocks_path)
        self.unhooked: dict[str, str] = {}
        self.repeated: list[str] = []
        self.traced: dict[str, list[str]] = {}
        self.untraced: dict[str, str] = {}
        self._forwards: dict[tuple[str, bool], Optional[Callable]] = {}
        self._warned: set[str] = set()
        self._has_run = False
        self._running = False
        self._calls: Counter = Counter()
        self.eval()
        self.setup()
        if example_inputs is not None:
            self._probe(*(example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)))

    # ---------------------------------------------------------------- setup
    def setup(self) -> None:
        """Create the hook points (``HookedRootModule.setup`` would set a ``name`` attribute on
        every user submodule; this touches none of them) and trace the modules' forwards."""
        self.hook_dict: dict[str, HookPoint] = {}
        self.mod_dict = self.hook_dict  # TransformerLens looks hook names up in mod_dict
        for path in self._paths:
            self._new_hook_point(path)
            self._new_hook_point(f"{path}.hook_in")
        for aliases in self._aliases.values():
            for alias in aliases:
                self._new_hook_point(alias)
        self._module_names = set(self.hook_dict) | set(self._paths)
        if self._trace:
            self._trace_modules()

    def _new_hook_point(self, name: str) -> HookPoint:
        hp = HookPoint()
        hp.name = name
        self.hook_dict[name] = hp
        return hp

    def _module_at(self, path: str) -> nn.Module:
        return self.module if path == "" else self._paths[path]

    def _trace_modules(self) -> dict[str, Callable]:
        """``{path: traced forward}`` for the modules' current training modes, tracing any not yet traced."""
        forwards = {}
        for path, sub in [("", self.module), *self._paths.items()]:
            if not _tracing.traceable(sub) or path in self.untraced:
                continue
            key = (path, sub.training)
            if key not in self._forwards:
                self._forwards[key] = self._trace_one(path, sub)
            if self._forwards[key] is not None:
                forwards[path] = self._forwards[key]
        return forwards

    def _trace_one(self, path: str, sub: nn.Module) -> Optional[Callable]:
        prefix = f"{path}." if path else ""

        def name_of(node: str) -> str:
            name = prefix + node
            while name in self._module_names:  # an uncalled child of the same name
                name += "_op"
            return name

        try:
            forward, names = _tracing.hooked_forward(_tracing.trace(sub), sub, name_of)
        except _tracing.TraceFailure as e:
            self.untraced[path] = str(e)
            warnings.warn(
                f"HookedWrapper: cannot trace {path or 'the module'} ({type(sub).__name__}.forward) with torch.fx "
                f"({e}); functional operations inside it get no hook points, its submodules' inputs and outputs "
                "still do (trace=False silences this)",
                stacklevel=5,
            )
            return None
        own = self.traced.setdefault(path, [])
        for name in names:
            if name not in own:
                own.append(name)
            if name not in self.hook_dict:
                self._new_hook_point(name)
        return forward

    # -------------------------------------------------------------- forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the wrapped module with every hook point in place (see the module docstring)."""
        if self._running:  # re-entrant call: the routing hooks are already in place
            return self.module(*args, **kwargs)
        args, kwargs = self._adapt(args, kwargs)
        forwards = self._trace_modules() if self._trace else {}
        handles, swapped = [], []
        self._running, self._calls = True, Counter()
        try:
            for path, sub in self._paths.items():
                handles.append(sub.register_forward_pre_hook(partial(self._route_in, path), with_kwargs=True))
                handles.append(sub.register_forward_hook(partial(self._route, path)))
            for path, forward in forwards.items():
                sub = self._module_at(path)
                sub.forward = MethodType(forward, sub)
                swapped.append(sub)
            with _tracing.running(self):
                out = self.module(*args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
            for sub in swapped:
                sub.__dict__.pop("forward", None)
            self._running = False
        self._has_run = True
        self.repeated = sorted(name for name, n in self._calls.items() if n > 1)
        new = [name for name in self.repeated if name not in self._warned]
        if new:
            self._warned.update(new)
            warnings.warn(
                f"HookedWrapper: hook points {new} were called more than once in one forward pass; "
                "they fire on every call (hooks edit each call, the cache keeps the last)",
                stacklevel=4,  # past nn.Module.__call__: the caller's line
            )
        return out

    def _adapt(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """The module's arguments for a call with one ``[batch, k]`` token tensor (see ``inputs=``)."""
        tokens_call = len(args) == 1 and not kwargs and isinstance(args[0], Tensor) and args[0].ndim == 2
        if not tokens_call:
            return args, kwargs
        tokens = args[0]
        if self.inputs is None:
            needed = _required_positional(self.module)
            if needed > 1:
                raise TypeError(
                    f"{type(self.module).__name__}.forward takes {needed} positional inputs but the package passes one "
                    f"[batch, k] tensor of operand tokens; wrap it with HookedWrapper(module, inputs='operands') "
                    "(one tensor per operand), inputs=['a', 'b'] (keywords) or inputs=fn(tokens)")
            return args, kwargs
        if self.inputs == "operands":
            return tuple(tokens[:, i] for i in range(tokens.shape[1])), {}
        if isinstance(self.inputs, list):
            if tokens.shape[1] != len(self.inputs):
                raise InvalidArgumentError(f"inputs={self.inputs} names {len(self.inputs)} operands but the tokens have "
                                 f"{tokens.shape[1]} columns")
            return (), {name: tokens[:, i] for i, name in enumerate(self.inputs)}
        out = self.inputs(tokens)
        return (out if isinstance(out, tuple) else (out,)), {}

    def _through(self, name: str, value: Tensor) -> Tensor:
        """``value`` through hook point ``name`` and then any TransformerLens alias of it."""
        for hook_name in (name, *self._aliases.get(name, ())):
            self._calls[hook_name] += 1
            hp = self.hook_dict.get(hook_name)
            value = (hp if hp is not None else self._new_hook_point(hook_name))(value)
        return value

    def _drop(self, name: str, value: Any, what: str) -> None:
        """``name`` is not a tensor here: refuse a hook on it, else stop listing it as a hook point."""
        own = self.hook_dict.get(name)
        if own is not None and (own.fwd_hooks or own.bwd_hooks):
            raise TypeError(f"{what} is a {type(value).__name__}, not a tensor, so hook point {name!r} cannot be "
                            "hooked — hook the tensors that feed or consume it instead")
        self.hook_dict.pop(name, None)

    def _fire_traced(self, name: str, value: Any) -> Any:
        """A traced operation's result (called from the traced graph via ``_tracing.fire``)."""
        if isinstance(value, Tensor):
            return self._through(name, value)
        self._drop(name, value, f"the result of operation {name!r}")
        self.unhooked[name] = type(value).__name__
        return value

    def _route_in(self, path: str, module: nn.Module, args: tuple, kwargs: dict) -> Any:
        name = f"{path}.hook_in"
        if len(args) == 1 and isinstance(args[0], Tensor) and not any(isinstance(v, Tensor) for v in kwargs.values()):
            return (self._through(name, args[0]),), kwargs
        own = self.hook_dict.get(name)
        if own is not None and (own.fwd_hooks or own.bwd_hooks):
            raise TypeError(f"submodule {path!r} is called with {len(args)} positional arguments, not one tensor; "
                            f"hook its inputs '{name}.0', '{name}.1' ... or '{name}.<keyword>' instead")
        self.hook_dict.pop(name, None)
        kwargs = {key: self._through(f"{name}.{key}", v) if isinstance(v, Tensor) else v for key, v in kwargs.items()}
        return tuple(self._route_elements(name, args)), kwargs

    def _route(self, path: str, module: nn.Module, inputs: Any, output: Any) -> Any:
        if isinstance(output, Tensor):
            return self._through(path, output)
        if isinstance(output, (tuple, list)):
            own = self.hook_dict.get(path)
            if own is not None and (own.fwd_hooks or own.bwd_hooks):
                raise TypeError(
                    f"submodule {path!r} returns a {type(output).__name__}, not a tensor; its tensor "
                    f"elements are hook points '{path}.0', '{path}.1', ... — hook those (run the wrapper "
                    "once, or pass example_inputs= to HookedWrapper, to create them)"
                )
            self.hook_dict.pop(path, None)
            return self._route_elements(path, output)
        self._drop(path, output, f"the output of submodule {path!r}")
        self.unhooked[path] = type(output).__name__
        return None

    def _route_elements(self, path: str, output: Any) -> Any:
        items, changed = [], False
        for i, item in enumerate(output):
            name = f"{path}.{i}"
            if isinstance(item, Tensor):
                if name not in self.hook_dict and name in self._paths:
                    raise InvalidArgumentError(
                        f"element {i} of {path!r} would be named {name!r}, which is also a submodule path; "
                        "rename the submodule"
                    )
                new = self._through(name, item)
            elif isinstance(item, (tuple, list)):
                new = self._route_elements(name, item)
            else:
                new = item
            changed |= new is not item
            items.append(new)
        if not changed:
            return output
        if hasattr(output, "_fields"):  # namedtuple
            return type(output)(*items)
        return type(output)(items)

    def _probe(self, *args: Any, **kwargs: Any) -> None:
        """One forward in eval mode without gradients to find the output structure."""
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            with torch.no_grad():
                self(*args, **kwargs)
        finally:
            for m, mode in modes:
                m.training = mode

    # ------------------------------------------------------ TransformerLens
    def run_with_cache(self, *model_args: Any, **kwargs: Any) -> tuple[Any, ActivationCache]:
        """``(output, cache)``; the cache is a TransformerLens ``ActivationCache`` keyed by hook name.

        Takes the keyword arguments of ``HookedRootModule.run_with_cache`` (``names_filter``,
        ``device``, ``incl_bwd`` ...).
        """
        if not self._has_run:
            self._probe(*model_args, **_forward_kwargs(kwargs, CACHE_KWARGS))
        out, cache_dict = super().run_with_cache(*model_args, **kwargs)
        return out, ActivationCache(cache_dict, self, has_batch_dim=not kwargs.get("remove_batch_dim", False))

    def run_with_hooks(self, *model_args: Any, **kwargs: Any) -> Any:
        """Run with temporary hooks, ``fwd_hooks=[(name, fn)]``; ``fn(activation, hook)`` may
        return a replacement. Hooks are removed afterwards, even if the forward raises."""
        if not self._has_run:
            self._probe(*model_args, **_forward_kwargs(kwargs, HOOK_KWARGS))
        return super().run_with_hooks(*model_args, **kwargs)

    def pending_hook_hint(self, name: str) -> str:
        """Extra text for an unknown-hook error (used by the interventions' name checks)."""
        parent = name.rsplit(".", 1)[0]
        if parent in self.unhooked:
            return f"; submodule {parent!r} returns a {self.unhooked[parent]}, which is not hooked"
        if self.untraced:
            return "; not traced, so without operation hook points: " + "; ".join(
                f"{path or 'the module'} ({reason})" for path, reason in self.untraced.items())
        if not self._has_run:
            return ("; the wrapper has not run yet: tuple outputs get element hook points such as "
                    "'path.0' on the first forward (or pass example_inputs= to HookedWrapper)")
        return ""

    @property
    def config(self):
        """The module's own ``config`` if it has one (a Hugging Face model), else an HF-style view of ``cfg``."""
        own = getattr(self.module, "config", None)
        if own is not None:
            return own
        from ..models.hf_config import HFConfig

        return HFConfig(self.cfg, f"fourier_interp.HookedWrapper[{type(self.module).__name__}]")

    # ------------------------------------------------------------ lifecycle
    def save(self, path, task=None, history=None, metadata: Optional[dict] = None):
        """Write the module's weights and what rebuilds it to the checkpoint directory ``path``.

        ``fi.load(path)`` returns an equal wrapper: it rebuilds ``type(module)(**init_kwargs)``
        (the class must be importable: defined at module level; import its module before
        loading), loads the weights and wraps it with the same options. Same as
        ``fi.save(wrapped, path, ...)``.

        Raises:
            TypeError: the class is defined inside a function, ``init_kwargs`` is not
                JSON-safe, or ``type(module)(**init_kwargs)`` does not rebuild a module with
                the same parameter names and shapes; nothing is written.
        """
        from ._wrapper_io import save_wrapper

        return save_wrapper(self, path, task=task, history=history, metadata=metadata)

    def unwrap(self) -> nn.Module:
        """Remove every hook added to the wrapper and return the wrapped module.

        The user's module never carries hooks outside the wrapper's forward pass, so it is
        returned as it was given (in the training mode the wrapper last had).
        """
        self.reset_hooks(including_permanent=True)
        return self.module

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the traced forwards (generated code); they are traced again on first use."""
        state = self.__dict__.copy()
        state["_forwards"] = {}
        return state

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        self.cfg.device = str(_device_of(self.module))
        return out


CACHE_KWARGS = ("names_filter", "device", "remove_batch_dim", "incl_bwd", "reset_hooks_end",
                "clear_contexts", "pos_slice")
HOOK_KWARGS = ("fwd_hooks", "bwd_hooks", "reset_hooks_end", "clear_contexts")


def _forward_kwargs(kwargs: dict[str, Any], own: tuple[str, ...]) -> dict[str, Any]:
    """The keyword arguments meant for the module's forward (not for TransformerLens)."""
    return {key: value for key, value in kwargs.items() if key not in own}


def _check_inputs(inputs: Any, k: Optional[int]) -> Any:
    """``inputs=`` checked: ``None``, ``"operands"``, a list of keyword names or a function."""
    if inputs is None or inputs == "operands" or callable(inputs):
        return inputs
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(n, str) and n.isidentifier() for n in inputs):
        if k is not None and len(inputs) != k:
            raise InvalidArgumentError(f"inputs={list(inputs)} names {len(inputs)} keyword arguments but k={k} operands")
        return list(inputs)
    raise TypeError(f"inputs must be None, 'operands', a list of keyword names or a function of the tokens, "
                    f"got {inputs!r:.80}")


def _required_positional(module: nn.Module) -> int:
    """How many positional arguments without defaults ``module.forward`` requires (0 where it cannot tell)."""
    import inspect

    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return 0
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 0
    # a forward patched in as a plain function (nnsight's tracing does so) still lists ``self``
    params = [p for i, p in enumerate(params) if not (i == 0 and p.name == "self")]
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)


def _device_of(module: nn.Module) -> torch.device:
    for tensor in list(module.parameters()) + list(module.buffers()):
        return tensor.device
    return torch.device("cpu")
