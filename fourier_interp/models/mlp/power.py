"""The stylised network of Li et al. (AISTATS 2025): a power activation and no biases.

    pre_i  = sum_j U[j, a_j, i]           (u_{i,j} = U[j, :, i])
    post_i = pre_i ** power               (power defaults to k)
    logits = post @ W_out                 (w_i = W_out[i])

Hooks: ``hook_pre`` and ``hook_post`` [batch, d_hidden], ``hook_logits`` [batch, p].

Example:
    >>> import fourier_interp as fi
    >>> model = fi.HookedMLP(fi.MLPConfig(p=7, k=3))
    >>> type(model).__name__, model.cfg.d_hidden   # Li et al.'s width 2^(2k-2) (p-1)
    ('PowerMLP', 96)
    >>> model(fi.ModularArithmetic(p=7, k=3).inputs).shape
    torch.Size([343, 7])
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..base import AnalysisSpec, normal, power
from .base import HookedMLP, sum_of_rows


class PowerMLP(HookedMLP, form="power"):
    """``MLPConfig(form="power")``: the input weights are the per-operand tables themselves."""

    def _build(self, gen: torch.Generator) -> None:
        p, k, m, s = self.cfg.p, self.cfg.k, self.cfg.d_hidden, self.cfg.init_scale
        self.U = normal(gen, k, p, m, std=s * p**-0.5)  # U[j, a, i] = u_{i,j}(a)
        self.W_out = normal(gen, m, p, std=s * p**-0.5)  # W_out[i] = w_i

    def unit_input_tables(self) -> Float[Tensor, "k p d_hidden"]:
        return self.U

    def pre_activation(self, tokens: Int[Tensor, "batch k"], hooked: bool = True) -> Float[Tensor, "batch d_hidden"]:
        return sum_of_rows(self.U, tokens)

    def activation(self, pre: Float[Tensor, "batch d_hidden"]) -> Float[Tensor, "batch d_hidden"]:
        return power(pre, self.cfg.power)

    def unembed(self, post: Float[Tensor, "batch d_hidden"]) -> Float[Tensor, "batch p"]:
        return post @ self.W_out

    def analysis_spec(self) -> AnalysisSpec:
        weights = {f"U[{j}]": self.U[j].detach() for j in range(self.cfg.k)}
        weights["W_out"] = self.W_out.detach().T
        return AnalysisSpec(
            neurons="hook_post",
            unembed=self.W_out.detach(),
            unit_input_weights=self.U.detach().permute(2, 0, 1),  # [units, k, p]
            unit_output_weights=self.W_out.detach(),
            activation="power",
            harmonic_order=self.cfg.power,  # x^n turns frequency f into 2f, ..., nf
            evidence={"neuron_alignment", "phase_relation"},
            weight_matrices=weights,
            token_params={"U": (1, "unit_input"), "W_out": (1, "unembed")},
        )
