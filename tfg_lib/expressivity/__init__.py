"""Part A: CP and Hierarchical Tucker models, matricization ranks, bounds and counts.

A shallow convolutional arithmetic circuit (ConvAC) computes a CP decomposition of its
coefficient tensor A^y, a deep one a Hierarchical Tucker (HT) decomposition (Cohen, Sharir and
Shashua 2016, arXiv 1509.05009). This package builds both models, measures the rank of the
odd/even matricization of A^y in three independent ways, bounds how well a CP model can
approximate an HT tensor, and counts coefficients.
"""

from tfg_lib.expressivity.bounds import (
    CPFit,
    cp_approximation_lower_bound,
    cp_approximation_sweep,
    eckart_young_bounds,
    fit_cp,
)
from tfg_lib.expressivity.diagrams import draw_ht_diagram, ht_diagram_layout
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
from tfg_lib.expressivity.ranks import (
    DEFAULT_PRIME,
    CertifiedRank,
    DenseRank,
    UntrustworthyRankWarning,
    certified_rank,
    cp_rank_bound,
    dense_rank,
    ht_rank_bound,
    matricization_rank,
    matricize,
    rank_upper_bound,
    structured_core,
    structured_rank,
)
from tfg_lib.expressivity.symmetry import symmetrize, symmetry_deviation

__all__ = [
    "CPFit",
    "CPModel",
    "CertifiedRank",
    "DEFAULT_PRIME",
    "DenseRank",
    "HTModel",
    "UntrustworthyRankWarning",
    "certified_rank",
    "cp_approximation_lower_bound",
    "cp_approximation_sweep",
    "cp_coefficients",
    "cp_parameter_count",
    "cp_rank_bound",
    "dense_rank",
    "draw_ht_diagram",
    "eckart_young_bounds",
    "fit_cp",
    "ht_diagram_layout",
    "ht_extra_coefficients_for_cp",
    "ht_from_cp",
    "ht_parameter_count",
    "ht_rank_bound",
    "matricization_rank",
    "matricize",
    "random_cp_model",
    "random_ht_model",
    "rank_upper_bound",
    "structured_core",
    "structured_rank",
    "symmetrize",
    "symmetry_deviation",
]

# networks
from tfg_lib.expressivity.networks import DeepConvAC, ShallowConvAC  # noqa: E402

__all__ += ["DeepConvAC", "ShallowConvAC"]
