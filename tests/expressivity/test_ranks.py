"""Matricization and the three rank paths: index loops, TensorLy, exact rational ranks."""

import itertools
import warnings
from fractions import Fraction

import numpy as np
import pytest
import tensorly as tl
from hypothesis import given, settings
from hypothesis import strategies as st

from tfg_lib.expressivity import (
    DEFAULT_PRIME,
    HTModel,
    UntrustworthyRankWarning,
    certified_rank,
    cp_rank_bound,
    dense_rank,
    ht_from_cp,
    ht_rank_bound,
    matricization_rank,
    matricize,
    random_cp_model,
    random_ht_model,
    structured_core,
    structured_rank,
)
from tfg_lib.expressivity.ranks import rank_from_spectrum


def exact_rank(matrix: np.ndarray) -> int:
    """Rank over the rationals by Gaussian elimination on Fractions."""
    rows = [[Fraction(int(x)) for x in row] for row in matrix]
    rank, columns = 0, len(rows[0]) if rows else 0
    for column in range(columns):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][column] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(rank + 1, len(rows)):
            factor = rows[i][column] / rows[rank][column]
            rows[i] = [a - factor * b for a, b in zip(rows[i], rows[rank])]
        rank += 1
    return rank


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4), (2, 3, 2, 4), (3, 2, 2, 3, 2)])
def test_matricize_matches_index_loop(shape):
    tensor = np.random.default_rng(1).standard_normal(shape)
    matrix = matricize(tensor)
    odd, even = shape[0::2], shape[1::2]
    assert matrix.shape == (int(np.prod(odd)), int(np.prod(even)))
    for index in itertools.product(*(range(s) for s in shape)):
        row = np.ravel_multi_index(index[0::2], odd)  # first odd mode slowest
        column = np.ravel_multi_index(index[1::2], even)
        assert matrix[row, column] == tensor[index]


@pytest.mark.parametrize("N", [2, 4, 6])
def test_matricize_matches_tensorly(N):
    tensor = np.random.default_rng(2).standard_normal((3,) * N)
    reference = tl.base.matricize(tensor, row_modes=list(range(0, N, 2)), column_modes=list(range(1, N, 2)))
    np.testing.assert_array_equal(matricize(tensor), reference)


def test_matricize_rejects_vectors():
    with pytest.raises(ValueError, match="at least 2 modes"):
        matricize(np.ones(3))


@pytest.mark.parametrize(
    "N, M, ranks, shared",
    [
        (2, 3, (2,), False),
        (4, 3, (2, 2), False),
        (4, 2, (3, 1), True),
        (8, 2, (2, 3, 1), False),
        (8, 3, (2, 2, 2), True),
        (8, 4, (3, 2, 2), False),
    ],
)
def test_three_paths_agree_with_bound(N, M, ranks, shared):
    model = random_ht_model(N, M, ranks, shared=shared, seed=101, integers=1000)
    bound = ht_rank_bound(N, M, ranks[0])
    dense = dense_rank(model)
    structured = structured_rank(model)
    certified = certified_rank(model)
    certified_core = certified_rank(model, structured=True)
    assert dense.trustworthy and structured.trustworthy
    assert dense.rank == structured.rank == certified.rank == certified_core.rank == bound
    assert certified.exact and certified_core.exact
    assert certified_core.side == min(ranks[0], M) ** (N // 2)


@pytest.mark.parametrize("N, M, r0", [(4, 3, 2), (4, 2, 3), (8, 2, 2), (8, 3, 2)])
def test_structured_spectrum_equals_dense(N, M, r0):
    model = random_ht_model(N, M, (r0,) * (N.bit_length() - 1), seed=102)
    dense = np.linalg.svd(matricize(model.tensor()), compute_uv=False)
    core = np.linalg.svd(structured_core(model), compute_uv=False)
    count = core.size
    np.testing.assert_allclose(core, dense[:count], rtol=1e-9, atol=1e-12 * dense[0])
    assert np.all(dense[count:] <= 1e-12 * dense[0])


@settings(max_examples=25, deadline=None)
@given(L=st.integers(1, 3), M=st.integers(1, 3), r0=st.integers(1, 3), seed=st.integers(0, 10**6))
def test_generic_ht_rank_equals_bound(L, M, r0, seed):
    N = 2**L
    model = random_ht_model(N, M, (r0,) * L, seed=seed, integers=10**4)
    certified = certified_rank(model)
    assert certified.rank <= ht_rank_bound(N, M, r0)
    assert certified.rank == ht_rank_bound(N, M, r0)


@settings(max_examples=25, deadline=None)
@given(L=st.integers(1, 2), M=st.integers(1, 3), r0=st.integers(1, 3), seed=st.integers(0, 10**6))
def test_certified_rank_never_exceeds_rational_rank(L, M, r0, seed):
    # Small entries make rank deficiency (a zero weight) frequent, so both outcomes occur.
    model = random_ht_model(2**L, M, (r0,) * L, seed=seed, integers=1)
    matrix = matricize(model.tensor()).round().astype(np.int64)
    rational = exact_rank(matrix)
    assert certified_rank(model, prime=7).rank <= rational
    assert certified_rank(model).rank == rational
    assert rational <= ht_rank_bound(2**L, M, r0)


def test_certified_rank_small_prime_can_lose_rank():
    # det [[1, 0], [0, 7]] = 7 vanishes modulo 7: the certified value is only a lower bound.
    tensor = np.array([[1, 0], [0, 7]])
    assert certified_rank(tensor, prime=7).rank == 1
    assert certified_rank(tensor).rank == 2
    assert certified_rank(tensor).exact


@pytest.mark.parametrize("N, M, Z, shared", [(4, 3, 2, False), (4, 3, 8, True), (4, 3, 12, False), (8, 2, 5, False), (8, 2, 9, True)])
def test_cp_rank_paths_agree_with_bound(N, M, Z, shared):
    model = random_cp_model(N, M, Z, shared=shared, seed=103, integers=1000)
    bound = cp_rank_bound(N, M, Z, shared)
    assert dense_rank(model).rank == bound
    assert certified_rank(model).rank == bound
    assert certified_rank(model, structured=True).rank == bound
    assert structured_rank(model).rank == bound
    assert structured_rank(ht_from_cp(model)).rank == bound


def test_shared_cp_bound_is_symmetric_dimension():
    # N = 4, M = 3: the columns live in symmetric 3x3 matrices, a space of dimension 6.
    assert cp_rank_bound(4, 3, 100, shared=True) == 6
    assert cp_rank_bound(4, 3, 100, shared=False) == 9


def test_float_rank_flagged_where_certified_rank_differs():
    # N = 16, M = 2, r_0 = 2 with shared integer weights: the smallest singular value of the
    # 256 x 256 matricization is about 6e-13 sigma_1, under numpy's threshold 256 * eps.
    model = random_ht_model(16, 2, (2, 2, 2, 2), shared=True, seed=39, integers=1000)
    dense = dense_rank(model)
    assert dense.rank == 255
    assert not dense.trustworthy
    assert dense.rank == np.linalg.matrix_rank(matricize(model.tensor()))
    certified = certified_rank(model, structured=True)
    assert certified.rank == 256
    assert certified.exact
    with pytest.warns(UntrustworthyRankWarning, match="not trustworthy"):
        assert matricization_rank(model, method="dense") == 255
    assert matricization_rank(model, method="certified") == 256
    assert matricization_rank(model) == 256


def test_rank_verdict_on_planted_spectrum():
    clear = rank_from_spectrum(np.array([1.0, 0.5, 1e-3, 1e-17]), (4, 4))
    assert (clear.rank, clear.trustworthy) == (3, True)
    assert clear.largest_dropped == pytest.approx(1e-17)
    close = rank_from_spectrum(np.array([1.0, 0.5, 1e-14, 1e-17]), (4, 4))
    assert (close.rank, close.trustworthy) == (3, False)
    zero = rank_from_spectrum(np.zeros(3), (3, 3))
    assert (zero.rank, zero.trustworthy) == (0, True)
    nothing_counted = rank_from_spectrum(np.array([1.0, 0.5]), (2, 2), rtol=1.0)
    assert (nothing_counted.rank, nothing_counted.trustworthy) == (0, False)
    assert nothing_counted.smallest_counted == 0.0


def test_dense_rank_accepts_torch_tensor():
    import torch

    matrix = torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=torch.float64)
    assert dense_rank(matrix).rank == 1
    assert matricization_rank(matrix) == 1


def test_dense_rank_rtol_and_margin():
    matrix = np.diag([1.0, 1e-6, 1e-9])
    assert dense_rank(matrix).rank == 3
    assert dense_rank(matrix, rtol=1e-7).rank == 2
    assert not dense_rank(matrix, rtol=3e-8, margin=100.0).trustworthy
    assert dense_rank(matrix, rtol=3e-8, margin=5.0).trustworthy


def test_certified_rank_uses_float_parameters_exactly():
    # N = 2: [A] = V_1^T diag(top) V_2. Leaf row 3 is 0.1 * row 1 + 0.3 * row 2 in float64
    # arithmetic, so the exact rank (over the rationals of the stored floats) is computed with
    # Fractions, from the same parameters, as the reference.
    rng = np.random.default_rng(105)
    leaves = rng.standard_normal((2, 3, 4))
    leaves[0, 2] = 0.1 * leaves[0, 0] + 0.3 * leaves[0, 1]
    model = HTModel(leaves=leaves, inner=(), top=rng.standard_normal((1, 3)))
    left = [[Fraction(float(x)) for x in row] for row in leaves[0]]
    right = [[Fraction(float(x)) for x in row] for row in leaves[1]]
    top = [Fraction(float(x)) for x in model.top[0]]
    exact = [
        [sum(left[a][d] * top[a] * right[a][e] for a in range(3)) for e in range(4)] for d in range(4)
    ]
    common = np.lcm.reduce([value.denominator for row in exact for value in row])
    integer_matrix = np.array([[int(value * common) for value in row] for row in exact], dtype=object)
    assert certified_rank(model).rank == exact_rank(integer_matrix)
    assert certified_rank(model, structured=True).rank == exact_rank(integer_matrix)


@pytest.mark.parametrize("N, M, ranks", [(4, 3, (2, 2)), (8, 3, (3, 2, 2)), (16, 2, (2, 2, 2, 2)), (16, 100, (2, 1, 1, 2))])
def test_auto_rank_of_float_models_is_bound(N, M, ranks):
    model = random_ht_model(N, M, ranks, seed=106)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrustworthyRankWarning)
        assert matricization_rank(model) == ht_rank_bound(N, M, ranks[0])
        assert certified_rank(model, structured=True).exact


def test_matricization_rank_methods_on_ht():
    model = random_ht_model(8, 3, (2, 2, 2), Y=2, seed=104, integers=1000)
    for method in ("auto", "dense", "structured", "certified"):
        assert matricization_rank(model, method=method, y=1) == 16


@pytest.mark.parametrize(
    "call, error, fragment",
    [
        (lambda: matricization_rank(np.eye(2), method="svd"), ValueError, "method='svd'"),
        (lambda: certified_rank(np.array([[0.5, 1.0], [1.0, 2.0]])), ValueError, "integer"),
        (lambda: certified_rank(np.eye(2), y=0, structured=True), TypeError, "HTModel"),
        (lambda: certified_rank(np.eye(2), prime=15), ValueError, "prime=15"),
        (lambda: certified_rank(np.eye(2), prime=2**61 - 1), ValueError, "2\\^31"),
        (lambda: structured_rank(np.eye(2)), TypeError, "dense_rank"),
        (lambda: dense_rank(np.eye(2), rtol=-1.0), ValueError, "rtol"),
        (lambda: dense_rank(np.full((2, 2), np.inf)), ValueError, "NaN or infinite"),
        (lambda: dense_rank("matrix"), TypeError, "numeric array"),
    ],
)
def test_invalid_rank_arguments_raise(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


def test_default_prime_is_prime():
    import flint

    assert flint.fmpz(DEFAULT_PRIME).is_prime()


def test_auto_rank_warns_below_bound():
    model = random_ht_model(2, 3, (2,), seed=107)
    deficient = HTModel(leaves=model.leaves, inner=(), top=np.array([[1.5, 0.0]]))
    with pytest.warns(UntrustworthyRankWarning, match="below the upper bound"):
        assert matricization_rank(deficient) == 1


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 3), min_size=2, max_size=6), seed=st.integers(0, 10**6))
def test_matricize_matches_tensorly_on_random_shapes(shape, seed):
    tensor = np.random.default_rng(seed).standard_normal(shape)
    modes = range(len(shape))
    reference = tl.base.matricize(tensor, row_modes=list(modes[0::2]), column_modes=list(modes[1::2]))
    np.testing.assert_array_equal(matricize(tensor), reference)
