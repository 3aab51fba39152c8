"""The dataset interface shared by every loader: a sample table, identities, ages and subsets.

Every data set of Part B is a torch ``Dataset`` whose items are ``(image, identity, age)``.
``image`` is a float tensor of shape (C, H, W) after the data set's transform, ``identity`` an
``int`` and ``age`` a ``float``, NaN when the data set records no age. Each one also exposes

- ``samples``: a pandas DataFrame with the columns ``path``, ``name``, ``identity``, ``age``,
  one row per item and in item order, built without decoding any image;
- ``labels``: the ``identity`` column as an int64 numpy array;
- ``ages``: the ``age`` column as a float64 numpy array;
- ``subset(indices)``: a view on some items that keeps all of the above.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset

logger = logging.getLogger(__name__)

SAMPLE_COLUMNS = ("path", "name", "identity", "age")

Transform = Callable[[Image.Image], Any]


def identities_from_names(names: Sequence[str]) -> np.ndarray:
    """Number identity names 0, 1, 2, ... in sorted order of the names.

    Sorting makes the ids independent of the order in which a file system lists files.
    """
    names = np.asarray(list(names), dtype=object)
    if names.size == 0:
        return np.zeros(0, dtype=np.int64)
    unique = sorted(set(names.tolist()))
    lookup = {name: index for index, name in enumerate(unique)}
    return np.fromiter((lookup[name] for name in names), dtype=np.int64, count=names.size)


def sample_sort_key(path: str, name: str, age: float) -> tuple[str, bool, float, str]:
    """Return the key that orders samples by name, then age (unknown last), then path."""
    unknown = math.isnan(age)
    return (name, unknown, 0.0 if unknown else age, path)


def make_samples(
    paths: Sequence[str],
    names: Sequence[str],
    ages: Sequence[float] | None = None,
    presorted: bool = False,
) -> pd.DataFrame:
    """Build a sample table sorted by (name, age, path), with identities in sorted name order.

    With ``presorted=True`` the rows are taken to be in :func:`sample_sort_key` order already,
    which skips the sort of a large cached scan.
    """
    ages = [math.nan] * len(paths) if ages is None else list(ages)
    if not len(paths) == len(names) == len(ages):
        raise ValueError(
            f"paths, names and ages must have equal lengths; got {len(paths)}, {len(names)} "
            f"and {len(ages)}."
        )
    frame = pd.DataFrame(
        {
            "path": pd.Series(list(paths), dtype=object),
            "name": pd.Series(list(names), dtype=object),
            "age": pd.Series(ages, dtype=np.float64),
        }
    )
    if not presorted:
        frame = frame.sort_values(["name", "age", "path"], kind="stable", na_position="last")
        frame = frame.reset_index(drop=True)
    name_array = frame["name"].to_numpy(dtype=object)
    if presorted and name_array.size:
        # Sorted names: the id grows by one wherever the name changes.
        changes = name_array[1:] != name_array[:-1]
        identities = np.concatenate([[0], np.cumsum(changes)]).astype(np.int64)
    else:
        identities = identities_from_names(name_array)
    frame.insert(2, "identity", identities)
    return frame


class FaceDatasetBase(Dataset):
    """Base class of the Part B data sets: items ``(image, identity, age)`` and a sample table.

    Subclasses fill ``self._samples`` (columns ``path, name, identity, age``) and implement
    :meth:`load_image`, which returns the PIL image of one row; the base applies ``transform``.
    """

    dataset_name = "dataset"

    def __init__(self, transform: Transform | None = None) -> None:
        if transform is not None and not callable(transform):
            raise TypeError(
                f"transform={transform!r} is not callable; pass a function or a torchvision "
                "transform that takes a PIL image, or None for the data set's default."
            )
        self.transform = transform if transform is not None else self.default_transform()
        self._samples = pd.DataFrame({column: [] for column in SAMPLE_COLUMNS})

    def default_transform(self) -> Transform:
        """Return the transform used when none is given."""
        from tfg_lib.aifr.datasets.transforms import to_tensor

        return to_tensor

    # The sample table and the arrays derived from it.

    @property
    def samples(self) -> pd.DataFrame:
        """Table of items: path (str, "" for in-memory data), name, identity (int), age (float)."""
        return self._samples

    @property
    def labels(self) -> np.ndarray:
        """Identity of every item, int64 array of shape (n,)."""
        return self._samples["identity"].to_numpy(dtype=np.int64)

    @property
    def ages(self) -> np.ndarray:
        """Age in years of every item, float64 array of shape (n,), NaN where unknown."""
        return self._samples["age"].to_numpy(dtype=np.float64)

    @property
    def num_identities(self) -> int:
        """Number of distinct identities."""
        return int(self._samples["identity"].nunique())

    def __len__(self) -> int:
        return len(self._samples)

    def load_image(self, index: int) -> Image.Image:
        """Return the decoded image of item ``index`` (before the transform)."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[Any, int, float]:
        index = _check_index(index, len(self))
        row = self._samples.iloc[index]
        image = self.transform(self.load_image(index))
        return image, int(row["identity"]), float(row["age"])

    def subset(self, indices: Sequence[int] | np.ndarray) -> DatasetSubset:
        """Return a view on the items ``indices`` that keeps ``samples``, ``labels`` and ``ages``."""
        return DatasetSubset(self, indices)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self)} images, {self.num_identities} identities)"
        )


class DatasetSubset(Dataset):
    """Items ``indices`` of a data set, keeping its sample table, labels and ages.

    Identity ids stay those of the parent data set, so ids of a subset need not be contiguous.
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray) -> None:
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
            raise TypeError(
                f"indices must be a 1-D sequence of integers; got an array of shape "
                f"{indices.shape} and dtype {indices.dtype}."
            )
        indices = indices.astype(np.int64)
        size = len(dataset)
        if indices.size and (indices.min() < -size or indices.max() >= size):
            raise IndexError(
                f"indices must lie in [0, {size}) for a data set of {size} items; got values "
                f"from {indices.min()} to {indices.max()}."
            )
        self.dataset = dataset
        self.indices = np.where(indices < 0, indices + size, indices)

    @property
    def samples(self) -> pd.DataFrame:
        """Rows ``indices`` of the parent's sample table, re-indexed from 0."""
        return self.dataset.samples.iloc[self.indices].reset_index(drop=True)

    @property
    def labels(self) -> np.ndarray:
        """Identity of every item, int64 array of shape (n,)."""
        return np.asarray(self.dataset.labels)[self.indices]

    @property
    def ages(self) -> np.ndarray:
        """Age of every item, float64 array of shape (n,), NaN where unknown."""
        return np.asarray(self.dataset.ages)[self.indices]

    @property
    def num_identities(self) -> int:
        """Number of distinct identities in the subset."""
        return int(np.unique(self.labels).size)

    @property
    def transform(self) -> Transform:
        """The parent's transform."""
        return self.dataset.transform

    def load_image(self, index: int) -> Image.Image:
        """Return the decoded image of item ``index`` of the subset."""
        index = _check_index(index, len(self))
        return self.dataset.load_image(int(self.indices[index]))

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, index: int) -> tuple[Any, int, float]:
        index = _check_index(index, len(self))
        return self.dataset[int(self.indices[index])]

    def subset(self, indices: Sequence[int] | np.ndarray) -> DatasetSubset:
        """Return a view on items ``indices`` of this subset."""
        indices = np.asarray(indices, dtype=np.int64)
        return DatasetSubset(self.dataset, self.indices[indices])

    def __repr__(self) -> str:
        return f"DatasetSubset({len(self)} of {self.dataset!r})"


def _check_index(index: int, size: int) -> int:
    if isinstance(index, torch.Tensor):
        index = int(index.item())
    if not isinstance(index, (int, np.integer)):
        raise TypeError(f"index must be an integer; got {type(index).__name__} {index!r}.")
    index = int(index)
    if not -size <= index < size:
        raise IndexError(f"index {index} is out of range for a data set of {size} items.")
    return index + size if index < 0 else index


def missing_data_error(
    dataset_name: str, path: object, layout: str, download: str, problem: str = "was not found"
) -> FileNotFoundError:
    """Build the error raised when a data set's root is missing, empty or in another layout."""
    return FileNotFoundError(
        f"{dataset_name} data {problem} at {str(path)!r}. Expected layout: {layout} "
        f"Download: {download} Then pass the folder as root."
    )
