"""The conda environment and the pip requirements list the same packages."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from the PyPI names.
CONDA_NAMES = {"torch": "pytorch"}


def requirement_name(text):
    return re.split(r"[<>=!~\[ ;]", text, maxsplit=1)[0].strip().lower()


def test_environment_lists_every_requirement():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {requirement_name(item) for item in environment["dependencies"] if isinstance(item, str)}
    missing = [
        name for name in map(requirement_name, project["dependencies"])
        if CONDA_NAMES.get(name, name) not in conda
    ]
    assert missing == []


def test_environment_installs_the_project_with_pip():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [item["pip"] for item in environment["dependencies"] if isinstance(item, dict)]
    assert pip_sections == [['-e ".[dev]"']]
    assert "conda-forge" in environment["channels"]
