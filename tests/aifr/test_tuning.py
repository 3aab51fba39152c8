"""Tests of tfg_lib.aifr.tuning: search space, identity folds, objective, shared study, CLI.

Where training is not the point, a stand-in trainer reports made-up validation Rank@1 values
through the epoch callback, exactly as ``train_run`` does, so each test runs in a fraction of a
second. The softplus test trains the real light network on a few MNIST digits.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from optuna.trial import TrialState

from tfg_lib.aifr.training import NonFiniteLossError, TrainConfig
from tfg_lib.aifr.tuning import (
    CrossValidationObjective,
    add_trials,
    identity_folds,
    load_search_space,
    make_storage,
    open_study,
    requeue_running_trials,
    run_worker,
    storage_url,
    trial_counts,
)
from tfg_lib.aifr.tuning import cli, report
from tfg_lib.aifr.tuning.retrain import split_for_search, subsample_per_identity
from tfg_lib.aifr.tuning.space import default_space_file, search_space_from_dict

REPOSITORY = Path(__file__).resolve().parents[2]
THESIS_PARAMETERS = [
    "P", "K", "network", "loss", "l2_normalize", "embedding_dim", "lr", "soft_margin", "margin",
    "use_norm_penalty", "norm_penalty", "use_grad_clip", "grad_clip", "normalize",
]


class LabelsOnly:
    """Stand-in data set: identity labels and subset(), which is all the objective touches."""

    def __init__(self, labels):
        self.labels = np.asarray(labels, dtype=np.int64)

    def subset(self, indices):
        return LabelsOnly(self.labels[np.asarray(indices)])

    def __len__(self):
        return self.labels.size


class FakeTrainer:
    """Report ``score(config) * epoch / epochs`` as val_rank_1 after every epoch; record calls."""

    def __init__(self, score=lambda config: config.embedding_dim / 10, error=None):
        self.score = score
        self.error = error
        self.calls = []

    def __call__(self, config, train_set, val_set, *, device=None, progress=True, epoch_callback=None, run_dir=None):
        self.calls.append((config, train_set, val_set))
        if self.error is not None:
            raise self.error
        for epoch in range(1, config.epochs + 1):
            epoch_callback(epoch, {"val_rank_1": self.score(config) * epoch / config.epochs, "train_rank_1": 1.0})
        return SimpleNamespace(model=None, final_metrics={})


def tiny_space(**fixed):
    """Two searched parameters and short training, for objective tests."""
    document = {
        "space": {
            "embedding_dim": {"type": "int", "low": 1, "high": 10},
            "lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
        },
        "fixed": {"P": 2, "K": 2, "epochs": 3, **fixed},
    }
    return search_space_from_dict(document)


def ten_identities(per_identity=6):
    return LabelsOnly(np.repeat(np.arange(10), per_identity))


@pytest.fixture
def storage(tmp_path):
    return make_storage(tmp_path / "study.db", heartbeat_interval=None)


# Search space.


def test_default_space_holds_thesis_parameters():
    space = load_search_space()
    assert space.names == THESIS_PARAMETERS
    assert (space["P"].low, space["P"].high) == (2, 10)
    assert (space["K"].low, space["K"].high) == (2, 10)
    assert set(space["network"].choices) == {"light", "resnet18", "resnet50"}
    assert set(space["loss"].choices) == {"batch_all", "batch_hard"}
    assert (space["embedding_dim"].low, space["embedding_dim"].high) == (1, 10)
    assert space["lr"].log and 0 < space["lr"].low < space["lr"].high == 1e-3
    assert (space["margin"].low, space["margin"].high) == (1e-3, 1.0)
    assert dict(space["margin"].when) == {"soft_margin": False}
    assert (space["norm_penalty"].low, space["norm_penalty"].high) == (1e-4, 2.0)
    assert (space["grad_clip"].low, space["grad_clip"].high) == (1e-5, 10.0)
    assert space["normalize"].type == "bool"


def test_space_file_ships_as_package_data():
    assert default_space_file().is_file()
    assert '"aifr/search_space.yaml"' in (REPOSITORY / "pyproject.toml").read_text()


@pytest.mark.parametrize(
    ("switches", "expected"),
    [
        ({"soft_margin": False, "use_norm_penalty": False, "use_grad_clip": False}, {"margin": 0.5, "norm_penalty": 0.0, "grad_clip": None}),
        ({"soft_margin": True, "use_norm_penalty": True, "use_grad_clip": True}, {"norm_penalty": 0.01, "grad_clip": 2.0}),
        ({"soft_margin": True, "use_norm_penalty": False, "use_grad_clip": True}, {"norm_penalty": 0.0, "grad_clip": 2.0}),
    ],
)
def test_space_conditions_gate_parameters(switches, expected):
    space = load_search_space()
    params = {
        "P": 4, "K": 3, "network": "light", "loss": "batch_hard", "l2_normalize": True,
        "embedding_dim": 5, "lr": 1e-4, "margin": 0.5, "norm_penalty": 0.01, "grad_clip": 2.0,
        "normalize": True, **switches,
    }
    values = space.suggest(optuna.trial.FixedTrial(params))
    for key, value in expected.items():
        assert values[key] == value
    if switches["soft_margin"]:
        assert "margin" not in values  # the hinge's margin is not sampled with softplus
    assert "use_norm_penalty" not in values
    assert "use_grad_clip" not in values
    TrainConfig.from_dict(values).validate()


@pytest.mark.parametrize("profile", [None, "quick", "mnist", "full"])
def test_sampled_configs_are_valid(profile):
    space = load_search_space(profile=profile)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(40):
        trial = study.ask()
        values = space.suggest(trial)
        config = TrainConfig.from_dict(values).validate()
        assert config.lr > 0
        assert space.config_values(trial.params) == values
        study.tell(trial, 0.0)


def test_quick_profile_edits_space():
    space = load_search_space(profile="quick")
    assert space["network"].choices == ("light",)
    assert space["P"].high == 4
    assert space.fixed["epochs"] < load_search_space().fixed["epochs"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"space": {"x": {"type": "int", "low": 3, "high": 1}}}, "exceeds high"),
        ({"space": {"x": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}}, "low > 0"),
        ({"space": {"x": {"type": "vector"}}}, "type='vector'"),
        ({"space": {"x": {"type": "bool", "colour": 1}}}, "unknown keys"),
        ({"space": {"y": {"type": "bool", "when": {"x": True}}, "x": {"type": "bool"}}}, "not an earlier"),
        ({"space": {"x": {"type": "bool"}, "y": {"type": "bool", "when": {"x": 3}}}}, "never takes"),
        ({"space": {"lr": {"type": "float", "low": 0.1, "high": 1.0}}, "fixed": {"lr": 0.1}}, "both searched and fixed"),
        ({"space": {}}, "empty"),
        ({"spaces": {}}, "unknown keys"),
    ],
)
def test_invalid_space_raises(document, message):
    with pytest.raises(ValueError, match=message):
        search_space_from_dict(document)


def test_unknown_profile_and_missing_file_raise(tmp_path):
    with pytest.raises(ValueError, match="profile='huge'"):
        load_search_space(profile="huge")
    with pytest.raises(FileNotFoundError, match="was not found"):
        load_search_space(tmp_path / "missing.yaml")


# Identity folds.


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("counts", [[4] * 10, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
def test_folds_disjoint_by_identity(k, counts):
    labels = np.repeat(np.arange(len(counts)) * 7 + 3, counts)  # non-contiguous identity ids
    folds = identity_folds(labels, k, seed=4)
    assert len(folds) == k
    validated = []
    for train, validation in folds:
        train_ids = {int(labels[i]) for i in train}
        validation_ids = {int(labels[i]) for i in validation}
        assert train_ids.isdisjoint(validation_ids)
        assert sorted(np.concatenate([train, validation]).tolist()) == list(range(labels.size))
        validated.extend(validation.tolist())
    if k >= 2:
        # Every image is validated on exactly once across the folds.
        assert sorted(validated) == list(range(labels.size))


def test_split_for_search_holds_out_identities():
    data = ten_identities()
    split = split_for_search(data, folds=2, test_fraction=0.2, seed=3)
    test_ids = set(data.labels[split.test_indices].tolist())
    assert len(test_ids) == 2
    assert test_ids.isdisjoint(data.labels[split.train_indices].tolist())
    for train, validation in split.folds:
        assert set(split.train_set.labels[train].tolist()).isdisjoint(split.train_set.labels[validation].tolist())
        assert test_ids.isdisjoint(split.train_set.labels[validation].tolist())


def test_folds_same_seed_same_split():
    labels = np.repeat(np.arange(10), 3)
    first = identity_folds(labels, 3, seed=2)
    second = identity_folds(labels, 3, seed=2)
    for (a_train, a_val), (b_train, b_val) in zip(first, second):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_val, b_val)


@pytest.mark.parametrize("k", [0, -1, 2.0, True])
def test_folds_invalid_k_raises(k):
    with pytest.raises(ValueError, match="k="):
        identity_folds(np.arange(10), k)


def test_objective_rejects_shared_identity():
    data = ten_identities()
    folds = [(np.arange(0, 30), np.arange(24, 60))]  # identity 4 on both sides
    with pytest.raises(ValueError, match="both sides"):
        CrossValidationObjective(data, tiny_space(), folds, train_fn=FakeTrainer())


def test_objective_rejects_p_above_fold_identities():
    data = ten_identities()
    folds = identity_folds(data.labels, 2, seed=0)  # 5 training identities per fold
    space = search_space_from_dict({"space": {"P": {"type": "int", "low": 2, "high": 6}}, "fixed": {"K": 2}})
    with pytest.raises(ValueError, match="P up to 6.*only 5 identities"):
        CrossValidationObjective(data, space, folds, train_fn=FakeTrainer())


# Objective and worker loop, with the stand-in trainer.


def test_objective_is_mean_over_folds(storage):
    data = ten_identities()
    folds = identity_folds(data.labels, 3, seed=0)
    trainer = FakeTrainer(score=lambda config: config.embedding_dim / 10)
    objective = CrossValidationObjective(data, tiny_space(), folds, train_fn=trainer)
    study = open_study("mean", storage, 1)
    run_worker(study, objective)

    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    expected = trial.params["embedding_dim"] / 10  # every fold's last epoch reports score * 3 / 3
    assert trial.value == pytest.approx(expected, rel=1e-12)
    assert trial.user_attrs["fold_rank_1"] == pytest.approx([expected] * 3, rel=1e-12)
    # Fold f reports epoch e at step f * epochs + e - 1, with value score * e / epochs.
    steps = {fold * 3 + epoch - 1: expected * epoch / 3 for fold in range(3) for epoch in (1, 2, 3)}
    assert trial.intermediate_values == pytest.approx(steps, rel=1e-12)
    # The trainer saw each fold's subsets, whose identities do not overlap.
    assert len(trainer.calls) == 3
    for (_, train_set, val_set), (train, validation) in zip(trainer.calls, folds):
        np.testing.assert_array_equal(train_set.labels, data.labels[train])
        np.testing.assert_array_equal(val_set.labels, data.labels[validation])


def test_pruner_stops_poor_trial(storage):
    data = ten_identities()
    folds = identity_folds(data.labels, 2, seed=0)
    good = CrossValidationObjective(data, tiny_space(), folds, train_fn=FakeTrainer(lambda config: 0.9))
    poor_trainer = FakeTrainer(lambda config: 0.05)
    poor = CrossValidationObjective(data, tiny_space(), folds, train_fn=poor_trainer)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    study = open_study("prune", storage, 3, pruner=pruner)

    run_worker(study, lambda trial: (good if trial.number < 2 else poor)(trial))
    states = [trial.state for trial in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert len(poor_trainer.calls) == 1  # stopped during the first fold
    assert study.trials[2].intermediate_values == {0: pytest.approx(0.05 / 3)}


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (NonFiniteLossError(epoch=1, batch=3, value=float("nan")), "non-finite loss"),
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out of memory"),
        (MemoryError(), "out of memory"),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB"), "out of memory"),
    ],
)
def test_failing_trial_recorded_as_failed(storage, error, reason):
    data = ten_identities()
    folds = identity_folds(data.labels, 2, seed=0)
    study = open_study("fail", storage, 2)
    failing = CrossValidationObjective(data, tiny_space(), folds, train_fn=FakeTrainer(error=error))
    working = CrossValidationObjective(data, tiny_space(), folds, train_fn=FakeTrainer())
    # The first trial fails; the study goes on and the second one completes.
    result = run_worker(study, lambda trial: (failing if trial.number == 0 else working)(trial))
    first, second = study.trials
    assert first.state == TrialState.FAIL
    assert first.user_attrs["fail_reason"].startswith(reason)
    assert second.state == TrialState.COMPLETE
    assert result.failed == [0]
    assert result.complete == [1]


def test_unexpected_error_fails_trial_and_raises(storage):
    study = open_study("bug", storage, 2)

    def broken(trial):
        raise KeyError("no such metric")

    with pytest.raises(KeyError):
        run_worker(study, broken)
    assert study.trials[0].state == TrialState.FAIL
    assert "KeyError" in study.trials[0].user_attrs["fail_reason"]
    assert study.trials[1].state == TrialState.WAITING


def test_invalid_configuration_fails_trial(storage):
    data = ten_identities(per_identity=2)
    folds = identity_folds(data.labels, 2, seed=0)
    # K = 3 exceeds every identity's 2 images and small identities are skipped.
    objective = CrossValidationObjective(data, tiny_space(K=3), folds, train_fn=FakeTrainer())
    study = open_study("invalid", storage, 1)
    run_worker(study, objective)
    assert study.trials[0].state == TrialState.FAIL
    assert study.trials[0].user_attrs["fail_reason"].startswith("invalid configuration: K=3")


def test_interrupted_trial_is_queued_again(storage):
    study = open_study("interrupt", storage, 2)

    def interrupted(trial):
        trial.suggest_float("x", 0.0, 1.0)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_worker(study, interrupted)
    first = study.trials[0]
    assert first.state == TrialState.FAIL
    assert first.user_attrs["fail_reason"] == "worker stopped: KeyboardInterrupt"

    # A restarted worker runs the remaining trial and the copy, which keeps the parameters.
    report_new = run_worker(study, lambda trial: trial.suggest_float("x", 0.0, 1.0))
    copy = study.trials[2]
    assert copy.state == TrialState.COMPLETE
    assert copy.system_attrs["failed_trial"] == 0
    assert copy.params == first.params
    assert report_new.complete == [1, 2]


def test_requeue_running_trials(storage):
    study = open_study("stuck", storage, 1)
    trial = study.ask()  # the queued trial, now RUNNING as if its worker had died
    trial.suggest_float("x", 0.0, 1.0)
    assert requeue_running_trials(study) == [0]
    stuck = study.trials[0]
    assert stuck.state == TrialState.FAIL
    assert stuck.user_attrs["fail_reason"] == "requeued by hand"
    copy = study.trials[1]
    assert copy.state == TrialState.WAITING
    assert copy.params == stuck.params


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None])
def test_non_finite_objective_fails_trial(storage, value):
    study = open_study("nan", storage, 1)
    run_worker(study, lambda trial: value)
    assert study.trials[0].state == TrialState.FAIL
    assert "not a finite number" in study.trials[0].user_attrs["fail_reason"]


# Storage and studies.


def test_storage_url_forms(tmp_path):
    assert storage_url(tmp_path / "a.db") == f"sqlite:///{tmp_path / 'a.db'}"
    assert storage_url("postgresql://user@host/db") == "postgresql://user@host/db"
    with pytest.raises(ValueError, match="is a folder"):
        storage_url(tmp_path)
    with pytest.raises(ValueError, match="grace_period=5 must exceed"):
        make_storage(tmp_path / "b.db", heartbeat_interval=5, grace_period=5)


def test_join_keeps_queued_trials(storage):
    open_study("join", storage, 3, settings={"folds": 2})
    study = open_study("join", storage, 7, settings={"folds": 2})
    assert trial_counts(study)["WAITING"] == 3
    assert add_trials(study, 2) == 5
    assert trial_counts(study)["WAITING"] == 5


def test_join_with_other_settings_raises(storage):
    open_study("settings", storage, 1, settings={"folds": 2, "space": {"P": [2, 10]}})
    with pytest.raises(ValueError, match="folds differ"):
        open_study("settings", storage, 1, settings={"folds": 3, "space": {"P": [2, 10]}})


def test_same_seed_same_trials(tmp_path):
    space = tiny_space()
    drawn = []
    for run in range(2):
        study = open_study("seeded", make_storage(tmp_path / f"run{run}.db", heartbeat_interval=None), 4)
        run_worker(study, lambda trial: space.suggest(trial)["lr"] * 1000, seed=7)
        drawn.append([trial.params for trial in study.trials])
    assert drawn[0] == drawn[1]
    assert len({json.dumps(params, sort_keys=True) for params in drawn[0]}) == 4


# Several processes.

WORKER_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from tfg_lib.aifr.tuning import make_storage, open_study, run_worker

    url, name, trials, log, hold, started = sys.argv[1:7]
    open(started + "." + str(os.getpid()), "w").close()
    storage = make_storage(url, heartbeat_interval=1, grace_period=3)
    study = open_study(name, storage, int(trials), settings={"test": True})

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        deadline = time.monotonic() + 30
        # Hold the first trials until both workers are up, so that they really share the study.
        while len([p for p in os.listdir(os.path.dirname(started)) if p.startswith("started.")]) < int(hold):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        with open(log, "a") as handle:
            handle.write(f"start {trial.number} {os.getpid()}\\n")
        if trial.number == 2 and os.environ.get("HANG_ON_TRIAL_2"):
            time.sleep(600)
        time.sleep(0.1)
        with open(log, "a") as handle:
            handle.write(f"done {trial.number} {os.getpid()}\\n")
        return x

    run_worker(study, objective, seed=int(os.environ.get("SEED", "0")), poll_interval=0.2)
    """
)


def start_worker(tmp_path, url, name, trials, hold, env=None):
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT)
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), **(env or {})}
    command = [sys.executable, str(script), url, name, str(trials), str(tmp_path / "log.txt"), str(hold), str(tmp_path / "started")]
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_log(tmp_path):
    path = tmp_path / "log.txt"
    lines = path.read_text().split("\n") if path.exists() else []
    return [line.split() for line in lines if line]


def test_two_workers_share_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"  # fresh: both workers race to create it
    workers = [start_worker(tmp_path, url, "shared", 10, hold=2, env={"SEED": "0"}) for _ in range(2)]
    for worker in workers:
        output, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, output

    study = optuna.load_study(study_name="shared", storage=url)
    trials = study.get_trials()
    assert sorted(trial.number for trial in trials) == list(range(10))
    assert all(trial.state == TrialState.COMPLETE for trial in trials)
    done = [int(number) for kind, number, _ in read_log(tmp_path) if kind == "done"]
    assert sorted(done) == list(range(10))  # each trial ran exactly once
    workers_used = {trial.user_attrs["worker"] for trial in trials}
    assert len(workers_used) == 2
    # Both workers had the same seed, yet no two trials drew the same parameters.
    assert len({trial.params["x"] for trial in trials}) == 10


def test_killed_worker_keeps_finished_trials(tmp_path):
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    worker = start_worker(tmp_path, url, "killed", 5, hold=1, env={"HANG_ON_TRIAL_2": "1"})
    deadline = time.monotonic() + 60
    while ["start", "2", str(worker.pid)] not in read_log(tmp_path):
        assert time.monotonic() < deadline and worker.poll() is None, worker.stdout.read() if worker.poll() is not None else "timed out"
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)

    storage = make_storage(url, heartbeat_interval=1, grace_period=3)
    study = optuna.load_study(study_name="killed", storage=storage)
    before = {trial.number: trial.value for trial in study.get_trials(states=(TrialState.COMPLETE,))}
    assert sorted(before) == [0, 1]
    assert study.trials[2].state == TrialState.RUNNING

    # A new worker finishes the queue and, once trial 2's heartbeat is stale, reruns its parameters.
    report_new = run_worker(study, lambda trial: trial.suggest_float("x", 0.0, 1.0), poll_interval=0.2)
    trials = study.get_trials()
    for number, value in before.items():
        assert trials[number].state == TrialState.COMPLETE
        assert trials[number].value == value
    assert trials[2].state == TrialState.FAIL
    retry = trials[5]
    assert retry.system_attrs["failed_trial"] == 2
    assert retry.params == trials[2].params
    assert sorted(report_new.complete) == [3, 4, 5]
    assert trial_counts(study)["COMPLETE"] == 5


# The real trainer.


@pytest.mark.parametrize("loss", ["batch_hard", "batch_all"])
def test_softplus_trial_runs(tmp_path, loss):
    from tfg_lib.aifr.datasets import EmbeddedMNIST

    mnist = EmbeddedMNIST()
    chosen = subsample_per_identity(mnist.labels, 12, seed=0)
    data = mnist.subset(chosen[mnist.labels[chosen] < 4])  # 12 images of each of the digits 0..3
    space = search_space_from_dict(
        {
            "space": {"embedding_dim": {"type": "int", "low": 2, "high": 4}},
            "fixed": {
                "network": "light", "loss": loss, "soft_margin": True, "P": 2, "K": 4, "epochs": 1,
                "batches_per_epoch": 2, "evaluate_initial": False, "eval_batches": 1,
            },
        }
    )
    folds = identity_folds(data.labels, 2, seed=0)
    study = open_study("softplus", make_storage(tmp_path / "softplus.db", heartbeat_interval=None), 1)
    run_worker(study, CrossValidationObjective(data, space, folds, device="cpu"))
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE, trial.user_attrs.get("fail_reason")
    assert set(trial.params) == {"embedding_dim"}
    assert 0.0 <= trial.value <= 1.0


# Command line and report.


def fake_model_trainer(config, train_set, val_set, *, device=None, progress=True, epoch_callback=None, run_dir=None):
    for epoch in range(1, config.epochs + 1):
        if epoch_callback is not None:
            epoch_callback(epoch, {"val_rank_1": config.lr * 500 + config.embedding_dim / 100})
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, config.embedding_dim))
    return SimpleNamespace(model=model, final_metrics={})


def test_cli_runs_study_and_retrains(tmp_path, capsys):
    storage_path = tmp_path / "cli.db"
    argv = [
        "--study", "cli", "--storage", str(storage_path), "--trials", "3", "--folds", "2",
        "--profile", "quick", "--images-per-identity", "10", "--seed", "1", "--retrain", "--heartbeat", "2", "--grace", "6",
    ]
    assert cli.main(argv, train_fn=fake_model_trainer) == 0
    output = capsys.readouterr().out
    assert '"COMPLETE": 3' in output
    assert "held-out test" in output
    metrics = json.loads(output.split("held-out test: ", 1)[1].strip())
    assert 0.0 <= metrics["rank_1"] <= 1.0

    # A second worker joins the finished study and finds nothing to do.
    assert cli.main(argv[:-5], train_fn=fake_model_trainer) == 0
    assert "ran trials []" in capsys.readouterr().out


def test_cli_reports_bad_profile(tmp_path, capsys):
    argv = ["--study", "bad", "--storage", str(tmp_path / "bad.db"), "--profile", "huge"]
    assert cli.main(argv, train_fn=fake_model_trainer) == 2
    assert "profile='huge'" in capsys.readouterr().err


def test_report_figures_and_tables(tmp_path):
    space = load_search_space(profile="quick")
    study = open_study("report", make_storage(tmp_path / "report.db", heartbeat_interval=None), 6)
    values = iter([0.3, 0.5, 0.4, 0.8, 0.2, float("nan")])

    def objective(trial):
        space.suggest(trial)
        value = next(values)
        if trial.number == 4:
            trial.report(value, step=0)
            raise optuna.TrialPruned()
        return value

    run_worker(study, objective, seed=3)

    frame = report.trials_frame(study)
    assert list(frame["state"]) == ["COMPLETE"] * 4 + ["PRUNED", "FAIL"]
    assert report.best_trial(study).number == 3

    fig, history = report.plot_optimization_history(study, language="es")
    # Best so far, by hand: 0.3, max(0.3, 0.5), 0.5 (0.4 is lower), 0.8, then 0.8 carried past the pruned trial.
    assert list(history["best_so_far"]) == [0.3, 0.5, 0.5, 0.8, 0.8]
    assert list(history["state"]) == ["COMPLETE"] * 4 + ["PRUNED"]
    assert fig.axes[0].get_xlabel() == "Prueba"

    fig, importances = report.plot_param_importances(study, seed=0)
    assert importances["importance"].sum() == pytest.approx(1.0)
    assert "network" not in set(importances["parameter"])  # a single choice has no importance

    fig, lines = report.plot_parallel_coordinates(study, space)
    assert lines["position"].between(0.0, 1.0).all()
    assert "network" not in set(lines["parameter"])  # a single choice is not drawn
    lr = space["lr"]
    middle = math.sqrt(lr.low * lr.high)
    assert report._position(lr, middle) == pytest.approx(0.5)  # log axis

    table = report.compare_with_thesis(report.best_trial(study).params, space)
    assert isinstance(table, pd.DataFrame)
    row = table.set_index("parameter").loc["P"]
    assert row["thesis MNIST"] == "16"
    assert row["thesis CACD"] == "16"
    assert table.set_index("parameter").loc["grad_clip", "thesis CACD"] == "not found"


def test_subsample_per_identity_caps_each_identity():
    labels = np.repeat(np.arange(4), [1, 5, 9, 3])
    chosen = subsample_per_identity(labels, 4, seed=0)
    counts = np.bincount(labels[chosen], minlength=4)
    np.testing.assert_array_equal(counts, [1, 4, 4, 3])
    assert np.all(np.diff(chosen) > 0)
