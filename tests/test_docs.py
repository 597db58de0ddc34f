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
