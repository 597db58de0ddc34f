"""``model.config``: a Hugging Face-style view of a model's ``cfg``, for tools that read HF names.

pyvene (and other libraries written for ``transformers`` models) look for ``model.config``
with ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads`` ... and a
``to_dict()``. :class:`HFConfig` answers those names from the model's own config fields, and
every ``cfg`` field by its own name too; it is rebuilt from ``cfg`` on each access, so it
never disagrees with it, and it is read-only (change ``model.cfg``).

HF name -> the ``cfg`` field it reads (the first one the config has):

    hidden_size              d_model (transformer), d_hidden (MLP, RNN)
    num_hidden_layers        n_layers (1 for a model without layers)
    num_attention_heads      n_heads
    head_dim                 d_head
    intermediate_size        d_mlp
    vocab_size               d_vocab, else p (the operand tokens)
    max_position_embeddings  n_ctx, else k
    hidden_act               act_fn

Example:
    >>> import fourier_interp as fi
    >>> config = fi.HookedTransformer(fi.TransformerConfig(p=7)).config
    >>> config.hidden_size, config.num_attention_heads, config.vocab_size, config.p
    (128, 4, 8, 7)
"""

from __future__ import annotations

from typing import Any

HF_FIELDS: dict[str, tuple[str, ...]] = {
    "hidden_size": ("d_model", "d_hidden"),
    "num_hidden_layers": ("n_layers",),
    "num_attention_heads": ("n_heads",),
    "head_dim": ("d_head",),
    "intermediate_size": ("d_mlp",),
    "vocab_size": ("d_vocab", "p"),
    "max_position_embeddings": ("n_ctx", "k"),
    "hidden_act": ("act_fn",),
}


class HFConfig:
    """Read-only HF-style names over a model config (see the module docstring for the mapping).

    Args:
        cfg: The model's config (any object with attributes; ``to_dict()`` if it has one).
        model_type: What ``config.model_type`` says (e.g. ``"fourier_interp.HookedTransformer"``).
    """

    def __init__(self, cfg: Any, model_type: str):
        fields = dict(cfg.to_dict()) if hasattr(cfg, "to_dict") else dict(vars(cfg))
        fields.pop("device", None)
        hf: dict[str, Any] = {"model_type": model_type, "is_encoder_decoder": False}
        for name, sources in HF_FIELDS.items():
            for source in sources:
                value = getattr(cfg, source, None)
                if value is not None:
                    hf[name] = value
                    break
        if "hidden_size" in hf:
            hf.setdefault("num_hidden_layers", 1)
        object.__setattr__(self, "_fields", {**fields, **hf})

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_fields"][name]
        except KeyError:
            raise AttributeError(f"model.config has no field {name!r}; it has {sorted(self.__dict__['_fields'])}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"model.config is a read-only view of model.cfg; set model.cfg fields instead (got {name!r})")

    def __contains__(self, name: str) -> bool:
        return name in self._fields

    def to_dict(self) -> dict[str, Any]:
        """Every field, HF names and the model's own, as a new dict."""
        return dict(self._fields)

    def __repr__(self) -> str:
        return f"HFConfig({self._fields})"
