"""fourier_interp: train small networks on modular arithmetic and verify, with measurements
and causal interventions, that they compute the answer with Fourier Multiplication.

Data flows one way through the package::

    tasks -> models -> training -> fourier (maths) -> analysis -> interventions -> verify -> report

Conventionally imported as ``import fourier_interp as fi``. Submodules load lazily, so
``import fourier_interp`` is cheap and the command line answers quickly; the first use of
a name imports what it needs.

Example:
    >>> import fourier_interp as fi
    >>> model, task, train_cfg = fi.from_preset("nanda2023", seed=0)
    >>> model.cfg.d_model, task.p, train_cfg.weight_decay
    (128, 113, 1.0)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    "ModularArithmetic": "tasks",
    "HookedTransformer": "models",
    "TransformerConfig": "models",
    "HookedRNN": "models",
    "RNNConfig": "models",
    "HookedMLP": "models",
    "MLPConfig": "models",
    "HookedModel": "models",
    "AnalysisSpec": "models",
    "planted_mlp": "models",
    "memorizing_mlp": "models",
    "fourier_basis": "fourier",
    "fourier_transform": "fourier",
    "inverse_fourier_transform": "fourier",
    "grid_transform": "fourier",
    "frequency_energy": "fourier",
    "frequency_norms": "fourier",
    "sum_directions": "fourier",
    "answer_directions": "fourier",
    "train": "training",
    "TrainConfig": "training",
    "History": "training",
    "evaluate": "training",
    "accuracy": "training",
    "train_many": "seeds",
    "train_seeds": "seeds",
    "SeedSweep": "seeds",
    "load": "checkpoint",
    "CheckpointError": "checkpoint",
    "from_preset": "presets",
    "list_presets": "presets",
    "list_pretrained": "pretrained",
    "load_pretrained": "pretrained",
    # --- analysis (issue 3): add names here, e.g. "unit_frequencies": "analysis",
    # --- end analysis
    # --- interventions (issue 4): add names here, e.g. "HookedWrapper": "interventions",
    # --- end interventions
    # --- verify (issue 5)
    # --- end verify
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fourier_interp' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load lazily
    from .checkpoint import CheckpointError, load
    from .models import (
        AnalysisSpec,
        HookedMLP,
        HookedModel,
        HookedRNN,
        HookedTransformer,
        MLPConfig,
        RNNConfig,
        TransformerConfig,
        memorizing_mlp,
        planted_mlp,
    )
    from .fourier import (
        answer_directions,
        fourier_basis,
        fourier_transform,
        frequency_energy,
        frequency_norms,
        grid_transform,
        inverse_fourier_transform,
        sum_directions,
    )
    from .presets import from_preset, list_presets
    from .pretrained import list_pretrained, load_pretrained
    from .tasks import ModularArithmetic
    from .seeds import SeedSweep, train_many, train_seeds
    from .training import History, TrainConfig, accuracy, evaluate, train
