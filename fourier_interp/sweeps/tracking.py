"""Optional experiment tracking for sweeps: a logger receives every run as it finishes.

A logger is any object with ``log_run(row, history, run_dir)`` (and optionally
``start(name, out_dir, config)`` and ``finish()``); :func:`fi.sweep` calls it in the
driving process, for the runs done in that call (reused runs were logged when they ran).
:class:`WandbLogger` writes each run to Weights & Biases, offline by default: no account
and no network, only files under ``out_dir/wandb`` (``wandb sync`` uploads them later).
Nothing in the library imports wandb unless such a logger is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Protocol, Sequence, runtime_checkable

from ..errors import InvalidArgumentError


@runtime_checkable
class SweepLogger(Protocol):
    """What :func:`fi.sweep` calls for each run it finishes."""

    def log_run(self, row: dict[str, Any], history: Optional[Any], run_dir: Path) -> None:
        """Record one run: its result row, its training :class:`fi.History` (None if it failed early)."""


class WandbLogger:
    """Each run as a W&B run: its training curves as metrics, its verdict and claims as the summary.

    Args:
        project: The W&B project.
        mode: ``"offline"`` (default: files only, never the network), ``"online"`` or ``"disabled"``.
        dir: W&B writes its ``wandb/`` folder here; default the sweep's ``out_dir``.
        entity: The W&B entity (team or user), for online use.
        tags: Tags on every run.

    Example:
        >>> import fourier_interp as fi
        >>> logger = fi.sweeps.WandbLogger(project="clock-vs-pizza")  # then fi.sweep(..., logger=logger)
        >>> logger.mode
        'offline'
    """

    def __init__(self, project: str = "fourier-interp", mode: str = "offline", dir=None,
                 entity: Optional[str] = None, tags: Sequence[str] = ()):
        if mode not in ("offline", "online", "disabled"):
            raise InvalidArgumentError(f"WandbLogger mode={mode!r}: expected 'offline', 'online' or 'disabled'")
        self.project, self.mode, self.dir, self.entity, self.tags = project, mode, dir, entity, tuple(tags)
        self.group: Optional[str] = None
        self._dir: Optional[Path] = None

    def start(self, name: str, out_dir: Path, config: dict[str, Any]) -> None:
        try:
            import wandb  # noqa: F401  (installed?)
        except ImportError:
            raise InvalidArgumentError("logger='wandb' needs wandb, which is not installed: pip install wandb") from None
        self.group = name
        self._dir = Path(self.dir if self.dir is not None else out_dir)  # wandb writes <dir>/wandb/offline-run-*
        self._dir.mkdir(parents=True, exist_ok=True)

    def log_run(self, row: dict[str, Any], history: Optional[Any], run_dir: Path) -> None:
        import wandb

        spec = row["spec"]
        settings = wandb.Settings(console="off", silent=True, disable_git=True, save_code=False, x_disable_stats=True)
        run = wandb.init(project=self.project, entity=self.entity, dir=str(self._dir or Path.cwd()), mode=self.mode,
                         name=row["run"], group=self.group, tags=list(self.tags), job_type="sweep-run",
                         config={"preset": spec["preset"], "seed": spec["seed"], **spec["overrides"]},
                         settings=settings)
        try:
            for record in history.records if history is not None else []:
                metrics = {k: v for k, v in record.items() if k != "step" and isinstance(v, (int, float))}
                run.log(metrics, step=int(record["step"]))
            summary = {k: row.get(k) for k in ("status", "passed", "algorithm", "grokked_step", "test_acc", "train_s",
                                                "verify_s", "error")}
            summary["key_frequencies"] = row.get("key_frequencies")
            summary.update({f"claim/{name}": value for name, value in (row.get("claims") or {}).items()})
            run.summary.update({k: v for k, v in summary.items() if v is not None})
        finally:
            run.finish()

    def finish(self) -> None:
        pass


def make_logger(logger: Any) -> Optional[SweepLogger]:
    """``None``, ``"wandb"`` (an offline :class:`WandbLogger`) or a logger object."""
    if logger is None:
        return None
    if isinstance(logger, str):
        if logger != "wandb":
            raise InvalidArgumentError(f"logger={logger!r}: the only logger named by a string is 'wandb'")
        return WandbLogger()
    if not callable(getattr(logger, "log_run", None)):
        raise InvalidArgumentError(
            f"logger={logger!r}: expected None, 'wandb' or an object with log_run(row, history, run_dir)"
        )
    return logger
