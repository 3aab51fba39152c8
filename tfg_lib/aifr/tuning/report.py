"""Tables and figures of a finished study, and the thesis' chosen settings to compare against.

Every plotting function returns ``(figure, tidy_frame)`` so that a notebook can pass both to
:func:`tfg_lib.figures.save_figure`. Labels switch between English and Spanish via ``language``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from tfg_lib.aifr.tuning.objective import FAIL_REASON_ATTR, FOLD_SCORES_ATTR
from tfg_lib.aifr.tuning.space import SearchSpace
from tfg_lib.aifr.tuning.study import WORKER_ATTR
from tfg_lib.figures import PALETTE, tr

logger = logging.getLogger(__name__)

NOT_FOUND = "not found"

# The settings the thesis trained its final models with, as stated in its slides and in the
# experiment table of this companion's specification. The slides give no value for the keys
# marked NOT_FOUND; the MNIST margin is the alpha = 1 of that table.
THESIS_CHOSEN_VALUES: dict[str, dict[str, Any]] = {
    "P": {"mnist": 16, "cacd": 16},
    "K": {"mnist": 8, "cacd": 4},
    "network": {"mnist": "light", "cacd": "resnet18"},
    "loss": {"mnist": "batch_hard", "cacd": "batch_hard"},
    "l2_normalize": {"mnist": NOT_FOUND, "cacd": NOT_FOUND},
    "embedding_dim": {"mnist": 5, "cacd": 10},
    "lr": {"mnist": 1e-3, "cacd": 1e-4},
    "soft_margin": {"mnist": NOT_FOUND, "cacd": NOT_FOUND},
    "margin": {"mnist": 1.0, "cacd": NOT_FOUND},
    "use_norm_penalty": {"mnist": NOT_FOUND, "cacd": NOT_FOUND},
    "norm_penalty": {"mnist": NOT_FOUND, "cacd": NOT_FOUND},
    "use_grad_clip": {"mnist": NOT_FOUND, "cacd": NOT_FOUND},
    "grad_clip": {"mnist": NOT_FOUND, "cacd": NOT_FOUND},
    "normalize": {"mnist": True, "cacd": True},
    "epochs": {"mnist": 20, "cacd": NOT_FOUND},
}


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """Tabulate every trial: number, state, value, parameters, fold scores, worker, failure reason."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        duration = trial.duration.total_seconds() if trial.duration is not None else math.nan
        row = {
            "number": trial.number,
            "state": trial.state.name,
            "value": trial.value if trial.value is not None else math.nan,
            "seconds": duration,
            "worker": trial.user_attrs.get(WORKER_ATTR, ""),
            "fold_rank_1": trial.user_attrs.get(FOLD_SCORES_ATTR),
            "fail_reason": trial.user_attrs.get(FAIL_REASON_ATTR, ""),
        }
        row.update({f"param_{name}": value for name, value in trial.params.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """Return the complete trial with the highest value; raise ``ValueError`` if none completed."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ValueError(
            f"study {study.study_name!r} has no complete trial yet; run more trials (every trial "
            "so far failed or was pruned, see trials_frame(study))."
        )
    return max(complete, key=lambda trial: (trial.value, -trial.number))


def compare_with_thesis(params: Mapping[str, Any], space: SearchSpace | None = None) -> pd.DataFrame:
    """Put ``params`` (a best trial's parameters) beside the thesis' MNIST and CACD settings.

    A parameter the trial did not sample (its condition failed) shows "not sampled"; with
    ``space`` given, the fixed values of the space appear too.
    """
    rows = []
    names = list(THESIS_CHOSEN_VALUES)
    for name in params:
        if name not in names:
            names.append(name)
    fixed = dict(space.fixed) if space is not None else {}
    for name in names:
        if name in params:
            found = params[name]
        elif name in fixed:
            found = fixed[name]
        else:
            found = "not sampled"
        thesis = THESIS_CHOSEN_VALUES.get(name, {})
        rows.append(
            {
                "parameter": name,
                "best trial": found,
                "thesis MNIST": thesis.get("mnist", NOT_FOUND),
                "thesis CACD": thesis.get("cacd", NOT_FOUND),
            }
        )
    return pd.DataFrame(rows).astype(str)


def plot_optimization_history(study: optuna.Study, language: str = "en") -> tuple[plt.Figure, pd.DataFrame]:
    """Plot each finished trial's value and the best value so far against the trial number."""
    frame = trials_frame(study)
    frame = frame[frame["state"].isin(["COMPLETE", "PRUNED"])].sort_values("number")
    complete = frame["state"] == "COMPLETE"
    # The best complete value so far; pruned trials carry it forward.
    best = frame["value"].where(complete).cummax().ffill()
    data = pd.DataFrame(
        {"trial": frame["number"], "state": frame["state"], "value": frame["value"], "best_so_far": best}
    )

    fig, ax = plt.subplots()
    labels = {
        "COMPLETE": tr(language, "complete trial", "prueba completa"),
        "PRUNED": tr(language, "pruned trial (last reported value)", "prueba podada (último valor)"),
    }
    for (state, marker), colour in zip((("COMPLETE", "o"), ("PRUNED", "x")), PALETTE):
        part = data[data["state"] == state]
        if len(part):
            ax.scatter(part["trial"], part["value"], marker=marker, color=colour, label=labels[state])
    ax.step(data["trial"], data["best_so_far"], where="post", color=PALETTE[2], label=tr(language, "best so far", "mejor hasta ahora"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(tr(language, "Trial", "Prueba"))
    ax.set_ylabel(tr(language, "Mean validation Rank@1 over folds", "Rank@1 medio de validación"))
    ax.set_title(tr(language, "Optimisation history", "Historia de la optimización"))
    ax.legend()
    return fig, data


def plot_param_importances(study: optuna.Study, language: str = "en", seed: int = 0) -> tuple[plt.Figure, pd.DataFrame]:
    """Plot the fANOVA importance of each parameter sampled in every complete trial.

    Parameters with a single possible value are left out. The importances sum to 1. With fewer
    than two complete trials, or when no parameter varies, the figure shows a note instead and
    the table is empty.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    names = sorted(set.intersection(*(set(trial.params) for trial in complete))) if complete else []
    names = [name for name in names if not complete[0].distributions[name].single()]
    importances: dict[str, float] = {}
    if len(complete) >= 2 and names:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        try:
            importances = optuna.importance.get_param_importances(study, evaluator=evaluator, params=names)
        except (RuntimeError, ValueError) as error:
            logger.warning("parameter importances could not be computed: %s", error)
    data = pd.DataFrame({"parameter": list(importances), "importance": list(importances.values())})

    fig, ax = plt.subplots()
    if data.empty:
        ax.text(0.5, 0.5, tr(language, "needs two or more complete trials", "hacen falta dos o más pruebas completas"), ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        ordered = data.sort_values("importance")
        ax.barh(ordered["parameter"], ordered["importance"], color=PALETTE[0])
        ax.set_xlabel(tr(language, "Importance (fANOVA, sums to 1)", "Importancia (fANOVA, suma 1)"))
    ax.set_title(tr(language, "Parameter importances", "Importancia de los parámetros"))
    return fig, data


def plot_parallel_coordinates(study: optuna.Study, space: SearchSpace, language: str = "en") -> tuple[plt.Figure, pd.DataFrame]:
    """Draw one line per complete trial through its parameters, coloured by its value.

    Each axis spans the parameter's range in the search space (log scale for log-uniform
    parameters; categories evenly spaced). Only parameters sampled in every complete trial
    and with more than one possible value are drawn.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    names = [
        parameter.name
        for parameter in space.parameters
        if complete and all(parameter.name in trial.params for trial in complete) and _varies(parameter)
    ]
    rows = []
    for trial in complete:
        for axis, name in enumerate(names):
            value = trial.params[name]
            rows.append(
                {"trial": trial.number, "parameter": name, "axis": axis, "value": value, "position": _position(space[name], value), "objective": trial.value}
            )
    data = pd.DataFrame(rows, columns=["trial", "parameter", "axis", "value", "position", "objective"])

    fig, ax = plt.subplots(figsize=(max(6.4, 0.9 * len(names) + 1.5), 4.0))
    if data.empty:
        ax.text(0.5, 0.5, tr(language, "no complete trial", "ninguna prueba completa"), ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig, data
    values = data.groupby("trial")["objective"].first()
    norm = plt.Normalize(values.min(), values.max() if values.max() > values.min() else values.min() + 1e-12)
    colormap = plt.get_cmap("viridis")
    for number, part in data.groupby("trial"):
        part = part.sort_values("axis")
        ax.plot(part["axis"], part["position"], color=colormap(norm(values[number])), alpha=0.8, marker="o", markersize=3)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks([0, 1], [tr(language, "low", "bajo"), tr(language, "high", "alto")])
    ax.set_xlim(-0.3, len(names) - 0.7)
    scalar = plt.cm.ScalarMappable(norm=norm, cmap=colormap)
    fig.colorbar(scalar, ax=ax, label=tr(language, "Mean validation Rank@1", "Rank@1 medio de validación"))
    ax.set_title(tr(language, "Parameters of the complete trials", "Parámetros de las pruebas completas"))
    return fig, data


def _varies(parameter: Any) -> bool:
    if parameter.type in ("int", "float"):
        return parameter.high > parameter.low
    if parameter.type == "categorical":
        return len(parameter.choices) > 1
    return True


def _position(parameter: Any, value: Any) -> float:
    """Place ``value`` on [0, 1] along the parameter's axis."""
    if parameter.type == "bool":
        return float(bool(value))
    if parameter.type == "categorical":
        choices = list(parameter.choices)
        return choices.index(value) / (len(choices) - 1)
    low, high = float(parameter.low), float(parameter.high)
    if parameter.log:
        low, high, value = math.log(low), math.log(high), math.log(value)
    return float(np.clip((float(value) - low) / (high - low), 0.0, 1.0))
