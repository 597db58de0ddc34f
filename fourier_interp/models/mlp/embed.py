"""Embed each operand, combine, one ReLU layer (Gromov 2023; Chughtai et al. 2023).

    pre    = concat_j(W_E[a_j]) @ W_in + b_in      (combine="concat", the default)
    pre    = (sum_j W_E[a_j]) @ W_in + b_in        (combine="sum": summed embeddings, the
                                                    set-up Zhong et al. find prone to the pizza)
    logits = relu(pre) @ W_out + b_out

Both combinations are a sum over operands of ``W_E[a_j] @ B_j`` (``B_j`` operand j's block of
``W_in``, or ``W_in`` itself for "sum"): :func:`operand_inputs`. The hooked forward
applies it to each example's embeddings (so ``hook_embed`` edits reach the units); the
training path applies it once to the embedding table and gathers the rows.

Hooks: ``hook_embed`` [batch, k, d_embed], ``hook_pre`` and ``hook_post`` [batch, d_hidden],
``hook_logits`` [batch, p].

Example:
    >>> import fourier_interp as fi
    >>> model = fi.HookedMLP(fi.MLPConfig(p=7, form="embed_relu", d_embed=16, d_hidden=32))
    >>> type(model).__name__, model(fi.ModularArithmetic(p=7).inputs).shape
    ('EmbedMLP', torch.Size([49, 7]))
"""

from __future__ import annotations

import torch
from einops import einsum
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens.hook_points import HookPoint

from ..base import AnalysisSpec, normal
from .base import HookedMLP, sum_of_rows


class EmbedMLP(HookedMLP, form="embed_relu"):
    """``MLPConfig(form="embed_relu")``: token embeddings, concatenated or summed, into a ReLU layer."""

    def _build(self, gen: torch.Generator) -> None:
        cfg = self.cfg
        p, k, m, s = cfg.p, cfg.k, cfg.d_hidden, cfg.init_scale
        self.W_E = normal(gen, p, cfg.d_embed, std=s)
        d_in = cfg.d_embed * (k if cfg.combine == "concat" else 1)
        self.W_in = normal(gen, d_in, m, std=s * d_in**-0.5)
        self.b_in = nn.Parameter(torch.zeros(m))
        self.W_out = normal(gen, m, p, std=s * m**-0.5)
        self.b_out = nn.Parameter(torch.zeros(p))
        self.hook_embed = HookPoint()  # [batch, k, d_embed]

    def unit_input_tables(self) -> Float[Tensor, "k p d_hidden"]:
        return operand_inputs(self, self.W_E.expand(self.cfg.k, -1, -1))

    def pre_activation(self, tokens: Int[Tensor, "batch k"], hooked: bool = True) -> Float[Tensor, "batch d_hidden"]:
        if hooked:  # through each example's embeddings, which hook_embed may edit
            embed = self.hook_embed(self.W_E[tokens])  # [batch, k, d_embed]
            return operand_inputs(self, embed.transpose(0, 1)).sum(0) + self.b_in
        return sum_of_rows(self.unit_input_tables(), tokens) + self.b_in

    def activation(self, pre: Float[Tensor, "batch d_hidden"]) -> Float[Tensor, "batch d_hidden"]:
        return torch.relu(pre)

    def unembed(self, post: Float[Tensor, "batch d_hidden"]) -> Float[Tensor, "batch p"]:
        return post @ self.W_out + self.b_out

    def analysis_spec(self) -> AnalysisSpec:
        return AnalysisSpec(
            neurons="hook_post",
            embed=self.W_E.detach(),
            unembed=self.W_out.detach(),
            unit_input_weights=self.unit_input_tables().detach().permute(2, 0, 1),  # [units, k, p]
            unit_output_weights=self.W_out.detach(),
            activation="relu",
            harmonic_order=2,  # ReLU's harmonics are led by 2f
            evidence={"neuron_alignment"},
            operand_embed="hook_embed",
            weight_matrices={"W_E": self.W_E.detach(), "W_out": self.W_out.detach().T},
            token_params={"W_E": (0, "embed"), "W_out": (1, "unembed")},
        )


def operand_inputs(model: EmbedMLP, embed: Float[Tensor, "k *rows d_embed"]) -> Float[Tensor, "k *rows d_hidden"]:
    """Each operand's contribution to ``model``'s pre-activation (before ``b_in``), from its embedding.

    A function of the model rather than a method, so a subclass of ``HookedMLP`` itself
    (which runs EmbedMLP's pieces, see :class:`~.base.HookedMLP`) reaches it too.
    """
    cfg = model.cfg
    if cfg.combine == "sum":  # every operand meets the same input weights
        return embed @ model.W_in
    blocks = model.W_in.view(cfg.k, cfg.d_embed, cfg.d_hidden)  # operand j's rows of W_in
    return einsum(embed, blocks, "k ... d, k d m -> k ... m")
