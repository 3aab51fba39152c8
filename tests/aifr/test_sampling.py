"""P-K sampler: batch structure, determinism, small identities and errors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

from tfg_lib.aifr.sampling import PKSampler


def uneven_labels():
    # Identity i has counts[i] images: 1, 2, 3, 5, 8, 8, 9, 12, 20 and 4.
    counts = [1, 2, 3, 5, 8, 8, 9, 12, 20, 4]
    return np.repeat(np.arange(len(counts)), counts), counts


@pytest.mark.parametrize("small_identities", ["skip", "repeat"])
@pytest.mark.parametrize("P, K", [(2, 2), (4, 3), (5, 4)])
def test_batches_have_p_identities_of_k(P, K, small_identities):
    labels, _ = uneven_labels()
    sampler = PKSampler(labels, P, K, small_identities=small_identities, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    for batch in batches:
        assert len(batch) == P * K
        per_identity = Counter(labels[batch].tolist())
        assert len(per_identity) == P
        assert set(per_identity.values()) == {K}


def test_skip_leaves_out_small_identities():
    labels, counts = uneven_labels()
    sampler = PKSampler(labels, P=3, K=4, small_identities="skip", seed=0)
    seen = {int(labels[i]) for batch in sampler for i in batch}
    small = {i for i, count in enumerate(counts) if count < 4}
    assert seen.isdisjoint(small)
    assert set(sampler.identities.tolist()) == set(range(len(counts))) - small


def test_repeat_fills_small_identities():
    labels, counts = uneven_labels()
    sampler = PKSampler(labels, P=10, K=4, small_identities="repeat", seed=0)
    for batch in sampler:
        for identity, count in enumerate(counts):
            indices = [i for i in batch if labels[i] == identity]
            assert len(indices) == 4
            # An identity with at least K images never repeats one, a smaller one uses all its images.
            expected_distinct = min(count, 4)
            assert len(set(indices)) == expected_distinct


def test_no_image_repeats_within_batch():
    labels, _ = uneven_labels()
    for batch in PKSampler(labels, P=4, K=3, seed=1, batches_per_epoch=50):
        assert len(set(batch)) == len(batch)


def test_identities_are_drawn_evenly():
    # 7 identities, 3 per batch, 70 batches: 210 draws in shuffled passes give 30 each.
    labels = np.repeat(np.arange(7), 5)
    sampler = PKSampler(labels, P=3, K=2, batches_per_epoch=70, seed=2)
    draws = Counter(int(labels[batch[j]]) for batch in sampler for j in range(0, len(batch), 2))
    assert set(draws.values()) == {30}


def test_images_are_covered_in_passes():
    # One identity of 6 images, K = 3: two batches form one pass over all 6 images.
    labels = np.array([0] * 6 + [1] * 3)
    sampler = PKSampler(labels, P=2, K=3, batches_per_epoch=4, seed=5)
    batches = list(sampler)
    first_pass = [i for batch in batches[:2] for i in batch if labels[i] == 0]
    assert sorted(first_pass) == list(range(6))


def test_same_seed_same_batches():
    labels, _ = uneven_labels()
    first = list(PKSampler(labels, P=4, K=2, seed=7))
    second = list(PKSampler(labels, P=4, K=2, seed=7))
    assert first == second


def test_iteration_repeats_without_set_epoch():
    labels, _ = uneven_labels()
    sampler = PKSampler(labels, P=4, K=2, seed=7)
    assert list(sampler) == list(sampler)


def test_set_epoch_changes_draw_deterministically():
    labels, _ = uneven_labels()
    sampler = PKSampler(labels, P=4, K=2, seed=7)
    epoch_zero = list(sampler)
    sampler.set_epoch(1)
    epoch_one = list(sampler)
    other = PKSampler(labels, P=4, K=2, seed=7)
    other.set_epoch(1)
    assert epoch_one != epoch_zero
    assert list(other) == epoch_one


def test_different_seeds_differ():
    labels, _ = uneven_labels()
    assert list(PKSampler(labels, P=4, K=2, seed=1)) != list(PKSampler(labels, P=4, K=2, seed=2))


def test_length_known_before_iteration():
    labels, counts = uneven_labels()
    # "skip" with K = 4 keeps identities of 5, 8, 8, 9, 12, 20, 4 images: 66 samples, 66 // 12 = 5.
    assert len(PKSampler(labels, P=3, K=4)) == 5
    # "repeat" keeps all 72 samples: 72 // 12 = 6.
    assert len(PKSampler(labels, P=3, K=4, small_identities="repeat")) == 6
    assert len(PKSampler(labels, P=3, K=4, batches_per_epoch=17)) == 17
    assert len(PKSampler(labels, P=1, K=20)) == 1
    assert sum(counts) == 72


def test_works_as_dataloader_batch_sampler():
    labels, _ = uneven_labels()
    dataset = TensorDataset(torch.arange(len(labels)), torch.as_tensor(labels))
    sampler = PKSampler(labels, P=3, K=2, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler)
    batches = list(loader)
    assert len(batches) == len(sampler)
    for (indices, batch_labels), expected in zip(batches, sampler):
        assert indices.tolist() == expected
        assert torch.equal(batch_labels, torch.as_tensor(labels[expected]))


def test_string_labels():
    labels = np.array(["ann", "bob", "ann", "cid", "bob", "cid", "ann"])
    for batch in PKSampler(labels, P=3, K=2, seed=0):
        assert Counter(labels[batch].tolist()) == {"ann": 2, "bob": 2, "cid": 2}


def test_too_many_identities_raises_with_counts():
    # MNIST has 10 classes, so P = 16 cannot be drawn without replacement.
    labels = np.repeat(np.arange(10), 50)
    with pytest.raises(ValueError, match=r"P=16 .* only 10 identities"):
        PKSampler(labels, P=16, K=8)


def test_skip_counts_only_large_identities():
    labels, _ = uneven_labels()
    with pytest.raises(ValueError, match=r"P=8 .* only 6 identities"):
        PKSampler(labels, P=8, K=5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(P=0, K=2), "P must"),
        (dict(P=2, K=0), "K must"),
        (dict(P=2.0, K=2), "P must"),
        (dict(P=2, K=2, small_identities="augment"), "small_identities"),
        (dict(P=2, K=2, batches_per_epoch=0), "batches_per_epoch"),
        (dict(P=2, K=2, seed=-1), "seed"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    labels, _ = uneven_labels()
    with pytest.raises(ValueError, match=match):
        PKSampler(labels, **kwargs)


def test_invalid_epoch_raises():
    labels, _ = uneven_labels()
    with pytest.raises(ValueError, match="epoch"):
        PKSampler(labels, 2, 2).set_epoch(-1)


def test_two_dimensional_labels_raise():
    with pytest.raises(ValueError, match="one-dimensional"):
        PKSampler(np.zeros((4, 2)), 1, 1)


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(1, 12), min_size=1, max_size=15),
    P=st.integers(1, 6),
    K=st.integers(1, 6),
    small_identities=st.sampled_from(["skip", "repeat"]),
    seed=st.integers(0, 100),
)
def test_pk_structure_property(counts, P, K, small_identities, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    available = sum(c >= K for c in counts) if small_identities == "skip" else len(counts)
    if available < P:
        with pytest.raises(ValueError, match=f"P={P}"):
            PKSampler(labels, P, K, small_identities=small_identities, seed=seed)
        return
    sampler = PKSampler(labels, P, K, small_identities=small_identities, seed=seed)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    for batch in batches:
        per_identity = Counter(labels[batch].tolist())
        assert len(per_identity) == P
        assert set(per_identity.values()) == {K}
        assert all(0 <= i < len(labels) for i in batch)
