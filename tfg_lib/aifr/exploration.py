"""Overview figures of a labelled image set: images per class, examples, mean image per class.

Each ``plot_*`` function returns the figure and the tidy table of the numbers it draws, ready
for :func:`tfg_lib.figures.save_figure`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from ..figures import tr


def _check_images(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, height, width), got {images.shape}.")
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"labels must have shape ({images.shape[0]},) to match the images, got {labels.shape}."
        )
    if labels.size == 0:
        raise ValueError("the image set is empty; pass at least one labelled image.")
    return images, labels


def class_counts(labels: np.ndarray) -> pd.DataFrame:
    """Count the images of each class; columns ``class`` and ``images``, sorted by class."""
    classes, counts = np.unique(np.asarray(labels), return_counts=True)
    return pd.DataFrame({"class": classes, "images": counts})


def mean_images(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average the images of each class.

    Returns
    -------
    classes : ndarray, shape (C,)
    means : ndarray of float64, shape (C, height, width)
    """
    images, labels = _check_images(images, labels)
    classes, inverse = np.unique(labels, return_inverse=True)
    sums = np.zeros((classes.size, *images.shape[1:]), dtype=np.float64)
    np.add.at(sums, inverse, images.astype(np.float64))
    counts = np.bincount(inverse, minlength=classes.size).astype(np.float64)
    return classes, sums / counts[:, None, None]


def plot_class_counts(labels: np.ndarray, language: str = "en") -> tuple[Figure, pd.DataFrame]:
    """Bar chart of images per class."""
    table = class_counts(labels)
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.bar(table["class"].astype(str), table["images"])
    ax.set_xlabel(tr(language, "Class", "Clase"))
    ax.set_ylabel(tr(language, "Images", "Imágenes"))
    ax.set_title(tr(language, "Images per class", "Imágenes por clase"))
    return fig, table


def plot_example_grid(
    images: np.ndarray, labels: np.ndarray, per_class: int = 8, seed: int = 0, language: str = "en"
) -> tuple[Figure, pd.DataFrame]:
    """Grid of randomly chosen examples, one row per class.

    Classes with fewer than ``per_class`` images show all of them. The table lists the index of
    each image shown, so the same grid can be found again in the data.
    """
    images, labels = _check_images(images, labels)
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}.")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    fig, axes = plt.subplots(classes.size, per_class, figsize=(per_class * 0.8, classes.size * 0.8),
                             squeeze=False)
    rows = []
    for row, label in enumerate(classes):
        members = np.flatnonzero(labels == label)
        chosen = rng.choice(members, size=min(per_class, members.size), replace=False)
        for column, ax in enumerate(axes[row]):
            ax.set_axis_off()
            if column < chosen.size:
                ax.imshow(images[chosen[column]], cmap="gray_r")
                rows.append({"class": label, "column": column, "index": int(chosen[column])})
        axes[row, 0].set_title(str(label), loc="left", fontsize=8, pad=2)
    fig.suptitle(tr(language, "Examples per class", "Ejemplos por clase"))
    fig.subplots_adjust(top=0.9, hspace=0.4)
    return fig, pd.DataFrame(rows)


def plot_mean_images(images: np.ndarray, labels: np.ndarray, language: str = "en") -> tuple[Figure, pd.DataFrame]:
    """Mean image of each class, side by side; the table contains every pixel's mean."""
    classes, means = mean_images(images, labels)
    fig, axes = plt.subplots(1, classes.size, figsize=(classes.size * 1.0, 1.4), squeeze=False)
    for ax, label, mean in zip(axes[0], classes, means):
        ax.imshow(mean, cmap="gray_r")
        ax.set_title(str(label), fontsize=9)
        ax.set_axis_off()
    fig.suptitle(tr(language, "Mean image per class", "Imagen media por clase"))
    height, width = means.shape[1:]
    table = pd.DataFrame({
        "class": np.repeat(classes, height * width),
        "row": np.tile(np.repeat(np.arange(height), width), classes.size),
        "column": np.tile(np.arange(width), classes.size * height),
        "mean_intensity": means.reshape(-1),
    })
    return fig, table
