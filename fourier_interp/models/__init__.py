"""The three model families, one readable file each, plus their shared base.

To add a model: subclass :class:`HookedModel` in a new file, give it a config dataclass
(subclass of :class:`ModelConfig`), route every interesting activation through a
``HookPoint``, implement ``forward``, ``fast_logits`` and ``analysis_spec``, and register
the class in ``MODEL_CLASSES`` below so checkpoints can be loaded.
"""

from .base import AnalysisSpec, HookedModel, ModelConfig
from .mlp import HookedMLP, MLPConfig
from .planted import memorizing_mlp, planted_mlp, planted_pizza
from .rnn import HookedRNN, RNNConfig
from .transformer import HookedTransformer, TransformerConfig

MODEL_CLASSES: dict[str, type[HookedModel]] = {
    "HookedTransformer": HookedTransformer,
    "HookedRNN": HookedRNN,
    "HookedMLP": HookedMLP,
}

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
    "memorizing_mlp",
    "MODEL_CLASSES",
    "FAMILIES",
]
