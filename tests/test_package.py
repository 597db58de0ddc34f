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
