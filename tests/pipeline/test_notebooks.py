"""Every notebook in the repository: layout hygiene, and a run of each in the quick profile."""

from pathlib import Path

import pytest

from tfg_lib.pipeline.notebook_format import find_notebooks, hygiene_problems
from tfg_lib.pipeline.runner import Runner

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = [path.relative_to(ROOT / "notebooks").as_posix() for path in find_notebooks(ROOT)]


def test_repository_has_notebooks():
    assert "mnist_overview.ipynb" in NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_hygiene(name):
    assert hygiene_problems(ROOT / "notebooks" / name, ROOT) == []


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_declares_language(name):
    runner = Runner(ROOT, progress=False)
    assert runner.declared(name)["language"].annotation == "str"


@pytest.mark.notebooks
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_quick_profile(name, tmp_path):
    runner = Runner(
        ROOT,
        figures_dir=tmp_path / "figures",
        output_dir=tmp_path / "executed",
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    (outcome,) = runner.run(runner.plan([name], "quick"), "quick", force=True)
    assert outcome.status == "ok", outcome.error
    assert outcome.files, f"{name} wrote no figure or table"
    assert (tmp_path / "figures" / "manifest.json").is_file()
