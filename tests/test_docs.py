"""The README's promises: CI runs its test command verbatim; its examples name real things."""

import re
from pathlib import Path

import fourier_interp as fi

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def test_quickstart_has_exactly_two_commands_and_ci_runs_the_second_verbatim():
    commands = quickstart_commands()
    assert len(commands) == 2
    assert "fourier-interp verify" in commands[0]
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci


def test_readme_lists_every_pretrained_model_and_preset():
    readme = (ROOT / "README.md").read_text()
    for name in fi.list_pretrained():
        assert f"`{name}`" in readme
    for name in fi.list_presets():
        assert f"`{name}`" in readme


def test_the_architecture_page_and_figure_show_the_floors_the_layering_test_enforces():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_package_layers", ROOT / "tests" / "test_package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    figure = (ROOT / "docs" / "figures" / "architecture.svg").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| ") and not line.startswith(("| floor", "| ---"))]
    table = {row.split("|")[1].strip(): row.split("|")[2] for row in rows if row.split("|")[1].strip()}
    for floor, modules in module.LAYERS:
        assert floor in table, f"docs/architecture.md lacks the floor {floor!r}"
        missing = [m for m in modules if f"`{m}" not in table[floor]]
        assert not missing, f"docs/architecture.md's {floor} row lacks {missing}"
        assert f">{floor}<" in figure and all(m in figure for m in modules), \
            f"docs/figures/architecture.svg is out of date for {floor!r}: run scripts/draw_architecture.py"
    assert list(table) == [floor for floor, _ in module.LAYERS]
