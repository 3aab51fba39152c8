"""Decide whether a notebook must run again.

A notebook is up to date when its cache key equals the key of its last successful run, none of
its input files changed on disk since then, and every file it wrote is still in ``figures/``.
The key covers the notebook file, its resolved parameters, the source of every ``tfg_lib``
module the notebook imports (followed transitively, parent packages included) and the data
fingerprint. Modification times are checked as well, so that ``touch`` on a module reruns the
notebooks that import it, as ``make`` would.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import nbformat

from ..figures import write_text_atomic

logger = logging.getLogger(__name__)

PACKAGE = "tfg_lib"
STATE_NAME = "state.json"


def _module_file(package_root: Path, module: str) -> Path | None:
    """Map a dotted ``tfg_lib`` module name onto its source file, or None if there is none."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_root.joinpath(*parts[1:]) if len(parts) > 1 else package_root
    if base.with_suffix(".py").is_file() and len(parts) > 1:
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imported_modules(tree: ast.AST, current_module: str | None, is_package: bool) -> set[str]:
    """Return the ``tfg_lib`` modules an AST imports, including ``from x import submodule``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if current_module is None:
                    continue
                anchor = current_module.split(".")
                drop = node.level - 1 if is_package else node.level
                anchor = anchor[: len(anchor) - drop] if drop else anchor
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != PACKAGE:
                continue
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def dependency_files(notebook_path: str | Path, package_root: str | Path) -> list[Path]:
    """List the ``tfg_lib`` source files a notebook depends on, sorted.

    Starts from the imports in the notebook's code cells and follows the imports of each module
    found, adding the ``__init__.py`` of every parent package (Python runs those on import).
    """
    package_root = Path(package_root)
    notebook = nbformat.read(notebook_path, as_version=4)
    pending: set[str] = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("!", "%")))
        try:
            pending |= _imported_modules(ast.parse(source), None, False)
        except SyntaxError:
            logger.warning("%s: a code cell does not parse; its imports are not tracked", notebook_path)
    seen_modules: set[str] = set()
    files: set[Path] = set()
    while pending:
        module = pending.pop()
        if module in seen_modules:
            continue
        seen_modules.add(module)
        parts = module.split(".")
        pending.update(".".join(parts[:end]) for end in range(1, len(parts)))
        path = _module_file(package_root, module)
        if path is None:
            continue
        files.add(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        pending |= _imported_modules(tree, module, path.name == "__init__.py")
    return sorted(files)


def cache_key(
    notebook_path: str | Path,
    parameters_json: str,
    dependencies: list[Path],
    fingerprint: dict[str, str],
    repository_root: str | Path,
) -> str:
    """Hash everything that determines a notebook's output into one hexadecimal key."""
    digest = hashlib.sha256()
    digest.update(Path(notebook_path).read_bytes())
    digest.update(b"\0parameters\0" + parameters_json.encode())
    for path in dependencies:
        relative = os.path.relpath(path, repository_root)
        digest.update(b"\0source\0" + relative.encode() + b"\0" + path.read_bytes())
    digest.update(b"\0data\0" + json.dumps(fingerprint, sort_keys=True).encode())
    return digest.hexdigest()


class RunCache:
    """The record of successful runs, kept in ``<cache_dir>/state.json``."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.path = Path(cache_dir) / STATE_NAME
        self.state: dict[str, Any] = {}
        if self.path.is_file():
            try:
                self.state = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                logger.warning("run cache %s is unreadable; every notebook will run", self.path)

    def is_fresh(self, notebook: str, key: str, inputs: list[Path], figures_dir: Path) -> bool:
        """Return True when ``notebook`` ran successfully with ``key`` and nothing changed since."""
        record = self.state.get(notebook)
        if not record or record.get("key") != key:
            return False
        finished = record.get("finished_ns", 0)
        if any(path.stat().st_mtime_ns > finished for path in inputs):
            return False
        return all((figures_dir / name).is_file() for name in record.get("files", []))

    def files(self, notebook: str) -> list[str]:
        """Return the files the last successful run of ``notebook`` wrote."""
        return list(self.state.get(notebook, {}).get("files", []))

    def record(self, notebook: str, key: str, files: list[str], finished_ns: int) -> None:
        """Store a successful run and save the state atomically."""
        self.state[notebook] = {"key": key, "files": sorted(files), "finished_ns": finished_ns}
        write_text_atomic(self.path, json.dumps(self.state, indent=2, sort_keys=True) + "\n")
