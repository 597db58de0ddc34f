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
    ("foundation", ("errors", "tasks", "catalog", "jsonio", "checks")),
    ("fourier", ("fourier",)),
    ("storage", ("storage",)),
    ("models", ("models",)),
    ("checkpoint", ("checkpoint", "pretrained")),
    ("evaluation", ("evaluation",)),
    ("training", ("training", "trainer_state", "presets", "seeds")),
    ("analysis", ("analysis",)),
    ("interventions", ("interventions",)),
    ("report", ("report",)),
    ("verification", ("verification",)),
    ("sweeps", ("sweeps",)),
    ("cli", ("cli", "__main__", "sweeps.cli")),
]
# Upward imports not yet removed, each with its reason. Keep this empty; an entry is a debt.
KNOWN_UPWARD: set[tuple[str, str]] = set()


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
