"""CP (shallow) and Hierarchical Tucker (deep) models of the coefficient tensor A^y.

Notation (Cohen, Sharir and Shashua 2016, "On the expressive power of deep learning: a tensor
analysis", arXiv 1509.05009): N input patches, M representation functions, Y classes. The score
of class y is ``h_y(x_1..x_N) = sum_{d_1..d_N} A^y[d_1..d_N] prod_i f_{d_i}(x_i)``, so a model is
fully described by the coefficient tensors ``A^y`` of shape ``(M,) * N``.

Array layouts (float64):

* :class:`CPModel`: ``weights`` (Y, Z) stores a^y_z and ``vectors`` (N, Z, M) stores
  ``vectors[i, z] = w^{z, i+1}``, so ``A^y = sum_z a^y_z w^{z,1} ⊗ ... ⊗ w^{z,N}``.
* :class:`HTModel`: ``leaves`` (N, r_0, M) stores phi^{0,j,a}; ``inner[l-1]`` (N/2^l, r_l,
  r_{l-1}) stores a^{l,j,g}_a for l = 1..L-1; ``top`` (Y, r_{L-1}) stores a^{L,y}_a, with
  ``phi^{l,j,g} = sum_a a^{l,j,g}_a phi^{l-1,2j-1,a} ⊗ phi^{l-1,2j,a}`` and
  ``A^y = sum_a a^{L,y}_a phi^{L-1,1,a} ⊗ phi^{L-1,2,a}``.

With ``shared=True`` the coefficients do not depend on the position j: every ``vectors[i]`` of a
CP model is equal, and every j slice of ``leaves`` and of each ``inner`` array of an HT model is
equal.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# argument checks shared by the models and the counting functions


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} must be an int; pass a positive whole number.")
    if value < 1:
        raise ValueError(f"{name}={value} is invalid; it must be at least 1.")
    return int(value)


def check_power_of_two(N: object) -> int:
    """Return ``N`` as an int if it is a power of two of at least 2, else raise ``ValueError``."""
    N = _check_positive_int("N", N)
    if N < 2 or N & (N - 1):
        raise ValueError(
            f"N={N} is invalid; the HT model pairs neighbouring modes, so N must be a power of "
            "two of at least 2 (2, 4, 8, 16, ...)."
        )
    return N


def check_ranks(ranks: object, N: int) -> tuple[int, ...]:
    """Validate HT ranks (r_0, ..., r_{L-1}) for ``N = 2^L`` modes and return them as a tuple."""
    L = N.bit_length() - 1
    if isinstance(ranks, (int, np.integer)) and not isinstance(ranks, bool):
        raise TypeError(
            f"ranks={ranks!r} must be a sequence of L={L} ints (r_0, ..., r_{{L-1}}); for equal "
            f"ranks pass ({ranks},) * {L}."
        )
    try:
        ranks = tuple(ranks)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"ranks={ranks!r} must be a sequence of L={L} ints.") from None
    if len(ranks) != L:
        raise ValueError(
            f"ranks={ranks} has {len(ranks)} entries, but N={N} means L=log2(N)={L} levels, so "
            f"pass L={L} ranks (r_0, ..., r_{{L-1}})."
        )
    return tuple(_check_positive_int(f"ranks[{index}]", rank) for index, rank in enumerate(ranks))


def _as_float_array(name: str, value: object, ndim: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(f"{name} has shape {array.shape}; expected an array with {ndim} axes.")
    if 0 in array.shape:
        raise ValueError(f"{name} has shape {array.shape}; every axis must be non-empty.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite entries; pass finite values.")
    return array


def _check_class(y: object, Y: int) -> int:
    if isinstance(y, bool) or not isinstance(y, (int, np.integer)):
        raise TypeError(f"y={y!r} must be an int class index in 0..{Y - 1}.")
    if not 0 <= y < Y:
        raise ValueError(f"y={y} is out of range; the model has Y={Y} classes, use 0..{Y - 1}.")
    return int(y)


def _khatri_rao_rows(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise Khatri-Rao product: row a is ``kron(left[a], right[a])`` (left index slowest)."""
    return np.einsum("ap,aq->apq", left, right).reshape(left.shape[0], -1)


# ----------------------------------------------------------------------------------------------
# CP model


@dataclass(frozen=True)
class CPModel:
    """A CP (CANDECOMP/PARAFAC) model, the coefficient tensor of a shallow ConvAC.

    ``A^y = sum_{z=1..Z} a^y_z w^{z,1} ⊗ ... ⊗ w^{z,N}``.

    Attributes
    ----------
    weights : ndarray, shape (Y, Z)
        ``weights[y, z] = a^y_z``.
    vectors : ndarray, shape (N, Z, M)
        ``vectors[i, z] = w^{z, i+1}``.
    shared : bool
        Whether the vectors are shared across positions (all ``vectors[i]`` equal), which makes
        every tensor the model produces symmetric.
    """

    weights: np.ndarray
    vectors: np.ndarray
    shared: bool = False

    def __post_init__(self) -> None:
        weights = _as_float_array("weights", self.weights, 2)
        vectors = _as_float_array("vectors", self.vectors, 3)
        if weights.shape[1] != vectors.shape[1]:
            raise ValueError(
                f"weights has shape {weights.shape} and vectors {vectors.shape}; the number of "
                f"components Z must agree (weights (Y, Z), vectors (N, Z, M))."
            )
        if self.shared and not all(np.array_equal(vectors[0], v) for v in vectors[1:]):
            raise ValueError(
                "shared=True but the vectors differ between positions; pass equal vectors[i] "
                "for every i, or shared=False."
            )
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "vectors", vectors)
        object.__setattr__(self, "shared", bool(self.shared))

    @property
    def N(self) -> int:
        """Number of modes (input patches)."""
        return self.vectors.shape[0]

    @property
    def M(self) -> int:
        """Size of each mode (representation functions)."""
        return self.vectors.shape[2]

    @property
    def Z(self) -> int:
        """Number of components."""
        return self.vectors.shape[1]

    @property
    def Y(self) -> int:
        """Number of classes."""
        return self.weights.shape[0]

    def tensor(self, y: int = 0) -> np.ndarray:
        """Build the dense coefficient tensor A^y, shape ``(M,) * N``."""
        y = _check_class(y, self.Y)
        return cp_coefficients(self.weights[y], self.vectors)

    def parameter_count(self) -> int:
        """Count the free coefficients: ``N*M*Z + Y*Z``, or ``M*Z + Y*Z`` when shared."""
        vectors = self.M * self.Z if self.shared else self.vectors.size
        return int(vectors + self.weights.size)


def cp_coefficients(weights: object, vectors: object, backend: str = "numpy") -> np.ndarray:
    """Build the dense CP tensor ``sum_z a_z w^{z,1} ⊗ ... ⊗ w^{z,N}`` with TensorLy.

    Parameters
    ----------
    weights : array_like, shape (Z,) or (Y, Z)
        The weights a_z of one class, or of every class.
    vectors : array_like, shape (N, Z, M)
        ``vectors[i, z] = w^{z, i+1}``.
    backend : {"numpy", "pytorch"}
        TensorLy backend for ``cp_to_tensor``; float64 either way, the result is a numpy array.

    Returns
    -------
    ndarray, shape (M,) * N for 1-D weights, or (Y,) + (M,) * N for 2-D weights.
    """
    import tensorly as tl

    if backend not in ("numpy", "pytorch"):
        raise ValueError(f"backend={backend!r} is invalid; use 'numpy' or 'pytorch'.")
    weights = np.asarray(weights, dtype=np.float64)
    vectors = _as_float_array("vectors", vectors, 3)
    if weights.ndim not in (1, 2) or weights.shape[-1] != vectors.shape[1]:
        raise ValueError(
            f"weights has shape {weights.shape} and vectors {vectors.shape}; pass weights of "
            f"shape (Z,) or (Y, Z) with Z={vectors.shape[1]}."
        )
    factors = [np.ascontiguousarray(vectors[i].T) for i in range(vectors.shape[0])]
    rows = weights[None] if weights.ndim == 1 else weights

    if backend == "pytorch":
        import torch

        factors = [torch.from_numpy(factor) for factor in factors]
        rows = torch.from_numpy(np.ascontiguousarray(rows))
    with tl.backend_context(backend):
        tensors = [np.asarray(tl.to_numpy(tl.cp_to_tensor((row, factors)))) for row in rows]
    return tensors[0] if weights.ndim == 1 else np.stack(tensors)


# ----------------------------------------------------------------------------------------------
# HT model


@dataclass(frozen=True)
class HTModel:
    """A Hierarchical Tucker model, the coefficient tensor of a deep ConvAC.

    Attributes
    ----------
    leaves : ndarray, shape (N, r_0, M)
        ``leaves[j, a] = phi^{0, j+1, a}``.
    inner : tuple of ndarray
        L-1 arrays; ``inner[l-1]`` has shape (N / 2^l, r_l, r_{l-1}) and stores a^{l,j,g}_a as
        ``inner[l-1][j, g, a]``. Empty for N = 2.
    top : ndarray, shape (Y, r_{L-1})
        ``top[y, a] = a^{L,y}_a``.
    shared : bool
        Whether the leaves and inner weights are equal across positions j.
    """

    leaves: np.ndarray
    inner: tuple[np.ndarray, ...]
    top: np.ndarray
    shared: bool = False

    def __post_init__(self) -> None:
        leaves = _as_float_array("leaves", self.leaves, 3)
        N = leaves.shape[0]
        if N < 2 or N & (N - 1):
            raise ValueError(
                f"leaves has shape {leaves.shape}; its first axis N={N} must be a power of two "
                "of at least 2."
            )

        L = N.bit_length() - 1
        inner = tuple(
            _as_float_array(f"inner[{index}]", array, 3) for index, array in enumerate(self.inner)
        )
        if len(inner) != L - 1:
            raise ValueError(
                f"inner has {len(inner)} arrays, but N={N} needs L-1={L - 1} inner levels."
            )

        previous = leaves.shape[1]
        for level, array in enumerate(inner, start=1):
            expected = (N >> level, array.shape[1], previous)
            if array.shape != expected:
                raise ValueError(
                    f"inner[{level - 1}] has shape {array.shape}; level {level} needs shape "
                    f"(N/2^{level}, r_{level}, r_{level - 1}) = {expected}."
                )
            previous = array.shape[1]

        top = _as_float_array("top", self.top, 2)
        if top.shape[1] != previous:
            raise ValueError(
                f"top has shape {top.shape}; it needs shape (Y, r_{L - 1}) with r_{L - 1}={previous}."
            )

        if self.shared:
            named = [("leaves", leaves)]
            named += [(f"inner[{index}]", array) for index, array in enumerate(inner)]
            for name, array in named:
                if not all(np.array_equal(array[0], part) for part in array[1:]):
                    raise ValueError(
                        f"shared=True but the slices of {name} differ between positions; pass "
                        "equal slices for every j, or shared=False."
                    )

        object.__setattr__(self, "leaves", leaves)
        object.__setattr__(self, "inner", inner)
        object.__setattr__(self, "top", top)
        object.__setattr__(self, "shared", bool(self.shared))

    @property
    def N(self) -> int:
        """Number of modes (input patches), a power of two."""
        return self.leaves.shape[0]

    @property
    def M(self) -> int:
        """Size of each mode (representation functions)."""
        return self.leaves.shape[2]

    @property
    def L(self) -> int:
        """Number of levels, log2(N)."""
        return self.N.bit_length() - 1

    @property
    def ranks(self) -> tuple[int, ...]:
        """The ranks (r_0, ..., r_{L-1})."""
        return (self.leaves.shape[1],) + tuple(array.shape[1] for array in self.inner)

    @property
    def Y(self) -> int:
        """Number of classes."""
        return self.top.shape[0]

    def level_vectors(self) -> list[np.ndarray]:
        """Build the level-(L-1) tensors phi^{L-1,j,g}, flattened.

        Returns
        -------
        list of ndarray
            Two arrays (j = 1, 2), each of shape (r_{L-1}, M^(N/2)); row g is phi^{L-1,j,g}
            flattened in C order (first mode slowest).
        """
        phi = list(self.leaves)
        for weights in self.inner:
            phi = [
                weights[j] @ _khatri_rao_rows(phi[2 * j], phi[2 * j + 1])
                for j in range(len(phi) // 2)
            ]
        return phi

    def tensor(self, y: int = 0) -> np.ndarray:
        """Build the dense coefficient tensor A^y, shape ``(M,) * N``."""
        y = _check_class(y, self.Y)
        left, right = self.level_vectors()
        flat = self.top[y] @ _khatri_rao_rows(left, right)
        return flat.reshape((self.M,) * self.N)

    def parameter_count(self) -> int:
        """Count the free coefficients (shared arrays are counted once per level)."""
        if self.shared:
            per_level = [self.leaves[0].size] + [array[0].size for array in self.inner]
        else:
            per_level = [self.leaves.size] + [array.size for array in self.inner]
        return int(sum(per_level) + self.top.size)


# ----------------------------------------------------------------------------------------------
# random constructors


def _draw(rng: np.random.Generator, shape: tuple[int, ...], integers: int | None) -> np.ndarray:
    if integers is None:
        return rng.standard_normal(shape)
    return rng.integers(-integers, integers, size=shape, endpoint=True).astype(np.float64)


def _check_integers(integers: object) -> int | None:
    if integers is None:
        return None
    return _check_positive_int("integers", integers)


def random_cp_model(
    N: int,
    M: int,
    Z: int,
    Y: int = 1,
    shared: bool = False,
    seed: int = 0,
    integers: int | None = None,
) -> CPModel:
    """Draw a CP model with independent standard normal entries.

    Parameters
    ----------
    N, M, Z, Y : int
        Modes, mode size, components and classes (all at least 1).
    shared : bool
        Draw one set of vectors and use it at every position.
    seed : int
        Seed of the ``numpy.random.default_rng`` generator.
    integers : int, optional
        Draw integers uniformly from ``-integers..integers`` instead (exact arithmetic, used by
        the certified rank).
    """
    N, M, Z, Y = (_check_positive_int(name, value) for name, value in zip("NMZY", (N, M, Z, Y)))
    integers = _check_integers(integers)
    rng = np.random.default_rng(seed)
    if shared:
        vectors = np.broadcast_to(_draw(rng, (Z, M), integers), (N, Z, M)).copy()
    else:
        vectors = _draw(rng, (N, Z, M), integers)
    weights = _draw(rng, (Y, Z), integers)
    return CPModel(weights=weights, vectors=vectors, shared=shared)


def random_ht_model(
    N: int,
    M: int,
    ranks: Sequence[int],
    Y: int = 1,
    shared: bool = False,
    seed: int = 0,
    integers: int | None = None,
) -> HTModel:
    """Draw an HT model with independent standard normal entries.

    Parameters
    ----------
    N : int
        Modes, a power of two ``2^L`` with L >= 1.
    M : int
        Mode size.
    ranks : sequence of int
        (r_0, ..., r_{L-1}).
    Y : int
        Classes.
    shared : bool
        Draw one leaf matrix and one weight matrix per level, used at every position j.
    seed : int
        Seed of the ``numpy.random.default_rng`` generator.
    integers : int, optional
        Draw integers uniformly from ``-integers..integers`` instead (exact arithmetic, used by
        the certified rank).
    """
    N = check_power_of_two(N)
    M = _check_positive_int("M", M)
    Y = _check_positive_int("Y", Y)
    ranks = check_ranks(ranks, N)
    integers = _check_integers(integers)
    rng = np.random.default_rng(seed)

    def draw_level(positions: int, shape: tuple[int, int]) -> np.ndarray:
        if shared:
            return np.broadcast_to(_draw(rng, shape, integers), (positions,) + shape).copy()
        return _draw(rng, (positions,) + shape, integers)

    leaves = draw_level(N, (ranks[0], M))
    inner = tuple(
        draw_level(N >> level, (ranks[level], ranks[level - 1])) for level in range(1, len(ranks))
    )
    top = _draw(rng, (Y, ranks[-1]), integers)
    return HTModel(leaves=leaves, inner=inner, top=top, shared=shared)


# ----------------------------------------------------------------------------------------------
# HT realising CP


def ht_from_cp(cp_model: CPModel) -> HTModel:
    """Realise a CP model as an HT model with every rank equal to Z.

    The leaves are the CP vectors (``phi^{0,j,a} = w^{a,j}``, so r_0 = Z), every inner level uses
    selector weights ``a^{l,j,g}_a = 1 if a == g else 0`` (identity matrices), and the top
    weights are the CP weights. By induction ``phi^{l,j,g} = w^{g,(j-1)2^l+1} ⊗ ... ⊗
    w^{g,j 2^l}``, so ``A^y = sum_g a^y_g w^{g,1} ⊗ ... ⊗ w^{g,N}``, the CP tensor.

    Correction to the thesis' proof of this step: it sets every level-1 weight to 1. Then
    ``phi^{1,j,g} = sum_a phi^{0,2j-1,a} ⊗ phi^{0,2j,a}`` is the same tensor for every g, the
    components are mixed instead of kept apart, and the result is not the CP tensor in general.
    The selector (identity) weights keep component g apart at every level. The counts are
    unchanged: the extra coefficients of the HT model are its inner weights,
    ``N Z^2 (2^{L-1}-1) / 2^{L-1} = (N-2) Z^2``.

    Parameters
    ----------
    cp_model : CPModel
        N must be a power of two. A shared CP model gives a shared HT model.
    """
    if not isinstance(cp_model, CPModel):
        raise TypeError(f"cp_model must be a CPModel, got {type(cp_model).__name__}.")
    N = check_power_of_two(cp_model.N)
    Z = cp_model.Z
    inner = tuple(
        np.broadcast_to(np.eye(Z), (N >> level, Z, Z)).copy() for level in range(1, N.bit_length() - 1)
    )
    return HTModel(
        leaves=cp_model.vectors.copy(), inner=inner, top=cp_model.weights.copy(), shared=cp_model.shared
    )


# ----------------------------------------------------------------------------------------------
# closed-form parameter counts


def cp_parameter_count(N: int, M: int, Z: int, Y: int, shared: bool = False) -> int:
    """Count a CP model's coefficients: ``N*M*Z + Y*Z``, or ``M*Z + Y*Z`` when shared."""
    N, M, Z, Y = (_check_positive_int(name, value) for name, value in zip("NMZY", (N, M, Z, Y)))
    return (M * Z if shared else N * M * Z) + Y * Z


def ht_parameter_count(N: int, M: int, ranks: Sequence[int], Y: int, shared: bool = False) -> int:
    """Count an HT model's coefficients.

    ``M r_0 N + sum_{l=1..L-1} r_{l-1} (N/2^l) r_l + r_{L-1} Y``; with shared coefficients the
    factors N and N/2^l drop out (one leaf matrix and one weight matrix per level). With all
    r_l = r this is ``M r N + N r^2 (2^{L-1}-1)/2^{L-1} + r Y``.
    """
    N = check_power_of_two(N)
    M = _check_positive_int("M", M)
    Y = _check_positive_int("Y", Y)
    ranks = check_ranks(ranks, N)
    leaves = M * ranks[0] * (1 if shared else N)
    inner = sum(
        ranks[level - 1] * ranks[level] * (1 if shared else N >> level)
        for level in range(1, len(ranks))
    )
    return leaves + inner + ranks[-1] * Y


def ht_extra_coefficients_for_cp(N: int, Z: int) -> int:
    """Count the coefficients an HT model adds when it realises a CP model with Z components.

    The thesis' formula ``N Z^2 (2^{L-1}-1) / 2^{L-1}`` with ``N = 2^L``, which equals
    ``(N - 2) Z^2``: the inner weights of :func:`ht_from_cp`'s model (not shared).
    """
    N = check_power_of_two(N)
    Z = _check_positive_int("Z", Z)
    L = N.bit_length() - 1
    numerator = N * Z**2 * (2 ** (L - 1) - 1)
    return numerator // 2 ** (L - 1)
