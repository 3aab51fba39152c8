"""One study in Optuna's RDB storage, shared by any number of workers on any number of machines.

The worker that creates a study queues its ``n_trials`` trials as WAITING rows. Every worker then
claims one waiting trial at a time. The claim is a single conditional update in the database, so
two workers never run the same trial, and the study ends with exactly the trials it queued.
Stopping a worker loses no finished trial, because each trial is written when it ends. A worker
that dies mid-trial stops sending heartbeats, and once the grace period has passed another worker
marks that trial as failed and queues a copy with the same parameters.
"""

from __future__ import annotations

import logging
import math
import os
import random
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.trial import TrialState

from tfg_lib.aifr.tuning.objective import FAIL_REASON_ATTR, failure_reason

logger = logging.getLogger(__name__)

DEFAULT_STORAGE = "tuning.db"
SETTINGS_ATTR = "settings"
QUEUED_ATTR = "queued_trials"
WORKER_ATTR = "worker"
HEARTBEAT_INTERVAL = 60
GRACE_PERIOD = 180
MAX_RETRY = 2
SQLITE_TIMEOUT = 60
STORAGE_ATTEMPTS = 5


def storage_url(storage: str | os.PathLike[str] | None) -> str:
    """Return an SQLAlchemy URL: a URL unchanged, a file path as an SQLite URL, None as ``tuning.db``."""
    if storage is None or str(storage) == "":
        storage = DEFAULT_STORAGE
    text = os.fspath(storage)
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    if path.is_dir():
        raise ValueError(
            f"storage={text!r} is a folder; pass a file path such as {str(path / DEFAULT_STORAGE)!r} "
            "or an SQLAlchemy URL such as 'postgresql://user:password@host/db'."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def make_storage(
    storage: str | os.PathLike[str] | None = None,
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL,
    grace_period: int | None = GRACE_PERIOD,
    max_retry: int = MAX_RETRY,
) -> optuna.storages.RDBStorage:
    """Open Optuna's RDB storage at ``storage``, creating its tables on first use.

    Parameters
    ----------
    storage : str or path, optional
        An SQLAlchemy URL (``postgresql://...``, ``mysql+pymysql://...``, ``sqlite:///...``) or
        the path of an SQLite file; None means ``tuning.db`` in the current folder.
    heartbeat_interval, grace_period : int, optional
        Seconds between a running trial's heartbeats, and seconds without one after which
        another worker treats the trial as abandoned. None turns heartbeats off, and then a
        trial of a killed worker stays RUNNING.
    max_retry : int
        How many times an abandoned trial is queued again with the same parameters.
    """
    url = storage_url(storage)
    if heartbeat_interval is not None and (isinstance(heartbeat_interval, bool) or heartbeat_interval < 1):
        raise ValueError(f"heartbeat_interval={heartbeat_interval!r} is invalid; use whole seconds >= 1, or None.")
    if grace_period is not None and heartbeat_interval is not None and grace_period <= heartbeat_interval:
        raise ValueError(
            f"grace_period={grace_period} must exceed heartbeat_interval={heartbeat_interval}, or a "
            "live worker's trial would be treated as abandoned; use about three intervals."
        )
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Several processes write to one SQLite file; wait for the lock instead of failing at 5 s.
        engine_kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT}
    else:
        engine_kwargs["pool_pre_ping"] = True
    callback = None
    if heartbeat_interval:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            callback = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    # Workers started together on a fresh database race to create the tables, and the losers
    # get "table already exists". A short random wait and a retry resolve it.
    for attempt in range(1, STORAGE_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period if heartbeat_interval else None,
                    heartbeat_stale_trial_callback=callback,
                )
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError) as error:
            if attempt == STORAGE_ATTEMPTS:
                raise
            logger.info("opening storage %s failed (attempt %d): %s; retrying", _safe_url(url), attempt, error)
            time.sleep(random.uniform(0.1, 0.5) * attempt)
    raise AssertionError("unreachable")


def make_pruner(settings: Mapping[str, int] | None = None) -> optuna.pruners.MedianPruner:
    """Build the median pruner from the ``pruner`` section of a search space."""
    return optuna.pruners.MedianPruner(**dict(settings or {}))


def make_sampler(seed: int, trial_number: int) -> optuna.samplers.TPESampler:
    """Build the TPE sampler that draws trial ``trial_number``.

    The seed mixes the study seed with the trial number, so two workers with the same seed
    still draw different trials, and one worker alone draws the same trials on every run.
    """
    trial_seed = int(np.random.SeedSequence([int(seed), int(trial_number)]).generate_state(1)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=trial_seed, constant_liar=True)


def open_study(
    study_name: str,
    storage: optuna.storages.BaseStorage | str | os.PathLike[str] | None,
    n_trials: int,
    settings: Mapping[str, Any] | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    wait_for_queue: float = 30.0,
) -> optuna.Study:
    """Create the study ``study_name`` with ``n_trials`` queued trials, or join it if it exists.

    Parameters
    ----------
    study_name : str
        Workers that pass the same name share one study.
    storage
        An RDB storage from :func:`make_storage`, or a URL or path passed to it.
    n_trials : int
        Number of trials in the study. Only the worker that creates the study uses it; a worker
        that joins with another number logs a warning, and :func:`add_trials` extends a study.
    settings : mapping, optional
        JSON-serialisable description of the objective (search space, folds, seed, data). The
        creator stores it, and a joining worker with different settings raises ``ValueError``,
        because its scores would not be comparable.
    pruner : optuna pruner, optional
        Default: the median pruner.
    wait_for_queue : float
        Seconds a joining worker waits for the creator to finish queueing the trials.
    """
    if not isinstance(study_name, str) or not study_name:
        raise ValueError(f"study_name={study_name!r} is invalid; pass a non-empty name such as 'aifr_mnist'.")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials={n_trials!r} is invalid; pass the number of trials, at least 1.")
    if not isinstance(storage, optuna.storages.BaseStorage):
        storage = make_storage(storage)
    pruner = pruner or make_pruner()
    settings = dict(settings or {})

    try:
        study = optuna.create_study(study_name=study_name, storage=storage, pruner=pruner, direction="maximize")
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)
        _join(study, n_trials, settings, wait_for_queue)
        return study

    study.set_user_attr(SETTINGS_ATTR, settings)
    for _ in range(n_trials):
        study.enqueue_trial({})
    # Written last, so a joining worker that finds it also finds every queued trial.
    study.set_user_attr(QUEUED_ATTR, n_trials)
    logger.info("created study %r with %d queued trials", study_name, n_trials)
    return study


def _join(study: optuna.Study, n_trials: int, settings: Mapping[str, Any], wait_for_queue: float) -> None:
    deadline = time.monotonic() + wait_for_queue
    while QUEUED_ATTR not in study.user_attrs and time.monotonic() < deadline:
        time.sleep(0.2)
    attrs = study.user_attrs
    if QUEUED_ATTR not in attrs:
        logger.warning(
            "study %r has no queued trials after %.0f s; its creator may have stopped while "
            "queueing them. Use add_trials (tfg-tune --add-trials) to queue more.",
            study.study_name, wait_for_queue,
        )
    stored = attrs.get(SETTINGS_ATTR)
    if stored and settings and _normalise(stored) != _normalise(settings):
        different = sorted(key for key in set(stored) | set(settings) if _normalise(stored.get(key)) != _normalise(settings.get(key)))
        raise ValueError(
            f"study {study.study_name!r} was created with other settings ({', '.join(different)} "
            f"differ: stored {[stored.get(key) for key in different]}); start this worker with the "
            "same search space, folds, seed and data, or choose another study name."
        )
    queued = attrs.get(QUEUED_ATTR)
    if queued is not None and queued != n_trials:
        logger.warning(
            "study %r contains %d trials, not the %d requested; to run more, queue them with "
            "add_trials (tfg-tune --add-trials).", study.study_name, queued, n_trials,
        )
    logger.info("joined study %r", study.study_name)


def _normalise(value: Any) -> Any:
    # JSON round trips turn tuples into lists; compare in that form.
    if isinstance(value, Mapping):
        return {str(key): _normalise(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(item) for item in value]
    return value


def delete_study_if_exists(study_name: str, storage: optuna.storages.BaseStorage | str | os.PathLike[str] | None) -> bool:
    """Delete the study ``study_name`` with all its trials; return whether it existed."""
    if not isinstance(storage, optuna.storages.BaseStorage):
        storage = make_storage(storage)
    try:
        optuna.delete_study(study_name=study_name, storage=storage)
    except KeyError:
        return False
    logger.info("deleted study %r", study_name)
    return True


def add_trials(study: optuna.Study, count: int) -> int:
    """Queue ``count`` more trials in ``study`` and return the new total.

    NOTE: two workers that call this at the same moment both queue their trials, but the stored
    total then counts only one of the calls. Extend a study from one place.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count={count!r} is invalid; pass the number of trials to add, at least 1.")
    for _ in range(count):
        study.enqueue_trial({})
    total = int(study.user_attrs.get(QUEUED_ATTR, 0)) + count
    study.set_user_attr(QUEUED_ATTR, total)
    logger.info("queued %d more trials in study %r (%d in all)", count, study.study_name, total)
    return total


def requeue_running_trials(study: optuna.Study, reason: str = "requeued by hand") -> list[int]:
    """Mark every RUNNING trial as failed with ``reason`` and queue a copy with its parameters.

    Call it only when no worker is running, because it also stops the trials of live workers
    from counting. Returns the numbers of the trials it failed.
    """
    storage = study._storage
    failed = []
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(frozen._trial_id, FAIL_REASON_ATTR, reason)
        try:
            changed = storage.set_trial_state_values(frozen._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it finished in the meantime
        if changed:
            _requeue(study, frozen._trial_id)
            failed.append(frozen.number)
    logger.info("requeued running trials %s of study %r", failed, study.study_name)
    return failed


@dataclass
class WorkerReport:
    """Record of one :func:`run_worker` call: the numbers of the trials it finished, by state."""

    worker: str
    complete: list[int] = field(default_factory=list)
    pruned: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    stopped_by_timeout: bool = False

    @property
    def trials(self) -> list[int]:
        """Numbers of every trial this worker finished, in order."""
        return sorted(self.complete + self.pruned + self.failed)


Objective = Callable[[optuna.Trial], float]


def run_worker(
    study: optuna.Study,
    objective: Objective,
    *,
    seed: int = 0,
    timeout: float | None = None,
    catch: Callable[[BaseException], str | None] = failure_reason,
    worker: str | None = None,
    poll_interval: float = 1.0,
) -> WorkerReport:
    """Run queued trials of ``study`` until none is waiting or running, or ``timeout`` passes.

    Parameters
    ----------
    study : optuna.Study
        From :func:`open_study`.
    objective : callable
        ``objective(trial) -> float``, for example a :class:`CrossValidationObjective`.
    seed : int
        Study seed; trial ``n`` is drawn by :func:`make_sampler` ``(seed, n)``.
    timeout : float, optional
        Seconds after which the worker claims no new trial; the running one is finished.
    catch : callable
        Maps an exception raised by ``objective`` to a one-line reason when it is a trial
        failure, and then the worker records the trial as failed and goes on. For any other
        exception it returns None, and the worker records the trial as failed and re-raises.
    worker : str, optional
        Name stored with each trial; default ``host:pid``.
    poll_interval : float
        Seconds between checks while other workers' trials are still running.

    Notes
    -----
    With heartbeats on, the worker stays until no trial is running anywhere, because a running
    trial of a worker that died is queued again after the grace period; with heartbeats off it
    returns as soon as no trial is waiting.
    """
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout={timeout!r} is invalid; pass seconds > 0 or None for no limit.")
    storage = study._storage
    study_id = storage.get_study_id_from_name(study.study_name)
    heartbeat = _heartbeat_interval(storage)
    report = WorkerReport(worker=worker or f"{socket.gethostname()}:{os.getpid()}")
    deadline = None if timeout is None else time.monotonic() + timeout
    waiting_logged = False

    while True:
        if deadline is not None and time.monotonic() >= deadline:
            report.stopped_by_timeout = True
            logger.info("worker %s reached its timeout of %.0f s", report.worker, timeout)
            break
        if heartbeat is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
        trial_id = _claim_waiting_trial(storage, study_id)
        if trial_id is None:
            running = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
            if heartbeat is not None and running:
                # NOTE: a RUNNING trial that never sent a heartbeat (its worker ran with
                # heartbeats off, or died right after claiming it) is never treated as
                # abandoned, so this wait ends only at the timeout or after
                # requeue_running_trials.
                if not waiting_logged:
                    numbers = [trial.number for trial in running]
                    logger.info("worker %s waits for running trials %s", report.worker, numbers)
                    waiting_logged = True
                time.sleep(poll_interval)
                continue
            break
        _run_one_trial(study, trial_id, objective, seed, catch, report, heartbeat)

    logger.info(
        "worker %s finished %d trials (%d complete, %d pruned, %d failed)",
        report.worker, len(report.trials), len(report.complete), len(report.pruned), len(report.failed),
    )
    return report


def _heartbeat_interval(storage: optuna.storages.BaseStorage) -> int | None:
    getter = getattr(storage, "get_heartbeat_interval", None)
    return getter() if getter is not None else None


def _claim_waiting_trial(storage: optuna.storages.BaseStorage, study_id: int) -> int | None:
    """Switch one WAITING trial to RUNNING and return its id, or None if none is left.

    On an RDB storage the switch is one ``UPDATE ... WHERE state = 'WAITING'``, so of two
    workers that race for a trial exactly one changes the row. Optuna's own
    ``set_trial_state_values`` reads the row before writing it, which SQLite does not lock, so
    two workers sharing an SQLite file could both claim the same trial through it.
    """
    backend = getattr(storage, "_backend", storage)
    engine = getattr(backend, "engine", None)
    for frozen in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        if engine is None:
            if storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
                return frozen._trial_id
            continue
        if _claim_row(engine, frozen._trial_id):
            return frozen._trial_id
    return None


def _claim_row(engine: sqlalchemy.engine.Engine, trial_id: int) -> bool:
    # NOTE: this writes Optuna's trials table directly, through its private SQLAlchemy model;
    # checked against the schema of Optuna 5.1.
    from optuna.storages._rdb import models

    table = models.TrialModel.__table__
    statement = (
        sqlalchemy.update(table)
        .where(table.c.trial_id == trial_id, table.c.state == TrialState.WAITING)
        .values(state=TrialState.RUNNING, datetime_start=datetime.now())
    )
    with engine.begin() as connection:
        return connection.execute(statement).rowcount == 1


def _run_one_trial(
    study: optuna.Study,
    trial_id: int,
    objective: Objective,
    seed: int,
    catch: Callable[[BaseException], str | None],
    report: WorkerReport,
    heartbeat: int | None,
) -> None:
    storage = study._storage
    if heartbeat is not None:
        storage.record_heartbeat(trial_id)  # at once, so that a crash from here on is detected
    number = storage.get_trial_number_from_id(trial_id)
    study.sampler = make_sampler(seed, number)
    trial = optuna.Trial(study, trial_id)
    trial.set_user_attr(WORKER_ATTR, report.worker)
    logger.info("worker %s starts trial %d", report.worker, number)

    with _heartbeat_thread(storage, trial_id, heartbeat):
        try:
            value = objective(trial)
        except optuna.TrialPruned as pruned:
            study.tell(trial, state=TrialState.PRUNED)
            report.pruned.append(number)
            logger.info("trial %d pruned: %s", number, pruned)
            return
        except Exception as error:
            reason = catch(error)
            _fail(study, trial, reason or f"{type(error).__name__}: {error}")
            report.failed.append(number)
            if reason is None:
                raise
            logger.warning("trial %d failed: %s", number, reason)
            return
        except BaseException as error:
            # KeyboardInterrupt or SystemExit: the trial itself did not fail, so queue it again.
            _fail(study, trial, f"worker stopped: {type(error).__name__}")
            _requeue(study, trial_id)
            raise

    if not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(study, trial, f"the objective returned {value!r}, not a finite number")
        report.failed.append(number)
        return
    study.tell(trial, float(value))
    report.complete.append(number)
    logger.info("trial %d complete: %.4f", number, value)


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    trial.set_user_attr(FAIL_REASON_ATTR, reason)
    study.tell(trial, state=TrialState.FAIL)


def _requeue(study: optuna.Study, trial_id: int) -> None:
    frozen = study._storage.get_trial(trial_id)
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=frozen.params,
            distributions=frozen.distributions,
            system_attrs={"failed_trial": frozen.number},
        )
    )


@contextmanager
def _heartbeat_thread(storage: optuna.storages.BaseStorage, trial_id: int, interval: int | None) -> Iterator[None]:
    """Record the trial's heartbeat every ``interval`` seconds while the block runs."""
    if interval is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                storage.record_heartbeat(trial_id)
            except Exception as error:  # a missed beat is logged; the trial goes on
                logger.warning("heartbeat of trial id %d failed: %s", trial_id, error)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _safe_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***`` for logging."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("://", 1)[0] + "://..."


def trial_counts(study: optuna.Study) -> dict[str, int]:
    """Count the trials of ``study`` by state name."""
    counts = {state.name: 0 for state in TrialState}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] += 1
    return counts
