"""Read a notebook's declared parameters and check values against their annotations.

papermill only warns when it is handed a parameter the notebook does not declare, and never
checks types. The runner checks every value here, before any kernel starts.

A declared parameter is an annotated assignment in the cell tagged ``parameters``::

    seed: int = 0  # random seed of the split
    seeds: list[int] = [0, 1, 2]
    mnist_root: str = ""  # empty: use the embedded sample

Supported annotations: ``int``, ``float``, ``str``, ``bool``, ``list``, ``dict``, ``list[T]``,
``dict[str, T]`` and ``T | None``. An ``int`` is accepted where a ``float`` is declared (and
converted); a ``bool`` is never accepted as a number.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from ..figures import LANGUAGES
from .notebook_format import parameter_cells


class ParameterError(ValueError):
    """A parameter that the notebook does not declare, or a value of the wrong type."""


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of a notebook."""

    name: str
    annotation: str
    default: Any
    help: str

    def check(self, value: Any, notebook: str) -> Any:
        """Return ``value`` converted to the declared type, or raise :class:`ParameterError`."""
        try:
            return _coerce(ast.parse(self.annotation, mode="eval").body, value)
        except _Mismatch as mismatch:
            raise ParameterError(
                f"{notebook}: parameter {self.name!r} expects {self.annotation}, "
                f"got {value!r} ({type(value).__name__}){mismatch.detail}."
            ) from None


class _Mismatch(Exception):
    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


_SCALARS = {"int": int, "float": float, "str": str, "bool": bool}


def _coerce(annotation: ast.expr, value: Any) -> Any:
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        if value is None and _is_none(annotation.right) or value is None and _is_none(annotation.left):
            return None
        errors = []
        for side in (annotation.left, annotation.right):
            if _is_none(side):
                continue
            try:
                return _coerce(side, value)
            except _Mismatch as mismatch:
                errors.append(mismatch)
        raise errors[0] if errors else _Mismatch()
    if _is_none(annotation):
        if value is None:
            return None
        raise _Mismatch()
    if isinstance(annotation, ast.Name):
        return _coerce_plain(annotation.id, value)
    if isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name):
        container = annotation.value.id
        arguments = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        if container == "list" and len(arguments) == 1:
            if not isinstance(value, (list, tuple)):
                raise _Mismatch()
            converted = []
            for position, item in enumerate(value):
                try:
                    converted.append(_coerce(arguments[0], item))
                except _Mismatch:
                    raise _Mismatch(f"; item {position} ({item!r}) is not {ast.unparse(arguments[0])}") from None
            return converted
        if container == "dict" and len(arguments) == 2:
            if not isinstance(value, dict):
                raise _Mismatch()
            converted_dict = {}
            for key, item in value.items():
                try:
                    converted_dict[_coerce(arguments[0], key)] = _coerce(arguments[1], item)
                except _Mismatch:
                    raise _Mismatch(f"; entry {key!r} does not match {ast.unparse(annotation)}") from None
            return converted_dict
    raise _Mismatch(f"; the annotation {ast.unparse(annotation)} is not supported by the runner")


def _coerce_plain(name: str, value: Any) -> Any:
    if name in ("list", "dict"):
        expected = list if name == "list" else dict
        if isinstance(value, tuple) and expected is list:
            return list(value)
        if isinstance(value, expected):
            return value
        raise _Mismatch()
    if name not in _SCALARS:
        raise _Mismatch(f"; the annotation {name} is not supported by the runner")
    if isinstance(value, bool):
        if name == "bool":
            return value
        raise _Mismatch()
    if name == "float" and isinstance(value, int):
        return float(value)
    if isinstance(value, _SCALARS[name]):
        return value
    raise _Mismatch()


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def declared_parameters(path: str | Path) -> dict[str, Parameter]:
    """Parse the cell tagged ``parameters`` of the notebook at ``path``.

    Raises
    ------
    ParameterError
        If the notebook has no such cell, more than one, or an assignment without annotation or
        with a default that is not a literal.
    """
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    tagged = parameter_cells(notebook)
    if len(tagged) != 1:
        raise ParameterError(
            f"{path}: expected exactly one cell tagged 'parameters', found {len(tagged)}; "
            "tag the cell that holds the notebook's parameters."
        )
    source = notebook.cells[tagged[0]].source
    lines = source.splitlines()
    parameters = {}
    for statement in ast.parse(source).body:
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            raise ParameterError(
                f"{path}: the parameters cell may hold only annotated assignments such as "
                f"'seed: int = 0', found: {ast.unparse(statement)}"
            )
        name = statement.target.id
        try:
            default = ast.literal_eval(statement.value) if statement.value is not None else None
        except ValueError:
            raise ParameterError(
                f"{path}: the default of parameter {name!r} is not a literal: {ast.unparse(statement.value)}"
            ) from None
        line = lines[statement.end_lineno - 1]
        comment = line.split("#", 1)[1].strip() if "#" in line[statement.end_col_offset:] else ""
        parameters[name] = Parameter(name, ast.unparse(statement.annotation), default, comment)
    return parameters


def parse_override(text: str) -> tuple[str, Any]:
    """Split a command-line override ``name=value``; ``value`` is read as a Python literal.

    ``true``/``false`` in any case are read as booleans, and a value that is not a literal is
    kept as a string, so ``-p language=es`` and ``-p mnist_root=/data/mnist`` need no quotes.
    """
    name, separator, raw = text.partition("=")
    name = name.strip()
    if not separator or not name.isidentifier():
        raise ParameterError(f"override {text!r} is not of the form name=value, such as seed=3.")
    raw = raw.strip()
    if raw.lower() in ("true", "false"):
        return name, raw.lower() == "true"
    try:
        return name, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return name, raw


def resolve_parameters(
    notebook: str,
    declared: dict[str, Parameter],
    *layers: dict[str, Any],
) -> dict[str, Any]:
    """Merge value layers (profile, then overrides) over the declared defaults, checking each.

    Returns the complete, type-checked parameter set the notebook will run with.
    """
    values = {name: parameter.default for name, parameter in declared.items()}
    for layer in layers:
        for name, value in layer.items():
            if name not in declared:
                known = ", ".join(sorted(declared)) or "none"
                raise ParameterError(
                    f"{notebook}: unknown parameter {name!r}; the notebook declares: {known}."
                )
            values[name] = declared[name].check(value, notebook)
    return values


def canonical_json(values: dict[str, Any]) -> str:
    """Serialise parameters deterministically, for cache keys and the manifest."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)


def check_values(notebook: str, values: dict[str, Any], root: str | os.PathLike[str]) -> None:
    """Check the values that can be checked without running the notebook.

    ``language`` must be one of :data:`tfg_lib.figures.LANGUAGES`. Every non-empty parameter
    whose name ends in ``_root`` names a data folder and must exist, relative to ``root`` or
    absolute. ``run_root`` names an output folder and is exempt.
    """
    language = values.get("language")
    if language is not None and language not in LANGUAGES:
        raise ParameterError(
            f"{notebook}: parameter 'language' is {language!r}; use one of {', '.join(LANGUAGES)}."
        )
    for name, value in values.items():
        if not name.endswith("_root") or name == "run_root" or not isinstance(value, str) or not value:
            continue
        path = os.path.abspath(os.path.join(root, value))
        if not os.path.exists(path):
            raise ParameterError(
                f"{notebook}: parameter {name!r} names {path}, which does not exist. Download the "
                f"data set and put it there (README, section 'Data sets'), or pass another folder "
                f"with -p {name}=PATH, or -p {name}= to use the notebook's built-in data."
            )
