"""TransformerLens 4's model protocol, a mixin on top of the transformer's core (:mod:`.model`).

``transformer_lens.model_protocol.TransformerLensModelWithWeights`` is what
``ActivationCache``'s advanced helpers (``logit_attrs``, ``get_full_resid_decomposition``,
``apply_ln_to_stack``, ``logit_lens``) and ``transformer_lens.patching`` (direct-path
patching included) reach for. This mixin supplies it:

* ``tokens_to_residual_directions``, ``accumulated_bias``, ``to_single_token``,
  ``to_str_tokens``; ``embed`` / ``pos_embed`` / ``unembed`` views (``model.unembed(x)`` is
  ``x @ W_U + b_U``); ``QK`` / ``OV`` factored matrices ``[n_layers, n_heads, d_model, d_model]``;
* the ``set_use_attn_result`` / ``set_use_split_qkv_input`` / ``set_use_attn_in`` /
  ``set_use_hook_mlp_in`` switches for the opt-in hook points;
* a guard in ``run_with_hooks``: ``transformer_lens.patching``'s position sweeps read the
  number of positions off the tensor they are given, so ``[batch, k]`` operands (the model
  adds '=') would never patch the '=' position. They are refused with an error naming
  ``model.to_tokens``.

**The readout.** The model reads out at the '=' position only, so its logits (and
``hook_logits``) are ``[batch, p]`` — TransformerLens's ``logits[:, -1]``. Patching metrics
receive ``[batch, p]``. Cache methods see every position; the last one (``pos_slice=-1``)
is the one the logits read, and decompositions there sum to the logits (minus ``b_U``).
``transformer_lens.tools.analysis.logit_lens(model, tokens)`` compares the model's output
with a per-position readout and refuses it: run ``model.run_with_cache(tokens)`` and use
``cache.logit_lens()`` (or ``logit_lens(cache)``), whose last entry equals the logits.

Example:
    >>> import torch, fourier_interp as fi
    >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32))
    >>> tokens = model.to_tokens(fi.ModularArithmetic(p=7).inputs)
    >>> logits, cache = model.run_with_cache(tokens)
    >>> stack = cache.decompose_resid(pos_slice=-1)       # embed, pos_embed, 0_attn_out, 0_mlp_out
    >>> answers = (tokens[:, 0] + tokens[:, 1]) % 7
    >>> attrs = cache.logit_attrs(stack, answers, pos_slice=-1)   # [component, batch]
    >>> bias = model.accumulated_bias(1) @ model.W_U[:, answers]
    >>> torch.allclose(attrs.sum(0) + bias, logits[torch.arange(49), answers], atol=1e-5)
    True
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Iterable, Optional, Union

import torch
from jaxtyping import Float, Int
from torch import Tensor
from transformer_lens import FactoredMatrix

from ...errors import InvalidArgumentError
from .weight_processing import process_weights

TokenLike = Union[str, int, Tensor]


class _Embed:
    """``model.embed``: the token embedding as TransformerLens looks it up (``W_E``, callable)."""

    def __init__(self, model):
        self.W_E = model.W_E

    def __call__(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        return self.W_E[tokens]


class _PosEmbed:
    """``model.pos_embed``: the positional embedding (``W_pos``, callable on tokens)."""

    def __init__(self, model):
        self.W_pos = model.W_pos

    def __call__(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        return self.W_pos[: tokens.shape[-1]].expand(*tokens.shape, -1)


class _Unembed:
    """``model.unembed``: ``x @ W_U + b_U`` over the p answers."""

    def __init__(self, model):
        self.W_U, self.b_U = model.W_U, model.b_U

    def __call__(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... p"]:
        return x @ self.W_U + self.b_U


def _sweeps_positions(hooks: Iterable) -> bool:
    """Whether ``hooks`` hold ``transformer_lens.patching.generic_activation_patch``'s patching hook."""
    for _, fn in hooks:
        func = fn.func if isinstance(fn, functools.partial) else fn
        if getattr(func, "__module__", "") == "transformer_lens.patching" and \
                getattr(func, "__qualname__", "").startswith("generic_activation_patch"):
            return True
    return False


class TransformerLensSurface:
    """Mixin: the TransformerLens model protocol for the built-in transformer (see the module docstring)."""

    # ---------------------------------------------------------------- components
    @property
    def embed(self) -> _Embed:
        """The token embedding component (``model.embed.W_E``, ``model.embed(tokens)``)."""
        return _Embed(self)

    @property
    def pos_embed(self) -> _PosEmbed:
        """The positional embedding component (``model.pos_embed.W_pos``)."""
        return _PosEmbed(self)

    @property
    def unembed(self) -> _Unembed:
        """The unembedding component: ``model.unembed(x) == x @ model.W_U + model.b_U``."""
        return _Unembed(self)

    @property
    def QK(self) -> FactoredMatrix:
        """``W_Q W_K^T`` of every head, ``[n_layers, n_heads, d_model, d_model]`` (factored)."""
        return FactoredMatrix(self.W_Q, self.W_K.transpose(-2, -1))

    @property
    def OV(self) -> FactoredMatrix:
        """``W_V W_O`` of every head, ``[n_layers, n_heads, d_model, d_model]`` (factored)."""
        return FactoredMatrix(self.W_V, self.W_O)

    b_Q = property(lambda self: self._stack("b_Q", "attn"), doc="[n_layers, n_heads, d_head]")
    b_K = property(lambda self: self._stack("b_K", "attn"), doc="[n_layers, n_heads, d_head]")
    b_V = property(lambda self: self._stack("b_V", "attn"), doc="[n_layers, n_heads, d_head]")
    b_O = property(lambda self: self._stack("b_O", "attn"), doc="[n_layers, d_model]")

    def process_weights_(
        self,
        fold_ln: Optional[bool] = None,
        center_writing_weights: Optional[bool] = None,
        center_unembed: bool = False,
        fold_value_biases: Optional[bool] = None,
    ):
        """TransformerLens weight processing in place (exact in function); returns the model.

        ``fold_ln`` folds LayerNorm weights into the readers (then ``cache.logit_attrs`` is
        right), ``center_writing_weights`` centres the residual writes, ``center_unembed``
        centres ``W_U`` (shifts each logit row by a constant), ``fold_value_biases`` moves
        ``b_V`` into ``b_O``. ``None``: where exact; ``True``: or raise; ``False``: skip.
        The steps applied are recorded in ``cfg.weight_processing``. See
        :mod:`fourier_interp.models.transformer.weight_processing`.

        Example:
            >>> import torch, fourier_interp as fi
            >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, d_mlp=32, normalization_type="LN"))
            >>> x = fi.ModularArithmetic(p=7).inputs
            >>> before = model(x)
            >>> model.process_weights_().cfg.normalization_type, model.cfg.weight_processing
            ('LNPre', ('fold_ln', 'center_writing_weights', 'fold_value_biases'))
            >>> torch.allclose(model(x), before, atol=1e-5)
            True
        """
        return process_weights(self, fold_ln=fold_ln, center_writing_weights=center_writing_weights,
                               center_unembed=center_unembed, fold_value_biases=fold_value_biases)

    def all_head_labels(self) -> list[str]:
        """``["L0H0", "L0H1", ...]`` in TransformerLens order."""
        return [f"L{l}H{h}" for l in range(self.cfg.n_layers) for h in range(self.cfg.n_heads)]

    # ---------------------------------------------------------------- tokens
    def to_single_token(self, string: Union[str, int]) -> int:
        """The token id of ``"0"`` .. ``"p-1"`` (the operand/answer ``a``) or ``"="`` (id ``p``).

        Example:
            >>> import fourier_interp as fi
            >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, d_mlp=32))
            >>> model.to_single_token("5"), model.to_single_token("=")
            (5, 7)
        """
        if isinstance(string, int) and not isinstance(string, bool) and 0 <= string <= self.cfg.p:
            return string
        text = string.strip() if isinstance(string, str) else None
        if text == "=":
            return self.cfg.eq_token
        if text is not None and text.isdigit() and int(text) < self.cfg.p:
            return int(text)
        raise InvalidArgumentError(
            f"{string!r} is not a token of this model: tokens are '0'..'{self.cfg.p - 1}' and '='")

    def to_str_tokens(self, tokens: Union[Tensor, str, list], prepend_bos: Optional[bool] = None) -> list[str]:
        """One sequence as strings: ``[3, 4, 7] -> ["3", "4", "="]`` (operands get the '=' appended).

        ``prepend_bos`` is accepted for TransformerLens compatibility; the vocabulary has no BOS.
        """
        operands = isinstance(tokens, Tensor) and tokens.ndim and tokens.shape[-1] == self.cfg.k
        if isinstance(tokens, (str, list)) or operands:
            tokens = self.to_tokens(tokens)
        tokens = torch.as_tensor(tokens)
        if tokens.ndim == 2:
            if tokens.shape[0] != 1:
                raise InvalidArgumentError(f"to_str_tokens takes one sequence, got a batch of {tokens.shape[0]}")
            tokens = tokens[0]
        return ["=" if int(t) == self.cfg.eq_token else str(int(t)) for t in tokens.reshape(-1)]

    def tokens_to_residual_directions(self, tokens: Union[TokenLike, Tensor]) -> Float[Tensor, "*batch d_model"]:
        """The unembedding direction ``W_U[:, t]`` of answer token(s) ``t`` (TransformerLens semantics).

        A string or int gives ``[d_model]``; a tensor of several tokens gives
        ``[*tokens.shape, d_model]``. Dotting a residual-stream component (after
        ``cache.apply_ln_to_stack``) with it is that component's direct logit attribution.
        On a model with LayerNorm whose weights are not folded
        (``normalization_type="LN"``) that misses ``ln_final``'s weight and bias: call
        :meth:`process_weights_` first (a warning says so).
        """
        if self.cfg.normalization_type == "LN":
            warnings.warn(
                "normalization_type='LN' with unfolded weights: logit attributions through "
                "cache.apply_ln_to_stack / logit_attrs ignore ln_final's weight and bias and are off; "
                "call model.process_weights_() (fold_ln) first",
                stacklevel=2,
            )
        if isinstance(tokens, Tensor) and tokens.numel() > 1:
            self._check_answers(tokens)
            return self.W_U[:, tokens.to(self.W_U.device).long()].movedim(0, -1)
        token = self.to_single_token(tokens) if isinstance(tokens, str) else int(tokens)
        self._check_answers(torch.tensor([token]))
        return self.W_U[:, token]

    def _check_answers(self, tokens: Tensor) -> None:
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.cfg.p):
            raise InvalidArgumentError(f"answer tokens must lie in 0..{self.cfg.p - 1} (the readout has p={self.cfg.p} "
                                       f"answers; '=' is never one), got {tokens.min().item()}..{tokens.max().item()}")

    def accumulated_bias(
        self, layer: int, mlp_input: bool = False, include_mlp_biases: bool = True
    ) -> Float[Tensor, " d_model"]:
        """Sum of the biases written to the residual stream before layer ``layer`` (``b_O``, ``b_out``).

        ``mlp_input=True`` adds layer ``layer``'s ``b_O`` (the MLP reads after attention);
        ``include_mlp_biases=False`` leaves out the ``b_out`` (they sit in the neuron terms).
        """
        total = torch.zeros(self.cfg.d_model, device=self.W_U.device, dtype=self.W_U.dtype)
        for block in self.blocks[:layer]:
            total = total + block.attn.b_O
            if include_mlp_biases:
                total = total + block.mlp.b_out
        if mlp_input:
            if layer >= self.cfg.n_layers:
                raise InvalidArgumentError(f"mlp_input=True needs layer < n_layers={self.cfg.n_layers}, got {layer}")
            total = total + self.blocks[layer].attn.b_O
        return total

    # ---------------------------------------------------------------- switches
    def set_use_attn_result(self, use_attn_result: bool) -> None:
        """Fire ``blocks.{l}.attn.hook_result`` (``[batch, pos, head, d_model]``, each head's write)."""
        self._set_flag("use_attn_result", use_attn_result)

    def set_use_split_qkv_input(self, use_split_qkv_input: bool) -> None:
        """Give each head its own copy of the residual at ``blocks.{l}.attn.hook_{q,k,v}_input``.

        Needed by ``transformer_lens.patching.get_act_patch_direct_path`` (which switches it on
        and back itself) and by edge attribution patching.
        """
        if use_split_qkv_input and self.cfg.use_attn_in:
            raise InvalidArgumentError(
                "use_split_qkv_input and use_attn_in are mutually exclusive; set_use_attn_in(False) first")
        self._set_flag("use_split_qkv_input", use_split_qkv_input)

    def set_use_attn_in(self, use_attn_in: bool) -> None:
        """Fire ``blocks.{l}.attn.hook_attn_in`` (one per-head copy shared by Q, K and V)."""
        if use_attn_in and self.cfg.use_split_qkv_input:
            raise InvalidArgumentError("use_attn_in and use_split_qkv_input are mutually exclusive; "
                                       "set_use_split_qkv_input(False) first")
        self._set_flag("use_attn_in", use_attn_in)

    def set_use_hook_mlp_in(self, use_hook_mlp_in: bool) -> None:
        """Fire ``blocks.{l}.hook_mlp_in`` (the MLP's own copy of ``resid_mid``, before ``ln2``)."""
        self._set_flag("use_hook_mlp_in", use_hook_mlp_in)

    def _set_flag(self, name: str, value: bool) -> None:
        setattr(self.cfg, name, bool(value))
        self._share_cfg()

    def _share_cfg(self) -> None:
        """Point every submodule at the model's ``cfg`` (the forward reads flags from the blocks' copy)."""
        for module in self.modules():
            if module is not self and hasattr(module, "cfg"):
                module.cfg = self.cfg

    # ---------------------------------------------------------------- running
    def run_with_hooks(self, *model_args: Any, fwd_hooks: Iterable = (), bwd_hooks: Iterable = (), **kwargs: Any):
        """TransformerLens's ``run_with_hooks``; refuses operands in a ``transformer_lens.patching`` sweep.

        A position sweep (``get_act_patch_resid_pre`` and the other ``generic_activation_patch``
        users) iterates over ``corrupted_tokens.shape[-1]`` positions, so ``[batch, k]`` operands
        would leave the '=' position unpatched; pass ``model.to_tokens(operands)``.
        """
        fwd_hooks, bwd_hooks = list(fwd_hooks), list(bwd_hooks)
        inputs = model_args[0] if model_args else kwargs.get("inputs")
        operands = isinstance(inputs, Tensor) and inputs.ndim == 2 and inputs.shape[-1] == self.cfg.k
        if operands and _sweeps_positions(fwd_hooks):
            raise InvalidArgumentError(
                f"transformer_lens.patching got [batch, {self.cfg.k}] operands, but the model runs {self.cfg.n_ctx} "
                f"positions (it appends '='), so the '=' position would never be patched; pass "
                f"model.to_tokens(operands) ([batch, {self.cfg.n_ctx}]) as corrupted_tokens"
            )
        return super().run_with_hooks(*model_args, fwd_hooks=fwd_hooks, bwd_hooks=bwd_hooks, **kwargs)

    def tl_parameters(self) -> dict[str, Tensor]:
        """Weights under TransformerLens names (``embed.W_E``, ``blocks.0.attn.W_Q``, ``unembed.W_U`` ...).

        TransformerLens assumes as many output classes as input tokens (``cfg.d_vocab``);
        this model has one input token more than answers, '='. So ``unembed.W_U`` and
        ``unembed.b_U`` here carry a zero column for '=' (the model never predicts it),
        which lets ``transformer_lens.SVDInterpreter`` read singular vectors against the
        vocabulary; ``model.W_U`` itself is ``[d_model, p]``.
        """
        extra = self.cfg.d_vocab - self.cfg.d_vocab_out
        W_U, b_U = self.W_U, self.b_U
        if extra > 0:
            W_U = torch.cat([W_U, W_U.new_zeros(W_U.shape[0], extra)], dim=1)
            b_U = torch.cat([b_U, b_U.new_zeros(extra)])
        params = {"embed.W_E": self.W_E, "pos_embed.W_pos": self.W_pos, "unembed.W_U": W_U, "unembed.b_U": b_U}
        for l, block in enumerate(self.blocks):
            for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O"):
                params[f"blocks.{l}.attn.{name}"] = getattr(block.attn, name)
            for name in ("W_in", "b_in", "W_out", "b_out"):
                params[f"blocks.{l}.mlp.{name}"] = getattr(block.mlp, name)
            for ln in ("ln1", "ln2"):
                for name in ("w", "b"):
                    if hasattr(getattr(block, ln), name):
                        params[f"blocks.{l}.{ln}.{name}"] = getattr(getattr(block, ln), name)
        for name in ("w", "b"):
            if hasattr(self.ln_final, name):
                params[f"ln_final.{name}"] = getattr(self.ln_final, name)
        return params
