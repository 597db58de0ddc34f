"""Draw the package's floors (docs/figures/architecture.svg) from the layering test's table.

The floors and their modules are read from ``LAYERS`` in tests/test_package.py, the table
the layering test enforces, so the figure shows the rule the suite checks: a module imports
only modules on its own floor or below.

    python scripts/draw_architecture.py            # writes docs/figures/architecture.svg
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# what each floor is for, in a few words (the figure's right-hand column)
ROLES = {
    "foundation": "errors, tasks and groups (the answers), argument checks",
    "fourier": "bases and transforms: pure tensor maths",
    "storage": "atomic files, safetensors",
    "models": "one file (or package) per family, HookedWrapper, planted models",
    "checkpoint": "save / load, shipped checkpoints",
    "evaluation": "the grid runner, split metrics, early stopping",
    "training": "the training loop, presets, seeds",
    "analysis": "measurements: frequencies, probes, irreps",
    "interventions": "ablation, patching, unit projection",
    "report": "figures, the HTML page",
    "verification": "claims -> verdict",
    "sweeps": "many runs, phase diagrams",
    "cli": "fourier-interp, fi-sweep",
}


def load_layers() -> list[tuple[str, tuple[str, ...]]]:
    spec = importlib.util.spec_from_file_location("_layers", ROOT / "tests" / "test_package.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["_layers"] = module
    spec.loader.exec_module(module)
    return module.LAYERS


def draw(layers, out: Path) -> None:
    n = len(layers)
    fig, ax = plt.subplots(figsize=(9.5, 0.52 * n + 0.9))
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.6, n + 0.2)
    ax.axis("off")
    cmap = plt.get_cmap("viridis")
    for i, (floor, modules) in enumerate(layers):
        y = i
        colour = cmap(0.15 + 0.7 * i / max(n - 1, 1))
        ax.add_patch(FancyBboxPatch((0.2, y + 0.08), 8.2, 0.78, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor=(*colour[:3], 0.22), edgecolor=colour, linewidth=1.2))
        ax.text(0.35, y + 0.47, floor, fontsize=10.5, fontweight="bold", va="center")
        ax.text(2.1, y + 0.62, ", ".join(modules), fontsize=8.5, va="center", family="monospace")
        ax.text(2.1, y + 0.3, ROLES.get(floor, ""), fontsize=8.5, va="center", color="0.3")
    ax.add_patch(FancyArrowPatch((9.1, n - 0.2), (9.1, 0.3), arrowstyle="-|>", mutation_scale=18,
                                 linewidth=1.6, color="0.25"))
    ax.text(9.3, n / 2, "imports point down only", rotation=-90, va="center", fontsize=9.5, color="0.25")
    ax.text(0.2, -0.35, "A module imports its own floor or lower ones; tests/test_package.py fails on an "
            "upward import or a cycle.", fontsize=8.5, color="0.3")
    plt.rcParams["svg.fonttype"] = "none"
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    target = ROOT / "docs" / "figures" / "architecture.svg"
    target.parent.mkdir(parents=True, exist_ok=True)
    draw(load_layers(), target)
    print(f"wrote {target.relative_to(ROOT)}")
