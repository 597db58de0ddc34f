"""One-hidden-layer networks over k operands, one class per form.

    base.py    MLPConfig; HookedMLP, the shared one forward (pre-activation, activation,
               readout; hooks on or off) and the class ``HookedMLP(cfg)`` builds for cfg.form
    power.py   PowerMLP  (form="power"): Li et al.'s x^k network
    embed.py   EmbedMLP  (form="embed_relu"): embeddings, concatenated or summed, into ReLU

Example:
    >>> import fourier_interp as fi
    >>> model = fi.HookedMLP(fi.MLPConfig(p=7, k=3))
    >>> type(model).__name__, isinstance(model, fi.HookedMLP), model.cfg.d_hidden
    ('PowerMLP', True, 96)
"""

from .base import FORMS, HookedMLP, MLPConfig
from .embed import EmbedMLP
from .power import PowerMLP

__all__ = ["HookedMLP", "MLPConfig", "PowerMLP", "EmbedMLP", "FORMS"]
