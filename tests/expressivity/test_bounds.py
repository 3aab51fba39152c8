"""Eckart-Young lower bound against closed forms and against TensorLy parafac fits."""

import numpy as np
import pytest
import tensorly as tl
from hypothesis import given, settings
from hypothesis import strategies as st

from tfg_lib.expressivity import (
    cp_approximation_lower_bound,
    cp_approximation_sweep,
    eckart_young_bounds,
    fit_cp,
    random_cp_model,
    random_ht_model,
)


def planted_tensor(singular_values: np.ndarray, seed: int = 0) -> np.ndarray:
    """A 4-mode tensor of shape (3, 3, 3, 3) whose matricization has the given spectrum."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((9, 9)))
    v, _ = np.linalg.qr(rng.standard_normal((9, 9)))
    matrix = u @ np.diag(singular_values) @ v.T
    # rows (d1, d3), columns (d2, d4): undo matricize's transpose (0, 2, 1, 3).
    return matrix.reshape(3, 3, 3, 3).transpose(0, 2, 1, 3)


def test_bound_matches_planted_spectrum():
    sigma = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.25, 0.0, 0.0])
    tensor = planted_tensor(sigma)
    for Z in range(10):
        expected = np.sqrt(np.sum(sigma[Z:] ** 2))
        assert cp_approximation_lower_bound(tensor, Z) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # Z = 0: the whole norm; Z past the rank: zero.
    assert cp_approximation_lower_bound(tensor, 0) == pytest.approx(np.linalg.norm(tensor), rel=1e-12)
    assert cp_approximation_lower_bound(tensor, 20) == 0.0


def test_bound_vanishes_for_cp_tensor_at_its_z():
    model = random_cp_model(4, 3, 4, seed=201)
    tensor = model.tensor()
    assert cp_approximation_lower_bound(tensor, 4) <= 1e-12 * np.linalg.norm(tensor)
    assert cp_approximation_lower_bound(tensor, 3) > 1e-3 * np.linalg.norm(tensor)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), shape=st.sampled_from([(2, 3), (3, 2, 2), (2, 2, 2, 2)]))
def test_bounds_decrease_in_z_and_stay_below_norm(seed, shape):
    tensor = np.random.default_rng(seed).standard_normal(shape)
    bounds = eckart_young_bounds(tensor, list(range(6)))
    assert bounds[0] == pytest.approx(np.linalg.norm(tensor), rel=1e-12)
    assert np.all(np.diff(bounds) <= 1e-12)
    assert np.all(bounds >= 0)


@pytest.mark.parametrize("Z", [1, 2, 4, 6])
def test_parafac_error_never_below_bound(Z):
    tensor = random_ht_model(4, 3, (3, 3), seed=202).tensor()
    fit = fit_cp(tensor, Z, n_init=2, seed=3, n_iter_max=60)
    bound = cp_approximation_lower_bound(tensor, Z) / np.linalg.norm(tensor)
    assert fit.relative_error >= bound - 1e-12
    assert all(error >= bound - 1e-12 for error in fit.errors)
    assert fit.relative_error == min(fit.errors)


def test_fit_error_recomputed_from_full_tensor():
    tensor = random_ht_model(4, 3, (2, 2), seed=203).tensor()
    fit = fit_cp(tensor, 3, n_init=1, n_iter_max=40)
    rebuilt = tl.cp_to_tensor((fit.weights, list(fit.factors)))
    assert fit.relative_error == pytest.approx(np.linalg.norm(tensor - rebuilt) / np.linalg.norm(tensor), rel=1e-12)
    assert [factor.shape for factor in fit.factors] == [(3, 3)] * 4


def test_fit_recovers_exact_cp_tensor():
    tensor = random_cp_model(3, 4, 2, seed=204).tensor()
    fit = fit_cp(tensor, 2, n_init=3, n_iter_max=500, tol=1e-14)
    assert fit.relative_error < 1e-6


def test_pytorch_backend_matches_numpy():
    tensor = random_ht_model(4, 2, (2, 2), seed=205).tensor()
    numpy_fit = fit_cp(tensor, 2, n_init=1, n_iter_max=15, backend="numpy")
    torch_fit = fit_cp(tensor, 2, n_init=1, n_iter_max=15, backend="pytorch")
    assert torch_fit.relative_error == pytest.approx(numpy_fit.relative_error, rel=1e-8)


def test_sweep_table_columns_and_gap():
    tensor = random_ht_model(4, 2, (2, 2), seed=206).tensor()
    table = cp_approximation_sweep(tensor, [1, 2, 4, 5], n_init=2, n_iter_max=50, progress=False)
    assert list(table["Z"]) == [1, 2, 4, 5]
    assert np.all(table["relative_error"] >= table["lower_bound"] - 1e-12)
    assert np.all(table["worst_error"] >= table["relative_error"])
    # rank[A] = 4, so the bound is zero from Z = 4 on.
    assert table.loc[table["Z"] >= 4, "lower_bound"].max() < 1e-12
    np.testing.assert_allclose(table["gap"], table["relative_error"] - table["lower_bound"])


@pytest.mark.parametrize(
    "call, error, fragment",
    [
        (lambda: cp_approximation_lower_bound(np.ones((2, 2)), -1), ValueError, "Z=-1"),
        (lambda: cp_approximation_lower_bound(np.ones(3), 1), ValueError, "at least 2 modes"),
        (lambda: fit_cp(np.ones((2, 2)), 0), ValueError, "Z=0"),
        (lambda: fit_cp(np.zeros((2, 2)), 1), ValueError, "zero"),
        (lambda: fit_cp(np.ones((2, 2)), 1, backend="jax"), ValueError, "backend"),
        (lambda: fit_cp(np.ones((2, 2)), 1, l2_reg=-1.0), ValueError, "l2_reg"),
    ],
)
def test_invalid_fit_arguments_raise(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


def test_sweep_marks_errors_above_smaller_z_as_stalled():
    # One ALS iteration from a random start leaves some Z worse than a smaller Z.
    tensor = random_ht_model(4, 3, (3, 3), seed=207).tensor()
    table = cp_approximation_sweep(tensor, [1, 2, 3, 4, 5, 6], n_init=1, n_iter_max=1, progress=False)
    best_before = table["relative_error"].cummin().shift(1, fill_value=np.inf)
    np.testing.assert_array_equal(table["stalled"], table["relative_error"] > best_before)
    assert not table["stalled"].iloc[0]
