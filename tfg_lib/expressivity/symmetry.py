"""Symmetry of coefficient tensors.

A CP model with shared vectors (``w^{z,i} = w^z`` for every position i) can only produce
symmetric tensors, ``A[d_sigma(1), ..., d_sigma(N)] = A[d_1, ..., d_N]`` for every permutation
sigma, so it is not universal. An HT model with shared coefficients is not restricted this way:
each level combines an ordered pair (left child, right child), which breaks the symmetry.
"""

from __future__ import annotations

import numpy as np

from tfg_lib.expressivity.models import CPModel, HTModel


def _tensor_of(source: object, y: int) -> np.ndarray:
    if isinstance(source, (CPModel, HTModel)):
        return source.tensor(y)
    tensor = np.asarray(source, dtype=np.float64)
    if tensor.ndim < 1:
        raise ValueError(f"tensor has shape {tensor.shape}; pass a tensor with at least 1 mode.")
    if len(set(tensor.shape)) > 1:
        raise ValueError(
            f"tensor has shape {tensor.shape}; symmetry needs every mode of the same size."
        )
    return tensor


def symmetrize(tensor: object) -> np.ndarray:
    """Project a tensor onto the symmetric tensors: the mean over all N! mode permutations.

    Computed with N(N-1)/2 transpositions instead of N! permutations through the coset
    decomposition ``S_k = (1/k) sum_{i=1..k} (i k) S_{k-1}``: every permutation of k modes is
    one of the transpositions (i k) (with (k k) the identity) after a permutation that fixes
    mode k.
    """
    result = _tensor_of(tensor, 0)
    for k in range(1, result.ndim):
        total = result.copy()
        for i in range(k):
            total += np.swapaxes(result, i, k)
        result = total / (k + 1)
    return result


def symmetry_deviation(source: object, y: int = 0) -> float:
    """Return ``||A - Sym(A)||_F / ||A||_F``, zero exactly when A is symmetric.

    Parameters
    ----------
    source : array_like or CPModel or HTModel
        A tensor with all modes of one size, or a model (class ``y``).
    y : int
        Class index for models.

    Returns
    -------
    float
        In [0, 1]; 0 for the zero tensor.
    """
    tensor = _tensor_of(source, y)
    norm = float(np.linalg.norm(tensor))
    if norm == 0.0:
        return 0.0
    return float(np.linalg.norm(tensor - symmetrize(tensor))) / norm
