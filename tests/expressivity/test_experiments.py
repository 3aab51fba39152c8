"""Table builders behind the figures: ranks meet their bounds, formulas meet exact counts."""

import numpy as np
import pytest

from tfg_lib.expressivity import cp_parameter_count, ht_parameter_count
from tfg_lib.expressivity.experiments import coefficient_counts, cp_rank_grid, ht_rank_grid, symmetry_table


def test_ht_rank_grid_reaches_bound():
    table = ht_rank_grid([2, 4, 8], [2, 3], [1, 2], seed=7, progress=False)
    assert len(table) == 3 * 2 * 2 * 2
    assert (table["structured_rank"] == table["bound"]).all()
    assert (table["certified_rank"] == table["bound"]).all()
    assert (table["dense_rank"] == table["bound"]).all()
    assert table["certified_exact"].all()


def test_ht_rank_grid_skips_paths_past_limits():
    table = ht_rank_grid([16], [4], [2], shared_values=[False], max_dense_side=100, progress=False)
    row = table.iloc[0]
    assert np.isnan(row["dense_rank"])
    assert row["structured_rank"] == row["certified_rank"] == 256


def test_cp_rank_grid_reaches_bound():
    table = cp_rank_grid([4], 3, [1, 3, 9, 12], seed=8, progress=False)
    assert (table["dense_rank"] == table["bound"]).all()
    assert (table["certified_rank"] == table["bound"]).all()
    assert table.loc[~table["shared"], "bound"].tolist() == [1, 3, 9, 9]
    assert table.loc[table["shared"], "bound"].tolist() == [1, 3, 6, 6]


def test_coefficient_counts_formulas_match_models():
    table = coefficient_counts([2, 4, 8, 16], M=5, r=2, Z=3, Y=4)
    exact = table.dropna()
    np.testing.assert_array_equal(exact["formula"], exact["exact"])
    row = table.set_index(["N", "series"])
    assert row.loc[(8, "CP"), "exact"] == cp_parameter_count(8, 5, 3, 4)
    assert row.loc[(8, "HT"), "exact"] == ht_parameter_count(8, 5, (2, 2, 2), 4)
    assert row.loc[(16, "CP realising HT"), "formula"] == cp_parameter_count(16, 5, 2**8, 4)


def test_symmetry_table_separates_models():
    table = symmetry_table([4], M=2, draws=2)
    shared = table[table["shared"]].set_index("model")["deviation"]
    assert shared.loc["CP"].max() < 1e-14
    # Far above roundoff, though a draw with M = 2 can come close to symmetric (about 1e-5).
    assert shared.loc["HT"].min() > 1e-8
    with pytest.raises(ValueError, match="entries"):
        symmetry_table([16], M=3)
