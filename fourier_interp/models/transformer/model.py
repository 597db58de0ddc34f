"""A decoder-only transformer for modular arithmetic, hooked the TransformerLens way.

The input sequence is the k operands followed by an '=' token (id p); the readout is the
last position over the p answers. Defaults are the nanda2023 architecture (Nanda et al.,
ICLR 2023): one layer, d_model 128, 4 heads of d_head 32, d_mlp 512, ReLU, no LayerNorm.

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
reads the last position. :mod:`.transformer_bridge` converts to and from TransformerLens's
own format (``fi.export_tl``, ``fi.import_tl_checkpoint``).

The TransformerLens model protocol (``tokens_to_residual_directions``, ``unembed``,
``QK`` / ``OV`` ...) is in :mod:`.tl_protocol`, weight processing (``fold_ln`` ...) in
:mod:`.weight_processing`. The readout is at '=' only: the logits are TransformerLens's
``logits[:, -1]`` (see :mod:`.tl_protocol` for what that means for its utilities).

Example:
    >>> import fourier_interp as fi
    >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7))
    >>> logits, cache = model.run_with_cache(fi.ModularArithmetic(p=7).inputs)
    >>> logits.shape, cache["blocks.0.mlp.hook_post"].shape
    (torch.Size([49, 7]), torch.Size([49, 3, 512]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
from einops import einsum
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens import FactoredMatrix
from transformer_lens.hook_points import HookPoint

from ..errors import InvalidArgumentError
from .base import AnalysisSpec, HookedModel, ModelConfig, activation_fn, init_generator, lookup, normal
from .tl_protocol import TransformerLensSurface


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
            raise ValueError(f"TransformerConfig.attn_coeff={self.attn_coeff!r}: expected a number in [0, 1] "
                             "(1 softmax attention, 0 constant attention)")
        self.attn_coeff = float(self.attn_coeff)
        if self.analysis_layer is not None and (isinstance(self.analysis_layer, bool) or not isinstance(
                self.analysis_layer, int) or not 0 <= self.analysis_layer < self.n_layers):
            raise ValueError(f"TransformerConfig.analysis_layer={self.analysis_layer!r}: expected None or a layer in "
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


class LayerNorm(nn.Module):
    """LayerNorm over ``d_model`` with hooks on the scale and the output (TransformerLens names)."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.w = nn.Parameter(torch.ones(d_model))
        self.b = nn.Parameter(torch.zeros(d_model))
        self.hook_scale = HookPoint()  # [batch, pos, 1]  ([batch, pos, head, 1] on a split-QKV input)
        self.hook_normalized = HookPoint()  # [batch, pos, d_model]

    def forward(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        x = x - x.mean(-1, keepdim=True)
        scale = self.hook_scale((x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        return self.hook_normalized(x / scale * self.w + self.b)


class LayerNormPre(nn.Module):
    """LayerNorm without weight and bias (``normalization_type="LNPre"``): what ``fold_ln`` leaves."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.hook_scale = HookPoint()  # [batch, pos, 1]
        self.hook_normalized = HookPoint()  # [batch, pos, d_model]

    def forward(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        x = x - x.mean(-1, keepdim=True)
        scale = self.hook_scale((x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        return self.hook_normalized(x / scale)


def _make_norm(cfg: TransformerConfig) -> nn.Module:
    """The block's normalisation module for ``cfg.normalization_type``."""
    if cfg.normalization_type == "LN":
        return LayerNorm(cfg.d_model)
    if cfg.normalization_type == "LNPre":
        return LayerNormPre(cfg.d_model)
    return nn.Identity()


def _bias(cfg_flag: bool, *shape: int) -> Tensor:
    """A zero bias: a trained parameter when the config asks for one, else a fixed zero buffer."""
    zeros = torch.zeros(*shape)
    return nn.Parameter(zeros) if cfg_flag else zeros


class Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig, gen: torch.Generator):
        super().__init__()
        self.cfg = cfg
        h, d, e = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q = normal(gen, h, d, e, std=d**-0.5)
        self.W_K = normal(gen, h, d, e, std=d**-0.5)
        self.W_V = normal(gen, h, d, e, std=d**-0.5)
        self.W_O = normal(gen, h, e, d, std=d**-0.5)
        for name, shape in (("b_Q", (h, e)), ("b_K", (h, e)), ("b_V", (h, e)), ("b_O", (d,))):
            value = _bias(cfg.attn_bias, *shape)
            if isinstance(value, nn.Parameter):
                self.register_parameter(name, value)
            else:  # not saved: a checkpoint without attention biases has none
                self.register_buffer(name, value, persistent=False)
        self.hook_attn_in = HookPoint()  # [batch, pos, head, d_model], only if cfg.use_attn_in
        self.hook_q_input = HookPoint()  # [batch, pos, head, d_model], only if cfg.use_split_qkv_input
        self.hook_k_input = HookPoint()  # [batch, pos, head, d_model], only if cfg.use_split_qkv_input
        self.hook_v_input = HookPoint()  # [batch, pos, head, d_model], only if cfg.use_split_qkv_input
        self.hook_q = HookPoint()  # [batch, pos, head, d_head]
        self.hook_k = HookPoint()  # [batch, pos, head, d_head]
        self.hook_v = HookPoint()  # [batch, pos, head, d_head]
        self.hook_attn_scores = HookPoint()  # [batch, head, query_pos, key_pos]
        self.hook_pattern = HookPoint()  # [batch, head, query_pos, key_pos]
        self.hook_z = HookPoint()  # [batch, pos, head, d_head]
        self.hook_result = HookPoint()  # [batch, pos, head, d_model], only if cfg.use_attn_result

    @property
    def QK(self) -> FactoredMatrix:
        """``W_Q W_K^T`` per head, ``[head, d_model, d_model]`` (TransformerLens ``attn.QK``)."""
        return FactoredMatrix(self.W_Q, self.W_K.transpose(-2, -1))

    @property
    def OV(self) -> FactoredMatrix:
        """``W_V W_O`` per head, ``[head, d_model, d_model]`` (TransformerLens ``attn.OV``)."""
        return FactoredMatrix(self.W_V, self.W_O)

    def forward(
        self,
        query_input: Float[Tensor, "batch pos *head d_model"],
        key_input: Float[Tensor, "batch pos *head d_model"],
        value_input: Float[Tensor, "batch pos *head d_model"],
    ) -> Float[Tensor, "batch pos d_model"]:
        """Causal attention; each input is ``[batch, pos, d_model]`` or per head ``[batch, pos, head, d_model]``."""
        q = self.hook_q(self._project(query_input, self.W_Q, self.b_Q))
        k = self.hook_k(self._project(key_input, self.W_K, self.b_K))
        v = self.hook_v(self._project(value_input, self.W_V, self.b_V))
        scores = einsum(q, k, "b q h e, b k h e -> b h q k") / math.sqrt(self.cfg.d_head)
        n = q.shape[1]
        causal = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
        scores = self.hook_attn_scores(scores.masked_fill(causal, float("-inf")))
        pattern = self.hook_pattern(_mix(scores.softmax(-1), causal, self.cfg.attn_coeff))
        z = self.hook_z(einsum(pattern, v, "b h q k, b k h e -> b q h e"))
        if self.cfg.use_attn_result:
            result = self.hook_result(einsum(z, self.W_O, "b q h e, h e d -> b q h d"))
            out = result.sum(2)
        else:
            out = (z.reshape(-1, z.shape[-2] * z.shape[-1]) @ self.W_O.flatten(0, 1)).view(*z.shape[:2], -1)
        return out + self.b_O if self.cfg.attn_bias else out

    def _project(self, x: Tensor, w: Float[Tensor, "head d_model d_head"], b: Float[Tensor, "head d_head"]) -> Tensor:
        out = _heads(x, w) if x.ndim == 3 else einsum(x, w, "b p h d, h d e -> b p h e")
        return out + b if self.cfg.attn_bias else out


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig, gen: torch.Generator):
        super().__init__()
        self.cfg = cfg
        self.W_in = normal(gen, cfg.d_model, cfg.d_mlp, std=cfg.d_model**-0.5)
        self.W_out = normal(gen, cfg.d_mlp, cfg.d_model, std=cfg.d_model**-0.5)
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp), requires_grad=cfg.mlp_bias)
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model), requires_grad=cfg.mlp_bias)
        self.act = activation_fn(cfg.act_fn)
        self.hook_pre = HookPoint()  # [batch, pos, d_mlp]
        self.hook_post = HookPoint()  # [batch, pos, d_mlp]

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        pre = self.hook_pre(_linear(x, self.W_in, self.b_in))
        post = self.hook_post(self.act(pre))
        return _linear(post, self.W_out, self.b_out)


class TransformerBlock(nn.Module):
    # read by transformer_lens's logit lens: hook_resid_post is the one residual stream
    hook_out_is_single_residual_stream = True

    def __init__(self, cfg: TransformerConfig, gen: torch.Generator):
        super().__init__()
        self.cfg = cfg
        self.ln1 = _make_norm(cfg)
        self.attn = Attention(cfg, gen)
        self.ln2 = _make_norm(cfg)
        self.mlp = MLP(cfg, gen)
        self.hook_resid_pre = HookPoint()  # [batch, pos, d_model]
        self.hook_attn_out = HookPoint()  # [batch, pos, d_model]
        self.hook_resid_mid = HookPoint()  # [batch, pos, d_model]
        self.hook_mlp_in = HookPoint()  # [batch, pos, d_model], only if cfg.use_hook_mlp_in
        self.hook_mlp_out = HookPoint()  # [batch, pos, d_model]
        self.hook_resid_post = HookPoint()  # [batch, pos, d_model]

    def forward(self, resid: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        resid = self.hook_resid_pre(resid)
        cfg, attn, h = self.cfg, self.attn, self.cfg.n_heads
        if cfg.use_split_qkv_input:  # each head reads its own copy of the residual (direct-path patching)
            q_in, k_in, v_in = (self.ln1(hook(_per_head(resid, h)))
                                for hook in (attn.hook_q_input, attn.hook_k_input, attn.hook_v_input))
        elif cfg.use_attn_in:
            q_in = k_in = v_in = self.ln1(attn.hook_attn_in(_per_head(resid, h)))
        else:
            q_in = k_in = v_in = self.ln1(resid)
        resid = self.hook_resid_mid(resid + self.hook_attn_out(attn(q_in, k_in, v_in)))
        mlp_in = self.hook_mlp_in(resid.clone()) if cfg.use_hook_mlp_in else resid
        return self.hook_resid_post(resid + self.hook_mlp_out(self.mlp(self.ln2(mlp_in))))


class HookedTransformer(TransformerLensSurface, HookedModel):
    """One-layer (by default) transformer on ``[a_1, ..., a_k, =]`` with a readout at '='.

    Accepts ``[batch, k]`` operands or ``[batch, k+1]`` full sequences ending in '='
    (token ``p``); returns ``[batch, p]`` logits at the last position. TransformerLens's
    model protocol (``tokens_to_residual_directions``, ``accumulated_bias``, ``unembed``,
    ``QK`` / ``OV``, the ``set_use_*`` switches) comes from
    :class:`~fourier_interp.models.tl_protocol.TransformerLensSurface`, and TransformerLens
    weight processing from :meth:`process_weights_`.
    """

    config_class = TransformerConfig

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        if not isinstance(cfg, TransformerConfig):
            raise TypeError(f"cfg must be a TransformerConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        gen = init_generator(cfg)
        self.W_E = normal(gen, cfg.d_vocab, cfg.d_model, std=cfg.d_model**-0.5)
        self.W_pos = normal(gen, cfg.n_ctx, cfg.d_model, std=cfg.d_model**-0.5)
        self.hook_embed = HookPoint()  # [batch, pos, d_model]
        self.hook_pos_embed = HookPoint()  # [batch, pos, d_model]
        self.blocks = nn.ModuleList([TransformerBlock(cfg, gen) for _ in range(cfg.n_layers)])
        self.ln_final = _make_norm(cfg)
        self.W_U = normal(gen, cfg.d_model, cfg.d_vocab_out, std=cfg.d_vocab_out**-0.5)
        if cfg.unembed_bias:
            self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab_out))
        else:  # not saved: a checkpoint without an unembedding bias has none
            self.register_buffer("b_U", torch.zeros(cfg.d_vocab_out), persistent=False)
        self.hook_logits = HookPoint()  # [batch, p]
        self.to(cfg.device)
        self.setup()

    # ------------------------------------------------------------ tokens
    def to_tokens(self, inputs: Union[Int[Tensor, "batch k"], str, Sequence[str]]) -> Int[Tensor, "batch n_ctx"]:
        """Operands ``[batch, k]`` -> full sequences ``[batch, k+1]`` ending in the '=' token.

        Also takes strings of space-separated tokens (``"3 4 ="`` or ``"3 4"``), one or a
        list, as TransformerLens utilities that start from text do.

        Example:
            >>> import torch, fourier_interp as fi
            >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, d_mlp=32))
            >>> model.to_tokens(torch.tensor([[3, 4]])).tolist(), model.to_tokens("3 4 =").tolist()
            ([[3, 4, 7]], [[3, 4, 7]])
        """
        if isinstance(inputs, str) or (isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], str)):
            texts = [inputs] if isinstance(inputs, str) else list(inputs)
            rows = [[self.to_single_token(t) for t in text.split()] for text in texts]
            eq = [self.cfg.eq_token]
            inputs = torch.tensor([row if row[-1:] == eq else row + eq for row in rows])
        inputs = self.check_inputs(inputs, extra_positions=1)
        if inputs.shape[1] == self.cfg.n_ctx:
            if not bool((inputs[:, -1] == self.cfg.eq_token).all()):
                raise ValueError(f"a [batch, {self.cfg.n_ctx}] sequence must end in the '=' token {self.cfg.eq_token}")
            return inputs
        eq = torch.full((inputs.shape[0], 1), self.cfg.eq_token, dtype=torch.long, device=inputs.device)
        return torch.cat([inputs, eq], dim=1)

    def prepare_tokens(self, inputs: Tensor) -> Int[Tensor, "batch n_ctx"]:
        return self.to_tokens(inputs)

    # ----------------------------------------------------------- forward
    def forward(
        self,
        inputs: Int[Tensor, "batch k"],
        return_type: Optional[str] = "logits",
        *,
        labels: Optional[Tensor] = None,
        all_positions: Optional[bool] = None,
    ) -> Union[Float[Tensor, "batch p"], Float[Tensor, "batch pos p"], Tensor, tuple, None]:
        """Logits ``[batch, p]`` at '=' (``return_type="logits"``), or the loss (see :meth:`readout`).

        With ``all_positions=True`` (default: ``cfg.logits_all_positions``) the logits are
        ``[batch, pos, p]``, every position unembedded as in TransformerLens; the loss
        still reads the last position.

        Example:
            >>> import fourier_interp as fi
            >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, d_mlp=32))
            >>> inputs = fi.ModularArithmetic(p=7).inputs
            >>> every = model(inputs, all_positions=True)
            >>> every.shape, bool((every[:, -1] == model(inputs)).all())
            (torch.Size([49, 3, 7]), True)
        """
        tokens = self.to_tokens(inputs)
        embed = self.hook_embed(self.W_E[tokens])
        pos_embed = self.hook_pos_embed(self.W_pos.expand(tokens.shape[0], -1, -1))
        resid = embed + pos_embed
        for block in self.blocks:
            resid = block(resid)
        if not (self.cfg.logits_all_positions if all_positions is None else all_positions):
            logits = self.hook_logits(self._unembed(self.ln_final(resid)[:, -1]))  # [batch, p]
            return self.readout(logits, tokens, return_type, labels=labels)
        logits = self.hook_logits(self._unembed(self.ln_final(resid)))  # [batch, pos, p]
        out = self.readout(logits[:, -1], tokens, return_type, labels=labels)
        if return_type == "logits":
            return logits
        return (logits, out[1]) if return_type == "both" else out

    def _unembed(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... p"]:
        return x @ self.W_U + self.b_U if self.cfg.unembed_bias else x @ self.W_U

    def fast_logits(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        """The forward maths, computing only what the readout needs and bypassing hooks.

        One layer without LayerNorm or biases (nanda2023): the residual at each operand
        position is a pure lookup over the vocabulary and the query at '=' is constant, so
        attention scores and values are per-token tables gathered per example; the
        attention output, MLP and unembedding run at the last position only. Other
        architectures run their earlier layers in full and the last layer at the last
        position only.
        """
        return self.fast_forward(self.to_tokens(inputs))

    def fast_forward(self, tokens: Int[Tensor, "batch n_ctx"]) -> Float[Tensor, "batch p"]:
        """:meth:`fast_logits` on already-checked ``[batch, k+1]`` tokens (vmap-safe: no checks)."""
        cfg = self.cfg
        if cfg.n_layers == 1 and cfg.normalization_type is None and not (cfg.attn_bias or cfg.unembed_bias):
            return self._fast_one_layer(tokens[:, : cfg.k])
        resid = self.W_E[tokens] + self.W_pos
        for block in self.blocks[:-1]:
            resid = block(resid)
        last = self.blocks[-1]
        x = resid[:, -1] + _attend_last(last.attn, last.ln1(resid))
        x = x + last.mlp(last.ln2(x))
        return self._unembed(self.ln_final(x))

    def _fast_one_layer(self, operands: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        cfg, attn, mlp = self.cfg, self.blocks[0].attn, self.blocks[0].mlp
        p, k = cfg.p, cfg.k
        resid_ops = (self.W_E[:p].unsqueeze(0) + self.W_pos[:k].unsqueeze(1)).reshape(k * p, cfg.d_model)
        resid_eq = self.W_E[p] + self.W_pos[k]  # the '=' position: the same for every example
        q_eq = einsum(resid_eq, attn.W_Q, "d, h d e -> h e") / math.sqrt(cfg.d_head)
        k_dir = einsum(attn.W_K, q_eq, "h d e, h e -> d h")  # score of a residual = resid @ k_dir
        score_table = resid_ops @ k_dir  # [k*p, head]
        v_table = einsum(resid_ops, attn.W_V, "n d, h d e -> n h e")  # [k*p, head, d_head]
        rows = operands + torch.arange(k, device=operands.device) * p  # [batch, k] rows of the tables
        scores = torch.cat([lookup(score_table, rows), (resid_eq @ k_dir).expand(len(rows), 1, -1)], dim=1)
        pattern = scores.softmax(dim=1)  # [batch, k+1, head]
        if cfg.attn_coeff != 1.0:  # the '=' query sees every position: constant weight 1 each
            pattern = cfg.attn_coeff * pattern + (1.0 - cfg.attn_coeff)
        v_eq = einsum(resid_eq, attn.W_V, "d, h d e -> h e")
        z = (pattern[:, :k, :, None] * lookup(v_table, rows)).sum(1) + pattern[:, k, :, None] * v_eq  # [batch, head, d_head]
        x = torch.addmm(resid_eq, z.flatten(1), attn.W_O.flatten(0, 1))  # resid_mid at '='
        x = x + torch.addmm(mlp.b_out, mlp.act(torch.addmm(mlp.b_in, x, mlp.W_in)), mlp.W_out)
        return x @ self.W_U

    # ----------------------------------------------------------- analysis
    def analysis_spec(self) -> AnalysisSpec:
        """Roles for the analyses: the MLP units of ``cfg.analysis_layer`` (default the last) at '='."""
        layer = self.cfg.n_layers - 1 if self.cfg.analysis_layer is None else self.cfg.analysis_layer
        return AnalysisSpec(
            neurons=f"blocks.{layer}.mlp.hook_post",
            units=tuple(f"blocks.{l}.mlp.hook_post" for l in range(self.cfg.n_layers)),
            unit_position=-1,
            embed=self.W_E[: self.cfg.p].detach(),
            unembed=self.W_U.detach(),
            weight_matrices={"W_E": self.W_E[: self.cfg.p].detach(), "W_U": self.W_U.detach().T},
            token_params={"W_E": (0, "embed"), "W_U": (1, "unembed")},
            attention_pattern=f"blocks.{layer}.attn.hook_pattern",
            activation=self.cfg.act_fn,
            operand_embed="hook_embed",
            evidence={"attention"},
        )

    # ------------------------------------------- TransformerLens-style views
    def _stack(self, attr: str, sub: str) -> Tensor:
        return torch.stack([getattr(getattr(b, sub), attr) for b in self.blocks])

    W_Q = property(lambda self: self._stack("W_Q", "attn"), doc="[n_layers, n_heads, d_model, d_head]")
    W_K = property(lambda self: self._stack("W_K", "attn"), doc="[n_layers, n_heads, d_model, d_head]")
    W_V = property(lambda self: self._stack("W_V", "attn"), doc="[n_layers, n_heads, d_model, d_head]")
    W_O = property(lambda self: self._stack("W_O", "attn"), doc="[n_layers, n_heads, d_head, d_model]")
    W_in = property(lambda self: self._stack("W_in", "mlp"), doc="[n_layers, d_model, d_mlp]")
    W_out = property(lambda self: self._stack("W_out", "mlp"), doc="[n_layers, d_mlp, d_model]")
    b_in = property(lambda self: self._stack("b_in", "mlp"), doc="[n_layers, d_mlp]")
    b_out = property(lambda self: self._stack("b_out", "mlp"), doc="[n_layers, d_model]")


def _mix(softmax: Tensor, masked: Tensor, attn_coeff: float) -> Tensor:
    """Zhong et al.'s attention rate: ``c * softmax + (1 - c)`` on the positions a query may see.

    ``attn_coeff = 0`` is their *constant attention* (every visible position weighted 1, so
    the '=' query sums the operands' values, the set-up that favours the pizza algorithm);
    1 is ordinary softmax attention.
    """
    if attn_coeff == 1.0:
        return softmax
    return (attn_coeff * softmax + (1.0 - attn_coeff)).masked_fill(masked, 0.0)


def _per_head(x: Float[Tensor, "batch pos d_model"], n_heads: int) -> Float[Tensor, "batch pos head d_model"]:
    """A copy of ``x`` for every head (a real copy: hooks may edit one head's in place)."""
    return x.unsqueeze(2).repeat(1, 1, n_heads, 1)


def _heads(x: Float[Tensor, "batch pos d_model"], w: Float[Tensor, "head d_model d_head"]) -> Tensor:
    """``einsum(x, w, "b p d, h d e -> b p h e")`` as one matmul against ``[d_model, head * d_head]``."""
    h, d, e = w.shape
    return (x.reshape(-1, d) @ w.permute(1, 0, 2).reshape(d, h * e)).view(*x.shape[:-1], h, e)


def _linear(x: Float[Tensor, "... d_in"], w: Float[Tensor, "d_in d_out"], b: Float[Tensor, " d_out"]) -> Tensor:
    """``x @ w + b`` as one fused matmul-and-add over the flattened leading axes."""
    return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).view(*x.shape[:-1], w.shape[-1])


def _attend_last(attn: Attention, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch d_model"]:
    """Attention output at the last position only (it attends to every position)."""
    q = einsum(x[:, -1], attn.W_Q, "b d, h d e -> b h e") + attn.b_Q
    k = einsum(x, attn.W_K, "b k d, h d e -> b k h e") + attn.b_K
    v = einsum(x, attn.W_V, "b k d, h d e -> b k h e") + attn.b_V
    pattern = (einsum(q, k, "b h e, b k h e -> b h k") / math.sqrt(attn.cfg.d_head)).softmax(-1)
    c = attn.cfg.attn_coeff
    if c != 1.0:  # the last query sees every position
        pattern = c * pattern + (1.0 - c)
    z = einsum(pattern, v, "b h k, b k h e -> b h e")
    return einsum(z, attn.W_O, "b h e, h e d -> b d") + attn.b_O
