"""The ``fourier-interp`` command line: ``verify``, ``train``, ``list``, ``sweep``.

Arguments are parsed before torch is imported, so ``--help`` and argument errors answer at
once. Every argument is checked before any work starts (devices and checkpoints included);
a mistake prints one line and exits with status 2. Only mistakes in the input get that
treatment: :class:`UsageError` raised here, and the library's own argument checks
(:class:`~fourier_interp.errors.InvalidArgumentError`,
:class:`~fourier_interp.checkpoint.CheckpointError`). Any other exception is a bug and
stays a traceback. ``python -m fourier_interp`` is the same command.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from . import __version__  # the package's __init__ loads its names lazily: no torch
from ._cliargs import Parser, UsageError, fraction, int_at_least, threads
from .catalog import FAMILY_PRESETS, PRESET_FAMILY  # torch-free preset names
from .sweeps.cli import add_sweep_parser  # torch-free

__all__ = ["main", "build_parser", "UsageError"]


MIN_P = 3  # fourier_interp.tasks.MIN_P (not imported: that would import torch before parsing)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="fourier-interp",
        description="Train small networks on modular arithmetic and verify that they use Fourier Multiplication.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    v = sub.add_parser("verify", help="verify Fourier Multiplication on a model and write a report",
                       description="Run every claim on a model; print the claim table, write report.html and report.json. "
                                   "Exit 0 if the model passes, 1 if not, 2 on bad input.")
    src = v.add_mutually_exclusive_group()
    src.add_argument("--pretrained", metavar="NAME", help="a shipped checkpoint (default: transformer-p113; see `list`)")
    src.add_argument("--checkpoint", metavar="DIR", help="a checkpoint directory written by model.save or `train`")
    v.add_argument("--out", metavar="DIR", help="report directory (default: a new verify-<name>-<time> folder here)")
    v.add_argument("--json", action="store_true", help="print the report as JSON instead of the table")
    v.add_argument("--threads", type=threads, default=1, metavar="N|auto",
                   help="torch intra-op threads while verifying (default 1, whatever the machine's load; "
                        "auto: the cores no other task is using)")

    t = sub.add_parser("train", help="train a model with a preset and save it",
                       description="Train with a preset's settings (overridable) and save the model, history and checkpoints to --out.")
    t.add_argument("--model", required=True, choices=sorted(FAMILY_PRESETS), help="model family")
    t.add_argument("--preset", choices=sorted(PRESET_FAMILY), help="settings (default: the family's paper preset)")
    t.add_argument("--p", type=int_at_least("p", MIN_P, " (Z_2 has no Fourier frequency)"),
                   help="modulus, >= 3 (default: the preset's)")
    t.add_argument("--k", type=int_at_least("k", 1), help="number of operands (default: the preset's)")
    t.add_argument("--seed", type=int_at_least("seed", 0), default=0, help="seed of init, split and training (default 0)")
    t.add_argument("--steps", type=int_at_least("steps", 0), help="optimiser steps (default: the preset's)")
    t.add_argument("--frac-train", type=fraction("frac-train"), help="training fraction in (0, 1] (default: the preset's)")
    t.add_argument("--early-stop", type=fraction("early-stop"), metavar="ACC",
                   help="stop once test accuracy holds >= ACC for 5 evaluations")
    t.add_argument("--checkpoint-every", type=int_at_least("checkpoint-every", 1), metavar="N",
                   help="save a checkpoint every N steps")
    t.add_argument("--device", help="torch device, e.g. cuda (default: cpu)")
    t.add_argument("--threads", type=threads, default=1, metavar="N|auto",
                   help="torch intra-op threads while training (default 1: runs repeat bit for bit whatever the "
                        "machine's load; auto: the cores no other task is using when it starts)")
    t.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--out", required=True, metavar="DIR", help="output directory")

    sub.add_parser("list", help="list shipped pretrained models, presets and sweep examples",
                   description="List the shipped pretrained checkpoints, the training presets and the sweep configs.")
    add_sweep_parser(sub)
    from .sweeps.phase_cli import add_phase_parser  # torch-free

    add_phase_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return {"verify": cmd_verify, "train": cmd_train, "list": cmd_list, "sweep": cmd_sweep,
                "phase-diagram": cmd_phase_diagram}[args.command](args)
    except UsageError as e:
        print("error: " + " ".join(str(e).split()), file=sys.stderr)  # always one line
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad input: raised by explicit argument checks. Anything else is a bug."""
    from .checkpoint import CheckpointError
    from .errors import InvalidArgumentError

    return (CheckpointError, InvalidArgumentError)


def _check_out(out: Path) -> None:
    """``--out`` must be a directory, or a path where one can be created (nothing is created here)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"--out {out}: {parent} is not a directory")


def _make_out(out: Path) -> None:
    """Create ``--out`` (the last check before work starts: it proves the directory is writable)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".fourier-interp-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write there ({e.strerror or e})") from None


def _check_device(device: Optional[str]) -> None:
    """``--device`` must name a device this machine has (imports torch; still before any work)."""
    if device is None:
        return
    from .checks import check_device
    from .errors import InvalidArgumentError

    try:
        check_device(device, "--device")
    except InvalidArgumentError as e:
        raise UsageError(str(e)) from None


# ------------------------------------------------------------------- list
def cmd_list(args) -> int:
    from .pretrained import describe_pretrained
    from .sweeps.examples import list_examples

    print("Pretrained models (fourier-interp verify --pretrained NAME):")
    for r in describe_pretrained():
        acc = "-" if r["accuracy_all"] is None else f"{r['accuracy_all']:.4f}"
        print(f"  {r['name']:<22} {r['model']:<18} p={r['p']:<4} k={r['k']}  preset={r['preset']}  "
              f"accuracy={acc}  grokked_step={r['grokked_step']}  algorithm={r['algorithm']}")
    print("Presets (fourier-interp train --preset NAME):")
    for name, family in PRESET_FAMILY.items():
        print(f"  {name:<18} {family}")
    print("Sweep configs (fourier-interp sweep --example NAME --out DIR):")
    for name in list_examples():
        print(f"  {name}")
    return 0


# ------------------------------------------------------------------ phase diagram
def cmd_phase_diagram(args) -> int:
    from .sweeps.phase_cli import cmd_phase

    return cmd_phase(args)


# ------------------------------------------------------------------ sweep
def cmd_sweep(args) -> int:
    from .sweeps.cli import cmd_sweep as run

    return run(args)


# ------------------------------------------------------------------ train
def cmd_train(args) -> int:
    preset = args.preset or FAMILY_PRESETS[args.model]
    if args.model == "mlp" and args.preset is None and args.k == 3:
        preset = "li2025-k3"
    if PRESET_FAMILY[preset] != args.model:
        raise UsageError(f"--preset {preset} trains a {PRESET_FAMILY[preset]}, not --model {args.model}")
    out = Path(args.out)
    _check_out(out)
    if out.is_dir() and any(out.iterdir()) and not args.resume:
        raise UsageError(f"--out {out} is not empty; pass --resume to continue the run there, or pick a new directory")
    if args.resume and not (out / "trainer_state" / "state.json").is_file():
        raise UsageError(f"--resume: {out} holds no run to continue (no trainer_state/state.json)")
    _check_device(args.device)

    import fourier_interp as fi

    overrides = {k: v for k, v in (("p", args.p), ("k", args.k), ("steps", args.steps),
                                   ("frac_train", args.frac_train)) if v is not None}
    try:  # settings the library checks (a grid too large, a resume that changes the run) are still bad input
        model, task, cfg = fi.from_preset(preset, seed=args.seed, **overrides)
        cfg.out_dir = str(out)
        cfg.progress = not args.quiet
        cfg.device = args.device
        cfg.threads = args.threads
        if args.early_stop is not None:
            cfg.early_stop_acc = args.early_stop
        if args.checkpoint_every is not None:
            cfg.checkpoint_every = args.checkpoint_every
        cfg.__post_init__()
        if cfg.device is not None:
            model.to(cfg.device)
        fi.evaluation.check_training_memory(model, task, cfg.batch_size)  # before anything is written or printed
        _make_out(out)
        print(f"training {type(model).__name__} on {task} with preset {preset}", file=sys.stderr)
        history = fi.train(model, task, cfg, resume=args.resume)
    except _user_errors() as e:
        raise UsageError(str(e)) from None
    last = history.final
    print(f"done: step {last['step']}, train_acc {last['train_acc']:.4f}, test_acc {_fmt(last['test_acc'])}, "
          f"grokked_step {history.grokked_step}, {last['time_s']:.1f} s")
    print(f"saved to {out}  (fourier-interp verify --checkpoint {out})")
    return 0


# ----------------------------------------------------------------- verify
def cmd_verify(args) -> int:
    from .pretrained import DEFAULT, list_pretrained, pretrained_path

    # every argument first: directories, names, the checkpoint's own config (JSON only)
    if args.checkpoint is not None and not Path(args.checkpoint).is_dir():
        raise UsageError(f"--checkpoint {args.checkpoint}: no such directory")
    if args.pretrained is not None and args.pretrained not in list_pretrained():
        raise UsageError(f"--pretrained: unknown pretrained model {args.pretrained!r}; expected one of {list_pretrained()}")
    out = Path(args.out) if args.out else None
    if out is not None:
        _check_out(out)
    source = Path(args.checkpoint) if args.checkpoint is not None else pretrained_path(args.pretrained or DEFAULT)
    name = source.resolve().name if args.checkpoint is not None else (args.pretrained or DEFAULT)
    from .checkpoint import CheckpointError, read_config  # imports torch: after the cheap checks

    try:
        recorded_task = read_config(source).get("task")
    except CheckpointError as e:
        raise UsageError(str(e)) from None
    if recorded_task is None:
        raise UsageError(f"{source}: the checkpoint records no task; save it with model.save(dir, task=task)")

    import fourier_interp as fi
    from .checks import torch_threads

    try:
        model, task = fi.load(source, with_task=True)
        history = fi.History.load(source) if (source / "history.json").exists() else None
    except _user_errors() as e:
        raise UsageError(str(e)) from None
    if out is not None:
        _make_out(out)

    print(f"verifying {name}: {type(model).__name__} on {task} ...", file=sys.stderr)
    with torch_threads(args.threads):
        report = fi.verify(model, task, history=history, name=name)
    out = out or Path.cwd() / f"verify-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    report.to_json(out / "report.json")
    report.to_html(out / "report.html")
    print(report.to_json() if args.json else report)
    print(f"report written to {out / 'report.html'} and {out / 'report.json'}", file=sys.stderr)
    return 0 if report.passed else 1


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"


if __name__ == "__main__":
    sys.exit(main())
