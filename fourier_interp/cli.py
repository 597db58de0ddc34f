"""The ``fourier-interp`` command line: ``verify``, ``train``, ``list``.

Arguments are parsed before torch is imported, so ``--help`` and argument errors answer at
once. User mistakes print one line and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

FAMILY_PRESETS = {"transformer": "nanda2023", "rnn": "rnn", "mlp": "li2025-k2"}
PRESET_FAMILY = {"nanda2023": "transformer", "rnn": "rnn", "li2025-k2": "mlp", "li2025-k3": "mlp"}


class UsageError(Exception):
    """A mistake in the command line or its inputs: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fourier-interp",
        description="Train small networks on modular arithmetic and verify that they use Fourier Multiplication.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    v = sub.add_parser("verify", help="verify Fourier Multiplication on a model and write a report",
                       description="Run every claim on a model; print the claim table, write report.html and report.json. "
                                   "Exit 0 if the model passes, 1 if not, 2 on bad input.")
    src = v.add_mutually_exclusive_group()
    src.add_argument("--pretrained", metavar="NAME", help="a shipped checkpoint (default: transformer-p113; see `list`)")
    src.add_argument("--checkpoint", metavar="DIR", help="a checkpoint directory written by model.save or `train`")
    v.add_argument("--out", metavar="DIR", help="report directory (default: a new verify-<name>-<time> folder here)")
    v.add_argument("--json", action="store_true", help="print the report as JSON instead of the table")

    t = sub.add_parser("train", help="train a model with a preset and save it",
                       description="Train with a preset's settings (overridable) and save the model, history and checkpoints to --out.")
    t.add_argument("--model", required=True, choices=sorted(FAMILY_PRESETS), help="model family")
    t.add_argument("--preset", choices=sorted(PRESET_FAMILY), help="settings (default: the family's paper preset)")
    t.add_argument("--p", type=int, help="modulus (default: the preset's)")
    t.add_argument("--k", type=int, help="number of operands (default: the preset's)")
    t.add_argument("--seed", type=int, default=0, help="seed of init, split and training (default 0)")
    t.add_argument("--steps", type=int, help="optimiser steps (default: the preset's)")
    t.add_argument("--frac-train", type=float, help="training fraction (default: the preset's)")
    t.add_argument("--early-stop", type=float, metavar="ACC", help="stop once test accuracy holds >= ACC for 5 evaluations")
    t.add_argument("--checkpoint-every", type=int, metavar="N", help="save a checkpoint every N steps")
    t.add_argument("--device", help="torch device, e.g. cuda (default: cpu)")
    t.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--out", required=True, metavar="DIR", help="output directory")

    sub.add_parser("list", help="list shipped pretrained models and presets",
                   description="List the shipped pretrained checkpoints and the training presets.")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return {"verify": cmd_verify, "train": cmd_train, "list": cmd_list}[args.command](args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _user_errors():
    """Exception types that mean bad input rather than a bug."""
    from .checkpoint import CheckpointError

    return (CheckpointError, ValueError, TypeError, FileNotFoundError, NotADirectoryError)


# ------------------------------------------------------------------- list
def cmd_list(args) -> int:
    from .pretrained import describe_pretrained

    print("Pretrained models (fourier-interp verify --pretrained NAME):")
    for r in describe_pretrained():
        acc = "-" if r["accuracy_all"] is None else f"{r['accuracy_all']:.4f}"
        print(f"  {r['name']:<18} {r['model']:<18} p={r['p']:<4} k={r['k']}  preset={r['preset']}  "
              f"accuracy={acc}  grokked_step={r['grokked_step']}")
    print("Presets (fourier-interp train --preset NAME):")
    for name, family in PRESET_FAMILY.items():
        print(f"  {name:<18} {family}")
    return 0


# ------------------------------------------------------------------ train
def cmd_train(args) -> int:
    preset = args.preset or FAMILY_PRESETS[args.model]
    if args.model == "mlp" and args.preset is None and args.k == 3:
        preset = "li2025-k3"
    if PRESET_FAMILY[preset] != args.model:
        raise UsageError(f"--preset {preset} trains a {PRESET_FAMILY[preset]}, not --model {args.model}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not args.resume:
        raise UsageError(f"--out {out} is not empty; pass --resume to continue the run there, or pick a new directory")

    import fourier_interp as fi

    overrides = {k: v for k, v in (("p", args.p), ("k", args.k), ("steps", args.steps),
                                   ("frac_train", args.frac_train)) if v is not None}
    try:
        model, task, cfg = fi.from_preset(preset, seed=args.seed, **overrides)
        cfg.out_dir = str(out)
        cfg.progress = not args.quiet
        cfg.device = args.device
        if args.early_stop is not None:
            cfg.early_stop_acc = args.early_stop
        if args.checkpoint_every is not None:
            cfg.checkpoint_every = args.checkpoint_every
        cfg.__post_init__()
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
    if args.checkpoint is not None and not Path(args.checkpoint).is_dir():
        raise UsageError(f"--checkpoint {args.checkpoint}: no such directory")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    import fourier_interp as fi
    from .pretrained import DEFAULT, pretrained_path

    try:
        if args.checkpoint is not None:
            source = Path(args.checkpoint)
            name = source.resolve().name
            model, task = fi.load(source, with_task=True)
        else:
            name = args.pretrained or DEFAULT
            source = pretrained_path(name)
            model, task = fi.load_pretrained(name)
    except _user_errors() as e:
        raise UsageError(str(e)) from None
    if task is None:
        raise UsageError(f"{source}: the checkpoint records no task; save it with model.save(dir, task=task)")
    history = fi.History.load(source) if (source / "history.json").is_file() else None

    print(f"verifying {name}: {type(model).__name__} on {task} ...", file=sys.stderr)
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
