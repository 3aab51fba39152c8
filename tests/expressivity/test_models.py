"""CP and HT models: tensors against brute-force constructions, counts against the arrays."""

import itertools

import numpy as np
import pytest
import tensorly as tl
from hypothesis import given, settings
from hypothesis import strategies as st

from tfg_lib.expressivity import (
    CPModel,
    HTModel,
    cp_coefficients,
    cp_parameter_count,
    ht_extra_coefficients_for_cp,
    ht_from_cp,
    ht_parameter_count,
    random_cp_model,
    random_ht_model,
)

RTOL = 1e-12


def naive_cp_entry(model: CPModel, y: int, index: tuple[int, ...]) -> float:
    return sum(
        model.weights[y, z] * np.prod([model.vectors[i, z, d] for i, d in enumerate(index)])
        for z in range(model.Z)
    )


def naive_ht_tensor(model: HTModel, y: int) -> np.ndarray:
    """The recursion of the definition, with np.multiply.outer on dense tensors."""

    def phi(level: int, j: int, g: int) -> np.ndarray:
        if level == 0:
            return model.leaves[j, g]
        weights = model.inner[level - 1][j, g]
        return sum(
            weights[a] * np.multiply.outer(phi(level - 1, 2 * j, a), phi(level - 1, 2 * j + 1, a))
            for a in range(len(weights))
        )

    top = model.L - 1
    return sum(
        model.top[y, a] * np.multiply.outer(phi(top, 0, a), phi(top, 1, a))
        for a in range(model.top.shape[1])
    )


@pytest.mark.parametrize("N, M, Z, Y", [(1, 3, 2, 1), (3, 2, 4, 2), (4, 3, 1, 1)])
def test_cp_tensor_matches_index_loop(N, M, Z, Y):
    model = random_cp_model(N, M, Z, Y=Y, seed=11)
    for y in range(Y):
        tensor = model.tensor(y)
        assert tensor.shape == (M,) * N
        for index in itertools.product(range(M), repeat=N):
            assert tensor[index] == pytest.approx(naive_cp_entry(model, y, index), rel=RTOL, abs=1e-13)


def test_cp_coefficients_match_tensorly_and_stack_classes():
    model = random_cp_model(4, 3, 5, Y=3, seed=12)
    stacked = cp_coefficients(model.weights, model.vectors)
    assert stacked.shape == (3, 3, 3, 3, 3)
    for y in range(3):
        reference = tl.cp_to_tensor((model.weights[y], [v.T for v in model.vectors]))
        np.testing.assert_allclose(stacked[y], reference, rtol=RTOL)
        np.testing.assert_allclose(model.tensor(y), reference, rtol=RTOL)


def test_cp_coefficients_pytorch_backend_matches_numpy():
    model = random_cp_model(4, 3, 5, Y=2, seed=19)
    numpy_tensor = cp_coefficients(model.weights, model.vectors)
    torch_tensor = cp_coefficients(model.weights, model.vectors, backend="pytorch")
    assert torch_tensor.dtype == np.float64
    np.testing.assert_allclose(torch_tensor, numpy_tensor, rtol=1e-13)
    with pytest.raises(ValueError, match="backend"):
        cp_coefficients(model.weights, model.vectors, backend="jax")


def test_ht_tensor_n4_matches_explicit_sums():
    # N = 4, L = 2: A[d1,d2,d3,d4] = sum_a top_a phi^{1,1,a}[d1,d2] phi^{1,2,a}[d3,d4] with
    # phi^{1,j,g}[d,e] = sum_b inner[j,g,b] leaves[2j-1,b,d] leaves[2j,b,e].
    model = random_ht_model(4, 2, (3, 2), seed=13)
    v, w, top = model.leaves, model.inner[0], model.top[0]
    tensor = model.tensor()
    for d1, d2, d3, d4 in itertools.product(range(2), repeat=4):
        expected = 0.0
        for a in range(2):
            left = sum(w[0, a, b] * v[0, b, d1] * v[1, b, d2] for b in range(3))
            right = sum(w[1, a, b] * v[2, b, d3] * v[3, b, d4] for b in range(3))
            expected += top[a] * left * right
        assert tensor[d1, d2, d3, d4] == pytest.approx(expected, rel=RTOL, abs=1e-13)


@pytest.mark.parametrize(
    "N, M, ranks, Y, shared",
    [(2, 3, (2,), 1, False), (4, 3, (2, 3), 2, False), (8, 2, (2, 1, 3), 2, True), (16, 2, (1, 2, 1, 2), 1, False)],
)
def test_ht_tensor_matches_naive_recursion(N, M, ranks, Y, shared):
    model = random_ht_model(N, M, ranks, Y=Y, shared=shared, seed=14)
    assert model.ranks == ranks
    assert (model.N, model.M, model.L, model.Y) == (N, M, N.bit_length() - 1, Y)
    for y in range(Y):
        np.testing.assert_allclose(model.tensor(y), naive_ht_tensor(model, y), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("N, M, Z, Y, shared", [(2, 3, 2, 1, False), (4, 2, 3, 2, True), (8, 3, 4, 3, False)])
def test_ht_from_cp_equals_cp_tensor(N, M, Z, Y, shared):
    cp = random_cp_model(N, M, Z, Y=Y, shared=shared, seed=15)
    ht = ht_from_cp(cp)
    assert ht.ranks == (Z,) * (N.bit_length() - 1)
    assert ht.shared == shared
    for y in range(Y):
        np.testing.assert_allclose(ht.tensor(y), cp.tensor(y), rtol=1e-11, atol=1e-13)


def test_all_ones_weights_miss_cp_tensor():
    # The thesis' proof sets every level-1 weight to 1; that mixes the components and does not
    # reproduce the CP tensor, which is why ht_from_cp uses selector weights.
    cp = random_cp_model(4, 3, 2, seed=16)
    selector = ht_from_cp(cp)
    ones = HTModel(leaves=selector.leaves, inner=(np.ones_like(selector.inner[0]),), top=selector.top)
    assert not np.allclose(ones.tensor(), cp.tensor())


def test_ht_from_cp_extra_coefficients_match_formula():
    for N, Z in [(2, 3), (4, 3), (8, 5), (16, 2)]:
        cp = random_cp_model(N, 3, Z, Y=2, seed=17)
        assert ht_from_cp(cp).parameter_count() - cp.parameter_count() == ht_extra_coefficients_for_cp(N, Z)


@pytest.mark.parametrize("N, Z", [(2, 1), (4, 3), (8, 2), (16, 7), (64, 5)])
def test_extra_coefficients_closed_forms_agree(N, Z):
    L = N.bit_length() - 1
    thesis = N * Z**2 * (2 ** (L - 1) - 1) / 2 ** (L - 1)
    assert ht_extra_coefficients_for_cp(N, Z) == thesis == (N - 2) * Z**2


def count_arrays(model, shared: bool) -> int:
    if isinstance(model, CPModel):
        arrays = [model.vectors[0] if shared else model.vectors, model.weights]
    else:
        arrays = [model.leaves[0] if shared else model.leaves]
        arrays += [a[0] if shared else a for a in model.inner] + [model.top]
    return sum(array.size for array in arrays)


@settings(max_examples=40, deadline=None)
@given(
    L=st.integers(1, 4),
    M=st.integers(1, 4),
    rank_list=st.lists(st.integers(1, 3), min_size=4, max_size=4),
    Y=st.integers(1, 3),
    shared=st.booleans(),
)
def test_ht_parameter_count_matches_arrays(L, M, rank_list, Y, shared):
    N = 2**L
    ranks = tuple(rank_list[:L])
    model = random_ht_model(N, M, ranks, Y=Y, shared=shared, seed=L)
    assert model.parameter_count() == count_arrays(model, shared)
    assert ht_parameter_count(N, M, ranks, Y, shared=shared) == count_arrays(model, shared)


@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 6), M=st.integers(1, 4), Z=st.integers(1, 5), Y=st.integers(1, 3), shared=st.booleans())
def test_cp_parameter_count_matches_arrays(N, M, Z, Y, shared):
    model = random_cp_model(N, M, Z, Y=Y, shared=shared, seed=N)
    assert model.parameter_count() == count_arrays(model, shared)
    assert cp_parameter_count(N, M, Z, Y, shared=shared) == count_arrays(model, shared)


@pytest.mark.parametrize("L, M, r, Y", [(1, 3, 2, 1), (2, 5, 3, 4), (4, 100, 2, 10)])
def test_ht_count_equal_ranks_closed_form(L, M, r, Y):
    N = 2**L
    expected = M * r * N + N * r**2 * (2 ** (L - 1) - 1) / 2 ** (L - 1) + r * Y
    assert ht_parameter_count(N, M, (r,) * L, Y) == expected


def test_shared_models_repeat_arrays():
    cp = random_cp_model(4, 3, 2, shared=True, seed=18)
    ht = random_ht_model(8, 3, (2, 2, 2), shared=True, seed=18)
    assert all(np.array_equal(cp.vectors[0], v) for v in cp.vectors)
    for array in (ht.leaves,) + ht.inner:
        assert all(np.array_equal(array[0], part) for part in array)


def test_same_seed_same_model_and_integer_draws():
    first, second = random_ht_model(4, 3, (2, 2), seed=5), random_ht_model(4, 3, (2, 2), seed=5)
    np.testing.assert_array_equal(first.tensor(), second.tensor())
    assert not np.array_equal(first.tensor(), random_ht_model(4, 3, (2, 2), seed=6).tensor())
    integer = random_cp_model(4, 3, 2, seed=5, integers=4)
    assert np.array_equal(integer.vectors, np.round(integer.vectors))
    assert np.abs(integer.vectors).max() <= 4


@pytest.mark.parametrize(
    "call, error, fragment",
    [
        (lambda: random_ht_model(6, 3, (2, 2)), ValueError, "power of two"),
        (lambda: random_ht_model(4, 3, (2,)), ValueError, "L=2"),
        (lambda: random_ht_model(4, 3, 2), TypeError, "sequence"),
        (lambda: random_ht_model(4, 0, (2, 2)), ValueError, "M=0"),
        (lambda: random_cp_model(4, 3, 2.5), TypeError, "Z=2.5"),
        (lambda: random_cp_model(4, 3, 2).tensor(1), ValueError, "y=1"),
        (lambda: CPModel(np.ones((1, 2)), np.ones((3, 4, 2))), ValueError, "Z must agree"),
        (lambda: CPModel(np.ones((1, 2)), np.random.default_rng(0).random((3, 2, 2)), shared=True), ValueError, "shared"),
        (lambda: CPModel(np.ones((1, 2)), np.full((2, 2, 2), np.nan)), ValueError, "NaN"),
        (lambda: HTModel(np.ones((4, 2, 3)), (), np.ones((1, 2))), ValueError, "inner levels"),
        (lambda: HTModel(np.ones((4, 2, 3)), (np.ones((2, 2, 3)),), np.ones((1, 2))), ValueError, "inner[0]"),
        (lambda: HTModel(np.ones((2, 2, 3)), (), np.ones((1, 3))), ValueError, "top"),
        (lambda: ht_from_cp(random_cp_model(3, 2, 2)), ValueError, "power of two"),
        (lambda: ht_from_cp("cp"), TypeError, "CPModel"),
    ],
)
def test_invalid_arguments_raise(call, error, fragment):
    with pytest.raises(error, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        call()


@settings(max_examples=30, deadline=None)
@given(
    L=st.integers(1, 3),
    M=st.integers(1, 3),
    Z=st.integers(1, 4),
    Y=st.integers(1, 2),
    shared=st.booleans(),
    seed=st.integers(0, 10**6),
)
def test_ht_from_cp_equals_cp_on_random_draws(L, M, Z, Y, shared, seed):
    cp = random_cp_model(2**L, M, Z, Y=Y, shared=shared, seed=seed)
    ht = ht_from_cp(cp)
    for y in range(Y):
        np.testing.assert_allclose(ht.tensor(y), cp.tensor(y), rtol=1e-10, atol=1e-12)
