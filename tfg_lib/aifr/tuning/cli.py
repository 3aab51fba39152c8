"""``tfg-tune``: start one worker of a hyperparameter search; run it on as many machines as you like.

Every worker started with the same ``--study`` and ``--storage`` joins the same study. Example::

    tfg-tune --study mnist --storage tuning.db --trials 40 --folds 3 --profile quick
    tfg-tune --study cacd --storage postgresql://user:password@host/optuna \\
        --dataset cacd --data-root /data/CACD --trials 92 --folds 3 --retrain
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfg_lib.aifr.tuning.objective import CrossValidationObjective, TrainFunction
from tfg_lib.aifr.tuning.report import best_trial, trials_frame
from tfg_lib.aifr.tuning.retrain import retrain_and_test, split_for_search, subsample_per_identity
from tfg_lib.aifr.tuning.space import load_search_space
from tfg_lib.aifr.tuning.study import (
    GRACE_PERIOD,
    HEARTBEAT_INTERVAL,
    add_trials,
    make_pruner,
    make_storage,
    open_study,
    requeue_running_trials,
    run_worker,
    trial_counts,
)

logger = logging.getLogger(__name__)

DATASETS = ("mnist", "cacd", "fgnet", "lfw")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``tfg-tune``."""
    parser = argparse.ArgumentParser(
        prog="tfg-tune",
        description=(
            "Run one worker of a hyperparameter search that maximises the mean validation Rank@1 "
            "over identity-disjoint folds. Workers with the same --study and --storage share the study."
        ),
    )
    parser.add_argument("--study", required=True, help="study name; workers with the same name share one study")
    parser.add_argument(
        "--storage", default="tuning.db",
        help="SQLAlchemy URL (postgresql://user:password@host/db) or SQLite file path (default: tuning.db)",
    )
    parser.add_argument("--trials", type=int, default=20, help="number of trials in the study, set by the worker that creates it (default: 20)")

    parser.add_argument("--add-trials", type=int, default=0, metavar="N", help="queue N more trials in an existing study before working")
    parser.add_argument(
        "--requeue-running", action="store_true",
        help="mark every running trial as failed and queue a copy before working; only when no other worker runs",
    )
    parser.add_argument("--folds", type=int, default=3, help="identity folds; 1 means a single hold-out split (default: 3)")
    parser.add_argument("--space", default=None, metavar="FILE", help="search space YAML file (default: the shipped search_space.yaml)")
    parser.add_argument("--profile", default=None, help="profile of the space file to apply: quick, mnist or full (default with the shipped file: mnist for --dataset mnist, else full)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the splits and the sampler (default: 0)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="claim no new trial after this many seconds")

    parser.add_argument("--dataset", choices=DATASETS, default="mnist", help="data set; mnist is the embedded 5,000-digit sample (default)")
    parser.add_argument("--data-root", default=None, help="folder of the cacd, fgnet or lfw data set")
    parser.add_argument("--images-per-identity", type=int, default=None, metavar="N", help="keep at most N random images of each identity")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="fraction of identities held out for the final test (default: 0.2)")

    parser.add_argument("--device", default=None, help="torch device, such as cpu or cuda (default: CUDA when present)")
    parser.add_argument("--heartbeat", type=int, default=HEARTBEAT_INTERVAL, metavar="SECONDS", help=f"seconds between heartbeats of a running trial (default: {HEARTBEAT_INTERVAL})")
    parser.add_argument("--grace", type=int, default=GRACE_PERIOD, metavar="SECONDS", help=f"seconds without heartbeat before a trial counts as abandoned (default: {GRACE_PERIOD})")
    parser.add_argument("--retrain", action="store_true", help="when the study is done, retrain the best setting on all training identities and test it once")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every epoch and print the trial table")
    return parser


def load_dataset(name: str, root: str | None) -> Any:
    """Open the data set ``name`` (see ``DATASETS``); all but mnist read from ``root``."""
    from tfg_lib.aifr import datasets

    if name == "mnist":
        return datasets.EmbeddedMNIST()
    if root is None:
        raise ValueError(f"--dataset {name} requires --data-root, the folder that contains the data set.")
    loaders = {"cacd": "CACD", "fgnet": "FGNET", "lfw": "LFW"}
    return getattr(datasets, loaders[name])(root)


def main(argv: Sequence[str] | None = None, train_fn: TrainFunction | None = None) -> int:
    """Run ``tfg-tune``; ``train_fn`` replaces the trainer (for tests). Return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    logging.getLogger("tfg_lib").setLevel(logging.INFO)
    if not args.verbose:
        logging.getLogger("tfg_lib.aifr.training").setLevel(logging.WARNING)
    try:
        return _run(args, train_fn)
    except (ValueError, FileNotFoundError) as error:
        print(f"tfg-tune: error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, train_fn: TrainFunction | None) -> int:
    profile = args.profile
    if profile is None and args.space is None:
        # The thesis' P range does not fit folds of MNIST's ten digits; the mnist profile caps it.
        profile = "mnist" if args.dataset == "mnist" else "full"
    space = load_search_space(args.space, profile=profile)
    dataset = load_dataset(args.dataset, args.data_root)
    if args.images_per_identity is not None:
        dataset = dataset.subset(subsample_per_identity(dataset.labels, args.images_per_identity, seed=args.seed))
    split = split_for_search(dataset, args.folds, test_fraction=args.test_fraction, seed=args.seed)
    objective = CrossValidationObjective(split.train_set, space, split.folds, train_fn=train_fn, device=args.device)

    settings = {
        "space": space.to_dict(),
        "folds": args.folds,
        "seed": args.seed,
        "dataset": args.dataset,
        "images_per_identity": args.images_per_identity,
        "test_fraction": args.test_fraction,
    }
    storage = make_storage(args.storage, heartbeat_interval=args.heartbeat, grace_period=args.grace)
    study = open_study(args.study, storage, args.trials, settings=settings, pruner=make_pruner(space.pruner))
    if args.requeue_running:
        requeue_running_trials(study)
    if args.add_trials:
        add_trials(study, args.add_trials)

    report = run_worker(study, objective, seed=args.seed, timeout=args.timeout)
    counts = trial_counts(study)
    print(f"worker {report.worker}: ran trials {report.trials}; study {args.study!r} now contains {json.dumps(counts)}")

    if args.retrain:
        if counts["WAITING"] or counts["RUNNING"]:
            print("not retraining: the study still has waiting or running trials; rerun with --retrain when it is done")
            return 0
        best = best_trial(study)
        result = retrain_and_test(
            dataset, space, best.params, split.train_indices, split.test_indices, train_fn=train_fn, device=args.device, progress=False
        )
        metrics = {key: round(float(value), 4) for key, value in result.test_metrics.items() if np.isfinite(value)}
        print(f"best trial {best.number} (validation Rank@1 {best.value:.4f}); held-out test: {json.dumps(metrics)}")
    elif args.verbose:
        print(trials_frame(study).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
