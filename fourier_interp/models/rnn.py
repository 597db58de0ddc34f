"""A vanilla (Elman) RNN for modular arithmetic: one operand per step, readout from the last state.

    x_t = W_E[a_t]                                     (embedding)
    h_t = act(x_t @ W_ih + h_{t-1} @ W_hh + b_h)       (h_0 = 0; stacked layers read h of the layer below)
    logits = h_k @ W_out + b_out

The setting of Rangamani (ICASSP 2025) on addition mod p. Hooks:

    hook_embed                          [batch, pos, d_embed]
    layers.{l}.steps.{t}.hook_pre       [batch, d_hidden]   pre-activation at step t
    layers.{l}.steps.{t}.hook_hidden    [batch, d_hidden]   hidden state at step t
    layers.{l}.hook_pre                 [batch, pos, d_hidden]   all steps, after the recurrence
    layers.{l}.hook_hidden              [batch, pos, d_hidden]   all steps, after the recurrence
    hook_logits                         [batch, p]

Edits at a per-step hook propagate through the recurrence to later steps. The stacked
``layers.{l}.hook_hidden`` fires once the layer has run every step: it is the sequence the
next layer and the readout see (the readout reads its last position), so edits there reach
the layers above and the output, but not the layer's own recurrence.

Example:
    >>> import fourier_interp as fi
    >>> model = fi.HookedRNN(fi.RNNConfig(p=7))
    >>> model(fi.ModularArithmetic(p=7).inputs).shape
    torch.Size([49, 7])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens.hook_points import HookPoint

from ..errors import InvalidArgumentError
from .base import AnalysisSpec, HookedModel, ModelConfig, activation_fn, hooks, init_generator, lookup, normal


@dataclass
class RNNConfig(ModelConfig):
    """Architecture of :class:`HookedRNN`. ``init_scale`` multiplies the 1/sqrt(fan_in) init."""

    d_embed: int = 128
    d_hidden: int = 128
    n_layers: int = 1
    act_fn: str = "relu"
    init_scale: float = 1.0

    def __post_init__(self):
        self._check()
        self._check_positive("d_embed", "d_hidden", "n_layers")
        self._check_choice("act_fn", ("relu", "tanh"))
        if not (isinstance(self.init_scale, (int, float)) and self.init_scale > 0):
            raise InvalidArgumentError(f"RNNConfig.init_scale={self.init_scale!r}: expected a positive float")


class RNNStep(nn.Module):
    """Hook points of one step of one layer (no parameters)."""

    def __init__(self):
        super().__init__()
        self.hook_pre = HookPoint()  # [batch, d_hidden]
        self.hook_hidden = HookPoint()  # [batch, d_hidden]


class RNNLayer(nn.Module):
    def __init__(self, cfg: RNNConfig, d_in: int, gen: torch.Generator):
        super().__init__()
        s = cfg.init_scale
        self.W_ih = normal(gen, d_in, cfg.d_hidden, std=s * d_in**-0.5)
        self.W_hh = normal(gen, cfg.d_hidden, cfg.d_hidden, std=s * cfg.d_hidden**-0.5)
        self.b_h = nn.Parameter(torch.zeros(cfg.d_hidden))
        self.act = activation_fn(cfg.act_fn)
        self.steps = nn.ModuleList([RNNStep() for _ in range(cfg.k)])
        self.hook_pre = HookPoint()  # [batch, pos, d_hidden]
        self.hook_hidden = HookPoint()  # [batch, pos, d_hidden]

    def forward(
        self,
        x: Float[Tensor, "batch pos d_in"],
        hooked: bool = True,
        tokens: Optional[Int[Tensor, "batch pos"]] = None,
        last_only: bool = False,
    ) -> Float[Tensor, "batch pos d_hidden"]:
        """The recurrence, step by step: the hidden states ``[batch, pos, d_hidden]``.

        Args:
            x: The input at every step.
            hooked: Fire the hook points (``False``: the same maths, hooks as identities).
            tokens: Hook-free first layer only. ``x`` is then the per-token table of inputs
                ``[d_vocab, d_in]`` and ``tokens`` ``[batch, pos]`` pick each step's row. The
                input drive is computed on the table, and so is the first step (its state
                depends on the first token alone) and that state's recurrent term; the
                steps after it run per example.
            last_only: Return only the last state, ``[batch, 1, d_hidden]``.
        """
        drive = x @ self.W_ih + self.b_h  # input contribution at every step at once (per token with tokens)
        state, pres, hiddens = None, [], []
        for t, step in enumerate(self.steps):
            h = hooks(step, hooked)
            if tokens is None:
                drive_t = drive[:, t]
            else:
                drive_t = drive if t == 0 else lookup(drive, tokens[:, t])  # [d_vocab, d_hidden] at step 0
            if state is None:
                pre = drive_t
            else:
                recurrent = state @ self.W_hh
                if tokens is not None and t == 1:  # the first state is still a per-token table
                    recurrent = lookup(recurrent, tokens[:, 0])
                pre = drive_t + recurrent
            state = h.hook_hidden(self.act(h.hook_pre(pre)))
            pres.append(pre)
            hiddens.append(state)
        if tokens is not None and (len(hiddens) == 1 or not last_only):  # the first step's rows, per example
            pres[0], hiddens[0] = lookup(pres[0], tokens[:, 0]), lookup(hiddens[0], tokens[:, 0])
        if last_only:
            return hiddens[-1][:, None]
        if hooked:
            self.hook_pre(torch.stack(pres, dim=1))
        return hooks(self, hooked).hook_hidden(torch.stack(hiddens, dim=1))


class HookedRNN(HookedModel):
    """Elman RNN reading ``[batch, k]`` operands one per step; ``[batch, p]`` logits."""

    config_class = RNNConfig

    def __init__(self, cfg: RNNConfig):
        super().__init__()
        if not isinstance(cfg, RNNConfig):
            raise TypeError(f"cfg must be an RNNConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        gen = init_generator(cfg)
        self.W_E = normal(gen, cfg.p, cfg.d_embed, std=cfg.init_scale)
        self.hook_embed = HookPoint()  # [batch, pos, d_embed]
        d_ins = [cfg.d_embed] + [cfg.d_hidden] * (cfg.n_layers - 1)
        self.layers = nn.ModuleList([RNNLayer(cfg, d_in, gen) for d_in in d_ins])
        self.W_out = normal(gen, cfg.d_hidden, cfg.p, std=cfg.init_scale * cfg.d_hidden**-0.5)
        self.b_out = nn.Parameter(torch.zeros(cfg.p))
        self.hook_logits = HookPoint()  # [batch, p]
        self.to(cfg.device)
        self.setup()

    def forward(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        return self.hook_logits(self._readout(self.hidden(self.check_inputs(inputs))))

    def fast_logits(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        """The forward's logits, computed by :meth:`fast_forward` (hooks off, first step on the token table)."""
        return self.fast_forward(self.check_inputs(inputs))

    def fast_forward(self, tokens: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        """:meth:`fast_logits` on already-checked tokens (vmap-safe: no checks)."""
        return self._readout(self.hidden(tokens, fast=True))

    def hidden(self, tokens: Int[Tensor, "batch k"], fast: bool = False) -> Float[Tensor, "batch pos d_hidden"]:
        """The last layer's hidden states: the one forward both paths run.

        Args:
            tokens: Checked ``[batch, k]`` operands.
            fast: The training path: hooks off, the first layer run on the embedding table
                (``W_E`` itself, see :meth:`RNNLayer.forward`), and only the last state of the
                last layer (``[batch, 1, d_hidden]``).
        """
        last = len(self.layers) - 1
        if fast:
            x = self.layers[0](self.W_E, hooked=False, tokens=tokens, last_only=last == 0)
        else:
            x = self.layers[0](self.hook_embed(self.W_E[tokens]))  # [batch, pos, d_embed] in
        for i, layer in enumerate(self.layers[1:], start=1):
            x = layer(x, hooked=not fast, last_only=fast and i == last)
        return x

    def _readout(self, hidden: Float[Tensor, "batch pos d_hidden"]) -> Float[Tensor, "batch p"]:
        return hidden[:, -1] @ self.W_out + self.b_out

    def analysis_spec(self) -> AnalysisSpec:
        last = self.cfg.n_layers - 1
        mats = {"W_E": self.W_E.detach(), "W_out": self.W_out.detach().T}
        for i, layer in enumerate(self.layers):
            mats[f"layers.{i}.W_ih"] = layer.W_ih.detach()
            mats[f"layers.{i}.W_hh"] = layer.W_hh.detach()
        return AnalysisSpec(
            neurons=f"layers.{last}.steps.{self.cfg.k - 1}.hook_hidden",
            embed=self.W_E.detach(),
            unembed=self.W_out.detach(),
            weight_matrices=mats,
            token_params={"W_E": (0, "embed"), "W_out": (1, "unembed")},
            activation=self.cfg.act_fn,
            operand_embed="hook_embed",
            evidence={"low_rank"},
        )
