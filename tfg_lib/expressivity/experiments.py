"""Tidy tables behind the Part A figures: rank grids, coefficient counts and symmetry.

Each function returns a pandas DataFrame with one row per measured point, ready for
``tfg_lib.figures.save_figure(fig, stem, data=frame)``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tfg_lib.expressivity.models import (
    check_power_of_two,
    ht_from_cp,
    random_cp_model,
    random_ht_model,
)
from tfg_lib.expressivity.ranks import (
    certified_rank,
    cp_rank_bound,
    dense_rank,
    ht_rank_bound,
    structured_rank,
)
from tfg_lib.expressivity.symmetry import symmetry_deviation

logger = logging.getLogger(__name__)


def _check_int_list(name: str, values: object, minimum: int) -> list[int]:
    try:
        items = list(values)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"{name}={values!r} must be a list of ints.") from None
    if not items:
        raise ValueError(f"{name} is empty; pass at least one value.")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)) or item < minimum:
            raise ValueError(f"{name} contains {item!r}; every entry must be an int >= {minimum}.")
    return [int(item) for item in items]


def _rank_row(model, max_dense_side: int, max_core_side: int, core_side: int) -> dict:
    """Run the three paths on one model wherever their size limits allow."""
    dense_side = model.M ** (model.N // 2)
    row: dict = {"dense_rank": np.nan, "dense_trustworthy": None, "structured_rank": np.nan,
                 "structured_trustworthy": None, "certified_rank": np.nan, "certified_exact": None}
    if dense_side <= max_dense_side:
        result = dense_rank(model)
        row.update(dense_rank=result.rank, dense_trustworthy=result.trustworthy,
                   smallest_singular_value=result.smallest_counted)
    if core_side <= max_core_side:
        result = structured_rank(model)
        row.update(structured_rank=result.rank, structured_trustworthy=result.trustworthy)
        certified = certified_rank(model, structured=True)
        row.update(certified_rank=certified.rank, certified_exact=certified.exact)
    elif dense_side <= max_dense_side:
        certified = certified_rank(model)
        row.update(certified_rank=certified.rank, certified_exact=certified.exact)
    return row


def ht_rank_grid(
    N_values: Sequence[int] = (4, 8, 16),
    M_values: Sequence[int] = (2, 3, 4),
    r0_values: Sequence[int] = (1, 2, 3),
    shared_values: Sequence[bool] = (False, True),
    inner_rank: int | None = None,
    seeds: int = 1,
    seed: int = 0,
    integers: int | None = None,
    max_dense_side: int = 729,
    max_core_side: int = 1024,
    progress: bool = True,
) -> pd.DataFrame:
    """Measure rank[A] of random HT models over a grid, by the three paths, beside the bound.

    Each model has standard normal entries (the continuous draw of Theorem 1), or integers from
    ``-integers..integers`` when ``integers`` is given. All three paths measure the same model:
    the certified path uses the float parameters exactly. The ranks above r_0 are
    ``inner_rank`` (default r_0). A path is skipped (NaN) where its matrix side exceeds its limit: the dense
    path needs side M^(N/2) <= ``max_dense_side``, the structured and the certified structured
    path need min(r_0, M)^(N/2) <= ``max_core_side``.

    Returns
    -------
    DataFrame
        One row per (N, M, r0, shared, draw) with ``bound`` = min(r_0, M)^(N/2), the ranks
        ``dense_rank``, ``structured_rank``, ``certified_rank`` and their verdicts.
    """
    from tqdm.auto import tqdm

    N_values = [check_power_of_two(N) for N in _check_int_list("N_values", N_values, 2)]
    M_values = _check_int_list("M_values", M_values, 1)
    r0_values = _check_int_list("r0_values", r0_values, 1)
    seeds = _check_int_list("seeds", [seeds], 1)[0]
    grid = list(itertools.product(N_values, M_values, r0_values, list(shared_values), range(seeds)))
    rows = []
    for index, (N, M, r0, shared, draw) in enumerate(tqdm(grid, desc="HT ranks", disable=not progress)):
        L = N.bit_length() - 1
        ranks = (r0,) + (inner_rank or r0,) * (L - 1)
        model = random_ht_model(N, M, ranks, shared=bool(shared), seed=seed + index, integers=integers)
        bound = ht_rank_bound(N, M, r0)
        row = {"N": N, "M": M, "r0": r0, "shared": bool(shared), "draw": draw, "bound": bound}
        row.update(_rank_row(model, max_dense_side, max_core_side, core_side=bound))
        rows.append(row)
    return pd.DataFrame(rows)


def cp_rank_grid(
    N_values: Sequence[int] = (4, 8),
    M: int = 3,
    Z_values: Sequence[int] = (1, 2, 4, 8, 16, 32),
    shared_values: Sequence[bool] = (False, True),
    seed: int = 0,
    integers: int | None = None,
    max_dense_side: int = 729,
    max_core_side: int = 1024,
    progress: bool = True,
) -> pd.DataFrame:
    """Measure rank[A] of random CP models against Z, beside :func:`cp_rank_bound`.

    The structured path goes through :func:`ht_from_cp` (core side min(Z, M)^(N/2)). Size
    limits and draws as in :func:`ht_rank_grid`.
    """
    from tqdm.auto import tqdm

    N_values = [check_power_of_two(N) for N in _check_int_list("N_values", N_values, 2)]
    Z_values = _check_int_list("Z_values", Z_values, 1)
    grid = list(itertools.product(N_values, Z_values, list(shared_values)))
    rows = []
    for index, (N, Z, shared) in enumerate(tqdm(grid, desc="CP ranks", disable=not progress)):
        model = random_cp_model(N, M, Z, shared=bool(shared), seed=seed + index, integers=integers)
        row = {"N": N, "M": M, "Z": Z, "shared": bool(shared), "bound": cp_rank_bound(N, M, Z, bool(shared))}
        core_side = min(Z, M) ** (N // 2)
        row.update(_rank_row(model, max_dense_side, max_core_side, core_side))
        rows.append(row)
    return pd.DataFrame(rows)


def coefficient_counts(
    N_values: Sequence[int] = (2, 4, 8, 16, 32),
    M: int = 10,
    r: int = 2,
    Z: int = 10,
    Y: int = 10,
    max_exact_entries: int = 2_000_000,
) -> pd.DataFrame:
    """Compare CP and HT coefficient counts as N grows, by formula and by counting model arrays.

    Series: ``CP`` (Z components, N M Z + Y Z), ``HT`` (all ranks r,
    M r N + N r^2 (2^{L-1}-1)/2^{L-1} + r Y), ``HT realising CP`` (ranks Z: the CP count plus
    N Z^2 (2^{L-1}-1)/2^{L-1}) and ``CP realising HT`` (Z = r^(N/2) components, the fewest a CP
    model needs by Theorem 1). The ``exact`` column counts the arrays of models the library
    builds (:func:`random_cp_model`, :func:`random_ht_model`, :func:`ht_from_cp`) and is NaN
    where those arrays would exceed ``max_exact_entries``.

    Returns
    -------
    DataFrame
        Columns N, series, formula, exact.
    """
    N_values = [check_power_of_two(N) for N in _check_int_list("N_values", N_values, 2)]
    rows = []
    for N in N_values:
        L = N.bit_length() - 1
        tail = (2 ** (L - 1) - 1) / 2 ** (L - 1)
        Z_ht = r ** (N // 2)
        formulas = {
            "CP": N * M * Z + Y * Z,
            "HT": M * r * N + N * r**2 * tail + r * Y,
            "HT realising CP": N * M * Z + Y * Z + N * Z**2 * tail,
            "CP realising HT": N * M * Z_ht + Y * Z_ht,
        }
        exact = {
            "CP": random_cp_model(N, M, Z, Y).parameter_count(),
            "HT": random_ht_model(N, M, (r,) * L, Y).parameter_count(),
            "HT realising CP": ht_from_cp(random_cp_model(N, M, Z, Y)).parameter_count(),
            "CP realising HT": (
                random_cp_model(N, M, Z_ht, Y).parameter_count()
                if N * M * Z_ht <= max_exact_entries
                else np.nan
            ),
        }
        for series, formula in formulas.items():
            rows.append({"N": N, "series": series, "formula": float(formula), "exact": exact[series]})
    return pd.DataFrame(rows)


def symmetry_table(
    N_values: Sequence[int] = (2, 4, 8),
    M: int = 3,
    r: int = 2,
    Z: int = 4,
    draws: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Measure the symmetry deviation of random CP and HT tensors, shared and not.

    Returns
    -------
    DataFrame
        Columns N, model ("CP" or "HT"), shared, draw, deviation (:func:`symmetry_deviation`).
    """
    N_values = [check_power_of_two(N) for N in _check_int_list("N_values", N_values, 2)]
    draws = _check_int_list("draws", [draws], 1)[0]
    if max(N_values) > 12 or M ** max(N_values) > 10**7:
        raise ValueError(
            f"N_values={N_values} with M={M} gives dense tensors of up to {M ** max(N_values)} "
            "entries; keep M^N <= 1e7 (for example N <= 8 with M = 3)."
        )
    rows = []
    counter = itertools.count(seed)
    for N, shared, draw in itertools.product(N_values, (True, False), range(draws)):
        L = N.bit_length() - 1
        models = {
            "CP": random_cp_model(N, M, Z, shared=shared, seed=next(counter)),
            "HT": random_ht_model(N, M, (r,) * L, shared=shared, seed=next(counter)),
        }
        for name, model in models.items():
            rows.append({"N": N, "model": name, "shared": shared, "draw": draw,
                         "deviation": symmetry_deviation(model)})
    return pd.DataFrame(rows)

