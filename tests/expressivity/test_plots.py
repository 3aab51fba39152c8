"""Figures 1-5 draw from the tables and switch language."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from tfg_lib.expressivity import dense_rank, random_ht_model
from tfg_lib.expressivity.bounds import cp_approximation_sweep
from tfg_lib.expressivity.experiments import coefficient_counts, cp_rank_grid, ht_rank_grid, symmetry_table
from tfg_lib.expressivity.plots import (
    plot_coefficient_counts,
    plot_cp_approximation,
    plot_ht_diagrams,
    plot_rank_grid,
    plot_spectrum,
    plot_symmetry,
)


def all_text(fig) -> str:
    parts = []
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        legend = ax.get_legend()
        if legend is not None:
            parts += [text.get_text() for text in legend.get_texts()]
    return " ".join(parts)


@pytest.fixture(scope="module")
def tables():
    model = random_ht_model(4, 2, (2, 2), seed=401)
    return {
        "ht": ht_rank_grid([2, 4], [2], [1, 2], progress=False),
        "cp": cp_rank_grid([4], 2, [1, 2, 4], progress=False),
        "sweep": cp_approximation_sweep(model.tensor(), [1, 2, 3], n_init=1, n_iter_max=5, progress=False),
        "counts": coefficient_counts([2, 4, 8], M=3, r=2, Z=3, Y=2),
        "symmetry": symmetry_table([2, 4], M=2, draws=1),
        "spectrum": {"example": dense_rank(model)},
    }


@pytest.mark.parametrize("language, word", [("en", "components"), ("es", "componentes")])
def test_figures_follow_language(tables, language, word):
    figures = [
        plot_rank_grid(tables["ht"], tables["cp"], language=language),
        plot_spectrum(tables["spectrum"], language=language),
        plot_cp_approximation(tables["sweep"], 4, language=language),
        plot_coefficient_counts(tables["counts"], language=language),
        plot_ht_diagrams([random_ht_model(4, 2, (1, 1), seed=402)], language=language),
        plot_symmetry(tables["symmetry"], language=language),
    ]
    assert word in all_text(figures[0])
    assert word in all_text(figures[2])
    for fig in figures:
        assert fig.axes
        plt.close(fig)


def test_figure_rejects_unknown_language(tables):
    with pytest.raises(ValueError, match="language"):
        plot_symmetry(tables["symmetry"], language="de")
    assert isinstance(tables["counts"], pd.DataFrame)
