"""The package's surface: one export list, lazy names and subpackages, ``python -m``."""

import subprocess
import sys

import pytest

import fourier_interp as fi


def test_all_is_the_export_list():
    assert fi.__all__ == sorted(fi._EXPORTS) + ["__version__"]
    assert len(set(fi.__all__)) == len(fi.__all__)


@pytest.mark.parametrize("name", sorted(fi._EXPORTS))
def test_every_export_resolves_in_the_module_it_names(name):
    import importlib

    module = importlib.import_module(f"fourier_interp.{fi._EXPORTS[name]}")
    assert getattr(fi, name) is getattr(module, name)


def test_no_export_is_shadowed_by_a_submodule_of_the_same_name():
    # importing fourier_interp.<name> would overwrite the export fi.<name>
    assert not set(fi._EXPORTS) & fi._submodules()


def test_subpackages_are_attributes_in_a_fresh_interpreter():
    code = (
        "import sys, fourier_interp as fi\n"
        "assert 'fourier_interp.analysis' not in sys.modules\n"
        "assert not hasattr(fi, '__main__')  # attribute access never runs the command line\n"
        "mods = [fi.analysis, fi.interventions, fi.verification, fi.models, fi.report, fi.fourier, fi.tasks]\n"
        "print(' '.join(m.__name__ for m in mods))\n"
        "print(callable(fi.analysis.key_frequencies), callable(fi.verification.verify), 'analysis' in dir(fi))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "fourier_interp.analysis fourier_interp.interventions fourier_interp.verification fourier_interp.models "
        "fourier_interp.report fourier_interp.fourier fourier_interp.tasks",
        "True True True",
    ]


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'frobnicate'"):
        fi.frobnicate
    with pytest.raises(AttributeError, match="no attribute '_private'"):
        fi._private


# ------------------------------------------------------------------ layering
# The package's layers, lowest first. A module may import from its own layer and the layers
# below it, never from a layer above — at module level or lazily inside a function. Decided
# from the code:
#   * ``storage`` (atomic files, hashed tensor files, the commit) sits below the models so a
#     model writes its own checkpoint (``HookedModel.save``); ``checkpoint`` (``fi.load``,
#     ``fi.save``) sits above them because rebuilding a saved model needs its registered class.
#   * ``evaluation`` (the grid, split metrics, the sampler, early stopping) needs no model
#     family; training, the analyses, the interventions and verify all use it.
#   * ``report`` (figures, the HTML page, attention views) reads results duck-typed and imports
#     only the analyses; ``verification`` builds its report and renders it through ``report``
#     (``VerificationReport.to_html``), so ``report`` sits below ``verification``.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("errors", "groups", "tasks", "catalog", "jsonio", "checks")),
    ("fourier", ("fourier",)),
    ("storage", ("storage",)),
    ("models", ("models",)),
    ("checkpoint", ("checkpoint", "pretrained")),
    ("evaluation", ("evaluation",)),
    ("training", ("training", "trainer_state", "presets", "seeds", "stepping")),
    ("analysis", ("analysis",)),
    ("interventions", ("interventions",)),
    ("report", ("report",)),
    ("verification", ("verification",)),
    ("sweeps", ("sweeps",)),
    ("cli", ("_cliargs", "cli", "__main__", "sweeps.cli", "sweeps.phase_cli")),
]
# Upward imports not yet removed, each with its reason. Keep this empty; an entry is a debt.
KNOWN_UPWARD: set[tuple[str, str]] = set()
# Import circles not yet broken (modules that import each other, directly or through others),
# each with its reason. Keep this empty too; an entry is a debt.
KNOWN_CYCLES: set[frozenset[str]] = set()


def _package_modules() -> dict[str, "Path"]:
    from pathlib import Path

    root = Path(fi.__file__).parent
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _layer_of(module: str) -> int:
    """Index in LAYERS of a module ``fourier_interp.<name>...``; the longest matching prefix wins."""
    rel = module.removeprefix("fourier_interp.")
    best, index = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (rel == prefix or rel.startswith(prefix + ".")) and len(prefix) > best:
                best, index = len(prefix), i
    if index is None:
        raise KeyError(module)
    return index


def _imports(module: str, path) -> set[str]:
    """Every ``fourier_interp`` module ``module`` imports, anywhere in its source (lazy imports too)."""
    import ast

    modules = _package_modules()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {n for n in names if n in modules and n != module and n.startswith("fourier_interp.")}
    return found


def test_every_module_has_a_layer():
    unassigned = []
    for module in _package_modules():
        if module == "fourier_interp":
            continue  # the package's __init__ imports nothing statically (lazy exports)
        try:
            _layer_of(module)
        except KeyError:
            unassigned.append(module)
    assert not unassigned, f"add these modules to LAYERS in tests/test_package.py: {unassigned}"


def test_no_module_imports_from_a_higher_layer():
    upward = []
    for module, path in sorted(_package_modules().items()):
        if module == "fourier_interp":
            continue
        for target in sorted(_imports(module, path)):
            if _layer_of(target) > _layer_of(module) and (module, target) not in KNOWN_UPWARD:
                upward.append(f"{module} ({LAYERS[_layer_of(module)][0]}) imports {target} "
                              f"({LAYERS[_layer_of(target)][0]})")
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_the_layer_check_sees_lazy_imports():
    # known answers: to_html imports report inside the method, HookedModel.save uses storage
    modules = _package_modules()
    assert "fourier_interp.report" in _imports("fourier_interp.verification.result", modules["fourier_interp.verification.result"])
    assert "fourier_interp.storage" in _imports("fourier_interp.models.base", modules["fourier_interp.models.base"])
    assert _layer_of("fourier_interp.sweeps.cli") > _layer_of("fourier_interp.sweeps.api")


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The circles of a graph ``node -> nodes it points to``: each strongly connected set of two or more."""
    order, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(module: str) -> None:  # Tarjan's algorithm
        order[module] = low[module] = len(order)
        stack.append(module)
        on_stack.add(module)
        for target in graph.get(module, ()):
            if target not in order:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], order[target])
        if low[module] == order[module]:
            members = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.add(member)
                if member == module:
                    break
            if len(members) > 1:
                cycles.append(frozenset(members))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return cycles


def _import_cycles() -> list[frozenset[str]]:
    return _cycles({m: _imports(m, path) for m, path in _package_modules().items() if m != "fourier_interp"})


def test_no_import_cycles():
    new = [sorted(c) for c in _import_cycles() if c not in KNOWN_CYCLES]
    assert not new, "modules that import each other (directly or through others):\n" + "\n".join(map(str, new))


def test_the_cycle_check_finds_circles_and_only_circles():
    # known answers: a three-step circle with a tail into it, a two-step circle, a chain without one
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "tail": {"a"}, "x": {"y"}, "y": {"x", "z"}, "z": set()}
    assert sorted(map(sorted, _cycles(graph))) == [["a", "b", "c"], ["x", "y"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_two_command_lines_share_a_module_below_them_instead_of_importing_each_other():
    modules = _package_modules()
    sweep_cli = _imports("fourier_interp.sweeps.cli", modules["fourier_interp.sweeps.cli"])
    top_cli = _imports("fourier_interp.cli", modules["fourier_interp.cli"])
    assert "fourier_interp.cli" not in sweep_cli and "fourier_interp._cliargs" in sweep_cli
    assert "fourier_interp.sweeps.cli" in top_cli and "fourier_interp._cliargs" in top_cli


# ------------------------------------------------------------------ release
ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_the_version_has_one_source_and_the_release_files_follow_it():
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "fourier_interp.__version__"}
    assert project["project"]["license"] == "MIT" and project["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(r"^version: (.+)$", cff, flags=re.M).group(1) == fi.__version__
    releases = re.findall(r"^## \[(\d[^\]]*)\]", (ROOT / "CHANGELOG.md").read_text(), flags=re.M)
    assert releases[0] == fi.__version__


def test_the_wheel_holds_the_checkpoints_the_examples_and_the_type_marker(tmp_path):
    # build from a copy of the sources, so the checkout is left as it was
    import shutil
    import zipfile

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "fourier_interp", src / "fourier_interp",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    assert "License classifiers are deprecated" not in build.stderr and "project.license" not in build.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    assert wheel.name == f"fourier_interp-{fi.__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "fourier_interp/py.typed" in names
    assert {f"fourier_interp/examples/{n}.toml" for n in fi.sweeps.list_examples()} <= names
    for name in fi.list_pretrained():
        shipped = {p.name for p in (ROOT / "fourier_interp" / "pretrained" / name).iterdir()}
        assert {f"fourier_interp/pretrained/{name}/{f}" for f in shipped} <= names
    metadata = zipfile.ZipFile(wheel).read(f"fourier_interp-{fi.__version__}.dist-info/METADATA").decode()
    assert f"Version: {fi.__version__}\n" in metadata and "License-Expression: MIT\n" in metadata
    assert "Project-URL: Source, " in metadata
    assert f"fourier_interp-{fi.__version__}.dist-info/licenses/LICENSE" in names
