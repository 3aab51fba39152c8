"""Symmetry deviation: symmetrize against the mean over all permutations."""

import itertools

import numpy as np
import pytest

from tfg_lib.expressivity import random_cp_model, random_ht_model, symmetrize, symmetry_deviation


@pytest.mark.parametrize("N, M", [(1, 3), (2, 3), (3, 2), (4, 3), (5, 2)])
def test_symmetrize_matches_permutation_mean(N, M):
    tensor = np.random.default_rng(N).standard_normal((M,) * N)
    reference = np.mean([np.transpose(tensor, p) for p in itertools.permutations(range(N))], axis=0)
    np.testing.assert_allclose(symmetrize(tensor), reference, rtol=1e-12, atol=1e-14)


def test_symmetrize_is_a_projection():
    tensor = np.random.default_rng(0).standard_normal((2,) * 4)
    once = symmetrize(tensor)
    np.testing.assert_allclose(symmetrize(once), once, atol=1e-14)
    assert symmetry_deviation(once) < 1e-14


@pytest.mark.parametrize("N", [2, 4, 8])
def test_shared_cp_tensors_are_symmetric(N):
    model = random_cp_model(N, 3, 4, Y=2, shared=True, seed=N)
    assert symmetry_deviation(model) < 1e-14
    assert symmetry_deviation(model, y=1) < 1e-14
    assert symmetry_deviation(random_cp_model(N, 3, 4, seed=N)) > 1e-2


@pytest.mark.parametrize("N", [4, 8])
def test_shared_ht_tensors_are_not_symmetric(N):
    model = random_ht_model(N, 3, (2,) * (N.bit_length() - 1), shared=True, seed=N)
    assert symmetry_deviation(model) > 1e-2


def test_shared_ht_with_two_modes_is_symmetric():
    # N = 2: A = sum_a top_a v_a ⊗ v_a with shared leaves, a symmetric matrix.
    model = random_ht_model(2, 3, (2,), shared=True, seed=0)
    assert symmetry_deviation(model) < 1e-14


def test_deviation_edge_cases():
    assert symmetry_deviation(np.zeros((2, 2))) == 0.0
    antisymmetric = np.array([[0.0, 1.0], [-1.0, 0.0]])
    assert symmetry_deviation(antisymmetric) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same size"):
        symmetry_deviation(np.ones((2, 3)))
