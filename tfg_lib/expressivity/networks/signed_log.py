"""Arithmetic on numbers stored as (log-magnitude, sign) pairs.

A product pooling layer multiplies N factors. With N = 64 factors of magnitude 0.1 the product is
1e-64, below the smallest float32 (about 1e-38, or 1e-45 subnormal), and factors of magnitude 10
overflow just as fast. Storing every intermediate value v as ``log_abs = log|v|`` and
``sign = sign(v)`` turns products into sums, and a weighted sum of such numbers is evaluated with
the log-sum-exp shift, so neither direction over- or underflows.

Conventions: ``sign`` contains -1, 0 or +1 in the dtype of ``log_abs``. An exact zero has sign 0 and
a finite placeholder ``log_abs`` (the log of the dtype's smallest normal number), which keeps
gradients finite.
"""

from __future__ import annotations

import torch

__all__ = [
    "signed_log",
    "signed_log_to_value",
    "signed_log_product",
    "signed_log_pair_product",
    "signed_log_linear",
]


def _log_abs(values: torch.Tensor) -> torch.Tensor:
    tiny = torch.finfo(values.dtype).tiny
    return torch.log(values.abs().clamp_min(tiny))


def signed_log(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``values`` into ``(log|values|, sign(values))``.

    Magnitudes below the dtype's smallest normal number are clamped to it in the logarithm. The
    sign of an exact zero stays 0, so :func:`signed_log_to_value` still returns 0 for it.
    """
    return _log_abs(values), torch.sign(values).detach()


def signed_log_to_value(log_abs: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """Return ``sign * exp(log_abs)``; this overflows to inf where the magnitude does."""
    return sign * torch.exp(log_abs)


def signed_log_product(
    log_abs: torch.Tensor, sign: torch.Tensor, dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multiply along ``dim``: the log-magnitudes add and the signs multiply."""
    return log_abs.sum(dim=dim), sign.prod(dim=dim)


def signed_log_pair_product(
    log_abs: torch.Tensor, sign: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multiply neighbouring positions (1, 2), (3, 4), ... of a ``(B, J, C)`` input.

    This is size-2 non-overlapping product pooling along the position axis; the output has shape
    ``(B, J/2, C)``. ``J`` must be even.
    """
    batch, positions, channels = log_abs.shape
    if positions % 2:
        raise ValueError(
            f"pair pooling needs an even number of positions, got {positions}; "
            "use a number of patches that is a power of two."
        )
    pairs_log = log_abs.reshape(batch, positions // 2, 2, channels)
    pairs_sign = sign.reshape(batch, positions // 2, 2, channels)
    return signed_log_product(pairs_log, pairs_sign, dim=2)


def signed_log_linear(
    log_abs: torch.Tensor, sign: torch.Tensor, weight: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply a linear map with real ``weight`` to numbers in (log-magnitude, sign) form.

    Computes ``t[..., g] = sum_a weight[g, a] * v[..., a]`` where ``v = sign * exp(log_abs)``,
    without forming ``v``: with ``m = max_a log_abs[..., a]`` (treated as a constant),
    ``t = exp(m) * sum_a weight[g, a] * sign[..., a] * exp(log_abs[..., a] - m)`` and the
    returned log-magnitude is ``m + log|sum|``.

    Parameters
    ----------
    log_abs, sign : Tensor, shape (..., A) or (B, J, A)
        The input numbers, channels last.
    weight : Tensor, shape (G, A) or (J, G, A)
        One weight matrix shared by every position, or one matrix per position ``j`` (then the
        input must have shape ``(B, J, A)``), as in a 1x1 convolution with location-dependent
        weights.

    Returns
    -------
    (log_abs, sign) : tuple of Tensor, shape (..., G) or (B, J, G)
    """
    shift = log_abs.amax(dim=-1, keepdim=True).detach()
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    scaled = sign * torch.exp(log_abs - shift)
    if weight.dim() == 2:
        total = scaled @ weight.transpose(0, 1)
    elif weight.dim() == 3:
        total = torch.einsum("bja,jga->bjg", scaled, weight)
    else:
        raise ValueError(
            f"weight has shape {tuple(weight.shape)}; expected (G, A) or (J, G, A)."
        )
    out_log, out_sign = signed_log(total)
    return out_log + shift, out_sign
