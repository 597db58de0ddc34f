"""What every built-in model shares: input checks, caching, devices, saving, analysis roles.

A model here is a :class:`transformer_lens.HookedRootModule` that maps ``[batch, k]``
operand tokens to ``[batch, p]`` logits over the answer. Each family adds

* ``forward`` — the hooked path: every activation passes through a ``HookPoint``;
* ``fast_logits`` — the training path: the same maths, computing only what the loss
  needs and bypassing hooks (equal to ``forward`` to float tolerance, tested);
* ``analysis_spec`` — which hooks and weights play which role in the Fourier analysis,
  so analyses are written once over the input grid rather than once per architecture.

Subclassing :class:`HookedModel` at module level registers the class in
:data:`MODEL_REGISTRY` under its class name; that is all ``fi.load`` needs to rebuild a
saved model of the class (its ``config_class`` rebuilds the config).
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Mapping, Optional

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

with warnings.catch_warnings():  # transformer_lens imports tqdm.auto, which warns in Jupyter without ipywidgets
    warnings.filterwarnings("ignore", message="IProgress not found")
    from transformer_lens import ActivationCache, HookedRootModule

from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from ..storage import commit  # the checkpoint format's storage (below the models; fi.load lives above)
from ..groups import from_spec
from ..groups.families import is_prime
from ..tasks import MIN_P

MAX_SEED = 2**63 - 1  # the largest seed torch.Generator.manual_seed accepts

RULE_OPS = ("add", "sub", "mul", "compose")
from .spec import AnalysisSpec  # noqa: F401 - the analysis seam, re-exported here


@dataclass
class ModelConfig:
    """Fields every model config has. Subclasses are the per-family dataclasses."""

    p: int
    k: int = 2
    seed: int = 0
    device: str = "cpu"
    group: str = ""  # the task's group spec (fi.groups.from_spec); "" = Z_p (Z_{p+1}^* for op="mul")
    op: str = "add"  # the task's op: "add", "sub", "mul" (ModularArithmetic) or "compose" (GroupTask)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InvalidArgumentError(f"{cls.__name__} got unknown fields {unknown}; allowed: {sorted(names)}")
        return cls(**d)

    def _check(self) -> None:
        """Validate the shared fields; subclasses call this from ``__post_init__``.

        ``p >= 3``, as for :class:`~fourier_interp.ModularArithmetic`: Z_2 has no frequency.
        """
        for name, minimum in (("p", MIN_P), ("k", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{type(self).__name__}.{name} must be an int, got {value!r}")
            if value < minimum:
                raise InvalidArgumentError(f"{type(self).__name__}.{name}={value} is not allowed; expected >= {minimum}")
        if self.seed > MAX_SEED:  # torch's generators take a 64-bit seed
            raise InvalidArgumentError(f"{type(self).__name__}.seed={self.seed} is not allowed; expected an int in "
                                       f"0..{MAX_SEED}")
        for f in dataclasses.fields(self):  # every switch is a real bool: None or 0 is a mistake, not "off"
            if f.type in ("bool", bool) and not isinstance(getattr(self, f.name), bool):
                raise InvalidArgumentTypeError(f"{type(self).__name__}.{f.name} must be True or False, got {getattr(self, f.name)!r}")
        self._check_task_rule()

    def _check_task_rule(self) -> None:
        """``group`` and ``op`` must name a task with ``p`` tokens (``task.config_fields()`` gives them)."""
        name = type(self).__name__
        if self.op not in RULE_OPS:
            raise InvalidArgumentError(f"{name}.op={self.op!r} is not allowed; expected one of {RULE_OPS}")
        if not isinstance(self.group, str):
            raise TypeError(f"{name}.group must be a group spec string such as 'symmetric(4)', got {self.group!r}")
        if self.op == "sub" and self.k != 2:
            raise InvalidArgumentError(f"{name}.op='sub' needs k=2 (a - b), got k={self.k}")
        if self.op == "mul" and not self.group and not is_prime(self.p + 1):
            raise InvalidArgumentError(f"{name}.op='mul' with p={self.p} tokens needs p + 1 prime (Z_(p+1)^*)")
        if self.group:
            order = from_spec(self.group).order
            if order != self.p:
                raise InvalidArgumentError(f"{name}.group={self.group!r} has order {order}, but p={self.p}; "
                                           f"p is the number of element tokens (the order)")

    def _check_positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{type(self).__name__}.{name}={value!r}: expected a positive int")

    def _check_choice(self, name: str, allowed: tuple) -> None:
        value = getattr(self, name)
        if value not in allowed:
            raise InvalidArgumentError(f"{type(self).__name__}.{name}={value!r}: expected one of {allowed}")


def activation_fn(name: str):
    """The elementwise nonlinearity called ``name``."""
    if name == "relu":
        return torch.relu
    if name == "gelu":
        return torch.nn.functional.gelu
    if name == "tanh":
        return torch.tanh
    raise InvalidArgumentError(f"unknown activation {name!r}; expected 'relu', 'gelu' or 'tanh'")


# ------------------------------------------------------------------- registry
_REGISTRY: dict[str, type] = {}

MODEL_REGISTRY: Mapping[str, type] = MappingProxyType(_REGISTRY)
"""Read-only ``{class name: class}`` of every registered :class:`HookedModel` subclass.

A subclass registers itself when its ``class`` statement runs at module level (in any
module, ``__main__`` included). Not registered: classes defined inside a function (their
name cannot be found again) and a class whose name an earlier class of another module
already holds. ``fi.load`` rebuilds exactly the registered classes; ``save`` refuses the rest.
"""


def _registry_key(cls: type) -> tuple[str, str]:
    return cls.__module__, cls.__qualname__


def _register(cls: type) -> None:
    if "<locals>" in cls.__qualname__:
        return
    held = _REGISTRY.get(cls.__name__)
    if held is None or _registry_key(held) == _registry_key(cls):  # new, or redefined (notebook, reload)
        _REGISTRY[cls.__name__] = cls


def check_saveable(model: Any) -> type:
    """The class of ``model`` if ``fi.load`` will be able to rebuild it; else a ``TypeError`` saying how to fix it.

    Checked when saving, so a checkpoint that could not be loaded is never written.
    """
    cls = type(model)
    where = f"{cls.__module__}.{cls.__qualname__}"
    if not isinstance(model, HookedModel):
        raise TypeError(
            f"cannot save a {cls.__name__} ({where}): checkpoints hold fourier_interp.HookedModel subclasses "
            "(a model class with a ModelConfig dataclass as cfg); subclass fi.HookedModel, or save the "
            "module's state_dict yourself"
        )
    if "<locals>" in cls.__qualname__:
        raise TypeError(
            f"cannot save {cls.__name__}: it is defined inside a function ({where}), so fi.load could not find "
            "the class again; define it at module level"
        )
    held = _REGISTRY.get(cls.__name__)
    if held is not cls:
        owner = "no class" if held is None else f"{held.__module__}.{held.__qualname__}"
        raise TypeError(
            f"cannot save {cls.__name__} ({where}): the registry maps the name {cls.__name__!r} to {owner}, "
            "and checkpoints name their class; give your class a name of its own"
        )
    config_class = getattr(cls, "config_class", None)
    if not (isinstance(config_class, type) and issubclass(config_class, ModelConfig)):
        raise TypeError(
            f"cannot save {cls.__name__}: {cls.__name__}.config_class is {config_class!r}; set "
            "`config_class = YourConfig` (a ModelConfig dataclass) on the class so fi.load can rebuild cfg"
        )
    if not isinstance(getattr(model, "cfg", None), config_class):
        raise TypeError(
            f"cannot save {cls.__name__}: model.cfg is a {type(getattr(model, 'cfg', None)).__name__}, "
            f"not its config_class {config_class.__name__}"
        )
    return cls


class HookedModel(HookedRootModule):
    """Base class of every model family (subclasses set ``cfg`` and build their layers).

    Defining a subclass at module level registers it (:data:`MODEL_REGISTRY`), so
    ``model.save(path)`` / ``fi.load(path)`` round-trip it; set ``config_class`` to its
    :class:`ModelConfig` dataclass.
    """

    cfg: ModelConfig
    config_class: ClassVar[type]

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        """Register ``cls`` (``register=False``: a building block never saved under its own name)."""
        super().__init_subclass__(**kwargs)
        if register:
            _register(cls)

    # -------------------------------------------------------------- inputs
    _inputs_checked: bool = False  # True while fast_forward's default runs forward on checked tokens

    def check_inputs(self, inputs: Tensor, extra_positions: int = 0) -> Int[Tensor, "batch pos"]:
        """Return ``inputs`` as a ``[batch, k]`` LongTensor on the model's device, or raise.

        Args:
            inputs: Operand tokens, ``[batch, k]`` (or ``[k]`` for one example).
            extra_positions: How many trailing non-operand positions a caller may pass
                (the transformer's '=' token); those are returned unchecked.

        Inside :meth:`fast_forward`'s default (tokens already checked, perhaps under
        ``torch.func.vmap``) the checks are skipped: they read values, which vmap cannot.
        """
        if self._inputs_checked:
            return inputs
        if not isinstance(inputs, Tensor):
            raise TypeError(f"inputs must be a torch.LongTensor [batch, k], got {type(inputs).__name__}")
        if inputs.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"inputs must hold integer tokens (torch.long), got dtype {inputs.dtype}")
        if inputs.ndim == 1:
            inputs = inputs.unsqueeze(0)
        k = self.cfg.k
        allowed = (k, k + extra_positions) if extra_positions else (k,)
        if inputs.ndim != 2 or inputs.shape[1] not in allowed:
            raise InvalidArgumentError(
                f"inputs has shape {tuple(inputs.shape)}; expected [batch, {k}] operand tokens"
                + (f" (or [batch, {k + extra_positions}] with the '=' token)" if extra_positions else "")
            )
        operands = inputs[:, :k]
        if operands.numel() and (int(operands.min()) < 0 or int(operands.max()) >= self.cfg.p):
            bad = operands[(operands < 0) | (operands >= self.cfg.p)][0].item()
            raise InvalidArgumentError(f"inputs holds token {bad}; operand tokens must lie in 0..{self.cfg.p - 1} (p={self.cfg.p})")
        return inputs.to(device=self.device, dtype=torch.long)

    # ------------------------------------------------------------- devices
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def config(self):
        """A read-only Hugging Face-style view of ``cfg`` (``hidden_size`` ...), which pyvene reads.

        See :mod:`fourier_interp.models.hf_config`; ``cfg`` is the model's own config.
        """
        from .hf_config import HFConfig

        return HFConfig(self.cfg, f"fourier_interp.{type(self).__name__}")

    def _apply(self, fn, *args, **kwargs):
        """Move/cast the parameters, then record the device in ``cfg.device`` (TransformerLens reads it).

        The device goes into a fresh copy of the config (:meth:`_own_config`), never into
        the object passed to the constructor, which other models may have been built from.
        """
        out = super()._apply(fn, *args, **kwargs)
        cfg, param = getattr(self, "cfg", None), next(self.parameters(), None)
        if cfg is not None and param is not None and cfg.device != str(param.device):
            self._own_config(device=str(param.device))
        return out

    def _own_config(self, **changes: Any) -> None:
        """Replace ``self.cfg`` by a copy with ``changes``, in this model and every submodule that holds it.

        Layers keep a reference to the model's config (the transformer's attention reads
        ``cfg.attn_coeff``); they are re-pointed too, so a model reads one config object.
        """
        old = self.cfg
        new = copy.copy(old)
        for name, value in changes.items():
            setattr(new, name, value)
        for module in self.modules():
            if module.__dict__.get("cfg") is old:
                module.cfg = new

    # ------------------------------------------------------------- running
    def run_with_cache(
        self,
        *model_args: Any,
        return_type: Optional[str] = "logits",
        loss_fn: Optional[Any] = None,
        labels: Optional[Tensor] = None,
        incl_bwd: bool = False,
        remove_batch_dim: bool = False,
        **kwargs: Any,
    ) -> tuple[Any, ActivationCache]:
        """Run the model and return ``(output, cache)``, the cache a TransformerLens ``ActivationCache``.

        Takes the keyword arguments of ``HookedRootModule.run_with_cache`` (``names_filter``,
        ``device``, ``pos_slice`` ...). The cache is a
        :class:`~fourier_interp.models.running.ModelCache` (an ``ActivationCache`` with a memory
        guard); with ``remove_batch_dim=True`` (one example) it has no batch axis and says so.

        Args:
            model_args: The inputs, ``[batch, k]`` operands (the transformer also takes
                ``[batch, k+1]`` tokens).
            return_type: ``"logits"`` (``[batch, p]``), ``"loss"`` (scalar), ``"both"``
                (``(logits, loss)``) or ``None``.
            loss_fn: ``fn(logits) -> scalar``; the loss instead of the cross-entropy.
            labels: ``[batch]`` answers for the cross-entropy (default: the answers of the task
                the model was built for, which its config records: ``cfg.group``, ``cfg.op``).
            incl_bwd: Also backpropagate the loss (``return_type="loss"``/``"both"`` or
                ``loss_fn``) and cache each hook's gradient as ``"<hook>_grad"``. As in
                TransformerLens, parameter ``.grad`` accumulate too.
            remove_batch_dim: Drop the batch axis (inputs must be one example).
        """
        from .running import run_with_cache

        return run_with_cache(self, *model_args, return_type=return_type, loss_fn=loss_fn, labels=labels,
                              incl_bwd=incl_bwd, remove_batch_dim=remove_batch_dim, **kwargs)

    def readout(
        self,
        logits: Float[Tensor, "batch p"],
        inputs: Tensor,
        return_type: Optional[str] = "logits",
        labels: Optional[Tensor] = None,
        loss_fn: Optional[Any] = None,
    ) -> Any:
        """``logits``, the loss, ``(logits, loss)`` or ``None`` for ``return_type`` (see :meth:`run_with_cache`).

        Example:
            >>> import fourier_interp as fi
            >>> model = fi.HookedMLP(fi.MLPConfig(p=7, k=2))
            >>> x = fi.ModularArithmetic(p=7).inputs
            >>> float(model.readout(model(x), x, "loss").detach()) > 0
            True
        """
        from .running import readout

        return readout(logits, inputs, self.cfg, return_type, labels=labels, loss_fn=loss_fn)

    def fast_logits(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        """Readout logits computed the cheapest exact way, bypassing hooks (training path)."""
        return self.fast_forward(self.check_inputs(inputs))

    def fast_forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch p"]:
        """:meth:`fast_logits` on tokens already checked (and, for the transformer, ending in '=').

        The one method a family overrides for a faster training path. It must not read
        tensor values (no ``.item()``, ``int(x)``, data-dependent ``if``), so it runs under
        ``torch.func.vmap`` (many seeds at once, :func:`fi.train_many`). The default runs
        the hooked ``forward`` with :meth:`check_inputs` switched off, which is vmap-safe for
        any ``forward`` that follows that rule apart from its input check.
        """
        previous, self._inputs_checked = self._inputs_checked, True
        try:
            return self(tokens)
        finally:
            self._inputs_checked = previous

    def prepare_tokens(self, inputs: Tensor) -> Int[Tensor, "batch pos"]:
        """Check ``inputs`` and turn them into what :meth:`fast_forward` takes."""
        return self.check_inputs(inputs)

    def analysis_spec(self) -> AnalysisSpec:
        raise NotImplementedError

    def setup(self):
        """Register hook points (TransformerLens) and start in eval mode.

        The built-in models have no dropout or batch norm, so the mode changes no number;
        starting in eval mode lets TransformerLens utilities that insist on it run directly.
        ``fi.train`` switches to train mode while it runs and back afterwards.

        Every constructor ends here, so this is also where the model takes its own copy
        of the config it was built from: changing one model's ``cfg`` (moving it, say)
        never changes another model built from the same config object.
        """
        super().setup()
        if isinstance(getattr(self, "cfg", None), ModelConfig):
            self._own_config()
        self.eval()

    # --------------------------------------------------------- persistence
    def save(self, path, task=None, history=None, metadata: Optional[dict] = None) -> None:
        """Write weights (safetensors) and config, task and training metadata (JSON) to ``path``.

        The write is atomic: a crash leaves either the previous checkpoint or the new one.
        Same as ``fi.save(self, path, ...)``.

        Raises:
            TypeError: the class is not registered (defined inside a function, or its name
                is taken) or has no ``config_class``; nothing is written.
        """
        cls = check_saveable(self)
        record = {"model_class": cls.__name__, "model_module": cls.__module__,
                  "config": {k: v for k, v in self.cfg.to_dict().items() if k != "device"}}
        commit(Path(path), record, self.state_dict(), task, history, metadata)

    def extra_repr(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in self.cfg.to_dict().items() if k != "device")
        return fields


# ------------------------------------------------------------------ hooks on / off
def _identity(x: Tensor) -> Tensor:
    return x


class _HooksOff:
    """Stands in for a module on the hook-free path: every ``hook_*`` attribute is the identity."""

    def __getattr__(self, name: str) -> Callable[[Tensor], Tensor]:
        return _identity


_HOOKS_OFF = _HooksOff()


def hooks(module: nn.Module, hooked: bool):
    """``module`` itself (its hook points fire) or a stand-in whose ``hook_*`` are the identity.

    How a family writes its forward once: ``h = hooks(self, hooked)``, then ``h.hook_pre(x)``
    wherever an activation is hooked; the training path calls it with ``hooked=False``.

    Example:
        >>> import torch
        >>> from transformer_lens.hook_points import HookPoint
        >>> from fourier_interp.models.base import hooks
        >>> module = torch.nn.Module()
        >>> module.hook_x = HookPoint()
        >>> hooks(module, True).hook_x is module.hook_x, hooks(module, False).hook_x(torch.ones(1)).item()
        (True, 1.0)
    """
    return module if hooked else _HOOKS_OFF


def init_generator(cfg: ModelConfig) -> torch.Generator:
    """A private generator seeded by ``cfg.seed``: building a model never touches global RNG."""
    return torch.Generator().manual_seed(cfg.seed)


def normal(gen: torch.Generator, *shape: int, std: float) -> torch.nn.Parameter:
    """A parameter drawn from N(0, std^2) with the model's private generator."""
    return torch.nn.Parameter(torch.randn(*shape, generator=gen) * std)


def vmapped(x: Tensor) -> bool:
    """Whether ``x`` is a ``torch.func.vmap`` batched tensor (as in :func:`fourier_interp.train_many`)."""
    return torch._C._functorch.is_batchedtensor(x)


def hand_backward_ok(*tensors: Tensor) -> bool:
    """Whether a step with a hand-written backward may run on ``tensors``: none is ``vmap``-batched
    and ``torch.compile`` is not tracing (both need the step made of autograd's own operations)."""
    return not any(vmapped(t) for t in tensors) and not torch.compiler.is_compiling()


class _Gather(torch.autograd.Function):
    """``table[idx]`` by rows, whose backward adds the gradient's rows into a zero table with ``index_add_``.

    The same values and sums as ``F.embedding``'s dense backward in a fixed order, about
    twice as fast (4x for a table a few columns wide) on the 2-core benchmark box.
    """

    @staticmethod
    def forward(table: Tensor, idx: Tensor) -> Tensor:
        return torch.nn.functional.embedding(idx, table)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        table, idx = inputs
        ctx.save_for_backward(idx)
        ctx.n_rows = table.shape[0]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        (idx,) = ctx.saved_tensors
        width = grad.shape[-1]
        return grad.new_zeros(ctx.n_rows, width).index_add_(0, idx.flatten(), grad.reshape(-1, width)), None


def lookup(table: Float[Tensor, "rows *feature"], idx: Int[Tensor, "*batch"]) -> Float[Tensor, "*batch *feature"]:
    """``table[idx]`` for the training fast paths.

    Same values and gradients as advanced indexing, but the backward is an index-add over
    rows instead of ``index_put_`` with accumulation, which on CPU sorts the indices and
    runs serially — about 4 ms per gather of ``[6384, 448]`` on the 2-core benchmark box,
    a quarter of an MLP step. Under ``vmap`` it is ``F.embedding`` (whose dense backward
    vmap knows).
    """
    flat = table.reshape(table.shape[0], -1)
    if vmapped(flat) or vmapped(idx) or not flat.requires_grad:
        out = torch.nn.functional.embedding(idx, flat)
    else:
        out = _Gather.apply(flat, idx)
    return out.reshape(*idx.shape, *table.shape[1:])


class _Power(torch.autograd.Function):
    """``x ** n`` whose backward allocates one tensor instead of three (``n * x**(n-1) * g``)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, n: int) -> Tensor:
        return x * x if n == 2 else x.pow(n)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.n = inputs[1]

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        n = ctx.n
        base = grad * x if n == 2 else grad * x.pow(n - 1)
        return base.mul_(n), None


def power(x: Tensor, n: int) -> Tensor:
    """``x ** n`` for integer ``n >= 1`` with a lean backward (the power MLP's activation)."""
    return x if n == 1 else _Power.apply(x, n)
