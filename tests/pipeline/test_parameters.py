import nbformat
import pytest

from tfg_lib.pipeline.notebook_format import new_notebook, write_notebook
from tfg_lib.pipeline.parameters import (
    Parameter,
    ParameterError,
    declared_parameters,
    parse_override,
    resolve_parameters,
)

PARAMETERS = '''\
seed: int = 0  # seed of the split
rate: float = 0.5
language: str = "en"  # figure text
use_fix: bool = True
seeds: list[int] = [0, 1, 2]
weights: dict[str, float] = {"a": 1.0}
root: str | None = None'''


@pytest.fixture
def notebook_path(tmp_path):
    path = tmp_path / "notebooks" / "sample.ipynb"
    write_notebook(new_notebook("notebooks/sample.ipynb", "Sample", "", PARAMETERS, [("code", "x = seed")]), path)
    return path


def test_declared_parameters_read_types_defaults_help(notebook_path):
    declared = declared_parameters(notebook_path)
    assert list(declared) == ["seed", "rate", "language", "use_fix", "seeds", "weights", "root"]
    assert declared["seed"] == Parameter("seed", "int", 0, "seed of the split")
    assert declared["seeds"].annotation == "list[int]"
    assert declared["seeds"].default == [0, 1, 2]
    assert declared["root"].annotation == "str | None"
    assert declared["rate"].help == ""


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        ("int", 3, 3),
        ("float", 2, 2.0),
        ("float", 0.25, 0.25),
        ("str", "es", "es"),
        ("bool", False, False),
        ("list[int]", (1, 2), [1, 2]),
        ("list", [1, "a"], [1, "a"]),
        ("dict[str, float]", {"x": 1}, {"x": 1.0}),
        ("str | None", None, None),
        ("str | None", "path", "path"),
    ],
)
def test_check_accepts_and_converts(annotation, value, expected):
    converted = Parameter("p", annotation, None, "").check(value, "nb.ipynb")
    assert converted == expected
    assert type(converted) is type(expected)


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        ("int", 1.5),
        ("int", True),  # bool is an int subclass in Python, but never a valid count
        ("float", "0.1"),
        ("str", 3),
        ("bool", 1),
        ("list[int]", [1, "two"]),
        ("dict[str, float]", {"x": "y"}),
        ("str | None", 4),
        ("list[int]", 5),
    ],
)
def test_check_rejects_wrong_type(annotation, value):
    with pytest.raises(ParameterError) as error:
        Parameter("p", annotation, None, "").check(value, "nb.ipynb")
    message = str(error.value)
    assert "nb.ipynb" in message
    assert "'p'" in message
    assert annotation in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed=3", ("seed", 3)),
        ("rate=1e-3", ("rate", 0.001)),
        ("language=es", ("language", "es")),
        ("root=/data/mnist", ("root", "/data/mnist")),
        ("use_fix=false", ("use_fix", False)),
        ("use_fix=True", ("use_fix", True)),
        ("seeds=[1, 2]", ("seeds", [1, 2])),
        ("name='quoted'", ("name", "quoted")),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["seed", "=3", "two words=1"])
def test_parse_override_rejects_malformed(text):
    with pytest.raises(ParameterError, match="name=value"):
        parse_override(text)


def test_resolve_applies_layers_in_order(notebook_path):
    declared = declared_parameters(notebook_path)
    values = resolve_parameters("sample.ipynb", declared, {"seed": 1, "rate": 1}, {"seed": 2})
    assert values["seed"] == 2
    assert values["rate"] == 1.0
    assert values["language"] == "en"


def test_resolve_rejects_unknown_name(notebook_path):
    declared = declared_parameters(notebook_path)
    with pytest.raises(ParameterError) as error:
        resolve_parameters("sample.ipynb", declared, {"sed": 1})
    assert "sample.ipynb" in str(error.value)
    assert "'sed'" in str(error.value)
    assert "seed" in str(error.value)


def test_unannotated_parameter_is_rejected(tmp_path):
    notebook = new_notebook("notebooks/x.ipynb", "X", "", "seed = 0", [])
    path = tmp_path / "x.ipynb"
    path.write_text(nbformat.writes(notebook))
    with pytest.raises(ParameterError, match="annotated"):
        declared_parameters(path)


def test_missing_parameters_cell_is_rejected(tmp_path):
    notebook = new_notebook("notebooks/x.ipynb", "X", "", "seed: int = 0", [])
    notebook.cells[2].metadata["tags"] = []
    path = tmp_path / "x.ipynb"
    path.write_text(nbformat.writes(notebook))
    with pytest.raises(ParameterError, match="exactly one cell tagged 'parameters'"):
        declared_parameters(path)
