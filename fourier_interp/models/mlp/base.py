"""What both one-hidden-layer networks share: the config, the one forward, and the class that picks the form.

Both forms compute

    pre    = sum_j  table_j[a_j]  (+ b_in)      each operand's contribution to the hidden units
    post   = act(pre)
    logits = post @ W_out  (+ b_out)

and differ in where the per-operand tables come from and in ``act``: see :mod:`.power`
(:class:`~.power.PowerMLP`) and :mod:`.embed` (:class:`~.embed.EmbedMLP`).
:meth:`HookedMLP.forward` and :meth:`HookedMLP.fast_forward` run the same
:meth:`HookedMLP.logits`, hooks on or off.

``HookedMLP(MLPConfig(form=...))`` builds the class registered for that form, so
``fi.HookedMLP(fi.MLPConfig(p=7))`` is a ``PowerMLP`` (and a ``HookedMLP``), and a checkpoint
saved as ``HookedMLP`` loads as the right one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import torch
from jaxtyping import Float, Int
from torch import Tensor
from transformer_lens.hook_points import HookPoint

from ...errors import InvalidArgumentError
from ..base import AnalysisSpec, HookedModel, ModelConfig, hooks, init_generator, lookup

FORMS = ("power", "embed_relu")


@dataclass
class MLPConfig(ModelConfig):
    """Architecture of :class:`HookedMLP`.

    ``d_hidden=None`` picks Li et al.'s width ``2^(2k-2) (p-1)`` for the power form (the
    width at which their theorem has every max-margin neuron on one frequency) and 512
    for embed_relu. ``power=None`` means ``k``. ``init_scale`` multiplies the default
    init std (power: ``1/sqrt(p)`` per input weight; embed_relu: ``1/sqrt(fan_in)``).
    """

    form: str = "power"
    combine: str = "concat"  # embed_relu: concatenate the operands' embeddings, or "sum" them
    d_hidden: Optional[int] = None
    power: Optional[int] = None
    d_embed: int = 128
    init_scale: float = 1.0

    def __post_init__(self):
        self._check()
        self._check_choice("form", FORMS)
        self._check_choice("combine", ("concat", "sum"))
        if self.d_hidden is None:
            self.d_hidden = 2 ** (2 * self.k - 2) * (self.p - 1) if self.form == "power" else 512
        if self.power is None:
            self.power = self.k
        self._check_positive("d_hidden", "power", "d_embed")
        if not (isinstance(self.init_scale, (int, float)) and self.init_scale > 0):
            raise InvalidArgumentError(f"MLPConfig.init_scale={self.init_scale!r}: expected a positive float")


_FORM_CLASSES: dict[str, type] = {}  # form -> its class, filled as power.py / embed.py define them


class HookedMLP(HookedModel):
    """One hidden layer over ``[batch, k]`` operands; ``[batch, p]`` logits.

    ``HookedMLP(cfg)`` returns the class of ``cfg.form``: :class:`~.power.PowerMLP` or
    :class:`~.embed.EmbedMLP`. A form class says which form it is (``class PowerMLP(HookedMLP,
    form="power")``) and supplies the pieces of the one forward: ``_build`` (the weights),
    :meth:`pre_activation`, :meth:`activation`, :meth:`unembed`, :meth:`unit_input_tables`,
    :meth:`analysis_spec`. A class subclassing ``HookedMLP`` itself (a user's variant) gets
    the pieces of ``cfg.form``'s class.

    Example:
        >>> import fourier_interp as fi
        >>> model = fi.HookedMLP(fi.MLPConfig(p=7, form="embed_relu", d_hidden=32))
        >>> type(model).__name__, isinstance(model, fi.HookedMLP)
        ('EmbedMLP', True)
    """

    config_class = MLPConfig
    form: ClassVar[Optional[str]] = None  # set by each form class

    def __init_subclass__(cls, form: Optional[str] = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if form is not None:
            if form not in FORMS:
                raise InvalidArgumentError(f"{cls.__name__}: form={form!r} is not one of {FORMS}")
            cls.form = form
            _FORM_CLASSES[form] = cls

    def __new__(cls, cfg: Optional[MLPConfig] = None, *args: Any, **kwargs: Any):
        if cls is HookedMLP and isinstance(cfg, MLPConfig):
            cls = _FORM_CLASSES[cfg.form]
        return super().__new__(cls)

    def __init__(self, cfg: MLPConfig):
        super().__init__()
        if not isinstance(cfg, MLPConfig):
            raise TypeError(f"cfg must be an MLPConfig, got {type(cfg).__name__}")
        if self.form is not None and cfg.form != self.form:
            raise InvalidArgumentError(f"{type(self).__name__} is the form {self.form!r}, but cfg.form={cfg.form!r}; "
                                       f"build fi.HookedMLP(cfg) to get the class of cfg.form")
        self.cfg = cfg
        self._build(init_generator(cfg))
        self.hook_pre = HookPoint()  # [batch, d_hidden]
        self.hook_post = HookPoint()  # [batch, d_hidden]
        self.hook_logits = HookPoint()  # [batch, p]
        self.to(cfg.device)
        self.setup()

    # ----------------------------------------------------------- forward
    def forward(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        return self.logits(self.check_inputs(inputs))

    def fast_logits(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        """The forward's logits with hooks off (:meth:`fast_forward`), the training path."""
        return self.fast_forward(self.check_inputs(inputs))

    def fast_forward(self, tokens: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        """:meth:`fast_logits` on already-checked tokens (vmap-safe: no checks)."""
        return self.logits(tokens, hooked=False)

    def logits(self, tokens: Int[Tensor, "batch k"], hooked: bool = True) -> Float[Tensor, "batch p"]:
        """The one forward: pre-activation, activation, readout; hooks fire when ``hooked``."""
        h = hooks(self, hooked)
        pre = h.hook_pre(self.pre_activation(tokens, hooked))  # [batch, d_hidden]
        post = h.hook_post(self.activation(pre))  # [batch, d_hidden]
        return h.hook_logits(self.unembed(post))  # [batch, p]

    # ------------------------------------------- the pieces each form supplies
    def _form_class(self) -> type:
        return _FORM_CLASSES[self.cfg.form]

    def _build(self, gen: torch.Generator) -> None:
        """Create the weights (and any hook points besides ``hook_pre``, ``hook_post``, ``hook_logits``)."""
        self._form_class()._build(self, gen)

    def pre_activation(self, tokens: Int[Tensor, "batch k"], hooked: bool = True) -> Float[Tensor, "batch d_hidden"]:
        """The hidden units' input: the sum of each operand's contribution (and any bias)."""
        return self._form_class().pre_activation(self, tokens, hooked)

    def activation(self, pre: Float[Tensor, "batch d_hidden"]) -> Float[Tensor, "batch d_hidden"]:
        return self._form_class().activation(self, pre)

    def unembed(self, post: Float[Tensor, "batch d_hidden"]) -> Float[Tensor, "batch p"]:
        return self._form_class().unembed(self, post)

    def unit_input_tables(self) -> Float[Tensor, "k p d_hidden"]:
        """Each operand's contribution to the hidden pre-activation, per token: ``u_{i,j}(a)``."""
        return self._form_class().unit_input_tables(self)

    def analysis_spec(self) -> AnalysisSpec:
        return self._form_class().analysis_spec(self)


def sum_of_rows(tables: Float[Tensor, "k p d_hidden"], tokens: Int[Tensor, "batch k"]) -> Float[Tensor, "batch d_hidden"]:
    """``sum_j tables[j, tokens[:, j]]``: one gather per operand (:func:`~..base.lookup`), summed."""
    out = lookup(tables[0], tokens[:, 0])
    for j in range(1, tables.shape[0]):
        out = out + lookup(tables[j], tokens[:, j])
    return out
