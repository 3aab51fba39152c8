"""A throwaway repository with tiny notebooks, for running the runner end to end."""

from pathlib import Path

import pytest

from tfg_lib.pipeline.notebook_format import new_notebook, write_notebook

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "tfg_lib"

WRITES_TABLE = [
    ("code", "from tfg_lib import figures"),
    ("code", 'figures.save_table({"seed": [seed], "scale": [scale]}, "tiny_table")'),
]


@pytest.fixture
def sandbox(tmp_path):
    """A repository root with notebooks/, a profiles file and a link to the real package."""
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    (root / "tfg_lib").symlink_to(PACKAGE_ROOT, target_is_directory=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'sandbox'\n")
    (root / "notebooks" / "profiles.yaml").write_text(
        "quick:\n  tiny.ipynb: {}\nfull:\n  tiny.ipynb:\n    scale: 2.5\n"
    )
    write(root, "tiny.ipynb", 'seed: int = 0\nscale: float = 1.0\nlanguage: str = "en"', WRITES_TABLE)
    return root


@pytest.fixture
def add_notebook(sandbox):
    """Return a function that writes a notebook into the sandbox's notebooks/ folder."""
    return lambda name, parameters, cells: write(sandbox, name, parameters, cells)


def write(root: Path, name: str, parameters: str, cells) -> Path:
    path = root / "notebooks" / name
    write_notebook(new_notebook(f"notebooks/{name}", name, "", parameters, cells), path)
    return path
