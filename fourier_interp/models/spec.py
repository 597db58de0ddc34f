"""What a model family tells the analyses about itself: the one seam between models and analysis.

A model family implements ``analysis_spec()`` and returns an :class:`AnalysisSpec`; the
analysis, intervention and verification layers read roles from it and never switch on the
model's class. The spec says

* which hook holds the hidden units (``neurons``; ``units`` lists every candidate hook,
  e.g. each layer of a deep transformer) and where they are read (``unit_position``);
* which weights play which role — the embedding over tokens, the unembedding over answers,
  each unit's own input and output weights — as tensors, and which *parameters* are indexed
  by tokens (``token_params``: name -> (token axis, role)), so weight-space interventions
  can edit them in place;
* what the nonlinearity adds (``harmonic_order``: a unit on frequency ``f`` also carries
  ``2f, ..., order * f``);
* which optional evidence applies (``evidence``): ``"low_rank"`` (SVD of
  ``weight_matrices``, Rangamani), ``"neuron_alignment"`` (single-frequency units, Li et
  al.), ``"phase_relation"`` (counted for Li et al.'s power form), ``"attention"`` (the
  pattern at ``attention_pattern``);
* where the operands' input embeddings are (``operand_embed``, for gradient symmetricity).

Adding a model family means writing its file under ``models/`` and its ``analysis_spec``;
nothing else in the package changes (tests/test_contract.py checks a family written from
these docs alone).

Example:
    >>> import fourier_interp as fi
    >>> spec = fi.HookedRNN(fi.RNNConfig(p=7, d_hidden=16)).analysis_spec()
    >>> spec.neurons, spec.harmonic_order, sorted(spec.evidence)
    ('layers.0.steps.1.hook_hidden', 2, ['low_rank'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from torch import Tensor

from ..errors import InvalidArgumentError

EVIDENCE = ("low_rank", "neuron_alignment", "phase_relation", "attention")
TOKEN_ROLES = ("embed", "unit_input", "unembed")
HARMONIC_ORDER = {"relu": 2, "gelu": 2, "tanh": 3}  # harmonics each activation adds to a unit's frequency


@dataclass
class AnalysisSpec:
    """Which activations and weights of a model play which role in the Fourier analysis.

    Attributes:
        neurons: Hook of the hidden units the analyses use by default, ``[batch, (pos,) units]``.
        units: Every hook that holds hidden units worth analysing (e.g. each layer's MLP);
            ``neurons`` is one of them. Defaults to ``(neurons,)``.
        unit_position: Position read from a unit hook with a position axis (``-1``: the
            readout position); ``None`` when the hook has no position axis.
        embed: Token embedding over the operand tokens, ``[p, d]`` (``None`` when the
            model has no shared embedding, e.g. the power MLP).
        unembed: Readout matrix ``[d, p]`` from the last hidden representation to logits.
        unit_input_weights: Each unit's own input weights ``[units, k, p]`` (the MLP's
            ``u_{i,j}``); ``None`` when units mix a shared embedding.
        unit_output_weights: Each unit's output weights ``[units, p]`` (the MLP's ``w_i``).
        weight_matrices: Named 2-D weights worth a low-rank (SVD) look.
        token_params: Parameters indexed by tokens or answers, ``name -> (token axis, role)``
            with role ``"embed"``, ``"unit_input"`` or ``"unembed"`` (weight-space ablation).
        attention_pattern: Hook of the attention pattern ``[batch, head, query, key]``.
        activation: ``"relu"``, ``"gelu"``, ``"tanh"`` or ``"power"`` (for reports).
        harmonic_order: Highest harmonic of a unit's frequency its nonlinearity creates
            (default from ``activation``: 2 for ReLU/GELU, 3 for tanh; set it for ``x^n``).
        operand_embed: Hook ``[batch, pos, d]`` of the operands' input embeddings at
            positions ``0..k-1`` (gradient symmetricity); ``None`` when operands have no
            shared embedding (the power MLP).
        evidence: Optional evidence that applies, a subset of ``EVIDENCE``.
    """

    neurons: str
    embed: Optional[Tensor] = None
    unembed: Optional[Tensor] = None
    unit_input_weights: Optional[Tensor] = None
    unit_output_weights: Optional[Tensor] = None
    weight_matrices: dict[str, Tensor] = field(default_factory=dict)
    attention_pattern: Optional[str] = None
    activation: str = "relu"
    operand_embed: Optional[str] = None
    units: tuple[str, ...] = ()
    unit_position: Optional[int] = None
    token_params: dict[str, tuple[int, str]] = field(default_factory=dict)
    harmonic_order: Optional[int] = None
    evidence: frozenset[str] = frozenset()

    def __post_init__(self):
        if not isinstance(self.neurons, str):
            raise TypeError(f"AnalysisSpec.neurons must be a hook name (str), got {type(self.neurons).__name__}")
        self.units = tuple(self.units) or (self.neurons,)
        if self.neurons not in self.units:
            raise InvalidArgumentError(f"AnalysisSpec.neurons={self.neurons!r} is not one of units={self.units}")
        self.evidence = frozenset(self.evidence)
        unknown = sorted(self.evidence - set(EVIDENCE))
        if unknown:
            raise InvalidArgumentError(f"AnalysisSpec.evidence has unknown entries {unknown}; expected some of {EVIDENCE}")
        for name, value in self.token_params.items():
            if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int) and value[1] in TOKEN_ROLES):
                raise InvalidArgumentError(f"AnalysisSpec.token_params[{name!r}]={value!r}: expected (token axis, role) with role "
                                 f"one of {TOKEN_ROLES}")
        if self.harmonic_order is None:
            self.harmonic_order = HARMONIC_ORDER.get(self.activation, 2)
        if isinstance(self.harmonic_order, bool) or not isinstance(self.harmonic_order, int) or self.harmonic_order < 1:
            raise InvalidArgumentError(f"AnalysisSpec.harmonic_order={self.harmonic_order!r}: expected an int >= 1")
        if "attention" in self.evidence and self.attention_pattern is None:
            raise InvalidArgumentError("AnalysisSpec.evidence names 'attention' but attention_pattern is None")
