"""Identity-disjoint splits: seeded train/validation/test parts and k-fold over identities.

Every identity lands in exactly one part, so a test identity is never seen in training: the
retrieval setting of age-invariant face recognition. The thesis' cross-validation split by
image instead, which lets one person's photos fall on both sides; these splits do not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FRACTION_TOLERANCE = 1e-9


def _check_labels(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"labels must be a 1-D array of identity ids; got shape {array.shape}.")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"labels must hold integer identity ids; got dtype {array.dtype}. Pass dataset.labels."
        )
    return array.astype(np.int64)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}.")
    return int(seed)


def _shuffled_identities(labels: np.ndarray, seed: int) -> np.ndarray:
    identities = np.unique(labels)
    return np.random.default_rng(seed).permutation(identities)


def _indices_of(labels: np.ndarray, identities: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isin(labels, identities)).astype(np.int64)


def split_by_identity(
    labels: Sequence[int] | np.ndarray,
    fractions: Sequence[float] = (0.8, 0.2),
    seed: int = 0,
) -> list[np.ndarray]:
    """Split item indices into identity-disjoint parts, such as train/test or train/val/test.

    The distinct identities are shuffled with ``numpy.random.default_rng(seed)`` and cut into
    consecutive groups of ``round(cumsum(fractions) * n_identities)`` boundaries, each group
    holding at least one identity. The fractions are fractions of identities, not of images.

    Parameters
    ----------
    labels : array of int, shape (n,)
        Identity id of each item, for example ``dataset.labels``.
    fractions : sequence of float
        Positive fractions summing to 1, one per part: ``(0.8, 0.2)`` or ``(0.7, 0.1, 0.2)``.
    seed : int
        Seed of the identity shuffle; the same seed gives the same parts.

    Returns
    -------
    list of ndarray of int64
        One ascending index array per part; together they cover ``range(n)`` once.

    Raises
    ------
    ValueError
        If a fraction is not positive, they do not sum to 1, or there are fewer identities
        than parts.
    """
    labels = _check_labels(labels)
    seed = _check_seed(seed)
    fractions = np.asarray(list(fractions), dtype=np.float64)
    if fractions.ndim != 1 or fractions.size < 1:
        raise ValueError(f"fractions must be a non-empty sequence of floats; got {fractions!r}.")
    if np.any(~np.isfinite(fractions)) or np.any(fractions <= 0):
        raise ValueError(f"fractions must all be positive; got {fractions.tolist()}.")
    if abs(fractions.sum() - 1.0) > FRACTION_TOLERANCE:
        raise ValueError(
            f"fractions must sum to 1; got {fractions.tolist()} summing to {fractions.sum():.6g}."
        )

    identities = _shuffled_identities(labels, seed)
    parts = fractions.size
    if identities.size < parts:
        raise ValueError(
            f"cannot split {identities.size} identities into {parts} identity-disjoint parts; "
            "use fewer fractions or a data set with more identities."
        )

    # Boundaries from the cumulative fractions, then nudged so every part keeps one identity.
    boundaries = np.rint(np.cumsum(fractions)[:-1] * identities.size).astype(np.int64)
    for part in range(parts - 1):
        lowest = (boundaries[part - 1] if part else 0) + 1
        highest = identities.size - (parts - 1 - part)
        boundaries[part] = min(max(boundaries[part], lowest), highest)
    groups = np.split(identities, boundaries)
    return [_indices_of(labels, group) for group in groups]


def identity_kfold(
    labels: Sequence[int] | np.ndarray, k: int, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Make ``k`` cross-validation folds over identities.

    The distinct identities are shuffled with ``numpy.random.default_rng(seed)`` and dealt into
    ``k`` groups whose sizes differ by at most one (``numpy.array_split``). Fold ``i`` validates
    on the items of group ``i`` and trains on all other items, so every item is validated on
    exactly once and no identity is on both sides of a fold.

    Parameters
    ----------
    labels : array of int, shape (n,)
        Identity id of each item.
    k : int
        Number of folds, from 2 to the number of identities.
    seed : int
        Seed of the identity shuffle.

    Returns
    -------
    list of (train_idx, val_idx)
        ``k`` pairs of ascending int64 index arrays.
    """
    labels = _check_labels(labels)
    seed = _check_seed(seed)
    identities = _shuffled_identities(labels, seed)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an int of at least 2; got {k!r}.")
    if k > identities.size:
        raise ValueError(
            f"k={k} folds need at least {k} identities, but labels hold {identities.size}; "
            f"use k <= {identities.size}."
        )
    folds = []
    for group in np.array_split(identities, int(k)):
        validation = np.isin(labels, group)
        folds.append((np.flatnonzero(~validation).astype(np.int64), np.flatnonzero(validation).astype(np.int64)))
    return folds
