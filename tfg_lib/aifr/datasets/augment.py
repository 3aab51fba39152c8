"""Augmentation to K: complete identities with fewer than K images by augmented copies.

A P-K batch needs K images of each of its P identities. The thesis completed small identities
with augmented copies; :func:`augment_to_k` does the same. Each added item is a copy of one of
the identity's own images (taken in turn), transformed by a random horizontal flip, a random
square crop resized back, and a brightness and contrast jitter.

The randomness of an added item comes from ``numpy.random.SeedSequence([seed, index])``, so
item ``index`` always gets the same augmentation, whatever the DataLoader worker or the order
of access, and two items never share a stream.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as functional
from PIL import Image
from torch.utils.data import Dataset

from tfg_lib.aifr.datasets.base import DatasetSubset

logger = logging.getLogger(__name__)


def item_generator(seed: int, index: int) -> torch.Generator:
    """Return a torch generator seeded from (seed, index), independent across indices."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def augment_image(
    image: torch.Tensor,
    generator: torch.Generator,
    flip: bool = True,
    crop_scale: tuple[float, float] = (0.8, 1.0),
    brightness: float = 0.2,
    contrast: float = 0.2,
) -> torch.Tensor:
    """Apply a random flip, crop and colour jitter to one image tensor of shape (C, H, W).

    The crop keeps a square-ish window whose area is a fraction ``U(crop_scale)`` of the image
    and resizes it back to (H, W) bilinearly. Brightness multiplies by ``U(1 - b, 1 + b)``;
    contrast scales the deviation from the image mean by ``U(1 - c, 1 + c)``. The jitter acts on
    the tensor after the data set's transform, so on normalised values; nothing is clipped.
    """
    if image.ndim != 3:
        raise ValueError(f"image must have shape (C, H, W); got shape {tuple(image.shape)}.")
    channels, height, width = image.shape

    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand(1, generator=generator))

    result = image
    if flip and float(torch.rand(1, generator=generator)) < 0.5:
        result = result.flip(-1)

    scale = uniform(*crop_scale)
    crop_height = max(1, min(height, int(round(height * scale**0.5))))
    crop_width = max(1, min(width, int(round(width * scale**0.5))))
    top = int(torch.randint(0, height - crop_height + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - crop_width + 1, (1,), generator=generator))
    window = result[:, top : top + crop_height, left : left + crop_width]
    if window.shape[1:] != (height, width):
        window = functional.interpolate(
            window.unsqueeze(0).float(), size=(height, width), mode="bilinear", align_corners=False
        )[0].to(image.dtype)
    result = window

    result = result * uniform(1.0 - brightness, 1.0 + brightness)
    mean = result.mean(dim=(-2, -1), keepdim=True)
    result = mean + (result - mean) * uniform(1.0 - contrast, 1.0 + contrast)
    return result


class AugmentedToK(Dataset):
    """A data set whose identities with fewer than ``K`` items are completed by augmented copies.

    Items ``0 .. len(dataset) - 1`` are the original items, unchanged; the added copies follow.
    ``samples`` gains the columns ``augmented`` (bool) and ``source`` (index of the original
    item copied); ``labels`` and ``ages`` are those of the source items.
    """

    def __init__(
        self,
        dataset: Dataset,
        K: int,
        seed: int = 0,
        flip: bool = True,
        crop_scale: tuple[float, float] = (0.8, 1.0),
        brightness: float = 0.2,
        contrast: float = 0.2,
    ) -> None:
        if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1:
            raise ValueError(f"K must be a positive int (images per identity in a P-K batch); got {K!r}.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int; got {seed!r}.")
        low, high = crop_scale
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(f"crop_scale={crop_scale!r} must satisfy 0 < low <= high <= 1.")
        for name, value in (("brightness", brightness), ("contrast", contrast)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value!r} must lie in [0, 1); use 0 to turn it off.")
        if not hasattr(dataset, "labels"):
            raise TypeError(
                f"dataset {type(dataset).__name__} has no labels attribute; pass one of the "
                "tfg_lib.aifr.datasets data sets or a subset of one."
            )

        self.dataset = dataset
        self.K = int(K)
        self.seed = int(seed)
        self.options = {"flip": bool(flip), "crop_scale": (float(low), float(high)),
                        "brightness": float(brightness), "contrast": float(contrast)}

        labels = np.asarray(dataset.labels, dtype=np.int64)
        added = []
        for identity in np.unique(labels):
            members = np.flatnonzero(labels == identity)
            missing = self.K - members.size
            if missing > 0:
                added.append(members[np.arange(missing) % members.size])
        extra = np.concatenate(added) if added else np.zeros(0, dtype=np.int64)
        self.sources = np.concatenate([np.arange(labels.size, dtype=np.int64), extra.astype(np.int64)])
        self.augmented = np.arange(self.sources.size) >= labels.size
        logger.info("augmentation to K=%d added %d copies to %d items", self.K, extra.size, labels.size)

    @property
    def samples(self) -> pd.DataFrame:
        """The source rows of the parent's table, plus ``augmented`` and ``source`` columns."""
        frame = self.dataset.samples.iloc[self.sources].reset_index(drop=True)
        frame["augmented"] = self.augmented
        frame["source"] = self.sources
        return frame

    @property
    def labels(self) -> np.ndarray:
        """Identity of every item, int64 array of shape (n,)."""
        return np.asarray(self.dataset.labels, dtype=np.int64)[self.sources]

    @property
    def ages(self) -> np.ndarray:
        """Age of every item, float64 array of shape (n,), NaN where unknown."""
        return np.asarray(self.dataset.ages, dtype=np.float64)[self.sources]

    @property
    def num_identities(self) -> int:
        """Number of distinct identities."""
        return int(np.unique(self.labels).size)

    @property
    def transform(self) -> Any:
        """The parent's transform."""
        return self.dataset.transform

    def __len__(self) -> int:
        return int(self.sources.size)

    def load_image(self, index: int) -> Image.Image:
        """Return the source PIL image of item ``index`` (before transform and augmentation)."""
        return self.dataset.load_image(int(self.sources[index]))

    def __getitem__(self, index: int) -> tuple[Any, int, float]:
        if isinstance(index, torch.Tensor):
            index = int(index.item())
        if not -len(self) <= int(index) < len(self):
            raise IndexError(f"index {index} is out of range for a data set of {len(self)} items.")
        index = int(index) % len(self)
        image, identity, age = self.dataset[int(self.sources[index])]
        if self.augmented[index]:
            image = augment_image(image, item_generator(self.seed, index), **self.options)
        return image, identity, age

    def subset(self, indices: Sequence[int] | np.ndarray) -> DatasetSubset:
        """Return a view on the items ``indices``."""
        return DatasetSubset(self, indices)

    def __repr__(self) -> str:
        return f"AugmentedToK(K={self.K}, {len(self)} items from {self.dataset!r})"


def augment_to_k(dataset: Dataset, K: int, seed: int = 0, **options: Any) -> AugmentedToK:
    """Complete every identity of ``dataset`` with fewer than ``K`` items up to ``K`` items.

    Parameters
    ----------
    dataset : Dataset
        A data set of this package or a subset of one (it needs ``labels`` and ``samples``).
    K : int
        Target number of items per identity, the K of the P-K batch.
    seed : int
        Seed of the augmentations; item ``i`` uses ``SeedSequence([seed, i])``.
    **options
        ``flip``, ``crop_scale``, ``brightness``, ``contrast`` of :func:`augment_image`.

    Returns
    -------
    AugmentedToK
        Identities with at least ``K`` items are unchanged; the others have exactly ``K``.
    """
    return AugmentedToK(dataset, K, seed=seed, **options)
