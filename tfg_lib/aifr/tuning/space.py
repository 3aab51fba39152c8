"""The search space as data: parameters, fixed values and pruner settings read from YAML.

The shipped file ``tfg_lib/aifr/search_space.yaml`` contains the thesis' space plus the proposed
fix on/off, and named profiles that edit it. A space turns an Optuna trial, or the parameters of
a finished trial, into the keyword arguments of ``TrainConfig``.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

PARAMETER_TYPES = ("int", "float", "bool", "categorical")
PARAMETER_KEYS = {"type", "low", "high", "log", "choices", "when", "otherwise", "field"}
FILE_KEYS = {"space", "fixed", "pruner", "profiles"}
PROFILE_KEYS = {"space", "fixed", "pruner", "drop"}
PRUNER_KEYS = {"n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"}
DEFAULT_SPACE_FILE = "search_space.yaml"


@dataclass(frozen=True)
class Parameter:
    """One searched parameter: its distribution, its condition and the config field it sets.

    ``when`` maps earlier parameter names to the value each must have for this parameter to be
    sampled. When the condition fails, the config field gets ``otherwise``, or keeps the
    ``TrainConfig`` default if ``has_otherwise`` is False. ``config_field`` is None for a switch that
    only gates other parameters.
    """

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    when: Mapping[str, Any] = field(default_factory=dict)
    otherwise: Any = None
    has_otherwise: bool = False
    config_field: str | None = None

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter from an Optuna ``trial``."""
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        if self.type == "float":
            return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)
        if self.type == "bool":
            return trial.suggest_categorical(self.name, [False, True])
        return trial.suggest_categorical(self.name, list(self.choices))

    def describe(self) -> str:
        """Return the distribution in words, such as ``float in [1e-06, 0.001], log-uniform``."""
        if self.type in ("int", "float"):
            text = f"{self.type} in [{self.low:g}, {self.high:g}]"
            return text + (", log-uniform" if self.log else "")
        if self.type == "bool":
            return "on / off"
        return " / ".join(str(choice) for choice in self.choices)

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML form of this parameter (without its name)."""
        entry: dict[str, Any] = {"type": self.type}
        if self.type in ("int", "float"):
            entry.update(low=self.low, high=self.high, log=self.log)
        if self.type == "categorical":
            entry["choices"] = list(self.choices)
        if self.when:
            entry["when"] = dict(self.when)
        if self.has_otherwise:
            entry["otherwise"] = self.otherwise
        if self.config_field != self.name:
            entry["field"] = self.config_field
        return entry


@dataclass(frozen=True)
class SearchSpace:
    """Searched parameters in sampling order, fixed ``TrainConfig`` values and pruner settings."""

    parameters: tuple[Parameter, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    pruner: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_conditions(self.parameters)

    @property
    def names(self) -> list[str]:
        """Names of the searched parameters, in sampling order."""
        return [parameter.name for parameter in self.parameters]

    def __getitem__(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(f"the search space has no parameter {name!r}; it has {', '.join(self.names)}.")

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Sample a trial's parameters and return the ``TrainConfig`` keyword arguments."""
        return self._config_values(lambda parameter: parameter.suggest(trial))

    def config_values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Rebuild the ``TrainConfig`` keyword arguments from a finished trial's ``params``."""

        def lookup(parameter: Parameter) -> Any:
            if parameter.name not in params:
                raise ValueError(
                    f"params lack the sampled parameter {parameter.name!r}; pass the params of "
                    "a trial of a study that used this search space."
                )
            return params[parameter.name]

        return self._config_values(lookup)

    def _config_values(self, draw: Callable[[Parameter], Any]) -> dict[str, Any]:
        values = dict(self.fixed)
        drawn: dict[str, Any] = {}
        for parameter in self.parameters:
            active = all(name in drawn and drawn[name] == value for name, value in parameter.when.items())
            if active:
                drawn[parameter.name] = draw(parameter)
                if parameter.config_field is not None:
                    values[parameter.config_field] = drawn[parameter.name]
            elif parameter.has_otherwise and parameter.config_field is not None:
                values[parameter.config_field] = parameter.otherwise
        return values

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML form of this space, profiles already applied."""
        return {
            "space": {parameter.name: parameter.to_dict() for parameter in self.parameters},
            "fixed": dict(self.fixed),
            "pruner": dict(self.pruner),
        }

    def to_frame(self) -> pd.DataFrame:
        """Tabulate the space: one row per parameter with its distribution and condition."""
        rows = []
        for parameter in self.parameters:
            condition = ", ".join(f"{name} = {value}" for name, value in parameter.when.items())
            rows.append(
                {
                    "parameter": parameter.name,
                    "distribution": parameter.describe(),
                    "sampled when": condition or "always",
                    "config field": parameter.config_field or "(switch)",
                }
            )
        for name, value in self.fixed.items():
            rows.append({"parameter": name, "distribution": f"fixed at {value}", "sampled when": "never", "config field": name})
        return pd.DataFrame(rows)


def default_space_file() -> Path:
    """Return the path of the search space file shipped with the package."""
    return Path(str(resources.files("tfg_lib.aifr").joinpath(DEFAULT_SPACE_FILE)))


def load_search_space(path: str | os.PathLike[str] | None = None, profile: str | None = None) -> SearchSpace:
    """Read a search space file and apply one of its profiles.

    Parameters
    ----------
    path : path, optional
        A YAML file in the layout of the shipped ``search_space.yaml``; None reads that file.
    profile : str, optional
        Name of an entry under ``profiles`` to apply; None uses the space as written.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file does not follow the layout or ``profile`` is not one of its profiles.
    """
    source = Path(path) if path is not None else default_space_file()
    if not source.is_file():
        raise FileNotFoundError(
            f"search space file {str(source)!r} was not found; pass the path of a YAML file laid "
            "out like tfg_lib/aifr/search_space.yaml, or omit it to use that file."
        )
    document = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    return search_space_from_dict(document, profile=profile, source=str(source))


def search_space_from_dict(document: Mapping[str, Any], profile: str | None = None, source: str = "search space") -> SearchSpace:
    """Build a :class:`SearchSpace` from the parsed YAML ``document``; see :func:`load_search_space`."""
    if not isinstance(document, Mapping):
        raise ValueError(f"{source}: the file must hold a mapping with the keys {sorted(FILE_KEYS)}.")
    _check_keys(document, FILE_KEYS, source)
    space = dict(_mapping(document.get("space", {}), f"{source}: space"))
    fixed = dict(_mapping(document.get("fixed", {}), f"{source}: fixed"))
    pruner = dict(_mapping(document.get("pruner", {}), f"{source}: pruner"))

    if profile is not None:
        profiles = _mapping(document.get("profiles", {}), f"{source}: profiles")
        if profile not in profiles:
            raise ValueError(
                f"profile={profile!r} is not defined in {source}; use one of "
                f"{sorted(profiles) or 'its profiles (it has none)'} or add it under 'profiles'."
            )
        edits = _mapping(profiles[profile] or {}, f"{source}: profiles.{profile}")
        _check_keys(edits, PROFILE_KEYS, f"{source}: profiles.{profile}")
        for name in edits.get("drop", []) or []:
            if name not in space:
                raise ValueError(f"{source}: profiles.{profile}.drop names {name!r}, which is not in the space.")
            del space[name]
        space.update(_mapping(edits.get("space", {}) or {}, f"{source}: profiles.{profile}.space"))
        fixed.update(_mapping(edits.get("fixed", {}) or {}, f"{source}: profiles.{profile}.fixed"))
        pruner.update(_mapping(edits.get("pruner", {}) or {}, f"{source}: profiles.{profile}.pruner"))

    _check_keys(pruner, PRUNER_KEYS, f"{source}: pruner")
    parameters = tuple(_parse_parameter(name, entry, source) for name, entry in space.items())
    if not parameters:
        raise ValueError(f"{source}: the space is empty; list at least one parameter under 'space'.")
    overlap = sorted(set(fixed) & {parameter.config_field for parameter in parameters})
    if overlap:
        raise ValueError(
            f"{source}: {overlap} are both searched and fixed; remove them from 'fixed' or from 'space'."
        )
    return SearchSpace(parameters=parameters, fixed=copy.deepcopy(fixed), pruner=pruner)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a mapping; got {value!r}.")
    return value


def _check_keys(entry: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; allowed keys are {sorted(allowed)}.")


def _parse_parameter(name: str, entry: Any, source: str) -> Parameter:
    where = f"{source}: space.{name}"
    entry = _mapping(entry, where)
    _check_keys(entry, PARAMETER_KEYS, where)
    kind = entry.get("type")
    if kind not in PARAMETER_TYPES:
        raise ValueError(f"{where}: type={kind!r} is invalid; use one of {list(PARAMETER_TYPES)}.")

    low = high = None
    log = bool(entry.get("log", False))
    choices: tuple[Any, ...] = ()
    if kind in ("int", "float"):
        low, high = entry.get("low"), entry.get("high")
        numbers = (int,) if kind == "int" else (int, float)
        for label, value in (("low", low), ("high", high)):
            if isinstance(value, bool) or not isinstance(value, numbers) or not math.isfinite(value):
                raise ValueError(f"{where}: {label}={value!r} must be a finite {kind}.")
        if low > high:
            raise ValueError(f"{where}: low={low} exceeds high={high}; swap them.")
        if log and low <= 0:
            raise ValueError(f"{where}: a log-uniform range needs low > 0; got low={low}.")
    elif kind == "categorical":
        choices = tuple(entry.get("choices") or ())
        if not choices:
            raise ValueError(f"{where}: a categorical parameter needs a non-empty 'choices' list.")
    elif "low" in entry or "high" in entry or "choices" in entry:
        raise ValueError(f"{where}: a bool parameter takes no low, high or choices.")

    when = dict(_mapping(entry.get("when", {}) or {}, f"{where}.when"))
    target = entry.get("field", name)
    if target is not None and not isinstance(target, str):
        raise ValueError(f"{where}: field={target!r} must be a TrainConfig field name or null.")
    return Parameter(
        name=name,
        type=kind,
        low=low,
        high=high,
        log=log,
        choices=choices,
        when=when,
        otherwise=entry.get("otherwise"),
        has_otherwise="otherwise" in entry,
        config_field=target,
    )


def _check_conditions(parameters: tuple[Parameter, ...]) -> None:
    seen: dict[str, Parameter] = {}
    for parameter in parameters:
        for name, value in parameter.when.items():
            if name not in seen:
                raise ValueError(
                    f"parameter {parameter.name!r} depends on {name!r}, which is not an earlier "
                    "parameter of the space; list the parameters a condition names before it."
                )
            gate = seen[name]
            allowed = [False, True] if gate.type == "bool" else list(gate.choices)
            if gate.type in ("bool", "categorical") and value not in allowed:
                raise ValueError(
                    f"parameter {parameter.name!r} is sampled when {name} = {value!r}, a value "
                    f"{name!r} never takes; use one of {allowed}."
                )
        seen[parameter.name] = parameter
