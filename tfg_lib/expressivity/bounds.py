"""Approximation of a tensor by a CP model with Z components: a proven bound and ALS fits.

For any tensor B with at most Z CP components, rank[B] <= Z, so by the Eckart-Young theorem on
the odd/even matricization ``||A - B||_F >= sqrt(sum_{i>Z} sigma_i([A])^2)``. This is the
numerical form of the corollary of Cohen, Sharir and Shashua (2016): an HT tensor with
rank[A] = r^(N/2) cannot be approximated arbitrarily well with fewer components. TensorLy's
``parafac`` (alternating least squares) gives upper bounds from actual fits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tfg_lib.expressivity.models import CPModel, HTModel
from tfg_lib.expressivity.ranks import matricize

logger = logging.getLogger(__name__)

BACKENDS = ("numpy", "pytorch")


def _tensor_of(source: object, y: int = 0) -> np.ndarray:
    if isinstance(source, (CPModel, HTModel)):
        return source.tensor(y)
    tensor = np.asarray(source, dtype=np.float64)
    if tensor.ndim < 2:
        raise ValueError(f"tensor has shape {tensor.shape}; pass a tensor with at least 2 modes.")
    if not np.all(np.isfinite(tensor)):
        raise ValueError("tensor contains NaN or infinite entries; pass finite values.")
    return tensor


def _check_components(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} must be an int.")
    if value < minimum:
        raise ValueError(f"{name}={value} is invalid; it must be at least {minimum}.")
    return int(value)


def eckart_young_bounds(tensor: object, Z_values: object) -> np.ndarray:
    """Return ``sqrt(sum_{i>Z} sigma_i([A])^2)`` for every Z in ``Z_values``, from one SVD.

    Parameters
    ----------
    tensor : array_like or CPModel or HTModel
        The tensor A (class 0 of a model).
    Z_values : sequence of int
        Numbers of components, each at least 0.
    """
    tensor = _tensor_of(tensor)
    Z_values = [_check_components("Z", Z, 0) for Z in np.atleast_1d(np.asarray(Z_values, dtype=object))]
    values = np.linalg.svd(matricize(tensor), compute_uv=False)
    # tail[k] = sum_{i >= k} sigma_i^2 (0-based), so the bound for Z is sqrt(tail[Z]).
    tail = np.concatenate([np.cumsum((values**2)[::-1])[::-1], [0.0]])
    return np.array([np.sqrt(tail[min(Z, values.size)]) for Z in Z_values])


def cp_approximation_lower_bound(tensor: object, Z: int) -> float:
    """Lower-bound ``||A - B||_F`` over all tensors B with at most Z CP components.

    ``sqrt(sum_{i>Z} sigma_i^2)`` over the singular values of the odd/even matricization [A]
    (Eckart-Young, because rank[B] <= Z). Zero when Z >= rank[A].

    Parameters
    ----------
    tensor : array_like or CPModel or HTModel
        The tensor A (class 0 of a model).
    Z : int
        Number of CP components, at least 0.
    """
    return float(eckart_young_bounds(tensor, [Z])[0])


@dataclass(frozen=True)
class CPFit:
    """The best of several ALS fits of one tensor with Z components.

    Attributes
    ----------
    Z : int
        Components.
    relative_error : float
        ``||A - B||_F / ||A||_F`` of the best fit, recomputed from the full tensor.
    errors : tuple of float
        The same for every initialisation, in order.
    iterations : tuple of int
        ALS iterations per initialisation.
    hit_cap : tuple of bool
        Whether an initialisation ran until ``n_iter_max`` without meeting ``tol``.
    l2_reg : tuple of float
        The ridge term each initialisation ended up using.
    weights, factors :
        The best fit as TensorLy returns it (numpy arrays): factors[i] has shape (M, Z).
    """

    Z: int
    relative_error: float
    errors: tuple[float, ...]
    iterations: tuple[int, ...]
    hit_cap: tuple[bool, ...]
    l2_reg: tuple[float, ...]
    weights: np.ndarray = field(repr=False)
    factors: tuple[np.ndarray, ...] = field(repr=False)


def _parafac_once(tensor, Z, seed, n_iter_max, tol, l2_reg, backend):
    import tensorly as tl
    from tensorly.decomposition import parafac

    with tl.backend_context(backend):
        if backend == "pytorch":
            import torch

            data = torch.as_tensor(tensor, dtype=torch.float64)
        else:
            data = np.asarray(tensor, dtype=np.float64)
        cp, errors = parafac(
            data,
            rank=Z,
            init="random",
            random_state=seed,
            n_iter_max=n_iter_max,
            tol=tol,
            l2_reg=l2_reg,
            return_errors=True,
        )
        weights = np.asarray(tl.to_numpy(cp.weights), dtype=np.float64)
        factors = tuple(np.asarray(tl.to_numpy(f), dtype=np.float64) for f in cp.factors)
    return weights, factors, len(errors)


def fit_cp(
    tensor: object,
    Z: int,
    n_init: int = 3,
    seed: int = 0,
    n_iter_max: int = 500,
    tol: float = 1e-12,
    l2_reg: float = 0.0,
    fallback_l2_reg: float = 1e-10,
    backend: str = "numpy",
) -> CPFit:
    """Fit A with Z CP components by TensorLy's ``parafac`` from several random starts.

    The error is recomputed as ``||A - cp_to_tensor(fit)||_F / ||A||_F`` because parafac's own
    running error is computed from norms by subtraction and loses precision below about 1e-8.
    When ALS meets a singular normal-equation system (a ``LinAlgError``), that start is rerun
    with ``l2_reg = fallback_l2_reg * ||A||_F^2``, and the ridge used is recorded.

    Parameters
    ----------
    tensor : array_like or CPModel or HTModel
        The tensor A (class 0 of a model), float64.
    Z : int
        Components, at least 1.
    n_init : int
        Random initialisations; start k uses ``random_state = seed + k``.
    seed : int
        First random state.
    n_iter_max, tol : int, float
        Passed to ``parafac`` (``tol`` on the change of its running error).
    l2_reg : float
        Ridge term for every start (0 = plain ALS).
    fallback_l2_reg : float
        Relative ridge for starts that hit a singular system.
    backend : {"numpy", "pytorch"}
        TensorLy backend; the computation runs in float64 either way.
    """
    tensor = _tensor_of(tensor)
    Z = _check_components("Z", Z, 1)
    n_init = _check_components("n_init", n_init, 1)
    n_iter_max = _check_components("n_iter_max", n_iter_max, 1)
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is invalid; use one of {', '.join(BACKENDS)}.")
    for name, value in (("tol", tol), ("l2_reg", l2_reg), ("fallback_l2_reg", fallback_l2_reg)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name}={value} is invalid; pass a finite float >= 0.")
    norm = float(np.linalg.norm(tensor))
    if norm == 0.0:
        raise ValueError("tensor is zero; its relative approximation error is undefined.")

    import tensorly as tl

    best = None
    errors, iterations, hit_cap, ridges = [], [], [], []
    for start in range(n_init):
        ridge = float(l2_reg)
        try:
            weights, factors, count = _parafac_once(tensor, Z, seed + start, n_iter_max, tol, ridge, backend)
        except np.linalg.LinAlgError:
            ridge = max(ridge, fallback_l2_reg * norm**2)
            logger.info("parafac Z=%d start %d hit a singular system; rerunning with l2_reg=%g", Z, start, ridge)
            weights, factors, count = _parafac_once(tensor, Z, seed + start, n_iter_max, tol, ridge, backend)
        with tl.backend_context("numpy"):
            approximation = tl.cp_to_tensor((weights, list(factors)))
        error = float(np.linalg.norm(tensor - approximation)) / norm
        errors.append(error)
        iterations.append(count)
        hit_cap.append(count >= n_iter_max)
        ridges.append(ridge)
        if best is None or error < best[0]:
            best = (error, weights, factors)
    return CPFit(
        Z=Z,
        relative_error=best[0],
        errors=tuple(errors),
        iterations=tuple(iterations),
        hit_cap=tuple(hit_cap),
        l2_reg=tuple(ridges),
        weights=best[1],
        factors=best[2],
    )


def cp_approximation_sweep(
    tensor: object,
    Z_values: object,
    n_init: int = 3,
    seed: int = 0,
    n_iter_max: int = 500,
    tol: float = 1e-12,
    l2_reg: float = 0.0,
    backend: str = "numpy",
    progress: bool = True,
) -> pd.DataFrame:
    """Fit A for every Z and set the fit errors beside the Eckart-Young lower bound.

    Returns
    -------
    DataFrame
        One row per Z: ``Z``, ``relative_error`` (best start), ``worst_error``,
        ``lower_bound`` (relative, ``bound / ||A||_F``), ``gap`` (relative_error -
        lower_bound), ``hit_cap`` (every start ran to n_iter_max), ``iterations`` (of the best
        start), ``l2_reg`` (largest ridge used) and ``stalled``: the best error exceeds the best
        error of a smaller Z. A fit with Z components can copy any fit with fewer (the extra
        components set to zero), so the optimal error never rises with Z, and a rise shows that
        ALS stopped in a swamp or a local minimum.
    """
    from tqdm.auto import tqdm

    tensor = _tensor_of(tensor)
    Z_values = [_check_components("Z", Z, 1) for Z in np.atleast_1d(np.asarray(Z_values, dtype=object))]
    norm = float(np.linalg.norm(tensor))
    bounds = eckart_young_bounds(tensor, Z_values) / norm
    rows = []
    for Z, bound in tqdm(list(zip(Z_values, bounds)), desc="parafac", disable=not progress):
        fit = fit_cp(tensor, Z, n_init=n_init, seed=seed, n_iter_max=n_iter_max, tol=tol,
                     l2_reg=l2_reg, backend=backend)
        best = int(np.argmin(fit.errors))
        rows.append({
            "Z": Z,
            "relative_error": fit.relative_error,
            "worst_error": max(fit.errors),
            "lower_bound": float(bound),
            "gap": fit.relative_error - float(bound),
            "hit_cap": all(fit.hit_cap),
            "iterations": fit.iterations[best],
            "l2_reg": max(fit.l2_reg),
        })
    table = pd.DataFrame(rows)
    order = table.sort_values("Z")
    best_smaller = order["relative_error"].cummin().shift(1, fill_value=np.inf)
    table["stalled"] = (order["relative_error"] > best_smaller).reindex(table.index)
    return table
