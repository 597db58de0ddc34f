"""Names of the presets and the model family each trains, readable without importing torch.

The command line parses its arguments (and the sweep configs validate theirs) before torch is
imported, so the names live here; :mod:`fourier_interp.presets` defines the settings and
checks at import that both agree (tests/test_package.py imports it).
"""

from __future__ import annotations

# preset name -> model family (``HookedTransformer`` -> "transformer", ...)
PRESET_FAMILY: dict[str, str] = {
    "nanda2023": "transformer",
    "zhong2023-clock": "transformer",
    "zhong2023-pizza": "transformer",
    "rnn": "rnn",
    "li2025-k2": "mlp",
    "li2025-k3": "mlp",
    "chughtai2023-s5": "mlp",
    "chughtai2023-s5-transformer": "transformer",
    "chughtai2023-s6": "mlp",
    "chughtai2023-a5": "mlp",
    "chughtai2023-d59": "mlp",
    "mul113": "transformer",
}

# family -> the preset `fourier-interp train --model FAMILY` uses by default (its paper's)
FAMILY_PRESETS: dict[str, str] = {"transformer": "nanda2023", "rnn": "rnn", "mlp": "li2025-k2"}

FAMILY_CLASSES: dict[str, str] = {"transformer": "HookedTransformer", "rnn": "HookedRNN", "mlp": "HookedMLP"}
