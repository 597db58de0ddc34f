"""The TransformerLens side of :class:`~fourier_interp.interventions.HookedWrapper`: its config and layer names.

A wrapped module with one stack of layers (an ``nn.ModuleList`` named ``blocks``, ``layers``,
``layer`` or ``h``, or the path given as ``blocks=``) gets TransformerLens's names for each
layer's input and output and its attention / MLP children, and a config carrying
``n_layers``, ``n_heads``, ``d_model`` ... as far as the module's structure tells. That is what
``transformer_lens.patching`` (``cfg.n_layers``, ``cfg.n_heads``, ``cfg.device``, names from
``get_act_name``) and ``ActivationCache`` helpers (``accumulated_resid``, ``stack_activation``)
look up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

from torch import nn

from ..errors import InvalidArgumentError

BLOCK_NAMES = ("blocks", "layers", "layer", "h")
ROLES = {"attn_out": ("attn", "attention", "self_attn"), "mlp_out": ("mlp", "ffn", "feed_forward")}


@dataclass
class WrapperConfig:
    """Task metadata and TransformerLens fields of a wrapped module (``None`` = unknown).

    ``n_layers`` ... ``d_head`` are inferred from the module's layer stack where it has one
    (see :class:`HookedWrapper`); set any that TransformerLens needs and the module does not tell.
    """

    p: Optional[int] = None
    k: Optional[int] = None
    device: str = "cpu"
    n_layers: Optional[int] = None
    n_heads: Optional[int] = None
    n_key_value_heads: Optional[int] = None
    d_model: Optional[int] = None
    d_head: Optional[int] = None
    d_mlp: Optional[int] = None
    attn_only: bool = False
    normalization_type: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_blocks(module: nn.Module, blocks: Optional[str]) -> Optional[str]:
    """The path of the module's layer stack: ``blocks`` checked, or found by name for ``"auto"``."""
    stacks = {path: m for path, m in module.named_modules() if path and isinstance(m, (nn.ModuleList, nn.Sequential))}
    if blocks is None:
        return None
    if blocks == "auto":
        found = [path for path, m in stacks.items()
                 if path.rsplit(".", 1)[-1] in BLOCK_NAMES and len(m) and len({type(layer) for layer in m}) == 1]
        return found[0] if len(found) == 1 else None
    if not isinstance(blocks, str) or blocks not in stacks:
        raise InvalidArgumentError(
            f"blocks={blocks!r}: expected 'auto', None or the dotted path of the module's nn.ModuleList "
            f"(or nn.Sequential) of layers; it has {sorted(stacks) or 'none'}"
        )
    return blocks


def tl_fields(module: nn.Module, blocks_path: Optional[str]) -> dict[str, Any]:
    """``n_layers``, ``n_heads``, ``d_model``, ``d_head`` as far as the module's structure tells."""
    if blocks_path is None:
        return {}
    stack = module.get_submodule(blocks_path)
    fields: dict[str, Any] = {"n_layers": len(stack)}
    for sub in stack[0].modules():
        if isinstance(sub, nn.MultiheadAttention):
            fields.setdefault("n_heads", sub.num_heads)
            fields.setdefault("d_model", sub.embed_dim)
        for field, names in (("n_heads", ("n_heads", "num_heads", "n_head")), ("d_model", ("d_model", "embed_dim"))):
            value = next((getattr(sub, n) for n in names if isinstance(getattr(sub, n, None), int)), None)
            if value is not None:
                fields.setdefault(field, value)
    if fields.get("d_model") and fields.get("n_heads") and fields["d_model"] % fields["n_heads"] == 0:
        fields["d_head"] = fields["d_model"] // fields["n_heads"]
    return fields


def tl_aliases(module: nn.Module, blocks_path: Optional[str]) -> dict[str, tuple[str, ...]]:
    """Hook name -> the TransformerLens names that fire right after it."""
    if blocks_path is None:
        return {}
    aliases: dict[str, tuple[str, ...]] = {}
    paths = dict(module.named_modules())
    for i, block in enumerate(module.get_submodule(blocks_path)):
        src = f"{blocks_path}.{i}"
        pairs = [(f"{src}.hook_in", "resid_pre"), (f"{src}.hook_in.0", "resid_pre"), (src, "resid_post")]
        for child, _ in block.named_children():
            role = next((role for role, names in ROLES.items() if child in names), None)
            if role is not None:
                pairs.append((f"{src}.{child}", role))
                if f"{src}.{child}.0" not in paths:  # then 'attn.0' is the first element of a tuple output
                    pairs.append((f"{src}.{child}.0", role))
        for name, role in pairs:
            aliases[name] = (f"blocks.{i}.hook_{role}",)
    return aliases
