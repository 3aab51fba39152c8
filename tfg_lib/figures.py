"""One figure style for the whole companion, with atomic PNG + PDF + CSV output.

Every notebook saves its figures through :func:`save_figure` and its tables through
:func:`save_table`, so each figure in ``figures/`` comes with the tidy CSV of the numbers it
shows, and a crash never leaves a half-written file behind.

The output folder is, in order of precedence: the ``directory`` argument, the environment
variable ``TFG_FIGURES_DIR`` (the runner sets it to a staging folder), or the ``figures/``
folder of the repository that contains the current working directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

logger = logging.getLogger(__name__)

LANGUAGES = ("en", "es")
FIGURES_DIR_VARIABLE = "TFG_FIGURES_DIR"

# Colour-blind safe palette (Okabe and Ito, 2008), in the order series are drawn.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")

STYLE: dict[str, Any] = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "image.cmap": "viridis",
    "pdf.fonttype": 42,  # embed TrueType so the PDF text stays editable in the thesis
    "svg.hashsalt": "tfg",
}


def apply_style() -> None:
    """Set the companion's matplotlib style for the rest of the session."""
    matplotlib.rcParams.update(STYLE)


def check_language(language: str) -> str:
    """Return ``language`` if it is supported, otherwise raise ``ValueError``."""
    if language not in LANGUAGES:
        raise ValueError(
            f"language={language!r} is not supported; use one of {', '.join(LANGUAGES)}."
        )
    return language


def tr(language: str, en: str, es: str) -> str:
    """Pick the English or Spanish text of a label.

    Examples
    --------
    >>> tr("es", "Number of components", "Número de componentes")
    'Número de componentes'
    """
    return es if check_language(language) == "es" else en


def find_repository_root(start: Path | None = None) -> Path | None:
    """Return the nearest folder above ``start`` that contains this project's ``pyproject.toml``."""
    start_folder = (start or Path.cwd()).resolve()
    for folder in (start_folder, *start_folder.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and (folder / "tfg_lib").is_dir():
            return folder
    return None


def output_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """Resolve and create the folder that figures and tables are written to."""
    if directory is not None:
        path = Path(directory)
    elif os.environ.get(FIGURES_DIR_VARIABLE):
        path = Path(os.environ[FIGURES_DIR_VARIABLE])
    else:
        root = find_repository_root()
        path = (root / "figures") if root is not None else Path("figures")
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` and move it onto ``target`` on success.

    The temporary file lives in the same folder, so the final ``os.replace`` is atomic on POSIX
    and Windows. On an exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    # mkstemp creates the file readable by its owner only; give it the mode a plain open() would.
    mask = os.umask(0)
    os.umask(mask)
    temporary.chmod(0o666 & ~mask)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``target`` through :func:`atomic_path`."""
    target = Path(target)
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return target


def _check_stem(stem: str) -> str:
    if not stem or any(char in stem for char in "/\\") or stem.startswith("."):
        raise ValueError(
            f"stem={stem!r} is not a valid file stem; use a plain name such as 'mnist_class_counts'."
        )
    return stem


def save_table(
    data: pd.DataFrame | Mapping[str, Any],
    stem: str,
    directory: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a tidy table as ``<stem>.csv`` atomically and return its path."""
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    target = output_dir(directory) / f"{_check_stem(stem)}.csv"
    with atomic_path(target) as temporary:
        frame.to_csv(temporary, index=False)
    logger.info("wrote %s", target)
    return target


def save_figure(
    fig: matplotlib.figure.Figure,
    stem: str,
    data: pd.DataFrame | Mapping[str, Any] | None = None,
    directory: str | os.PathLike[str] | None = None,
    close: bool = True,
) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` and ``<stem>.pdf``, and ``data`` as ``<stem>.csv``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The finished figure.
    stem : str
        File name without extension, unique across the companion (prefix it with the notebook's
        topic, for example ``expressivity_rank_grid``).
    data : DataFrame or mapping, optional
        The numbers drawn in the figure, in tidy form (one row per point). Every figure of the
        companion should pass it, so that its values can be read without the picture.
    directory : path, optional
        Output folder; see the module docstring for the default.
    close : bool
        Close the figure after saving, so notebooks do not accumulate open figures.

    Returns
    -------
    list of Path
        The files written, PNG first.
    """
    folder = output_dir(directory)
    _check_stem(stem)
    written = []
    # Fixed metadata keeps the files byte-stable between runs of the same code.
    metadata = {
        ".png": {"Software": None},
        ".pdf": {"Creator": None, "Producer": None, "CreationDate": None},
    }
    for suffix, file_metadata in metadata.items():
        target = folder / f"{stem}{suffix}"
        with atomic_path(target) as temporary:
            fig.savefig(temporary, format=suffix[1:], metadata=file_metadata)
        written.append(target)
    if data is not None:
        written.append(save_table(data, stem, folder))
    else:
        logger.warning("figure %s was saved without the CSV of its numbers", stem)
    if close:
        plt.close(fig)
    logger.info("wrote %s", ", ".join(str(path) for path in written))
    return written
