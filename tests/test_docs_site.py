"""The documentation site builds with ``mkdocs build --strict`` and its API reference covers
every public name.

The strict build fails on any broken link or anchor, any page missing from the navigation, any
identifier mkdocstrings cannot resolve and any docstring griffe cannot parse (e.g. an Args
entry naming a parameter the signature lacks). It takes a few seconds on a quiet 2-core CPU.
Install the tools with ``pip install -e ".[docs]"`` (the ``test`` extra includes them).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fourier_interp as fi

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
DIRECTIVE = re.compile(r"^::: (fourier_interp(?:\.\w+)*)\s*$", flags=re.M)


def reference_directives() -> dict[str, str]:
    """``{identifier: page}`` for every ``::: identifier`` in the API reference pages."""
    found = {}
    for page in sorted(REFERENCE.glob("*.md")):
        for ident in DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            found[ident] = page.name
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason='mkdocs is not installed: pip install -e ".[docs]"')
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    problems = [line for line in proc.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert proc.returncode == 0, (
        "mkdocs build --strict failed:\n" + "\n".join(problems or proc.stderr.splitlines()[-40:])
    )
    return out


def test_strict_build_passes(site):
    assert (site / "index.html").is_file()
    assert (site / "reference" / "index.html").is_file()
    assert (site / "concepts" / "index.html").is_file()


def test_every_public_name_has_a_reference_entry_under_its_module():
    directives = reference_directives()
    missing = [
        f"{name} (add '::: fourier_interp.{module}.{name}' to a page in docs/reference/)"
        for name, module in sorted(fi._EXPORTS.items())
        if f"fourier_interp.{module}.{name}" not in directives
    ]
    assert not missing, "public names missing from the API reference:\n" + "\n".join(missing)


def test_every_public_name_is_rendered_in_the_built_reference(site):
    anchors = set()
    for page in (site / "reference").rglob("*.html"):
        anchors |= set(re.findall(r'id="(fourier_interp\.[\w.]+)"', page.read_text(encoding="utf-8")))
    rendered = {anchor.rsplit(".", 1)[-1] for anchor in anchors}
    assert not sorted(set(fi._EXPORTS) - rendered)


INTERNAL = re.compile(r"CONTEXT\.md|\.\./shared/")


def test_pages_point_at_nothing_users_do_not_have():
    pages = sorted(DOCS.rglob("*.md")) + [ROOT / "mkdocs.yml"]
    offenders = [str(p.relative_to(ROOT)) for p in pages if INTERNAL.search(p.read_text(encoding="utf-8"))]
    assert not offenders, offenders


def test_rendered_docstrings_point_at_nothing_users_do_not_have(site):
    offenders = [str(p.relative_to(site)) for p in site.rglob("*.html") if INTERNAL.search(p.read_text(encoding="utf-8"))]
    assert not offenders, offenders


def test_getting_started_carries_the_readme_quickstart_commands_verbatim():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quickstart, flags=re.S)
    page = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    assert commands and all(command in page for command in commands)
