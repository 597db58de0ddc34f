"""The architecture of :class:`~fourier_interp.models.transformer.HookedTransformer`: one dataclass.

Example:
    >>> import fourier_interp as fi
    >>> cfg = fi.TransformerConfig(p=113)          # nanda2023: one layer, 4 heads, d_mlp 512
    >>> cfg.d_vocab, cfg.n_ctx, cfg.eq_token
    (114, 3, 113)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ...errors import InvalidArgumentError
from ..base import ModelConfig

WEIGHT_PROCESSING_STEPS = ("fold_ln", "center_writing_weights", "center_unembed", "fold_value_biases")


@dataclass
class TransformerConfig(ModelConfig):
    """Architecture of :class:`HookedTransformer`; ``TransformerConfig(p=113)`` is nanda2023.

    ``normalization_type`` is ``None`` (nanda2023), ``"LN"`` (LayerNorm with weight and
    bias) or ``"LNPre"`` (LayerNorm without them: what ``fold_ln`` leaves, see
    :meth:`HookedTransformer.process_weights_`). ``attn_bias`` / ``unembed_bias`` add the
    biases ``b_Q, b_K, b_V, b_O`` / ``b_U`` as trained parameters (without them they are
    fixed zeros, still readable). ``weight_processing`` records the TransformerLens weight
    processing applied (``"fold_ln"``, ``"center_writing_weights"``, ``"center_unembed"``,
    ``"fold_value_biases"``), so TransformerLens utilities and a saved checkpoint know.

    The TransformerLens-protocol fields from ``n_key_value_heads`` on are read by
    ``transformer_lens.patching`` and ``ActivationCache``; the ``use_*`` flags switch on
    opt-in hook points (set them with ``model.set_use_attn_result(True)`` and friends).
    """

    n_layers: int = 1
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    act_fn: str = "relu"
    attn_coeff: float = 1.0  # Zhong et al.'s attention rate: 1 softmax attention, 0 constant attention
    analysis_layer: Optional[int] = None  # the layer whose MLP the analyses read (None: the last)
    normalization_type: Optional[str] = None  # None (nanda2023), "LN", or "LNPre" (LN folded)
    mlp_bias: bool = True
    attn_bias: bool = False
    unembed_bias: bool = False
    weight_processing: tuple = ()
    n_key_value_heads: Optional[int] = None
    use_attn_result: bool = False  # blocks.{l}.attn.hook_result  [batch, pos, head, d_model]
    use_split_qkv_input: bool = False  # blocks.{l}.attn.hook_{q,k,v}_input  [batch, pos, head, d_model]
    use_attn_in: bool = False  # blocks.{l}.attn.hook_attn_in  [batch, pos, head, d_model]
    use_hook_mlp_in: bool = False  # blocks.{l}.hook_mlp_in  [batch, pos, d_model]
    logits_all_positions: bool = False  # forward and hook_logits give [batch, pos, p], not [batch, p]
    attn_only: bool = False
    positional_embedding_type: str = "standard"
    default_prepend_bos: bool = False

    def __post_init__(self):
        self._check()
        self._check_positive("n_layers", "d_model", "n_heads", "d_head", "d_mlp")
        self._check_choice("act_fn", ("relu", "gelu"))
        self._check_choice("normalization_type", (None, "LN", "LNPre"))
        self.weight_processing = tuple(self.weight_processing or ())
        unknown = sorted(set(self.weight_processing) - set(WEIGHT_PROCESSING_STEPS))
        if unknown:
            raise InvalidArgumentError(f"TransformerConfig.weight_processing has unknown steps {unknown}; "
                             f"allowed: {list(WEIGHT_PROCESSING_STEPS)}")
        if self.use_split_qkv_input and self.use_attn_in:
            raise InvalidArgumentError("TransformerConfig: use_split_qkv_input and use_attn_in are mutually exclusive")
        if self.attn_only:
            raise InvalidArgumentError("TransformerConfig.attn_only=True is not supported: every block has an MLP")
        if isinstance(self.attn_coeff, bool) or not isinstance(self.attn_coeff, (int, float)) \
                or not 0.0 <= self.attn_coeff <= 1.0:
            raise InvalidArgumentError(f"TransformerConfig.attn_coeff={self.attn_coeff!r}: expected a number in [0, 1] "
                             "(1 softmax attention, 0 constant attention)")
        self.attn_coeff = float(self.attn_coeff)
        if self.analysis_layer is not None and (isinstance(self.analysis_layer, bool) or not isinstance(
                self.analysis_layer, int) or not 0 <= self.analysis_layer < self.n_layers):
            raise InvalidArgumentError(f"TransformerConfig.analysis_layer={self.analysis_layer!r}: expected None or a layer in "
                             f"0..{self.n_layers - 1}")

    @property
    def d_vocab(self) -> int:
        """Operand tokens 0..p-1 plus the '=' token p."""
        return self.p + 1

    @property
    def d_vocab_out(self) -> int:
        return self.p

    @property
    def n_ctx(self) -> int:
        return self.k + 1

    @property
    def eq_token(self) -> int:
        return self.p

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32
