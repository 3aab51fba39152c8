"""Summary table, figure and plain-language reading of a depth-efficiency run.

The input is the DataFrame returned by
:func:`~tfg_lib.expressivity.networks.depth_efficiency.run_depth_efficiency`, one row per seed
and student.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib import ticker
import numpy as np
import pandas as pd

from tfg_lib.figures import tr

__all__ = ["summarize_depth_efficiency", "plot_depth_efficiency", "describe_depth_efficiency"]

REQUIRED_COLUMNS = ("seed", "architecture", "components", "coefficients", "test_error", "floor", "cp_rank_bound")


def _check_results(results: pd.DataFrame) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in results.columns]
    if missing:
        raise ValueError(
            f"results lacks the columns {missing}; pass the DataFrame returned by run_depth_efficiency."
        )
    if results.empty:
        raise ValueError("results is empty; run run_depth_efficiency with at least one seed.")


def summarize_depth_efficiency(results: pd.DataFrame) -> pd.DataFrame:
    """Aggregate over seeds: one row per student with the mean, min and max held-out error.

    Columns: ``architecture``, ``components``, ``coefficients``, ``seeds``, ``test_error_mean``,
    ``test_error_min``, ``test_error_max``, ``floor_mean`` and ``cp_rank_bound``.
    """
    _check_results(results)
    grouped = results.groupby(["architecture", "components", "coefficients"], sort=False)
    summary = grouped.agg(
        seeds=("seed", "nunique"),
        test_error_mean=("test_error", "mean"),
        test_error_min=("test_error", "min"),
        test_error_max=("test_error", "max"),
        floor_mean=("floor", "mean"),
        cp_rank_bound=("cp_rank_bound", "first"),
    )
    return summary.reset_index()


def plot_depth_efficiency(results: pd.DataFrame, language: str = "en"):
    """Draw held-out relative L2 error against coefficient count, marking Z = r^{N/2}.

    Returns the figure and the tidy frame it draws (:func:`summarize_depth_efficiency`).
    """
    summary = summarize_depth_efficiency(results)
    bound = int(summary["cp_rank_bound"].iloc[0])
    shallow = summary[summary["architecture"] == "shallow"].sort_values("components")
    deep = summary[summary["architecture"] == "deep"]

    fig, ax = plt.subplots()
    error_bars = [shallow["test_error_mean"] - shallow["test_error_min"],
                  shallow["test_error_max"] - shallow["test_error_mean"]]
    ax.errorbar(shallow["coefficients"], shallow["test_error_mean"], yerr=error_bars, marker="o",
                capsize=3, label=tr(language, "shallow students (CP), Z components",
                                    "alumnos superficiales (CP), Z componentes"))
    for _, row in shallow.iterrows():
        ax.annotate(f"Z={int(row['components'])}", (row["coefficients"], row["test_error_mean"]),
                    textcoords="offset points", xytext=(4, 4), fontsize=7)
    floor = shallow[np.isfinite(shallow["floor_mean"]) & (shallow["floor_mean"] > 0)]
    if not floor.empty:
        ax.plot(floor["coefficients"], floor["floor_mean"], linestyle="--", marker=".",
                label=tr(language, "Eckart-Young floor for Z components",
                         "cota de Eckart-Young para Z componentes"))
    deep_errors = [deep["test_error_mean"] - deep["test_error_min"],
                   deep["test_error_max"] - deep["test_error_mean"]]
    ax.errorbar(deep["coefficients"], deep["test_error_mean"], yerr=deep_errors, marker="*",
                markersize=12, linestyle="none", capsize=3,
                label=tr(language, "deep students (HT), rank r", "alumnos profundos (HT), rango r"))
    for _, row in deep.iterrows():
        ax.annotate(f"r={int(row['components'])}", (row["coefficients"], row["test_error_mean"]),
                    textcoords="offset points", xytext=(4, -10), fontsize=7)

    at_bound = shallow[shallow["components"] == bound]
    if not at_bound.empty:
        ax.axvline(at_bound["coefficients"].iloc[0], color="0.4", linestyle=":",
                   label=tr(language, f"shallow with Z = r^(N/2) = {bound}",
                            f"superficial con Z = r^(N/2) = {bound}"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel(tr(language, "Coefficients (1x1 and dense weights)", "Coeficientes (pesos 1x1 y densos)"))
    ax.set_ylabel(tr(language, "Held-out relative L2 error", "Error L2 relativo en validación"))
    ax.legend(fontsize=8)
    return fig, summary


def describe_depth_efficiency(results: pd.DataFrame) -> str:
    """Compare the measured errors with what theorem 1 predicts, in a few plain sentences.

    The statements are computed from ``results``: each deep student's error, the shallow
    students below and at or above Z = r^{N/2}, their distance to the Eckart-Young floor, and
    the smallest shallow student that matches the best deep student's mean error.
    """
    summary = summarize_depth_efficiency(results)
    bound = int(summary["cp_rank_bound"].iloc[0])
    shallow = summary[summary["architecture"] == "shallow"].sort_values("components")
    deep_students = summary[summary["architecture"] == "deep"]
    lines = [
        f"Deep student r={int(row['components'])}: {int(row['coefficients'])} coefficients, mean "
        f"held-out relative L2 error {row['test_error_mean']:.3g}."
        for _, row in deep_students.iterrows()
    ]
    deep = deep_students.loc[deep_students["test_error_mean"].idxmin()]

    below = shallow[shallow["components"] < bound]
    finite = below[np.isfinite(below["floor_mean"])]
    if not finite.empty:
        ratio = (finite["test_error_mean"] / finite["floor_mean"]).to_numpy()
        lines.append(
            f"Shallow students below the bound (Z < {bound}): the Eckart-Young floor is "
            f"{finite['floor_mean'].min():.3g} to {finite['floor_mean'].max():.3g}, and the measured "
            f"error is {ratio.min():.2f} to {ratio.max():.2f} times the floor. A ratio below 1 "
            "can only come from the finite held-out sample or the Monte Carlo Gram estimate."
        )
    elif not below.empty:
        lines.append(f"Shallow students below the bound (Z < {bound}): no floor was computed.")

    above = shallow[shallow["components"] >= bound]
    if not above.empty:
        lines.append(
            f"Shallow students with Z >= {bound} (floor 0): measured error "
            f"{above['test_error_mean'].min():.3g} to {above['test_error_mean'].max():.3g}; what is "
            "left is training error, not a limit of the model."
        )

    matching = shallow[shallow["test_error_mean"] <= deep["test_error_mean"]]
    if matching.empty:
        lines.append(
            f"No shallow student reached the best deep student's error; the largest "
            f"(Z={int(shallow['components'].max())}, {int(shallow['coefficients'].max())} "
            "coefficients) stayed above it."
        )
    else:
        first = matching.iloc[0]
        lines.append(
            f"The smallest shallow student at or below the best deep student's error (r="
            f"{int(deep['components'])}) has Z={int(first['components'])} and "
            f"{int(first['coefficients'])} coefficients, "
            f"{first['coefficients'] / deep['coefficients']:.1f} times the deep student's."
        )
    return "\n".join(lines)
