"""Run the companion's notebooks with papermill and collect their figures with provenance.

The runner first resolves and type-checks the parameters of every selected notebook, before
any kernel starts. It skips a notebook when the run cache shows that nothing changed. Otherwise
it executes the notebook with the repository root as working directory and ``TFG_FIGURES_DIR``
pointing at a private staging folder. Only after a successful run are the staged files moved
into ``figures/`` and recorded in ``figures/manifest.json``, so a failed notebook leaves
``figures/`` untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from .. import __version__
from ..figures import FIGURES_DIR_VARIABLE, atomic_path
from .cache import RunCache, cache_key, dependency_files
from .notebook_format import NOTEBOOKS_DIR, find_notebooks
from .parameters import (
    Parameter,
    ParameterError,
    canonical_json,
    check_values,
    declared_parameters,
    resolve_parameters,
)
from .profiles import check_profile_notebooks, load_profiles, profile_values
from .provenance import data_fingerprint, git_state, update_manifest

logger = logging.getLogger(__name__)

EMBEDDED_DATA_MODULE = Path("aifr") / "datasets" / "embedded.py"


class NotebookNotFoundError(FileNotFoundError):
    """A notebook name that matches no notebook, or more than one."""


@dataclass
class NotebookPlan:
    """Everything needed to decide on and execute one notebook run."""

    name: str
    path: Path
    parameters: dict[str, Any]
    dependencies: list[Path]
    fingerprint: dict[str, str]
    key: str


@dataclass
class RunOutcome:
    """The result of one notebook in a run."""

    notebook: str
    status: str  # "ok", "skipped" or "failed"
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)
    error: str | None = None
    executed_path: Path | None = None


class Runner:
    """Plan and execute notebook runs for one repository checkout.

    Parameters
    ----------
    root : path
        Repository root: contains ``notebooks/`` and ``tfg_lib/``; the notebooks run with it as
        working directory.
    figures_dir, output_dir, cache_dir : path, optional
        Where figures land (default ``<root>/figures``), where executed notebooks are saved
        (default ``<root>/build/executed``) and where the run cache lives
        (default ``<root>/.cache/tfg_runs``).
    kernel_name : str
        Jupyter kernel to start. ``python3`` resolves to the interpreter running the runner.
    progress : bool
        Show papermill's per-cell progress bar.
    """

    def __init__(
        self,
        root: str | Path,
        figures_dir: str | Path | None = None,
        output_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        kernel_name: str = "python3",
        progress: bool = True,
    ) -> None:
        self.root = Path(root).resolve()
        self.notebooks_dir = self.root / NOTEBOOKS_DIR
        if not self.notebooks_dir.is_dir():
            raise NotebookNotFoundError(
                f"no notebooks/ folder under {self.root}; run from the repository root or pass --root."
            )
        self.package_root = self.root / "tfg_lib"
        self.figures_dir = Path(figures_dir) if figures_dir else self.root / "figures"
        self.output_dir = Path(output_dir) if output_dir else self.root / "build" / "executed"
        self.cache = RunCache(Path(cache_dir) if cache_dir else self.root / ".cache" / "tfg_runs")
        self.kernel_name = kernel_name
        self.progress = progress

    # ----------------------------------------------------------------------------------------
    # Discovery and planning

    def notebooks(self) -> dict[str, Path]:
        """Map each notebook's name (its path relative to ``notebooks/``) to its path."""
        return {path.relative_to(self.notebooks_dir).as_posix(): path for path in find_notebooks(self.root)}

    def resolve_name(self, text: str) -> str:
        """Turn a user's notebook reference into a notebook name.

        Accepted: the path relative to the repository or to ``notebooks/``, with or without
        ``.ipynb``, or a bare file stem when it is unique.
        """
        known = self.notebooks()
        candidate = Path(text)
        if candidate.is_absolute() or candidate.exists():
            with contextlib.suppress(ValueError):
                candidate = candidate.resolve().relative_to(self.notebooks_dir)
        name = candidate.as_posix()
        if name.startswith(f"{NOTEBOOKS_DIR}/"):
            name = name[len(NOTEBOOKS_DIR) + 1:]
        if not name.endswith(".ipynb"):
            name += ".ipynb"
        if name in known:
            return name
        by_stem = [key for key in known if Path(key).name == Path(name).name]
        if len(by_stem) == 1:
            return by_stem[0]
        choices = "\n  ".join(sorted(known)) or "(none)"
        reason = "is ambiguous" if by_stem else "does not exist"
        raise NotebookNotFoundError(f"notebook {text!r} {reason}; the notebooks are:\n  {choices}")

    def declared(self, name: str) -> dict[str, Parameter]:
        """Return the declared parameters of notebook ``name``."""
        return declared_parameters(self.notebooks()[name])

    def plan(
        self,
        names: Sequence[str] | None = None,
        profile: str = "quick",
        overrides: Sequence[tuple[str | None, str, Any]] = (),
    ) -> list[NotebookPlan]:
        """Resolve and check the parameters of every selected notebook.

        Parameters
        ----------
        names : sequence of str, optional
            Notebook references (see :meth:`resolve_name`); all notebooks when empty.
        profile : str
            Profile whose values are applied over the notebooks' defaults.
        overrides : sequence of (notebook or None, name, value)
            Values applied last. An override without notebook applies to every selected
            notebook, and each of them must declare it.

        Raises
        ------
        NotebookNotFoundError, ParameterError, ProfileError
            Before any notebook runs.
        """
        known = self.notebooks()
        selected = [self.resolve_name(name) for name in names] if names else sorted(known)
        profiles = load_profiles(self.notebooks_dir)
        check_profile_notebooks(profiles, set(known))
        scoped = [(self.resolve_name(target) if target else None, key, value) for target, key, value in overrides]
        for target, key, _ in scoped:
            if target is not None and target not in selected:
                raise ParameterError(f"override {target}:{key} names a notebook that is not selected to run.")

        plans = []
        for name in selected:
            declared = declared_parameters(known[name])
            layer = {key: value for target, key, value in scoped if target in (None, name)}
            parameters = resolve_parameters(name, declared, profile_values(profiles, profile, name), layer)
            check_values(name, parameters, self.root)
            dependencies = dependency_files(known[name], self.package_root)
            embedded = self.package_root / EMBEDDED_DATA_MODULE in dependencies
            fingerprint = data_fingerprint(parameters, self.root, embedded)
            key = cache_key(known[name], canonical_json(parameters), dependencies, fingerprint, self.root)
            plans.append(NotebookPlan(name, known[name], parameters, dependencies, fingerprint, key))
        return plans

    # ----------------------------------------------------------------------------------------
    # Execution

    def run(self, plans: Sequence[NotebookPlan], profile: str, force: bool = False) -> list[RunOutcome]:
        """Execute the planned notebooks in order, skipping fresh ones unless ``force``."""
        outcomes = []
        for position, plan in enumerate(plans, start=1):
            inputs = [plan.path, *plan.dependencies]
            if not force and self.cache.is_fresh(plan.name, plan.key, inputs, self.figures_dir):
                logger.info("[%d/%d] %s: up to date, skipped", position, len(plans), plan.name)
                outcomes.append(RunOutcome(plan.name, "skipped", files=self.cache.files(plan.name)))
                continue
            logger.info("[%d/%d] %s: running (profile %s)", position, len(plans), plan.name, profile)
            outcomes.append(self._execute(plan, profile))
        return outcomes

    def _execute(self, plan: NotebookPlan, profile: str) -> RunOutcome:
        import papermill
        from papermill.exceptions import PapermillExecutionError

        executed_path = self.output_dir / profile / plan.name
        executed_path.parent.mkdir(parents=True, exist_ok=True)
        started_ns = time.time_ns()
        started = time.perf_counter()
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        with self._staging_folder() as staging:
            try:
                with _environment(**{FIGURES_DIR_VARIABLE: str(staging), "MPLBACKEND": "Agg"}):
                    papermill.execute_notebook(
                        str(plan.path),
                        str(executed_path),
                        parameters=plan.parameters,
                        cwd=str(self.root),
                        kernel_name=self.kernel_name,
                        progress_bar=self.progress,
                        request_save_on_cell_execute=True,
                    )
            except PapermillExecutionError as error:
                message = _describe_cell_failure(error, executed_path)
                return RunOutcome(plan.name, "failed", time.perf_counter() - started, error=message,
                                  executed_path=executed_path)
            except Exception as error:  # kernel start failures, timeouts, papermill I/O errors
                message = f"the notebook could not be executed: {type(error).__name__}: {error}"
                return RunOutcome(plan.name, "failed", time.perf_counter() - started, error=message,
                                  executed_path=executed_path)
            files = self._publish(plan, profile, staging)
        self.cache.record(plan.name, plan.key, files, started_ns)
        return RunOutcome(plan.name, "ok", time.perf_counter() - started, files, executed_path=executed_path)

    @contextlib.contextmanager
    def _staging_folder(self) -> Iterator[Path]:
        base = self.root / "build" / "staging"
        base.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="run-", dir=base))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _publish(self, plan: NotebookPlan, profile: str, staging: Path) -> list[str]:
        """Move staged files into figures/, drop the notebook's stale files, update the manifest."""
        nested = [path for path in staging.rglob("*") if path.is_file() and path.parent != staging]
        if nested:
            logger.warning("%s wrote files in subfolders of the figures folder; they are ignored: %s",
                           plan.name, ", ".join(str(path.relative_to(staging)) for path in nested[:5]))
        produced = sorted(path.name for path in staging.iterdir() if path.is_file() and not path.name.startswith("."))
        for name in produced:
            # Copy through a temporary file beside the target, so that each published file
            # appears whole even when figures/ is on another file system than build/.
            with atomic_path(self.figures_dir / name) as temporary:
                shutil.copyfile(staging / name, temporary)
        for stale in set(self.cache.files(plan.name)) - set(produced):
            (self.figures_dir / stale).unlink(missing_ok=True)
            logger.info("%s no longer writes %s; removed it from figures/", plan.name, stale)
        git = git_state(self.root)
        record = {
            "parameters": plan.parameters,
            "profile": profile,
            "git_commit": git["commit"],
            "git_dirty": git["dirty"],
            "package_version": __version__,
            "data_fingerprint": plan.fingerprint,
        }
        update_manifest(self.figures_dir, plan.name, produced, record)
        if not produced:
            logger.warning("%s ran successfully but wrote no figure or table", plan.name)
        return produced


@contextlib.contextmanager
def _environment(**variables: str) -> Iterator[None]:
    """Set environment variables for the kernel that papermill starts, then restore them."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _describe_cell_failure(error: Exception, executed_path: Path) -> str:
    """Describe a failing cell: its index in the source notebook, its source, the exception.

    papermill's own ``cell_index`` counts the injected parameters cell and, in the saved
    notebook, an error banner it adds at the top, so the index is recomputed here by skipping
    the cells papermill added.
    """
    index, source = getattr(error, "cell_index", None), ""
    with contextlib.suppress(Exception):
        position = 0
        for cell in nbformat.read(executed_path, as_version=4).cells:
            tags = cell.get("metadata", {}).get("tags", [])
            if "injected-parameters" in tags or "papermill-error-cell-tag" in tags:
                continue
            if any(output.get("output_type") == "error" for output in cell.get("outputs", [])):
                index = position
                lines = cell.source.splitlines()
                source = "\n".join(f"    | {line}" for line in lines[:6]) + ("\n    | ..." if len(lines) > 6 else "")
                break
            position += 1
    header = f"cell {index} raised {getattr(error, 'ename', type(error).__name__)}: {getattr(error, 'evalue', error)}"
    return f"{header}\n{source}" if source else header


def format_summary(outcomes: Sequence[RunOutcome]) -> str:
    """Render the outcomes as a plain-text table: notebook, status, seconds, files written."""
    rows = [("notebook", "status", "seconds", "files")]
    for outcome in outcomes:
        files = str(len(outcome.files)) if outcome.status != "skipped" else f"({len(outcome.files)})"
        rows.append((outcome.notebook, outcome.status, f"{outcome.seconds:.1f}", files))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = []
    for number, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) if column < 2 else cell.rjust(width)
                               for column, (cell, width) in enumerate(zip(row, widths))))
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
