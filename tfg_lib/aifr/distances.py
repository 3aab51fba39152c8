"""Euclidean distances with finite gradients at zero distance and a float32 floor under autocast.

Triplet losses differentiate through ``d(x, y) = ||x - y||_2``. The derivative of the square root
is infinite at zero, so a batch holding duplicate embeddings, a collapsed network or an anchor
equal to its positive would turn every gradient into NaN. The functions here use the subgradient
0 at exactly zero distance instead. They also compute in at least float32: under
``torch.autocast`` a float16 matrix product of embeddings with large norms overflows.
"""

from __future__ import annotations

import torch

__all__ = ["pairwise_distances", "safe_norm", "safe_sqrt"]


def _floating_dtype(dtype: torch.dtype) -> torch.dtype:
    """Return float64 for float64 input and float32 for every other dtype (float16, bfloat16, ints)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


class _SafeSqrt(torch.autograd.Function):
    """``sqrt`` whose backward pass uses the subgradient 0 where the output is 0."""

    @staticmethod
    def forward(ctx, squared):
        root = torch.sqrt(squared)
        ctx.save_for_backward(root)
        return root

    @staticmethod
    def backward(ctx, grad_root):
        (root,) = ctx.saved_tensors
        grad = grad_root / (2.0 * root)
        return torch.where(root > 0, grad, torch.zeros_like(grad))


def safe_sqrt(squared: torch.Tensor) -> torch.Tensor:
    """Take the square root elementwise with gradient 0 where the input is 0.

    Negative inputs, which only come from rounding in ``|x|^2 + |y|^2 - 2 x.y``, are clamped to 0
    (and get gradient 0 from the clamp).
    """
    return _SafeSqrt.apply(squared.clamp_min(0))


def safe_norm(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Return the Euclidean norm along ``dim`` in at least float32, with gradient 0 at the origin."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        x = x.to(_floating_dtype(x.dtype))
        return safe_sqrt((x * x).sum(dim=dim))


def pairwise_distances(
    x: torch.Tensor, y: torch.Tensor | None = None, *, squared: bool = False
) -> torch.Tensor:
    """Compute the matrix of Euclidean distances between the rows of ``x`` and of ``y``.

    ``D[i, j] = ||x_i - y_j||_2`` from ``|x_i|^2 + |y_j|^2 - 2 x_i . y_j``, one matrix product,
    so memory is ``O(B_x B_y)`` rather than the ``O(B_x B_y d)`` of explicit differences.

    Parameters
    ----------
    x : torch.Tensor, shape (B_x, d)
    y : torch.Tensor, shape (B_y, d), optional
        Defaults to ``x``. Then the rows are centred first, which leaves distances unchanged but
        reduces the cancellation error of the expansion, and the diagonal is exactly 0.
    squared : bool
        Return ``||x_i - y_j||^2`` instead of the distance.

    Returns
    -------
    torch.Tensor, shape (B_x, B_y)
        float64 for float64 input, float32 for any other dtype, autocast disabled inside.
        Gradients are finite everywhere: at zero distance the subgradient 0 is used.
    """
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D tensor of shape (B, d); received shape {tuple(x.shape)}")
    if y is not None and (y.ndim != 2 or y.shape[1] != x.shape[1]):
        raise ValueError(
            f"y must be a 2-D tensor with the same dimension d={x.shape[1]} as x; "
            f"received shape {tuple(y.shape)}"
        )

    with torch.autocast(device_type=x.device.type, enabled=False):
        dtype = _floating_dtype(x.dtype)
        same = y is None
        x = x.to(dtype)
        if same:
            if x.shape[0] > 0:
                x = x - x.mean(dim=0, keepdim=True).detach()
            y = x
        else:
            y = y.to(dtype)

        x_sq = (x * x).sum(dim=1)
        y_sq = x_sq if same else (y * y).sum(dim=1)
        sq = x_sq[:, None] + y_sq[None, :] - 2.0 * (x @ y.mT)
        sq = sq.clamp_min(0)
        if same:
            # clamp_min saves its input, not its output, so the in-place edit is safe for autograd.
            sq.fill_diagonal_(0.0)

        if squared:
            return sq
        return safe_sqrt(sq)
