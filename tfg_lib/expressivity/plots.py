"""Figures 1-5 of Part A, drawn from the tidy tables of :mod:`tfg_lib.expressivity.experiments`.

Every function returns a matplotlib Figure; the notebooks save it with
``tfg_lib.figures.save_figure(fig, stem, data=table)``. Text is English or Spanish through the
``language`` argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from tfg_lib.expressivity.diagrams import draw_ht_diagram
from tfg_lib.expressivity.models import HTModel
from tfg_lib.expressivity.ranks import DenseRank
from tfg_lib.figures import PALETTE, check_language, tr

EPS = np.finfo(np.float64).eps
PATH_MARKERS = {"dense_rank": "o", "structured_rank": "s", "certified_rank": "x"}


def _path_label(language: str, column: str) -> str:
    names = {
        "dense_rank": ("dense SVD", "SVD densa"),
        "structured_rank": ("structured (HT factors)", "estructurado (factores HT)"),
        "certified_rank": ("certified mod p", "certificado mód p"),
    }
    return tr(language, *names[column])


def plot_rank_grid(ht_table: pd.DataFrame, cp_table: pd.DataFrame, language: str = "en"):
    """Plot figure 1, the measured rank[A] against min(r_0, M)^(N/2) for HT and against Z for CP."""
    check_language(language)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    bounds = ht_table["bound"].astype(float)
    limits = [0.7, bounds.max() * 1.5]
    left.plot(limits, limits, color="0.5", linestyle="--", linewidth=1,
              label=tr(language, r"rank = $\min(r_0, M)^{N/2}$", r"rango = $\min(r_0, M)^{N/2}$"))
    for colour, N in zip(PALETTE, sorted(ht_table["N"].unique())):
        part = ht_table[ht_table["N"] == N]
        for column, marker in PATH_MARKERS.items():
            measured = part[part[column].notna()]
            filled = measured[~measured["shared"]]
            hollow = measured[measured["shared"]]
            left.scatter(filled["bound"], filled[column], marker=marker, color=colour, s=30, alpha=0.8)
            if marker != "x":
                left.scatter(hollow["bound"] * 1.08, hollow[column], marker=marker, s=30,
                             facecolor="none", edgecolor=colour)
            else:
                left.scatter(hollow["bound"] * 1.08, hollow[column], marker="+", s=40, color=colour)
        left.scatter([], [], color=colour, marker="o", label=f"N = {N}")
    for column, marker in PATH_MARKERS.items():
        left.scatter([], [], color="0.3", marker=marker, label=_path_label(language, column))
    left.scatter([], [], facecolor="none", edgecolor="0.3", marker="o",
                 label=tr(language, "hollow / +: shared", "hueco / +: compartido"))
    left.set(xscale="log", yscale="log", xlim=limits, ylim=limits,
             xlabel=r"$\min(r_0, M)^{N/2}$",
             ylabel=tr(language, "rank of the matricization [A]", "rango de la matricización [A]"),
             title=tr(language, "Random HT tensors", "Tensores HT aleatorios"))
    left.legend(fontsize=7, loc="upper left")

    for colour, (N, shared) in zip(PALETTE, cp_table.groupby(["N", "shared"]).groups):
        part = cp_table[(cp_table["N"] == N) & (cp_table["shared"] == shared)].sort_values("Z")
        name = tr(language, "shared" if shared else "not shared", "compartido" if shared else "no compartido")
        right.plot(part["Z"], part["bound"], color=colour, linestyle="--", linewidth=1)
        measured = part["certified_rank"].where(part["certified_rank"].notna(), part["dense_rank"])
        right.plot(part["Z"], measured, marker="o", color=colour, linestyle="none",
                   label=f"N = {N}, {name}")
    right.plot([], [], color="0.5", linestyle="--", label=tr(language, "upper bound", "cota superior"))
    right.set(xscale="log", yscale="log", xlabel=tr(language, "components Z", "componentes Z"),
              ylabel=tr(language, "rank of [A]", "rango de [A]"),
              title=tr(language, "Random CP tensors", "Tensores CP aleatorios"))
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_spectrum(results: dict[str, DenseRank], language: str = "en"):
    """Plot the relative singular-value spectra sigma_k / sigma_1, with each rank threshold."""
    check_language(language)
    fig, ax = plt.subplots()
    for colour, (name, result) in zip(PALETTE, results.items()):
        spectrum = np.maximum(result.relative_spectrum, EPS * 1e-3)
        verdict = tr(language, "trustworthy" if result.trustworthy else "NOT trustworthy",
                     "fiable" if result.trustworthy else "NO fiable")
        ax.plot(np.arange(1, spectrum.size + 1), spectrum, color=colour,
                label=f"{name}: rank {result.rank} ({verdict})")
        ax.axhline(result.threshold, color=colour, linestyle=":", linewidth=1)
        ax.axhline(result.threshold * result.margin, color=colour, linestyle="--", linewidth=0.8)
    ax.set(yscale="log", xscale="log", xlabel="k",
           ylabel=r"$\sigma_k / \sigma_1$",
           title=tr(language, "Spectrum of [A]: threshold (dotted) and trust margin (dashed)",
                    "Espectro de [A]: umbral (punteado) y margen de confianza (discontinuo)"))
    ax.legend(fontsize=7)
    return fig


def plot_cp_approximation(table: pd.DataFrame, rank: int, language: str = "en"):
    """Plot figure 2, the best parafac error against the Eckart-Young bound as Z grows."""
    check_language(language)
    fig, ax = plt.subplots()
    floor = EPS
    ax.plot(table["Z"], np.maximum(table["worst_error"], floor), color=PALETTE[0], alpha=0.35,
            marker=".", linestyle="none", label=tr(language, "parafac, worst start", "parafac, peor inicio"))
    ax.plot(table["Z"], np.maximum(table["relative_error"], floor), color=PALETTE[0], marker="o",
            label=tr(language, "parafac, best start", "parafac, mejor inicio"))
    positive = table[table["lower_bound"] > floor]
    ax.plot(positive["Z"], positive["lower_bound"], color=PALETTE[1], marker="s",
            label=tr(language, "Eckart-Young lower bound", "cota inferior de Eckart-Young"))
    stalled = table[table["stalled"]]
    ax.scatter(stalled["Z"], stalled["relative_error"], s=110, facecolor="none", edgecolor=PALETTE[3],
               linewidth=1.5, label=tr(language, "worse than a smaller Z: ALS stalled (swamp)",
                                       "peor que un Z menor: ALS estancado (pantano)"))
    ax.axvline(rank, color="0.4", linestyle="--", linewidth=1)
    ax.text(rank, ax.get_ylim()[1], rf" $r^{{N/2}}$ = {rank}", va="top", fontsize=8)
    ax.set(yscale="log", xlabel=tr(language, "CP components Z", "componentes CP Z"),
           ylabel=r"$\|A - B\|_F / \|A\|_F$",
           title=tr(language, "CP approximation of an HT tensor", "Aproximación CP de un tensor HT"))
    ax.legend(fontsize=7)
    return fig


def plot_coefficient_counts(table: pd.DataFrame, language: str = "en"):
    """Plot figure 3, the thesis' count formulas as lines, the models' exact counts as points."""
    check_language(language)
    names = {
        "CP": ("CP, Z components", "CP, Z componentes"),
        "HT": ("HT, ranks r", "HT, rangos r"),
        "HT realising CP": ("HT realising CP (ranks Z)", "HT que realiza CP (rangos Z)"),
        "CP realising HT": (r"CP realising HT ($Z = r^{N/2}$)", r"CP que realiza HT ($Z = r^{N/2}$)"),
    }
    fig, ax = plt.subplots()
    for colour, (series, labels) in zip(PALETTE, names.items()):
        part = table[table["series"] == series].sort_values("N")
        ax.plot(part["N"], part["formula"], color=colour, label=tr(language, *labels))
        ax.scatter(part["N"], part["exact"], color=colour, marker="o", s=25, zorder=3)
    ax.scatter([], [], color="0.3", label=tr(language, "points: counted from model arrays",
                                             "puntos: contados en los arrays del modelo"))
    ax.set(xscale="log", yscale="log", xlabel=tr(language, "N (patches)", "N (parches)"),
           ylabel=tr(language, "coefficients", "coeficientes"),
           title=tr(language, "Coefficient counts of CP and HT", "Número de coeficientes de CP y HT"))
    ax.set_xticks(sorted(table["N"].unique()), [str(n) for n in sorted(table["N"].unique())])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())  # the log axis' own minor labels overlap
    ax.legend(fontsize=7)
    return fig


def plot_ht_diagrams(models: Sequence[HTModel], language: str = "en"):
    """Plot figure 4, the construction diagram of each model, side by side."""
    check_language(language)
    fig, axes = plt.subplots(1, len(models), figsize=(7.5 * len(models), 5.5))
    for ax, model in zip(np.atleast_1d(axes), models):
        draw_ht_diagram(model, ax=ax, language=language)
    fig.tight_layout()
    return fig


def plot_symmetry(table: pd.DataFrame, language: str = "en"):
    """Plot figure 5, the symmetry deviation per N for CP and HT, shared and not (zeros at the floor)."""
    check_language(language)
    floor = EPS * 1e-2
    fig, ax = plt.subplots()
    groups = list(table.groupby(["model", "shared"]).groups)
    width = 0.8 / max(len(groups), 1)
    N_values = sorted(table["N"].unique())
    for offset, (colour, (model, shared)) in enumerate(zip(PALETTE, groups)):
        part = table[(table["model"] == model) & (table["shared"] == shared)]
        x = np.array([N_values.index(n) for n in part["N"]]) + (offset - (len(groups) - 1) / 2) * width
        label = f"{model}, " + tr(language, "shared" if shared else "not shared",
                                   "compartido" if shared else "no compartido")
        ax.scatter(x, np.maximum(part["deviation"], floor), color=colour, label=label, s=20)
    ax.axhline(EPS, color="0.5", linestyle=":", linewidth=1)
    ax.text(-0.45, EPS * 1.5, tr(language, "machine epsilon", "épsilon de máquina"), fontsize=7)
    ax.set_xticks(range(len(N_values)), [f"N = {n}" for n in N_values])
    ax.set(yscale="log", ylabel=r"$\|A - \mathrm{Sym}(A)\|_F / \|A\|_F$",
           title=tr(language, "Symmetry of CP and HT tensors", "Simetría de tensores CP y HT"))
    ax.legend(fontsize=7)
    return fig
