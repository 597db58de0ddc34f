"""The sweep config: a preset, overrides and a grid of values, validated and expanded into runs.

A config is a TOML file (or the same structure as a dict)::

    preset = "zhong2023-clock"        # or grid.preset / grid.family for a family axis
    name = "clock-vs-pizza"           # optional; default: the file's stem

    [grid]                            # the cross product of these lists is the sweep
    seed = [0, 1]
    attn_coeff = [0.0, 1.0]

    [overrides]                       # fixed for every run
    p = 23
    steps = 300

    [overrides.nanda2023]             # a sub-table: only for the runs of that preset
    d_mlp = 256

    [verify]                          # thresholds passed to fi.verify
    logit_fraction = 0.85

Grid and override keys are anything :func:`fi.from_preset` accepts (``p``, ``k``,
``frac_train``, ``op``, TrainConfig fields, the family's model-config fields), plus ``seed``,
``preset`` and ``family`` (``transformer``, ``rnn``, ``mlp``: the family's paper preset) in
the grid. Every mistake is an :class:`~fourier_interp.errors.InvalidArgumentError` naming
the key, before any run starts.

Example:
    >>> from fourier_interp.sweeps import load_config
    >>> config = load_config({"preset": "li2025-k2", "grid": {"seed": [0, 1], "p": [7, 11]},
    ...                       "overrides": {"steps": 50}})
    >>> [run.name.rsplit("__", 1)[0] for run in config.runs]
    ['li2025-k2__seed0__p7', 'li2025-k2__seed0__p11', 'li2025-k2__seed1__p7', 'li2025-k2__seed1__p11']
    >>> load_config({"preset": "li2025-k2", "grid": {"sed": [0, 1]}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fourier_interp.errors.InvalidArgumentError: grid.sed: not a setting of preset 'li2025-k2' ...; did you mean 'seed'? ...
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from ..errors import InvalidArgumentError, InvalidArgumentTypeError

TOP_KEYS = ("name", "preset", "seed", "grid", "overrides", "verify", "progress_measures")
# set by the sweep for every run; a config may not set them
CONTROLLED = ("seed", "out_dir", "progress", "threads")
TASK_KEYS = {"p": 113, "k": 2, "frac_train": 0.3, "op": "add"}  # ModularArithmetic's arguments


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a preset, a seed and the overrides passed to :func:`fi.from_preset`.

    Attributes:
        name: The run's directory name under ``out_dir/runs``: the preset, the grid values and
            a hash of the whole spec, so it is stable across calls and unique within a sweep.
        preset: The preset's name.
        seed: Seeds the model init, split and training.
        overrides: Every override of this run (fixed, per-preset and grid values merged).
        axes: This run's value on each grid axis (``seed``, ``preset`` and the grid keys).
        fingerprint: Hash of ``preset``, ``seed``, ``overrides`` (and ``progress_measures``
            when set); a finished run is reused only when it matches.
        progress_measures: Record Nanda et al.'s progress measures at every evaluation
            (:class:`fi.ProgressRecorder`); such a run always trains alone.
    """

    name: str
    preset: str
    seed: int
    overrides: dict[str, Any]
    axes: dict[str, Any]
    fingerprint: str
    progress_measures: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunSpec:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


@dataclass
class SweepConfig:
    """A validated sweep config; :attr:`runs` is its cross product, in grid order.

    Attributes:
        name: The sweep's name (the W&B group; a label in plots).
        grid: Axis name -> list of values; the runs are their cross product.
        overrides: Fixed overrides for every run.
        preset_overrides: Preset name -> overrides for that preset's runs only.
        verify: Thresholds passed to :func:`fi.verify` as keyword arguments.
        progress_measures: Record restricted/excluded loss and the embedding Gini at every
            evaluation of every run (``progress_measures = true`` in the file).
        runs: Every :class:`RunSpec`.
    """

    name: str
    grid: dict[str, list]
    overrides: dict[str, Any]
    preset_overrides: dict[str, dict[str, Any]]
    verify: dict[str, float]
    progress_measures: bool = False
    runs: list[RunSpec] = field(default_factory=list)

    @property
    def varied(self) -> list[str]:
        """Grid axes with more than one value."""
        return [k for k, v in self.grid.items() if len(v) > 1]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "grid": self.grid, "overrides": self.overrides,
                "preset_overrides": self.preset_overrides, "verify": self.verify,
                "progress_measures": self.progress_measures}


def load_config(source: Union[str, Path, Mapping[str, Any], SweepConfig]) -> SweepConfig:
    """Read, validate and expand a sweep config.

    Args:
        source: A path to a TOML file, a dict of the same structure, or a :class:`SweepConfig`
            (returned as is).

    Raises:
        InvalidArgumentError: the file is missing or not TOML, or a key is unknown, has the
            wrong type, an empty list, or a value the preset rejects; the message names the key.
    """
    if isinstance(source, SweepConfig):
        return source
    default_name = "sweep"
    if isinstance(source, (str, Path)):
        path = Path(source)
        raw = read_toml(path)
        default_name = path.stem
    elif isinstance(source, Mapping):
        raw = dict(source)
    else:
        raise InvalidArgumentTypeError(f"config must be a path to a TOML file, a dict or a SweepConfig, got {type(source).__name__}")
    return _parse(raw, default_name)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise InvalidArgumentError("reading a TOML sweep config on Python 3.10 needs tomli: pip install tomli") from None
    if not path.is_file():
        raise InvalidArgumentError(f"sweep config {path}: no such file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgumentError(f"sweep config {path}: not valid TOML ({e})") from None


# ------------------------------------------------------------------ parsing
def _parse(raw: dict[str, Any], default_name: str) -> SweepConfig:
    from ..presets import list_presets

    _no_unknown(raw, TOP_KEYS, "")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"name: expected a non-empty string, got {name!r}")
    grid = raw.get("grid", {})
    overrides = raw.get("overrides", {})
    verify = raw.get("verify", {})
    for key, value in (("grid", grid), ("overrides", overrides), ("verify", verify)):
        if not isinstance(value, Mapping):
            raise InvalidArgumentError(f"{key}: expected a table, got {type(value).__name__} {value!r}")
    grid, overrides = dict(grid), dict(overrides)

    for key, values in grid.items():
        if not isinstance(values, list):
            raise InvalidArgumentError(f"grid.{key}: expected a list of values, got {type(values).__name__} {values!r}")
        if not values:
            raise InvalidArgumentError(f"grid.{key}: the list is empty; give at least one value")
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) != len(values):
            raise InvalidArgumentError(f"grid.{key}: {values!r} repeats a value")

    # the preset axis: preset = "...", grid.preset = [...] or grid.family = [...]
    given = [k for k in ("preset",) if k in raw] + [f"grid.{k}" for k in ("preset", "family") if k in grid]
    if len(given) > 1:
        raise InvalidArgumentError(f"{' and '.join(given)}: give the preset one way only")
    if not given:
        raise InvalidArgumentError(f"preset: missing; give preset = NAME or grid.preset = [...] (presets: {list_presets()})")
    if "preset" in raw:
        presets = [_check_preset(raw["preset"], "preset")]
    elif "preset" in grid:
        presets = [_check_preset(v, "grid.preset") for v in grid["preset"]]
    else:
        presets = [_family_preset(v) for v in grid["family"]]

    if "seed" in raw and "seed" in grid:
        raise InvalidArgumentError("seed and grid.seed: give the seeds one way only")
    seeds = grid.get("seed", [raw.get("seed", 0)])
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise InvalidArgumentError(f"{'grid.seed' if 'seed' in grid else 'seed'}: {s!r} is not an int >= 0")

    preset_overrides = {k: dict(v) for k, v in overrides.items() if isinstance(v, Mapping)}
    overrides = {k: v for k, v in overrides.items() if not isinstance(v, Mapping)}
    for key in preset_overrides:
        if key not in presets:
            raise InvalidArgumentError(
                f"overrides.{key}: a sub-table must name a preset of this sweep ({sorted(set(presets))}); "
                f"a setting is written `{key} = value`"
            )
    for key in overrides:
        if key in grid:
            raise InvalidArgumentError(f"overrides.{key} and grid.{key}: a key is either fixed or swept, not both")

    # type-check every key against every preset it applies to
    axes = {k: v for k, v in grid.items() if k not in ("seed", "preset", "family")}
    for preset in dict.fromkeys(presets):
        ref = settings(preset)
        for key, values in axes.items():
            axes[key] = [_check_value(f"grid.{key}", key, v, ref, preset) for v in values]
        for key, value in overrides.items():
            overrides[key] = _check_value(f"overrides.{key}", key, value, ref, preset)
        for key, value in preset_overrides.get(preset, {}).items():
            if key in grid:
                raise InvalidArgumentError(f"overrides.{preset}.{key} and grid.{key}: a key is either fixed or swept, not both")
            preset_overrides[preset][key] = _check_value(f"overrides.{preset}.{key}", key, value, ref, preset)
    verify = {k: _check_threshold(k, v) for k, v in verify.items()}
    progress_measures = raw.get("progress_measures", False)
    if not isinstance(progress_measures, bool):
        raise InvalidArgumentError(f"progress_measures: expected true or false, got {progress_measures!r}")

    grid_out: dict[str, list] = {}
    for key in grid:
        grid_out["preset" if key == "family" else key] = presets if key in ("preset", "family") else (
            seeds if key == "seed" else axes[key])
    config = SweepConfig(name=name, grid=grid_out, overrides=overrides, preset_overrides=preset_overrides, verify=verify,
                          progress_measures=progress_measures)
    config.runs = _expand(config, presets, seeds)
    _check_buildable(config.runs)
    return config


def _expand(config: SweepConfig, presets: list[str], seeds: list[int]) -> list[RunSpec]:
    keys = list(config.grid)
    values = [config.grid[k] for k in keys]
    runs, names = [], set()
    for combo in itertools.product(*values):
        axes = dict(zip(keys, combo))
        preset = axes.get("preset", presets[0])
        seed = axes.get("seed", seeds[0])
        overrides = {**config.overrides, **config.preset_overrides.get(preset, {}),
                     **{k: v for k, v in axes.items() if k not in ("seed", "preset")}}
        identity = {"preset": preset, "seed": seed, "overrides": overrides}
        if config.progress_measures:  # only when set, so older sweeps keep their fingerprints
            identity["progress_measures"] = True
        fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
        label = "__".join([preset, f"seed{seed}"] + [f"{k}{_slug(v)}" for k, v in axes.items() if k not in ("seed", "preset")])
        name = f"{label[:100]}__{fingerprint}"
        if name in names:  # only if the readable part was truncated and the hash collided
            raise InvalidArgumentError(f"grid: two runs would share the directory {name}")
        names.add(name)
        runs.append(RunSpec(name=name, preset=preset, seed=seed, overrides=overrides, axes=axes, fingerprint=fingerprint,
                            progress_measures=config.progress_measures))
    return runs


def _check_buildable(runs: list[RunSpec]) -> None:
    """Build each distinct setting once (seed 0): the presets' own checks name bad values."""
    from ..presets import from_preset

    seen = set()
    for run in runs:
        key = json.dumps([run.preset, run.overrides], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        try:
            from_preset(run.preset, seed=0, **run.overrides)
        except (InvalidArgumentError, TypeError, ValueError) as e:
            where = ", ".join(f"{k}={v!r}" for k, v in run.axes.items() if k != "seed")
            raise InvalidArgumentError(f"run {where or run.preset}: {e}") from None


# ------------------------------------------------------------------ checks
def settings(preset: str) -> dict[str, Any]:
    """Every key a config may set for ``preset``, with the value it has without overrides."""
    from ..presets import preset as get_preset
    from ..training import TrainConfig

    p = get_preset(preset)
    ref: dict[str, Any] = {}
    for cls in (p.family.config_class, TrainConfig):
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                ref[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                ref[f.name] = f.default_factory()  # type: ignore[misc]
            else:
                ref[f.name] = None
    ref.update(TASK_KEYS)
    ref.update(p.model)
    ref.update(p.train)
    ref.update(p.task)
    for key in CONTROLLED:
        ref.pop(key, None)
    return ref


def _check_value(where: str, key: str, value: Any, ref: dict[str, Any], preset: str) -> Any:
    if key in CONTROLLED:
        hint = "use grid.seed = [...] (or seed = N)" if key == "seed" else "the sweep sets it for every run"
        raise InvalidArgumentError(f"{where}: {key} cannot be set here; {hint}")
    if key not in ref:
        from ..presets import preset as get_preset

        close = difflib.get_close_matches(key, list(ref) + ["seed"], n=1, cutoff=0.6)
        family = get_preset(preset).family.__name__
        raise InvalidArgumentError(
            f"{where}: not a setting of preset {preset!r} ({family}); "
            + (f"did you mean {close[0]!r}? " if close else "")
            + f"settings: {', '.join(sorted(ref))}"
            + ("; a setting only some presets have goes in [overrides.PRESET]" if where.startswith("overrides.") else "")
        )
    expected = ref[key]
    if isinstance(expected, bool):
        ok = isinstance(value, bool)
        kind = "true or false"
    elif isinstance(expected, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        kind = "an int"
    elif isinstance(expected, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        kind = "a number"
        value = float(value) if ok else value
    elif isinstance(expected, str):
        ok, kind = isinstance(value, str), "a string"
    elif isinstance(expected, (tuple, list)):
        ok, kind = isinstance(value, list), "a list"
    else:  # None default: any plain value; the config's own checks judge it
        ok = isinstance(value, (bool, int, float, str, list))
        kind = "a number, string, bool or list"
    if not ok:
        raise InvalidArgumentError(f"{where}: expected {kind}, got {type(value).__name__} {value!r}")
    return value


def _check_threshold(key: str, value: Any) -> float:
    from ..verification import Thresholds

    allowed = [f.name for f in dataclasses.fields(Thresholds)]
    if key not in allowed:
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        raise InvalidArgumentError(
            f"verify.{key}: not a threshold of fi.verify; " + (f"did you mean {close[0]!r}? " if close else "")
            + f"thresholds: {', '.join(allowed)}"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(f"verify.{key}: expected a number, got {type(value).__name__} {value!r}")
    return float(value)


def _check_preset(value: Any, where: str) -> str:
    from ..presets import list_presets

    if not isinstance(value, str) or value not in list_presets():
        close = difflib.get_close_matches(str(value), list_presets(), n=1, cutoff=0.5)
        raise InvalidArgumentError(
            f"{where}: unknown preset {value!r}; " + (f"did you mean {close[0]!r}? " if close else "")
            + f"presets: {list_presets()}"
        )
    return value


def _family_preset(value: Any) -> str:
    from ..catalog import FAMILY_PRESETS  # family -> paper preset (torch-free)

    if value not in FAMILY_PRESETS:
        raise InvalidArgumentError(f"grid.family: unknown family {value!r}; families: {sorted(FAMILY_PRESETS)}")
    return FAMILY_PRESETS[value]


def _no_unknown(raw: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidArgumentError(f"{prefix}{key}: unknown key; {hint}allowed: {', '.join(allowed)}"
                                       + ("; settings such as p or steps go in [overrides]" if not prefix else ""))


def _slug(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list) else str(value)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def family_name(model_class: Optional[str]) -> Optional[str]:
    """``HookedTransformer`` -> ``transformer`` (the command line's family names)."""
    if model_class is None:
        return None
    return model_class.removeprefix("Hooked").lower()
