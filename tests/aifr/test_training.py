"""Tests of the triplet-loss trainer: determinism, exact resume, NaN stop, validation, checkpoints."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from tfg_lib.aifr import training
from tfg_lib.aifr.training import (
    NonFiniteLossError,
    TrainConfig,
    augment_repeats,
    autocast_dtype,
    check_config_against_labels,
    load_checkpoint,
    load_model,
    train_run,
)


class TinyDigits(torch.utils.data.Dataset):
    """In-memory stand-in for a data set: each identity is a noisy copy of its own pattern."""

    def __init__(self, identities: int = 6, per_identity: int = 6, seed: int = 0, images=None, labels=None):
        if images is None:
            rng = np.random.default_rng(seed)
            patterns = rng.normal(size=(identities, 1, 28, 28))
            labels = np.repeat(np.arange(identities), per_identity)
            images = patterns[labels] + 0.3 * rng.normal(size=(labels.size, 1, 28, 28))
        self.images = torch.as_tensor(images, dtype=torch.float32)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.ages = np.full(self.labels.size, math.nan)
        self.poisoned = False

    def __len__(self) -> int:
        return self.labels.size

    def __getitem__(self, index: int):
        image = self.images[index]
        if self.poisoned:
            image = torch.full_like(image, math.nan)
        return image, int(self.labels[index]), math.nan

    def subset(self, indices):
        indices = np.asarray(indices)
        return TinyDigits(images=self.images[indices].numpy(), labels=self.labels[indices])


def small_config(**changes) -> TrainConfig:
    values = dict(P=3, K=4, epochs=3, batches_per_epoch=2, eval_batches=2, lr=1e-3)
    values.update(changes)
    return TrainConfig(**values)


def state_dicts_equal(first: torch.nn.Module, second: torch.nn.Module) -> bool:
    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def without_timing(history: pd.DataFrame) -> pd.DataFrame:
    return history.drop(columns="seconds").reset_index(drop=True)


@pytest.fixture(scope="module")
def data():
    return TinyDigits(seed=0), TinyDigits(identities=4, seed=1)


class StopTraining(Exception):
    pass


# Determinism and the history.


@pytest.fixture(scope="module")
def reference_run(data):
    """One small run with a validation set, shared by the tests that only read its results."""
    train_set, val_set = data
    seen = []
    result = train_run(small_config(), train_set, val_set, device="cpu", progress=False,
                       epoch_callback=lambda epoch, metrics: seen.append((epoch, metrics)))
    return result, seen


def test_train_run_same_seed_same_weights(data, reference_run):
    train_set, val_set = data
    first, _ = reference_run
    second = train_run(small_config(), train_set, val_set, device="cpu", progress=False)
    assert state_dicts_equal(first.model, second.model)
    pd.testing.assert_frame_equal(without_timing(first.history), without_timing(second.history), check_exact=True)


def test_train_run_other_seed_other_weights(data):
    train_set, _ = data
    first = train_run(small_config(epochs=1), train_set, device="cpu", progress=False)
    second = train_run(small_config(epochs=1, seed=1), train_set, device="cpu", progress=False)
    assert not state_dicts_equal(first.model, second.model)


def test_train_run_leaves_global_rng_alone(data):
    train_set, _ = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_run(small_config(epochs=1, batches_per_epoch=1), train_set, device="cpu", progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_history_rows_and_columns(reference_run):
    result, _ = reference_run
    history = result.history
    assert list(history["epoch"]) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert list(history["split"]) == ["train", "val"] * 4
    for name in training.METRIC_NAMES:
        assert name in history.columns
    assert result.final_metrics["val_rank_1"] == history.iloc[-1]["rank_1"]
    assert not result.model.training


def test_history_rank_matches_sklearn(data, reference_run):
    """The logged global Rank@1 equals a brute-force nearest-neighbour count by scikit-learn."""
    _, val_set = data
    result, _ = reference_run
    with torch.inference_mode():
        embeddings = result.model(val_set.images).numpy()
    neighbours = NearestNeighbors(n_neighbors=2, algorithm="brute").fit(embeddings)
    _, index = neighbours.kneighbors(embeddings)
    # Column 0 is the query itself (distance 0), column 1 its nearest other sample.
    expected = np.mean(val_set.labels[index[:, 1]] == val_set.labels)
    assert result.final_metrics["val_rank_1"] == pytest.approx(expected, abs=1e-12)


def test_history_norms_match_direct_computation(data, reference_run):
    _, val_set = data
    result, _ = reference_run
    with torch.inference_mode():
        norms = result.model(val_set.images).norm(dim=1)
    assert result.final_metrics["val_norm_mean"] == pytest.approx(float(norms.mean()), rel=1e-5)
    assert result.final_metrics["val_norm_max"] == pytest.approx(float(norms.max()), rel=1e-5)


def test_epoch_callback_receives_flat_metrics(reference_run):
    _, seen = reference_run
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert {"train_rank_1", "val_rank_1", "train_running_loss"} <= set(seen[0][1])


def test_fix_trains_loss_below_margin(data):
    """With the fix the Batch Hard loss on separable identities falls clearly below its start."""
    train_set, val_set = data
    config = small_config(normalize=True, epochs=4, batches_per_epoch=3, lr=3e-3, eval_batches=1)
    history = train_run(config, train_set, val_set, device="cpu", progress=False).history
    train_rows = history[history["split"] == "train"]
    assert train_rows["loss"].iloc[-1] < train_rows["loss"].iloc[0]
    assert train_rows["rank_1"].iloc[-1] >= 0.9


def test_l2_normalize_gives_unit_norms(data):
    train_set, _ = data
    result = train_run(small_config(epochs=1, l2_normalize=True), train_set, device="cpu", progress=False)
    assert result.final_metrics["train_norm_min"] == pytest.approx(1.0, abs=1e-5)
    assert result.final_metrics["train_norm_max"] == pytest.approx(1.0, abs=1e-5)


def test_eval_sample_size_limits_evaluated_images(data):
    train_set, _ = data
    config = small_config(epochs=1, eval_sample_size=10, eval_batches=0)
    result = train_run(config, train_set, device="cpu", progress=False)
    assert np.isnan(result.final_metrics["train_local_rank_1"])
    assert np.isnan(result.final_metrics["train_loss"])
    assert 0.0 <= result.final_metrics["train_rank_1"] <= 1.0


# Checkpoints and resume.


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"loss": "batch_all", "normalize": True, "small_identities": "augment", "K": 8, "grad_clip": 1.0},
    ],
    ids=["batch_hard", "batch_all_fix_augment_clip"],
)
def test_resume_equals_uninterrupted(data, tmp_path, changes):
    train_set, val_set = data
    config = small_config(epochs=3, **changes)
    uninterrupted = train_run(config, train_set, val_set, device="cpu", progress=False)

    def stop_after_first(epoch, metrics):
        if epoch == 1:
            raise StopTraining

    with pytest.raises(StopTraining):
        train_run(config, train_set, val_set, device="cpu", run_dir=tmp_path, progress=False,
                  epoch_callback=stop_after_first)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1

    resumed = train_run(config, train_set, val_set, device="cpu", run_dir=tmp_path, resume=True,
                        progress=False)
    assert state_dicts_equal(resumed.model, uninterrupted.model)
    pd.testing.assert_frame_equal(without_timing(resumed.history), without_timing(uninterrupted.history),
                                  check_exact=True)
    assert resumed.final_metrics.keys() == uninterrupted.final_metrics.keys()


def test_resume_with_more_epochs_extends_run(data, tmp_path):
    train_set, _ = data
    short = small_config(epochs=1, eval_batches=0)
    train_run(short, train_set, device="cpu", run_dir=tmp_path, progress=False)
    longer = train_run(dataclasses.replace(short, epochs=2), train_set, device="cpu", run_dir=tmp_path,
                       resume=True, progress=False)
    reference = train_run(dataclasses.replace(short, epochs=2), train_set, device="cpu", progress=False)
    assert state_dicts_equal(longer.model, reference.model)


def test_resume_rejects_other_config(data, tmp_path):
    train_set, _ = data
    train_run(small_config(epochs=1), train_set, device="cpu", run_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="lr"):
        train_run(small_config(epochs=2, lr=1e-2), train_set, device="cpu", run_dir=tmp_path,
                  resume=True, progress=False)


def test_resume_without_checkpoint_starts_fresh(data, tmp_path):
    train_set, _ = data
    result = train_run(small_config(epochs=1), train_set, device="cpu", run_dir=tmp_path / "new",
                       resume=True, progress=False)
    assert list(result.history["epoch"].unique()) == [0, 1]


def test_checkpoint_loads_on_cpu_and_rebuilds_model(data, tmp_path):
    train_set, val_set = data
    result = train_run(small_config(epochs=2), train_set, device="cpu", run_dir=tmp_path, progress=False)
    state = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert state["epoch"] == 2
    assert all(tensor.device.type == "cpu" for tensor in state["model"].values())
    model = load_model(tmp_path / "checkpoint.pt")
    with torch.inference_mode():
        assert torch.equal(model(val_set.images), result.model(val_set.images))


def test_csv_log_matches_history(data, tmp_path):
    train_set, val_set = data
    result = train_run(small_config(epochs=2), train_set, val_set, device="cpu", run_dir=tmp_path,
                       progress=False)
    logged = pd.read_csv(tmp_path / "history.csv")
    pd.testing.assert_frame_equal(logged, result.history, check_dtype=False, rtol=1e-12)
    assert (tmp_path / "config.json").is_file()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_existing_checkpoint_without_resume_warns(data, tmp_path):
    train_set, _ = data
    train_run(small_config(epochs=1), train_set, device="cpu", run_dir=tmp_path, progress=False)
    with pytest.warns(UserWarning, match="resume=True"):
        train_run(small_config(epochs=1), train_set, device="cpu", run_dir=tmp_path, progress=False)


def test_load_checkpoint_rejects_foreign_file(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


# NaN loss and callbacks.


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path):
    train_set = TinyDigits(seed=3)

    def poison_after_first(epoch, metrics):
        train_set.poisoned = True

    with pytest.raises(NonFiniteLossError) as caught:
        train_run(small_config(epochs=3), train_set, device="cpu", run_dir=tmp_path, progress=False,
                  epoch_callback=poison_after_first)
    assert caught.value.epoch == 2
    assert caught.value.batch == 0
    assert "epoch 2, batch 0" in str(caught.value)

    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(tensor).all() for tensor in state["model"].values())
    assert sorted(pd.read_csv(tmp_path / "history.csv")["epoch"].unique()) == [0, 1]


def test_nan_in_first_batch_raises():
    train_set = TinyDigits(seed=4)
    train_set.poisoned = True
    config = small_config(epochs=1, evaluate_initial=False)
    with pytest.raises(NonFiniteLossError, match="epoch 1, batch 0"):
        train_run(config, train_set, device="cpu", progress=False)


# Validation.


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("embedding_dim", 0),
        ("lr", 0.0),
        ("lr", -1e-3),
        ("lr", math.nan),
        ("P", 1),
        ("K", 1),
        ("epochs", 0),
        ("network", "vgg16"),
        ("loss", "contrastive"),
        ("reduction", "sum"),
        ("small_identities", "repeat"),
        ("precision", "fp8"),
        ("grad_clip", 0.0),
        ("margin", -1.0),
        ("batches_per_epoch", 0),
        ("eval_sample_size", 1),
        ("pretrained_weights", "weights.pth"),
    ],
)
def test_config_validate_rejects(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value}).validate()


def test_config_roundtrip_and_unknown_field():
    config = TrainConfig(network="resnet18", embedding_dim=10, lr=1e-4)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"learning_rate": 1e-3})


def test_p_larger_than_identities_rejected(data):
    train_set, _ = data
    with pytest.raises(ValueError, match="P=7"):
        train_run(small_config(P=7), train_set, device="cpu", progress=False)


def test_k_larger_than_identities_without_augmentation_rejected(data):
    train_set, _ = data
    with pytest.raises(ValueError, match="K=7"):
        train_run(small_config(K=7), train_set, device="cpu", progress=False)
    # With augmentation the same K is drawable by repetition.
    check_config_against_labels(small_config(K=7, small_identities="augment"), train_set.labels)


def test_p_counts_only_identities_with_k_images():
    labels = np.array([0] * 4 + [1] * 4 + [2] * 2)
    with pytest.raises(ValueError, match="P=3 is larger than the 2 identities"):
        check_config_against_labels(small_config(P=3, K=4), labels)


def test_train_run_rejects_non_config(data):
    train_set, _ = data
    with pytest.raises(TypeError, match="TrainConfig"):
        train_run({"epochs": 1}, train_set)


def test_cuda_device_without_cuda_rejected(data):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present here")
    train_set, _ = data
    with pytest.raises(ValueError, match="CUDA is not available"):
        train_run(small_config(epochs=1), train_set, device="cuda", progress=False)


# Helpers.


@pytest.mark.parametrize(
    ("precision", "device", "expected"),
    [
        ("auto", "cpu", None),
        ("off", "cpu", None),
        ("bf16", "cpu", torch.bfloat16),
        ("fp16", "cpu", torch.float16),
    ],
)
def test_autocast_dtype(precision, device, expected):
    assert autocast_dtype(precision, torch.device(device)) == expected


def test_augment_repeats_changes_only_repeats():
    images = torch.arange(4 * 1 * 6 * 6, dtype=torch.float32).reshape(4, 1, 6, 6)
    indices = torch.tensor([5, 5, 7, 5])
    rng = np.random.default_rng(0)
    augmented = augment_repeats(images, indices, rng, max_shift=2)
    assert torch.equal(augmented[0], images[0])
    assert torch.equal(augmented[2], images[2])
    for position in (1, 3):
        # A circular shift keeps the multiset of pixel values.
        assert torch.equal(augmented[position].flatten().sort().values, images[position].flatten().sort().values)
    assert torch.equal(images[1], torch.arange(36, 72, dtype=torch.float32).reshape(1, 6, 6))
