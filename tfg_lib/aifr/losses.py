"""Triplet losses over a batch of embeddings: explicit triplets, Batch Hard and Batch All.

For a triplet (anchor a, positive p, negative n) with Euclidean distances ``d_ap`` and ``d_an``
the term is ``h(d_ap - d_an + alpha)``, alpha the margin (Schroff et al. 2015). The function h is
the hinge ``max(., 0)`` or, with ``soft_margin=True``, the softplus ``ln(1 + exp(.))`` as in
pytorch-metric-learning's ``smooth_loss``. Set ``margin=0`` for the soft margin of Hermans et al.
Batch Hard takes, for each anchor, its farthest positive and nearest negative in the batch;
Batch All takes every valid triplet (Hermans, Beyer and Leibe 2017, "In Defense of the Triplet
Loss for Person Re-Identification").

``normalize=True`` is the fix proposed in the thesis against collapse of the embedding (the loss
stuck exactly at the margin): the term becomes ``h((d_ap - d_an) / mu + alpha)`` with ``mu`` the
mean over the batch's anchor-negative pairs ``(i, j), y_i != y_j`` of ``d_ij``. The gradient flows
through ``mu`` unless ``detach_normalizer=True`` (the variant of the thesis' original code).
The same ``mu`` is used by Batch Hard and Batch All so that their scales agree. For explicit
triplets ``mu`` is the mean of the triplets' ``d_an``.

This code deviates from the thesis' code where that code did not compute what it described.
Here the per-triplet terms keep their graph, whereas the thesis rebuilt them with
``torch.tensor``, which detaches them. The norm penalty carries a gradient, and the softplus
path works.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from tfg_lib.aifr.distances import pairwise_distances, safe_norm

__all__ = ["BatchAllTripletLoss", "BatchHardTripletLoss", "TripletLoss"]

logger = logging.getLogger(__name__)

_REDUCTIONS = ("mean", "mean_active")

# Lower bound on the normaliser mu, so that a fully collapsed batch (every distance 0) divides a
# zero difference by a positive number instead of producing 0/0.
_NORMALIZER_FLOOR = 1e-12

# Maximum number of (anchor, positive, negative) elements that Batch All computes at once.
_BATCH_ALL_CHUNK_ELEMENTS = 1 << 22


def _validate_inputs(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Check shapes and return ``labels`` as an int64 tensor on the embeddings' device."""
    if not isinstance(embeddings, torch.Tensor):
        raise TypeError(
            f"embeddings must be a torch.Tensor of shape (B, d); received {type(embeddings).__name__}"
        )
    if embeddings.ndim != 2:
        raise ValueError(
            f"embeddings must have shape (B, d); received shape {tuple(embeddings.shape)}. "
            "Flatten the network output with embeddings.flatten(1)."
        )
    if not embeddings.is_floating_point():
        raise TypeError(f"embeddings must be a floating-point tensor; received dtype {embeddings.dtype}")

    labels = torch.as_tensor(labels, device=embeddings.device)
    if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"labels must have shape (B,) = ({embeddings.shape[0]},) to match embeddings; "
            f"received shape {tuple(labels.shape)}"
        )
    if labels.is_floating_point() or labels.is_complex():
        raise TypeError(f"labels must be integer identities; received dtype {labels.dtype}")
    return labels.long()


def _zero_with_graph(embeddings: torch.Tensor) -> torch.Tensor:
    """Return a float32 (or float64) zero that depends on ``embeddings``, so ``backward()`` works."""
    dtype = torch.float64 if embeddings.dtype == torch.float64 else torch.float32
    return embeddings.sum().to(dtype) * 0.0


def _pair_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return boolean (B, B) masks of anchor-positive pairs (same label, i != j) and of negatives."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


class _TripletLossBase(nn.Module):
    """Options and bookkeeping shared by the three triplet losses."""

    def __init__(
        self,
        margin: float = 1.0,
        soft_margin: bool = False,
        reduction: str = "mean",
        normalize: bool = False,
        detach_normalizer: bool = False,
        norm_penalty: float = 0.0,
        norm_target: float = 1.0,
    ) -> None:
        super().__init__()
        if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not math.isfinite(margin):
            raise ValueError(f"margin must be a finite number, for example 1.0; received {margin!r}")
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"reduction must be one of {_REDUCTIONS}; received {reduction!r}. "
                "'mean' averages over every valid term, 'mean_active' over the non-zero ones."
            )
        for name, value in (("norm_penalty", norm_penalty), ("norm_target", norm_target)):
            if (
                not isinstance(value, (int, float))
                or isinstance(value, bool)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"{name} must be a finite number >= 0; received {value!r}")
        if detach_normalizer and not normalize:
            logger.warning("detach_normalizer=True has no effect because normalize=False")

        self.margin = float(margin)
        self.soft_margin = bool(soft_margin)
        self.reduction = reduction
        self.normalize = bool(normalize)
        self.detach_normalizer = bool(detach_normalizer)
        self.norm_penalty = float(norm_penalty)
        self.norm_target = float(norm_target)
        self.last_stats: dict[str, float] = {}

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, soft_margin={self.soft_margin}, reduction={self.reduction!r}, "
            f"normalize={self.normalize}, detach_normalizer={self.detach_normalizer}, "
            f"norm_penalty={self.norm_penalty}, norm_target={self.norm_target}"
        )

    def _activation(self, violation: torch.Tensor) -> torch.Tensor:
        if self.soft_margin:
            return nn.functional.softplus(violation)
        return torch.relu(violation)

    def _normalizer(self, an_distances: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return ``mu``, the mean anchor-negative distance, or 1 when ``normalize`` is off.

        With ``mask`` the mean is over ``an_distances[mask]``, computed without boolean indexing.
        """
        one = torch.ones((), dtype=an_distances.dtype, device=an_distances.device)
        if not self.normalize:
            return one
        if mask is None:
            if an_distances.numel() == 0:
                return one
            mu = an_distances.mean()
        else:
            count = mask.sum()
            if int(count) == 0:
                return one
            mu = torch.where(mask, an_distances, torch.zeros_like(an_distances)).sum() / count
        mu = mu.clamp_min(_NORMALIZER_FLOOR)
        return mu.detach() if self.detach_normalizer else mu

    def _norm_penalty_term(self, embeddings: torch.Tensor) -> torch.Tensor | None:
        """Return ``lambda * mean_i max(t - ||e_i||, 0)^2``, which pushes norms up towards ``t``.

        At the origin the gradient of the norm is taken as 0, so an embedding that is exactly 0
        receives no push from this term.
        """
        if self.norm_penalty == 0.0 or embeddings.shape[0] == 0:
            return None
        norms = safe_norm(embeddings, dim=1)
        shortfall = torch.relu(self.norm_target - norms)
        return self.norm_penalty * (shortfall * shortfall).mean()

    def _reduce(
        self, total: torch.Tensor, num_terms: int, num_active: int, embeddings: torch.Tensor
    ) -> torch.Tensor:
        if num_terms == 0:
            return _zero_with_graph(embeddings)
        if self.reduction == "mean":
            return total / num_terms
        if num_active == 0:
            # Every term is exactly zero, so the sum is a zero that keeps the graph.
            return total
        return total / num_active

    def _finish(
        self,
        loss: torch.Tensor,
        embeddings: torch.Tensor,
        stats: dict[str, float],
    ) -> torch.Tensor:
        penalty = self._norm_penalty_term(embeddings)
        if penalty is None:
            stats["norm_penalty"] = 0.0
            stats["triplet_loss"] = stats["loss"] = float(loss.detach())
        else:
            total = loss + penalty.to(loss.dtype)
            read_back = torch.stack([penalty.detach().to(loss.dtype), loss.detach(), total.detach()]).tolist()
            stats["norm_penalty"], stats["triplet_loss"], stats["loss"] = read_back
            loss = total
        self.last_stats = stats
        return loss


def _term_stats(
    num_terms: int,
    num_active,
    num_violating,
    ap: torch.Tensor,
    an: torch.Tensor,
    mu: torch.Tensor,
) -> dict[str, float]:
    """Summarise one call: counts of terms and the positive and negative distances involved.

    The counts may be ints or 0-d int64 tensors of the same kind; tensors are read back together.
    """
    nan = float("nan")
    ap = ap.detach()
    an = an.detach()
    if isinstance(num_active, torch.Tensor):
        num_active, num_violating = torch.stack([num_active, num_violating]).tolist()
    if ap.numel() and an.numel():
        ap_mean, ap_max, an_mean, an_min, normalizer = torch.stack(
            [ap.mean(), ap.max(), an.mean(), an.min(), mu.detach()]
        ).tolist()
        ap_values, an_values = [ap_mean, ap_max], [an_mean, an_min]
    else:
        normalizer = float(mu.detach())
        ap_values = [float(ap.mean()), float(ap.max())] if ap.numel() else [nan, nan]
        an_values = [float(an.mean()), float(an.min())] if an.numel() else [nan, nan]
    return {
        "num_terms": float(num_terms),
        "num_active": float(num_active),
        "active_fraction": num_active / num_terms if num_terms else 0.0,
        "violating_fraction": num_violating / num_terms if num_terms else 0.0,
        "mean_positive_distance": ap_values[0],
        "mean_negative_distance": an_values[0],
        "hardest_positive_distance": ap_values[1],
        "hardest_negative_distance": an_values[1],
        "normalizer": normalizer,
    }


class TripletLoss(_TripletLossBase):
    """Triplet loss over explicit (anchor, positive, negative) index triplets of a batch.

    ``forward(embeddings, labels, triplets)`` with ``triplets`` an int tensor of shape (T, 3) or a
    tuple of three index tensors of shape (T,). Each triplet must have ``y_a == y_p``, ``a != p``
    and ``y_n != y_a``; otherwise a ``ValueError`` is raised. Without ``triplets`` every valid
    triplet of the batch is used, which gives the same value as :class:`BatchAllTripletLoss`
    when ``normalize=False``.
    """

    def forward(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        triplets: torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        labels = _validate_inputs(embeddings, labels)
        if triplets is None:
            # NOTE: this lists every triplet explicitly, O(B^3) memory; BatchAllTripletLoss
            # computes the same value in bounded memory for large batches.
            positive_mask, negative_mask = _pair_masks(labels)
            valid = positive_mask[:, :, None] & negative_mask[:, None, :]
            anchors, positives, negatives = valid.nonzero(as_tuple=True)
        else:
            anchors, positives, negatives = self._validate_triplets(triplets, labels)

        distances = pairwise_distances(embeddings)
        ap = distances[anchors, positives]
        an = distances[anchors, negatives]
        mu = self._normalizer(an)
        violation = (ap - an) / mu + self.margin
        terms = self._activation(violation)

        num_terms = int(terms.numel())
        num_active = int((terms > 0).sum())
        num_violating = int((violation > 0).sum())
        loss = self._reduce(terms.sum(), num_terms, num_active, embeddings)
        stats = _term_stats(num_terms, num_active, num_violating, ap, an, mu)
        return self._finish(loss, embeddings, stats)

    @staticmethod
    def _validate_triplets(triplets, labels: torch.Tensor):
        if isinstance(triplets, (tuple, list)) and len(triplets) == 3:
            columns = [torch.as_tensor(t, device=labels.device).long().reshape(-1) for t in triplets]
        else:
            triplets = torch.as_tensor(triplets, device=labels.device)
            if triplets.ndim != 2 or triplets.shape[1] != 3:
                raise ValueError(
                    "triplets must be an integer tensor of shape (T, 3) with columns anchor, "
                    f"positive, negative; received shape {tuple(triplets.shape)}"
                )
            columns = [triplets[:, i].long() for i in range(3)]
        anchors, positives, negatives = columns
        if not (anchors.shape == positives.shape == negatives.shape):
            raise ValueError(
                "anchor, positive and negative index tensors must have the same length; received "
                f"{anchors.shape[0]}, {positives.shape[0]}, {negatives.shape[0]}"
            )
        batch = labels.shape[0]
        for name, index in (("anchor", anchors), ("positive", positives), ("negative", negatives)):
            outside = (index < 0) | (index >= batch)
            if bool(outside.any()):
                raise ValueError(
                    f"{name} indices must lie in [0, {batch}); received {index[outside][:5].tolist()} "
                    f"among {int(outside.sum())} indices outside that range"
                )
        bad = (labels[anchors] != labels[positives]) | (anchors == positives)
        bad |= labels[anchors] == labels[negatives]
        if bool(bad.any()):
            first = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"triplet {first} = ({int(anchors[first])}, {int(positives[first])}, "
                f"{int(negatives[first])}) is invalid: the positive must share the anchor's label "
                "and differ from the anchor, the negative must have another label"
            )
        return anchors, positives, negatives


class BatchHardTripletLoss(_TripletLossBase):
    """Batch Hard triplet loss: for each anchor, its farthest positive and its nearest negative.

    ``L = reduce_a h((max_p d_ap - min_n d_an) / mu + alpha)`` over the anchors that have at
    least one positive and one negative in the batch. A batch without such an anchor (one
    identity, or one image per identity) returns 0 with the graph kept.
    """

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = _validate_inputs(embeddings, labels)
        distances = pairwise_distances(embeddings)
        if labels.shape[0] == 0:
            empty = distances.new_zeros(0)
            stats = _term_stats(0, 0, 0, empty, empty, self._normalizer(empty))
            return self._finish(_zero_with_graph(embeddings), embeddings, stats)

        # The anchor itself may enter the maximum over positives: its distance 0 never exceeds
        # that of a real positive, and anchors without a real positive are dropped below.
        same = labels[:, None] == labels[None, :]
        hardest_positive = (distances * same).amax(dim=1)
        hardest_negative = distances.masked_fill(same, float("inf")).amin(dim=1)
        same_counts = same.sum(dim=1)
        valid_anchor = (same_counts > 1) & (same_counts < labels.shape[0])

        ap = hardest_positive[valid_anchor]
        an = hardest_negative[valid_anchor]
        mu = self._normalizer(distances, ~same) if self.normalize else self._normalizer(distances)
        violation = (ap - an) / mu + self.margin
        terms = self._activation(violation)

        num_terms = int(terms.numel())
        active = terms > 0
        stats = _term_stats(num_terms, active.sum(), (violation > 0).sum(), ap, an, mu)
        loss = self._reduce(terms.sum(), num_terms, int(stats["num_active"]), embeddings)
        return self._finish(loss, embeddings, stats)


class _BatchAllSum(torch.autograd.Function):
    """Sum of ``h((D[a, p] - D[a, n]) / mu + alpha)`` over valid triplets, in chunks of anchors.

    Also returns the counts (active terms, violating terms) as a non-differentiable int64 pair.

    ``positives`` (B, K_max) lists each anchor's positive columns, padded with a valid index and
    masked by ``positive_valid``. Forward and backward both loop over chunks of anchors, so no
    tensor larger than ``chunk * K_max * B`` exists, and nothing of that size is kept for the
    backward pass (it is recomputed there).
    """

    @staticmethod
    def forward(ctx, distances, mu, positives, positive_valid, negative_mask, margin, soft, chunk):
        total = distances.new_zeros(())
        num_active = 0
        num_violating = 0
        for start in range(0, distances.shape[0], chunk):
            violation, valid = _batch_all_chunk(
                distances, mu, positives, positive_valid, negative_mask, margin, start, chunk
            )
            terms = nn.functional.softplus(violation) if soft else torch.relu(violation)
            terms = torch.where(valid, terms, torch.zeros_like(terms))
            total = total + terms.sum()
            num_active += int(((terms > 0) & valid).sum())
            num_violating += int(((violation > 0) & valid).sum())
        ctx.save_for_backward(distances, mu, positives, positive_valid, negative_mask)
        ctx.margin, ctx.soft, ctx.chunk = margin, soft, chunk
        counts = torch.tensor([num_active, num_violating], dtype=torch.int64)
        ctx.mark_non_differentiable(counts)
        return total, counts

    @staticmethod
    def backward(ctx, grad_total, grad_counts):
        distances, mu, positives, positive_valid, negative_mask = ctx.saved_tensors
        grad_distances = torch.zeros_like(distances)
        grad_mu = distances.new_zeros(())
        for start in range(0, distances.shape[0], ctx.chunk):
            stop = min(start + ctx.chunk, distances.shape[0])
            violation, valid = _batch_all_chunk(
                distances, mu, positives, positive_valid, negative_mask, ctx.margin, start, ctx.chunk
            )
            if ctx.soft:
                slope = torch.sigmoid(violation)
            else:
                slope = (violation > 0).to(violation.dtype)
            slope = torch.where(valid, slope, torch.zeros_like(slope))

            # violation = (D[a, p] - D[a, n]) / mu + alpha for slope[a, k, n] with p = positives[a, k].
            grad_ap = slope.sum(dim=2) / mu
            grad_an = slope.sum(dim=1) / mu
            rows = grad_distances[start:stop]
            rows.scatter_add_(1, positives[start:stop], grad_ap)
            rows.sub_(grad_an)
            difference = (violation - ctx.margin) * mu
            grad_mu = grad_mu - (slope * difference).sum() / (mu * mu)

        grad_distances = grad_distances * grad_total
        grad_mu = grad_mu * grad_total if ctx.needs_input_grad[1] else None
        return grad_distances, grad_mu, None, None, None, None, None, None


def _batch_all_chunk(distances, mu, positives, positive_valid, negative_mask, margin, start, chunk):
    """Return violations (c, K_max, B) and their validity mask for anchors ``start:start+c``."""
    stop = min(start + chunk, distances.shape[0])
    rows = distances[start:stop]
    ap = rows.gather(1, positives[start:stop])
    violation = (ap[:, :, None] - rows[:, None, :]) / mu + margin
    valid = positive_valid[start:stop, :, None] & negative_mask[start:stop, None, :]
    return violation, valid


class BatchAllTripletLoss(_TripletLossBase):
    """Batch All triplet loss: every valid (anchor, positive, negative) triplet of the batch.

    ``L = reduce_{(a, p, n)} h((d_ap - d_an) / mu + alpha)``. The triplets are visited in chunks
    of anchors by a custom autograd function, so memory stays ``O(B^2 + chunk_elements)`` in the
    forward and the backward pass instead of ``O(B^3)``. A batch without a valid triplet returns
    0 with the graph kept.

    Parameters
    ----------
    chunk_elements : int
        Maximum number of triplet elements held at once (default ``2**22``).
    """

    def __init__(self, *args, chunk_elements: int = _BATCH_ALL_CHUNK_ELEMENTS, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(chunk_elements, int) or isinstance(chunk_elements, bool) or chunk_elements < 1:
            raise ValueError(f"chunk_elements must be a positive int; received {chunk_elements!r}")
        self.chunk_elements = chunk_elements

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = _validate_inputs(embeddings, labels)
        batch = labels.shape[0]
        positive_mask, negative_mask = _pair_masks(labels)
        distances = pairwise_distances(embeddings)

        positive_counts = positive_mask.sum(dim=1)
        num_terms = int((positive_counts * negative_mask.sum(dim=1)).sum())
        mu = self._normalizer(distances, negative_mask)
        ap_all = distances[positive_mask]
        an_all = distances[negative_mask]
        if num_terms == 0:
            stats = _term_stats(0, 0, 0, ap_all, an_all, mu)
            return self._finish(_zero_with_graph(embeddings), embeddings, stats)

        # Each anchor's positive columns, left-aligned and padded with column 0 (masked out).
        k_max = int(positive_counts.max())
        order = torch.argsort((~positive_mask).to(torch.int8), dim=1, stable=True)
        positives = order[:, :k_max].contiguous()
        positive_valid = torch.arange(k_max, device=labels.device)[None, :] < positive_counts[:, None]
        chunk = max(1, self.chunk_elements // max(1, k_max * batch))

        total, counts = _BatchAllSum.apply(
            distances, mu, positives, positive_valid, negative_mask, self.margin, self.soft_margin, chunk
        )
        num_active, num_violating = (int(c) for c in counts)
        loss = self._reduce(total, num_terms, num_active, embeddings)
        stats = _term_stats(num_terms, num_active, num_violating, ap_all, an_all, mu)
        return self._finish(loss, embeddings, stats)
