"""Exploration figures of a data set: images per identity, ages, age ranges, one identity's photos.

Each ``plot_*`` function returns ``(figure, tidy DataFrame of the numbers drawn)``, ready for
:func:`tfg_lib.figures.save_figure`. They read only the sample table, except
:func:`plot_identity_across_ages`, which decodes the images it shows.
"""

from __future__ import annotations

import math

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
    """Histogram of the number of images per identity."""
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
    """Histogram of the ages of all images, one bin per year; tidy data: age, images."""
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
    """One horizontal segment per identity from its youngest to its oldest photo, sorted."""
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
        Identity to show; by default the one with the widest age range (or the most images
        when ages are unknown), ties broken by the smallest id.
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
