"""The transformer's model: embeddings, the blocks, the readout at '=' — one forward, two ways to run it.

:meth:`TransformerCore.forward` is the hooked forward (every hook point fires, every position
is computed); :meth:`TransformerCore.fast_forward`, the training path, runs the same
:meth:`TransformerCore.residual` with hooks off and only what the readout needs: the last
block at the '=' position only, and layer 0's Q/K/V projections on the table of its
(position, token) residuals (see :meth:`~.layers.TransformerBlock.forward`). A one-block
model without normalisation (``nanda2023``) goes further: its linear maps fold into each
other (:meth:`~.layers.TransformerBlock.folded_logits`), about 15% less arithmetic per step.

The public class, :class:`fourier_interp.models.transformer.HookedTransformer`, adds the
TransformerLens model protocol (:mod:`.tl_protocol`) on top of this core.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens.hook_points import HookPoint

from ...errors import InvalidArgumentError
from ..base import AnalysisSpec, HookedModel, init_generator, normal
from .config import TransformerConfig
from .layers import TransformerBlock, make_norm


class TransformerCore(HookedModel, register=False):
    """The transformer's weights and forward, without the TransformerLens protocol (see the module docstring).

    Build :class:`~fourier_interp.models.transformer.HookedTransformer`, not this class.
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
        self.ln_final = make_norm(cfg)
        self.W_U = normal(gen, cfg.d_model, cfg.d_vocab_out, std=cfg.d_vocab_out**-0.5)
        if cfg.unembed_bias:
            self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab_out))
        else:  # not saved: a checkpoint without an unembedding bias has none
            self.register_buffer("b_U", torch.zeros(cfg.d_vocab_out), persistent=False)
        self.hook_logits = HookPoint()  # [batch, p]  ([batch, pos, p] with logits_all_positions)
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
                raise InvalidArgumentError(f"a [batch, {self.cfg.n_ctx}] sequence must end in the '=' token {self.cfg.eq_token}")
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
            >>> import torch, fourier_interp as fi
            >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, d_mlp=32))
            >>> inputs = fi.ModularArithmetic(p=7).inputs
            >>> every = model(inputs, all_positions=True)
            >>> every.shape, torch.allclose(every[:, -1], model(inputs), atol=1e-6)
            (torch.Size([49, 3, 7]), True)
        """
        tokens = self.to_tokens(inputs)
        resid = self.residual(tokens)  # [batch, pos, d_model], after ln_final
        if not (self.cfg.logits_all_positions if all_positions is None else all_positions):
            logits = self.hook_logits(self._unembed(resid[:, -1]))  # [batch, p]
            return self.readout(logits, tokens, return_type, labels=labels)
        logits = self.hook_logits(self._unembed(resid))  # [batch, pos, p]
        out = self.readout(logits[:, -1], tokens, return_type, labels=labels)
        if return_type == "logits":
            return logits
        return (logits, out[1]) if return_type == "both" else out

    def fast_logits(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        """The forward's logits at '=', computed by :meth:`fast_forward` (hooks off, readout only).

        Example:
            >>> import torch, fourier_interp as fi
            >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, d_mlp=32))
            >>> x = fi.ModularArithmetic(p=7).inputs
            >>> torch.allclose(model.fast_logits(x), model(x), atol=1e-6)
            True
        """
        return self.fast_forward(self.to_tokens(inputs))

    def fast_forward(self, tokens: Int[Tensor, "batch n_ctx"]) -> Float[Tensor, "batch p"]:
        """:meth:`fast_logits` on already-checked ``[batch, k+1]`` tokens (vmap-safe: no checks).

        A one-block model without normalisation folds its linear maps into each other
        (:meth:`~.layers.TransformerBlock.folded_logits`); any other runs :meth:`residual`.
        """
        cfg = self.cfg
        if cfg.n_layers == 1 and cfg.normalization_type is None:
            table, rows = self._embedding_table(tokens)
            query_row = (cfg.n_ctx - 1) * cfg.d_vocab + cfg.eq_token
            return self.blocks[0].folded_logits(table, rows, query_row, self.W_U, self.b_U if cfg.unembed_bias else None)
        return self._unembed(self.residual(tokens, fast=True)[:, -1])

    def residual(self, tokens: Int[Tensor, "batch n_ctx"], fast: bool = False) -> Float[Tensor, "batch pos d_model"]:
        """The final residual stream after ``ln_final``: the one forward both paths run.

        Args:
            tokens: ``[batch, k+1]`` tokens ending in '='.
            fast: The training path: hooks off, and only the '=' position at the last
                block (``[batch, 1, d_model]``). Layer 0 then reads its residual from the
                table of ``W_E[token] + W_pos[pos]`` over every (position, token), so its
                pre-attention maths runs on ``n_ctx * d_vocab`` rows instead of the batch's.
        """
        cfg, last = self.cfg, len(self.blocks) - 1
        if fast:
            resid, rows = self._embedding_table(tokens)
            resid = self.blocks[0](resid, hooked=False, last_only=last == 0, rows=rows)
        else:
            embed = self.hook_embed(self.W_E[tokens])  # [batch, pos, d_model]
            pos_embed = self.hook_pos_embed(self.W_pos.expand(tokens.shape[0], -1, -1))  # [batch, pos, d_model]
            resid = self.blocks[0](embed + pos_embed)
        for i, block in enumerate(self.blocks[1:], start=1):
            resid = block(resid, hooked=not fast, last_only=fast and i == last)
        return self.ln_final(resid, hooked=not fast)

    def _embedding_table(self, tokens: Int[Tensor, "batch n_ctx"]) -> tuple[Tensor, Tensor]:
        """Layer 0's residual for every (position, token), ``[n_ctx * d_vocab, d_model]``, and each example's rows of it ``[batch, pos]``."""
        cfg = self.cfg
        rows = tokens + torch.arange(cfg.n_ctx, device=tokens.device) * cfg.d_vocab
        return (self.W_pos[:, None] + self.W_E[None]).flatten(0, 1), rows

    def _unembed(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... p"]:
        return x @ self.W_U + self.b_U if self.cfg.unembed_bias else x @ self.W_U

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
