"""fourier_interp: train small networks on modular arithmetic and verify, with measurements
and causal interventions, that they compute the answer with Fourier Multiplication.

Data flows one way through the package, and imports go the same way (lower layers never
import higher ones; tests/test_package.py checks every import, lazy ones included)::

    tasks, fourier (maths) -> storage -> models -> checkpoint -> evaluation -> training
      -> analysis -> interventions -> report (rendering) -> verification -> sweeps -> cli

Conventionally imported as ``import fourier_interp as fi``. Submodules load lazily, so
``import fourier_interp`` is cheap and the command line answers quickly; the first use of
a name imports what it needs. ``_EXPORTS`` below is the one list of public names (``__all__``
is built from it, and a test checks that every entry resolves); subpackages and modules
are attributes too (``fi.analysis``, ``fi.interventions``, ``fi.verification`` ...).

Example:
    >>> import fourier_interp as fi
    >>> model, task, train_cfg = fi.from_preset("nanda2023", seed=0)
    >>> model.cfg.d_model, task.p, train_cfg.weight_decay
    (128, 113, 1.0)
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

__version__ = "0.1.0"

# public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    "ModularArithmetic": "tasks",
    "GroupTask": "tasks",
    "HookedTransformer": "models",
    "TransformerConfig": "models",
    "HookedRNN": "models",
    "RNNConfig": "models",
    "HookedMLP": "models",
    "MLPConfig": "models",
    "HookedModel": "models",
    "ModelConfig": "models",
    "AnalysisSpec": "models",
    "planted_mlp": "models",
    "memorizing_mlp": "models",
    "planted_pizza": "models",
    "fourier_lookup_mlp": "models",
    "planted_gcr": "models",
    "planted_coset": "models",
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
    "evaluate": "evaluation",
    "accuracy": "evaluation",
    "train_many": "seeds",
    "train_seeds": "seeds",
    "SeedSweep": "seeds",
    "load": "checkpoint",
    "save": "checkpoint",
    "InvalidArgumentError": "errors",
    "InvalidArgumentTypeError": "errors",
    "InsufficientMemoryError": "errors",
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
    "amplitude_modulation": "analysis",
    "circularity": "analysis",
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
    "project_grid_frequencies": "interventions",
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
    "ProgressRecorder": "interventions",
    "Phases": "interventions",
    "locate_phases": "interventions",
    "ProgressMeasures": "interventions",
    "ablation_curve": "interventions",
    "AblationCurve": "interventions",
    "unit_projection": "interventions",
    "UnitProjection": "interventions",
    "locate_units": "interventions",
    # --- end interventions
    # --- verify (issue 5)
    "verify": "verification",
    "sweep": "sweeps",
    "SweepResult": "sweeps",
    "SweepConfig": "sweeps",
    "WandbLogger": "sweeps",
    "phase_diagram": "sweeps.phase",
    "PhaseDiagram": "sweeps.phase",
    "attention_view": "report.attention",
    "AttentionView": "report.attention",
    "ModelCache": "models.running",
    "process_weights": "models.transformer.weight_processing",
    "export_tl": "models.transformer.bridge",
    "import_tl_checkpoint": "models.transformer.bridge",
    "Algorithm": "verification",
    "Thresholds": "verification",
    "Claim": "verification",
    "VerificationReport": "verification",
    # --- end verify
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def _submodules() -> frozenset[str]:
    """Names of this package's public modules and subpackages, read from the package directory."""
    return frozenset(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    elif not name.startswith("_") and name in _submodules():
        value = importlib.import_module(f".{name}", __name__)  # fi.analysis, fi.verification ...
    else:
        raise AttributeError(f"module 'fourier_interp' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | _submodules())

