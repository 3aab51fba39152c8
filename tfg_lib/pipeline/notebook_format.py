"""The layout every companion notebook follows, a builder for it, and a checker.

A notebook starts with a markdown title cell that carries an "Open in Colab" badge. Next comes
a setup cell that installs the package on Colab (and only there) and reports the GPU, then one
code cell tagged ``parameters`` whose assignments carry type annotations. Narrative and calls
into ``tfg_lib`` follow. Outputs are never committed, which :func:`hygiene_problems` checks.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

import nbformat

# NOTE: the public address of this repository is not fixed yet. The badge and the Colab
# install cell both read it from here, so after changing it rebuild the notebooks' first two
# cells with ``refresh_header``.
REPOSITORY = "tfg-companion/tfg-companion"
BRANCH = "main"
PARAMETERS_TAG = "parameters"
NOTEBOOKS_DIR = "notebooks"

SETUP_SOURCE = f'''\
# Setup: on Colab, install tfg_lib from its repository (a regular install, so no runtime
# restart is needed). Elsewhere the package is already installed and this cell only reports
# the device.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet",
         "tfg-lib @ git+https://github.com/{REPOSITORY}.git@{BRANCH}"],
        check=True,
    )

import torch

print("GPU:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none, running on CPU")'''


def colab_badge(notebook_path: str) -> str:
    """Return the markdown of an "Open in Colab" badge for a path relative to the repository."""
    url = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{notebook_path}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def header_cells(notebook_path: str, title: str, introduction: str) -> list[nbformat.NotebookNode]:
    """Build the title cell (with badge) and the Colab setup cell."""
    title_cell = nbformat.v4.new_markdown_cell(
        f"# {title}\n\n{colab_badge(notebook_path)}\n\n{introduction.strip()}"
    )
    setup_cell = nbformat.v4.new_code_cell(SETUP_SOURCE)
    return [title_cell, setup_cell]


def new_notebook(
    notebook_path: str,
    title: str,
    introduction: str,
    parameters: str,
    cells: Sequence[tuple[str, str]],
) -> nbformat.NotebookNode:
    """Assemble a notebook in the companion's layout.

    Parameters
    ----------
    notebook_path : str
        Path relative to the repository root, such as ``notebooks/aifr/mnist_reproduction.ipynb``;
        it is used for the Colab badge.
    title, introduction : str
        Markdown for the first cell.
    parameters : str
        Source of the parameters cell: one annotated assignment per line, for example
        ``seed: int = 0  # random seed``.
    cells : sequence of (kind, source)
        The remaining cells, ``kind`` being ``"markdown"`` or ``"code"``.
    """
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.cells = header_cells(notebook_path, title, introduction)
    parameters_cell = nbformat.v4.new_code_cell(parameters.strip())
    parameters_cell.metadata["tags"] = [PARAMETERS_TAG]
    notebook.cells.append(parameters_cell)
    for kind, source in cells:
        if kind == "markdown":
            notebook.cells.append(nbformat.v4.new_markdown_cell(source.strip()))
        elif kind == "code":
            notebook.cells.append(nbformat.v4.new_code_cell(source.strip()))
        else:
            raise ValueError(f"cell kind {kind!r} is invalid; use 'markdown' or 'code'.")
    return notebook


def write_notebook(notebook: nbformat.NotebookNode, path: str | Path) -> Path:
    """Validate ``notebook``, strip its outputs and ids-churn, and write it to ``path``."""
    path = Path(path)
    strip_outputs(notebook)
    nbformat.validate(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
    return path


def strip_outputs(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs, execution counts and execution metadata in place."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
    notebook.metadata.pop("papermill", None)
    return notebook


def refresh_header(path: str | Path, repository_root: str | Path = ".") -> None:
    """Rewrite the first two cells of an existing notebook from the current constants."""
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    relative = path.resolve().relative_to(Path(repository_root).resolve()).as_posix()
    title_lines = notebook.cells[0].source.splitlines()
    title = title_lines[0].lstrip("# ").strip()
    body = "\n".join(line for line in title_lines[1:] if "colab-badge.svg" not in line)
    notebook.cells[:2] = header_cells(relative, title, body)
    write_notebook(notebook, path)


def parameter_cells(notebook: nbformat.NotebookNode) -> list[int]:
    """Return the indices of the cells tagged ``parameters``."""
    return [
        index
        for index, cell in enumerate(notebook.cells)
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", [])
    ]


def hygiene_problems(path: str | Path, repository_root: str | Path = ".") -> list[str]:
    """List every way the notebook at ``path`` departs from the companion's layout.

    An empty list means the notebook is fine. The checks: outputs stripped, exactly one code
    cell tagged ``parameters`` in which every assignment is type-annotated, kernelspec
    ``python3``, a Colab badge that points at this notebook, and the Colab setup cell first.
    """
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    problems = []

    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            problems.append(f"cell {index} has outputs or an execution count; strip them")

    kernel = notebook.metadata.get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"kernelspec is {kernel!r}, expected 'python3'")

    tagged = parameter_cells(notebook)
    if len(tagged) != 1:
        problems.append(f"{len(tagged)} cells are tagged 'parameters', expected exactly one")
    else:
        problems.extend(_parameter_cell_problems(notebook.cells[tagged[0]]))

    relative = path.resolve().relative_to(Path(repository_root).resolve()).as_posix()
    if not notebook.cells or colab_badge(relative) not in notebook.cells[0].source:
        problems.append(f"the first cell lacks the Colab badge for {relative}")
    if len(notebook.cells) < 2 or notebook.cells[1].source.strip() != SETUP_SOURCE.strip():
        problems.append("the second cell is not the standard Colab setup cell")
    return problems


def _parameter_cell_problems(cell: nbformat.NotebookNode) -> list[str]:
    if cell.cell_type != "code":
        return ["the cell tagged 'parameters' is not a code cell"]
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as error:
        return [f"the parameters cell does not parse: {error}"]
    problems = []
    for line in cell.source.splitlines():
        if "#" in line and "=" in line.split("#", 1)[1]:
            # papermill's parser cannot read such a line, then warns and ignores the parameter.
            problems.append(f"the comment of parameter line {line.strip()!r} contains '='; reword it")
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            names = ", ".join(ast.unparse(target) for target in statement.targets)
            problems.append(f"parameter {names} has no type annotation")
        elif not isinstance(statement, ast.AnnAssign):
            problems.append(f"the parameters cell holds a statement that is not an assignment: {ast.unparse(statement)}")
    return problems


def find_notebooks(root: str | Path = ".") -> list[Path]:
    """Return the notebooks under ``<root>/notebooks``, sorted, skipping checkpoints."""
    base = Path(root) / NOTEBOOKS_DIR
    found = sorted(
        path for path in base.rglob("*.ipynb") if ".ipynb_checkpoints" not in path.parts
    )
    return found
