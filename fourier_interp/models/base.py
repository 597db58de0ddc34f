"""What every built-in model shares: input checks, caching, devices, saving, analysis roles.

A model here is a :class:`transformer_lens.HookedRootModule` that maps ``[batch, k]``
operand tokens to ``[batch, p]`` logits over the answer. Each family adds

* ``forward`` — the hooked path: every activation passes through a ``HookPoint``;
* ``fast_logits`` — the training path: the same maths, computing only what the loss
  needs and bypassing hooks (equal to ``forward`` to float tolerance, tested);
* ``analysis_spec`` — which hooks and weights play which role in the Fourier analysis,
  so analyses are written once over the input grid rather than once per architecture.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import torch
from jaxtyping import Float, Int
from torch import Tensor
from transformer_lens import ActivationCache, HookedRootModule


@dataclass
class AnalysisSpec:
    """Which activations and weights of a model play which role in the Fourier analysis.

    Attributes:
        neurons: Hook of the hidden units, ``[batch, (pos,) units]``; analyses read the
            last position when there is a position axis.
        embed: Token embedding over the operand tokens, ``[p, d]`` (``None`` when the
            model has no shared embedding, e.g. the power MLP).
        unembed: Readout matrix ``[d, p]`` from the last hidden representation to logits.
        unit_input_weights: Each unit's own input weights ``[units, k, p]`` (the MLP's
            ``u_{i,j}``); ``None`` when units mix a shared embedding.
        unit_output_weights: Each unit's output weights ``[units, p]`` (the MLP's ``w_i``).
        weight_matrices: Named 2-D weights worth a low-rank (SVD) look.
        attention_pattern: Hook of the attention pattern, if the model attends.
        operand_embed: Hook ``[batch, pos, d]`` of the operands' input embeddings at
            positions ``0..k-1`` (gradient symmetricity); ``None`` when operands have no
            shared embedding (the power MLP).
        activation: ``"relu"``, ``"gelu"``, ``"tanh"`` or ``"power"`` — tells analyses which
            harmonics the nonlinearity creates.
    """

    neurons: str
    embed: Optional[Tensor] = None
    unembed: Optional[Tensor] = None
    unit_input_weights: Optional[Tensor] = None
    unit_output_weights: Optional[Tensor] = None
    weight_matrices: dict[str, Tensor] = field(default_factory=dict)
    attention_pattern: Optional[str] = None
    activation: str = "relu"
    operand_embed: Optional[str] = None


@dataclass
class ModelConfig:
    """Fields every model config has. Subclasses are the per-family dataclasses."""

    p: int
    k: int = 2
    seed: int = 0
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{cls.__name__} got unknown fields {unknown}; allowed: {sorted(names)}")
        return cls(**d)

    def _check(self) -> None:
        """Validate the shared fields; subclasses call this from ``__post_init__``."""
        for name, minimum in (("p", 2), ("k", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{type(self).__name__}.{name} must be an int, got {value!r}")
            if value < minimum:
                raise ValueError(f"{type(self).__name__}.{name}={value} is not allowed; expected >= {minimum}")

    def _check_positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{type(self).__name__}.{name}={value!r}: expected a positive int")

    def _check_choice(self, name: str, allowed: tuple) -> None:
        value = getattr(self, name)
        if value not in allowed:
            raise ValueError(f"{type(self).__name__}.{name}={value!r}: expected one of {allowed}")


def activation_fn(name: str):
    """The elementwise nonlinearity called ``name``."""
    if name == "relu":
        return torch.relu
    if name == "gelu":
        return torch.nn.functional.gelu
    if name == "tanh":
        return torch.tanh
    raise ValueError(f"unknown activation {name!r}; expected 'relu', 'gelu' or 'tanh'")


class HookedModel(HookedRootModule):
    """Base class of the built-in models (subclasses set ``cfg`` and build their layers)."""

    cfg: ModelConfig
    config_class: ClassVar[type]

    # -------------------------------------------------------------- inputs
    def check_inputs(self, inputs: Tensor, extra_positions: int = 0) -> Int[Tensor, "batch pos"]:
        """Return ``inputs`` as a ``[batch, k]`` LongTensor on the model's device, or raise.

        Args:
            inputs: Operand tokens, ``[batch, k]`` (or ``[k]`` for one example).
            extra_positions: How many trailing non-operand positions a caller may pass
                (the transformer's '=' token); those are returned unchecked.
        """
        if not isinstance(inputs, Tensor):
            raise TypeError(f"inputs must be a torch.LongTensor [batch, k], got {type(inputs).__name__}")
        if inputs.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"inputs must hold integer tokens (torch.long), got dtype {inputs.dtype}")
        if inputs.ndim == 1:
            inputs = inputs.unsqueeze(0)
        k = self.cfg.k
        allowed = (k, k + extra_positions) if extra_positions else (k,)
        if inputs.ndim != 2 or inputs.shape[1] not in allowed:
            raise ValueError(
                f"inputs has shape {tuple(inputs.shape)}; expected [batch, {k}] operand tokens"
                + (f" (or [batch, {k + extra_positions}] with the '=' token)" if extra_positions else "")
            )
        operands = inputs[:, :k]
        if operands.numel() and (int(operands.min()) < 0 or int(operands.max()) >= self.cfg.p):
            bad = operands[(operands < 0) | (operands >= self.cfg.p)][0].item()
            raise ValueError(f"inputs holds token {bad}; operand tokens must lie in 0..{self.cfg.p - 1} (p={self.cfg.p})")
        return inputs.to(device=self.device, dtype=torch.long)

    # ------------------------------------------------------------- devices
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        self.cfg.device = str(self.device)  # TransformerLens utilities read cfg.device
        return out

    # ------------------------------------------------------------- running
    def run_with_cache(self, *model_args: Any, **kwargs: Any) -> tuple[Tensor, ActivationCache]:
        """Run the model and return ``(logits, cache)``, the cache a TransformerLens ``ActivationCache``.

        Takes the keyword arguments of ``HookedRootModule.run_with_cache`` (``names_filter``,
        ``device``, ``incl_bwd`` ...).
        """
        out, cache_dict = super().run_with_cache(*model_args, **kwargs)
        return out, ActivationCache(cache_dict, self)

    def fast_logits(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        """Readout logits computed the cheapest exact way, bypassing hooks (training path)."""
        return self.fast_forward(self.check_inputs(inputs))

    def fast_forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch p"]:
        """:meth:`fast_logits` on tokens already checked (and, for the transformer, ending in '=').

        Has no data-dependent checks, so it runs under ``torch.func.vmap`` (many seeds at once).
        """
        return self(tokens)

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
        """
        super().setup()
        self.eval()

    # --------------------------------------------------------- persistence
    def save(self, path, task=None, history=None, metadata: Optional[dict] = None) -> None:
        """Write weights (safetensors) and config, task and training metadata (JSON) to ``path``.

        The write is atomic: a crash leaves either the previous checkpoint or the new one.
        """
        from ..checkpoint import save_model

        save_model(self, path, task=task, history=history, metadata=metadata)

    def extra_repr(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in self.cfg.to_dict().items() if k != "device")
        return fields


def init_generator(cfg: ModelConfig) -> torch.Generator:
    """A private generator seeded by ``cfg.seed``: building a model never touches global RNG."""
    return torch.Generator().manual_seed(cfg.seed)


def normal(gen: torch.Generator, *shape: int, std: float) -> torch.nn.Parameter:
    """A parameter drawn from N(0, std^2) with the model's private generator."""
    return torch.nn.Parameter(torch.randn(*shape, generator=gen) * std)


def lookup(table: Float[Tensor, "rows *feature"], idx: Int[Tensor, "*batch"]) -> Float[Tensor, "*batch *feature"]:
    """``table[idx]`` for the training fast paths, through ``F.embedding``.

    Same values and gradients as advanced indexing, but the backward is a dense
    embedding backward (an index-add over rows) instead of ``index_put_`` with
    accumulation, which on CPU sorts the indices and runs serially — about 4 ms per
    gather of ``[6384, 448]`` on the 2-core benchmark box, a quarter of an MLP step.
    """
    flat = torch.nn.functional.embedding(idx, table.reshape(table.shape[0], -1))
    return flat.reshape(*idx.shape, *table.shape[1:])


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
