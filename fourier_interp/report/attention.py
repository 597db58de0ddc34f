"""Attention patterns in a notebook, offline: circuitsvis with its bundled JavaScript inlined.

circuitsvis's own Jupyter display (``RenderedHTML._repr_html_``) probes ``google.com`` on
every display and, when online, serves a page that loads the library from the CDN, so a
saved notebook does not render offline. :func:`attention_view` builds the view from
circuitsvis's ``local_src`` only (the bundled ``iife.js`` inlined in the page), never the
CDN, and never touches the network; the returned :class:`AttentionView` displays itself
in Jupyter (``_repr_html_``) and can be written to a standalone file (:meth:`AttentionView.save`).

Example:
    >>> import fourier_interp as fi
    >>> from fourier_interp.report.attention import attention_view
    >>> model = fi.HookedTransformer(fi.TransformerConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32))
    >>> view = attention_view(model, fi.ModularArithmetic(p=7).inputs, example=10)
    >>> view.tokens, view.head_names
    (['1', '3', '='], ['L0H0', 'L0H1'])
    >>> "<script src=" in view.html or "unpkg.com" in view.html
    False
"""

from __future__ import annotations

import html as html_lib
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch
from jaxtyping import Float
from torch import Tensor

from ..errors import InvalidArgumentError, InvalidArgumentTypeError


class AttentionView:
    """An attention-pattern widget with the circuitsvis JavaScript inlined (works offline).

    Attributes:
        html: The HTML fragment (a ``<div>`` holding circuitsvis's mount point and inline script).
        pattern: The pattern drawn, ``[head, query_pos, key_pos]``.
        tokens: The token labels of the positions.
        head_names: One label per head (``"L0H1"``).
    """

    def __init__(self, html: str, pattern: Float[Tensor, "head query_pos key_pos"], tokens: list[str],
                 head_names: list[str]):
        self.html, self.pattern, self.tokens, self.head_names = html, pattern, tokens, head_names

    def _repr_html_(self) -> str:
        return self.html

    def __html__(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"AttentionView({len(self.head_names)} heads over tokens {self.tokens})"

    def save(self, path: Union[str, Path]) -> Path:
        """Write a standalone HTML page holding the view; returns the path."""
        path = Path(path)
        title = html_lib.escape(" ".join(self.tokens))
        path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>attention: {title}</title></head>"
                        f"<body>{self.html}</body></html>", encoding="utf-8")
        return path


def attention_view(
    model_or_cache: Any,
    inputs: Optional[Tensor] = None,
    *,
    hook: Optional[str] = None,
    example: int = 0,
    heads: Optional[Sequence[int]] = None,
    tokens: Optional[Sequence[str]] = None,
) -> AttentionView:
    """The circuitsvis attention view of one example, with bundled JavaScript (never the CDN).

    Args:
        model_or_cache: A hooked model (run here on ``inputs``), or a cache from
            ``run_with_cache`` (an ``ActivationCache`` or a plain dict) holding ``hook``.
        inputs: The inputs to run (with a model), ``[batch, k]`` operands or tokens; with a
            cache, optional and used only to label the positions.
        hook: The attention-pattern hook, ``[batch, head, query_pos, key_pos]``. Default:
            the model's ``analysis_spec().attention_pattern`` (the last layer), else the
            last ``*hook_pattern`` in the cache.
        example: Which row of the batch to draw.
        heads: Which heads to draw (default all).
        tokens: Labels of the positions (default from ``model.to_str_tokens``, else the
            input tokens, else ``"pos i"``).

    Returns:
        An :class:`AttentionView` (``view.html``; displays itself in Jupyter).
    """
    import circuitsvis as cv

    model, cache, row = _model_and_cache(model_or_cache, inputs, example, hook)
    hook = hook or _default_hook(model, cache)
    if hook not in cache:
        raise KeyError(f"hook {hook!r} is not in the cache; attention hooks there: "
                       f"{[k for k in cache if k.endswith('hook_pattern')]}")
    pattern = cache[hook]
    batched = pattern.ndim == 4
    if pattern.ndim not in (3, 4):
        raise InvalidArgumentError(f"{hook!r} has shape {tuple(pattern.shape)}; expected [batch, head, query_pos, key_pos]")
    pattern = (pattern[row] if batched else pattern).detach().float().cpu()
    head_ids = list(range(pattern.shape[0])) if heads is None else [int(h) for h in heads]
    pattern = pattern[head_ids]
    labels = list(tokens) if tokens is not None else _labels(model, inputs, example, pattern.shape[-1])
    if len(labels) != pattern.shape[-1]:
        raise InvalidArgumentError(f"{len(labels)} token labels for {pattern.shape[-1]} positions")
    layer = _layer_of(hook)
    names = [f"L{layer}H{h}" if layer is not None else f"H{h}" for h in head_ids]
    rendered = cv.attention.attention_heads(attention=pattern, tokens=labels, attention_head_names=names)
    # circuitsvis writes its mount point as a self-closing <div .../>, which HTML parses as an
    # open tag: our container closes it. Only local_src is read, never _repr_html_ (network probe).
    body = f"<div class='fi-attention-view'>{rendered.local_src}</div>"
    return AttentionView(body, pattern, labels, names)


def _model_and_cache(model_or_cache: Any, inputs: Optional[Tensor], example: int, hook: Optional[str]):
    if isinstance(model_or_cache, torch.nn.Module):
        model = model_or_cache
        if inputs is None:
            raise InvalidArgumentError("attention_view(model, inputs): inputs are needed to run the model")
        one = inputs[example : example + 1] if isinstance(inputs, Tensor) and inputs.ndim == 2 else inputs
        names = [hook] if hook else (lambda name: name.endswith("hook_pattern"))
        with torch.no_grad():
            _, cache = model.run_with_cache(one, names_filter=names)
        return model, _as_dict(cache), 0
    cache = _as_dict(model_or_cache)
    return getattr(model_or_cache, "model", None), cache, example


def _as_dict(cache: Any) -> dict:
    if isinstance(cache, dict):
        return cache
    if isinstance(getattr(cache, "cache_dict", None), dict):
        return cache.cache_dict
    raise InvalidArgumentTypeError(f"expected a model, an ActivationCache or a dict of activations, got {type(cache).__name__}")


def _default_hook(model: Any, cache: dict) -> str:
    spec = getattr(model, "analysis_spec", None)
    if callable(spec):
        try:
            name = spec().attention_pattern
        except NotImplementedError:
            name = None
        if name and name in cache:
            return name
    patterns = [k for k in cache if k.endswith("hook_pattern")]
    if not patterns:
        raise InvalidArgumentError("no attention pattern in the cache (no '*hook_pattern' entry); pass hook=...")
    return patterns[-1]


def _layer_of(hook: str) -> Optional[int]:
    parts = hook.split(".")
    return int(parts[1]) if len(parts) > 2 and parts[0] == "blocks" and parts[1].isdigit() else None


def _labels(model: Any, inputs: Optional[Tensor], row: int, n: int) -> list[str]:
    if inputs is not None and isinstance(inputs, Tensor):
        one = inputs[row] if inputs.ndim == 2 else inputs
        to_str = getattr(model, "to_str_tokens", None)
        if callable(to_str):
            labels = to_str(one)
            if len(labels) == n:
                return labels
        if one.numel() == n:
            return [str(int(t)) for t in one]
    return [f"pos {i}" for i in range(n)]
