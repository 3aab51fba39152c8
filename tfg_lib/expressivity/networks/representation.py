"""Representation layers f_theta_d of a convolutional arithmetic circuit, and patch extraction.

A representation layer maps each patch x_i in R^s to M values f_1(x_i), ..., f_M(x_i). Two
families, as in Cohen, Sharir and Shashua (2016, arXiv 1509.05009):

- Gaussian RBF: f_d(x) = exp(-1/2 * sum_k ((x_k - mu_{d,k}) / sigma_{d,k})^2), with learnable
  means mu_d and scales sigma_d. A normalised Gaussian density would differ by one positive
  factor per function d. The following 1x1 weights absorb that factor, so it is left out and
  f_d lies in (0, 1].
- Neuron: f_d(x) = sigma(<w_d, x> + b_d) with a point-wise activation sigma.

Both return their values in linear form (:meth:`forward`) and as (log-magnitude, sign) pairs
(:meth:`signed_log`) for the log-space circuit. The Gaussian layer computes its logarithm
directly, so far-away patches give a very negative log value instead of an underflow to 0.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from .signed_log import signed_log

__all__ = ["GaussianRepresentation", "NeuronRepresentation", "make_representation", "image_patches"]

ACTIVATIONS = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": nn.functional.softplus,
    "identity": lambda values: values,
}
REPRESENTATIONS = ("gaussian", "neuron")


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}={value!r} is invalid; pass a positive integer.")
    return int(value)


def _check_patches(patches: torch.Tensor, patch_dim: int) -> None:
    if not isinstance(patches, torch.Tensor):
        raise TypeError(f"patches must be a torch.Tensor of shape (B, N, s), got {type(patches).__name__}.")
    if patches.dim() != 3 or patches.shape[-1] != patch_dim:
        raise ValueError(
            f"patches has shape {tuple(patches.shape)}; expected (B, N, {patch_dim}), "
            "one row of patch_dim values per patch."
        )


class GaussianRepresentation(nn.Module):
    """Gaussian RBF representation with learnable means ``(M, s)`` and log-scales ``(M, s)``.

    Parameters
    ----------
    patch_dim : int
        Size s of one (flattened) patch.
    num_functions : int
        Number M of representation functions.
    generator : torch.Generator, optional
        Draws the initial means from a standard normal; the scales start at 1.
    """

    def __init__(self, patch_dim: int, num_functions: int, generator: torch.Generator | None = None):
        super().__init__()
        self.patch_dim = _check_positive_int("patch_dim", patch_dim)
        self.num_functions = _check_positive_int("num_functions", num_functions)
        self.means = nn.Parameter(torch.randn(num_functions, patch_dim, generator=generator))
        self.log_scales = nn.Parameter(torch.zeros(num_functions, patch_dim))

    def log_values(self, patches: torch.Tensor) -> torch.Tensor:
        """Return log f_d(x_i), shape ``(B, N, M)``, for patches of shape ``(B, N, s)``."""
        _check_patches(patches, self.patch_dim)
        standardized = (patches.unsqueeze(-2) - self.means) * torch.exp(-self.log_scales)
        return -0.5 * standardized.square().sum(dim=-1)

    def signed_log(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(log f, sign f)``; every sign is +1."""
        log_values = self.log_values(patches)
        return log_values, torch.ones_like(log_values)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """Return f_d(x_i), shape ``(B, N, M)``."""
        return torch.exp(self.log_values(patches))


class NeuronRepresentation(nn.Module):
    """Neuron representation f_d(x) = activation(<w_d, x> + b_d), a linear layer ``s -> M``.

    Parameters
    ----------
    patch_dim, num_functions : int
        Size s of a patch and number M of functions.
    activation : {"relu", "sigmoid", "tanh", "softplus", "identity"}
        The point-wise non-linearity.
    generator : torch.Generator, optional
        Draws the initial weights from N(0, 1/s) and the biases from N(0, 1).
    """

    def __init__(
        self,
        patch_dim: int,
        num_functions: int,
        activation: str = "sigmoid",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.patch_dim = _check_positive_int("patch_dim", patch_dim)
        self.num_functions = _check_positive_int("num_functions", num_functions)
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation={activation!r} is not supported; use one of {', '.join(ACTIVATIONS)}."
            )
        self.activation = activation
        weight = torch.randn(num_functions, patch_dim, generator=generator) / math.sqrt(patch_dim)
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.randn(num_functions, generator=generator))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """Return f_d(x_i), shape ``(B, N, M)``."""
        _check_patches(patches, self.patch_dim)
        return ACTIVATIONS[self.activation](patches @ self.weight.transpose(0, 1) + self.bias)

    def signed_log(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(log|f|, sign f)``, see :func:`~.signed_log.signed_log`."""
        return signed_log(self.forward(patches))

    def extra_repr(self) -> str:
        return f"patch_dim={self.patch_dim}, num_functions={self.num_functions}, activation={self.activation!r}"


def make_representation(
    kind: str | nn.Module,
    patch_dim: int,
    num_functions: int,
    activation: str = "sigmoid",
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Build a representation layer by name, or check and return a ready module.

    A ready module must have ``patch_dim`` and ``num_functions`` attributes matching the
    arguments and a ``signed_log(patches)`` method.
    """
    if isinstance(kind, nn.Module):
        for name, expected in (("patch_dim", patch_dim), ("num_functions", num_functions)):
            if getattr(kind, name, None) != expected:
                raise ValueError(
                    f"representation.{name} is {getattr(kind, name, None)!r} but the network "
                    f"needs {expected}; build the layer with {name}={expected}."
                )
        if not callable(getattr(kind, "signed_log", None)):
            raise TypeError("representation module has no signed_log(patches) method.")
        return kind
    if kind == "gaussian":
        return GaussianRepresentation(patch_dim, num_functions, generator=generator)
    if kind == "neuron":
        return NeuronRepresentation(patch_dim, num_functions, activation=activation, generator=generator)
    raise ValueError(
        f"representation={kind!r} is not supported; use one of {', '.join(REPRESENTATIONS)} "
        "or pass an nn.Module."
    )


def _morton_order(side: int) -> torch.Tensor:
    """Return raster indices of a ``side x side`` grid listed in Z-order (Morton order)."""
    codes = []
    for row in range(side):
        for column in range(side):
            code = 0
            for bit in range(side.bit_length()):
                code |= ((column >> bit) & 1) << (2 * bit)
                code |= ((row >> bit) & 1) << (2 * bit + 1)
            codes.append(code)
    return torch.argsort(torch.tensor(codes))


def image_patches(images: torch.Tensor, patch_size: int, order: str = "morton") -> torch.Tensor:
    """Cut images into non-overlapping square patches, flattened, shape ``(B, N, C*p*p)``.

    With ``order="morton"`` the patches of a square grid whose side is a power of two are listed
    in Z-order, so positions (1, 2), (3, 4), ... are horizontal neighbours and size-2 pooling
    over two levels pools one 2x2 block of patches; the deep network's pair pooling then follows
    the image's geometry. ``order="raster"`` lists them row by row.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images has shape {shape}; expected a tensor of shape (B, C, H, W).")
    _check_positive_int("patch_size", patch_size)
    batch, channels, height, width = images.shape
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"patch_size={patch_size} does not divide the image size {height}x{width}; "
            "pick a divisor or crop the images."
        )
    patches = nn.functional.unfold(images, kernel_size=patch_size, stride=patch_size)
    patches = patches.transpose(1, 2)  # (B, N, C*p*p), raster order
    if order == "raster":
        return patches
    if order != "morton":
        raise ValueError(f"order={order!r} is not supported; use 'morton' or 'raster'.")
    rows, columns = height // patch_size, width // patch_size
    if rows != columns or rows & (rows - 1):
        raise ValueError(
            f"order='morton' needs a square grid whose side is a power of two, got {rows}x{columns} "
            "patches; use order='raster' or another patch_size."
        )
    return patches[:, _morton_order(rows).to(patches.device)]
