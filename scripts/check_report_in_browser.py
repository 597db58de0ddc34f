"""Open a verification report in headless Chromium and check it renders.

    python scripts/check_report_in_browser.py                  # verify transformer-p113, check its report
    python scripts/check_report_in_browser.py path/report.html # check an existing report

Checks: the page loads from a file:// URL with the network blocked, logs no console errors
and throws no page errors, every <img> decodes (complete, non-zero natural size), and the
circuitsvis attention widgets render (their containers get child elements).

Needs Debian's chromium (``apt-get install chromium``) and the Python playwright package
(``pip install playwright``; no browser download: the system Chromium is used). Exits 0 when
every check passes, 1 otherwise, 2 when the tools are missing.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def check(path: Path) -> list[str]:
    """Problems found on the page (empty when it renders cleanly)."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("http*://**/*", lambda route: (problems.append(f"network request: {route.request.url}"), route.abort()))
            page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
            page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
            page.goto(path.resolve().as_uri(), wait_until="load")
            page.wait_for_timeout(1500)  # let circuitsvis mount its React components
            images = page.evaluate(
                "() => Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
            )
            if not images:
                problems.append("no images on the page")
            for alt, complete, width, height in images:
                if not complete or width == 0 or height == 0:
                    problems.append(f"image {alt!r} did not decode")
            widgets = page.evaluate(
                "() => Array.from(document.querySelectorAll('[id^=circuits-vis]'))"
                ".map(d => d.querySelectorAll('canvas, svg').length)"
            )
            expected = page.evaluate("() => document.querySelectorAll('div.circuitsvis').length")
            if len(widgets) != expected:
                problems.append(f"{expected} circuitsvis containers but {len(widgets)} widgets mounted")
            for i, drawn in enumerate(widgets):
                if drawn == 0:
                    problems.append(f"circuitsvis widget {i} drew nothing")
            print(f"{path}: {len(images)} images, {len(widgets)} circuitsvis widgets, {len(problems)} problems")
        finally:
            browser.close()
    return problems


def main() -> int:
    if chromium_path() is None:
        print("chromium not found (apt-get install chromium)", file=sys.stderr)
        return 2
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("the playwright package is missing (pip install playwright)", file=sys.stderr)
        return 2
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
    else:
        import fourier_interp as fi
        from fourier_interp.pretrained import pretrained_path

        model, task = fi.load_pretrained("transformer-p113")
        history = fi.History.load(pretrained_path("transformer-p113"))
        path = Path(tempfile.mkdtemp()) / "report.html"
        fi.verify(model, task, history=history, name="transformer-p113").to_html(path)
    problems = check(path)
    for problem in problems:
        print(f"  - {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
