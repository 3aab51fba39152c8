"""Part A: CP and Hierarchical Tucker models, matricization ranks, bounds and counts.

A shallow convolutional arithmetic circuit (ConvAC) computes a CP decomposition of its
coefficient tensor A^y, a deep one a Hierarchical Tucker (HT) decomposition (Cohen, Sharir and
Shashua 2016, arXiv 1509.05009). This package builds both models, measures the rank of the
odd/even matricization of A^y in three independent ways, bounds how well a CP model can
approximate an HT tensor, and counts coefficients.
"""

from tfg_lib.expressivity.models import (
    CPModel,
    HTModel,
    cp_coefficients,
    cp_parameter_count,
    ht_extra_coefficients_for_cp,
    ht_from_cp,
    ht_parameter_count,
    random_cp_model,
    random_ht_model,
)

__all__ = [
    "CPModel",
    "HTModel",
    "cp_coefficients",
    "cp_parameter_count",
    "ht_extra_coefficients_for_cp",
    "ht_from_cp",
    "ht_parameter_count",
    "random_cp_model",
    "random_ht_model",
]

# networks
