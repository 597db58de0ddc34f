"""Figures of the spectra (matplotlib); every helper returns its ``Figure``.

Figures are built as ``matplotlib.figure.Figure`` objects rendered by the Agg canvas, without
pyplot: nothing changes the caller's backend, no figure is left registered with pyplot, and
``fig.savefig(...)`` works headless. In Jupyter a returned figure displays as usual.

Example:
    >>> import fourier_interp as fi
    >>> from fourier_interp.analysis import plots
    >>> model, task = fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11)
    >>> fig = plots.logit_frequencies(fi.analyze_frequencies(model, task).logits)
    >>> len(fig.axes[0].patches)   # one bar per frequency
    5
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from ..errors import InvalidArgumentError
from ..fourier import grid_spectrum
from .results import LogitFrequencies, UnitFrequencies, WeightSpectrum


def _figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _bars(values: Tensor, title: str, ylabel: str, highlight: Sequence[int] = (), ax=None) -> Figure:
    if ax is None:
        ax = _figure((7, 3)).subplots()
    fig = ax.figure
    freqs = list(range(1, len(values) + 1))
    colors = ["tab:red" if f in set(highlight) else "tab:blue" for f in freqs]
    ax.bar(freqs, values.detach().cpu().double().tolist(), color=colors)
    ax.set_xlabel("frequency")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def frequency_norms(spectra: Union[WeightSpectrum, Sequence[WeightSpectrum]], highlight: Sequence[int] = ()) -> Figure:
    """Bars of each weight's per-frequency norm (one panel per spectrum); ``highlight`` in red."""
    spectra = [spectra] if isinstance(spectra, WeightSpectrum) else list(spectra)
    if not spectra:
        raise InvalidArgumentError("spectra is empty: pass one WeightSpectrum or a list of them")
    fig = _figure((7, 2.6 * len(spectra)))
    axes = fig.subplots(len(spectra), 1, squeeze=False)
    for spectrum, ax in zip(spectra, axes[:, 0]):
        norms = spectrum.energy[1 : len(spectrum.fraction) + 1].sqrt()
        _bars(norms, f"{spectrum.name}: Fourier norms (Gini {spectrum.gini:.2f})", "norm", highlight, ax=ax)
    return fig


def unit_frequencies(units: UnitFrequencies) -> Figure:
    """Histogram of clustered units per frequency, with the unclustered count in the title."""
    counts = units.counts
    title = f"{units.hook or 'units'}: {units.share_clustered:.0%} clustered, {int(counts[0])} not"
    if int(counts[1:].sum()) == 0:  # nothing to draw: say so rather than show an empty axis
        ax = _figure((7, 3)).subplots()
        ax.text(0.5, 0.5, f"no unit is clustered on one frequency ({int(units.live.sum())} live units)",
                ha="center", va="center", transform=ax.transAxes, color="#57606a")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title)
        return ax.figure
    return _bars(counts[1:].double(), title, "clustered units")


def logit_frequencies(logits: LogitFrequencies, highlight: Sequence[int] = ()) -> Figure:
    """Bars of the fraction of centred logit variance explained by each frequency."""
    return _bars(logits.fraction, f"logit variance explained: {logits.total:.1%} in all", "fraction", highlight)


def unit_spectrum(acts: Tensor, p: int, unit: Optional[int] = None, log: bool = False) -> Figure:
    """Heatmap of one unit's 2-D spectrum (k = 2): energy per (frequency of a, frequency of b).

    Args:
        acts: ``[p**2]`` one unit over the grid, or ``[p**2, units]`` with ``unit`` chosen.
        log: Colour by ``log10`` of the energy.
    """
    if acts.ndim == 2:
        if unit is None:
            raise InvalidArgumentError(f"acts has {acts.shape[1]} units: pass unit= (0..{acts.shape[1] - 1})")
        acts = acts[:, unit]
    if acts.shape[0] != p * p:
        raise InvalidArgumentError(f"acts has {acts.shape[0]} rows; the 2-D spectrum needs the full k=2 grid, p**2 = {p * p}")
    acts = acts.detach().double().cpu()  # drawn on the host
    centred = acts - acts.mean()
    energy = grid_spectrum(centred, p, 2)
    shown = torch.log10(energy + 1e-12) if log else energy
    fig = _figure((4.6, 4))
    ax = fig.subplots()
    image = ax.imshow(shown.numpy(), origin="lower", cmap="viridis")
    fig.colorbar(image, ax=ax, label="log10 energy" if log else "energy")
    ax.set_xlabel("frequency of b (0 = const)")
    ax.set_ylabel("frequency of a (0 = const)")
    ax.set_title(f"unit {unit}" if unit is not None else "unit spectrum")
    fig.tight_layout()
    return fig


def correct_logit(result, title: Optional[str] = None) -> Figure:
    """The correct logit over ``(a + b, a - b)`` and its mean per ``a - b``, from a ``DistanceIrrelevance``.

    A clock's correct logit shows no pattern along ``a - b``; a pizza's shows vertical bands
    (its size follows ``|cos(w (a - b) / 2)|``). Needs ``k = 2`` (``result.table``).
    """
    if result.table is None:
        raise InvalidArgumentError("the correct-logit table exists only for k = 2 operands")
    table = result.table.detach().double().cpu()
    fig = _figure((10, 3.6))
    ax_map, ax_line = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    image = ax_map.imshow(table.numpy(), aspect="auto", cmap="viridis", origin="lower")
    ax_map.set_xlabel("a - b (mod p)")
    ax_map.set_ylabel("a + b (mod p)")
    fig.colorbar(image, ax=ax_map, label=f"{result.logit} logit")
    mean, std = table.mean(0), table.std(0, unbiased=False)
    d = torch.arange(len(mean)).numpy()
    ax_line.plot(d, mean.numpy(), color="tab:blue", label="mean over a + b")
    ax_line.fill_between(d, (mean - std).numpy(), (mean + std).numpy(), color="tab:blue", alpha=0.25, label="± std")
    ax_line.set_xlabel("a - b (mod p)")
    ax_line.set_ylabel(f"{result.logit} logit")
    ax_line.legend(fontsize="small")
    fig.suptitle(title or f"distance irrelevance {result.value:.3f}; a - b explains {result.difference_share:.1%}")
    fig.tight_layout()
    return fig
