"""Data preparation around a search, and the final step: retrain the best setting, test once.

The held-out identities are split off before the search starts and play no part in it. After
the search, the best configuration is trained on all training identities and evaluated a single
time on the held-out identities, so the test score is not selected on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfg_lib.aifr.tuning.objective import TrainFunction, identity_folds
from tfg_lib.aifr.tuning.space import SearchSpace

logger = logging.getLogger(__name__)


def subsample_per_identity(labels: Sequence[int] | np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Return the ascending indices of at most ``count`` randomly chosen items of every identity."""
    labels = np.asarray(labels)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count={count!r} is invalid; pass the number of images to keep per identity, at least 1.")
    rng = np.random.default_rng(seed)
    chosen = []
    for identity in np.unique(labels):
        members = np.flatnonzero(labels == identity)
        if members.size > count:
            members = rng.choice(members, size=count, replace=False)
        chosen.append(members)
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


@dataclass
class SearchSplit:
    """Identity-disjoint parts of a data set for a search and its final test.

    Attributes
    ----------
    train_indices, test_indices : ndarray of int64
        Indices into the full data set; the test identities take no part in the search.
    train_set
        ``dataset.subset(train_indices)``, the data the search cross-validates on.
    folds : list of (train_idx, val_idx)
        Identity folds of ``train_set``, indices into ``train_set``.
    """

    train_indices: np.ndarray
    test_indices: np.ndarray
    train_set: Any
    folds: list[tuple[np.ndarray, np.ndarray]]


def split_for_search(dataset: Any, folds: int, test_fraction: float = 0.2, seed: int = 0) -> SearchSplit:
    """Hold out ``test_fraction`` of the identities, then cut the rest into ``folds`` identity folds.

    Both cuts use ``seed``, so every worker of a study that passes the same arguments gets the
    same parts.
    """
    from tfg_lib.aifr.datasets import split_by_identity

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            f"test_fraction={test_fraction!r} is invalid; use a fraction of the identities strictly "
            "between 0 and 1, such as 0.2."
        )
    train_indices, test_indices = split_by_identity(dataset.labels, (1.0 - test_fraction, test_fraction), seed=seed)
    train_set = dataset.subset(train_indices)
    return SearchSplit(
        train_indices=train_indices,
        test_indices=test_indices,
        train_set=train_set,
        folds=identity_folds(train_set.labels, folds, seed=seed),
    )


@dataclass
class HoldoutResult:
    """Outcome of :func:`retrain_and_test`.

    Attributes
    ----------
    config
        The ``TrainConfig`` that was trained.
    run
        The trainer's ``RunResult`` on all training identities.
    test_metrics : dict
        Metrics of the single evaluation on the held-out identities (``rank_1``, ``rank_5``,
        ``silhouette`` and the rest of ``tfg_lib.aifr.training.METRIC_NAMES``).
    """

    config: Any
    run: Any
    test_metrics: dict[str, float]


def retrain_and_test(
    dataset: Any,
    space: SearchSpace,
    params: Mapping[str, Any],
    train_indices: np.ndarray,
    test_indices: np.ndarray,
    train_fn: TrainFunction | None = None,
    device: str | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> HoldoutResult:
    """Train ``params`` on ``train_indices`` and evaluate the network once on ``test_indices``.

    Parameters
    ----------
    dataset
        Part B data set with ``labels`` and ``subset(indices)``.
    space : SearchSpace
        The space the parameters were drawn from; it adds the fixed values.
    params : mapping
        A trial's parameters, for example ``best_trial(study).params``.
    train_indices, test_indices : array of int
        Identity-disjoint index arrays into ``dataset``.
    train_fn : callable, optional
        Default :func:`tfg_lib.aifr.training.train_run`.
    device, run_dir, progress
        Passed to ``train_fn``; ``run_dir`` keeps the checkpoint of the retrained network.
    """
    from tfg_lib.aifr import training

    labels = np.asarray(dataset.labels)
    shared = np.intersect1d(labels[np.asarray(train_indices)], labels[np.asarray(test_indices)])
    if shared.size:
        raise ValueError(
            f"identities {shared[:5].tolist()} are both in training and test; split the data with "
            "tfg_lib.aifr.datasets.split_by_identity."
        )
    config = training.TrainConfig.from_dict(space.config_values(params)).validate()
    train_fn = train_fn or training.train_run
    train_set = dataset.subset(np.asarray(train_indices))
    test_set = dataset.subset(np.asarray(test_indices))

    logger.info("retraining on %d images, then testing on %d held-out images", len(train_set), len(test_set))
    run = train_fn(config, train_set, None, device=device, run_dir=run_dir, progress=progress)
    device_used = next(run.model.parameters()).device
    loss_fn = training.build_loss(config).to(device_used)
    test_metrics = training.evaluate(
        run.model,
        test_set,
        loss_fn,
        device_used,
        eval_batches=_test_batches(config, np.asarray(test_set.labels)),
        batch_size=config.eval_batch_size,
    )
    return HoldoutResult(config=config, run=run, test_metrics=test_metrics)


def _test_batches(config: Any, labels: np.ndarray) -> list[list[int]]:
    """Draw ``config.eval_batches`` fixed P-K batches of the test set for the local Rank@k and loss."""
    from tfg_lib.aifr.sampling import PKSampler

    _, counts = np.unique(labels, return_counts=True)
    P = min(config.P, int(np.sum(counts >= 2)))
    K = min(config.K, int(counts.max()))
    if config.eval_batches == 0 or P < 2 or K < 2:
        return []
    sampler = PKSampler(labels, P=P, K=K, small_identities="repeat", batches_per_epoch=config.eval_batches, seed=config.seed)
    sampler.set_epoch(0)
    return [list(map(int, batch)) for batch in sampler]
