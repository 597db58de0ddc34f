"""fourier_interp: train small networks on modular arithmetic and verify, with measurements
and causal interventions, that they compute the answer with Fourier Multiplication.

Data flows one way through the package::

    tasks -> models -> training -> fourier (maths) -> analysis -> interventions -> verification -> report

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
    "planted_pizza": "models",
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
    "analyze_frequencies": "analysis",
    "key_frequencies": "analysis",
    "unit_frequencies": "analysis",
    "cluster_units": "analysis",
    "logit_frequencies": "analysis",
    "weight_frequencies": "analysis",
    "grid_activations": "analysis",
    "low_rank": "analysis",
    "neuron_alignment": "analysis",
    "normalized_margin": "analysis",
    "LinearProbe": "analysis",
    "FourierProbe": "analysis",
    "FrequencyReport": "analysis",
    "distance_irrelevance": "analysis",
    "gradient_symmetricity": "analysis",
    "logit_forms": "analysis",
    # --- end analysis
    # --- interventions (issue 4): add names here, e.g. "HookedWrapper": "interventions",
    "HookedWrapper": "interventions",
    "patch_activation": "interventions",
    "patching_hook": "interventions",
    "Subspace": "interventions",
    "corrupt_operand": "interventions",
    "resample_operand": "interventions",
    "patch_sweep": "interventions",
    "patch_positions_layers": "interventions",
    "patch_steps": "interventions",
    "patch_units": "interventions",
    "patch_frequencies": "interventions",
    "PatchResult": "interventions",
    "frequency_projection": "interventions",
    "frequency_ablation_hook": "interventions",
    "ablate_frequencies": "interventions",
    "project_frequencies": "interventions",
    "ablate_weight_frequencies": "interventions",
    "neuron_ablation_hook": "interventions",
    "ablate_neurons": "interventions",
    "cluster_ablation": "interventions",
    "restricted_loss": "interventions",
    "excluded_loss": "interventions",
    "progress_measures": "interventions",
    "ProgressMeasures": "interventions",
    "ablation_curve": "interventions",
    "AblationCurve": "interventions",
    # --- end interventions
    # --- verify (issue 5)
    "verify": "verification",
    "Algorithm": "verification",
    "Thresholds": "verification",
    "Claim": "verification",
    "VerificationReport": "verification",
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
    from .analysis import (
        FourierProbe,
        FrequencyReport,
        LinearProbe,
        analyze_frequencies,
        cluster_units,
        distance_irrelevance,
        gradient_symmetricity,
        grid_activations,
        key_frequencies,
        logit_forms,
        logit_frequencies,
        low_rank,
        neuron_alignment,
        normalized_margin,
        unit_frequencies,
        weight_frequencies,
    )
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
        planted_pizza,
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
    from .interventions import (
        AblationCurve,
        HookedWrapper,
        PatchResult,
        ProgressMeasures,
        Subspace,
        ablate_frequencies,
        ablate_neurons,
        ablate_weight_frequencies,
        ablation_curve,
        cluster_ablation,
        corrupt_operand,
        excluded_loss,
        frequency_ablation_hook,
        frequency_projection,
        neuron_ablation_hook,
        patch_activation,
        patch_frequencies,
        patch_positions_layers,
        patch_steps,
        patch_sweep,
        patch_units,
        patching_hook,
        progress_measures,
        project_frequencies,
        resample_operand,
        restricted_loss,
    )
    from .presets import from_preset, list_presets
    from .pretrained import list_pretrained, load_pretrained
    from .tasks import ModularArithmetic
    from .seeds import SeedSweep, train_many, train_seeds
    from .training import History, TrainConfig, accuracy, evaluate, train
    from .verification import Algorithm, Claim, Thresholds, VerificationReport, verify
