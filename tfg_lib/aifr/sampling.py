"""P-K batch sampling: P distinct identities per batch, K images of each.

Batch Hard and Batch All need every anchor to have positives and negatives inside its batch,
which a uniform sampler does not guarantee (Hermans, Beyer and Leibe 2017).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

__all__ = ["PKSampler"]

logger = logging.getLogger(__name__)

_SMALL_IDENTITY_OPTIONS = ("skip", "repeat")


class _ShuffledCycle:
    """Endless stream of the items of ``values`` in random order, reshuffled after each pass."""

    def __init__(self, values: np.ndarray, rng: np.random.Generator) -> None:
        self._values = values
        self._rng = rng
        self._order = rng.permutation(values)
        self._position = 0

    def take(self, count: int) -> list:
        """Take ``count`` distinct items (``count <= len(values)``), continuing the current pass."""
        chosen = list(self._order[self._position : self._position + count])
        self._position += len(chosen)
        if len(chosen) < count:
            # Start a new pass without repeating an item already chosen in this call. Those
            # items go to the end of the new pass, so each item still appears once per pass.
            new_order = self._rng.permutation(self._values)
            taken = set(chosen)
            fresh = [v for v in new_order if v not in taken]
            missing = count - len(chosen)
            chosen.extend(fresh[:missing])
            self._order = np.asarray(fresh + [v for v in new_order if v in taken], dtype=self._values.dtype)
            self._position = missing
        return chosen


class PKSampler(Sampler[list[int]]):
    """Batch sampler yielding P*K indices: P distinct identities, K images of each.

    Use it as ``DataLoader(dataset, batch_sampler=PKSampler(dataset.labels, P, K))`` and call
    ``sampler.set_epoch(epoch)`` before each epoch: without it every pass repeats epoch 0's
    batches, as with torch's ``DistributedSampler``.

    Identities are visited in shuffled passes, so within an epoch every identity is drawn about
    equally often and never twice in one batch. The images of each identity are also drawn in
    shuffled passes, so no image repeats inside a batch unless the identity has fewer than K.

    Parameters
    ----------
    labels : sequence of hashable, length N
        Identity of each sample of the data set.
    P : int
        Identities per batch, ``P >= 1``. Batch Hard and Batch All need ``P >= 2`` for negatives.
    K : int
        Images per identity, ``K >= 1``. They need ``K >= 2`` for positives.
    small_identities : {"skip", "repeat"}
        Identities with fewer than K images are left out (``"skip"``) or filled up to K by
        repeating their images (``"repeat"``) for augmentation downstream to vary them.
    batches_per_epoch : int, optional
        Number of batches per epoch. Default: ``max(1, n // (P * K))`` with n the number of
        samples of the identities in use, so an epoch has about as many samples as the data set.
    seed : int
        Seed of the draw. The batches of epoch ``e`` depend only on ``(seed, e)``.

    Raises
    ------
    ValueError
        If fewer than P identities can be drawn, naming P and the number available.
    """

    def __init__(
        self,
        labels: Sequence | np.ndarray,
        P: int,
        K: int,
        small_identities: str = "skip",
        batches_per_epoch: int | None = None,
        seed: int = 0,
    ) -> None:
        for name, value in (("P", P), ("K", K)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int; received {value!r}")
        if small_identities not in _SMALL_IDENTITY_OPTIONS:
            raise ValueError(
                f"small_identities must be one of {_SMALL_IDENTITY_OPTIONS}; received {small_identities!r}"
            )
        if batches_per_epoch is not None and (
            not isinstance(batches_per_epoch, (int, np.integer))
            or isinstance(batches_per_epoch, bool)
            or batches_per_epoch < 1
        ):
            raise ValueError(f"batches_per_epoch must be None or a positive int; received {batches_per_epoch!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative int; received {seed!r}")

        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise ValueError(f"labels must be one-dimensional; received shape {labels.shape}")
        identities, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        usable = counts >= K if small_identities == "skip" else counts >= 1
        if not usable.any():
            raise ValueError(
                f"P={P} identities per batch requested, but 0 identities are available: none "
                f"has K={K} images (the largest has {int(counts.max())}). Lower K or use "
                "small_identities='repeat'."
            )
        if int(usable.sum()) < P:
            raise ValueError(
                f"P={P} identities per batch requested, but only {int(usable.sum())} identities "
                f"are available (of {len(identities)}, with small_identities={small_identities!r} "
                f"and K={K}). Lower P to at most {int(usable.sum())}"
                + (", lower K, or use small_identities='repeat'." if small_identities == "skip" else ".")
            )

        order = np.argsort(inverse, kind="stable")
        groups = np.split(order, np.cumsum(counts)[:-1])
        self._groups = [groups[i].astype(np.int64) for i in np.flatnonzero(usable)]
        self.identities = identities[usable]
        self.P = int(P)
        self.K = int(K)
        self.small_identities = small_identities
        self.seed = int(seed)
        self.epoch = 0

        num_used = int(sum(len(g) for g in self._groups))
        if batches_per_epoch is None:
            batches_per_epoch = max(1, num_used // (self.P * self.K))
        self.batches_per_epoch = int(batches_per_epoch)

        skipped = int((~usable).sum())
        if skipped:
            logger.info("PKSampler skips %d identities with fewer than K=%d images", skipped, K)

    @property
    def batch_size(self) -> int:
        """Number of indices per batch, P * K."""
        return self.P * self.K

    def set_epoch(self, epoch: int) -> None:
        """Select the draw of epoch ``epoch``; without a call every iteration repeats epoch 0."""
        if not isinstance(epoch, (int, np.integer)) or isinstance(epoch, bool) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int; received {epoch!r}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        identity_cycle = _ShuffledCycle(np.arange(len(self._groups)), rng)
        image_cycles: dict[int, _ShuffledCycle] = {}

        for _ in range(self.batches_per_epoch):
            batch: list[int] = []
            for identity in identity_cycle.take(self.P):
                group = self._groups[identity]
                if identity not in image_cycles:
                    image_cycles[identity] = _ShuffledCycle(group, rng)
                if len(group) >= self.K:
                    batch.extend(int(i) for i in image_cycles[identity].take(self.K))
                else:
                    extra = rng.choice(group, size=self.K - len(group), replace=True)
                    batch.extend(int(i) for i in group)
                    batch.extend(int(i) for i in extra)
            yield batch
