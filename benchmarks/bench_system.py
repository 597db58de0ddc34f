"""Process-level benchmarks, each case in a fresh subprocess: start-up time and peak memory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .common import REPO_ROOT, Settings, Table, Timing, say, timing_row

STARTUP_GOAL_S = 1.0
DEPS_MARGIN = 1.05  # "no more than its dependencies", with 5% for noise


@dataclass
class ChildResult:
    """What one subprocess cost."""

    wall_s: float
    peak_rss_mib: float
    exit_code: int
    stdout: str
    stderr: str


# A small launcher forks the measured command and reports its wall time and rusage. Linux
# keeps a process's peak RSS across fork + exec, so a child forked straight from this
# (torch-sized) process would report at least our size; forked from the launcher it
# starts from the launcher's ~10 MiB.
_LAUNCHER = """
import json, os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as f:
    json.dump({"wall_s": wall, "exit_code": os.waitstatus_to_exitcode(status), "maxrss": usage.ru_maxrss}, f)
"""


def run_child(argv: list[str], timeout: float = 300.0) -> ChildResult:
    """Run ``argv`` from the repository root; its wall time and its own peak RSS.

    The command runs under a small launcher process (see ``_LAUNCHER``), which times it
    from fork to exit and reads its peak RSS with ``wait4``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report, out_path, err_path = Path(tmp, "report.json"), Path(tmp, "stdout"), Path(tmp, "stderr")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            launcher = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(report)] + argv, cwd=REPO_ROOT,
                                        stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                launcher.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)  # the launcher's own session: it and the command
                launcher.wait()
                raise RuntimeError(f"{' '.join(argv)} ran longer than {timeout:.0f} s") from None
        if launcher.returncode != 0:
            raise RuntimeError(f"benchmark launcher failed: {err_path.read_text(errors='replace')[-500:]}")
        result = json.loads(report.read_text())
        stdout = out_path.read_text(errors="replace")
        stderr = err_path.read_text(errors="replace")
    rss = result["maxrss"] / 2**20 if sys.platform == "darwin" else result["maxrss"] / 1024
    return ChildResult(result["wall_s"], rss, result["exit_code"], stdout, stderr)


def _cli() -> list[str]:
    """The installed ``fourier-interp`` script (next to this Python), else ``python -m``."""
    script = Path(sys.executable).with_name("fourier-interp")
    if script.is_file():
        return [str(script)]
    found = shutil.which("fourier-interp")
    return [found] if found else [sys.executable, "-m", "fourier_interp.cli"]


DEPS_IMPORT = ("import torch, einops, jaxtyping, transformer_lens.hook_points; "
               "from transformer_lens import ActivationCache, HookedRootModule")


def startup(settings: Settings) -> list[Table]:
    """Wall time (and peak RSS) of the command line and of imports, each in a fresh process."""
    py, cli = sys.executable, _cli()
    commands: dict[str, tuple[list[str], int]] = {  # label -> (argv, expected exit code)
        "python -c pass": ([py, "-c", "pass"], 0),
        "fourier-interp --help": (cli + ["--help"], 0),
        "fourier-interp train --model nope (bad argument)": (cli + ["train", "--model", "nope", "--out", "unused"], 2),
        "import fourier_interp": ([py, "-c", "import fourier_interp"], 0),
        "import fourier_interp as fi; fi.HookedTransformer": ([py, "-c", "import fourier_interp as fi; fi.HookedTransformer"], 0),
        "deps: torch, einops, jaxtyping, transformer_lens": ([py, "-c", DEPS_IMPORT], 0),
        "import torch": ([py, "-c", "import torch"], 0),
        "import transformer_lens.hook_points": ([py, "-c", "import transformer_lens.hook_points"], 0),
    }
    say(f"[startup] cli: {' '.join(cli)}; {settings.n(5, 1)} timed run(s) per command, interleaved")
    walls = {label: Timing() for label in commands}
    rss: dict[str, float] = {}
    labels = list(commands)
    for r in range(settings.n(6, 1)):  # the first full-mode round warms the page cache, untimed
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            argv, expected = commands[label]
            child = run_child(argv)
            if child.exit_code != expected:
                raise RuntimeError(f"{label!r} exited {child.exit_code}, expected {expected}: {child.stderr.strip()[-500:]}")
            if settings.quick or r > 0:
                walls[label].samples.append(child.wall_s)
                rss[label] = max(rss.get(label, 0.0), child.peak_rss_mib)

    table = Table("startup: wall time of a fresh process (median), peak RSS in note", unit="s")
    python, deps = walls["python -c pass"], walls["deps: torch, einops, jaxtyping, transformer_lens"]

    def note(label: str) -> str:
        return f"peak RSS {rss[label]:.0f} MiB"

    for label in ("fourier-interp --help", "fourier-interp train --model nope (bad argument)"):
        row = timing_row(table, label, walls[label], python, scale=1.0, goal=f"< {STARTUP_GOAL_S:.0f} s",
                         note=f"{note(label)}; reference: python -c pass")
        row.met = row.ours < STARTUP_GOAL_S
    for label in ("import fourier_interp", "import fourier_interp as fi; fi.HookedTransformer"):
        row = timing_row(table, label, walls[label], deps, scale=1.0, goal=f"ratio <= {DEPS_MARGIN} (deps)",
                         note=f"{note(label)}; reference: deps")
        row.met = row.ratio <= DEPS_MARGIN
    for label in ("deps: torch, einops, jaxtyping, transformer_lens", "import torch",
                  "import transformer_lens.hook_points", "python -c pass"):
        timing_row(table, label, walls[label], None, scale=1.0, note=f"{note(label)}; baseline")
    return [table]


# ------------------------------------------------------------------- memory
MEMORY_CASES = {  # case -> (label, reference case or None)
    "baseline": ("baseline: imports + nanda2023 model and task", None),
    "train_fast": ("train step, fast path (nanda2023, 3,830 rows)", "train_reference"),
    "train_hooked": ("train step, hooked path (nanda2023, 3,830 rows)", "train_reference"),
    "run_with_cache": ("run_with_cache, all 12,769 inputs", None),
    "verify": ("fi.verify, p=113 transformer", None),
    "seeds16": ("fi.train_seeds, 16 seeds p=113, 2 steps", None),
}


def _memory_case(case: str, threads: Optional[int]) -> dict:
    argv = [sys.executable, "-m", "benchmarks.memory_case", case] + (["--threads", str(threads)] if threads else [])
    child = run_child(argv, timeout=600)
    if child.exit_code != 0:
        raise RuntimeError(f"memory case {case!r} failed (exit {child.exit_code}): {child.stderr.strip()[-800:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def memory(settings: Settings) -> list[Table]:
    """Peak RSS of each case, each in its own fresh process (the reference step alongside)."""
    results = {}
    for case in ["train_reference"] + list(MEMORY_CASES):
        results[case] = _memory_case(case, settings.threads)
        r = results[case]
        say(f"[memory] {case}: " + (f"SKIPPED ({r['skipped']})" if "skipped" in r else
                                    f"peak RSS {r['peak_rss_mib']:.0f} MiB ({r['what']})"))
    base = results["baseline"]["peak_rss_mib"]
    table = Table("memory: peak RSS of a fresh process per case (reference = the naive model's training step)",
                  unit="MiB")
    for case, (label, ref_case) in MEMORY_CASES.items():
        r = results[case]
        if "skipped" in r:
            table.add(label, None, note=f"skipped: {r['skipped']}")
            continue
        ref = results[ref_case]["peak_rss_mib"] if ref_case else None
        extra = "" if case == "baseline" else f"+{r['peak_rss_mib'] - base:.0f} MiB over baseline"
        if case in ("run_with_cache", "verify") and r["what"].startswith("FRESH"):
            extra += "; fresh (ungrokked) weights"
        table.add(label, r["peak_rss_mib"], ref, note=extra)
    return [table]
