"""Convolutional arithmetic circuits (ConvACs): the CP and HT models as PyTorch networks.

:class:`ShallowConvAC` realises a CP model and :class:`DeepConvAC` a Hierarchical Tucker model;
both convert to and from :class:`~tfg_lib.expressivity.CPModel` and
:class:`~tfg_lib.expressivity.HTModel`. :mod:`.depth_efficiency` fits shallow and deep students to
a deep teacher.
"""

from .convac import DeepConvAC, ShallowConvAC
from .depth_efficiency import (
    eckart_young_floor,
    make_teacher,
    random_patches,
    relative_l2_error,
    resolve_device,
    run_depth_efficiency,
    train_regression,
)
from .depth_efficiency_report import (
    describe_depth_efficiency,
    plot_depth_efficiency,
    summarize_depth_efficiency,
)
from .representation import GaussianRepresentation, NeuronRepresentation, image_patches, make_representation
from .signed_log import (
    signed_log,
    signed_log_linear,
    signed_log_pair_product,
    signed_log_product,
    signed_log_to_value,
)

__all__ = [
    "ShallowConvAC",
    "DeepConvAC",
    "GaussianRepresentation",
    "NeuronRepresentation",
    "make_representation",
    "image_patches",
    "signed_log",
    "signed_log_to_value",
    "signed_log_product",
    "signed_log_pair_product",
    "signed_log_linear",
    "resolve_device",
    "random_patches",
    "make_teacher",
    "train_regression",
    "relative_l2_error",
    "eckart_young_floor",
    "run_depth_efficiency",
    "summarize_depth_efficiency",
    "plot_depth_efficiency",
    "describe_depth_efficiency",
]
