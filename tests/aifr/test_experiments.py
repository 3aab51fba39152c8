"""Tests of the experiment helpers: thesis numbers, grids, results tables, age gaps, figures."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from tfg_lib.aifr import experiments
from tfg_lib.aifr.experiments import (
    THESIS_RESULTS,
    embeddings_frame,
    leave_one_person_out,
    plot_cluster_distances,
    plot_embedding_norms,
    plot_embeddings_2d,
    plot_loss_against_margin,
    plot_metric_per_epoch,
    plot_rank_by_age_gap,
    rank1_by_age_gap,
    results_table,
    run_grid,
)
from tfg_lib.aifr.training import TrainConfig, train_run


class TinyDigits(torch.utils.data.Dataset):
    """In-memory data set: each identity is a noisy copy of its own random 28 x 28 pattern."""

    def __init__(self, identities: int = 5, per_identity: int = 6, seed: int = 0, images=None, labels=None):
        if images is None:
            rng = np.random.default_rng(seed)
            patterns = rng.normal(size=(identities, 1, 28, 28))
            labels = np.repeat(np.arange(identities), per_identity)
            images = patterns[labels] + 0.3 * rng.normal(size=(labels.size, 1, 28, 28))
        self.images = torch.as_tensor(images, dtype=torch.float32)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.ages = np.linspace(0, 50, self.labels.size)

    def __len__(self) -> int:
        return self.labels.size

    def __getitem__(self, index: int):
        return self.images[index], int(self.labels[index]), float(self.ages[index])

    def subset(self, indices):
        indices = np.asarray(indices)
        return TinyDigits(images=self.images[indices].numpy(), labels=self.labels[indices])


def tiny_config(**changes) -> TrainConfig:
    values = dict(P=3, K=3, epochs=2, batches_per_epoch=2, eval_batches=1)
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def grid():
    configs = {"bh": tiny_config(), "bh_fix": tiny_config(normalize=True)}
    return run_grid(configs, [0, 1], TinyDigits(seed=0), TinyDigits(identities=4, seed=1),
                    device="cpu", progress=False, keep_models=True)


# Thesis numbers.


@pytest.mark.parametrize(
    ("dataset", "loss", "fix", "split", "metric", "value"),
    [
        ("mnist", "batch_hard", False, "test", "rank_1", 0.085),
        ("mnist", "batch_hard", True, "train", "silhouette", 0.953),
        ("mnist", "batch_all", True, "test", "rank_5", 0.969),
        ("cacd", "batch_hard", True, "test", "rank_5", 0.6152),
        ("fgnet", "batch_hard", False, "test", "silhouette", -0.330),
    ],
)
def test_thesis_values(dataset, loss, fix, split, metric, value):
    row = THESIS_RESULTS[
        (THESIS_RESULTS["dataset"] == dataset) & (THESIS_RESULTS["loss"] == loss)
        & (THESIS_RESULTS["fix"] == fix) & (THESIS_RESULTS["split"] == split)
        & (THESIS_RESULTS["metric"] == metric)
    ]
    assert len(row) == 1
    assert row["thesis"].iloc[0] == value


def test_thesis_table_has_no_missing_values():
    # 6 MNIST rows x 3 metrics, 4 CACD rows x 2 metrics, 1 FG-NET row x 3 metrics.
    assert len(THESIS_RESULTS) == 18 + 8 + 3
    assert THESIS_RESULTS["thesis"].notna().all()


# Grids and tables.


def test_run_grid_stacks_every_run(grid):
    history = grid.history
    assert set(history["config"]) == {"bh", "bh_fix"}
    assert set(history["seed"]) == {0, 1}
    # Epochs 0..2, two splits, per run.
    assert history.groupby(["config", "seed"]).size().tolist() == [6, 6, 6, 6]
    assert set(history.loc[history["config"] == "bh_fix", "fix"]) == {True}
    assert len(grid.models) == 4


def test_run_grid_run_equals_single_run(grid):
    single = train_run(tiny_config(seed=1), TinyDigits(seed=0), TinyDigits(identities=4, seed=1),
                       device="cpu", progress=False)
    rows = grid.history[(grid.history["config"] == "bh") & (grid.history["seed"] == 1)]
    np.testing.assert_array_equal(rows["rank_1"].to_numpy(), single.history["rank_1"].to_numpy())
    np.testing.assert_array_equal(rows["norm_mean"].to_numpy(), single.history["norm_mean"].to_numpy())


def test_grid_final_keeps_last_epoch(grid):
    final = grid.final()
    assert set(final["epoch"]) == {2}
    assert len(final) == 2 * 2 * 2


def test_run_grid_resumes_from_run_root(tmp_path):
    configs = {"bh": tiny_config(epochs=1)}
    first = run_grid(configs, [3], TinyDigits(), device="cpu", run_root=tmp_path, progress=False)
    assert (tmp_path / "bh" / "seed_3" / "checkpoint.pt").is_file()
    again = run_grid(configs, [3], TinyDigits(), device="cpu", run_root=tmp_path, resume=True, progress=False)
    pd.testing.assert_frame_equal(first.history.drop(columns="seconds"), again.history.drop(columns="seconds"))


@pytest.mark.parametrize(
    ("configs", "seeds", "match"),
    [({}, [0], "configs is empty"), ({"a": TrainConfig()}, [], "seeds"), ({"a": TrainConfig()}, [1, 1], "seeds"),
     ({"a": {"epochs": 1}}, [0], "not a TrainConfig"), ({"a": TrainConfig(lr=0.0)}, [0], "lr"),
     ({"a": TrainConfig()}, "[0, 1]", "list of integers"), ({"a": TrainConfig()}, [0.5], "list of integers")],
)
def test_run_grid_rejects_bad_input(configs, seeds, match):
    with pytest.raises((ValueError, TypeError), match=match):
        run_grid(configs, seeds, TinyDigits(), device="cpu", progress=False)


def synthetic_history() -> pd.DataFrame:
    """Two seeds of one Batch Hard config with the fix; last-epoch values chosen by hand."""
    rows = []
    for seed, (train_rank, test_rank) in enumerate([(0.90, 0.80), (1.00, 0.90)]):
        for epoch in (0, 1):
            for split, rank in (("train", train_rank), ("val", test_rank)):
                value = rank if epoch == 1 else 0.1
                rows.append({"config": "bh_fix", "seed": seed, "loss_name": "batch_hard", "fix": True,
                             "epoch": epoch, "split": split, "rank_1": value, "rank_5": value,
                             "silhouette": 0.5})
    return pd.DataFrame(rows)


def test_results_table_mean_std_and_thesis():
    table = results_table(synthetic_history(), "mnist")
    row = table[(table["split"] == "test") & (table["metric"] == "rank_1")].iloc[0]
    # Test Rank@1 over seeds: 0.80 and 0.90, mean 0.85, sample std |0.9 - 0.8| / sqrt(2).
    assert row["mean"] == pytest.approx(0.85)
    assert row["std"] == pytest.approx(0.1 / math.sqrt(2))
    assert row["n"] == 2
    assert row["thesis"] == 0.992
    assert row["difference"] == pytest.approx(0.85 - 0.992)
    assert len(table) == 2 * 3


def test_results_table_without_thesis_value_is_nan():
    history = synthetic_history().assign(loss_name="batch_all", fix=False)
    table = results_table(history, "mnist")
    assert table["thesis"].isna().all()


def test_results_table_rejects_unknown_metric():
    with pytest.raises(ValueError, match="accuracy"):
        results_table(synthetic_history(), "mnist", metrics=["accuracy"])


# Age gaps and leave-one-person-out.


def brute_force_rank1_by_gap(embeddings, labels, ages, bins):
    hits = np.zeros(len(bins) - 1)
    counts = np.zeros(len(bins) - 1, dtype=int)
    n = len(labels)
    for q in range(n):
        if np.isnan(ages[q]):
            continue
        negatives = [j for j in range(n) if labels[j] != labels[q]]
        nearest_negative = min(np.linalg.norm(embeddings[q] - embeddings[j]) for j in negatives)
        for b in range(len(bins) - 1):
            positives = [
                j for j in range(n)
                if j != q and labels[j] == labels[q] and bins[b] <= abs(ages[q] - ages[j]) < bins[b + 1]
            ]
            if not positives:
                continue
            nearest_positive = min(np.linalg.norm(embeddings[q] - embeddings[j]) for j in positives)
            counts[b] += 1
            hits[b] += nearest_positive < nearest_negative
    return hits, counts


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("chunk_size", [1, 7, 1024])
def test_rank1_by_age_gap_matches_brute_force(seed, chunk_size):
    rng = np.random.default_rng(seed)
    n = 40
    labels = rng.integers(0, 5, size=n)
    ages = rng.integers(0, 60, size=n).astype(float)
    ages[rng.integers(0, n)] = np.nan
    embeddings = rng.normal(size=(n, 3)).astype(np.float32)
    bins = (0, 5, 15, 30, 70)
    frame = rank1_by_age_gap(embeddings, labels, ages, bins, chunk_size=chunk_size)
    hits, counts = brute_force_rank1_by_gap(embeddings.astype(np.float64), labels, ages, bins)
    np.testing.assert_array_equal(frame["queries"].to_numpy(), counts)
    expected = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    np.testing.assert_allclose(frame["rank_1"].to_numpy(), expected, equal_nan=True)


def test_rank1_by_age_gap_hand_example():
    # Identity 0 at ages 20 and 22 (gap 2), identity 1 at age 40. Query 0 at x=0: its positive at
    # x=1 (gap 2) is nearer than the negative at x=5, so a hit in bin [0, 5). Query 2 has no
    # positive and is never counted. Query 1 at x=1 is likewise a hit.
    embeddings = np.array([[0.0], [1.0], [5.0]])
    frame = rank1_by_age_gap(embeddings, np.array([0, 0, 1]), np.array([20.0, 22.0, 40.0]), bins=(0, 5, 10))
    assert frame["queries"].tolist() == [2, 0]
    assert frame["rank_1"].iloc[0] == 1.0
    assert math.isnan(frame["rank_1"].iloc[1])


def test_rank1_by_age_gap_tie_is_miss():
    embeddings = np.array([[0.0], [1.0], [-1.0]])
    frame = rank1_by_age_gap(embeddings, np.array([0, 0, 1]), np.array([1.0, 2.0, 3.0]), bins=(0, 10))
    # Query 0 has its positive and its negative both at distance 1: a miss. Query 1 is a hit (1 < 2).
    assert frame["rank_1"].iloc[0] == 0.5


@pytest.mark.parametrize(
    ("bins", "match"), [((5,), "bins"), ((0, 5, 5), "bins"), ((-1, 5), "bins")]
)
def test_rank1_by_age_gap_rejects_bad_bins(bins, match):
    with pytest.raises(ValueError, match=match):
        rank1_by_age_gap(np.zeros((3, 2)), np.array([0, 0, 1]), np.zeros(3), bins=bins)


def test_lopo_without_training_brute_force(grid):
    model = grid.models[("bh", 0)]
    dataset = TinyDigits(seed=2)
    frame = leave_one_person_out(model, dataset, device="cpu")
    with torch.inference_mode():
        embeddings = model(dataset.images).numpy().astype(np.float64)
    for _, row in frame.iterrows():
        queries = np.flatnonzero(dataset.labels == row["identity"])
        hits = []
        for q in queries:
            distances = np.linalg.norm(embeddings - embeddings[q], axis=1)
            distances[q] = np.inf
            hits.append(dataset.labels[np.argmin(distances)] == row["identity"])
        assert row["rank_1"] == pytest.approx(np.mean(hits))
        assert row["queries"] == queries.size


def test_lopo_with_fine_tuning(grid):
    model = grid.models[("bh", 0)]
    dataset = TinyDigits(identities=4, seed=3)
    frame = leave_one_person_out(model, dataset, device="cpu",
                                 config=tiny_config(epochs=1, batches_per_epoch=1, eval_batches=0,
                                                    evaluate_initial=False))
    assert frame["identity"].tolist() == [0, 1, 2, 3]
    assert frame["rank_1"].between(0, 1).all()


# Figures.


@pytest.mark.parametrize("language", ["en", "es"])
def test_figure_functions_return_figure_and_data(grid, language):
    history = grid.history
    for function, kwargs in (
        (plot_loss_against_margin, {"margin": 1.0}),
        (plot_embedding_norms, {}),
        (plot_cluster_distances, {}),
        (plot_metric_per_epoch, {"metric": "rank_1"}),
    ):
        fig, data = function(history, language=language, **kwargs)
        assert isinstance(fig, matplotlib.figure.Figure)
        assert {"config", "epoch", "mean", "low", "high"} <= set(data.columns)
        matplotlib.pyplot.close(fig)


def test_loss_figure_data_is_seed_mean(grid):
    _, data = plot_loss_against_margin(grid.history)
    rows = grid.history[(grid.history["split"] == "train") & (grid.history["epoch"] == 1)
                        & (grid.history["config"] == "bh")]
    point = data[(data["config"] == "bh") & (data["epoch"] == 1)].iloc[0]
    assert point["mean"] == pytest.approx(rows["running_loss"].mean())
    assert point["low"] == pytest.approx(rows["running_loss"].min())
    assert set(data["epoch"]) == {1, 2}


def test_embeddings_2d_figure(grid):
    dataset = TinyDigits(seed=4)
    model = train_run(tiny_config(embedding_dim=2, epochs=1), dataset, device="cpu", progress=False).model
    frame = embeddings_frame(model, dataset, device="cpu")
    assert list(frame.columns) == ["identity", "x0", "x1"]
    fig, data = plot_embeddings_2d({"before": frame, "after": frame}, language="es")
    assert len(data) == 2 * len(dataset)
    matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match="2-D"):
        plot_embeddings_2d({"5-D": embeddings_frame(grid.models[("bh", 0)], dataset, device="cpu")})


def test_rank_by_age_gap_figure():
    frame = pd.DataFrame({"config": ["a", "a"], "gap_low": [0, 5], "gap_high": [5, 10],
                          "rank_1": [0.5, 0.25], "queries": [4, 4]})
    fig, data = plot_rank_by_age_gap(frame)
    assert data is frame
    matplotlib.pyplot.close(fig)


def test_module_exports_thesis_results():
    assert experiments.THESIS_RESULTS is THESIS_RESULTS
