"""Retrieval and cluster metrics of an embedding: Rank@k, Local Rank@k, silhouette, distances.

Every function accepts torch tensors (on any device) or numpy arrays and returns python floats
or dicts of floats. Distances are Euclidean and computed in chunks of query rows, so memory
stays ``O(chunk * N)`` for N samples.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from tfg_lib.aifr.distances import pairwise_distances, safe_norm

__all__ = [
    "embedding_norms",
    "inter_cluster_distances",
    "intra_cluster_distances",
    "local_rank_at_k",
    "rank_at_k",
    "retrieval_ranks",
    "silhouette",
]

logger = logging.getLogger(__name__)

# Elements of one (chunk, N) block of distances: 2**22 float32 values are 16 MiB. Larger
# blocks were slower on CPU, where each fresh allocation of that size is page-faulted in.
_BLOCK_ELEMENTS = 1 << 22

_BACKENDS = ("auto", "torch", "faiss")


def _as_embeddings(embeddings, name: str = "embeddings") -> torch.Tensor:
    """Return a detached 2-D floating tensor, raising for other shapes or non-finite values."""
    if isinstance(embeddings, torch.Tensor):
        tensor = embeddings.detach()
    else:
        tensor = torch.as_tensor(np.asarray(embeddings))
    if tensor.ndim != 2:
        raise ValueError(f"{name} must have shape (N, d); received shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float64)
    if tensor.numel() and not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values; metrics need finite embeddings")
    return tensor


def _as_label_codes(labels, num_samples: int, device: torch.device) -> torch.Tensor:
    """Map any labels to codes 0..C-1 (int64, on ``device``) after checking the length."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != num_samples:
        raise ValueError(
            f"labels must have shape (N,) = ({num_samples},) to match the embeddings; "
            f"received shape {labels.shape}"
        )
    _, codes = np.unique(labels, return_inverse=True)
    return torch.as_tensor(codes.reshape(-1), dtype=torch.int64, device=device)


def _check_k(k, name: str = "k") -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"{name} must be a positive int; received {k!r}")
    return int(k)


def _rows_per_block(num_columns: int) -> int:
    return max(1, _BLOCK_ELEMENTS // max(1, num_columns))


# --------------------------------------------------------------------------------------------
# Rank@k
# --------------------------------------------------------------------------------------------


def _hits_from_distances(
    distances: torch.Tensor,
    query_codes: torch.Tensor,
    reference_codes: torch.Tensor,
    ks: Sequence[int],
) -> torch.Tensor:
    """Return hits (len(ks), q) for query rows whose own column is already set to +inf.

    Neighbours are ordered by distance and, among equal distances, by column index, so the
    k nearest form a prefix of the k+1 nearest and the result is monotone in k.
    """
    k_max = max(ks)
    positive = query_codes[:, None] == reference_codes[None, :]
    infinity = torch.tensor(float("inf"), dtype=distances.dtype, device=distances.device)
    nearest_positive = torch.where(positive, distances, infinity).amin(dim=1)
    # One value beyond k_max shows whether a tie crosses the k-th place. The query's own column
    # is +inf, so k_max + 1 <= number of columns always holds.
    kth_values = torch.topk(distances, k_max + 1, dim=1, largest=False).values
    hits = []
    for k in ks:
        threshold = kth_values[:, k - 1]
        hit = nearest_positive <= threshold

        # Where the k-th and (k+1)-th distances are equal, a positive at exactly that distance
        # is a neighbour only if it is among the first (k - #closer) tied columns, by index.
        crossing = (kth_values[:, k] == threshold) & (nearest_positive == threshold)
        rows = crossing.nonzero().squeeze(1)
        if rows.numel():
            row_distances = distances[rows]
            row_threshold = threshold[rows, None]
            slots = k - (row_distances < row_threshold).sum(dim=1, keepdim=True)
            tied = row_distances == row_threshold
            chosen = tied & (tied.cumsum(dim=1) <= slots)
            hit[rows] = (chosen & positive[rows]).any(dim=1)
        hits.append(hit)
    return torch.stack(hits)


def _ranks_torch(x: torch.Tensor, codes: torch.Tensor, queries: torch.Tensor, ks) -> torch.Tensor:
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    x = x.to(dtype)
    x = x - x.mean(dim=0, keepdim=True)
    squared_norms = (x * x).sum(dim=1)
    transposed = x.T.contiguous()
    hits = torch.zeros(len(ks), dtype=torch.int64, device=x.device)
    rows = _rows_per_block(x.shape[0])
    for start in range(0, queries.shape[0], rows):
        query = queries[start : start + rows]
        # Squared distances order neighbours exactly as distances do, without a square root.
        block = torch.addmm(squared_norms[None, :], x[query], transposed, alpha=-2.0)
        block.add_(squared_norms[query, None]).clamp_min_(0)
        block[torch.arange(query.shape[0], device=x.device), query] = float("inf")
        hits += _hits_from_distances(block, codes[query], codes, ks).sum(dim=1)
    return hits


def _ranks_faiss(x: torch.Tensor, codes: torch.Tensor, queries: torch.Tensor, ks) -> torch.Tensor:
    import faiss

    data = np.ascontiguousarray(x.cpu().numpy(), dtype=np.float32)
    data = data - data.mean(axis=0, keepdims=True)
    index = faiss.IndexFlatL2(data.shape[1])
    index.add(data)
    query_ids = queries.cpu().numpy()
    k_max = max(ks)
    # One extra neighbour: the query itself, removed below by index even when another sample
    # has an identical embedding and faiss lists that sample first.
    _, neighbours = index.search(data[query_ids], k_max + 1)
    not_self = neighbours != query_ids[:, None]
    order = np.argsort(~not_self, axis=1, kind="stable")[:, :k_max]
    neighbours = np.take_along_axis(neighbours, order, axis=1)

    codes_np = codes.cpu().numpy()
    positive = codes_np[neighbours] == codes_np[query_ids][:, None]
    hits = [positive[:, :k].any(axis=1).sum() for k in ks]
    return torch.as_tensor(np.asarray(hits, dtype=np.int64))


def _faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def retrieval_ranks(
    embeddings,
    labels,
    ks: Sequence[int] = (1, 5),
    *,
    exclude_lone_queries: bool = True,
    backend: str = "auto",
) -> dict[int, float]:
    """Compute Rank@k for several k in one nearest-neighbour search.

    Every sample is a query against all other samples. The query is a hit at k when one of its
    k nearest other samples (Euclidean) has its identity. The query itself is excluded by index,
    never by distance, so an identical embedding of another sample still counts as a neighbour.
    Ties in distance are ordered by sample index in the torch backend. Queries whose identity
    has no other sample cannot hit; they are left out by default, as pytorch-metric-learning's
    ``AccuracyCalculator`` does, or count as misses with ``exclude_lone_queries=False``.

    Parameters
    ----------
    embeddings : array or tensor, shape (N, d)
    labels : array or tensor, shape (N,)
    ks : sequence of int
        Each ``1 <= k <= N - 1``.
    backend : {"auto", "torch", "faiss"}
        ``"auto"`` uses faiss's exact ``IndexFlatL2`` for CPU input when faiss is installed and
        the chunked torch search otherwise (the one used on CUDA).

    Returns
    -------
    dict
        ``{k: fraction of queries that hit}``, each in [0, 1] and non-decreasing in k.
    """
    x = _as_embeddings(embeddings)
    num_samples = x.shape[0]
    codes = _as_label_codes(labels, num_samples, x.device)
    if isinstance(ks, (int, np.integer)):
        ks = (ks,)
    ks = [_check_k(k) for k in ks]
    if not ks:
        raise ValueError("ks must contain at least one k, for example (1, 5)")
    if max(ks) > num_samples - 1:
        raise ValueError(
            f"k={max(ks)} exceeds the {num_samples - 1} other samples available for each query; "
            f"use k <= {num_samples - 1}"
        )
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}; received {backend!r}")

    counts = torch.bincount(codes)
    has_positive = counts[codes] > 1
    if exclude_lone_queries:
        queries = has_positive.nonzero().squeeze(1)
    else:
        queries = torch.arange(num_samples, device=x.device)
    if queries.numel() == 0:
        raise ValueError(
            "no query has another sample of its identity, so Rank@k is undefined; "
            "every identity needs at least 2 samples"
        )

    if backend == "auto":
        backend = "faiss" if x.device.type == "cpu" and _faiss_available() else "torch"
    if backend == "faiss":
        hits = _ranks_faiss(x, codes, queries, ks)
    else:
        hits = _ranks_torch(x, codes, queries, ks)
    total = int(queries.numel())
    return {k: int(h) / total for k, h in zip(ks, hits.tolist())}


def rank_at_k(embeddings, labels, k: int, **options) -> float:
    """Return the fraction of queries with a sample of their identity among the k nearest others.

    See :func:`retrieval_ranks` for the definition, the options and the treatment of ties.
    """
    k = _check_k(k)
    return retrieval_ranks(embeddings, labels, (k,), **options)[k]


def local_rank_at_k(
    embeddings,
    labels,
    k: int,
    batches: Iterable[Sequence[int]],
    *,
    exclude_lone_queries: bool = True,
) -> float:
    """Compute Rank@k with queries answered inside each batch, for example each P-K batch.

    Each sample of a batch is a query against the other samples of the same batch. The result is
    the number of hits over the number of queries across all batches. Queries without another
    sample of their identity in their batch are left out by default.

    Parameters
    ----------
    batches : iterable of index sequences
        Each batch lists indices into ``embeddings``. Repeated indices count once, and every
        batch needs more than k distinct samples.
    """
    x = _as_embeddings(embeddings)
    codes = _as_label_codes(labels, x.shape[0], x.device)
    k = _check_k(k)
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    x = x.to(dtype)

    total_hits = 0
    total_queries = 0
    for number, batch in enumerate(batches):
        # A sample repeated in a batch (P-K sampling with repetition) counts once, so its copy
        # is never a neighbour of its own query.
        index = torch.as_tensor(np.unique(np.asarray(batch, dtype=np.int64).reshape(-1)), device=x.device)
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= x.shape[0]):
            raise ValueError(f"batch {number} has indices outside [0, {x.shape[0]})")
        if index.numel() <= k:
            raise ValueError(
                f"batch {number} has {index.numel()} samples, so k={k} exceeds the other samples "
                f"of a query; use k <= {index.numel() - 1} or larger batches"
            )
        batch_codes = codes[index]
        distances = pairwise_distances(x[index], x[index])
        distances.fill_diagonal_(float("inf"))
        hits = _hits_from_distances(distances, batch_codes, batch_codes, [k])[0]

        if exclude_lone_queries:
            positive_counts = (batch_codes[:, None] == batch_codes[None, :]).sum(dim=1) - 1
            keep = positive_counts > 0
            hits = hits[keep]
        total_hits += int(hits.sum())
        total_queries += int(hits.numel())

    if total_queries == 0:
        raise ValueError(
            "no batch contains a query with another sample of its identity, so Local Rank@k is "
            "undefined; pass P-K batches with K >= 2"
        )
    return total_hits / total_queries


# --------------------------------------------------------------------------------------------
# Cluster metrics
# --------------------------------------------------------------------------------------------


def _distance_blocks(x: torch.Tensor):
    """Yield ``(start, D[start:stop, :])`` blocks of float64 distances, with exact zero diagonals."""
    x = x.to(torch.float64)
    x = x - x.mean(dim=0, keepdim=True)
    rows = _rows_per_block(x.shape[0])
    for start in range(0, x.shape[0], rows):
        block = pairwise_distances(x[start : start + rows], x)
        local = torch.arange(block.shape[0], device=x.device)
        block[local, start + local] = 0.0
        yield start, block


def _sums_per_identity(x: torch.Tensor, codes: torch.Tensor, num_identities: int) -> torch.Tensor:
    """Return S (N, C) with ``S[i, c] = sum_{j: y_j = c} d(x_i, x_j)``."""
    sums = torch.zeros(x.shape[0], num_identities, dtype=torch.float64, device=x.device)
    for start, block in _distance_blocks(x):
        sums[start : start + block.shape[0]].index_add_(1, codes, block)
    return sums


def silhouette(embeddings, labels, sample_size: int | None = None, seed: int = 0) -> float:
    """Compute the mean silhouette coefficient with Euclidean distances, exactly.

    ``s(i) = (b(i) - a(i)) / max(a(i), b(i))`` with ``a(i)`` the mean distance from i to the
    other samples of its identity and ``b(i)`` the smallest mean distance to another identity
    (Rousseeuw 1987). ``s(i) = 0`` for an identity of one sample, as in scikit-learn's
    ``silhouette_score``, which this matches. The score lies in [-1, 1]; higher means tighter,
    better separated identities.

    Parameters
    ----------
    sample_size : int, optional
        Score a random subset of this many samples, drawn as
        ``numpy.random.RandomState(seed).permutation(N)[:sample_size]``, the same subset that
        ``silhouette_score(..., sample_size=sample_size, random_state=seed)`` uses.

    Raises
    ------
    ValueError
        Unless ``2 <= number of identities <= number of samples - 1`` (in the subset).
    """
    x = _as_embeddings(embeddings)
    codes = _as_label_codes(labels, x.shape[0], x.device)
    if sample_size is not None:
        if not isinstance(sample_size, (int, np.integer)) or isinstance(sample_size, bool) or sample_size < 2:
            raise ValueError(f"sample_size must be None or an int >= 2; received {sample_size!r}")
        if sample_size < x.shape[0]:
            subset = np.random.RandomState(seed).permutation(x.shape[0])[:sample_size]
            subset_t = torch.as_tensor(subset, device=x.device)
            x = x[subset_t]
            codes = _as_label_codes(codes[subset_t], x.shape[0], x.device)

    num_samples = x.shape[0]
    num_identities = int(codes.max()) + 1 if num_samples else 0
    if not 2 <= num_identities <= num_samples - 1:
        raise ValueError(
            f"silhouette needs 2 <= number of identities <= number of samples - 1; received "
            f"{num_identities} identities for {num_samples} samples. With one identity there is "
            "no other cluster, and with one sample per identity no cluster has a mean distance."
        )

    counts = torch.bincount(codes, minlength=num_identities).to(torch.float64)
    sums = _sums_per_identity(x, codes, num_identities)
    own = torch.arange(num_samples, device=x.device)
    own_counts = counts[codes]

    # For a one-sample identity a(i) is 0/0; s(i) is set to 0 below, so any finite value will do.
    intra = sums[own, codes] / (own_counts - 1).clamp_min(1)
    means = sums / counts[None, :]
    means[own, codes] = float("inf")
    inter = means.min(dim=1).values

    denominator = torch.maximum(intra, inter)
    scores = torch.where(denominator > 0, (inter - intra) / denominator, torch.zeros_like(intra))
    scores = torch.where(own_counts > 1, scores, torch.zeros_like(scores))
    return float(scores.mean())


def _summary(values: torch.Tensor) -> dict[str, float]:
    return {"min": float(values.min()), "mean": float(values.mean()), "max": float(values.max())}


def intra_cluster_distances(embeddings, labels) -> dict[str, float]:
    """Summarise the identities' mean pairwise distances: min, mean and max over identities.

    For identity c with n_c >= 2 samples the intra-cluster distance is the mean of ``d(x_i, x_j)``
    over its ``n_c (n_c - 1) / 2`` pairs. Identities with one sample have no pair and are left out.
    """
    x = _as_embeddings(embeddings)
    codes = _as_label_codes(labels, x.shape[0], x.device)
    if x.shape[0] == 0:
        raise ValueError("embeddings is empty; intra-cluster distances need samples")
    num_identities = int(codes.max()) + 1
    counts = torch.bincount(codes, minlength=num_identities).to(torch.float64)
    if not bool((counts > 1).any()):
        raise ValueError("no identity has 2 or more samples, so no intra-cluster distance exists")

    sums = _sums_per_identity(x, codes, num_identities)
    own_sums = torch.zeros(num_identities, dtype=torch.float64, device=x.device)
    own_sums.index_add_(0, codes, sums[torch.arange(x.shape[0], device=x.device), codes])
    # Each unordered pair appears twice in own_sums, once from each end.
    keep = counts > 1
    means = own_sums[keep] / (counts[keep] * (counts[keep] - 1))
    return _summary(means)


def inter_cluster_distances(embeddings, labels) -> dict[str, float]:
    """Summarise the minimum cross distance of each pair of identities: min, mean and max over pairs.

    For identities c != c' the inter-cluster distance is ``min d(x_i, x_j)`` over ``y_i = c``,
    ``y_j = c'``, the single-linkage distance. The mean is over the C (C - 1) / 2 pairs.
    """
    x = _as_embeddings(embeddings)
    codes = _as_label_codes(labels, x.shape[0], x.device)
    num_identities = int(codes.max()) + 1 if x.shape[0] else 0
    if num_identities < 2:
        raise ValueError(
            f"inter-cluster distances need at least 2 identities; received {num_identities}"
        )

    row_minima = torch.full(
        (x.shape[0], num_identities), float("inf"), dtype=torch.float64, device=x.device
    )
    for start, block in _distance_blocks(x):
        index = codes[None, :].expand(block.shape[0], -1)
        row_minima[start : start + block.shape[0]].scatter_reduce_(1, index, block, reduce="amin")
    pair_minima = torch.full(
        (num_identities, num_identities), float("inf"), dtype=torch.float64, device=x.device
    )
    pair_minima.scatter_reduce_(0, codes[:, None].expand(-1, num_identities), row_minima, reduce="amin")
    upper = torch.triu_indices(num_identities, num_identities, offset=1, device=x.device)
    return _summary(pair_minima[upper[0], upper[1]])


def embedding_norms(embeddings) -> dict[str, float]:
    """Summarise the Euclidean norms ``||x_i||`` of the embeddings: min, mean and max."""
    x = _as_embeddings(embeddings)
    if x.shape[0] == 0:
        raise ValueError("embeddings is empty; embedding norms need samples")
    return _summary(safe_norm(x.to(torch.float64), dim=1))
