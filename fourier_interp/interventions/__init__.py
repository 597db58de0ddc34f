"""Interventions: how a claim about the Fourier algorithm becomes causal.

Everything here is a hook function, a context manager built on ``model.hooks()``, or a
function that runs those, so interventions compose with ``run_with_hooks``,
``run_with_cache``, ``hooks()`` and each other, on every built-in model and on any plain
``nn.Module`` wrapped in :class:`HookedWrapper`.

Modules:

* :class:`HookedWrapper` (defined in :mod:`fourier_interp.models.wrapper`): hook points on a plain PyTorch
  module's submodules, their inputs and the functional operations in its ``forward``.
* :mod:`.patching` — :func:`patch_activation`, :class:`Subspace`, patch hooks, clean/corrupted pairs, metrics.
* :mod:`.sweeps` — patching sweeps: positions x layers (via ``transformer_lens.patching``),
  RNN steps, units and unit clusters, frequency subspaces.
* :mod:`.ablation` — frequency ablation over the input grid (hooks, context manager) and
  in weight space.
* :mod:`.neurons` — zero / mean / resample ablation of units and unit clusters.
* :mod:`.progress` — restricted and excluded loss (Nanda et al.) and their curves over checkpoints.
* :mod:`.units` — each unit projected onto its own strongest frequency blocks (does it compute
  with a few frequencies, causally?).
* :mod:`.curves` — ablation curves (Rangamani): frequencies removed one by one, with a control.
* :mod:`.results` — result tables with ``to_dict()`` / ``to_dataframe()``.

See ``docs/interventions.md`` for definitions and examples.
"""

from .ablation import (
    FrequencyAblation,
    ablate_frequencies,
    ablate_weight_frequencies,
    frequency_ablation_hook,
    project_grid_frequencies,
    project_frequencies,
    token_weights,
)
from .curves import AblationCurve, ablation_curve
from .neurons import NeuronAblation, ablate_neurons, cluster_ablation, neuron_ablation_hook
from .patching import (
    METRICS,
    PatchHook,
    Subspace,
    apply_patch,
    corrupt_operand,
    patch_activation,
    patching_hook,
    resample_operand,
)
from .progress import (
    Phases,
    ProgressMeasures,
    ProgressRecorder,
    excluded_logits,
    excluded_loss,
    locate_phases,
    progress_measures,
    restricted_logits,
    restricted_loss,
)
from .results import PatchResult, ResultTable
from .units import UnitProjection, UnitScan, candidate_unit_hooks, locate_units, project_unit_blocks, unit_projection
from .sweeps import patch_frequencies, patch_positions_layers, patch_steps, patch_sweep, patch_units
from ..models.wrapper import HookedWrapper, WrapperConfig

__all__ = [
    "unit_projection",
    "UnitProjection",
    "project_unit_blocks",
    "locate_units",
    "UnitScan",
    "candidate_unit_hooks",
    "HookedWrapper",
    "WrapperConfig",
    "patch_activation",
    "patching_hook",
    "apply_patch",
    "PatchHook",
    "Subspace",
    "corrupt_operand",
    "resample_operand",
    "METRICS",
    "patch_sweep",
    "patch_positions_layers",
    "patch_steps",
    "patch_units",
    "patch_frequencies",
    "PatchResult",
    "ResultTable",
    "project_grid_frequencies",
    "frequency_ablation_hook",
    "FrequencyAblation",
    "ablate_frequencies",
    "project_frequencies",
    "ablate_weight_frequencies",
    "token_weights",
    "neuron_ablation_hook",
    "NeuronAblation",
    "ablate_neurons",
    "cluster_ablation",
    "restricted_loss",
    "excluded_loss",
    "restricted_logits",
    "excluded_logits",
    "progress_measures",
    "ProgressRecorder",
    "Phases",
    "locate_phases",
    "ProgressMeasures",
    "ablation_curve",
    "AblationCurve",
]
