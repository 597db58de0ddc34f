"""Render a verification report as one self-contained HTML page.

Figures are matplotlib PNGs embedded as data URIs; the transformer's attention patterns
are drawn by circuitsvis with its bundled JavaScript inlined (``local_src``, never the CDN),
so the page works offline and from a single file.

Example:
    >>> import fourier_interp as fi
    >>> report = fi.verify(fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11))
    >>> page = report.to_html()
    >>> import re
    >>> page.startswith("<!DOCTYPE html>") and not re.search(r"<script[^>]+src=", page)
    True
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from .figures import CAPTIONS, report_figures

_STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1d1d1f; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.verdict { display: inline-block; padding: 0.2rem 0.8rem; border-radius: 4px; font-weight: 600; color: white; }
.pass { background: #1a7f37; } .fail { background: #cf222e; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
td.v-pass { color: #1a7f37; font-weight: 600; } td.v-FAIL { color: #cf222e; font-weight: 600; }
td.v-info, td.v-na { color: #57606a; }
.detail { color: #57606a; font-size: 0.85rem; }
figure { margin: 1rem 0 2rem 0; } figure img { max-width: 100%; border: 1px solid #eaeef2; }
figcaption { color: #57606a; font-size: 0.88rem; }
code { background: #f6f8fa; padding: 0 0.25rem; border-radius: 3px; }
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _attention_html(examples: dict[str, Any]) -> str:
    """circuitsvis attention patterns of one input, with the bundled JavaScript inlined.

    One widget only: each carries the whole 1.3 MB bundle. circuitsvis writes its mount
    point as ``<div .../>``, which HTML parses as an open tag, so it is wrapped in a
    container of ours that closes it.
    """
    import circuitsvis as cv

    tokens, pattern = examples["tokens"][0], examples["patterns"][0]
    rendered = cv.attention.attention_patterns(tokens=tokens, attention=pattern)
    return f"<p>input {html.escape(' '.join(tokens))}</p><div class='circuitsvis'>{rendered.local_src}</div>"


def _methods_html(report) -> str:
    """The key-frequency methods and the thresholds as two small tables."""
    from ..analysis.results import _fmt_freqs as _freq_list

    esc = html.escape
    freq = report.frequencies
    rows = "".join(f"<tr><td>{esc(name)}</td><td>{esc(_freq_list(fs))}</td><td>{len(fs)}</td></tr>"
                   for name, fs in freq.methods.items())
    methods = (f"<table><thead><tr><th>method</th><th>frequencies</th><th>count</th></tr></thead><tbody>{rows}"
               f"<tr><td><strong>key</strong> ({esc(freq.rule)})</td><td>{esc(_freq_list(report.key_frequencies))}</td>"
               f"<td>{len(report.key_frequencies)}</td></tr></tbody></table>")
    th = "".join(f"<tr><td><code>{esc(k)}</code></td><td>{esc(str(v))}</td></tr>"
                 for k, v in report.thresholds.to_dict().items())
    return (methods + "<p class='detail'>Thresholds (docs/verify.md gives the reason for each):</p>"
            f"<table class='thresholds'><thead><tr><th>threshold</th><th>value</th></tr></thead><tbody>{th}</tbody></table>")


def _algorithm_note(report) -> str:
    description = getattr(report.algorithm, "description", None)
    return f" <span class='detail'>({html.escape(description)})</span>" if description else ""


def render_html(report) -> str:
    """The report as one HTML document (string)."""
    from ..analysis.results import fmt_value

    esc = html.escape
    badge = "pass" if report.passed else "fail"
    rows = []
    for i, c in enumerate(report.claims, 1):
        v = c.verdict
        css = {"pass": "v-pass", "FAIL": "v-FAIL", "n/a": "v-na"}.get(v, "v-info")
        link = f'<a href="#fig-{c.figure}">figure</a>' if c.figure else ""
        rows.append(
            f"<tr><td>{i}</td><td>{esc(c.name)}<div class='detail'>{esc(c.detail)}</div></td>"
            f"<td>{esc(fmt_value(c.value))}</td><td>{esc(c.threshold)}</td><td class='{css}'>{esc(v)}</td><td>{link}</td></tr>"
        )
    figures = report_figures(report)
    fig_html = []
    for key, fig in figures.items():
        fig_html.append(
            f"<figure id='fig-{key}'><img alt='{esc(key)}' src='{_png(fig)}'>"
            f"<figcaption>{esc(CAPTIONS.get(key, key))}</figcaption></figure>"
        )
    attention = ""
    if "attention_examples" in report.extras:
        attention = "<h2>Attention patterns (circuitsvis)</h2>" + _attention_html(report.extras["attention_examples"])
    failed = ""
    if report.failed_claims:
        failed = "<p><strong>Failed:</strong> " + esc("; ".join(c.name for c in report.failed_claims)) + "</p>"
    t = report.timings.get("total_s")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fourier Multiplication check: {esc(report.name)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>Fourier Multiplication check: {esc(report.name)}</h1>
<p>{esc(report.model_class)} on {esc(str(report.task))}; units at <code>{esc(report.neurons)}</code>.</p>
<p><span class="verdict {badge}">{'PASS' if report.passed else 'FAIL'}</span>
&nbsp; algorithm <strong>{esc(str(report.algorithm))}</strong>{_algorithm_note(report)}
&nbsp; key frequencies <strong>{esc(str(report.key_frequencies))}</strong>
({esc(report.frequencies.rule)})</p>
{failed}
{f"<p><em>{esc(report.note)}</em></p>" if getattr(report, "note", None) else ""}
<h2>Claims</h2>
<table><thead><tr><th>#</th><th>claim</th><th>value</th><th>threshold</th><th>verdict</th><th></th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<h2>Methods</h2>
{_methods_html(report)}
<p class="detail">{f'Verified in {t:.1f} s.' if t else ''} Generated by fourier_interp on {esc(report.created)}.</p>
<h2>Evidence</h2>
{''.join(fig_html)}
{attention}
</body></html>
"""


__all__ = ["render_html", "report_figures", "CAPTIONS"]
