"""A decoder-only transformer for modular arithmetic, hooked the TransformerLens way.

The input sequence is the k operands followed by an '=' token (id p); the readout is the
last position over the p answers. Defaults are the nanda2023 architecture (Nanda et al.,
ICLR 2023): one layer, d_model 128, 4 heads of d_head 32, d_mlp 512, ReLU, no LayerNorm.

The package, read bottom up (each module imports only those above it in this list):

    config.py            TransformerConfig
    layers.py            LayerNorm, Attention, MLP, TransformerBlock: each forward written
                         once, with a hooks-off / last-position-only switch
    model.py             TransformerCore: embeddings, blocks, readout; ``forward`` (hooked)
                         and ``fast_forward`` (training) run the same ``residual``
    weight_processing.py fold_ln and friends, on a model
    tl_protocol.py       the TransformerLens model protocol, a mixin
    __init__.py          HookedTransformer = the protocol on top of the core
    bridge.py            to and from TransformerLens's own formats (``fi.export_tl``)

Hook names, weight names and shapes follow TransformerLens, so ``transformer_lens.patching``
runs on this model unchanged:

    hook_embed, hook_pos_embed                      [batch, pos, d_model]
    blocks.{l}.hook_resid_pre / _mid / _post        [batch, pos, d_model]
    blocks.{l}.attn.hook_q / hook_k / hook_v / hook_z   [batch, pos, head, d_head]
    blocks.{l}.attn.hook_attn_scores / hook_pattern [batch, head, query_pos, key_pos]
    blocks.{l}.hook_attn_out / hook_mlp_out         [batch, pos, d_model]
    blocks.{l}.mlp.hook_pre / hook_post             [batch, pos, d_mlp]
    blocks.{l}.ln1 / ln2 / ln_final .hook_scale     [batch, pos, 1]  (with LayerNorm)
    hook_logits                                     [batch, p]   (last position only; [batch, pos, p]
                                                    with logits_all_positions, see below)

Opt-in, switched on by ``model.set_use_attn_result(True)`` and friends (TransformerLens's
flags, read by its direct-path and attribution patching):

    blocks.{l}.attn.hook_result                     [batch, pos, head, d_model]
    blocks.{l}.attn.hook_q_input / _k_ / _v_input   [batch, pos, head, d_model]
    blocks.{l}.attn.hook_attn_in                    [batch, pos, head, d_model]
    blocks.{l}.hook_mlp_in                          [batch, pos, d_model]

``TransformerConfig(logits_all_positions=True)`` (or ``model(tokens, all_positions=True)``)
unembeds every position, ``[batch, pos, p]``, as TransformerLens models do, so its tools
that read logits at every position (``logit_lens(model, tokens)``) run; the loss still
reads the last position. :mod:`.bridge` converts to and from TransformerLens's own format
(``fi.export_tl``, ``fi.import_tl_checkpoint``).

The readout is at '=' only: the logits are TransformerLens's ``logits[:, -1]`` (see
:mod:`.tl_protocol` for what that means for its utilities).

Example:
    >>> import fourier_interp as fi
    >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7))
    >>> logits, cache = model.run_with_cache(fi.ModularArithmetic(p=7).inputs)
    >>> logits.shape, cache["blocks.0.mlp.hook_post"].shape
    (torch.Size([49, 7]), torch.Size([49, 3, 512]))
"""

from .config import WEIGHT_PROCESSING_STEPS, TransformerConfig
from .layers import MLP, Attention, LayerNorm, LayerNormPre, TransformerBlock
from .model import TransformerCore
from .tl_protocol import TransformerLensSurface


class HookedTransformer(TransformerLensSurface, TransformerCore):
    """One-layer (by default) transformer on ``[a_1, ..., a_k, =]`` with a readout at '='.

    Accepts ``[batch, k]`` operands or ``[batch, k+1]`` full sequences ending in '='
    (token ``p``); returns ``[batch, p]`` logits at the last position. The weights and the
    forward are :class:`~.model.TransformerCore`'s; TransformerLens's model protocol
    (``tokens_to_residual_directions``, ``accumulated_bias``, ``unembed``, ``QK`` / ``OV``,
    the ``set_use_*`` switches) comes from :class:`~.tl_protocol.TransformerLensSurface`,
    and TransformerLens weight processing from :meth:`process_weights_`.
    """


__all__ = [
    "HookedTransformer",
    "TransformerConfig",
    "TransformerCore",
    "TransformerLensSurface",
    "TransformerBlock",
    "Attention",
    "MLP",
    "LayerNorm",
    "LayerNormPre",
    "WEIGHT_PROCESSING_STEPS",
]
