"""The figures of a verification report, one per kind of evidence (matplotlib, no pyplot)."""

from __future__ import annotations

from typing import Any, Optional

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..analysis import plots

# figure key -> caption; claims name these keys in ``Claim.figure``
CAPTIONS = {
    "embedding": "Fourier norms of the embedding (and unembedding) per frequency; key frequencies in red.",
    "unit_frequencies": "Clustered hidden units per frequency (a unit's frequency with its harmonics explains "
                        ">= the threshold of its variance over the grid).",
    "logit_frequencies": "Share of the centred logit variance explained by each frequency's cos(w(s.a - c)) term; "
                         "key frequencies in red.",
    "ablation": "Accuracy and loss as the key frequencies (then their harmonics) are removed cumulatively at the "
                "unit hook in order of logit share, against as many other frequencies (control).",
    "training": ("Training curves; restricted and excluded loss (Nanda et al.'s progress measures) where recorded; "
                 "grey lines: the ends of memorisation, circuit formation and clean-up (fi.locate_phases)."),
    "low_rank": "Share of each weight matrix's energy in its top singular components (Rangamani).",
    "unit_weights": "Li et al.'s checks: purity of each neuron's input/output weights on its frequency, and the "
                    "phase relation error.",
    "attention": "Mean attention from '=' to each position, per head, over the grid.",
    "algorithm": "Clock or pizza: the correct logit (centred over answers) over (a + b, a - b) and its mean per "
                 "a - b. A clock's size changes little along a - b (a trained clock keeps some pattern; its distance "
                 "irrelevance and amplitude modulation in the table say how much); a pizza's size follows "
                 "|cos(w(a - b)/2)| (vertical bands).",
}


def _nothing(ax, text: str) -> None:
    """Say on an axis that there is nothing to draw, instead of leaving an empty plot."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#57606a")
    ax.set_xticks([])
    ax.set_yticks([])


def _figure(figsize) -> Figure:
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def report_figures(report) -> dict[str, Figure]:
    """Every figure the report has evidence for, keyed as in :data:`CAPTIONS`."""
    figs: dict[str, Figure] = {}
    freq, key = report.frequencies, report.key_frequencies
    spectra = [s for name, s in freq.weights.items() if name in ("embed", "unembed", "unit_inputs")]
    if spectra:
        figs["embedding"] = plots.frequency_norms(spectra, highlight=key)
    if freq.units is not None:
        figs["unit_frequencies"] = plots.unit_frequencies(freq.units)
    figs["logit_frequencies"] = plots.logit_frequencies(freq.logits, highlight=key)
    if report.ablation is not None:
        figs["ablation"] = report.ablation.plot()
    training = training_figure(report.history, p=freq.p)
    if training is not None:
        figs["training"] = training
    if "low_rank" in report.extras:
        figs["low_rank"] = low_rank_figure(report.extras["low_rank"])
    if "neurons" in report.extras:
        figs["unit_weights"] = unit_weights_figure(report.extras["neurons"])
    di = report.extras.get("distance_irrelevance")
    if di is not None and di.table is not None:
        figs["algorithm"] = plots.correct_logit(di, title=f"{report.algorithm}: distance irrelevance {di.value:.3f}, "
                                                          f"a - b explains {di.difference_share:.1%}")
    if "attention_from_eq" in report.extras:
        figs["attention"] = attention_figure(report.extras["attention_from_eq"], report.task.k)
    return figs


def training_figure(history: Any, p: Optional[int] = None) -> Optional[Figure]:
    """Loss curves (log scale) and accuracy against step, from a ``History``, with the phases of grokking."""
    if history is None or not getattr(history, "records", None):
        return None
    records = history.records
    steps = [r["step"] for r in records]
    fig = _figure((10, 3.4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for key in ("train_loss", "test_loss", "restricted_loss", "excluded_loss"):
        # measures recorded at some evaluations only (e.g. at checkpoints) are drawn through the points they have
        points = [(s, max(r[key], 1e-12)) for s, r in zip(steps, records) if r.get(key) is not None]
        if points:
            xs, ys = zip(*points)
            ax_loss.plot(xs, ys, "o-" if len(points) < 12 else "-", markersize=3, label=key.replace("_", " "))
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.legend(fontsize="small")
    for key in ("train_acc", "test_acc"):
        values = [r.get(key) for r in records]
        if any(v is not None for v in values):
            ax_acc.plot(steps, [float("nan") if v is None else v for v in values], label=key.replace("_", " "))
    ax_acc.set_xlabel("step")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(-0.02, 1.02)
    ax_acc.legend(fontsize="small")
    _draw_phases((ax_loss, ax_acc), records, p)
    grok = getattr(history, "grokked_step", None)
    fig.suptitle("training" + (f" (test accuracy >= 0.99 from step {grok})" if grok is not None else ""))
    fig.tight_layout()
    return fig


PHASE_LINES = (("memorisation_end", ":", "memorised"), ("circuit_formation_end", "--", "circuit formed"),
               ("cleanup_end", "-.", "cleaned up"))


def _draw_phases(axes, records, p: Optional[int]) -> None:
    """Grey vertical lines where ``fi.locate_phases`` ends memorisation, circuit formation and clean-up."""
    from ..interventions.progress import locate_phases

    phases = locate_phases(records, p).to_dict()
    for key, style, label in PHASE_LINES:
        if phases.get(key) is not None:
            for i, ax in enumerate(axes):
                ax.axvline(phases[key], color="0.45", lw=0.8, ls=style, label=label if i == 1 else None)
    if any(phases.get(key) is not None for key, _, _ in PHASE_LINES):
        axes[1].legend(fontsize="small")


def low_rank_figure(lowrank: dict) -> Figure:
    fig = _figure((7, 3))
    ax = fig.subplots()
    for name, res in lowrank.items():
        energy = res.energy[:20].cumsum(0).tolist()
        ax.plot(range(1, len(energy) + 1), energy, "o-", markersize=3, label=f"{name} (r={res.r})")
    ax.set_xlabel("top singular components")
    ax.set_ylabel("share of energy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def unit_weights_figure(align: Any) -> Figure:
    fig = _figure((10, 3))
    ax_purity, ax_phase = fig.subplots(1, 2)
    ax_purity.hist(align.purity.double().cpu().numpy(), bins=20, range=(0, 1))
    ax_purity.axvline(align.threshold, color="tab:red", linestyle="--")
    ax_purity.set_xlabel("purity: smallest share of a weight vector's energy on the neuron's frequency")
    ax_purity.set_ylabel("neurons")
    errors = align.phase_error[align.single].double().cpu().numpy()
    if len(errors):
        ax_phase.hist(errors, bins=20, range=(0, 3.1416))
        ax_phase.set_xlabel("|phase(w_i) - sum_j phase(u_ij)| (rad), single-frequency neurons")
    else:
        _nothing(ax_phase, "no single-frequency neuron:\nno phase relation to show")
    fig.tight_layout()
    return fig


def attention_figure(to_pos, k: int) -> Figure:
    fig = _figure((4 + 0.4 * k, 2.6))
    ax = fig.subplots()
    image = ax.imshow(to_pos.double().cpu().numpy(), vmin=0, vmax=1, cmap="Blues", aspect="auto")
    ax.set_xticks(range(k + 1), [f"a{j + 1}" for j in range(k)] + ["="])
    ax.set_yticks(range(to_pos.shape[0]), [f"head {h}" for h in range(to_pos.shape[0])])
    ax.set_xlabel("attended position")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig
