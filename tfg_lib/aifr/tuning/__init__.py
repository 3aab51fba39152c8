"""Hyperparameter search with identity k-fold cross-validation on Optuna, shared by many workers.

- :mod:`~tfg_lib.aifr.tuning.space`: the search space as data (``search_space.yaml``).
- :mod:`~tfg_lib.aifr.tuning.objective`: identity folds and the objective, mean validation
  Rank@1 over the folds with per-epoch values for the median pruner.
- :mod:`~tfg_lib.aifr.tuning.study`: RDB storage, creating or joining a study, the worker loop.
- :mod:`~tfg_lib.aifr.tuning.retrain`: retraining the best setting and testing it once.
- :mod:`~tfg_lib.aifr.tuning.report`: trial tables, figures, the thesis' chosen values.
- :mod:`~tfg_lib.aifr.tuning.cli`: the ``tfg-tune`` command.
"""

from tfg_lib.aifr.tuning.objective import (
    CrossValidationObjective,
    TrialFailedError,
    failure_reason,
    identity_folds,
)
from tfg_lib.aifr.tuning.retrain import (
    HoldoutResult,
    SearchSplit,
    retrain_and_test,
    split_for_search,
    subsample_per_identity,
)
from tfg_lib.aifr.tuning.space import Parameter, SearchSpace, default_space_file, load_search_space
from tfg_lib.aifr.tuning.study import (
    WorkerReport,
    add_trials,
    delete_study_if_exists,
    make_pruner,
    make_sampler,
    make_storage,
    open_study,
    requeue_running_trials,
    run_worker,
    storage_url,
    trial_counts,
)

__all__ = [
    "CrossValidationObjective",
    "HoldoutResult",
    "Parameter",
    "SearchSpace",
    "SearchSplit",
    "TrialFailedError",
    "WorkerReport",
    "add_trials",
    "default_space_file",
    "delete_study_if_exists",
    "failure_reason",
    "identity_folds",
    "load_search_space",
    "make_pruner",
    "make_sampler",
    "make_storage",
    "open_study",
    "requeue_running_trials",
    "retrain_and_test",
    "run_worker",
    "split_for_search",
    "storage_url",
    "subsample_per_identity",
    "trial_counts",
]
