"""MkDocs hooks for the fourier_interp site (named in mkdocs.yml under ``hooks:``).

* The tutorial notebooks live in ``tutorials/`` at the repository root, not under ``docs/``:
  every ``tutorials/*.ipynb`` is added to the site as ``tutorials/<name>.ipynb`` and, when the
  mkdocs-jupyter plugin is enabled, listed under the "Tutorials" section of the navigation
  (rendered as stored, never executed). A notebook that ``tutorials/index.md`` does not
  link yet is appended to that page under its title, so a new notebook appears without
  editing the site.

Docstring fixes for the API reference are a griffe extension, ``griffe_docstrings.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tutorials"


def notebooks() -> list[Path]:
    """The tutorial notebooks, in file-name order (their numbers)."""
    return sorted(TUTORIALS.glob("*.ipynb"))


def _renders_notebooks(config) -> bool:
    return "mkdocs-jupyter" in config.plugins


@event_priority(100)  # before mkdocs-jupyter turns .ipynb files into pages
def on_config(config):
    if not _renders_notebooks(config):
        return config
    for item in config.nav or []:
        if isinstance(item, dict) and "Tutorials" in item:
            index = item["Tutorials"]
            index = index if isinstance(index, list) else [index]
            item["Tutorials"] = index + [f"tutorials/{nb.name}" for nb in notebooks()]
    return config


@event_priority(100)
def on_files(files, config):
    for nb in notebooks():
        files.append(File(f"tutorials/{nb.name}", str(ROOT), config.site_dir, config.use_directory_urls))
    return files


def notebook_title(nb: Path) -> str:
    """The first Markdown heading of the notebook, else its file name."""
    try:
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return nb.stem
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", [])).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return nb.stem


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != "tutorials/index.md":
        return markdown
    unlisted = [nb for nb in notebooks() if f"]({nb.name})" not in markdown]
    if unlisted:
        markdown += "\n" + "".join(f"* [{notebook_title(nb)}]({nb.name})\n" for nb in unlisted)
    return markdown
