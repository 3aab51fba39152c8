"""The odd/even matricization [A] and three independent ways to its rank.

The matricization puts the odd modes (1, 3, 5, ... counting from 1) on the rows and the even modes
on the columns, the first odd mode varying slowest. This is the order of
``tensorly.base.matricize(tensor, row_modes=(0, 2, ...), column_modes=(1, 3, ...))``; it differs
from Kolda and Bader's unfolding, whose first index varies fastest. rank[A] is a lower bound on
the CP rank of A, and Theorem 1 of Cohen, Sharir and Shashua (2016) states that for a random HT
model it equals ``min(r_0, M)^(N/2)`` almost everywhere.

The three paths:

* **dense** (:func:`dense_rank`): build A^y, matricize, SVD in float64. Returns the spectrum and a
  verdict on whether the floating-point rank can be trusted.
* **certified** (:func:`certified_rank`): exact model parameters (integers, or floats scaled
  exactly to integers), rank modulo a prime with python-flint's ``nmod_mat``. The rank modulo p never exceeds the rank over the rationals, so it
  is a proven lower bound, and an exact rank when it reaches the upper bound.
* **structured** (:func:`structured_rank`): from the HT factors alone. Every level-1 node joins
  one odd and one even mode, so ``[phi^{1,j,g}] = V_{2j-1}^T diag(a^{1,j,g}) V_{2j}`` and higher
  levels are sums of Kronecker products of these. Writing each leaf matrix as
  ``V_i^T = Q_i B_i`` with orthonormal Q_i (M x s) and s = min(r_0, M) gives
  ``[A] = (⊗ Q_odd) C (⊗ Q_even)^T``: [A] and the core C of side s^(N/2) share their singular
  values, and M never enters the cost.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from tfg_lib.expressivity.models import CPModel, HTModel, _check_class, check_power_of_two, ht_from_cp

logger = logging.getLogger(__name__)

DEFAULT_PRIME = 2_147_483_647
"""2^31 - 1, the largest prime whose residues multiply without overflow in int64."""

DEFAULT_MARGIN = 100.0
"""Factor by which the smallest counted singular value must clear the rank threshold."""


class UntrustworthyRankWarning(RuntimeWarning):
    """A floating-point rank whose counted singular values come close to the rank threshold."""


# ----------------------------------------------------------------------------------------------
# matricization


def matricize(tensor: object) -> np.ndarray:
    """Matricize a tensor with odd modes as rows and even modes as columns.

    ``[A][(d_1, d_3, ...), (d_2, d_4, ...)] = A[d_1, d_2, ..., d_N]`` with d_1 varying slowest
    along the rows and d_2 slowest along the columns (C order).

    Parameters
    ----------
    tensor : array_like, at least 2 modes
        For N odd the rows hold one mode more than the columns.

    Returns
    -------
    ndarray of shape (prod of odd mode sizes, prod of even mode sizes)
    """
    array = np.asarray(tensor)
    if array.ndim < 2:
        raise ValueError(
            f"tensor has shape {array.shape}; matricization needs at least 2 modes."
        )
    odd = tuple(range(0, array.ndim, 2))
    even = tuple(range(1, array.ndim, 2))
    rows = math.prod(array.shape[mode] for mode in odd)
    return np.transpose(array, odd + even).reshape(rows, -1)


def ht_rank_bound(N: int, M: int, r0: int) -> int:
    """Return ``min(r_0, M)^(N/2)``, the rank of [A] for a generic HT model (Theorem 1).

    It is also an upper bound for every HT model, because [A] factors through the Kronecker
    product of the N/2 odd leaf matrices, each of rank at most min(r_0, M).
    """
    N = check_power_of_two(N)
    return min(int(r0), int(M)) ** (N // 2)


def cp_rank_bound(N: int, M: int, Z: int, shared: bool = False) -> int:
    """Return an upper bound on rank[A] for a CP model, reached by generic ones.

    ``min(Z, M^floor(N/2))``. With shared vectors every column of [A] is a sum of
    ``w^z ⊗ ... ⊗ w^z`` and so lies in the symmetric tensors of order floor(N/2), a space of
    dimension ``binom(M + floor(N/2) - 1, floor(N/2))`` (likewise for the rows), which caps the
    rank further.
    """
    half = N // 2
    if shared:
        return min(Z, math.comb(M + half - 1, half), math.comb(M + N - half - 1, N - half))
    return min(Z, M**half)


def rank_upper_bound(source: object) -> int:
    """Return an upper bound on rank[A]: min(r_0, M)^(N/2) for HT (see :func:`ht_rank_bound`),
    :func:`cp_rank_bound` for CP, the matrix side for a tensor."""
    if isinstance(source, HTModel):
        return ht_rank_bound(source.N, source.M, source.ranks[0])
    if isinstance(source, CPModel):
        return cp_rank_bound(source.N, source.M, source.Z, source.shared)
    return min(matricize(np.asarray(source)).shape)


def _dense_tensor(source: object, y: int) -> np.ndarray:
    if isinstance(source, (CPModel, HTModel)):
        return source.tensor(y)
    array = np.asarray(source)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise TypeError(
            f"source must be a CPModel, an HTModel or a numeric array, got "
            f"{type(source).__name__} with dtype {array.dtype}."
        )
    return array


# ----------------------------------------------------------------------------------------------
# dense path


@dataclass(frozen=True)
class DenseRank:
    """A floating-point rank with the spectrum it was read from.

    Attributes
    ----------
    rank : int
        Number of singular values above ``threshold * sigma_1``.
    singular_values : ndarray
        All singular values, largest first.
    threshold : float
        Relative threshold used.
    margin : float
        Factor by which the smallest counted singular value must clear the threshold.
    trustworthy : bool
        Whether every counted singular value is at least ``margin * threshold * sigma_1``. When
        False the rank may be wrong: roundoff of size about ``threshold * sigma_1`` can turn a
        genuine singular value into an apparent zero or the reverse, and only the certified path
        settles it.
    side : int
        min of the matrix's two dimensions.
    """

    rank: int
    singular_values: np.ndarray = field(repr=False)
    threshold: float
    margin: float
    trustworthy: bool
    side: int

    @property
    def relative_spectrum(self) -> np.ndarray:
        """sigma_k / sigma_1 for every k (all zeros for the zero matrix)."""
        if self.singular_values.size == 0 or self.singular_values[0] == 0:
            return np.zeros_like(self.singular_values)
        return self.singular_values / self.singular_values[0]

    @property
    def smallest_counted(self) -> float:
        """sigma_rank / sigma_1, or 0 when the rank is 0."""
        return float(self.relative_spectrum[self.rank - 1]) if self.rank else 0.0

    @property
    def largest_dropped(self) -> float:
        """sigma_{rank+1} / sigma_1, or 0 when the rank is full."""
        spectrum = self.relative_spectrum
        return float(spectrum[self.rank]) if self.rank < spectrum.size else 0.0


def _check_threshold(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}={value!r} must be a float.")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value} is invalid; pass a positive finite float.")
    return value


def rank_from_spectrum(
    singular_values: np.ndarray,
    shape: tuple[int, int],
    rtol: float | None = None,
    margin: float = DEFAULT_MARGIN,
) -> DenseRank:
    """Read a rank and its trust verdict from singular values of a matrix of ``shape``.

    The default relative threshold is numpy's, ``max(shape) * eps`` (``numpy.linalg.matrix_rank``
    in numpy 2.x), the size of the roundoff an SVD in float64 makes relative to sigma_1.
    """
    margin = _check_threshold("margin", margin)
    threshold = max(shape) * np.finfo(np.float64).eps if rtol is None else _check_threshold("rtol", rtol)
    values = np.sort(np.asarray(singular_values, dtype=np.float64))[::-1]
    top = values[0] if values.size else 0.0
    if top == 0.0:
        return DenseRank(0, values, threshold, margin, True, min(shape))
    relative = values / top
    rank = int(np.count_nonzero(relative > threshold))
    # NOTE: values below the threshold are taken as roundoff. float64 cannot tell a genuine
    # singular value near eps * sigma_1 from a zero, so the verdict only guards the counted side.
    if rank == 0:
        # No value clears the threshold (rtol >= 1), so trust rank 0 only if sigma_1 lies a
        # margin below the threshold.
        trustworthy = bool(margin * relative[0] <= threshold)
    else:
        trustworthy = bool(relative[rank - 1] >= margin * threshold)
    return DenseRank(rank, values, threshold, margin, trustworthy, min(shape))


def dense_rank(
    source: object,
    y: int = 0,
    rtol: float | None = None,
    margin: float = DEFAULT_MARGIN,
) -> DenseRank:
    """Build A^y, matricize it and read the rank from its float64 SVD.

    Parameters
    ----------
    source : CPModel, HTModel or array_like
        A model (class ``y`` is used) or the tensor itself.
    y : int
        Class index for models.
    rtol : float, optional
        Relative threshold on sigma_k / sigma_1; default ``max(shape) * eps``.
    margin : float
        The rank is reported trustworthy only if sigma_rank / sigma_1 >= margin * rtol.

    Examples
    --------
    With N = 16, M = 3 and r_0 = 3 the matrix is 6561 x 6561 of full rank, but its smallest
    singular values are near 1e-14 sigma_1, below the default threshold of about 1.5e-12; the
    rank comes out too small and ``trustworthy`` is False.
    """
    tensor = _dense_tensor(source, y if isinstance(source, (CPModel, HTModel)) else 0)
    matrix = matricize(np.asarray(tensor, dtype=np.float64))
    if not np.all(np.isfinite(matrix)):
        raise ValueError("the tensor contains NaN or infinite entries; pass finite values.")
    values = np.linalg.svd(matrix, compute_uv=False)
    return rank_from_spectrum(values, matrix.shape, rtol, margin)


# ----------------------------------------------------------------------------------------------
# certified path (exact arithmetic modulo a prime)


@dataclass(frozen=True)
class CertifiedRank:
    """A rank computed modulo a prime from exact (integer or exactly scaled float) parameters.

    Attributes
    ----------
    rank : int
        Rank of [A] modulo ``prime``; rank[A] over the rationals is at least this.
    prime : int
        The modulus.
    upper_bound : int
        A proven upper bound on rank[A] (matrix side, min(r_0, M)^(N/2) for HT, Z for CP).
    side : int
        Side of the matrix whose rank was computed (the core's for the structured variant).
    """

    rank: int
    prime: int
    upper_bound: int
    side: int

    @property
    def exact(self) -> bool:
        """Whether the certified lower bound meets the upper bound, fixing rank[A] exactly."""
        return self.rank == self.upper_bound


def _check_prime(prime: object) -> int:
    import flint

    if isinstance(prime, bool) or not isinstance(prime, (int, np.integer)):
        raise TypeError(f"prime={prime!r} must be an int.")
    prime = int(prime)
    if not 2 < prime <= DEFAULT_PRIME or not flint.fmpz(prime).is_prime():
        raise ValueError(
            f"prime={prime} is invalid; pass an odd prime of at most 2^31 - 1 (residue products "
            f"must fit in int64), for example the default {DEFAULT_PRIME}."
        )
    return prime


def _integer_array(name: str, array: np.ndarray, prime: int) -> np.ndarray:
    """Reduce an integer-valued array modulo ``prime``, or raise ``ValueError``."""
    values = np.asarray(array)
    if values.dtype.kind in "iu":
        return np.mod(values.astype(np.int64), prime)
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)) or not np.array_equal(values, np.round(values)) or (
        values.size and np.abs(values).max() >= 2.0**53
    ):
        raise ValueError(
            f"{name} has non-integer entries; the certified rank of a plain tensor needs exact "
            "integers. Pass the model instead (its float parameters are used exactly), or an "
            "integer tensor."
        )
    return np.mod(values.astype(np.int64), prime)


def _scaled_residues(name: str, array: np.ndarray, prime: int) -> np.ndarray:
    """Reduce ``2^k * array`` modulo ``prime``, with k the smallest shift that makes it integral.

    A float64 is the exact binary rational ``m * 2^e`` (m an integer below 2^53), so the scaled
    array is integral and computed here without rounding. Scaling one parameter array of a CP or
    HT model by a nonzero constant scales A^y by a nonzero constant (A^y is multilinear in the
    arrays), which leaves every rank unchanged.
    """
    values = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or infinite entries; pass finite values.")
    if np.array_equal(values, np.round(values)) and (not values.size or np.abs(values).max() < 2.0**53):
        return np.mod(values.astype(np.int64), prime)
    fraction, exponent = np.frexp(values)
    mantissa = (fraction * 2.0**53).astype(np.int64)  # exact: 53 significant bits
    exponent = exponent.astype(np.int64) - 53
    nonzero = mantissa != 0
    shift = np.where(nonzero, exponent - exponent[nonzero].min(), 0)
    residues = np.mod(mantissa, prime)
    for value in np.unique(shift):
        factor = pow(2, int(value), prime)
        selected = shift == value
        residues[selected] = residues[selected] * factor % prime
    return residues


def _mod_khatri_rao_rows(left: np.ndarray, right: np.ndarray, prime: int) -> np.ndarray:
    return (left[:, :, None] * right[:, None, :] % prime).reshape(left.shape[0], -1)


def _mod_weighted_sum(weights: np.ndarray, rows: np.ndarray, prime: int) -> np.ndarray:
    """``weights @ rows`` modulo ``prime`` without int64 overflow (one term at a time)."""
    result = np.zeros((weights.shape[0],) + rows.shape[1:], dtype=np.int64)
    for a in range(weights.shape[1]):
        term = weights[:, a].reshape((-1,) + (1,) * (rows.ndim - 1)) * rows[a][None] % prime
        result = (result + term) % prime
    return result


def _mod_rank(matrix: np.ndarray, prime: int) -> int:
    import flint

    rows, cols = matrix.shape
    return int(flint.nmod_mat(rows, cols, matrix.ravel().tolist(), prime).rank())


def _mod_ht_tensor(model: HTModel, y: int, prime: int) -> np.ndarray:
    phi = list(_scaled_residues("leaves", model.leaves, prime))
    for index, weights in enumerate(model.inner):
        weights = _scaled_residues(f"inner[{index}]", weights, prime)
        phi = [
            _mod_weighted_sum(weights[j], _mod_khatri_rao_rows(phi[2 * j], phi[2 * j + 1], prime), prime)
            for j in range(len(phi) // 2)
        ]
    top = _scaled_residues("top", model.top, prime)[y : y + 1]
    flat = _mod_weighted_sum(top, _mod_khatri_rao_rows(phi[0], phi[1], prime), prime)[0]
    return flat.reshape((model.M,) * model.N)


def _mod_cp_tensor(model: CPModel, y: int, prime: int) -> np.ndarray:
    vectors = _scaled_residues("vectors", model.vectors, prime)
    weights = _scaled_residues("weights", model.weights, prime)[y]
    flat = np.ones((model.Z, 1), dtype=np.int64)
    for i in range(model.N):
        flat = _mod_khatri_rao_rows(flat, vectors[i], prime)
    flat = _mod_weighted_sum(weights[None], flat, prime)[0]
    return flat.reshape((model.M,) * model.N)


def certified_rank(
    source: object,
    y: int = 0,
    prime: int = DEFAULT_PRIME,
    structured: bool = False,
) -> CertifiedRank:
    """Compute rank[A^y] modulo a prime from exact parameters, a proven lower bound.

    Every minor of an integer matrix that is nonzero modulo p is nonzero over the rationals, so
    ``rank_p([A]) <= rank_Q([A])``. When the result meets :func:`rank_upper_bound`, the rank is
    exact (``CertifiedRank.exact``). A result below the bound proves nothing about deficiency:
    the reduction modulo p can lose rank (for random entries, with a probability of roughly
    side/p, an estimate).

    A model's float parameters are used exactly: each parameter array is scaled by the power
    of two that makes it integral (the binary rationals float64 stores), which leaves the rank
    unchanged, so the result certifies the model as given and not a rounded copy of A^y.

    Parameters
    ----------
    source : CPModel, HTModel or integer array_like
        A model with any finite parameters, or a tensor with integer entries.
    y : int
        Class index for models.
    prime : int
        Odd prime of at most 2^31 - 1.
    structured : bool
        Use the HT core instead of the dense matricization (HT models, and CP models with N a
        power of two through :func:`ht_from_cp`). When every leaf matrix has full row rank r_0
        <= M modulo p, the core built with identity leaves has the same rank modulo p as [A].
    """
    prime = _check_prime(prime)
    if structured:
        return _certified_structured_rank(source, y, prime)
    if isinstance(source, HTModel):
        tensor = _mod_ht_tensor(source, _check_class(y, source.Y), prime)
    elif isinstance(source, CPModel):
        tensor = _mod_cp_tensor(source, _check_class(y, source.Y), prime)
    else:
        tensor = _integer_array("tensor", _dense_tensor(source, 0), prime)
    matrix = matricize(tensor)
    rank = _mod_rank(matrix, prime)
    return CertifiedRank(rank, prime, rank_upper_bound(source), min(matrix.shape))


# ----------------------------------------------------------------------------------------------
# structured path (from the HT factors)


def _as_ht(source: object, name: str = "source") -> HTModel:
    if isinstance(source, HTModel):
        return source
    if isinstance(source, CPModel):
        check_power_of_two(source.N)
        return ht_from_cp(source)
    raise TypeError(
        f"{name} must be an HTModel or a CPModel for the structured rank, got "
        f"{type(source).__name__}; use dense_rank for a plain tensor."
    )


def _kron_core(level1: list[list[np.ndarray]], upper: tuple, top: np.ndarray, combine) -> np.ndarray:
    """Run the HT recursion from matricized level-1 blocks up, with Kronecker products.

    ``upper`` contains the inner weights of levels 2..L-1 and ``top`` the weights of one class.
    """
    blocks = level1
    for weights in upper:
        blocks = [
            [
                combine(weights[j, g], blocks[2 * j], blocks[2 * j + 1])
                for g in range(weights.shape[1])
            ]
            for j in range(len(blocks) // 2)
        ]
    return combine(top, blocks[0], blocks[1])


def structured_core(model: object, y: int = 0) -> np.ndarray:
    """Build the core C with ``[A^y] = (⊗ Q_odd) C (⊗ Q_even)^T`` and orthonormal Q_i.

    Each leaf matrix is factored as ``V_i^T = Q_i B_i`` by a thin SVD (Q_i of shape (M, s),
    B_i of shape (s, r_0), s = min(r_0, M)), and C is the matricized HT tensor with leaves B_i.
    C has side s^(N/2) and the same singular values as [A^y].

    Parameters
    ----------
    model : HTModel or CPModel
        A CP model (N a power of two) goes through :func:`ht_from_cp`.
    y : int
        Class index.
    """
    model = _as_ht(model, "model")
    y = _check_class(y, model.Y)
    reduced = []
    for leaf in model.leaves:
        u, s, vt = np.linalg.svd(leaf.T, full_matrices=False)
        reduced.append(s[:, None] * vt)  # B_i = S W^T, shape (s, r_0)

    def combine_pair(weights, left, right):
        return sum(w * np.kron(lb, rb) for w, lb, rb in zip(weights, left, right))

    if model.L == 1:
        return reduced[0] @ np.diag(model.top[y]) @ reduced[1].T
    first = model.inner[0]
    level1 = [
        [reduced[2 * j] @ np.diag(first[j, g]) @ reduced[2 * j + 1].T for g in range(first.shape[1])]
        for j in range(model.N // 2)
    ]
    return _kron_core(level1, model.inner[1:], model.top[y], combine_pair)


def structured_rank(
    model: object,
    y: int = 0,
    rtol: float | None = None,
    margin: float = DEFAULT_MARGIN,
) -> DenseRank:
    """Compute rank[A^y] from the HT factors without building A^y.

    The SVD of :func:`structured_core` gives the singular values of [A^y], so the result carries
    the same spectrum and trust verdict as :func:`dense_rank`, at a cost that depends on
    min(r_0, M)^(N/2) and not on M^N. The default threshold is ``side * eps`` for the core's
    side, which equals :func:`dense_rank`'s when r_0 >= M; the roundoff of the full matrix's SVD
    (``M^(N/2) * eps``) does not arise here because the full matrix is never formed.
    """
    model = _as_ht(model, "model")
    core = structured_core(model, y)
    values = np.linalg.svd(core, compute_uv=False)
    return rank_from_spectrum(values, core.shape, rtol, margin)


def _certified_structured_rank(source: object, y: int, prime: int) -> CertifiedRank:
    model = _as_ht(source)
    y = _check_class(y, model.Y)
    leaves = _scaled_residues("leaves", model.leaves, prime)
    r0 = model.ranks[0]
    identity_leaves = r0 <= model.M and all(_mod_rank(leaf, prime) == r0 for leaf in leaves)
    if identity_leaves:
        # Full-rank leaf matrices make the Kronecker products of the leaves injective modulo p,
        # so [A] and the core with identity leaves have the same rank modulo p.
        leaves = np.broadcast_to(np.eye(r0, dtype=np.int64), (model.N, r0, r0))
    else:
        logger.info("leaf matrices are not of full row rank modulo %d; using the M-sided core", prime)

    def combine_pair(weights, left, right):
        shape = (left[0].shape[0] * right[0].shape[0], left[0].shape[1] * right[0].shape[1])
        total = np.zeros(shape, dtype=np.int64)
        for w, lb, rb in zip(weights, left, right):
            total = (total + int(w) * (np.kron(lb, rb) % prime) % prime) % prime
        return total

    def level1_block(j: int, weights: np.ndarray) -> np.ndarray:
        scaled = weights[:, None] * leaves[2 * j] % prime  # diag(w) V_{2j-1}
        return _mod_matmul(scaled.T, leaves[2 * j + 1], prime)

    if model.L == 1:
        core = level1_block(0, _scaled_residues("top", model.top, prime)[y])
    else:
        first = _scaled_residues("inner[0]", model.inner[0], prime)
        level1 = [
            [level1_block(j, first[j, g]) for g in range(first.shape[1])]
            for j in range(model.N // 2)
        ]
        upper = tuple(
            _scaled_residues(f"inner[{index}]", weights, prime)
            for index, weights in enumerate(model.inner[1:], start=1)
        )
        top = _scaled_residues("top", model.top, prime)[y]
        core = _kron_core(level1, upper, top, combine_pair)
    rank = _mod_rank(core, prime)
    return CertifiedRank(rank, prime, rank_upper_bound(source), min(core.shape))


def _mod_matmul(left: np.ndarray, right: np.ndarray, prime: int) -> np.ndarray:
    """``left @ right`` modulo ``prime`` for residues, one inner index at a time."""
    result = np.zeros((left.shape[0], right.shape[1]), dtype=np.int64)
    for k in range(left.shape[1]):
        result = (result + left[:, k : k + 1] * right[k : k + 1, :] % prime) % prime
    return result


# ----------------------------------------------------------------------------------------------
# one entry point


METHODS = ("auto", "dense", "certified", "structured")

AUTO_CERTIFIED_MAX_SIDE = 4096
"""Largest matrix side that ``method="auto"`` sends to the certified path (memory of nmod_mat)."""


def matricization_rank(
    model_or_tensor: object,
    method: str = "auto",
    y: int = 0,
    rtol: float | None = None,
    prime: int = DEFAULT_PRIME,
) -> int:
    """Return rank[A^y] of a model or a tensor by one of the three paths.

    Parameters
    ----------
    model_or_tensor : CPModel, HTModel or array_like
    method : {"auto", "dense", "certified", "structured"}
        ``"dense"``: float64 SVD of the matricization (:func:`dense_rank`). ``"structured"``:
        float64 SVD of the HT core (:func:`structured_rank`), models only. ``"certified"``: rank
        modulo ``prime`` of the exact parameters (:func:`certified_rank`), a proven lower bound.
        ``"auto"``: for a model, the certified rank of the HT core (of the dense matricization
        when N is not a power of two) if that matrix has side at most 4096, else the structured
        rank; for a tensor, the dense rank. The float paths issue an
        :class:`UntrustworthyRankWarning` when their verdict is negative, and the certified
        path warns when it stays below :func:`rank_upper_bound`.
    y : int
        Class index for models.
    rtol : float, optional
        Relative threshold for the float paths.
    prime : int
        Modulus for the certified path.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is invalid; use one of {', '.join(METHODS)}.")
    if method == "auto":
        method = _auto_method(model_or_tensor)
    if method == "certified":
        structured = isinstance(model_or_tensor, HTModel) or (
            isinstance(model_or_tensor, CPModel) and _is_power_of_two(model_or_tensor.N)
        )
        result = certified_rank(model_or_tensor, y=y, prime=prime, structured=structured)
        if not result.exact:
            warnings.warn(
                f"the certified rank {result.rank} is below the upper bound {result.upper_bound}: "
                "either A is rank deficient or the reduction modulo the prime lost rank; try "
                "another prime to tell them apart.",
                UntrustworthyRankWarning,
                stacklevel=2,
            )
        return result.rank
    if method == "structured":
        result = structured_rank(model_or_tensor, y=y, rtol=rtol)
    else:
        result = dense_rank(model_or_tensor, y=y, rtol=rtol)
    if not result.trustworthy:
        warnings.warn(
            f"the {method} rank {result.rank} is not trustworthy: sigma_rank/sigma_1 = "
            f"{result.smallest_counted:.3g} is within a factor {result.margin:g} of the threshold "
            f"{result.threshold:.3g}; use method='certified'.",
            UntrustworthyRankWarning,
            stacklevel=2,
        )
    return result.rank


def _is_power_of_two(value: int) -> bool:
    return value >= 2 and not value & (value - 1)


def _auto_method(source: object) -> str:
    if isinstance(source, HTModel):
        side = min(source.ranks[0], source.M) ** (source.N // 2)
    elif isinstance(source, CPModel):
        if _is_power_of_two(source.N):
            side = min(source.Z, source.M) ** (source.N // 2)
        else:
            side = source.M ** (source.N // 2)
    else:
        return "dense"
    if side <= AUTO_CERTIFIED_MAX_SIDE:
        return "certified"
    logger.info("core side %d exceeds %d; using the structured float rank", side, AUTO_CERTIFIED_MAX_SIDE)
    return "structured"
