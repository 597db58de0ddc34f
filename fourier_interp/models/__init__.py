"""Model families: one module or small package each, plus their shared base and the class registry.

    transformer/   HookedTransformer (config, layers, model, TransformerLens protocol on top)
    rnn.py         HookedRNN
    mlp/           HookedMLP, built as PowerMLP (form="power") or EmbedMLP (form="embed_relu")
    planted.py     analytic models with planted Fourier structure

To add a model family: in a new module, subclass :class:`HookedModel` at module level and
give it a config dataclass (a subclass of :class:`ModelConfig`, set as the class's
``config_class``); route every interesting activation through a ``HookPoint``; implement
``forward`` and ``analysis_spec`` (:mod:`.spec`: the roles the analyses read); optionally
override ``fast_forward``, the one vmap-safe training path (the default runs ``forward``):
the same forward with hooks off (:func:`.base.hooks`) computing only the readout. Subclassing registers the class under its name in
:data:`MODEL_REGISTRY`, which is all ``fi.load`` needs to rebuild its checkpoints (import
the module before loading, so the class is defined).
"""

from typing import Optional

from .base import MODEL_REGISTRY, AnalysisSpec, HookedModel, ModelConfig
from .mlp import EmbedMLP, HookedMLP, MLPConfig, PowerMLP
from .planted import fourier_lookup_mlp, memorizing_mlp, planted_coset, planted_gcr, planted_mlp, planted_pizza
from .rnn import HookedRNN, RNNConfig
from .transformer import HookedTransformer, TransformerConfig

MODEL_CLASSES = MODEL_REGISTRY  # the name checkpoints used before the registry (read-only view)

FAMILIES: dict[str, type[HookedModel]] = {
    "transformer": HookedTransformer,
    "rnn": HookedRNN,
    "mlp": HookedMLP,
}


def family_of(model: object) -> Optional[str]:
    """``"transformer"``, ``"rnn"`` or ``"mlp"`` for a built-in model (its subclasses included), else ``None``.

    Example:
        >>> import fourier_interp as fi
        >>> from fourier_interp.models import family_of
        >>> family_of(fi.HookedMLP(fi.MLPConfig(p=7))), family_of(object())
        ('mlp', None)
    """
    return next((name for name, cls in FAMILIES.items() if isinstance(model, cls)), None)


__all__ = [
    "AnalysisSpec",
    "HookedModel",
    "ModelConfig",
    "HookedTransformer",
    "TransformerConfig",
    "HookedRNN",
    "RNNConfig",
    "HookedMLP",
    "MLPConfig",
    "PowerMLP",
    "EmbedMLP",
    "planted_mlp",
    "planted_pizza",
    "planted_gcr",
    "planted_coset",
    "memorizing_mlp",
    "fourier_lookup_mlp",
    "MODEL_REGISTRY",
    "MODEL_CLASSES",
    "FAMILIES",
    "family_of",
]
