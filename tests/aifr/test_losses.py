"""Triplet losses against brute-force loops, pytorch-metric-learning and public bug-report cases."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning import reducers as pml_reducers

from tfg_lib.aifr.distances import pairwise_distances, safe_norm
from tfg_lib.aifr.losses import BatchAllTripletLoss, BatchHardTripletLoss, TripletLoss

TOLERANCE = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-9, atol=1e-10)}


def random_batch(seed, P=4, K=3, dim=5, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(P * K, dim, generator=generator, dtype=dtype)
    labels = torch.arange(P).repeat_interleave(K)
    permutation = torch.randperm(P * K, generator=generator)
    return embeddings[permutation].requires_grad_(), labels[permutation]


# --------------------------------------------------------------------------------------------
# Brute-force references: explicit Python loops over anchors, positives and negatives.
# --------------------------------------------------------------------------------------------


def brute_distance(x, i, j):
    if i == j or bool((x[i] == x[j]).all()):
        return x[i].sum() * 0.0
    return torch.sqrt(((x[i] - x[j]) ** 2).sum())


def brute_triplets(labels):
    labels = labels.tolist()
    batch = range(len(labels))
    return [
        (a, p, n)
        for a, p, n in itertools.product(batch, batch, batch)
        if a != p and labels[a] == labels[p] and labels[n] != labels[a]
    ]


def brute_normalizer(x, labels, normalize, detach):
    if not normalize:
        return 1.0
    labels = labels.tolist()
    pairs = [brute_distance(x, i, j) for i in range(len(labels)) for j in range(len(labels)) if labels[i] != labels[j]]
    mu = torch.stack(pairs).mean().clamp_min(1e-12)
    return mu.detach() if detach else mu


def brute_reduce(terms, reduction):
    if not terms:
        return None
    terms = torch.stack(terms)
    if reduction == "mean":
        return terms.mean()
    active = terms[terms > 0]
    return active.mean() if active.numel() else terms.sum()


def brute_activation(value, soft):
    return torch.nn.functional.softplus(value) if soft else torch.relu(value)


def brute_penalty(x, weight, target):
    if weight == 0:
        return 0.0
    shortfalls = [torch.relu(target - torch.sqrt((row**2).sum())) ** 2 for row in x]
    return weight * torch.stack(shortfalls).mean()


def brute_batch_all(x, labels, margin, soft, reduction, normalize, detach=False, penalty=0.0, target=1.0):
    mu = brute_normalizer(x, labels, normalize, detach)
    terms = []
    for a, p, n in brute_triplets(labels):
        value = (brute_distance(x, a, p) - brute_distance(x, a, n)) / mu + margin
        terms.append(brute_activation(value, soft))
    return brute_reduce(terms, reduction) + brute_penalty(x, penalty, target)


def brute_batch_hard(x, labels, margin, soft, reduction, normalize, detach=False, penalty=0.0, target=1.0):
    mu = brute_normalizer(x, labels, normalize, detach)
    labels_list = labels.tolist()
    terms = []
    for a in range(len(labels_list)):
        positives = [p for p in range(len(labels_list)) if p != a and labels_list[p] == labels_list[a]]
        negatives = [n for n in range(len(labels_list)) if labels_list[n] != labels_list[a]]
        if not positives or not negatives:
            continue
        hardest_positive = max((brute_distance(x, a, p) for p in positives), key=lambda d: float(d.detach()))
        hardest_negative = min((brute_distance(x, a, n) for n in negatives), key=lambda d: float(d.detach()))
        terms.append(brute_activation((hardest_positive - hardest_negative) / mu + margin, soft))
    return brute_reduce(terms, reduction) + brute_penalty(x, penalty, target)


def loss_and_grad(function, x, *args, **kwargs):
    x = x.detach().clone().requires_grad_()
    value = function(x, *args, **kwargs)
    (grad,) = torch.autograd.grad(value, x)
    return value.detach(), grad


OPTIONS = list(
    itertools.product(
        [0.2, 1.0],  # margin
        [False, True],  # soft_margin
        ["mean", "mean_active"],  # reduction
        [False, True],  # normalize
    )
)


# --------------------------------------------------------------------------------------------
# Brute force
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("margin, soft, reduction, normalize", OPTIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_batch_hard_matches_brute_force(margin, soft, reduction, normalize, seed):
    x, labels = random_batch(seed)
    loss = BatchHardTripletLoss(margin=margin, soft_margin=soft, reduction=reduction, normalize=normalize)
    value, grad = loss_and_grad(loss, x, labels)
    expected, expected_grad = loss_and_grad(brute_batch_hard, x, labels, margin, soft, reduction, normalize)
    torch.testing.assert_close(value, expected, **TOLERANCE[torch.float64])
    torch.testing.assert_close(grad, expected_grad, **TOLERANCE[torch.float64])


@pytest.mark.parametrize("margin, soft, reduction, normalize", OPTIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_batch_all_matches_brute_force(margin, soft, reduction, normalize, seed):
    x, labels = random_batch(seed)
    loss = BatchAllTripletLoss(margin=margin, soft_margin=soft, reduction=reduction, normalize=normalize)
    value, grad = loss_and_grad(loss, x, labels)
    expected, expected_grad = loss_and_grad(brute_batch_all, x, labels, margin, soft, reduction, normalize)
    torch.testing.assert_close(value, expected, **TOLERANCE[torch.float64])
    torch.testing.assert_close(grad, expected_grad, **TOLERANCE[torch.float64])


@pytest.mark.parametrize("cls, brute", [(BatchHardTripletLoss, brute_batch_hard), (BatchAllTripletLoss, brute_batch_all)])
def test_detached_normalizer_matches_brute_force(cls, brute):
    x, labels = random_batch(3)
    loss = cls(margin=0.5, normalize=True, detach_normalizer=True)
    value, grad = loss_and_grad(loss, x, labels)
    expected, expected_grad = loss_and_grad(brute, x, labels, 0.5, False, "mean", True, detach=True)
    torch.testing.assert_close(value, expected, **TOLERANCE[torch.float64])
    torch.testing.assert_close(grad, expected_grad, **TOLERANCE[torch.float64])


def test_detached_normalizer_changes_gradient():
    x, labels = random_batch(4)
    _, through = loss_and_grad(BatchAllTripletLoss(margin=0.5, normalize=True), x, labels)
    _, detached = loss_and_grad(BatchAllTripletLoss(margin=0.5, normalize=True, detach_normalizer=True), x, labels)
    assert not torch.allclose(through, detached)


@pytest.mark.parametrize("cls, brute", [(BatchHardTripletLoss, brute_batch_hard), (BatchAllTripletLoss, brute_batch_all)])
def test_norm_penalty_matches_brute_force(cls, brute):
    x, labels = random_batch(5)
    x = (x * 0.3).detach()
    loss = cls(margin=0.5, norm_penalty=0.7, norm_target=1.5)
    value, grad = loss_and_grad(loss, x, labels)
    expected, expected_grad = loss_and_grad(brute, x, labels, 0.5, False, "mean", False, penalty=0.7, target=1.5)
    torch.testing.assert_close(value, expected, **TOLERANCE[torch.float64])
    torch.testing.assert_close(grad, expected_grad, **TOLERANCE[torch.float64])
    assert loss.last_stats["norm_penalty"] > 0


def test_norm_penalty_carries_gradient():
    # Every embedding has norm 0.5 < target 1, the penalty alone pushes norms outwards.
    x = torch.tensor([[0.5, 0.0], [0.0, 0.5], [-0.5, 0.0], [0.0, -0.5]], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3])  # no valid triplet, so the triplet part is 0
    loss = BatchHardTripletLoss(norm_penalty=2.0, norm_target=1.0)
    value = loss(x, labels)
    value.backward()
    # penalty = 2 * mean(0.5^2) = 0.5; d/dx_i = 2 * 2 * (1 - 0.5) * (-x_i / 0.5) / 4 = -x_i
    assert float(value.detach()) == pytest.approx(0.5)
    torch.testing.assert_close(x.grad, -x.detach())


@pytest.mark.parametrize("reduction", ["mean", "mean_active"])
@pytest.mark.parametrize("normalize", [False, True])
def test_explicit_triplets_match_brute_force(reduction, normalize):
    x, labels = random_batch(6)
    triplets = brute_triplets(labels)[::7]
    loss = TripletLoss(margin=0.8, reduction=reduction, normalize=normalize)
    value, grad = loss_and_grad(loss, x, labels, torch.tensor(triplets))

    def reference(x):
        an = [brute_distance(x, a, n) for a, _, n in triplets]
        mu = torch.stack(an).mean() if normalize else 1.0
        terms = [torch.relu((brute_distance(x, a, p) - brute_distance(x, a, n)) / mu + 0.8) for a, p, n in triplets]
        return brute_reduce(terms, reduction)

    expected, expected_grad = loss_and_grad(reference, x)
    torch.testing.assert_close(value, expected, **TOLERANCE[torch.float64])
    torch.testing.assert_close(grad, expected_grad, **TOLERANCE[torch.float64])


def test_explicit_triplets_accept_column_tuple():
    x, labels = random_batch(7)
    triplets = torch.tensor(brute_triplets(labels)[:10])
    loss = TripletLoss()
    as_matrix = loss(x, labels, triplets)
    as_columns = loss(x, labels, (triplets[:, 0], triplets[:, 1], triplets[:, 2]))
    torch.testing.assert_close(as_matrix, as_columns)


def test_triplet_loss_without_triplets_equals_batch_all():
    x, labels = random_batch(8)
    torch.testing.assert_close(TripletLoss(margin=0.3)(x, labels), BatchAllTripletLoss(margin=0.3)(x, labels))


def test_explicit_triplet_with_wrong_labels_raises():
    x, labels = random_batch(9)
    negative_as_positive = [0, int((labels != labels[0]).nonzero()[0]), 1]
    with pytest.raises(ValueError, match="invalid"):
        TripletLoss()(x, labels, torch.tensor([negative_as_positive]))


def test_explicit_triplet_out_of_range_raises():
    x, labels = random_batch(9)
    with pytest.raises(ValueError, match="indices must lie"):
        TripletLoss()(x, labels, torch.tensor([[0, 1, 99]]))


@pytest.mark.parametrize("chunk_elements", [1, 7, 100])
def test_batch_all_chunks_give_same_result(chunk_elements):
    x, labels = random_batch(10, P=5, K=4)
    reference = BatchAllTripletLoss(margin=0.4, normalize=True)
    chunked = BatchAllTripletLoss(margin=0.4, normalize=True, chunk_elements=chunk_elements)
    value, grad = loss_and_grad(reference, x, labels)
    chunked_value, chunked_grad = loss_and_grad(chunked, x, labels)
    torch.testing.assert_close(chunked_value, value, **TOLERANCE[torch.float64])
    torch.testing.assert_close(chunked_grad, grad, **TOLERANCE[torch.float64])


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("normalize", [False, True])
def test_batch_all_passes_gradcheck(soft, normalize):
    x, labels = random_batch(11, P=3, K=3)
    loss = BatchAllTripletLoss(margin=0.3, soft_margin=soft, normalize=normalize, chunk_elements=10)
    assert torch.autograd.gradcheck(lambda e: loss(e, labels), (x.detach().clone().requires_grad_(),))


def test_batch_all_handles_unbalanced_identities():
    # Identities of 1, 2, 5 and 3 images: the positive lists have different lengths.
    generator = torch.Generator().manual_seed(12)
    x = torch.randn(11, 4, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3])
    for reduction in ("mean", "mean_active"):
        loss = BatchAllTripletLoss(margin=1.0, reduction=reduction, chunk_elements=13)
        value, grad = loss_and_grad(loss, x, labels)
        expected, expected_grad = loss_and_grad(brute_batch_all, x, labels, 1.0, False, reduction, False)
        torch.testing.assert_close(value, expected, **TOLERANCE[torch.float64])
        torch.testing.assert_close(grad, expected_grad, **TOLERANCE[torch.float64])


# --------------------------------------------------------------------------------------------
# pytorch-metric-learning
# --------------------------------------------------------------------------------------------


def pml_loss(miner, reduction, margin, soft):
    distance = pml_distances.LpDistance(normalize_embeddings=False)
    reducer = pml_reducers.MeanReducer() if reduction == "mean" else pml_reducers.AvgNonZeroReducer()
    loss = pml_losses.TripletMarginLoss(margin=margin, smooth_loss=soft, distance=distance, reducer=reducer)
    if not miner:
        return lambda x, labels: loss(x, labels)
    batch_hard = pml_miners.BatchHardMiner(distance=pml_distances.LpDistance(normalize_embeddings=False))
    return lambda x, labels: loss(x, labels, batch_hard(x, labels))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "mean_active"])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_batch_hard_matches_pml(dtype, reduction, soft, seed):
    x, labels = random_batch(100 + seed, P=6, K=4, dim=8, dtype=dtype)
    ours, our_grad = loss_and_grad(BatchHardTripletLoss(margin=0.5, soft_margin=soft, reduction=reduction), x, labels)
    theirs, their_grad = loss_and_grad(pml_loss(True, reduction, 0.5, soft), x, labels)
    torch.testing.assert_close(ours, theirs.to(ours.dtype), **TOLERANCE[dtype])
    torch.testing.assert_close(our_grad, their_grad, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "mean_active"])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_batch_all_matches_pml(dtype, reduction, soft, seed):
    x, labels = random_batch(200 + seed, P=5, K=4, dim=8, dtype=dtype)
    ours, our_grad = loss_and_grad(BatchAllTripletLoss(margin=0.5, soft_margin=soft, reduction=reduction), x, labels)
    theirs, their_grad = loss_and_grad(pml_loss(False, reduction, 0.5, soft), x, labels)
    torch.testing.assert_close(ours, theirs.to(ours.dtype), **TOLERANCE[dtype])
    torch.testing.assert_close(our_grad, their_grad, **TOLERANCE[dtype])


# --------------------------------------------------------------------------------------------
# Public bug-report cases
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [BatchHardTripletLoss, BatchAllTripletLoss])
def test_all_zero_embeddings_give_margin(cls):
    x = torch.zeros(8, 4, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    loss = cls(margin=0.2)
    value = loss(x, labels)
    value.backward()
    assert float(value.detach()) == pytest.approx(0.2)
    assert loss.last_stats["active_fraction"] == 1.0
    assert bool(torch.isfinite(x.grad).all())


@pytest.mark.parametrize("cls", [BatchHardTripletLoss, BatchAllTripletLoss, TripletLoss])
@pytest.mark.parametrize("normalize", [False, True])
def test_duplicate_embeddings_give_finite_gradients(cls, normalize):
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    value = cls(margin=1.0, normalize=normalize)(x, labels)
    value.backward()
    assert bool(torch.isfinite(value))
    assert bool(torch.isfinite(x.grad).all())


@pytest.mark.parametrize("cls", [BatchHardTripletLoss, BatchAllTripletLoss, TripletLoss])
def test_mean_active_without_active_terms_is_zero(cls):
    x = torch.tensor([[0.0, 0.0], [0.0, 0.01], [10.0, 0.0], [10.0, 0.01]], requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    loss = cls(margin=0.2, reduction="mean_active")
    value = loss(x, labels)
    assert float(value.detach()) == 0.0
    assert value.grad_fn is not None
    value.backward()
    assert bool(torch.isfinite(x.grad).all())
    assert loss.last_stats["active_fraction"] == 0.0


@pytest.mark.parametrize("cls", [BatchHardTripletLoss, BatchAllTripletLoss, TripletLoss])
@pytest.mark.parametrize("labels", [[0, 1, 2, 3], [3, 3, 3, 3]])
@pytest.mark.parametrize("reduction", ["mean", "mean_active"])
def test_batch_without_valid_triplet_is_zero(cls, labels, reduction):
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    loss = cls(margin=1.0, reduction=reduction, normalize=True)
    value = loss(x, torch.tensor(labels))
    assert float(value.detach()) == 0.0
    assert value.grad_fn is not None
    value.backward()
    assert bool(torch.isfinite(x.grad).all())
    assert loss.last_stats["num_terms"] == 0.0


@pytest.mark.parametrize("cls", [BatchHardTripletLoss, BatchAllTripletLoss])
def test_one_image_identity_is_finite(cls):
    # Identity 2 has a single image: it is a negative for the others but never an anchor.
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2])
    loss = cls(margin=1.0, normalize=True)
    value = loss(x, labels)
    value.backward()
    assert bool(torch.isfinite(value))
    assert bool(torch.isfinite(x.grad).all())
    expected_terms = 4 if cls is BatchHardTripletLoss else 4 * 3
    assert loss.last_stats["num_terms"] == expected_terms


@pytest.mark.parametrize("cls", [BatchHardTripletLoss, BatchAllTripletLoss])
def test_empty_batch_is_zero(cls):
    x = torch.zeros(0, 3, requires_grad=True)
    value = cls()(x, torch.zeros(0, dtype=torch.int64))
    assert float(value.detach()) == 0.0
    value.backward()


# --------------------------------------------------------------------------------------------
# Statistics, distances, dtype and validation
# --------------------------------------------------------------------------------------------


def test_batch_hard_stats_match_brute_force():
    x, labels = random_batch(13)
    loss = BatchHardTripletLoss(margin=0.5)
    loss(x, labels)
    distances = torch.cdist(x.detach(), x.detach())
    same = labels[:, None] == labels[None, :]
    hardest_positive = torch.where(same, distances, torch.zeros_like(distances)).amax(dim=1)
    hardest_negative = torch.where(~same, distances, torch.full_like(distances, math.inf)).amin(dim=1)
    active = (hardest_positive - hardest_negative + 0.5 > 0).double().mean()
    assert loss.last_stats["active_fraction"] == pytest.approx(float(active))
    assert loss.last_stats["mean_positive_distance"] == pytest.approx(float(hardest_positive.mean()))
    assert loss.last_stats["mean_negative_distance"] == pytest.approx(float(hardest_negative.mean()))
    assert loss.last_stats["hardest_positive_distance"] == pytest.approx(float(hardest_positive.max()))
    assert loss.last_stats["hardest_negative_distance"] == pytest.approx(float(hardest_negative.min()))


def test_batch_all_stats_match_brute_force():
    x, labels = random_batch(14)
    loss = BatchAllTripletLoss(margin=0.5, normalize=True)
    loss(x, labels)
    with torch.no_grad():
        mu = brute_normalizer(x, labels, True, False)
        violations = [
            float((brute_distance(x, a, p) - brute_distance(x, a, n)) / mu + 0.5) for a, p, n in brute_triplets(labels)
        ]
    assert loss.last_stats["num_terms"] == len(violations)
    assert loss.last_stats["active_fraction"] == pytest.approx(sum(v > 0 for v in violations) / len(violations))
    assert loss.last_stats["normalizer"] == pytest.approx(float(mu))


def test_pairwise_distances_match_differences():
    x = torch.randn(30, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 5.0
    y = torch.randn(20, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    # Explicit differences, not torch.cdist, whose matrix-product path leaves ~1e-7 on the diagonal.
    exact_xx = ((x[:, None, :] - x[None, :, :]) ** 2).sum(dim=2)
    exact_xy = ((x[:, None, :] - y[None, :, :]) ** 2).sum(dim=2)
    torch.testing.assert_close(pairwise_distances(x), exact_xx.sqrt(), **TOLERANCE[torch.float64])
    torch.testing.assert_close(pairwise_distances(x, y), exact_xy.sqrt(), **TOLERANCE[torch.float64])
    torch.testing.assert_close(pairwise_distances(x, squared=True), exact_xx, rtol=1e-9, atol=1e-9)


def test_pairwise_distances_avoid_float16_overflow():
    # |x|^2 = 8 * 300^2 = 720,000 overflows float16 (max 65,504); the result is float32.
    x = torch.full((4, 8), 300.0)
    x[1] = -300.0
    distances = pairwise_distances(x.half())
    assert distances.dtype == torch.float32
    assert bool(torch.isfinite(distances).all())
    assert float(distances[0, 1]) == pytest.approx(600.0 * math.sqrt(8), rel=1e-6)


def test_pairwise_distances_are_float32_under_autocast():
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        distances = pairwise_distances(x)
        loss = BatchHardTripletLoss()(x, torch.tensor([0, 0, 1, 1, 2, 2]))
    assert distances.dtype == torch.float32
    assert loss.dtype == torch.float32
    torch.testing.assert_close(distances, torch.cdist(x, x), rtol=1e-4, atol=1e-4)


def test_safe_norm_has_zero_gradient_at_origin():
    x = torch.zeros(2, 3, requires_grad=True)
    safe_norm(x).sum().backward()
    assert torch.equal(x.grad, torch.zeros(2, 3))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(margin=float("nan")), "margin"),
        (dict(margin="1"), "margin"),
        (dict(reduction="sum"), "reduction"),
        (dict(norm_penalty=-1.0), "norm_penalty"),
        (dict(norm_target=float("inf")), "norm_target"),
    ],
)
def test_invalid_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchHardTripletLoss(**kwargs)


def test_invalid_inputs_raise():
    loss = BatchAllTripletLoss()
    with pytest.raises(ValueError, match="shape"):
        loss(torch.zeros(4, 2, 2), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="labels"):
        loss(torch.zeros(4, 2), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(TypeError, match="integer"):
        loss(torch.zeros(4, 2), torch.zeros(4))
    with pytest.raises(TypeError, match="floating"):
        loss(torch.zeros(4, 2, dtype=torch.int64), torch.zeros(4, dtype=torch.int64))


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

LOSS_CLASSES = [BatchHardTripletLoss, BatchAllTripletLoss]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    scale=st.floats(1e-3, 1e3),
    cls=st.sampled_from(LOSS_CLASSES),
    soft=st.booleans(),
)
def test_normalized_loss_is_scale_invariant(seed, scale, cls, soft):
    x, labels = random_batch(seed)
    loss = cls(margin=0.3, soft_margin=soft, normalize=True)
    torch.testing.assert_close(loss(x * scale, labels), loss(x, labels), rtol=1e-8, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cls=st.sampled_from(LOSS_CLASSES),
    reduction=st.sampled_from(["mean", "mean_active"]),
    normalize=st.booleans(),
)
def test_loss_is_permutation_invariant(seed, cls, reduction, normalize):
    x, labels = random_batch(seed)
    permutation = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed + 1))
    loss = cls(margin=0.7, reduction=reduction, normalize=normalize)
    value, grad = loss_and_grad(loss, x, labels)
    permuted_value, permuted_grad = loss_and_grad(loss, x[permutation], labels[permutation])
    torch.testing.assert_close(permuted_value, value, **TOLERANCE[torch.float64])
    torch.testing.assert_close(permuted_grad, grad[permutation], **TOLERANCE[torch.float64])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_batch_hard_bounds_batch_all(seed):
    # Batch Hard's term for an anchor is the maximum of its Batch All terms, and in a P-K batch
    # every anchor has the same number of triplets, so the "mean" of Batch Hard is the larger.
    x, labels = random_batch(seed)
    hard = BatchHardTripletLoss(margin=0.5)(x, labels)
    every = BatchAllTripletLoss(margin=0.5)(x, labels)
    assert float(hard.detach()) >= float(every.detach()) - 1e-12
