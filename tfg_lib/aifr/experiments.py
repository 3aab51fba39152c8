"""The thesis' Part B experiments: multi-seed grids of runs, results tables and figures.

The published numbers live in :data:`THESIS_RESULTS`, in one place, and :func:`results_table`
puts them beside the mean, standard deviation and number of seeds that our runs measure. Figure
functions return ``(figure, tidy_frame)`` so notebooks save both through
:func:`tfg_lib.figures.save_figure`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from tfg_lib.aifr.training import TrainConfig, embed, resolve_device, train_run
from tfg_lib.figures import tr

logger = logging.getLogger(__name__)

# Rank@1 / Rank@5 / silhouette as the thesis prints them (a missing value is NaN). Settings: MNIST
# with P=16, K=8, margin 1, dimension 5, lr 1e-3, 20 epochs; CACD with P=16, K=4, ResNet-18,
# dimension 10, lr 1e-4. "test" on CACD is an identity-disjoint 20 % holdout, and the FG-NET row
# is a model trained on CACD before the fix, evaluated on FG-NET.
_THESIS_ROWS = (
    # dataset, loss, fix, split, rank_1, rank_5, silhouette
    ("mnist", "batch_hard", False, "train", 0.0937, 0.453, 0.000),
    ("mnist", "batch_hard", False, "test", 0.085, 0.414, 0.000),
    ("mnist", "batch_hard", True, "train", 0.997, 0.997, 0.953),
    ("mnist", "batch_hard", True, "test", 0.992, 0.991, 0.922),
    ("mnist", "batch_all", True, "train", 0.994, 0.994, 0.968),
    ("mnist", "batch_all", True, "test", 0.992, 0.969, 0.949),
    ("cacd", "batch_hard", False, "train", 0.0092, 0.0136, math.nan),
    ("cacd", "batch_hard", True, "train", 0.2676, 0.4639, math.nan),
    ("cacd", "batch_hard", False, "test", 0.0312, 0.0781, math.nan),
    ("cacd", "batch_hard", True, "test", 0.3732, 0.6152, math.nan),
    ("fgnet", "batch_hard", False, "test", 0.010, 0.001, -0.330),
)
THESIS_METRICS = ("rank_1", "rank_5", "silhouette")


def thesis_results() -> pd.DataFrame:
    """Return the thesis' published numbers as a tidy frame.

    Columns: ``dataset`` ("mnist", "cacd", "fgnet"), ``loss``, ``fix`` (bool), ``split``
    ("train", "test"), ``metric`` (one of ``THESIS_METRICS``) and ``thesis``.
    """
    records = []
    for dataset, loss, fix, split, *values in _THESIS_ROWS:
        for metric, value in zip(THESIS_METRICS, values):
            if not math.isnan(value):
                records.append(
                    {"dataset": dataset, "loss": loss, "fix": fix, "split": split,
                     "metric": metric, "thesis": value}
                )
    return pd.DataFrame.from_records(records)


THESIS_RESULTS = thesis_results()


# Grids of runs.


@dataclasses.dataclass
class GridResult:
    """Outcome of :func:`run_grid`.

    Attributes
    ----------
    history : DataFrame
        The runs' histories stacked, with columns ``config`` (the grid's name of the config),
        ``seed``, ``loss_name`` (the config's loss), ``fix`` (its ``normalize`` flag) and the
        columns of :attr:`tfg_lib.aifr.training.RunResult.history`.
    models : dict
        ``(config name, seed) -> trained model``, filled only with ``keep_models=True``.
    """

    history: pd.DataFrame
    models: dict[tuple[str, int], nn.Module]

    def final(self) -> pd.DataFrame:
        """Rows of each run's last epoch."""
        last = self.history.groupby(["config", "seed"])["epoch"].transform("max")
        return self.history[self.history["epoch"] == last].reset_index(drop=True)


def run_grid(
    configs: Mapping[str, TrainConfig],
    seeds: Sequence[int],
    train_set: Dataset,
    val_set: Dataset | None = None,
    device: str | torch.device | None = None,
    run_root: str | os.PathLike[str] | None = None,
    resume: bool = False,
    keep_models: bool = False,
    progress: bool = True,
) -> GridResult:
    """Train every config of ``configs`` once per seed and stack the histories.

    Each run is :func:`~tfg_lib.aifr.training.train_run` with the config's ``seed`` replaced.
    With ``run_root``, run ``(name, seed)`` keeps its checkpoint and CSV log in
    ``run_root/<name>/seed_<seed>``, so ``resume=True`` continues an interrupted grid.
    """
    if not configs:
        raise ValueError("configs is empty; pass a mapping of name -> TrainConfig.")
    if isinstance(seeds, (str, bytes)) or not all(
        isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) for seed in seeds
    ):
        raise TypeError(f"seeds={seeds!r} must be a list of integers such as [0, 1, 2].")
    seeds = [int(seed) for seed in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds!r} must be a non-empty list of distinct integers.")
    for name, config in configs.items():
        if not isinstance(config, TrainConfig):
            raise TypeError(f"configs[{name!r}] is a {type(config).__name__}, not a TrainConfig.")
        config.validate()
    device = resolve_device(device)

    frames, models = [], {}
    for name, config in configs.items():
        for seed in seeds:
            run_config = dataclasses.replace(config, seed=seed)
            run_dir = Path(run_root) / name / f"seed_{seed}" if run_root is not None else None
            logger.info("training %s with seed %d", name, seed)
            result = train_run(
                run_config, train_set, val_set, device=device, run_dir=run_dir,
                resume=resume, progress=progress,
            )
            frame = result.history.copy()
            frame.insert(0, "config", name)
            frame.insert(1, "seed", seed)
            frame.insert(2, "loss_name", config.loss)
            frame.insert(3, "fix", bool(config.normalize))
            frames.append(frame)
            if keep_models:
                models[(name, seed)] = result.model
    return GridResult(history=pd.concat(frames, ignore_index=True), models=models)


def results_table(
    history: pd.DataFrame,
    dataset: str,
    metrics: Sequence[str] = THESIS_METRICS,
    split_names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Put the thesis' numbers beside the measured mean, standard deviation and count of seeds.

    Parameters
    ----------
    history : DataFrame
        :attr:`GridResult.history` (only each run's last epoch is used).
    dataset : str
        Key of the thesis rows to join ("mnist", "cacd", "fgnet").
    metrics : sequence of str
        Metric columns to report.
    split_names : mapping, optional
        Renames splits before joining; the default maps "val" to "test".

    Returns
    -------
    DataFrame
        One row per config, split and metric: ``config, loss, fix, split, metric, thesis,
        mean, std, n, difference`` (mean minus thesis). ``std`` is the sample standard deviation
        over seeds (NaN for one seed); ``thesis`` is NaN where the thesis printed no value.
    """
    split_names = {"val": "test"} if split_names is None else dict(split_names)
    missing = [metric for metric in metrics if metric not in history.columns]
    if missing:
        raise ValueError(f"metrics {missing} are not columns of history; use columns such as rank_1.")
    last = history.groupby(["config", "seed"])["epoch"].transform("max")
    final = history[history["epoch"] == last]
    long = final.melt(
        id_vars=["config", "seed", "loss_name", "fix", "split"], value_vars=list(metrics),
        var_name="metric", value_name="value",
    )
    long["split"] = long["split"].map(lambda split: split_names.get(split, split))
    table = (
        long.groupby(["config", "loss_name", "fix", "split", "metric"], sort=False)["value"]
        .agg(mean="mean", std="std", n="count")
        .reset_index()
        .rename(columns={"loss_name": "loss"})
    )
    thesis = THESIS_RESULTS[THESIS_RESULTS["dataset"] == dataset].drop(columns="dataset")
    table = table.merge(thesis, on=["loss", "fix", "split", "metric"], how="left")
    table["difference"] = table["mean"] - table["thesis"]
    columns = ["config", "loss", "fix", "split", "metric", "thesis", "mean", "std", "n", "difference"]
    return table[columns]


# Figures over epochs.


def _epoch_summary(history: pd.DataFrame, split: str, columns: Sequence[str]) -> pd.DataFrame:
    """Mean, min and max over seeds of ``columns`` per config and epoch, in tidy form."""
    rows = history[history["split"] == split]
    long = rows.melt(id_vars=["config", "seed", "epoch"], value_vars=list(columns),
                     var_name="quantity", value_name="value")
    return (
        long.groupby(["config", "quantity", "epoch"])["value"]
        .agg(mean="mean", low="min", high="max", n="count")
        .reset_index()
    )


def _draw_bands(ax, summary: pd.DataFrame, label_of) -> None:
    for (config, quantity), group in summary.groupby(["config", "quantity"], sort=False):
        group = group.sort_values("epoch")
        line, = ax.plot(group["epoch"], group["mean"], marker="o", markersize=3,
                        label=label_of(config, quantity))
        ax.fill_between(group["epoch"], group["low"], group["high"], alpha=0.2,
                        color=line.get_color(), linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_loss_against_margin(
    history: pd.DataFrame, margin: float = 1.0, language: str = "en"
) -> tuple[plt.Figure, pd.DataFrame]:
    """Draw each config's training loss per epoch (mean over seeds, band min to max) and the margin.

    A Batch Hard loss stuck at the margin means d(a,p) = d(a,n) for every anchor: the collapse
    the thesis describes. The loss is the mean over the epoch's training batches.
    """
    summary = _epoch_summary(history[history["epoch"] > 0], "train", ["running_loss"])
    fig, ax = plt.subplots()
    _draw_bands(ax, summary, lambda config, _: config)
    ax.axhline(margin, color="black", linestyle="--", linewidth=1,
               label=tr(language, f"margin = {margin:g}", f"margen = {margin:g}"))
    ax.set_xlabel(tr(language, "Epoch", "Época"))
    ax.set_ylabel(tr(language, "Training loss", "Pérdida de entrenamiento"))
    ax.legend()
    summary["margin"] = margin
    return fig, summary


def plot_embedding_norms(
    history: pd.DataFrame, split: str = "train", language: str = "en"
) -> tuple[plt.Figure, pd.DataFrame]:
    """Draw the mean embedding norm per epoch and config (band: min to max over seeds)."""
    summary = _epoch_summary(history, split, ["norm_mean"])
    fig, ax = plt.subplots()
    _draw_bands(ax, summary, lambda config, _: config)
    ax.set_xlabel(tr(language, "Epoch", "Época"))
    ax.set_ylabel(tr(language, "Mean embedding norm", "Norma media del embedding"))
    ax.set_yscale("log")
    ax.legend()
    summary["split"] = split
    return fig, summary


def plot_cluster_distances(
    history: pd.DataFrame, split: str = "val", language: str = "en"
) -> tuple[plt.Figure, pd.DataFrame]:
    """Draw intra-cluster (mean pairwise) and inter-cluster (min cross) distances per epoch.

    One panel per config. Each curve is the mean over identities (intra) or identity pairs
    (inter), averaged over seeds, with a band from the smallest to the largest seed.
    """
    summary = _epoch_summary(history, split, ["intra_mean", "inter_mean"])
    configs = list(dict.fromkeys(summary["config"]))
    fig, axes = plt.subplots(1, len(configs), figsize=(3.2 * len(configs), 3.2), sharey=True,
                             squeeze=False)
    names = {
        "intra_mean": tr(language, "intra-cluster", "intra-clúster"),
        "inter_mean": tr(language, "inter-cluster", "inter-clúster"),
    }
    for ax, config in zip(axes[0], configs):
        _draw_bands(ax, summary[summary["config"] == config], lambda _, quantity: names[quantity])
        # A log scale keeps collapsed runs, whose distances are tiny, readable beside the others.
        ax.set_yscale("log")
        ax.set_title(config)
        ax.set_xlabel(tr(language, "Epoch", "Época"))
    axes[0, 0].set_ylabel(tr(language, "Distance", "Distancia"))
    axes[0, 0].legend()
    summary["split"] = split
    return fig, summary


def plot_metric_per_epoch(
    history: pd.DataFrame, metric: str = "rank_1", split: str = "val", language: str = "en"
) -> tuple[plt.Figure, pd.DataFrame]:
    """Draw one metric per epoch and config (mean over seeds, band min to max)."""
    if metric not in history.columns:
        raise ValueError(f"metric={metric!r} is not a column of history.")
    summary = _epoch_summary(history, split, [metric])
    fig, ax = plt.subplots()
    _draw_bands(ax, summary, lambda config, _: config)
    ax.set_xlabel(tr(language, "Epoch", "Época"))
    ax.set_ylabel(f"{metric} ({split})")
    ax.legend()
    summary["split"] = split
    return fig, summary


# Embeddings in the plane.


def embeddings_frame(
    model: nn.Module, dataset: Dataset, device: str | torch.device | None = None
) -> pd.DataFrame:
    """Embed ``dataset`` and return a tidy frame with columns ``identity``, ``x0``, ``x1``, ..."""
    device = resolve_device(device)
    embeddings, labels = embed(model.to(device), dataset, device)
    frame = pd.DataFrame(embeddings.numpy(), columns=[f"x{i}" for i in range(embeddings.shape[1])])
    frame.insert(0, "identity", labels)
    return frame


def plot_embeddings_2d(
    frames: Mapping[str, pd.DataFrame], language: str = "en"
) -> tuple[plt.Figure, pd.DataFrame]:
    """Scatter 2-D embeddings side by side, one panel per entry of ``frames``, coloured by identity."""
    if not frames:
        raise ValueError("frames is empty; pass a mapping of panel title -> embeddings_frame(...).")
    fig, axes = plt.subplots(1, len(frames), figsize=(4.0 * len(frames), 4.0), squeeze=False)
    identities = sorted(set().union(*(set(frame["identity"]) for frame in frames.values())))
    # The house palette has 8 colours, so ten digits would share colours; tab10/tab20 do not.
    colour_map = plt.get_cmap("tab10" if len(identities) <= 10 else "tab20")
    colours = {identity: colour_map(position % colour_map.N) for position, identity in enumerate(identities)}
    tidy = []
    for ax, (title, frame) in zip(axes[0], frames.items()):
        if not {"x0", "x1"} <= set(frame.columns) or "x2" in frame.columns:
            raise ValueError(f"frames[{title!r}] must hold 2-D embeddings (columns x0 and x1 only).")
        for identity, group in frame.groupby("identity"):
            ax.scatter(group["x0"], group["x1"], s=4, alpha=0.6, color=colours[identity], label=str(identity))
        ax.set_title(title)
        ax.set_aspect("equal", adjustable="datalim")
        tidy.append(frame.assign(panel=title))
    axes[0, -1].legend(title=tr(language, "Identity", "Identidad"), markerscale=3,
                       bbox_to_anchor=(1.02, 1), loc="upper left")
    return fig, pd.concat(tidy, ignore_index=True)


# Faces: Rank@1 against the age gap and FG-NET leave-one-person-out.


def rank1_by_age_gap(
    embeddings: torch.Tensor | np.ndarray,
    labels: np.ndarray,
    ages: np.ndarray,
    bins: Sequence[float] = (0, 5, 10, 20, 30, 100),
    chunk_size: int = 1024,
) -> pd.DataFrame:
    """Rank@1 when the gallery holds only same-identity images within an age-gap range.

    For a query q and the bin [lo, hi), the gallery is every image of another identity plus the
    images of q's identity (other than q) whose age differs from q's by lo <= |gap| < hi. The
    query is a hit when its nearest gallery image has its identity. A tie between the nearest
    positive and the nearest negative counts as a miss. Queries with no positive in the bin are
    not counted in that bin. Images with unknown (NaN) age are never queries or positives.

    Returns
    -------
    DataFrame
        Columns ``gap_low``, ``gap_high``, ``rank_1`` (NaN for an empty bin) and ``queries``.
    """
    embeddings = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    # Copies, because torch warns about (and must not write to) read-only arrays of data sets.
    labels = np.array(labels, dtype=np.int64)
    ages = np.array(ages, dtype=np.float64)
    bins = np.asarray(bins, dtype=np.float64)
    n = embeddings.shape[0]
    if embeddings.ndim != 2 or labels.shape != (n,) or ages.shape != (n,):
        raise ValueError(
            f"embeddings (n, D), labels (n,) and ages (n,) must agree; got shapes "
            f"{tuple(embeddings.shape)}, {labels.shape} and {ages.shape}."
        )
    if bins.ndim != 1 or bins.size < 2 or np.any(np.diff(bins) <= 0) or bins[0] < 0:
        raise ValueError(f"bins={bins.tolist()} must be at least two increasing non-negative edges.")

    labels_t = torch.as_tensor(labels)
    ages_t = torch.as_tensor(ages)
    hits = np.zeros(bins.size - 1)
    counts = np.zeros(bins.size - 1, dtype=np.int64)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        distances = torch.cdist(embeddings[start:stop], embeddings).double()
        same = labels_t[start:stop, None] == labels_t[None, :]
        self_mask = torch.zeros_like(same)
        self_mask[torch.arange(stop - start), torch.arange(start, stop)] = True
        nearest_negative = distances.masked_fill(same, math.inf).min(dim=1).values
        gaps = (ages_t[start:stop, None] - ages_t[None, :]).abs()
        for b in range(bins.size - 1):
            in_bin = same & ~self_mask & (gaps >= bins[b]) & (gaps < bins[b + 1])
            nearest_positive = distances.masked_fill(~in_bin, math.inf).min(dim=1).values
            has_positive = in_bin.any(dim=1)
            hits[b] += float(((nearest_positive < nearest_negative) & has_positive).sum())
            counts[b] += int(has_positive.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        rank = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    return pd.DataFrame({"gap_low": bins[:-1], "gap_high": bins[1:], "rank_1": rank, "queries": counts})


def plot_rank_by_age_gap(
    frame: pd.DataFrame, language: str = "en"
) -> tuple[plt.Figure, pd.DataFrame]:
    """Draw Rank@1 per age-gap bin, one line per ``config`` (and data set if present)."""
    fig, ax = plt.subplots()
    group_columns = [column for column in ("dataset", "config") if column in frame.columns]
    groups = frame.groupby(group_columns, sort=False) if group_columns else [("", frame)]
    for key, group in groups:
        centres = (group["gap_low"] + group["gap_high"]) / 2
        label = " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)
        ax.plot(centres, group["rank_1"], marker="o", label=label)
    ax.set_xlabel(tr(language, "Age gap between query and positive (years)",
                     "Diferencia de edad entre consulta y positivo (años)"))
    ax.set_ylabel("Rank@1")
    ax.set_ylim(0, 1.02)
    if group_columns:
        ax.legend()
    return fig, frame


def leave_one_person_out(
    model: nn.Module,
    dataset: Dataset,
    device: str | torch.device | None = None,
    config: TrainConfig | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """FG-NET's leave-one-person-out protocol: Rank@1 of each person's images against all others.

    For each person, that person's images are the queries and the gallery is every other image
    of the data set. With ``config`` given, a copy of ``model`` is first fine-tuned on the other
    persons (``config`` trains it, starting from ``model``'s weights), so the held-out person is
    never seen in training. Without ``config`` the model is used as it is, and the result equals
    global Rank@1 grouped by person.

    Returns
    -------
    DataFrame
        One row per person: ``identity``, ``queries`` (images with a second image of the same
        person to find) and ``rank_1`` (NaN when the person has one image).
    """
    device = resolve_device(device)
    labels = np.asarray(dataset.labels, dtype=np.int64)
    persons = np.unique(labels)
    if persons.size < 2:
        raise ValueError(f"dataset has {persons.size} identities; leave-one-person-out needs 2 or more.")
    records = []
    if config is None:
        embeddings, _ = embed(model.to(device), dataset, device)
        for person in persons:
            records.append(_person_rank1(embeddings, labels, person))
        return pd.DataFrame.from_records(records)

    start_weights = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    for person in persons:
        train_indices = np.flatnonzero(labels != person)
        result = train_run(
            config, dataset.subset(train_indices), None, device=device, progress=progress,
            initial_weights=start_weights,
        )
        embeddings, _ = embed(result.model, dataset, device)
        records.append(_person_rank1(embeddings, labels, person))
    return pd.DataFrame.from_records(records)


def _person_rank1(embeddings: torch.Tensor, labels: np.ndarray, person: int) -> dict[str, Any]:
    queries = np.flatnonzero(labels == person)
    if queries.size < 2:
        return {"identity": int(person), "queries": 0, "rank_1": math.nan}
    distances = torch.cdist(embeddings[queries], embeddings)
    distances[torch.arange(queries.size), torch.as_tensor(queries)] = math.inf
    nearest = distances.argmin(dim=1).numpy()
    return {
        "identity": int(person),
        "queries": int(queries.size),
        "rank_1": float(np.mean(labels[nearest] == person)),
    }
