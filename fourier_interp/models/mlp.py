"""One-hidden-layer networks over k operands, in two forms.

``form="power"`` — the stylised network of Li et al. (AISTATS 2025), no biases:

    pre_i  = sum_j U[j, a_j, i]           (u_{i,j} = U[j, :, i])
    post_i = pre_i ** power               (power defaults to k)
    logits = post @ W_out                 (w_i = W_out[i])

``form="embed_relu"`` — embed each operand, concatenate, ReLU (Gromov 2023; Chughtai et al. 2023):

    pre    = concat_j(W_E[a_j]) @ W_in + b_in      (combine="concat", the default)
    pre    = (sum_j W_E[a_j]) @ W_in + b_in        (combine="sum": summed embeddings, the
                                                    set-up Zhong et al. find prone to the pizza)
    logits = relu(pre) @ W_out + b_out

Hooks: ``hook_embed`` [batch, k, d_embed] (embed_relu only), ``hook_pre`` and ``hook_post``
[batch, d_hidden], ``hook_logits`` [batch, p].

Example:
    >>> import fourier_interp as fi
    >>> model = fi.HookedMLP(fi.MLPConfig(p=7, k=3))
    >>> model.cfg.d_hidden   # Li et al.'s width 2^(2k-2) (p-1)
    96
    >>> model(fi.ModularArithmetic(p=7, k=3).inputs).shape
    torch.Size([343, 7])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens.hook_points import HookPoint

from .base import AnalysisSpec, HookedModel, ModelConfig, init_generator, lookup, normal, power


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
        self._check_choice("form", ("power", "embed_relu"))
        self._check_choice("combine", ("concat", "sum"))
        if self.d_hidden is None:
            self.d_hidden = 2 ** (2 * self.k - 2) * (self.p - 1) if self.form == "power" else 512
        if self.power is None:
            self.power = self.k
        self._check_positive("d_hidden", "power", "d_embed")
        if not (isinstance(self.init_scale, (int, float)) and self.init_scale > 0):
            raise ValueError(f"MLPConfig.init_scale={self.init_scale!r}: expected a positive float")


class HookedMLP(HookedModel):
    """One hidden layer over ``[batch, k]`` operands; ``[batch, p]`` logits."""

    config_class = MLPConfig

    def __init__(self, cfg: MLPConfig):
        super().__init__()
        if not isinstance(cfg, MLPConfig):
            raise TypeError(f"cfg must be an MLPConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        gen = init_generator(cfg)
        p, k, m, s = cfg.p, cfg.k, cfg.d_hidden, cfg.init_scale
        if cfg.form == "power":
            self.U = normal(gen, k, p, m, std=s * p**-0.5)  # U[j, a, i] = u_{i,j}(a)
            self.W_out = normal(gen, m, p, std=s * p**-0.5)  # W_out[i] = w_i
        else:
            self.W_E = normal(gen, p, cfg.d_embed, std=s)
            d_in = cfg.d_embed * (k if cfg.combine == "concat" else 1)
            self.W_in = normal(gen, d_in, m, std=s * d_in**-0.5)
            self.b_in = nn.Parameter(torch.zeros(m))
            self.W_out = normal(gen, m, p, std=s * m**-0.5)
            self.b_out = nn.Parameter(torch.zeros(p))
            self.hook_embed = HookPoint()  # [batch, k, d_embed]
        self.hook_pre = HookPoint()  # [batch, d_hidden]
        self.hook_post = HookPoint()  # [batch, d_hidden]
        self.hook_logits = HookPoint()  # [batch, p]
        self.to(cfg.device)
        self.setup()

    def _act(self, pre: Tensor) -> Tensor:
        return power(pre, self.cfg.power) if self.cfg.form == "power" else torch.relu(pre)

    def forward(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        tokens = self.check_inputs(inputs)
        if self.cfg.form == "power":
            pre = self.U[torch.arange(self.cfg.k, device=tokens.device), tokens].sum(1)
        else:
            embed = self.hook_embed(self.W_E[tokens])
            pre = (embed.flatten(1) if self.cfg.combine == "concat" else embed.sum(1)) @ self.W_in + self.b_in
        post = self.hook_post(self._act(self.hook_pre(pre)))
        logits = post @ self.W_out
        if self.cfg.form == "embed_relu":
            logits = logits + self.b_out
        return self.hook_logits(logits)

    def fast_logits(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        """Same maths as one fused gather per operand from ``[p, d_hidden]`` tables, no hooks."""
        return self.fast_forward(self.check_inputs(inputs))

    def fast_forward(self, tokens: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        """:meth:`fast_logits` on already-checked tokens (vmap-safe: no checks)."""
        tables = self.unit_input_tables()  # [k, p, d_hidden]
        pre = lookup(tables[0], tokens[:, 0])
        for j in range(1, self.cfg.k):
            pre = pre + lookup(tables[j], tokens[:, j])
        if self.cfg.form == "power":
            return self._act(pre) @ self.W_out
        return (self._act(pre + self.b_in)) @ self.W_out + self.b_out

    def unit_input_tables(self) -> Float[Tensor, "k p d_hidden"]:
        """Each operand's contribution to the hidden pre-activation, per token: ``u_{i,j}(a)``."""
        if self.cfg.form == "power":
            return self.U
        if self.cfg.combine == "sum":  # every operand meets the same input weights
            return (self.W_E @ self.W_in).unsqueeze(0).expand(self.cfg.k, -1, -1)
        blocks = self.W_in.reshape(self.cfg.k, self.cfg.d_embed, self.cfg.d_hidden)
        return torch.einsum("pd,kdm->kpm", self.W_E, blocks)

    def analysis_spec(self) -> AnalysisSpec:
        spec = AnalysisSpec(
            neurons="hook_post",
            unembed=self.W_out.detach(),
            unit_input_weights=self.unit_input_tables().detach().permute(2, 0, 1),  # [units, k, p]
            unit_output_weights=self.W_out.detach(),
            activation="power" if self.cfg.form == "power" else "relu",
            # x^n turns frequency f into 2f, ..., nf; ReLU's harmonics are led by 2f
            harmonic_order=self.cfg.power if self.cfg.form == "power" else 2,
            evidence={"neuron_alignment", "phase_relation"} if self.cfg.form == "power" else {"neuron_alignment"},
        )
        if self.cfg.form == "embed_relu":
            spec.embed = self.W_E.detach()
            spec.operand_embed = "hook_embed"
            spec.weight_matrices = {"W_E": self.W_E.detach(), "W_out": self.W_out.detach().T}
            spec.token_params = {"W_E": (0, "embed"), "W_out": (1, "unembed")}
        else:
            spec.weight_matrices = {f"U[{j}]": self.U[j].detach() for j in range(self.cfg.k)}
            spec.weight_matrices["W_out"] = self.W_out.detach().T
            spec.token_params = {"U": (1, "unit_input"), "W_out": (1, "unembed")}
        return spec
