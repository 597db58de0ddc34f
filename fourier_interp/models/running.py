"""Running a model with a cache: the cache our models return, the loss readout, gradients.

:meth:`HookedModel.run_with_cache <fourier_interp.models.HookedModel.run_with_cache>` is
TransformerLens's ``run_with_cache`` plus what a model with a single readout needs:

* ``return_type="loss"`` (cross-entropy against the correct answers of the task the model
  was built for — ``a_1 + ... + a_k mod p``, ``a - b``, a product in Z_p^* or in any group —
  which ``model.cfg`` records (``group``, ``op``); or against ``labels=``) or
  ``loss_fn=`` (any scalar of the logits), so ``incl_bwd=True`` has something to
  differentiate: the cache then also holds ``<hook>_grad`` entries;
* a :class:`ModelCache` — a ``transformer_lens.ActivationCache`` that knows whether it has
  a batch axis (``remove_batch_dim=True`` gives one without) and refuses, with the size and
  a way round, to build residual decompositions too large for memory.

Example:
    >>> import fourier_interp as fi
    >>> model = fi.HookedRNN(fi.RNNConfig(p=7, d_embed=8, d_hidden=16))
    >>> x = fi.ModularArithmetic(p=7).inputs
    >>> loss, cache = model.run_with_cache(x, return_type="loss", incl_bwd=True)
    >>> cache["hook_embed_grad"].shape == cache["hook_embed"].shape
    True
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor
from transformer_lens import ActivationCache
from transformer_lens.utilities import Slice

from ..errors import InvalidArgumentError
from ..tasks import answers, rule_group, rule_signs

RETURN_TYPES = ("logits", "loss", "both", None)

LossFn = Callable[[Tensor], Tensor]


class ModelCache(ActivationCache):
    """The ``transformer_lens.ActivationCache`` our models return, with a memory guard.

    Every ``ActivationCache`` method works as in TransformerLens. The ones whose result
    grows with ``d_mlp * d_model`` per example (:meth:`get_full_resid_decomposition`,
    :meth:`stack_neuron_results`) first estimate the tensor they would build and raise a
    ``MemoryError`` naming its size and how to shrink it when it exceeds :attr:`max_bytes`
    (2 GiB by default; set ``cache.max_bytes`` to change it for one cache). On the p=113
    grid the full decomposition is ~10 GB: take the readout position
    (``pos_slice=-1``), project onto the answer directions
    (``project_output_onto=model.tokens_to_residual_directions(answers)``), skip neurons
    (``expand_neurons=False``) or slice the batch (``apply_slice_to_batch_dim``).
    """

    max_bytes: int = 2 * 1024**3

    def apply_slice_to_batch_dim(self, batch_slice: Any) -> "ModelCache":
        """TransformerLens's ``apply_slice_to_batch_dim``, keeping this class and its ``max_bytes``."""
        sliced = super().apply_slice_to_batch_dim(batch_slice)
        out = ModelCache(sliced.cache_dict, self.model, has_batch_dim=sliced.has_batch_dim)
        out.max_bytes = self.max_bytes
        return out

    def get_full_resid_decomposition(self, layer: Optional[int] = None, mlp_input: bool = False,
                                     expand_neurons: bool = True, apply_ln: bool = False, pos_slice: Any = None,
                                     return_labels: bool = False, project_output_onto: Optional[Tensor] = None):
        """TransformerLens's ``get_full_resid_decomposition`` after a size check (see the class docstring)."""
        n_layers, cfg = self.model.cfg.n_layers, self.model.cfg
        layer = n_layers if layer is None or layer == -1 else layer
        heads = (layer + (1 if mlp_input else 0)) * cfg.n_heads
        neurons = layer * cfg.d_mlp if expand_neurons and layer > 0 and not getattr(cfg, "attn_only", False) else layer
        self._check_size("get_full_resid_decomposition", heads + neurons + 3, pos_slice, project_output_onto)
        return super().get_full_resid_decomposition(layer, mlp_input, expand_neurons, apply_ln, pos_slice,
                                                    return_labels, project_output_onto)

    def stack_neuron_results(self, layer: int, pos_slice: Any = None, neuron_slice: Any = None,
                             return_labels: bool = False, incl_remainder: bool = False, apply_ln: bool = False,
                             project_output_onto: Optional[Tensor] = None, mlp_input: bool = False):
        """TransformerLens's ``stack_neuron_results`` after a size check (see the class docstring)."""
        n_layers = self.model.cfg.n_layers
        layers = n_layers if layer is None or layer == -1 else layer
        n_neurons = len(Slice.unwrap(neuron_slice).apply(torch.arange(self.model.cfg.d_mlp)).reshape(-1))
        self._check_size("stack_neuron_results", layers * n_neurons + 1, pos_slice, project_output_onto)
        return super().stack_neuron_results(layer, pos_slice, neuron_slice, return_labels, incl_remainder,
                                            apply_ln, project_output_onto, mlp_input)

    def _check_size(self, method: str, components: int, pos_slice: Any, project: Optional[Tensor]) -> None:
        embed = self.cache_dict.get("hook_embed", self.cache_dict.get("blocks.0.hook_resid_pre"))
        if embed is None:
            return
        lead = Slice.unwrap(pos_slice).apply(embed, dim=-2).shape[:-1]  # [batch,] [pos,]
        width = self.model.cfg.d_model if project is None else (1 if project.ndim == 1 else project.shape[-1])
        n_bytes = components * int(torch.Size(lead).numel()) * width * embed.element_size()
        if n_bytes > self.max_bytes:
            shape = [components, *lead, width]
            raise MemoryError(
                f"cache.{method} would build a {shape} {embed.dtype} tensor (~{n_bytes / 1e9:.1f} GB, over "
                f"cache.max_bytes = {self.max_bytes / 1e9:.1f} GB). Take the readout position (pos_slice=-1), "
                "project onto answer directions (project_output_onto=model.tokens_to_residual_directions(answers)), "
                "pass expand_neurons=False, or slice the batch first (cache.apply_slice_to_batch_dim(slice(0, 512))); "
                "raise cache.max_bytes to allow it"
            )


def answer_labels(inputs: Tensor, cfg: Any) -> Int[Tensor, " batch"]:
    """The right answers of the rows of ``inputs`` for the task ``cfg`` records (``[batch, k]``, or longer).

    ``cfg.p``, ``cfg.k`` and, where the config has them, ``cfg.group`` (a group spec, ``""``
    for Z_p) and ``cfg.op`` (``"add"``, ``"sub"``, ``"mul"``, ``"compose"``) name the task;
    :func:`fourier_interp.tasks.answers` computes the answers, as the task itself does.
    """
    op, spec = getattr(cfg, "op", None) or "add", getattr(cfg, "group", None) or ""
    return answers(inputs, rule_group(spec, op, cfg.p), cfg.k, rule_signs(op, cfg.k))


def readout(
    logits: Float[Tensor, "batch p"],
    inputs: Tensor,
    cfg: Any,
    return_type: Optional[str] = "logits",
    labels: Optional[Tensor] = None,
    loss_fn: Optional[LossFn] = None,
) -> Union[Tensor, tuple[Tensor, Tensor], None]:
    """What a forward returns for ``return_type``: the logits, the loss, ``(logits, loss)`` or ``None``.

    The loss is ``loss_fn(logits)`` when given, else the float64 cross-entropy (the training
    loss) against ``labels`` (default: :func:`answer_labels` of ``inputs`` for the task ``cfg`` records).
    """
    if return_type not in RETURN_TYPES:
        raise InvalidArgumentError(f"return_type={return_type!r} is not allowed; expected one of {RETURN_TYPES}")
    if return_type == "logits":
        return logits
    if return_type is None:
        return None
    if loss_fn is not None:
        loss = loss_fn(logits)
    else:
        target = answer_labels(inputs, cfg) if labels is None else torch.as_tensor(labels)
        loss = F.cross_entropy(logits.double(), target.long().to(logits.device))
    return loss if return_type == "loss" else (logits, loss)


_QUERY_FIRST = ("hook_pattern", "hook_attn_scores")  # [batch, head, query_pos, key_pos]


def caching_hooks(model: Any, names_filter: Any, incl_bwd: bool, device: Any, remove_batch_dim: bool,
                  pos_slice: Any) -> tuple[dict, list, list]:
    """``HookedRootModule.get_caching_hooks`` with ``pos_slice`` applied to the position axis only.

    TransformerLens slices axis -2 of every cached tensor (-3 for ``q/k/v/z/result``); on a
    ``[batch, units]`` activation (``hook_logits``, the MLP's and RNN steps' hooks) that is
    the batch axis, and on ``hook_q_input`` ``[batch, pos, head, d_model]`` the head axis.
    Here the position axis is axis 1 of the batched tensor (axis 2, the query, for
    attention patterns and scores) and tensors without one (2-D) are left whole.
    """
    if names_filter is None:
        wanted = lambda name: True  # noqa: E731
    elif isinstance(names_filter, str):
        wanted = lambda name: name == names_filter  # noqa: E731
    elif callable(names_filter):
        wanted = names_filter
    else:
        names = set(names_filter)
        wanted = lambda name: name in names  # noqa: E731
    pos = Slice.unwrap(pos_slice)
    cache: dict[str, Tensor] = {}

    def save(tensor: Tensor, hook: Any, is_backward: bool = False) -> None:
        x = tensor.detach().to(device)
        axis = 2 if hook.name.endswith(_QUERY_FIRST) else 1
        has_pos = x.ndim > axis + 1
        if remove_batch_dim and x.ndim and x.shape[0] == 1:
            x, axis = x[0], axis - 1
        if has_pos:
            x = pos.apply(x, dim=axis)
        cache[hook.name + ("_grad" if is_backward else "")] = x

    names = [name for name in model.hook_dict if wanted(name)]
    fwd = [(name, save) for name in names]
    bwd = [(name, lambda grad, hook: save(grad, hook, True)) for name in names] if incl_bwd else []
    model.is_caching = True
    return cache, fwd, bwd


def run_with_cache(
    model: Any,
    *model_args: Any,
    return_type: Optional[str] = "logits",
    loss_fn: Optional[LossFn] = None,
    labels: Optional[Tensor] = None,
    names_filter: Any = None,
    device: Any = None,
    remove_batch_dim: bool = False,
    incl_bwd: bool = False,
    reset_hooks_end: bool = True,
    clear_contexts: bool = False,
    pos_slice: Any = None,
    **model_kwargs: Any,
) -> tuple[Any, ModelCache]:
    """The body of ``HookedModel.run_with_cache`` (see its docstring)."""
    first = model_args[0] if model_args else None
    if remove_batch_dim and isinstance(first, Tensor):
        batch = 1 if first.ndim == 1 else first.shape[0]
        if batch != 1:
            raise InvalidArgumentError(
                f"remove_batch_dim=True needs a single example, got a batch of {batch}; run one row "
                "(inputs[i:i+1]) or keep the batch axis and take one with cache.apply_slice_to_batch_dim(i)"
            )
    if return_type not in RETURN_TYPES:
        raise InvalidArgumentError(f"return_type={return_type!r} is not allowed; expected one of {RETURN_TYPES}")
    if incl_bwd and loss_fn is None and return_type not in ("loss", "both"):
        raise InvalidArgumentError(
            "incl_bwd=True needs a scalar to differentiate: pass return_type='loss' (cross-entropy against "
            "the answers of the model's task, or labels=...) or loss_fn=lambda logits: <scalar>"
        )
    if incl_bwd and not torch.is_grad_enabled():
        raise InvalidArgumentError(
            "incl_bwd=True needs autograd, but gradients are off (torch.no_grad / inference_mode)")
    cache_dict, fwd, bwd = caching_hooks(model, names_filter, incl_bwd, device, remove_batch_dim, pos_slice)
    with model.hooks(fwd_hooks=fwd, bwd_hooks=bwd, reset_hooks_end=reset_hooks_end, clear_contexts=clear_contexts):
        logits = model(*model_args, **model_kwargs)
        out = readout(logits, first, model.cfg, return_type, labels=labels, loss_fn=loss_fn)
        if incl_bwd:
            target = out[1] if return_type == "both" else out if return_type == "loss" else loss_fn(logits)
            if not isinstance(target, Tensor) or target.ndim != 0:
                got = getattr(target, "shape", target)
                raise InvalidArgumentError(f"loss_fn must return a scalar tensor, got {got!r}")
            target.backward()
    return out, ModelCache(cache_dict, model, has_batch_dim=not remove_batch_dim)
