"""The HTML page of a verification over a group (``GroupVerificationReport.to_html``).

The same page as :func:`~fourier_interp.report.render_html` for Z_p, with the evidence in
irreps: the logits' character shares, the weights' energy per irrep, and the units per irrep
and coset-like units. Read duck-typed from the report (``extras["irreps"]``, an
``IrrepReport``; ``extras["cosets"]``, a ``UnitCosets``).

Example:
    >>> import fourier_interp as fi
    >>> from fourier_interp.verification.groups import verify_group
    >>> s3 = fi.groups.symmetric(3)
    >>> page = verify_group(fi.planted_gcr(s3, ["(2,1)"]), fi.GroupTask(s3)).to_html()
    >>> page.startswith("<!DOCTYPE html>") and "key irreps" in page and "data:image/png" in page
    True
"""

from __future__ import annotations

import html

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

GROUP_CAPTIONS = {
    "logit_irreps": "Share of the centred logit variance explained by each irrep's character chi(g1...gk z^-1); key "
                    "irreps in red. The dashed line is the share that depends on the operands only through their "
                    "product: the most the characters can explain.",
    "weight_irreps": "Share of each weight's non-trivial energy along its token axis in each irrep.",
    "unit_irreps": "Hidden units whose variance over the grid lies in one irrep's block (per irrep), and units "
                   "constant on the cosets of a subgroup on every operand.",
}


def _figure(figsize) -> Figure:
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def group_figures(report) -> dict[str, Figure]:
    """The figures the report has evidence for, keyed as in :data:`GROUP_CAPTIONS`."""
    irreps = report.extras.get("irreps")
    if irreps is None:
        return {}
    names = irreps.logits.names[1:]
    key = set(report.key_irreps)
    figs: dict[str, Figure] = {}
    fig = _figure((max(4.0, 0.6 * len(names) + 2), 3.0))
    ax = fig.subplots()
    ax.bar(names, irreps.logits.fraction[1:].tolist(), color=["#cf222e" if n in key else "#8c959f" for n in names])
    ax.axhline(irreps.logits.answer_share, color="#1d1d1f", linestyle="--", linewidth=1)
    ax.set_ylabel("share of centred logits")
    ax.tick_params(axis="x", rotation=45)
    figs["logit_irreps"] = fig
    if irreps.weights:
        fig = _figure((max(4.0, 0.6 * len(names) + 2), 3.0))
        ax = fig.subplots()
        width = 0.8 / len(irreps.weights)
        for i, (role, w) in enumerate(irreps.weights.items()):
            ax.bar([j + i * width for j in range(len(names))], w[1:].tolist(), width=width, label=role)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))], names, rotation=45)
        ax.set_ylabel("share of weight energy")
        ax.legend(fontsize=8)
        figs["weight_irreps"] = fig
    if irreps.units is not None:
        counts = irreps.units.counts()
        cosets = report.extras.get("cosets")
        labels = names + (["coset-like"] if cosets is not None else [])
        values = [counts.get(n, 0) for n in names] + ([int(cosets.coset_like.sum())] if cosets is not None else [])
        fig = _figure((max(4.0, 0.6 * len(labels) + 2), 3.0))
        ax = fig.subplots()
        colors = ["#cf222e" if n in key else "#8c959f" for n in names] + ["#0969da"] * (len(labels) - len(names))
        ax.bar(labels, values, color=colors)
        ax.set_ylabel(f"units (of {int(irreps.units.live.sum())} live)")
        ax.tick_params(axis="x", rotation=45)
        figs["unit_irreps"] = fig
    return figs


def render_group_html(report) -> str:
    """The group report as one self-contained HTML document (string)."""
    from ..analysis.results import fmt_value
    from . import _STYLE, _algorithm_note, _png

    esc = html.escape
    rows = []
    for i, c in enumerate(report.claims, 1):
        v = c.verdict
        css = {"pass": "v-pass", "FAIL": "v-FAIL", "n/a": "v-na"}.get(v, "v-info")
        rows.append(f"<tr><td>{i}</td><td><code>{esc(c.key)}</code></td><td>{esc(c.role)}</td><td>{esc(c.name)}"
                    f"<div class='detail'>{esc(c.detail)}</div></td><td>{esc(fmt_value(c.value))}</td>"
                    f"<td>{esc(c.threshold)}</td><td class='{css}'>{esc(v)}</td></tr>")
    figures = "".join(f"<figure id='fig-{k}'><img alt='{esc(k)}' src='{_png(f)}'>"
                      f"<figcaption>{esc(GROUP_CAPTIONS[k])}</figcaption></figure>"
                      for k, f in group_figures(report).items())
    th = "".join(f"<tr><td><code>{esc(k)}</code></td><td>{esc(str(v))}</td></tr>"
                 for k, v in report.thresholds.to_dict().items())
    failed = ("<p><strong>Failed:</strong> " + esc("; ".join(c.name for c in report.failed_claims)) + "</p>"
              if report.failed_claims else "")
    freqs = (f" &nbsp; key frequencies <strong>{esc(str(report.key_frequencies))}</strong>"
             if report.key_frequencies else "")
    title = f"Group composition via representations (GCR) check: {esc(report.name)}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{title}</h1>
<p>{esc(report.model_class)} on {esc(str(report.task))}; units at <code>{esc(report.neurons)}</code>.</p>
<p><span class="verdict {'pass' if report.passed else 'fail'}">{'PASS' if report.passed else 'FAIL'}</span>
&nbsp; algorithm <strong>{esc(str(report.algorithm))}</strong>{_algorithm_note(report)}
&nbsp; key irreps <strong>{esc(', '.join(report.key_irreps) or 'none')}</strong>{freqs}</p>
<p class="detail">why: {esc(report.reason)}</p>
{failed}
<h2>Claims</h2>
<table><thead><tr><th>#</th><th>key</th><th>role</th><th>claim</th><th>value</th><th>threshold</th><th>verdict</th></tr>
</thead><tbody>{''.join(rows)}</tbody></table>
<h2>Evidence</h2>
{figures}
<h2>Thresholds</h2>
<table class='thresholds'><thead><tr><th>threshold</th><th>value</th></tr></thead><tbody>{th}</tbody></table>
<p class="detail">Generated by fourier_interp on {esc(report.created)}.</p>
</body></html>
"""
