"""HookedWrapper: TransformerLens hooks on any plain PyTorch module, without editing its code.

``HookedWrapper(module)`` is a :class:`transformer_lens.HookedRootModule` holding the user's
module. Every submodule's output is routed through a ``HookPoint`` named by the submodule's
dotted path (``"fc1"``, ``"layers.0.act"``), so ``run_with_cache``, ``run_with_hooks``,
``hooks()``, activation patching and every ablation in this package work on it unchanged.

Naming and routing rules:

* A submodule whose output is a tensor gets one hook point, its path (``"fc1"``).
* A submodule whose output is a tuple or list (``nn.LSTM``, ``nn.MultiheadAttention``) gets
  one hook point per tensor element, ``"path.0"``, ``"path.1"``, nested ``"path.1.0"``;
  ``"path"`` itself is then not a hook point. Non-tensor elements (``None``) are skipped.
* A submodule whose output is anything else (dict, dataclass, ``None``) is not hooked; it
  is listed in ``wrapped.unhooked``.
* The output structure is found on the first forward pass. ``run_with_cache`` and
  ``run_with_hooks`` on a wrapper that has not run yet first run the module once in eval
  mode without gradients to find it (training flags are restored); pass
  ``example_inputs=`` to do this at construction instead.
* Containers that are never called (``nn.ModuleList``, ``nn.ModuleDict``) get no hook point.
* The same module object registered under two names gets one hook point, named by the
  first path ``named_modules()`` yields.
* A submodule called more than once per forward (weight sharing, a layer applied at each
  step) fires its hook point on every call: hooks edit every call and the cache keeps the
  last one. Such paths are listed in ``wrapped.repeated`` and a warning names them once.

The routing hooks are registered on the user's submodules only while the wrapper's forward
runs and are removed in ``finally``, so nothing stays attached to the user's module: calling
``module(x)`` directly runs it unhooked, and :meth:`HookedWrapper.unwrap` simply returns it.
Forward returns exactly the module's output; wrapping changes no numbers.

Example:
    >>> import torch, fourier_interp as fi
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> wrapped = fi.HookedWrapper(net)
    >>> x = torch.randn(5, 4)
    >>> logits, cache = wrapped.run_with_cache(x)
    >>> torch.equal(logits, net(x)), sorted(cache.keys())
    (True, ['0', '1', '2'])
    >>> zeroed = wrapped.run_with_hooks(x, fwd_hooks=[("1", lambda act, hook: act * 0)])
    >>> torch.equal(zeroed, net[2](torch.zeros(5, 8)))
    True
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Optional

import torch
from torch import Tensor, nn
from ..models.base import ActivationCache, HookedRootModule  # imported quietly there (tqdm.auto warns in Jupyter)
from transformer_lens.hook_points import HookPoint

CONTAINERS = (nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)


@dataclass
class WrapperConfig:
    """Optional task metadata of a wrapped module (``None`` = unknown) and its device."""

    p: Optional[int] = None
    k: Optional[int] = None
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HookedWrapper(HookedRootModule):
    """Hook points on the output of every submodule of a plain ``nn.Module``.

    Args:
        module: Any ``torch.nn.Module``. It is held (``wrapped.module``), not copied: its
            parameters are the wrapper's parameters.
        p: Optional modulus, recorded in ``wrapped.cfg`` so the interventions can check
            it against a task.
        k: Optional number of operands, recorded in ``wrapped.cfg`` like ``p``.
        example_inputs: Optional input (a tensor, or a tuple of positional arguments) to run
            once at construction, so tuple outputs get their element hook points right away.

    Attributes:
        module: The wrapped module.
        cfg: :class:`WrapperConfig` with ``p``, ``k`` and ``device``.
        hook_dict: Hook point name (dotted submodule path) -> ``HookPoint``.
        unhooked: Path -> type name of submodules whose outputs are not hooked.
        repeated: Paths called more than once in the last forward pass.
    """

    def __init__(self, module: nn.Module, *, p: Optional[int] = None, k: Optional[int] = None,
                 example_inputs: Any = None):
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
                raise ValueError(f"{name}={value!r}: expected None or a positive int")
        self.module = module
        self.cfg = WrapperConfig(p=p, k=k, device=str(_device_of(module)))
        # plain dicts: hook points are not registered as submodules of the user's tree
        self._paths: dict[str, nn.Module] = {
            path: sub for path, sub in module.named_modules() if path and not isinstance(sub, CONTAINERS)
        }
        self.unhooked: dict[str, str] = {}
        self.repeated: list[str] = []
        self._warned: set[str] = set()
        self._has_run = False
        self._running = False
        self._calls: Counter = Counter()
        self.setup()
        if example_inputs is not None:
            self._probe(*(example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)))

    # ---------------------------------------------------------------- setup
    def setup(self) -> None:
        """Create one ``HookPoint`` per submodule path (``HookedRootModule.setup`` would set a
        ``name`` attribute on every user submodule; this touches none of them)."""
        self.hook_dict: dict[str, HookPoint] = {}
        self.mod_dict = self.hook_dict  # TransformerLens looks hook names up in mod_dict
        for path in self._paths:
            self._new_hook_point(path)

    def _new_hook_point(self, name: str) -> HookPoint:
        hp = HookPoint()
        hp.name = name
        self.hook_dict[name] = hp
        return hp

    # -------------------------------------------------------------- forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the wrapped module with every submodule's output routed through its hook point."""
        if self._running:  # re-entrant call: the routing hooks are already in place
            return self.module(*args, **kwargs)
        handles = [sub.register_forward_hook(partial(self._route, path)) for path, sub in self._paths.items()]
        self._running, self._calls = True, Counter()
        try:
            out = self.module(*args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
            self._running = False
        self._has_run = True
        self.repeated = sorted(path for path, n in self._calls.items() if n > 1)
        new = [path for path in self.repeated if path not in self._warned]
        if new:
            self._warned.update(new)
            warnings.warn(
                f"HookedWrapper: submodules {new} were called more than once in one forward pass; "
                "their hook points fire on every call (hooks edit each call, the cache keeps the last)",
                stacklevel=4,  # past nn.Module.__call__: the caller's line
            )
        return out

    def _route(self, path: str, module: nn.Module, inputs: Any, output: Any) -> Any:
        self._calls[path] += 1
        if isinstance(output, Tensor):
            hp = self.hook_dict.get(path)
            return (hp if hp is not None else self._new_hook_point(path))(output)
        own = self.hook_dict.get(path)
        if isinstance(output, (tuple, list)):
            if own is not None and (own.fwd_hooks or own.bwd_hooks):
                raise TypeError(
                    f"submodule {path!r} returns a {type(output).__name__}, not a tensor; its tensor "
                    f"elements are hook points '{path}.0', '{path}.1', ... — hook those (run the wrapper "
                    "once, or pass example_inputs= to HookedWrapper, to create them)"
                )
            self.hook_dict.pop(path, None)
            return self._route_elements(path, output)
        if own is not None and (own.fwd_hooks or own.bwd_hooks):
            raise TypeError(
                f"submodule {path!r} returns a {type(output).__name__}; HookedWrapper hooks tensors and "
                "tuples/lists of tensors only — hook the submodule that consumes it instead"
            )
        self.hook_dict.pop(path, None)
        self.unhooked[path] = type(output).__name__
        return None

    def _route_elements(self, path: str, output: Any) -> Any:
        items, changed = [], False
        for i, item in enumerate(output):
            name = f"{path}.{i}"
            if isinstance(item, Tensor):
                hp = self.hook_dict.get(name)
                if hp is None:
                    if name in self._paths:
                        raise ValueError(
                            f"element {i} of submodule {path!r}'s output would be named {name!r}, "
                            "which is also a submodule path; rename the submodule"
                        )
                    hp = self._new_hook_point(name)
                new = hp(item)
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
        """``(output, cache)``; cache keys are submodule paths, a TransformerLens ``ActivationCache``.

        Takes the keyword arguments of ``HookedRootModule.run_with_cache`` (``names_filter``,
        ``device``, ``incl_bwd`` ...).
        """
        if not self._has_run:
            self._probe(*model_args, **_forward_kwargs(kwargs, CACHE_KWARGS))
        out, cache_dict = super().run_with_cache(*model_args, **kwargs)
        return out, ActivationCache(cache_dict, self, has_batch_dim=not kwargs.get("remove_batch_dim", False))

    def run_with_hooks(self, *model_args: Any, **kwargs: Any) -> Any:
        """Run with temporary hooks, ``fwd_hooks=[(path, fn)]``; ``fn(activation, hook)`` may
        return a replacement. Hooks are removed afterwards, even if the forward raises."""
        if not self._has_run:
            self._probe(*model_args, **_forward_kwargs(kwargs, HOOK_KWARGS))
        return super().run_with_hooks(*model_args, **kwargs)

    def pending_hook_hint(self, name: str) -> str:
        """Extra text for an unknown-hook error (used by the interventions' name checks)."""
        parent = name.rsplit(".", 1)[0]
        if parent in self.unhooked:
            return f"; submodule {parent!r} returns a {self.unhooked[parent]}, which is not hooked"
        if not self._has_run:
            return ("; the wrapper has not run yet: tuple outputs get element hook points such as "
                    "'path.0' on the first forward (or pass example_inputs= to HookedWrapper)")
        return ""

    def unwrap(self) -> nn.Module:
        """Remove every hook added to the wrapper and return the wrapped module.

        The user's module never carries hooks outside the wrapper's forward pass, so it is
        returned as it was given.
        """
        self.reset_hooks(including_permanent=True)
        return self.module

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


def _device_of(module: nn.Module) -> torch.device:
    for tensor in list(module.parameters()) + list(module.buffers()):
        return tensor.device
    return torch.device("cpu")
