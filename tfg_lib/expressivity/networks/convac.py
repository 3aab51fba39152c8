"""Shallow (CP) and deep (HT) convolutional arithmetic circuits with log-space product pooling.

Both networks compute a score h_y(x_1..x_N) = sum_{d_1..d_N} A^y[d_1..d_N] prod_i f_{d_i}(x_i)
(Cohen, Sharir and Shashua 2016, arXiv 1509.05009) for N patches x_i and M representation
functions f_d. They differ in how A^y is factored:

- :class:`ShallowConvAC`: representation, one 1x1 convolution with Z channels
  (weights w^{z,i} in R^M), global product pooling over the N positions, dense output a^y_z.
  A^y is the CP decomposition sum_z a^y_z w^{z,1} (x) ... (x) w^{z,N}.
- :class:`DeepConvAC`: representation, 1x1 convolution to r_0 channels (phi^{0,j,a}), then per
  level l = 1..L-1 size-2 product pooling of neighbouring positions and a 1x1 convolution to r_l
  channels (a^{l,j,g}), and a last size-2 pooling plus dense output a^{L,y}. A^y is the
  Hierarchical Tucker decomposition of the same paper, N = 2^L.

With ``shared=True`` a layer uses the same 1x1 weights at every position.

``network.representation(patches)`` returns the values f_d(x_i), shape ``(B, N, M)``, and
:meth:`coefficient_tensor` the dense A^y, so a score can be checked against the contraction
directly.

Every intermediate value travels as a (log-magnitude, sign) pair (see
:mod:`~tfg_lib.expressivity.networks.signed_log`), so N = 64 factors neither overflow nor
underflow in float32. :meth:`log_scores` returns the scores in that form; :meth:`forward`
exponentiates them and can overflow only where the score itself exceeds the dtype's range.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .representation import _check_positive_int, image_patches, make_representation
from .signed_log import (
    signed_log_linear,
    signed_log_pair_product,
    signed_log_product,
    signed_log_to_value,
)

logger = logging.getLogger(__name__)

__all__ = ["ShallowConvAC", "DeepConvAC"]


def _log_root_mean_square(log_abs: torch.Tensor) -> torch.Tensor:
    """Return log sqrt(mean v^2) for v stored as log|v|, over every element."""
    return 0.5 * (torch.logsumexp(2 * log_abs.flatten(), dim=0) - math.log(log_abs.numel()))


class _ConvACBase(nn.Module):
    """Patch handling, scores and rescaling shared by the shallow and the deep network."""

    def __init__(
        self,
        num_patches: int,
        patch_dim: int,
        num_functions: int,
        num_classes: int,
        shared: bool,
        representation: str | nn.Module,
        activation: str,
        patch_size: int | None,
        generator: torch.Generator | None,
    ):
        super().__init__()
        self.num_patches = _check_positive_int("num_patches", num_patches)
        self.patch_dim = _check_positive_int("patch_dim", patch_dim)
        self.num_functions = _check_positive_int("num_functions", num_functions)
        self.num_classes = _check_positive_int("num_classes", num_classes)
        if not isinstance(shared, bool):
            raise TypeError(f"shared={shared!r} is invalid; pass True or False.")
        self.shared = shared
        self.patch_size = None if patch_size is None else _check_positive_int("patch_size", patch_size)
        self.representation = make_representation(
            representation, patch_dim, num_functions, activation=activation, generator=generator
        )

    @property
    def N(self) -> int:
        return self.num_patches

    @property
    def M(self) -> int:
        return self.num_functions

    @property
    def Y(self) -> int:
        return self.num_classes

    def patches(self, inputs: torch.Tensor) -> torch.Tensor:
        """Return the ``(B, N, s)`` patches of ``inputs`` (patches already, or images)."""
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(
                f"inputs must be a torch.Tensor of patches (B, N, s) or images (B, C, H, W), "
                f"got {type(inputs).__name__}; convert with torch.as_tensor."
            )
        if inputs.dim() == 4:
            if self.patch_size is None:
                raise ValueError(
                    "inputs are images of shape (B, C, H, W) but the network was built without "
                    "patch_size; pass patch_size= when building it, or pass (B, N, s) patches."
                )
            inputs = image_patches(inputs, self.patch_size)
        if inputs.dim() != 3 or inputs.shape[1:] != (self.num_patches, self.patch_dim):
            raise ValueError(
                f"inputs have shape {tuple(inputs.shape)}; expected patches of shape "
                f"(B, {self.num_patches}, {self.patch_dim})"
                + (" or images that give as many patches." if self.patch_size else ".")
            )
        return inputs

    def coefficient_count(self) -> int:
        """Number of coefficients of the tensor model: all weights but the representation's."""
        return sum(p.numel() for name, p in self.named_parameters() if not name.startswith("representation."))

    def coefficient_tensor(self, y: int = 0) -> np.ndarray:
        """Build the dense float64 coefficient tensor A^y, shape ``(M,) * N``, via the tensor model."""
        return self.to_tensor_model().tensor(y)

    def log_scores(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the scores as ``(log|h|, sign h)``, each of shape ``(B, Y)``."""
        return self._signed_log_scores(self.patches(inputs), rescale=False)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Return the scores h_y, shape ``(B, Y)``, for patches ``(B, N, s)`` or images."""
        return signed_log_to_value(*self.log_scores(inputs))

    @torch.no_grad()
    def rescale_(self, inputs: torch.Tensor) -> _ConvACBase:
        """Scale each layer's weights so that its outputs have unit root mean square on ``inputs``.

        Scaling a layer's weights by c > 0 multiplies the scores by a power of c (c^k when the
        layer's output enters k factors of every product) and leaves the rank structure of A^y
        unchanged. Used as a data-dependent initialization: with N
        factors of typical magnitude c, the scores of a fresh network are of order c^N.
        """
        self._signed_log_scores(self.patches(inputs), rescale=True)
        return self

    @torch.no_grad()
    def rebalance_(self, inputs: torch.Tensor) -> _ConvACBase:
        """Rescale the hidden layers to unit root mean square output without changing the function.

        Every hidden 1x1 layer is scaled as in :meth:`rescale_`, which multiplies the scores by
        one positive constant, and the output weights are divided by that constant. During
        training this keeps the hidden values at unit scale: in float32, hidden values that
        shrink towards 0 would make the gradients underflow and stall the fit.
        """
        patches = self.patches(inputs)
        before, _ = self._signed_log_scores(patches, rescale=False)
        self._signed_log_scores(patches, rescale="hidden")
        after, _ = self._signed_log_scores(patches, rescale=False)
        shift = (before - after).flatten()
        shift = shift[torch.isfinite(shift)]
        if shift.numel():
            self._output_weight().mul_(torch.exp(shift.median()))
        return self

    def _linear(self, log_abs, sign, weight: nn.Parameter, rescale: bool):
        # With rescale, the layer's weights are scaled in place to unit root mean square output.
        log_abs, sign = signed_log_linear(log_abs, sign, weight)
        if rescale:
            log_rms = _log_root_mean_square(log_abs)
            weight.mul_(torch.exp(-log_rms))
            log_abs = log_abs - log_rms
        return log_abs, sign


def _init_weight(shape: tuple[int, ...], fan_in: int, generator: torch.Generator | None) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape, generator=generator) / math.sqrt(fan_in))


def _as_float64(array: object, name: str, dims: int) -> np.ndarray:
    values = np.asarray(array, dtype=np.float64)
    if values.ndim != dims:
        raise ValueError(f"{name} has shape {values.shape}; expected {dims} dimensions.")
    return values


def _shared_slice(values: np.ndarray, name: str) -> np.ndarray:
    """Return ``values[0]`` after checking that every slice along axis 0 equals it."""
    if not np.allclose(values, values[:1], rtol=1e-12, atol=0.0):
        raise ValueError(
            f"the model is marked shared but its {name} differ between positions; "
            "build the network with shared=False or pass a model with equal slices."
        )
    return values[0]


class ShallowConvAC(_ConvACBase):
    """Shallow convolutional arithmetic circuit: the CP decomposition as a network.

    Parameters
    ----------
    num_patches : int
        Number N of patches (any positive integer).
    patch_dim : int
        Size s of one flattened patch.
    num_functions : int
        Number M of representation functions.
    components : int
        Number Z of channels of the 1x1 convolution (the CP rank of the model).
    num_classes : int
        Number Y of outputs.
    shared : bool
        Use one weight matrix ``(Z, M)`` at every position instead of ``(N, Z, M)``.
    representation : {"gaussian", "neuron"} or nn.Module
        The representation layer; see :func:`make_representation`.
    activation : str
        Activation of the "neuron" representation.
    patch_size : int, optional
        When given, :meth:`forward` also accepts images ``(B, C, H, W)`` and cuts them into
        ``patch_size x patch_size`` patches in Z-order.
    generator : torch.Generator, optional
        Source of the initial weights, drawn from N(0, 1/fan_in).

    Attributes
    ----------
    conv_weight : Parameter, shape (N, Z, M) or (Z, M)
        conv_weight[i, z] = w^{z,i+1}.
    dense_weight : Parameter, shape (Y, Z)
        dense_weight[y, z] = a^y_z.
    """

    def __init__(
        self,
        num_patches: int,
        patch_dim: int,
        num_functions: int,
        components: int,
        num_classes: int = 1,
        shared: bool = False,
        representation: str | nn.Module = "gaussian",
        activation: str = "sigmoid",
        patch_size: int | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__(
            num_patches, patch_dim, num_functions, num_classes, shared,
            representation, activation, patch_size, generator,
        )
        self.components = _check_positive_int("components", components)
        conv_shape = (components, num_functions) if shared else (num_patches, components, num_functions)
        self.conv_weight = _init_weight(conv_shape, num_functions, generator)
        self.dense_weight = _init_weight((num_classes, components), components, generator)

    @property
    def Z(self) -> int:
        return self.components

    def to_tensor_model(self):
        """Return :meth:`to_cp_model`."""
        return self.to_cp_model()

    def _output_weight(self) -> nn.Parameter:
        return self.dense_weight

    def _signed_log_scores(self, patches: torch.Tensor, rescale: bool | str):
        # rescale: False, True (every layer, see rescale_) or "hidden" (all but the output layer).
        log_abs, sign = self.representation.signed_log(patches)  # (B, N, M)
        log_abs, sign = self._linear(log_abs, sign, self.conv_weight, bool(rescale))  # (B, N, Z)
        log_abs, sign = signed_log_product(log_abs, sign, dim=1)  # global pooling: (B, Z)
        return self._linear(log_abs, sign, self.dense_weight, rescale is True)  # (B, Y)

    def to_cp_model(self):
        """Return the :class:`~tfg_lib.expressivity.CPModel` of this network, in float64."""
        from tfg_lib.expressivity import CPModel

        vectors = self.conv_weight.detach().cpu().double().numpy()
        if self.shared:
            vectors = np.repeat(vectors[None], self.num_patches, axis=0)
        weights = self.dense_weight.detach().cpu().double().numpy()
        return CPModel(weights=weights.copy(), vectors=vectors.copy(), shared=self.shared)

    @classmethod
    def from_cp_model(
        cls,
        model,
        patch_dim: int,
        representation: str | nn.Module = "gaussian",
        activation: str = "sigmoid",
        patch_size: int | None = None,
        dtype: torch.dtype = torch.float32,
        generator: torch.Generator | None = None,
    ) -> ShallowConvAC:
        """Build the network whose coefficient tensor is ``model``'s.

        ``model`` is a :class:`~tfg_lib.expressivity.CPModel` or any object with ``weights``
        ``(Y, Z)``, ``vectors`` ``(N, Z, M)`` and ``shared``. The representation layer is new
        (drawn from ``generator``) unless a module is passed.
        """
        weights = _as_float64(model.weights, "model.weights", 2)
        vectors = _as_float64(model.vectors, "model.vectors", 3)
        if weights.shape[1] != vectors.shape[1]:
            raise ValueError(
                f"model.weights has {weights.shape[1]} components but model.vectors has "
                f"{vectors.shape[1]}; both must index the same Z components."
            )
        shared = bool(model.shared)
        num_patches, components, num_functions = vectors.shape
        network = cls(
            num_patches, patch_dim, num_functions, components, num_classes=weights.shape[0],
            shared=shared, representation=representation, activation=activation,
            patch_size=patch_size, generator=generator,
        ).to(dtype)
        conv = _shared_slice(vectors, "vectors") if shared else vectors
        with torch.no_grad():
            network.conv_weight.copy_(torch.from_numpy(conv))
            network.dense_weight.copy_(torch.from_numpy(weights))
        return network


class DeepConvAC(_ConvACBase):
    """Deep convolutional arithmetic circuit: the Hierarchical Tucker decomposition as a network.

    Parameters
    ----------
    num_patches : int
        Number N = 2^L of patches, L >= 1.
    patch_dim, num_functions, num_classes, shared, representation, activation, patch_size, generator
        As in :class:`ShallowConvAC`.
    ranks : int or sequence of int
        Channels r_0, ..., r_{L-1} of the L hidden layers; one int means the same r everywhere.

    Attributes
    ----------
    leaf_weight : Parameter, shape (N, r_0, M) or (r_0, M)
        leaf_weight[j, a] = phi^{0,j+1,a}.
    inner_weights : ParameterList
        inner_weights[l-1] has shape (N/2^l, r_l, r_{l-1}) or (r_l, r_{l-1});
        inner_weights[l-1][j, g, a] = a^{l,j+1,g}_a. Empty for N = 2.
    top_weight : Parameter, shape (Y, r_{L-1})
        top_weight[y, a] = a^{L,y}_a.
    """

    def __init__(
        self,
        num_patches: int,
        patch_dim: int,
        num_functions: int,
        ranks: int | Sequence[int],
        num_classes: int = 1,
        shared: bool = False,
        representation: str | nn.Module = "gaussian",
        activation: str = "sigmoid",
        patch_size: int | None = None,
        generator: torch.Generator | None = None,
    ):
        _check_positive_int("num_patches", num_patches)
        if num_patches < 2 or num_patches & (num_patches - 1):
            raise ValueError(
                f"num_patches={num_patches} is invalid for the deep network; it pools pairs, so "
                "use a power of two N >= 2."
            )
        super().__init__(
            num_patches, patch_dim, num_functions, num_classes, shared,
            representation, activation, patch_size, generator,
        )
        levels = num_patches.bit_length() - 1
        if isinstance(ranks, numbers.Integral) and not isinstance(ranks, bool):
            ranks = (int(ranks),) * levels
        ranks = tuple(ranks)
        if len(ranks) != levels:
            raise ValueError(
                f"ranks={ranks!r} has {len(ranks)} entries; N={num_patches} needs L={levels} "
                "(r_0, ..., r_{L-1}), or pass one int."
            )
        ranks = tuple(_check_positive_int(f"ranks[{index}]", rank) for index, rank in enumerate(ranks))
        self.ranks = ranks

        leaf_shape = (ranks[0], num_functions) if shared else (num_patches, ranks[0], num_functions)
        self.leaf_weight = _init_weight(leaf_shape, num_functions, generator)
        inner = []
        for level in range(1, levels):
            positions = num_patches >> level
            shape = (ranks[level], ranks[level - 1])
            inner.append(_init_weight(shape if shared else (positions, *shape), ranks[level - 1], generator))
        self.inner_weights = nn.ParameterList(inner)
        self.top_weight = _init_weight((num_classes, ranks[-1]), ranks[-1], generator)

    @property
    def L(self) -> int:
        return len(self.ranks)

    def to_tensor_model(self):
        """Return :meth:`to_ht_model`."""
        return self.to_ht_model()

    def _output_weight(self) -> nn.Parameter:
        return self.top_weight

    def _signed_log_scores(self, patches: torch.Tensor, rescale: bool | str):
        # rescale: False, True (every layer, see rescale_) or "hidden" (all but the output layer).
        log_abs, sign = self.representation.signed_log(patches)  # (B, N, M)
        log_abs, sign = self._linear(log_abs, sign, self.leaf_weight, bool(rescale))  # (B, N, r_0)
        for weight in self.inner_weights:
            log_abs, sign = signed_log_pair_product(log_abs, sign)  # (B, J/2, r_{l-1})
            log_abs, sign = self._linear(log_abs, sign, weight, bool(rescale))  # (B, J/2, r_l)
        log_abs, sign = signed_log_pair_product(log_abs, sign)  # (B, 1, r_{L-1})
        return self._linear(log_abs[:, 0], sign[:, 0], self.top_weight, rescale is True)  # (B, Y)

    def to_ht_model(self):
        """Return the :class:`~tfg_lib.expressivity.HTModel` of this network, in float64."""
        from tfg_lib.expressivity import HTModel

        def expand(weight: torch.Tensor, positions: int) -> np.ndarray:
            values = weight.detach().cpu().double().numpy()
            return np.repeat(values[None], positions, axis=0) if self.shared else values.copy()

        leaves = expand(self.leaf_weight, self.num_patches)
        inner = tuple(
            expand(weight, self.num_patches >> level)
            for level, weight in enumerate(self.inner_weights, start=1)
        )
        top = self.top_weight.detach().cpu().double().numpy().copy()
        return HTModel(leaves=leaves, inner=inner, top=top, shared=self.shared)

    @classmethod
    def from_ht_model(
        cls,
        model,
        patch_dim: int,
        representation: str | nn.Module = "gaussian",
        activation: str = "sigmoid",
        patch_size: int | None = None,
        dtype: torch.dtype = torch.float32,
        generator: torch.Generator | None = None,
    ) -> DeepConvAC:
        """Build the network whose coefficient tensor is ``model``'s.

        ``model`` is an :class:`~tfg_lib.expressivity.HTModel` or any object with ``leaves``
        ``(N, r_0, M)``, ``inner`` (arrays ``(N/2^l, r_l, r_{l-1})``), ``top`` ``(Y, r_{L-1})``
        and ``shared``.
        """
        leaves = _as_float64(model.leaves, "model.leaves", 3)
        inner = [_as_float64(weight, f"model.inner[{index}]", 3) for index, weight in enumerate(model.inner)]
        top = _as_float64(model.top, "model.top", 2)
        shared = bool(model.shared)
        num_patches, rank0, num_functions = leaves.shape
        ranks = (rank0, *(weight.shape[1] for weight in inner))
        network = cls(
            num_patches, patch_dim, num_functions, ranks, num_classes=top.shape[0], shared=shared,
            representation=representation, activation=activation, patch_size=patch_size,
            generator=generator,
        ).to(dtype)
        expected = [tuple(p.shape[-2:]) for p in network.inner_weights]
        received = [weight.shape[-2:] for weight in inner]
        if received != expected or top.shape[1] != ranks[-1]:
            raise ValueError(
                f"model.inner has level shapes {received} and model.top {top.shape}; for leaves "
                f"{leaves.shape} they must be {expected} and (Y, {ranks[-1]})."
            )
        with torch.no_grad():
            leaf = _shared_slice(leaves, "leaves") if shared else leaves
            network.leaf_weight.copy_(torch.from_numpy(leaf))
            for level, (parameter, weight) in enumerate(zip(network.inner_weights, inner), start=1):
                values = _shared_slice(weight, f"inner[{level - 1}] slices") if shared else weight
                parameter.copy_(torch.from_numpy(values))
            network.top_weight.copy_(torch.from_numpy(top))
        return network
