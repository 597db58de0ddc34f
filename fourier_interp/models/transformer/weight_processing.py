"""TransformerLens weight processing for :class:`~fourier_interp.models.HookedTransformer`.

The same four steps as ``HookedTransformer.from_pretrained(fold_ln=True, ...)`` in
TransformerLens, each exact in function (the logits do not change beyond float rounding),
applied in place by ``model.process_weights_(...)``:

* ``fold_ln`` — each LayerNorm's weight ``w`` and bias ``b`` move into the weights that
  read its output (``W_Q, W_K, W_V`` / ``W_in`` / ``W_U`` scaled by ``w``; ``b @ W`` added
  to ``b_Q, b_K, b_V`` / ``b_in`` / ``b_U``); the reading weights are then centred over
  ``d_model`` (the normalised input has mean zero). The LayerNorms become ``LayerNormPre``
  (centre and scale only) and ``cfg.normalization_type`` becomes ``"LNPre"``. After it,
  ``cache.apply_ln_to_stack`` (divide by the cached scale) is the whole final norm, so
  ``cache.logit_attrs`` and residual decompositions give the right attributions.
* ``center_writing_weights`` — ``W_E, W_pos, W_O, b_O, W_out, b_out`` lose their mean over
  ``d_model`` (every reader of the residual stream is a LayerNorm, which removes it).
* ``center_unembed`` — ``W_U`` and ``b_U`` lose their mean over the answers: each row of
  logits shifts by a constant, so log-probabilities, the loss and the argmax are unchanged
  but the logits themselves are not (hence off by default).
* ``fold_value_biases`` — ``b_V`` moves into ``b_O`` (``b_O += sum_h b_V[h] @ W_O[h]``),
  exact because each attention pattern row sums to 1 (refused for ``attn_coeff < 1`` when
  ``b_V`` is non-zero: those rows do not).

Each step takes ``None`` (apply where it is exact: ``fold_ln`` and
``center_writing_weights`` need LayerNorm), ``True`` (apply, or raise saying why not) or
``False``. The steps applied are recorded in ``cfg.weight_processing`` (and the biases
they create become parameters: ``cfg.attn_bias`` / ``cfg.unembed_bias``), so a saved
checkpoint reloads as the processed model.

Example:
    >>> import torch, fourier_interp as fi
    >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, d_mlp=32, normalization_type="LN"))
    >>> x = fi.ModularArithmetic(p=7).inputs
    >>> before = model(x)
    >>> from fourier_interp.models.transformer.weight_processing import process_weights
    >>> _ = process_weights(model)
    >>> torch.allclose(model(x), before, atol=1e-5), type(model.ln_final).__name__
    (True, 'LayerNormPre')
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import torch
from einops import einsum
from torch import Tensor, nn

from ...errors import InvalidArgumentError
from .layers import LayerNormPre
from .model import TransformerCore


def process_weights(
    model,
    fold_ln: Optional[bool] = None,
    center_writing_weights: Optional[bool] = None,
    center_unembed: bool = False,
    fold_value_biases: Optional[bool] = None,
):
    """Apply the TransformerLens weight processing to ``model`` in place and return it (see the module docstring).

    Args:
        model: A :class:`~fourier_interp.models.HookedTransformer`.
        fold_ln: Fold LayerNorm weights and biases into the weights that read them.
        center_writing_weights: Centre the weights that write to the residual stream.
        center_unembed: Centre ``W_U`` / ``b_U`` over the answers (shifts each logit row by a constant).
        fold_value_biases: Fold ``b_V`` into ``b_O``.

    Returns:
        ``model``, with ``cfg.weight_processing`` listing the steps applied.
    """
    if not isinstance(model, TransformerCore):
        raise TypeError(f"process_weights takes a fi.HookedTransformer, got {type(model).__name__}")
    cfg = model.cfg
    has_ln = cfg.normalization_type in ("LN", "LNPre")
    steps = list(cfg.weight_processing)
    changes: dict = {}
    with torch.no_grad():
        if _wanted("fold_ln", fold_ln, cfg.normalization_type == "LN" or "fold_ln" in steps,
                   "the model has no LayerNorm (normalization_type=None)"):
            if cfg.normalization_type == "LN":
                _fold_layer_norm(model)
                changes.update(normalization_type="LNPre", attn_bias=True, unembed_bias=True)
            steps.append("fold_ln")
        if _wanted("center_writing_weights", center_writing_weights, has_ln,
                   "centering the residual writes is exact only when every reader is a LayerNorm "
                   "(normalization_type='LN' or 'LNPre')"):
            _center_writing_weights(model)
            steps.append("center_writing_weights")
        if center_unembed:
            _center_unembed(model)
            steps.append("center_unembed")
        attn_rows_sum_to_one = cfg.attn_coeff == 1.0 or all(not bool(b.attn.b_V.any()) for b in model.blocks)
        if _wanted("fold_value_biases", fold_value_biases, attn_rows_sum_to_one,
                   f"attn_coeff={cfg.attn_coeff}: attention rows do not sum to 1, so b_V cannot move into b_O"):
            _fold_value_biases(model)
            steps.append("fold_value_biases")
    changes["weight_processing"] = tuple(dict.fromkeys(steps))
    model.cfg = dataclasses.replace(cfg, **changes)  # a copy: another model may share the old config
    model._share_cfg()
    model.setup()  # register the new LayerNormPre hook points
    return model


def _wanted(step: str, requested: Optional[bool], possible: bool, why_not: str) -> bool:
    if requested is None:
        return possible
    if requested and not possible:
        raise InvalidArgumentError(f"{step}=True is not exact on this model: {why_not}; pass {step}=False")
    return bool(requested)


def _as_parameter(module: nn.Module, name: str) -> nn.Parameter:
    """Turn a fixed zero bias buffer into a trainable parameter (processing makes it non-zero)."""
    value = getattr(module, name)
    if isinstance(value, nn.Parameter):
        return value
    delattr(module, name)
    param = nn.Parameter(value.clone())
    module.register_parameter(name, param)
    return param


def _fold_layer_norm(model) -> None:
    for block in model.blocks:
        attn, ln1 = block.attn, block.ln1
        for w_name, b_name in (("W_Q", "b_Q"), ("W_K", "b_K"), ("W_V", "b_V")):
            weight, bias = getattr(attn, w_name), _as_parameter(attn, b_name)
            bias.add_(einsum(ln1.b, weight, "d, h d e -> h e"))
            weight.mul_(ln1.w[None, :, None])
            weight.sub_(weight.mean(1, keepdim=True))
        _as_parameter(attn, "b_O")
        mlp, ln2 = block.mlp, block.ln2
        mlp.b_in.add_(ln2.b @ mlp.W_in)
        mlp.W_in.mul_(ln2.w[:, None])
        mlp.W_in.sub_(mlp.W_in.mean(0, keepdim=True))
        block.ln1, block.ln2 = LayerNormPre(ln1.w.shape[0], ln1.eps), LayerNormPre(ln2.w.shape[0], ln2.eps)
    ln_f, b_U = model.ln_final, _as_parameter(model, "b_U")
    b_U.add_(ln_f.b @ model.W_U)
    model.W_U.mul_(ln_f.w[:, None])
    model.W_U.sub_(model.W_U.mean(0, keepdim=True))
    model.ln_final = LayerNormPre(ln_f.w.shape[0], ln_f.eps)
    for module in model.modules():
        if isinstance(module, LayerNormPre):
            module.to(model.W_U.device)


def _centre(x: Tensor) -> None:
    x.sub_(x.mean(-1, keepdim=True))


def _center_writing_weights(model) -> None:
    _centre(model.W_E)
    _centre(model.W_pos)
    for block in model.blocks:
        _centre(block.attn.W_O)
        if bool(block.attn.b_O.any()):
            _centre(_as_parameter(block.attn, "b_O"))
        _centre(block.mlp.W_out)
        _centre(block.mlp.b_out)


def _center_unembed(model) -> None:
    _centre(model.W_U)
    if bool(model.b_U.any()):
        _centre(_as_parameter(model, "b_U"))


def _fold_value_biases(model) -> None:
    for block in model.blocks:
        attn = block.attn
        if not bool(attn.b_V.any()):
            continue
        _as_parameter(attn, "b_O").add_(einsum(attn.b_V, attn.W_O, "h e, h e d -> d"))
        attn.b_V.zero_()

