"""Exploration figures of a data set: images per identity, ages, age ranges, one identity's photos.

Each ``plot_*`` function returns ``(figure, tidy DataFrame of the numbers drawn)``, ready for
:func:`tfg_lib.figures.save_figure`. They read only the sample table, except
:func:`plot_identity_across_ages`, which decodes the images it shows.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tfg_lib.figures import tr


def _check_samples(samples: pd.DataFrame) -> pd.DataFrame:
    missing = {"name", "identity", "age"} - set(getattr(samples, "columns", ()))
    if missing:
        raise ValueError(
            f"samples lacks the columns {sorted(missing)}; pass dataset.samples from a "
            "tfg_lib.aifr.datasets data set."
        )
    return samples


def images_per_identity(samples: pd.DataFrame) -> pd.DataFrame:
    """Count images per identity: columns identity, name, images, sorted by identity."""
    samples = _check_samples(samples)
    counts = samples.groupby(["identity", "name"], sort=True).size().rename("images")
    return counts.reset_index()


def age_ranges(samples: pd.DataFrame) -> pd.DataFrame:
    """Youngest and oldest age per identity and their difference (NaN when no age is known).

    Columns: identity, name, images, youngest, oldest, age_range.
    """
    samples = _check_samples(samples)
    grouped = samples.groupby(["identity", "name"], sort=True)["age"]
    table = pd.DataFrame({"images": grouped.size(), "youngest": grouped.min(), "oldest": grouped.max()})
    table["age_range"] = table["oldest"] - table["youngest"]
    return table.reset_index()


def _no_data(ax: plt.Axes, language: str) -> None:
    ax.text(0.5, 0.5, tr(language, "no ages recorded", "sin edades registradas"),
            ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_images_per_identity(samples: pd.DataFrame, title: str = "", language: str = "en") -> tuple[plt.Figure, pd.DataFrame]:
    """Draw the histogram of the number of images per identity."""
    table = images_per_identity(samples)
    fig, ax = plt.subplots()
    counts = table["images"].to_numpy()
    if counts.size:
        bins = np.arange(counts.min(), counts.max() + 2) - 0.5 if counts.max() - counts.min() < 60 else 40
        ax.hist(counts, bins=bins)
    ax.set_xlabel(tr(language, "Images per identity", "Imágenes por identidad"))
    ax.set_ylabel(tr(language, "Identities", "Identidades"))
    ax.set_title(title)
    return fig, table


def plot_age_distribution(samples: pd.DataFrame, title: str = "", language: str = "en") -> tuple[plt.Figure, pd.DataFrame]:
    """Draw the histogram of the ages of all images, one bin per year (tidy data: age, images)."""
    samples = _check_samples(samples)
    ages = samples["age"].dropna().to_numpy()
    fig, ax = plt.subplots()
    if ages.size == 0:
        _no_data(ax, language)
        table = pd.DataFrame({"age": pd.Series(dtype=float), "images": pd.Series(dtype=int)})
    else:
        values, counts = np.unique(np.floor(ages), return_counts=True)
        table = pd.DataFrame({"age": values, "images": counts})
        ax.bar(values, counts, width=1.0)
        ax.set_xlabel(tr(language, "Age (years)", "Edad (años)"))
        ax.set_ylabel(tr(language, "Images", "Imágenes"))
    ax.set_title(title)
    return fig, table


def plot_age_ranges(samples: pd.DataFrame, title: str = "", language: str = "en") -> tuple[plt.Figure, pd.DataFrame]:
    """Draw one horizontal segment per identity from its youngest to its oldest photo."""
    table = age_ranges(samples)
    known = table.dropna(subset=["youngest"]).sort_values(["youngest", "oldest", "identity"])
    fig, ax = plt.subplots()
    if known.empty:
        _no_data(ax, language)
        return fig, table
    rows = np.arange(len(known))
    ax.hlines(rows, known["youngest"], known["oldest"], linewidth=max(0.3, min(3.0, 200 / len(known))))
    ax.scatter(known["youngest"], rows, s=4)
    ax.scatter(known["oldest"], rows, s=4)
    ax.set_xlabel(tr(language, "Age (years)", "Edad (años)"))
    ax.set_ylabel(tr(language, "Identity (sorted by youngest age)", "Identidad (ordenada por edad mínima)"))
    median = float(known["age_range"].median())
    ax.set_title(f"{title} " + tr(language, f"(median range {median:g} years)", f"(rango mediano {median:g} años)"))
    return fig, table


def plot_identity_across_ages(
    dataset, identity: int | None = None, columns: int = 8, title: str = "", language: str = "en"
) -> tuple[plt.Figure, pd.DataFrame]:
    """Grid of one identity's images ordered by age, evenly spread over its ages.

    Parameters
    ----------
    dataset : data set of this package
        Needs ``samples`` and ``load_image(index)``.
    identity : int, optional
        Identity to show. By default it is the one with the widest age range, or with the most
        images when ages are unknown. Ties go to the smallest id.
    columns : int
        Number of images shown, at most the identity's image count.
    """
    if isinstance(columns, bool) or not isinstance(columns, (int, np.integer)) or columns < 1:
        raise ValueError(f"columns must be a positive int; got {columns!r}.")
    samples = _check_samples(dataset.samples)
    if identity is None:
        ranges = age_ranges(samples).fillna({"age_range": -1.0})
        ranges = ranges.sort_values(["age_range", "images", "identity"], ascending=[False, False, True])
        identity = int(ranges["identity"].iloc[0])
    positions = np.flatnonzero(samples["identity"].to_numpy() == identity)
    if positions.size == 0:
        raise ValueError(f"identity={identity!r} has no images; pick one of dataset.labels.")
    order = positions[np.argsort(samples["age"].to_numpy()[positions], kind="stable")]
    shown = order[np.unique(np.linspace(0, order.size - 1, min(columns, order.size)).round().astype(int))]

    rows = math.ceil(len(shown) / 8)
    width = min(8, len(shown))
    fig, axes = plt.subplots(rows, width, figsize=(1.3 * width, 1.6 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, shown):
        image = dataset.load_image(int(index))
        ax.imshow(image, cmap="gray" if image.mode == "L" else None)
        age = samples["age"].iat[int(index)]
        if not math.isnan(age):
            ax.set_title(tr(language, f"{age:g} y", f"{age:g} a"), fontsize=8)
    name = str(samples["name"].iat[int(shown[0])])
    fig.suptitle(f"{title} {name}".strip())
    table = samples.iloc[shown][["path", "name", "identity", "age"]].reset_index(names="index")
    return fig, table


DATASET_KINDS = ("mnist", "cacd", "fgnet", "lfw")


def open_dataset(kind: str, root: str = "", fixture_dir: str | os.PathLike[str] | None = None,
                 identities: int = 12, seed: int = 0, progress: bool = False):
    """Open a data set from ``root``, or a stand-in when ``root`` is empty.

    The stand-in is the embedded 5,000-digit sample for ``kind="mnist"`` and a generated
    face-layout fixture (:func:`~tfg_lib.aifr.datasets.fixtures.make_face_fixture`, with its bad
    files) written under ``fixture_dir`` for the face data sets.

    Returns
    -------
    dataset
        The opened data set.
    source : str
        ``"embedded"``, ``"fixture"`` or the root folder.
    """
    from tfg_lib.aifr.datasets.cacd import CACD
    from tfg_lib.aifr.datasets.fgnet import FGNET
    from tfg_lib.aifr.datasets.fixtures import make_face_fixture
    from tfg_lib.aifr.datasets.lfw import LFW
    from tfg_lib.aifr.datasets.mnist import EmbeddedMNIST, MNISTFolder

    if kind not in DATASET_KINDS:
        raise ValueError(f"kind={kind!r} is not a data set; use one of {', '.join(DATASET_KINDS)}.")
    if kind == "mnist":
        return (EmbeddedMNIST(), "embedded") if not root else (MNISTFolder(root), str(root))
    loader = {"cacd": CACD, "fgnet": FGNET, "lfw": LFW}[kind]
    if root:
        return loader(root, progress=progress), str(root)
    if fixture_dir is None:
        raise ValueError(f"{kind}: root is empty, so fixture_dir must name a folder for the generated fixture.")
    folder = Path(fixture_dir)
    # The age spans of the real data sets: CACD 14-62, FG-NET 0-69 (LFW records none).
    ages = (0, 69) if kind == "fgnet" else (14, 62)
    fixture = make_face_fixture(folder / kind, kind, identities=identities, ages=ages,
                                bad_files=True, seed=seed)
    return loader(fixture, index_dir=folder / "index", progress=progress), "fixture"


def summary_table(datasets: dict[str, tuple[object, str]]) -> pd.DataFrame:
    """Summarise each data set in one row: source, images, identities, ages and skipped files."""
    rows = []
    for kind, (dataset, source) in datasets.items():
        samples = dataset.samples
        counts = images_per_identity(samples)["images"]
        ranges = age_ranges(samples)["age_range"]
        rows.append({
            "dataset": kind,
            "source": source,
            "images": len(samples),
            "identities": int(samples["identity"].nunique()),
            "min_images_per_identity": int(counts.min()),
            "median_images_per_identity": float(counts.median()),
            "max_images_per_identity": int(counts.max()),
            "youngest": float(samples["age"].min()),
            "oldest": float(samples["age"].max()),
            "median_age_range": float(ranges.median()),
            "skipped_names": len(getattr(dataset, "bad_names", [])),
            "skipped_images": len(getattr(dataset, "bad_images", [])),
        })
    return pd.DataFrame(rows)
