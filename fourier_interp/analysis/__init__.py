"""The analysis layer: weights and activations over the full input grid -> Fourier facts.

Every function takes a model mapping ``[batch, k]`` operands to ``[batch, p]`` logits plus
hook names (built-in models also name their hooks in ``analysis_spec()``), or plain tensors.

* :mod:`.grid` — run a model over the grid, collect hook activations ``[p**k, units]``.
* :mod:`.frequencies` — key frequencies from weights, clustered units and logits.
* :mod:`.algorithm` — clock or pizza: distance irrelevance, gradient symmetricity, logit forms (Zhong et al.).
* :mod:`.lowrank` — SVD energy and Fourier-aligned singular vectors (Rangamani).
* :mod:`.mlp_weights` — single-frequency neurons, phases and margins (Li et al.).
* :mod:`.probes` — linear and Fourier probes.
* :mod:`.plots` — figures of the spectra (imported on first use: ``fi.analysis.plots``).
* :mod:`.results` — the result objects.

Definitions and thresholds: docs/analysis.md.

Example:
    >>> import fourier_interp as fi
    >>> report = fi.analyze_frequencies(fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11))
    >>> report.key_frequencies, report.agree
    ([2, 5], True)
"""

from .algorithm import (
    AmplitudeModulation,
    Circularity,
    DistanceIrrelevance,
    GradientSymmetricity,
    LogitForms,
    amplitude_modulation,
    circularity,
    distance_irrelevance,
    gradient_symmetricity,
    logit_forms,
)
from .frequencies import (
    analyze_frequencies,
    cluster_units,
    gini,
    harmonic_family,
    key_frequencies,
    logit_frequencies,
    unit_frequencies,
    weight_frequencies,
    weight_spectra,
)
from .grid import grid_activations, run_grid
from .lowrank import fourier_alignment, low_rank, weight_low_rank
from .mlp_weights import margin, neuron_alignment, neuron_spectra, normalized_margin, reference_margin
from .probes import FourierProbe, LinearProbe, fourier_targets
from .results import (
    FrequencyReport,
    LogitFrequencies,
    LowRank,
    NeuronAlignment,
    ProbeResult,
    ProbeTable,
    UnitFrequencies,
    WeightSpectrum,
)

__all__ = [
    "analyze_frequencies",
    "cluster_units",
    "distance_irrelevance",
    "amplitude_modulation",
    "circularity",
    "AmplitudeModulation",
    "Circularity",
    "gradient_symmetricity",
    "logit_forms",
    "fourier_alignment",
    "fourier_targets",
    "gini",
    "harmonic_family",
    "grid_activations",
    "key_frequencies",
    "logit_frequencies",
    "low_rank",
    "margin",
    "neuron_alignment",
    "neuron_spectra",
    "normalized_margin",
    "plots",
    "reference_margin",
    "run_grid",
    "unit_frequencies",
    "weight_frequencies",
    "weight_low_rank",
    "weight_spectra",
    "DistanceIrrelevance",
    "FourierProbe",
    "FrequencyReport",
    "GradientSymmetricity",
    "LogitForms",
    "LinearProbe",
    "LogitFrequencies",
    "LowRank",
    "NeuronAlignment",
    "ProbeResult",
    "ProbeTable",
    "UnitFrequencies",
    "WeightSpectrum",
]


def __getattr__(name: str):
    if name == "plots":  # matplotlib loads only when figures are asked for
        import importlib

        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
