"""To and from TransformerLens's own formats: a native ``TransformerBridge`` and legacy checkpoints.

* :func:`export_tl` builds TransformerLens 4's native toy transformer
  (``TransformerBridge.boot_native``) with this model's weights: the same logits at every
  position, and every TransformerLens tool on it.
* :func:`import_tl_checkpoint` loads a state dict saved by TransformerLens's
  ``HookedTransformer`` (keys ``embed.W_E``, ``pos_embed.W_pos``, ``blocks.0.attn.W_Q`` ...,
  ``unembed.W_U``; the format of Nanda et al.'s and ARENA's grokking checkpoints) or by
  Zhong et al.'s clock-and-pizza code into a :class:`~fourier_interp.HookedTransformer`,
  which the package's analyses and ``fi.verify`` read.
* :func:`tl_state_dict` and :func:`tl_config` are this model in ``HookedTransformer``'s
  format, for saving or for TransformerLens's own converter.

Both directions assume the package's sequence layout: ``[a_1, ..., a_k, =]`` with the
'=' token ``p`` (vocabulary ``p + 1``), the answer read at '=' over ``p`` logits. That is
the layout of Nanda et al.'s model.

Example:
    >>> import torch, fourier_interp as fi
    >>> from fourier_interp.models.transformer.bridge import tl_config, tl_state_dict
    >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32))
    >>> state, cfg = tl_state_dict(model), tl_config(model)
    >>> sorted(state)[:3], cfg["d_vocab"], cfg["d_vocab_out"]
    (['blocks.0.attn.W_K', 'blocks.0.attn.W_O', 'blocks.0.attn.W_Q'], 8, 7)
    >>> again = fi.import_tl_checkpoint(state, cfg)
    >>> x = fi.ModularArithmetic(p=7).inputs
    >>> bool(torch.equal(again(x), model(x)))
    True
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

import torch
from torch import Tensor

from ...errors import InvalidArgumentError
from . import HookedTransformer, TransformerConfig

# HookedTransformer config fields that this model has no counterpart for, with the value
# that means "not used" (a checkpoint with another value is refused rather than misread)
_UNSUPPORTED_TL_FIELDS: dict[str, Any] = {
    "attn_only": False,
    "gated_mlp": False,
    "final_rms": False,
    "positional_embedding_type": "standard",
    "n_key_value_heads": None,
    "parallel_attn_mlp": False,
    "attention_dir": "causal",
    "use_local_attn": False,
    "rotary_dim": None,
}
# buffers a HookedTransformer state dict holds that are not weights
_TL_BUFFER_SUFFIXES = (".mask", ".IGNORE", ".rotary_sin", ".rotary_cos")
_ATTN_BIASES = ("b_Q", "b_K", "b_V", "b_O")


# ------------------------------------------------------------------ export
def tl_config(model: HookedTransformer) -> dict[str, Any]:
    """``model``'s architecture as TransformerLens config fields (``HookedTransformerConfig`` names).

    Raises:
        InvalidArgumentError: ``model`` is not a ``fi.HookedTransformer``.
    """
    cfg = _check_model(model).cfg
    return {
        "n_layers": cfg.n_layers, "d_model": cfg.d_model, "n_heads": cfg.n_heads, "d_head": cfg.d_head,
        "d_mlp": cfg.d_mlp, "d_vocab": cfg.d_vocab, "d_vocab_out": cfg.d_vocab_out, "n_ctx": cfg.n_ctx,
        "act_fn": cfg.act_fn, "normalization_type": cfg.normalization_type, "eps": 1e-5,
        "positional_embedding_type": "standard", "attn_only": False,
    }


def tl_state_dict(model: HookedTransformer) -> dict[str, Tensor]:
    """``model``'s weights under ``HookedTransformer``'s keys and shapes (biases it lacks as zeros).

    ``W_E -> embed.W_E``, ``W_pos -> pos_embed.W_pos``, ``W_U / b_U -> unembed.W_U / b_U``;
    block and LayerNorm names are already TransformerLens's. Tensors are detached copies.
    """
    model = _check_model(model)
    renamed = {"W_E": "embed.W_E", "W_pos": "pos_embed.W_pos", "W_U": "unembed.W_U", "b_U": "unembed.b_U"}
    out = {renamed.get(name, name): value.detach().clone() for name, value in model.state_dict().items()}
    out["unembed.b_U"] = model.b_U.detach().clone()
    for layer, block in enumerate(model.blocks):
        for bias in _ATTN_BIASES:  # zero buffers when the model has no attention biases
            out[f"blocks.{layer}.attn.{bias}"] = getattr(block.attn, bias).detach().clone()
    return out


def export_tl(model: HookedTransformer):
    """TransformerLens 4's native transformer with ``model``'s weights: a ``TransformerBridge``.

    The bridge's logits are ``[batch, pos, p]`` (``bridge(tokens)[:, -1]`` is ``model(tokens)``),
    its hooks are TransformerLens's, and it is in eval mode. A model with Zhong et al.'s
    attention rate (``attn_coeff < 1``) gets a permanent hook on each
    ``blocks.{l}.attn.hook_pattern`` that applies the rate (so the pattern it caches is the
    one the model uses, as here); ``bridge.reset_hooks(including_permanent=True)`` would
    remove it.

    Args:
        model: A ``fi.HookedTransformer`` (relu or gelu; any depth; LayerNorm, folded or not).

    Returns:
        A ``transformer_lens.model_bridge.TransformerBridge`` built by ``boot_native``.

    Raises:
        InvalidArgumentError: ``model`` is not a ``fi.HookedTransformer``.

    Example:
        >>> import torch, fourier_interp as fi
        >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32))
        >>> bridge = fi.export_tl(model)
        >>> tokens = model.to_tokens(fi.ModularArithmetic(p=7).inputs)
        >>> torch.allclose(bridge(tokens)[:, -1], model(tokens), atol=1e-5)
        True
    """
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge
    from transformer_lens.model_bridge.sources import native  # noqa: F401  (attaches boot_native)
    from transformer_lens.utilities.tl_checkpoint_conversion import convert_tl_checkpoint

    model = _check_model(model)
    cfg = TransformerBridgeConfig(**tl_config(model), architecture="TransformerLensNative", seed=0)
    bridge = TransformerBridge.boot_native(cfg, device=next(model.parameters()).device)
    state = tl_state_dict(model)
    bridge.load_state_dict(convert_tl_checkpoint(state, bridge.cfg), strict=True)
    if model.cfg.attn_coeff != 1.0:
        for layer in range(model.cfg.n_layers):
            bridge.add_perma_hook(f"blocks.{layer}.attn.hook_pattern", _attention_rate_hook(model.cfg.attn_coeff))
    return bridge.eval()


def _attention_rate_hook(attn_coeff: float):
    """``c * softmax + (1 - c)`` on the visible (causal) positions: Zhong et al.'s attention rate."""

    def hook(pattern: Tensor, hook: Any = None) -> Tensor:
        n = pattern.shape[-1]
        hidden = torch.ones(n, n, dtype=torch.bool, device=pattern.device).triu(1)
        return (attn_coeff * pattern + (1.0 - attn_coeff)).masked_fill(hidden, 0.0)

    return hook


# ------------------------------------------------------------------ import
def import_tl_checkpoint(
    state_dict: Mapping[str, Tensor], cfg: Any, *, format: Optional[str] = None
) -> HookedTransformer:
    """A ``fi.HookedTransformer`` from a TransformerLens or Zhong et al. checkpoint, same logits.

    **TransformerLens** (``format="tl"``): a ``HookedTransformer.state_dict()`` (keys
    ``embed.W_E [d_vocab, d_model]``, ``pos_embed.W_pos``, ``blocks.{l}.attn.W_Q
    [n_heads, d_model, d_head]`` ..., ``blocks.{l}.mlp.W_in``, ``unembed.W_U``, optional
    biases and LayerNorm weights; ``attn.mask`` / ``IGNORE`` buffers are skipped) with its
    config: a ``HookedTransformerConfig``, a ``TransformerBridgeConfig`` or a dict of the
    same fields. The vocabulary must be the package's: ``d_vocab = p + 1`` with '=' the last
    token, ``d_vocab_out = p``, ``n_ctx = k + 1`` (Nanda et al.'s grokking model: 114, 113, 3).

    **Zhong et al.** (``format="zhong"``, the ``model_*.pt`` / ``config_*.json`` pairs of their
    clock-and-pizza code): their config dict (``C``, ``n_heads``, ``d_model``, ``n_layers``,
    ``act_fn``, ``attn_coeff``, ``diff_vocab``, ``eqn_sign``) and state dict. Only runs whose
    input is ``[a, b, =]`` (``eqn_sign=1``, ``diff_vocab=0``) with one layer are this
    model exactly: their attention has no causal mask, which changes nothing at the last
    position of a one-layer model. The logits are those over the ``C`` answers (their
    unembedding also scores the '=' token, which is never an answer).

    Args:
        state_dict: The checkpoint's tensors (e.g. ``torch.load(path, map_location="cpu")``).
        cfg: The checkpoint's config (see above); a ``fi.TransformerConfig`` is used as is.
        format: ``"tl"`` or ``"zhong"``; ``None`` reads it from ``cfg`` (a dict with ``C``
            is Zhong et al.'s).

    Returns:
        A ``fi.HookedTransformer`` in eval mode. Biases that are all zero in the checkpoint
        (ARENA freezes them at zero) become the model's fixed zeros, so it matches a
        preset's architecture; non-zero ones become trained parameters.

    Raises:
        InvalidArgumentError: an unknown or missing key, a shape that does not fit the
            config, or an architecture this model does not have (each named).

    Example:
        >>> import torch, fourier_interp as fi
        >>> cfg = dict(n_layers=1, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=8,
        ...            d_vocab_out=7, n_ctx=3, act_fn="relu", normalization_type=None)
        >>> fresh = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32))
        >>> from fourier_interp.models.transformer.bridge import tl_state_dict
        >>> model = fi.import_tl_checkpoint(tl_state_dict(fresh), cfg)
        >>> model.cfg.p, model.cfg.k, model.cfg.attn_bias
        (7, 2, False)
    """
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, Tensor) for v in state_dict.values()):
        raise InvalidArgumentError("state_dict must be a mapping of names to tensors (a model's state_dict())")
    if format is None:
        format = "zhong" if isinstance(cfg, Mapping) and "C" in cfg else "tl"
    if format == "tl":
        config, weights = _from_tl(dict(state_dict), cfg)
    elif format == "zhong":
        config, weights = _from_zhong(dict(state_dict), cfg)
    else:
        raise InvalidArgumentError(f"format={format!r} is not allowed; expected None, 'tl' or 'zhong'")
    model = HookedTransformer(config)
    _load(model, weights)
    return model.eval()


def _from_tl(state: dict[str, Tensor], cfg: Any) -> tuple[TransformerConfig, dict[str, Tensor]]:
    weights = {}
    for key, value in state.items():
        if key.endswith(_TL_BUFFER_SUFFIXES):
            continue
        name = {"embed.W_E": "W_E", "pos_embed.W_pos": "W_pos", "unembed.W_U": "W_U", "unembed.b_U": "b_U"}.get(key, key)
        weights[name] = value
    if isinstance(cfg, TransformerConfig):
        return cfg, weights
    fields = _fields(cfg)
    for name, unused in _UNSUPPORTED_TL_FIELDS.items():
        value = fields.get(name, unused)
        if value not in (unused, None):
            raise InvalidArgumentError(f"cfg.{name}={value!r}: fi.HookedTransformer has no such architecture "
                                       f"(it supports {name}={unused!r})")
    for name in ("n_layers", "d_model", "n_heads", "d_head", "d_vocab", "n_ctx"):
        if not isinstance(fields.get(name), int):
            raise InvalidArgumentError(f"cfg.{name} is missing; expected the checkpoint's HookedTransformer config field")
    d_vocab, d_vocab_out = fields["d_vocab"], fields.get("d_vocab_out", -1)
    p = d_vocab - 1 if d_vocab_out in (None, -1) else d_vocab_out
    if d_vocab != p + 1:
        raise InvalidArgumentError(
            f"cfg.d_vocab={d_vocab} with d_vocab_out={p}: fi.HookedTransformer reads [a_1, ..., a_k, =] with "
            f"the '=' token p, a vocabulary of p + 1 = {p + 1}")
    # TransformerLens's default is "LN"; a dict without the field is read from the weights it holds
    normalization = fields.get("normalization_type", "LN" if "ln_final.w" in weights else None)
    if normalization not in (None, "LN", "LNPre"):
        raise InvalidArgumentError(f"cfg.normalization_type={normalization!r}: expected None, 'LN' or 'LNPre'")
    eps = fields.get("eps", 1e-5)
    if normalization is not None and not math.isclose(eps, 1e-5):
        raise InvalidArgumentError(f"cfg.eps={eps!r}: fi.HookedTransformer's LayerNorm uses eps=1e-5")
    act_fn = fields.get("act_fn", "relu")
    if act_fn not in ("relu", "gelu"):
        raise InvalidArgumentError(f"cfg.act_fn={act_fn!r}: fi.HookedTransformer supports 'relu' and 'gelu'")
    attn_bias = any(_nonzero(v) for k, v in weights.items() if k.rpartition(".")[2] in _ATTN_BIASES)
    config = TransformerConfig(
        p=p, k=fields["n_ctx"] - 1, n_layers=fields["n_layers"], d_model=fields["d_model"], n_heads=fields["n_heads"],
        d_head=fields["d_head"], d_mlp=fields.get("d_mlp") or 4 * fields["d_model"], act_fn=act_fn,
        normalization_type=normalization, attn_bias=attn_bias, unembed_bias=_nonzero(weights.get("b_U")),
    )
    return config, weights


def _from_zhong(state: dict[str, Tensor], cfg: Any) -> tuple[TransformerConfig, dict[str, Tensor]]:
    fields = _fields(cfg)
    for name in ("C", "d_model", "n_heads"):
        if not isinstance(fields.get(name), int):
            raise InvalidArgumentError(f"cfg[{name!r}] is missing; expected Zhong et al.'s config (config_*.json)")
    if fields.get("diff_vocab", 0) or not fields.get("eqn_sign", 0):
        raise InvalidArgumentError(
            f"Zhong et al. checkpoint with diff_vocab={fields.get('diff_vocab', 0)}, eqn_sign={fields.get('eqn_sign', 0)}: "
            "its input is not [a, b, =] over one vocabulary (eqn_sign=1, diff_vocab=0), so fi.HookedTransformer cannot "
            "compute it exactly; run it as a plain module with fi.HookedWrapper instead")
    if fields.get("n_layers", 1) != 1:
        raise InvalidArgumentError(
            f"Zhong et al. checkpoint with n_layers={fields['n_layers']}: their attention has no causal mask, which "
            "fi.HookedTransformer reproduces for one layer only")
    act = {"relu": "relu", "gelu": "gelu"}.get(str(fields.get("act_fn", "ReLU")).lower())
    if act is None:
        raise InvalidArgumentError(f"cfg['act_fn']={fields.get('act_fn')!r}: fi.HookedTransformer supports ReLU and GeLU")
    p, d_model, h = fields["C"], fields["d_model"], fields["n_heads"]
    d_head = fields.get("d_head", d_model // h)
    expected = {"embed.W_E": (d_model, p + 1), "pos_embed.W_pos": (3, d_model), "unembed.W_U": (d_model, p + 1)}
    for key, shape in expected.items():
        _check_shape(state, key, shape)
    weights = {"W_E": state["embed.W_E"].T, "W_pos": state["pos_embed.W_pos"], "W_U": state["unembed.W_U"][:, :p]}
    d_mlp = None
    for key, value in state.items():
        prefix, _, name = key.rpartition(".")
        if not key.startswith("blocks."):
            if key not in expected:
                raise InvalidArgumentError(f"state_dict key {key!r} is not in Zhong et al.'s format")
            continue
        if name == "mask":
            continue
        if name in ("W_Q", "W_K", "W_V"):
            _check_shape(state, key, (h, d_head, d_model))
            weights[key] = value.transpose(1, 2)  # [head, d_model, d_head]
        elif name == "W_O":
            _check_shape(state, key, (d_model, h * d_head))
            weights[key] = value.T.reshape(h, d_head, d_model)
        elif name in ("W_in", "W_out"):
            weights[key] = value.T  # theirs [out, in], ours [in, out]
            d_mlp = value.shape[0] if name == "W_in" else d_mlp
        elif name in ("b_in", "b_out"):
            weights[key] = value
        else:
            raise InvalidArgumentError(f"state_dict key {key!r} is not in Zhong et al.'s format")
    config = TransformerConfig(p=p, k=2, d_model=d_model, n_heads=h, d_head=d_head, d_mlp=d_mlp or 4 * d_model,
                               act_fn=act, attn_coeff=float(fields.get("attn_coeff", 1.0)))
    return config, weights


def _load(model: HookedTransformer, weights: dict[str, Tensor]) -> None:
    """Copy ``weights`` into ``model``: every parameter given once, each shape checked, zero biases allowed."""
    own = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    unknown = sorted(set(weights) - set(own) - set(buffers))
    if unknown:
        raise InvalidArgumentError(f"state_dict has keys this architecture does not: {unknown[:5]}"
                                   + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
    missing = sorted(name for name in own if name not in weights)
    if missing:
        raise InvalidArgumentError(f"state_dict lacks {missing[:5]}" + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    with torch.no_grad():
        for name, value in weights.items():
            target = own.get(name, buffers.get(name))
            if tuple(value.shape) != tuple(target.shape):
                raise InvalidArgumentError(f"state_dict[{name!r}] has shape {tuple(value.shape)}; the config "
                                           f"makes it {tuple(target.shape)}")
            if name not in own and _nonzero(value):  # a fixed zero bias: only zeros fit
                raise InvalidArgumentError(f"state_dict[{name!r}] is not zero, but the config has no such bias")
            target.copy_(value.to(target.dtype))


def _fields(cfg: Any) -> dict[str, Any]:
    if isinstance(cfg, Mapping):
        return dict(cfg)
    if hasattr(cfg, "to_dict"):
        return dict(cfg.to_dict())
    if hasattr(cfg, "__dict__"):
        return dict(vars(cfg))
    raise InvalidArgumentError(f"cfg must be a config object or a dict of its fields, got {type(cfg).__name__}")


def _check_shape(state: Mapping[str, Tensor], key: str, shape: tuple) -> None:
    if key not in state:
        raise InvalidArgumentError(f"state_dict lacks {key!r}")
    if tuple(state[key].shape) != tuple(shape):
        raise InvalidArgumentError(f"state_dict[{key!r}] has shape {tuple(state[key].shape)}; the config makes it {shape}")


def _nonzero(value: Optional[Tensor]) -> bool:
    return value is not None and bool((value != 0).any())


def _check_model(model: Any) -> HookedTransformer:
    if not isinstance(model, HookedTransformer):
        raise InvalidArgumentError(f"model must be a fi.HookedTransformer, got {type(model).__name__}")
    return model
