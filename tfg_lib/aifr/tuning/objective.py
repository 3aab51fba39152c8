"""The objective of the search: mean validation Rank@1 over identity-disjoint folds.

Every fold trains a fresh network on the training identities of the fold and measures Rank@1 on
the fold's validation identities, which the network never saw. After every epoch the fold's
validation Rank@1 is reported to Optuna, so a pruner can stop a hopeless trial early. Training
failures (a NaN loss, running out of memory, a configuration the data cannot satisfy) raise
:class:`TrialFailedError`, which the worker records as a failed trial before going on.

The thesis' cross-validation split images at random, so one person's photos sat on both sides of
a fold; here the folds split identities.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna

from tfg_lib.aifr.tuning.space import SearchSpace

logger = logging.getLogger(__name__)

OBJECTIVE_METRIC = "val_rank_1"
FAIL_REASON_ATTR = "fail_reason"
FOLD_SCORES_ATTR = "fold_rank_1"

Fold = tuple[np.ndarray, np.ndarray]
TrainFunction = Callable[..., Any]


class TrialFailedError(RuntimeError):
    """A trial could not produce a score; ``reason`` is the cause, in one line."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def failure_reason(error: BaseException) -> str | None:
    """Describe ``error`` if it is a training failure that should not stop the study.

    Training failures are a non-finite loss, ``MemoryError``, torch's out-of-memory error and a
    ``RuntimeError`` whose message reports that memory ran out. Any other error returns None.
    """
    import torch

    from tfg_lib.aifr.training import NonFiniteLossError

    if isinstance(error, TrialFailedError):
        return error.reason
    if isinstance(error, NonFiniteLossError):
        return f"non-finite loss: {error}"
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return f"out of memory: {type(error).__name__}: {error}"
    message = str(error).lower()
    if isinstance(error, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message):
        return f"out of memory: {error}"
    return None


def identity_folds(labels: Sequence[int] | np.ndarray, k: int, seed: int = 0, holdout_fraction: float = 0.2) -> list[Fold]:
    """Make ``k`` identity-disjoint (train, validation) folds of ``labels``.

    ``k >= 2`` deals the identities into ``k`` groups (:func:`identity_kfold`) and validates on each
    group once. ``k = 1`` is a single hold-out split that validates on ``holdout_fraction`` of the
    identities (:func:`split_by_identity`).

    Returns
    -------
    list of (train_idx, val_idx)
        Ascending int64 index arrays into ``labels``.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k={k!r} is invalid; use an int >= 1 (1 means a single hold-out split).")
    from tfg_lib.aifr.datasets import identity_kfold, split_by_identity

    if k >= 2:
        return identity_kfold(labels, int(k), seed=seed)
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(
            f"holdout_fraction={holdout_fraction!r} is invalid; use a fraction of the identities "
            "strictly between 0 and 1, such as 0.2."
        )
    train, validation = split_by_identity(labels, (1.0 - holdout_fraction, holdout_fraction), seed=seed)
    return [(train, validation)]


def check_space_against_folds(space: SearchSpace, labels: np.ndarray, folds: Sequence[Fold]) -> None:
    """Raise ``ValueError`` if the space can draw a P larger than a fold's training identities."""
    smallest = min(int(np.unique(np.asarray(labels)[train]).size) for train, _ in folds)
    if "P" in space.names:
        highest = space["P"].high
    else:
        highest = space.fixed.get("P")
    if highest is not None and highest > smallest:
        raise ValueError(
            f"the search space allows P up to {highest}, but the smallest fold trains on only "
            f"{smallest} identities, and a P-K batch needs P distinct identities; set the P range "
            f"to at most {smallest} in the search space file, or use fewer folds."
        )


class CrossValidationObjective:
    """Optuna objective: train on each fold's training identities and average validation Rank@1.

    Parameters
    ----------
    dataset
        A Part B data set with ``labels`` and ``subset(indices)``.
    space : SearchSpace
        Turns each trial into ``TrainConfig`` keyword arguments.
    folds : sequence of (train_idx, val_idx)
        Index arrays into ``dataset``, identity-disjoint (see :func:`identity_folds`).
    train_fn : callable, optional
        ``train_fn(config, train_set, val_set, device=..., progress=..., epoch_callback=...)``,
        by default :func:`tfg_lib.aifr.training.train_run`. Tests pass a stand-in.
    device : str, optional
        Passed to ``train_fn``; None picks CUDA when present.

    Notes
    -----
    Fold ``f`` (0-based) reports its validation Rank@1 after epoch ``e`` (1-based) at step
    ``f * epochs + e - 1``, so the median pruner compares the same fold and epoch across trials.
    """

    def __init__(
        self,
        dataset: Any,
        space: SearchSpace,
        folds: Sequence[Fold],
        train_fn: TrainFunction | None = None,
        device: str | None = None,
    ) -> None:
        if not hasattr(dataset, "labels") or not hasattr(dataset, "subset"):
            raise TypeError(
                f"dataset must be a Part B data set with labels and subset(indices); got {type(dataset).__name__}."
            )
        if not folds:
            raise ValueError("folds is empty; pass the output of identity_folds(dataset.labels, k).")
        labels = np.asarray(dataset.labels)
        for index, (train, validation) in enumerate(folds):
            shared = np.intersect1d(labels[train], labels[validation])
            if shared.size:
                raise ValueError(
                    f"fold {index} has identities {shared[:5].tolist()} on both sides; build the "
                    "folds with identity_folds so that no identity is in training and validation."
                )
        check_space_against_folds(space, labels, folds)
        self.dataset = dataset
        self.space = space
        self.folds = [(np.asarray(train), np.asarray(validation)) for train, validation in folds]
        self.train_fn = train_fn
        self.device = device

    def __call__(self, trial: optuna.Trial) -> float:
        from tfg_lib.aifr.training import TrainConfig, check_config_against_labels

        values = self.space.suggest(trial)
        try:
            config = TrainConfig.from_dict(values).validate()
            for train, _ in self.folds:
                check_config_against_labels(config, np.asarray(self.dataset.labels)[train])
        except ValueError as error:
            raise TrialFailedError(f"invalid configuration: {error}") from error

        train_fn = self.train_fn
        if train_fn is None:
            from tfg_lib.aifr.training import train_run as train_fn

        scores = []
        for fold_index, (train, validation) in enumerate(self.folds):
            score = self._run_fold(trial, config, fold_index, train, validation, train_fn)
            scores.append(score)
            trial.set_user_attr(FOLD_SCORES_ATTR, scores)
        return float(np.mean(scores))

    def _run_fold(self, trial: optuna.Trial, config: Any, fold_index: int, train: np.ndarray, validation: np.ndarray, train_fn: TrainFunction) -> float:
        scores: list[float] = []

        def report(epoch: int, metrics: dict[str, float]) -> None:
            score = float(metrics.get(OBJECTIVE_METRIC, math.nan))
            scores.append(score)
            if not math.isfinite(score):
                raise TrialFailedError(f"{OBJECTIVE_METRIC} is {score} after epoch {epoch} of fold {fold_index}")
            trial.report(score, step=fold_index * config.epochs + epoch - 1)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch} of fold {fold_index} at {OBJECTIVE_METRIC}={score:.4f}")

        logger.info("trial %d, fold %d: %d training and %d validation images", trial.number, fold_index, train.size, validation.size)
        train_fn(
            config,
            self.dataset.subset(train),
            self.dataset.subset(validation),
            device=self.device,
            progress=False,
            epoch_callback=report,
        )
        if not scores:
            raise TrialFailedError(f"the trainer reported no epoch for fold {fold_index}")
        return scores[-1]
