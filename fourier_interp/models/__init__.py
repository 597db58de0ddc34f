"""Model families: one readable file each, plus their shared base and the class registry.

To add a model family: in a new module, subclass :class:`HookedModel` at module level and
give it a config dataclass (a subclass of :class:`ModelConfig`, set as the class's
``config_class``); route every interesting activation through a ``HookPoint``; implement
``forward`` and ``analysis_spec`` (:mod:`.spec`: the roles the analyses read); optionally
override ``fast_forward``, the one vmap-safe training path (the default runs ``forward``). Subclassing registers the class under its name in
:data:`MODEL_REGISTRY`, which is all ``fi.load`` needs to rebuild its checkpoints (import
the module before loading, so the class is defined).
"""

from .base import MODEL_REGISTRY, AnalysisSpec, HookedModel, ModelConfig
from .mlp import HookedMLP, MLPConfig
from .planted import fourier_lookup_mlp, memorizing_mlp, planted_coset, planted_gcr, planted_mlp, planted_pizza
from .rnn import HookedRNN, RNNConfig
from .transformer import HookedTransformer, TransformerConfig

MODEL_CLASSES = MODEL_REGISTRY  # the name checkpoints used before the registry (read-only view)

FAMILIES: dict[str, type[HookedModel]] = {
    "transformer": HookedTransformer,
    "rnn": HookedRNN,
    "mlp": HookedMLP,
}

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
    "planted_mlp",
    "planted_pizza",
    "planted_gcr",
    "planted_coset",
    "memorizing_mlp",
    "fourier_lookup_mlp",
    "MODEL_REGISTRY",
    "MODEL_CLASSES",
    "FAMILIES",
]
