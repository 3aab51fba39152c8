"""Retrieval and cluster metrics against brute-force loops, scikit-learn, faiss and pytorch-metric-learning."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors

from tfg_lib.aifr import metrics
from tfg_lib.aifr.metrics import (
    embedding_norms,
    inter_cluster_distances,
    intra_cluster_distances,
    local_rank_at_k,
    rank_at_k,
    retrieval_ranks,
    silhouette,
)
from tfg_lib.aifr.sampling import PKSampler

BACKENDS = ["torch", "faiss"]


def random_embeddings(seed, n=300, dim=6, identities=40, min_per_identity=2):
    """Return (n, dim) embeddings around one centre per identity, each identity drawn at least
    ``min_per_identity`` times."""
    rng = np.random.default_rng(seed)
    guaranteed = np.repeat(np.arange(identities), min_per_identity)
    labels = rng.permutation(np.concatenate([guaranteed, rng.integers(0, identities, n - len(guaranteed))]))
    centres = rng.normal(size=(identities, dim))
    embeddings = centres[labels] + 0.8 * rng.normal(size=(n, dim))
    return embeddings, labels


def brute_rank(x, labels, k, exclude_lone=True):
    """Rank@k by explicit loops: neighbours sorted by (distance, index), the query left out."""
    x = np.asarray(x, dtype=np.float64)
    hits = []
    for i in range(len(x)):
        has_positive = any(labels[j] == labels[i] for j in range(len(x)) if j != i)
        if exclude_lone and not has_positive:
            continue
        others = [(float(np.sum((x[i] - x[j]) ** 2)), j) for j in range(len(x)) if j != i]
        nearest = [j for _, j in sorted(others)[:k]]
        hits.append(any(labels[j] == labels[i] for j in nearest))
    return sum(hits) / len(hits)


def sklearn_rank(x, labels, k):
    neighbours = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(x)
    _, index = neighbours.kneighbors(x)
    # Drop the query itself by index: on tie-free data it is the first column.
    assert (index[:, 0] == np.arange(len(x))).all()
    return float((labels[index[:, 1:]] == labels[:, None]).any(axis=1).mean())


# --------------------------------------------------------------------------------------------
# Rank@k
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", [1, 5, 10])
@pytest.mark.parametrize("seed", range(4))
def test_rank_matches_sklearn(backend, k, seed):
    x, labels = random_embeddings(seed)
    # Every identity has at least 2 samples here, so no query is left out.
    assert np.bincount(labels).min() >= 2
    assert rank_at_k(x, labels, k, backend=backend) == pytest.approx(sklearn_rank(x, labels, k), abs=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(6))
def test_rank_at_1_matches_pml_precision_at_1(backend, seed):
    x, labels = random_embeddings(100 + seed, n=250, identities=60)
    calculator = AccuracyCalculator(include=("precision_at_1",), k=1, device=torch.device("cpu"))
    expected = calculator.get_accuracy(
        torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(labels), ref_includes_query=True
    )["precision_at_1"]
    assert rank_at_k(x, labels, 1, backend=backend) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("exclude_lone", [True, False])
def test_rank_matches_brute_force_with_lone_queries(backend, exclude_lone):
    x, labels = random_embeddings(7, n=120, identities=70, min_per_identity=0)
    assert (np.bincount(labels) == 1).any()
    for k in (1, 3):
        expected = brute_rank(x, labels, k, exclude_lone)
        value = rank_at_k(x, labels, k, backend=backend, exclude_lone_queries=exclude_lone)
        assert value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rank_never_counts_query_with_duplicates(backend):
    # Four copies of each of five points; labels cut across the copies. For query 0 the other
    # copies (1, 2, 3) have labels 1, 2, 3, so with k = 3 it misses unless it counted itself.
    rng = np.random.default_rng(0)
    x = np.repeat(rng.normal(size=(5, 3)) * 10, 4, axis=0)
    labels = np.arange(20) % 7
    for k in (1, 2, 3, 5):
        assert rank_at_k(x, labels, k, backend=backend) == pytest.approx(brute_rank(x, labels, k), abs=1e-12)
    assert rank_at_k(x, labels, 3, backend=backend) == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_rank_breaks_ties_by_index(backend):
    # Points on a 3 x 3 integer grid: many exactly equal distances.
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, size=(120, 2)).astype(np.float64)
    labels = rng.integers(0, 6, 120)
    for k in (1, 2, 4, 9, 20):
        assert rank_at_k(x, labels, k, backend=backend) == pytest.approx(brute_rank(x, labels, k), abs=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rank_all_identical_embeddings(backend):
    x = np.zeros((6, 3))
    labels = np.array([0, 1, 2, 0, 1, 2])
    # Neighbours of query i are the other indices in increasing order, so at k = 3 queries 1
    # (neighbours 0, 2, 3) and 2 (0, 1, 3) miss. At k = 4 query 2 (0, 1, 3, 4) still misses.
    assert rank_at_k(x, labels, 1, backend=backend) == pytest.approx(brute_rank(x, labels, 1))
    assert rank_at_k(x, labels, 3, backend=backend) == pytest.approx(4 / 6)
    assert rank_at_k(x, labels, 4, backend=backend) == pytest.approx(5 / 6)
    assert rank_at_k(x, labels, 5, backend=backend) == 1.0


def test_rank_chunks_give_same_answer(monkeypatch):
    x, labels = random_embeddings(3)
    expected = retrieval_ranks(x, labels, (1, 5), backend="torch")
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 5000)
    assert retrieval_ranks(x, labels, (1, 5), backend="torch") == expected


def test_rank_accepts_torch_and_numpy():
    x, labels = random_embeddings(4)
    from_numpy = retrieval_ranks(x, labels, (1, 5))
    from_torch = retrieval_ranks(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(labels), (1, 5))
    assert from_numpy == from_torch
    assert isinstance(from_numpy[1], float)


def test_rank_with_string_labels():
    x, labels = random_embeddings(5, identities=10)
    names = np.array([f"person_{label}" for label in labels])
    assert rank_at_k(x, names, 3) == rank_at_k(x, labels, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_rank_on_cuda_matches_cpu():
    x, labels = random_embeddings(6)
    on_gpu = retrieval_ranks(torch.as_tensor(x, device="cuda"), labels, (1, 5))
    assert on_gpu == retrieval_ranks(x, labels, (1, 5), backend="torch")


@pytest.mark.parametrize(
    "k, match",
    [(0, "positive int"), (1.5, "positive int"), (300, "exceeds")],
)
def test_rank_invalid_k_raises(k, match):
    x, labels = random_embeddings(0)
    with pytest.raises(ValueError, match=match):
        rank_at_k(x, labels, k)


def test_rank_invalid_inputs_raise():
    x, labels = random_embeddings(0)
    with pytest.raises(ValueError, match="labels"):
        rank_at_k(x, labels[:-1], 1)
    with pytest.raises(ValueError, match="backend"):
        rank_at_k(x, labels, 1, backend="annoy")
    bad = x.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rank_at_k(bad, labels, 1)
    with pytest.raises(ValueError, match="at least 2 samples"):
        rank_at_k(x[:5], np.arange(5), 1)


@settings(max_examples=20, deadline=None)
@given(
    points=st.lists(st.tuples(st.integers(-2, 2), st.integers(-2, 2)), min_size=4, max_size=20),
    seed=st.integers(0, 1000),
    backend=st.sampled_from(BACKENDS),
)
def test_rank_is_monotone_in_k(points, seed, backend):
    # Small integer coordinates give many exact ties, the hard case for monotonicity.
    x = np.asarray(points, dtype=np.float64)
    labels = np.random.default_rng(seed).integers(0, 3, len(x))
    if np.bincount(labels).max() < 2:
        labels[1] = labels[0]
    ranks = [rank_at_k(x, labels, k, backend=backend) for k in range(1, len(x))]
    assert all(a <= b for a, b in zip(ranks, ranks[1:]))
    assert ranks[-1] == 1.0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 8), backend=st.sampled_from(BACKENDS))
def test_rank_is_permutation_invariant(seed, k, backend):
    x, labels = random_embeddings(seed, n=60, identities=12)
    permutation = np.random.default_rng(seed + 1).permutation(len(x))
    original = rank_at_k(x, labels, k, backend=backend)
    assert rank_at_k(x[permutation], labels[permutation], k, backend=backend) == original


# --------------------------------------------------------------------------------------------
# Local Rank@k
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3])
def test_local_rank_matches_brute_force(k):
    x, labels = random_embeddings(8, n=200, identities=10)
    sampler = PKSampler(labels, P=4, K=4, seed=1)
    batches = list(sampler)
    hits = 0
    queries = 0
    for batch in batches:
        batch = np.asarray(batch)
        value = brute_rank(x[batch], labels[batch], k)
        count = len(batch)  # P-K batches: every query has positives
        hits += value * count
        queries += count
    assert local_rank_at_k(x, labels, k, batches) == pytest.approx(hits / queries)


def test_local_rank_of_one_batch_equals_global_rank():
    x, labels = random_embeddings(9, n=50, identities=5)
    assert local_rank_at_k(x, labels, 2, [range(50)]) == pytest.approx(rank_at_k(x, labels, 2))


def test_local_rank_leaves_out_lone_queries():
    x = np.array([[0.0], [1.0], [5.0], [5.5]])
    labels = np.array([0, 1, 1, 2])
    # Batch [0, 1, 2]: query 0 is lone. Query 1's nearest is 0 (1.0 < 4.0), a miss. Query 2's
    # nearest is 1 (4.0 < 5.0), a hit.
    # Batch [1, 2, 3]: query 3 is lone. Query 1's nearest is 2, a hit. Query 2's nearest is 3
    # (0.5), a miss. So 2 hits of 4 queries, or of 6 when lone queries count as misses.
    assert local_rank_at_k(x, labels, 1, [[0, 1, 2], [1, 2, 3]]) == pytest.approx(2 / 4)
    assert local_rank_at_k(x, labels, 1, [[0, 1, 2], [1, 2, 3]], exclude_lone_queries=False) == pytest.approx(2 / 6)


def test_local_rank_counts_repeated_index_once():
    # Sample 0 repeated, as P-K sampling with repetition produces: its copy is not a neighbour.
    x = np.array([[0.0], [1.0], [1.5], [9.0]])
    labels = np.array([0, 1, 1, 0])
    # Distinct batch [0, 1, 2, 3]: query 0 -> 1 (miss); 1 -> 2 (hit); 2 -> 1 (hit); 3 -> 2 (miss).
    assert local_rank_at_k(x, labels, 1, [[0, 0, 1, 2, 3]]) == pytest.approx(2 / 4)


def test_local_rank_invalid_batches_raise():
    x, labels = random_embeddings(0, n=20, identities=5)
    with pytest.raises(ValueError, match="exceeds"):
        local_rank_at_k(x, labels, 3, [[0, 1, 2]])
    with pytest.raises(ValueError, match="outside"):
        local_rank_at_k(x, labels, 1, [[0, 1, 25]])


# --------------------------------------------------------------------------------------------
# Silhouette
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_silhouette_matches_sklearn(seed, dtype):
    x, labels = random_embeddings(seed, n=400, identities=15)
    x = x.astype(dtype)
    expected = silhouette_score(x.astype(np.float64), labels)
    assert silhouette(x, labels) == pytest.approx(expected, abs=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("sample_size, seed", [(50, 0), (120, 3), (399, 7)])
def test_silhouette_sample_matches_sklearn(sample_size, seed):
    x, labels = random_embeddings(1, n=400, identities=8)
    expected = silhouette_score(x, labels, sample_size=sample_size, random_state=seed)
    assert silhouette(x, labels, sample_size=sample_size, seed=seed) == pytest.approx(expected, abs=1e-12)


def test_silhouette_with_singleton_identities_matches_sklearn():
    x, labels = random_embeddings(2, n=60, identities=40, min_per_identity=0)
    assert (np.bincount(labels) == 1).any()
    assert silhouette(x, labels) == pytest.approx(silhouette_score(x, labels), abs=1e-12)


def test_silhouette_with_duplicates_matches_sklearn():
    # Coincident points give a(i) = b(i) = 0 for some samples: 0/0, which both score as 0.
    x = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [3.0, 1.0], [3.0, 1.0]])
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert silhouette(x, labels) == pytest.approx(silhouette_score(x, labels), abs=1e-12)


def test_silhouette_hand_worked_example():
    # Points 0, 1 (identity a) and 10, 12 (identity b) on a line.
    # s(0) = (mean(10, 12) - 1) / 11 = 10 / 11; s(1) = (mean(9, 11) - 1) / 10 = 9 / 10;
    # s(10) = (mean(10, 9) - 2) / 9.5 = 7.5 / 9.5; s(12) = (mean(12, 11) - 2) / 11.5 = 9.5 / 11.5.
    x = np.array([[0.0], [1.0], [10.0], [12.0]])
    labels = np.array([0, 0, 1, 1])
    expected = (10 / 11 + 9 / 10 + 7.5 / 9.5 + 9.5 / 11.5) / 4
    assert silhouette(x, labels) == pytest.approx(expected, abs=1e-12)


def test_silhouette_one_identity_raises():
    with pytest.raises(ValueError, match="1 identities"):
        silhouette(np.random.default_rng(0).normal(size=(10, 3)), np.zeros(10, dtype=int))


def test_silhouette_every_sample_own_identity_raises():
    with pytest.raises(ValueError, match="10 identities for 10 samples"):
        silhouette(np.random.default_rng(0).normal(size=(10, 3)), np.arange(10))


def test_silhouette_sample_with_one_identity_raises():
    labels = np.array([0] * 99 + [1])
    x = np.random.default_rng(0).normal(size=(100, 2))
    with pytest.raises(ValueError, match="identities"):
        silhouette(x, labels, sample_size=5, seed=0)


def test_silhouette_chunks_give_same_answer(monkeypatch):
    x, labels = random_embeddings(3, n=200)
    expected = silhouette(x, labels)
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 900)
    assert silhouette(x, labels) == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------------------------
# Cluster distances and norms
# --------------------------------------------------------------------------------------------


def brute_intra(x, labels):
    values = []
    for identity in np.unique(labels):
        members = np.flatnonzero(labels == identity)
        pairs = list(itertools.combinations(members, 2))
        if pairs:
            values.append(np.mean([np.linalg.norm(x[i] - x[j]) for i, j in pairs]))
    return {"min": min(values), "mean": float(np.mean(values)), "max": max(values)}


def brute_inter(x, labels):
    values = []
    for first, second in itertools.combinations(np.unique(labels), 2):
        members_first = np.flatnonzero(labels == first)
        members_second = np.flatnonzero(labels == second)
        values.append(min(np.linalg.norm(x[i] - x[j]) for i in members_first for j in members_second))
    return {"min": min(values), "mean": float(np.mean(values)), "max": max(values)}


@pytest.mark.parametrize("seed", range(3))
def test_intra_cluster_distances_match_brute_force(seed):
    x, labels = random_embeddings(seed, n=80, identities=12)
    result = intra_cluster_distances(x, labels)
    expected = brute_intra(x, labels)
    for key in ("min", "mean", "max"):
        assert result[key] == pytest.approx(expected[key], rel=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_inter_cluster_distances_match_brute_force(seed):
    x, labels = random_embeddings(seed, n=80, identities=12)
    result = inter_cluster_distances(x, labels)
    expected = brute_inter(x, labels)
    for key in ("min", "mean", "max"):
        assert result[key] == pytest.approx(expected[key], rel=1e-10)


def test_cluster_distances_chunks_give_same_answer(monkeypatch):
    x, labels = random_embeddings(4, n=90, identities=9)
    intra = intra_cluster_distances(x, labels)
    inter = inter_cluster_distances(x, labels)
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 500)
    assert intra_cluster_distances(x, labels) == pytest.approx(intra, rel=1e-12)
    assert inter_cluster_distances(x, labels) == pytest.approx(inter, rel=1e-12)


def test_intra_cluster_skips_one_image_identity():
    x = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]])
    labels = np.array([0, 0, 1])
    assert intra_cluster_distances(x, labels) == {"min": 5.0, "mean": 5.0, "max": 5.0}


def test_cluster_distances_hand_worked_example():
    # Identities on a line: a = {0, 2}, b = {5, 6}, c = {20}.
    # intra: a 2, b 1 (c has no pair). inter minima: a-b 3, a-c 18, b-c 14.
    x = np.array([[0.0], [2.0], [5.0], [6.0], [20.0]])
    labels = np.array([0, 0, 1, 1, 2])
    assert intra_cluster_distances(x, labels) == pytest.approx({"min": 1.0, "mean": 1.5, "max": 2.0})
    assert inter_cluster_distances(x, labels) == pytest.approx({"min": 3.0, "mean": 35 / 3, "max": 18.0})


def test_cluster_distances_invalid_inputs_raise():
    with pytest.raises(ValueError, match="2 or more samples"):
        intra_cluster_distances(np.zeros((3, 2)), np.arange(3))
    with pytest.raises(ValueError, match="at least 2 identities"):
        inter_cluster_distances(np.zeros((3, 2)), np.zeros(3, dtype=int))


def test_embedding_norms_match_numpy():
    x, _ = random_embeddings(5)
    norms = np.linalg.norm(x, axis=1)
    result = embedding_norms(torch.as_tensor(x))
    assert result == pytest.approx({"min": norms.min(), "mean": norms.mean(), "max": norms.max()}, rel=1e-12)


def test_embedding_norms_of_zeros():
    assert embedding_norms(np.zeros((4, 3))) == {"min": 0.0, "mean": 0.0, "max": 0.0}
