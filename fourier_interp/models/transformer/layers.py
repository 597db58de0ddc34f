"""The transformer's layers: LayerNorm, attention, MLP and the block, each forward written once.

Every forward takes ``hooked``: ``True`` (the hooked forward) routes each activation through
its ``HookPoint``; ``False`` (the training path, :meth:`HookedTransformer.fast_forward`)
runs the same lines with every hook point replaced by the identity (:func:`..base.hooks`). The
block also takes ``last_only``: attention computes queries at the last position only (the
causal mask shifted to match: that query sees every key) and the residual and MLP keep only
that position, which is all the readout at '=' needs. A model of one block without
normalisation trains through :meth:`TransformerBlock.folded_logits`: the same maths with the
linear maps between the attention's values and the logits multiplied together first.

Hook shapes (TransformerLens names; ``blocks.{l}.`` in front):

    hook_resid_pre / hook_resid_mid / hook_resid_post   [batch, pos, d_model]
    attn.hook_q / hook_k / hook_v / hook_z              [batch, pos, head, d_head]
    attn.hook_attn_scores / hook_pattern                [batch, head, query_pos, key_pos]
    hook_attn_out / hook_mlp_out                        [batch, pos, d_model]
    mlp.hook_pre / hook_post                            [batch, pos, d_mlp]
    ln1 / ln2 .hook_scale                               [batch, pos, 1]  (with LayerNorm)
"""

from __future__ import annotations

import math
import warnings
from typing import Optional

import torch
from einops import einsum
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens import FactoredMatrix
from transformer_lens.hook_points import HookPoint

from ..base import activation_fn, hand_backward_ok, hooks, lookup, normal, vmapped
from .config import TransformerConfig


# ------------------------------------------------------------------ normalisation
class LayerNorm(nn.Module):
    """LayerNorm over ``d_model`` with hooks on the scale and the output (TransformerLens names)."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.w = nn.Parameter(torch.ones(d_model))
        self.b = nn.Parameter(torch.zeros(d_model))
        self.hook_scale = HookPoint()  # [batch, pos, 1]  ([batch, pos, head, 1] on a split-QKV input)
        self.hook_normalized = HookPoint()  # [batch, pos, d_model]

    def forward(self, x: Float[Tensor, "... d_model"], hooked: bool = True) -> Float[Tensor, "... d_model"]:
        h = hooks(self, hooked)
        x = x - x.mean(-1, keepdim=True)
        scale = h.hook_scale((x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        return h.hook_normalized(x / scale * self.w + self.b)


class LayerNormPre(nn.Module):
    """LayerNorm without weight and bias (``normalization_type="LNPre"``): what ``fold_ln`` leaves."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.hook_scale = HookPoint()  # [batch, pos, 1]
        self.hook_normalized = HookPoint()  # [batch, pos, d_model]

    def forward(self, x: Float[Tensor, "... d_model"], hooked: bool = True) -> Float[Tensor, "... d_model"]:
        h = hooks(self, hooked)
        x = x - x.mean(-1, keepdim=True)
        scale = h.hook_scale((x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        return h.hook_normalized(x / scale)


class NoNorm(nn.Identity):
    """``normalization_type=None`` (nanda2023): the identity, taking the ``hooked`` flag the norms take."""

    def forward(self, x: Tensor, hooked: bool = True) -> Tensor:
        return x


def make_norm(cfg: TransformerConfig) -> nn.Module:
    """The block's normalisation module for ``cfg.normalization_type``."""
    if cfg.normalization_type == "LN":
        return LayerNorm(cfg.d_model)
    if cfg.normalization_type == "LNPre":
        return LayerNormPre(cfg.d_model)
    return NoNorm()


def _bias(cfg_flag: bool, *shape: int) -> Tensor:
    """A zero bias: a trained parameter when the config asks for one, else a fixed zero buffer."""
    zeros = torch.zeros(*shape)
    return nn.Parameter(zeros) if cfg_flag else zeros


# ------------------------------------------------------------------ attention
class Attention(nn.Module):
    """Causal multi-head attention: :meth:`project` the inputs to Q, K, V, then :meth:`attend`."""

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
        query_input: Float[Tensor, "batch q_pos *head d_model"],
        key_input: Float[Tensor, "batch pos *head d_model"],
        value_input: Float[Tensor, "batch pos *head d_model"],
        hooked: bool = True,
    ) -> Float[Tensor, "batch q_pos d_model"]:
        """Causal attention of the last ``q_pos`` positions over all ``pos``.

        Each input is ``[batch, pos, d_model]`` or per head ``[batch, pos, head, d_model]``.
        """
        return self.attend(*self.project(query_input, key_input, value_input), hooked=hooked)

    def project(self, query_input: Tensor, key_input: Tensor, value_input: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values ``[..., pos, head, d_head]`` of the (normalised) residual.

        Position-wise: applied to a table of residuals it gives the table of their
        projections (the training path's layer 0, see :meth:`TransformerBlock.forward`).
        """
        return (self._project(query_input, self.W_Q, self.b_Q), self._project(key_input, self.W_K, self.b_K),
                self._project(value_input, self.W_V, self.b_V))

    def attend(
        self,
        q: Float[Tensor, "batch q_pos head d_head"],
        k: Float[Tensor, "batch pos head d_head"],
        v: Float[Tensor, "batch pos head d_head"],
        hooked: bool = True,
    ) -> Float[Tensor, "batch q_pos d_model"]:
        """The attention output of queries at the last ``q_pos`` positions."""
        h = hooks(self, hooked)
        q, k, v = h.hook_q(q), h.hook_k(k), h.hook_v(v)
        # the sequences are a few tokens long: products summed beat batched matmuls of tiny matrices
        scores = (q[:, :, None] * k[:, None]).sum(-1).permute(0, 3, 1, 2) / math.sqrt(self.cfg.d_head)  # [b, h, q, k]
        n_q, n = q.shape[1], k.shape[1]
        causal = torch.ones(n_q, n, dtype=torch.bool, device=q.device).triu(n - n_q + 1)  # query i is position n-n_q+i
        if n_q > 1:  # a lone last query sees every key
            scores = scores.masked_fill(causal, float("-inf"))
        scores = h.hook_attn_scores(scores)
        pattern = h.hook_pattern(_mix(_softmax_over_keys(scores), causal, self.cfg.attn_coeff))
        z = h.hook_z((pattern.permute(0, 2, 3, 1)[..., None] * v[:, None]).sum(2))  # [b, q, h, e]
        if hooked and self.cfg.use_attn_result:
            out = h.hook_result(einsum(z, self.W_O, "b q h e, h e d -> b q h d")).sum(2)
        else:
            out = (z.reshape(-1, z.shape[-2] * z.shape[-1]) @ self.W_O.flatten(0, 1)).view(*z.shape[:2], -1)
        return out + self.b_O if self.cfg.attn_bias else out

    def _project(self, x: Tensor, w: Float[Tensor, "head d_model d_head"], b: Float[Tensor, "head d_head"]) -> Tensor:
        out = einsum(x, w, "... h d, h d e -> ... h e") if x.ndim == 4 else _heads(x, w)
        return out + b if self.cfg.attn_bias else out


def _softmax_over_keys(scores: Float[Tensor, "batch head q_pos key_pos"]) -> Float[Tensor, "batch head q_pos key_pos"]:
    """``scores.softmax(-1)``, computed over the keys in the ``[batch, q_pos, key_pos, head]`` layout
    :meth:`Attention.attend` builds the scores in (a softmax over a non-contiguous last axis copies first)."""
    return scores.permute(0, 2, 3, 1).softmax(2).permute(0, 3, 1, 2)


def _mix(softmax: Tensor, masked: Optional[Tensor], attn_coeff: float) -> Tensor:
    """Zhong et al.'s attention rate: ``c * softmax + (1 - c)`` on the positions a query may see.

    ``attn_coeff = 0`` is their *constant attention* (every visible position weighted 1, so
    the '=' query sums the operands' values, the set-up that favours the pizza algorithm);
    1 is ordinary softmax attention. ``masked=None``: the query sees every position.
    """
    if attn_coeff == 1.0:
        return softmax
    mixed = attn_coeff * softmax + (1.0 - attn_coeff)
    return mixed if masked is None else mixed.masked_fill(masked, 0.0)


def _per_head(x: Float[Tensor, "batch pos d_model"], n_heads: int) -> Float[Tensor, "batch pos head d_model"]:
    """A copy of ``x`` for every head (a real copy: hooks may edit one head's in place)."""
    return x.unsqueeze(2).repeat(1, 1, n_heads, 1)


def _heads(x: Float[Tensor, "... d_model"], w: Float[Tensor, "head d_model d_head"]) -> Tensor:
    """``einsum(x, w, "... d, h d e -> ... h e")`` as one matmul against ``[d_model, head * d_head]``."""
    h, d, e = w.shape
    return (x.reshape(-1, d) @ w.permute(1, 0, 2).reshape(d, h * e)).view(*x.shape[:-1], h, e)


def _linear(x: Float[Tensor, "... d_in"], w: Float[Tensor, "d_in d_out"], b: Float[Tensor, " d_out"]) -> Tensor:
    """``x @ w + b`` as one fused matmul-and-add over the flattened leading axes."""
    return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).view(*x.shape[:-1], w.shape[-1])


def _pre_tables(
    values: Float[Tensor, "rows head d_head"],
    v_eq: Float[Tensor, "head d_head"],
    pattern: Float[Tensor, "batch pos head"],
    rows: Int[Tensor, "batch operand"],
    W: Float[Tensor, "head_d_head width"],
    b: Float[Tensor, " width"],
) -> tuple[Tensor, Tensor, Tensor]:
    """``b + z @ W`` for the whole batch as a small table, each example's picks from it and their weights.

    ``z`` is, per head, the pattern-weighted sum of the operands' value rows and the '='
    value, so ``z @ W`` is the same weighted sum of those rows times the head's slice of
    ``W``: a table of ``head * rows + head + 1`` rows (the last holds ``b``), and
    ``pos * head + 1`` weighted picks per example, in increasing row order. Building the
    table costs about a fortieth of the ``[batch, head * d_head] @ [head * d_head, width]``
    product it replaces. The table and the weights carry the graph back to ``values``,
    ``v_eq``, ``W``, ``b`` and ``pattern``.

    Returns:
        ``(table, index, weight)``: ``b + z @ W`` is
        ``F.embedding_bag(index, table, per_sample_weights=weight, mode="sum")``.
    """
    n_rows, n_heads, d_head = values.shape
    per_head = torch.bmm(values.transpose(0, 1), W.view(n_heads, d_head, -1))  # [head, rows, width]
    eq_rows = torch.bmm(v_eq[:, None], W.view(n_heads, d_head, -1))[:, 0]  # [head, width]
    table = torch.cat([per_head.flatten(0, 1), eq_rows, b[None]])
    batch, heads = rows.shape[0], torch.arange(n_heads, device=rows.device)
    first_eq = n_heads * n_rows
    with torch.no_grad():  # head h, operand k: row h * rows + the operand's token row (increasing in k)
        index = torch.cat([(rows[:, None, :] + heads[:, None] * n_rows).flatten(1),
                           (first_eq + heads).expand(batch, -1), rows.new_full((batch, 1), first_eq + n_heads)], 1)
    weight = torch.cat([pattern[:, :-1].transpose(1, 2).flatten(1), pattern[:, -1], pattern.new_ones(batch, 1)], 1)
    return table, index, weight


TABLE_READOUT_DEVICES = ("cpu",)
"""Device types on which the folded block gathers from tables (:class:`_TableReadout`); elsewhere (a GPU)
it keeps the dense products: the table's backward reads a row count back to the host (``bincount``),
which a CUDA graph cannot hold."""


def _picks_matrix(index: Int[Tensor, "batch picks"], weight: Float[Tensor, "batch picks"], n_rows: int,
                  transpose: bool = False) -> Tensor:
    """The sparse ``[batch, n_rows]`` matrix (CSR) whose row ``b`` holds ``weight[b]`` at ``index[b]``; or its transpose.

    ``index`` must increase along each row, as :func:`_pre_tables` builds it.
    """
    batch, picks = index.shape
    with warnings.catch_warnings():  # torch flags its CSR support as beta on first use
        warnings.simplefilter("ignore")
        if not transpose:
            starts = torch.arange(0, batch * picks + 1, picks, device=index.device)
            return torch.sparse_csr_tensor(starts, index.flatten(), weight.flatten(), (batch, n_rows),
                                           check_invariants=False)
        flat = index.flatten()
        order = torch.argsort(flat, stable=True)  # by table row, then by example: a fixed summation order
        starts = torch.zeros(n_rows + 1, dtype=flat.dtype, device=flat.device)
        starts[1:] = torch.bincount(flat, minlength=n_rows).cumsum(0)
        return torch.sparse_csr_tensor(starts, order // picks, weight.flatten()[order], (n_rows, batch),
                                       check_invariants=False)


class _TableReadout(torch.autograd.Function):
    """The folded block's logits ``direct + relu(pre) @ W_out`` with ``[pre | direct]`` gathered from a table.

    ``[pre | direct]`` is ``P @ table`` for the sparse ``[batch, table rows]`` matrix ``P``
    of :func:`_pre_tables`' picks and weights (a few per example), gathered by
    ``embedding_bag``; the last ``n_shared`` picks of every example are the same rows
    (the '=' rows and the bias). The backward never forms the batch's
    ``[batch, head * d_head]`` activations or their gradient: for each ``G`` of
    ``grad_pre`` and ``grad`` the table's gradient is ``P^T @ G`` and the weights' is
    ``G``'s product with each picked row (a sampled product), about a tenth of the
    arithmetic of the ``[batch, width] x [width, head * d_head]`` products that the dense
    path pays. ReLU and its mask run in place: on the 2-core benchmark box a
    ``[batch, d_mlp]`` buffer is larger than the cache it would stay hot in and its
    allocation page-faults, so each one saved counts.
    """

    @staticmethod
    def forward(table: Tensor, weight: Tensor, W_out: Tensor, index: Tensor, d_mlp: int, n_shared: int
                ) -> tuple[Tensor, Tensor]:
        # detached, so that ATen takes its forward-only kernel (no bookkeeping buffers to zero)
        both = torch.nn.functional.embedding_bag(index, table.detach(), per_sample_weights=weight.detach(), mode="sum")
        post = both[:, :d_mlp].relu_()
        return torch.addmm(both[:, d_mlp:], post, W_out), post

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        table, weight, W_out, index, _, ctx.n_shared = inputs
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)  # no zero gradient for the non-differentiable output
        ctx.save_for_backward(table, weight, W_out, index, output[1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor, _: Tensor):
        table, weight, W_out, index, post = ctx.saved_tensors
        d_mlp, n_own = post.shape[1], index.shape[1] - ctx.n_shared
        grad_pre = grad @ W_out.T
        torch.ops.aten.threshold_backward.grad_input(grad_pre, post, 0, grad_input=grad_pre)
        own_rows = table.shape[0] - ctx.n_shared  # the rows picked per example come first
        picks = _picks_matrix(index[:, :n_own], weight[:, :n_own], own_rows)
        picked_by = _picks_matrix(index[:, :n_own], weight[:, :n_own], own_rows, transpose=True)
        shared = weight[:, n_own:]
        grad_weight, grad_table = torch.zeros_like(weight), []
        for G, part in ((grad_pre, table[:, :d_mlp]), (grad, table[:, d_mlp:])):
            grad_weight[:, :n_own] += torch.sparse.sampled_addmm(picks, G, part[:own_rows].T, beta=0).values().view(
                -1, n_own)
            grad_weight[:, n_own:] += G @ part[own_rows:].T
            grad_table.append(torch.cat([torch.sparse.mm(picked_by, G), shared.T @ G]))
        return torch.cat(grad_table, 1), grad_weight, post.T @ grad, None, None, None


class _ReluReadout(torch.autograd.Function):
    """The folded block's logits ``b_dir + z @ W_dir + relu(b_in + z @ W_in) @ W_out``, and the MLP's activations.

    The dense path of :meth:`TransformerBlock.folded_logits` (under ``vmap``, as in
    :func:`fourier_interp.train_many`, and ``torch.compile``). The backward is autograd's
    for that expression, product for product; outside ``vmap`` it masks the gradient in
    place, one ``[batch, d_mlp]`` buffer fewer.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(z: Tensor, W_in: Tensor, b_in: Tensor, W_dir: Tensor, b_dir: Tensor, W_out: Tensor
                ) -> tuple[Tensor, Tensor]:
        post = torch.addmm(b_in, z, W_in).relu_()
        return torch.addmm(torch.addmm(b_dir, z, W_dir), post, W_out), post

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        z, W_in, _, W_dir, _, W_out = inputs
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)  # no zero gradient for the non-differentiable output
        ctx.save_for_backward(z, W_in, W_dir, output[1], W_out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor, _: Tensor):
        z, W_in, W_dir, post, W_out = ctx.saved_tensors
        grad_post = grad @ W_out.T
        if vmapped(grad_post):  # vmap has no rule for the out= and in-place forms
            grad_pre = torch.ops.aten.threshold_backward(grad_post, post, 0)
            grad_z = torch.addmm(grad_pre @ W_in.T, grad, W_dir.T)
        else:
            grad_pre = torch.ops.aten.threshold_backward.grad_input(grad_post, post, 0, grad_input=grad_post)
            grad_z = (grad_pre @ W_in.T).addmm_(grad, W_dir.T)
        return grad_z, z.T @ grad_pre, grad_pre.sum(0), z.T @ grad, grad.sum(0), post.T @ grad


# ------------------------------------------------------------------ MLP and block
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

    def forward(self, x: Float[Tensor, "batch pos d_model"], hooked: bool = True) -> Float[Tensor, "batch pos d_model"]:
        h = hooks(self, hooked)
        pre = h.hook_pre(_linear(x, self.W_in, self.b_in))
        post = h.hook_post(self.act(pre))
        return _linear(post, self.W_out, self.b_out)


class TransformerBlock(nn.Module):
    # read by transformer_lens's logit lens: hook_resid_post is the one residual stream
    hook_out_is_single_residual_stream = True

    def __init__(self, cfg: TransformerConfig, gen: torch.Generator):
        super().__init__()
        self.cfg = cfg
        self.ln1 = make_norm(cfg)
        self.attn = Attention(cfg, gen)
        self.ln2 = make_norm(cfg)
        self.mlp = MLP(cfg, gen)
        self.hook_resid_pre = HookPoint()  # [batch, pos, d_model]
        self.hook_attn_out = HookPoint()  # [batch, pos, d_model]
        self.hook_resid_mid = HookPoint()  # [batch, pos, d_model]
        self.hook_mlp_in = HookPoint()  # [batch, pos, d_model], only if cfg.use_hook_mlp_in
        self.hook_mlp_out = HookPoint()  # [batch, pos, d_model]
        self.hook_resid_post = HookPoint()  # [batch, pos, d_model]

    def forward(
        self,
        resid: Float[Tensor, "batch pos d_model"],
        hooked: bool = True,
        last_only: bool = False,
        rows: Optional[Int[Tensor, "batch pos"]] = None,
    ) -> Float[Tensor, "batch pos d_model"]:
        """One block: ``resid + attn``, then ``+ mlp``; ``[batch, 1, d_model]`` with ``last_only``.

        Args:
            resid: The residual stream entering the block.
            hooked: Fire the hook points (``False``: the same maths, hooks as identities).
            last_only: Compute the block's output at the last position only.
            rows: Hook-free only. ``resid`` is then a table ``[n_rows, d_model]`` holding every
                residual the block can meet (layer 0: one row per (position, token)) and
                ``rows`` picks each example's. ``ln1`` and the Q/K/V projections are
                position-wise, so they run once on the table and their rows are gathered;
                attention and the rest run per example as usual.
        """
        h, attn = hooks(self, hooked), self.attn
        if rows is not None:
            x = self.ln1(resid, hooked=False)
            q_rows = rows[:, -1:] if last_only else rows
            q, k, v = (lookup(t, r) for t, r in zip(attn.project(x, x, x), (q_rows, rows, rows)))  # [n_rows, head, d_head] tables
            resid = lookup(resid, q_rows)
        else:
            resid = h.hook_resid_pre(resid)
            q_in, k_in, v_in = self._attention_inputs(resid, hooked)
            q, k, v = attn.project(q_in[:, -1:] if last_only else q_in, k_in, v_in)
            resid = resid[:, -1:] if last_only else resid
        resid = h.hook_resid_mid(resid + h.hook_attn_out(attn.attend(q, k, v, hooked=hooked)))
        mlp_in = h.hook_mlp_in(resid.clone()) if hooked and self.cfg.use_hook_mlp_in else resid
        return h.hook_resid_post(resid + h.hook_mlp_out(self.mlp(self.ln2(mlp_in, hooked=hooked), hooked=hooked)))

    def folded_logits(
        self,
        table: Float[Tensor, "rows d_model"],
        rows: Int[Tensor, "batch pos"],
        query_row: int,
        W_U: Float[Tensor, "d_model p"],
        b_U: Optional[Float[Tensor, " p"]] = None,
    ) -> Float[Tensor, "batch p"]:
        """Logits at the last position when this block is the model's only one and has no normalisation.

        The training path of such a model (``nanda2023``'s shape). From the attention's mixed
        values ``z`` to the logits every map is linear except the MLP's activation, so the
        products fold: ``z @ (W_O W_in)`` gives the MLP's input, ``z @ (W_O W_U)`` the
        attention's direct share of the logits and ``post @ (W_out W_U)`` the MLP's. That is
        one product per pair of weights instead of two on the batch, and no residual stream
        of the batch is ever formed. With a ReLU the two products on ``z`` are not even
        formed: each example's ``z`` mixes a few value rows, so its products are gathered
        from those rows' products (:func:`_pre_tables`, :class:`_TableReadout`): on a CPU,
        outside ``vmap`` and ``torch.compile``. On a GPU the block keeps the dense products
        (:class:`_ReluReadout`): they are a few large matmuls, and the table's backward counts
        its rows (``bincount``), which reads a size back to the host and so cannot be
        captured in a CUDA graph. The maths is the hooked forward's; only the rounding
        differs (below 1e-5 on the logits).

        Args:
            table: Layer 0's residual for every (position, token): ``W_pos[pos] + W_E[token]``.
            rows: Each example's row of ``table`` per position (``token + pos * d_vocab``).
            query_row: The '=' row at the last position. Every checked sequence ends in '=',
                so the query, its residual and the last key and value are one row for the
                whole batch, and a key's score is a product with one ``[d_model, head]`` matrix.
            W_U: The unembedding; ``b_U`` its bias, if any.
        """
        attn, mlp, cfg = self.attn, self.mlp, self.cfg
        operands, rows = table[: (rows.shape[1] - 1) * cfg.d_vocab], rows[:, :-1]  # the positions before '='
        eq = table[query_row]
        q = attn._project(eq, attn.W_Q, attn.b_Q)  # [head, d_head]: the one query
        # a key's score is its residual times W_K q, per head: no table of keys is needed
        w_score = (attn.W_K * q[:, None]).sum(-1).T / math.sqrt(cfg.d_head)  # [d_model, head]
        v_eq = attn._project(eq, attn.W_V, attn.b_V)  # [head, d_head]
        scores = lookup(operands @ w_score, rows)  # [batch, pos - 1, head]
        scores = torch.cat([scores, (eq @ w_score).expand(scores.shape[0], 1, -1)], 1)
        if cfg.attn_bias:  # the same b_K q on every key, which the softmax ignores; kept so that
            scores = scores + (attn.b_K * q).sum(-1) / math.sqrt(cfg.d_head)  # b_K has a gradient (zero) as in forward
        pattern = _mix(scores.softmax(1), None, cfg.attn_coeff)  # [batch, pos, head]
        values = attn._project(operands, attn.W_V, attn.b_V)  # [rows, head, d_head]
        W_O = attn.W_O.flatten(0, 1)  # [head * d_head, d_model]
        resid = eq + attn.b_O if cfg.attn_bias else eq  # what every example adds to z W_O
        b_dir = (resid + mlp.b_out) @ W_U
        b_dir = b_dir if b_U is None else b_dir + b_U
        b_in, W_in, W_dir, W_out_U = mlp.b_in + resid @ mlp.W_in, W_O @ mlp.W_in, W_O @ W_U, mlp.W_out @ W_U
        if cfg.act_fn == "relu" and values.device.type in TABLE_READOUT_DEVICES and hand_backward_ok(values, pattern):
            table, index, weight = _pre_tables(values, v_eq, pattern, rows, torch.cat([W_in, W_dir], 1),
                                               torch.cat([b_in, b_dir]))
            return _TableReadout.apply(table, weight, W_out_U, index, cfg.d_mlp, cfg.n_heads + 1)[0]
        z = (pattern[:, :-1, :, None] * lookup(values, rows)).sum(1)
        z = (z + pattern[:, -1, :, None] * v_eq).flatten(1)  # [batch, head * d_head]
        if cfg.act_fn == "relu":
            return _ReluReadout.apply(z, W_in, b_in, W_dir, b_dir, W_out_U)[0]
        return torch.addmm(torch.addmm(b_dir, z, W_dir), mlp.act(torch.addmm(b_in, z, W_in)), W_out_U)

    def _attention_inputs(self, resid: Tensor, hooked: bool) -> tuple[Tensor, Tensor, Tensor]:
        """The normalised residual each of Q, K, V reads; per head copies when the opt-in hooks ask."""
        cfg, attn = self.cfg, self.attn
        if hooked and cfg.use_split_qkv_input:  # each head reads its own copy (direct-path patching)
            return tuple(self.ln1(hook(_per_head(resid, cfg.n_heads)))
                         for hook in (attn.hook_q_input, attn.hook_k_input, attn.hook_v_input))
        if hooked and cfg.use_attn_in:
            x = self.ln1(attn.hook_attn_in(_per_head(resid, cfg.n_heads)))
        else:
            x = self.ln1(resid, hooked=hooked)
        return x, x, x
