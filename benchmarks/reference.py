"""Naive reference implementations: the maths of the built-in models, written plainly.

Each reference is built from one of our models' weights (:func:`from_model`) and computes
everything the obvious way, with no per-token tables, no last-position shortcuts and no
HookPoints:

* :class:`ReferenceTransformer` — every position through attention, MLP and unembedding,
  as TransformerLens's ``HookedTransformer`` (and the original grokking notebooks) do;
* :class:`ReferenceRNN` — one-hot inputs times matrices, a Python loop over steps;
* :class:`ReferenceMLP` — one-hot inputs times matrices.

Parameters carry the same names as in our models (``blocks.0.attn.W_Q``, ``layers.0.W_hh``,
``U`` ...), so weights load with ``load_state_dict(strict=True)`` and gradients compare by
name. The benchmarks time our models against these in the same process, after
:func:`check_same_loss` has shown that both give the same loss and gradients.

Example:
    >>> import fourier_interp as fi
    >>> from benchmarks.reference import from_model
    >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7))
    >>> ref = from_model(model)
    >>> inputs = fi.ModularArithmetic(p=7).inputs
    >>> bool((ref(inputs) - model(inputs)).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

_ACTS = {"relu": torch.relu, "gelu": F.gelu, "tanh": torch.tanh}


def _empty(*shape: int, requires_grad: bool = True) -> nn.Parameter:
    """A placeholder parameter; :func:`from_model` overwrites it with the model's weights."""
    return nn.Parameter(torch.zeros(*shape), requires_grad=requires_grad)


# --------------------------------------------------------------- transformer
class _Attention(nn.Module):
    def __init__(self, h: int, d: int, e: int):
        super().__init__()
        self.W_Q, self.W_K, self.W_V = _empty(h, d, e), _empty(h, d, e), _empty(h, d, e)
        self.W_O = _empty(h, e, d)


class _MLP(nn.Module):
    def __init__(self, d: int, m: int, bias: bool):
        super().__init__()
        self.W_in, self.b_in = _empty(d, m), _empty(m, requires_grad=bias)
        self.W_out, self.b_out = _empty(m, d), _empty(d, requires_grad=bias)


class _Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attn = _Attention(cfg.n_heads, cfg.d_model, cfg.d_head)
        self.mlp = _MLP(cfg.d_model, cfg.d_mlp, cfg.mlp_bias)


class ReferenceTransformer(nn.Module):
    """The nanda2023 architecture (any depth, no LayerNorm), every position computed.

    Args:
        cfg: A ``fi.TransformerConfig`` with ``normalization_type=None``.
    """

    def __init__(self, cfg):
        super().__init__()
        if cfg.normalization_type is not None:
            raise ValueError("the reference transformer covers the nanda2023 architecture (no LayerNorm)")
        self.p, self.d_head, self.act = cfg.p, cfg.d_head, _ACTS[cfg.act_fn]
        self.W_E = _empty(cfg.p + 1, cfg.d_model)
        self.W_pos = _empty(cfg.k + 1, cfg.d_model)
        self.blocks = nn.ModuleList([_Block(cfg) for _ in range(cfg.n_layers)])
        self.W_U = _empty(cfg.d_model, cfg.p)

    def residual(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch pos d_model"]:
        """The final residual stream at every position of ``[a_1, ..., a_k, =]``."""
        eq = torch.full((inputs.shape[0], 1), self.p, dtype=inputs.dtype, device=inputs.device)
        tokens = torch.cat([inputs, eq], dim=1)
        n = tokens.shape[1]
        x = self.W_E[tokens] + self.W_pos[:n]
        causal = torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)
        for block in self.blocks:
            a, m = block.attn, block.mlp
            q = torch.einsum("bpd,hde->bphe", x, a.W_Q)
            k = torch.einsum("bpd,hde->bphe", x, a.W_K)
            v = torch.einsum("bpd,hde->bphe", x, a.W_V)
            scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(self.d_head)
            pattern = scores.masked_fill(causal, float("-inf")).softmax(-1)
            z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
            x = x + torch.einsum("bqhe,hed->bqd", z, a.W_O)
            x = x + self.act(x @ m.W_in + m.b_in) @ m.W_out + m.b_out
        return x

    def forward(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        """Logits at every position (as TransformerLens computes them); returns the last."""
        return (self.residual(inputs) @ self.W_U)[:, -1]

    def last_logits(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        """The maths of ``HookedTransformer.forward`` op for op: unembed only the last position.

        Used to measure what HookPoints cost: the same computation without them.
        """
        return self.residual(inputs)[:, -1] @ self.W_U


# ----------------------------------------------------------------------- RNN
class _RNNLayer(nn.Module):
    def __init__(self, d_in: int, d_hidden: int):
        super().__init__()
        self.W_ih, self.W_hh, self.b_h = _empty(d_in, d_hidden), _empty(d_hidden, d_hidden), _empty(d_hidden)


class ReferenceRNN(nn.Module):
    """Elman RNN: one-hot inputs times ``W_E`` and ``W_ih``, a Python loop over steps.

    Args:
        cfg: A ``fi.RNNConfig``.
    """

    def __init__(self, cfg):
        super().__init__()
        self.p, self.act = cfg.p, _ACTS[cfg.act_fn]
        self.W_E = _empty(cfg.p, cfg.d_embed)
        d_ins = [cfg.d_embed] + [cfg.d_hidden] * (cfg.n_layers - 1)
        self.layers = nn.ModuleList([_RNNLayer(d_in, cfg.d_hidden) for d_in in d_ins])
        self.W_out, self.b_out = _empty(cfg.d_hidden, cfg.p), _empty(cfg.p)

    def forward(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        x = F.one_hot(inputs, self.p).to(self.W_E.dtype) @ self.W_E  # [batch, k, d_embed]
        for layer in self.layers:
            h = x.new_zeros(x.shape[0], layer.W_hh.shape[0])  # h_0 = 0, multiplied like any other state
            states = []
            for t in range(x.shape[1]):
                h = self.act(x[:, t] @ layer.W_ih + h @ layer.W_hh + layer.b_h)
                states.append(h)
            x = torch.stack(states, dim=1)
        return x[:, -1] @ self.W_out + self.b_out


# ----------------------------------------------------------------------- MLP
class ReferenceMLP(nn.Module):
    """One hidden layer over one-hot operands, power or embed_relu form.

    Args:
        cfg: A ``fi.MLPConfig``.
    """

    def __init__(self, cfg):
        super().__init__()
        self.p, self.k, self.form, self.power = cfg.p, cfg.k, cfg.form, cfg.power
        m = cfg.d_hidden
        if cfg.form == "power":
            self.U, self.W_out = _empty(cfg.k, cfg.p, m), _empty(m, cfg.p)
        else:
            self.W_E, self.W_in, self.b_in = _empty(cfg.p, cfg.d_embed), _empty(cfg.k * cfg.d_embed, m), _empty(m)
            self.W_out, self.b_out = _empty(m, cfg.p), _empty(cfg.p)

    def forward(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch p"]:
        one_hot = F.one_hot(inputs, self.p).to(self.W_out.dtype)  # [batch, k, p]
        if self.form == "power":
            pre = sum(one_hot[:, j] @ self.U[j] for j in range(self.k))
            return pre.pow(self.power) @ self.W_out
        embed = one_hot @ self.W_E  # [batch, k, d_embed]
        return torch.relu(embed.flatten(1) @ self.W_in + self.b_in) @ self.W_out + self.b_out


# ------------------------------------------------------------------ building
def from_model(model: nn.Module) -> nn.Module:
    """A reference of ``model``'s family holding a copy of its weights (on its device).

    Args:
        model: A ``fi.HookedTransformer``, ``fi.HookedRNN`` or ``fi.HookedMLP``.
    """
    import fourier_interp as fi

    families = {fi.HookedTransformer: ReferenceTransformer, fi.HookedRNN: ReferenceRNN, fi.HookedMLP: ReferenceMLP}
    for family, reference in families.items():
        if isinstance(model, family):
            ref = reference(model.cfg)
            ref.load_state_dict({n: p.detach().clone() for n, p in model.named_parameters()}, strict=True)
            return ref.to(next(model.parameters()).device)
    raise TypeError(f"no reference implementation for {type(model).__name__}")


def without_hookpoints(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose HookPoint calls are plain ``lambda x: x`` functions.

    The same module and the same code, minus the HookPoint modules' call overhead: each
    HookPoint attribute is shadowed by a function in the instance ``__dict__`` (the
    HookPoints stay registered, so ``hook_dict`` and ``state_dict`` are unchanged).
    """
    from transformer_lens.hook_points import HookPoint

    twin = copy.deepcopy(model)
    for module in list(twin.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, HookPoint):
                object.__setattr__(module, name, _identity)
    return twin


def _identity(x: Tensor) -> Tensor:
    return x


def check_same_loss(model: nn.Module, ref: nn.Module, inputs: Tensor, labels: Tensor, tol: float = 1e-5) -> str:
    """Assert our fast and hooked paths and the reference give the same loss and gradients.

    Args:
        model: One of our models.
        ref: ``from_model(model)``.
        inputs, labels: ``[batch, k]`` operands and ``[batch]`` answers.
        tol: Largest allowed absolute loss difference; gradients must agree to
            ``100 * tol`` relative to their largest entry.

    Returns:
        A one-line summary to print.

    Raises:
        AssertionError: If losses or gradients differ beyond tolerance.
    """
    from fourier_interp.training import loss_fn

    paths = {"fast": model.fast_logits, "hooked": model, "reference": ref}
    losses, grads = {}, {}
    for name, forward in paths.items():
        module = ref if name == "reference" else model
        module.zero_grad(set_to_none=True)
        loss = loss_fn(forward(inputs), labels)
        loss.backward()
        losses[name] = float(loss.detach())
        grads[name] = {n: p.grad.detach().clone() for n, p in module.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    ref.zero_grad(set_to_none=True)
    loss_diff = max(abs(losses[a] - losses["reference"]) for a in ("fast", "hooked"))
    grad_diff = max(
        float((grads[a][n] - g).abs().max() / g.abs().max().clamp_min(1e-30))
        for a in ("fast", "hooked") for n, g in grads["reference"].items()
    )
    ok = loss_diff <= tol and grad_diff <= 100 * tol and grads["fast"].keys() == grads["reference"].keys()
    summary = (f"equal-loss check: fast {losses['fast']:.9f}, hooked {losses['hooked']:.9f}, "
               f"reference {losses['reference']:.9f}; max |loss diff| {loss_diff:.1e} (tol {tol:.0e}), "
               f"max relative grad diff {grad_diff:.1e} (tol {100 * tol:.0e}): {'OK' if ok else 'MISMATCH'}")
    if not ok:
        raise AssertionError(summary)
    return summary
