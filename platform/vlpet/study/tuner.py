"""The study as Ray Tune objects: :func:`build_tuner`, for a new study or (given its recovery plan) a resumed one.

Building needs no running Ray (it starts when the Tuner fits): the search space lives in the searcher (Optuna's
define-by-run space, or the grid points), wrapped so that every configuration runs once per seed; the
scheduler is seed-grouped ASHA (a configuration's seeds are promoted or stopped together, vlpet.study.seed_scheduler)
or FIFO; the run config puts Tune's experiment under ``STUDY_DIR/tune`` with the study's ledger as its callback.

A resumed study is a new Tuner built from the study's own store (vlpet.study.recovery): Tune's ``Tuner.restore``
is never used, because it unpickles ``tuner.pkl`` and the searcher state from the study directory.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Sequence

import ray.tune

from vlpet.study.arms import ARM_KEY
from vlpet.study.cloud import OPTUNA_FILE, local_optuna_dir, optuna_upload_callback
from vlpet.study.ledger import StudyLedger
from vlpet.study.per_arm import ArmTopUp, per_arm_queue
from vlpet.study.recovery import RecoveryPlan, configuration_id
from vlpet.study.seed_scheduler import SeedGroupScheduler, scheduler_options
from vlpet.study.seeds import GridSearcher, SeedRepeater
from vlpet.study.space import encode_point, grid_points, optuna_space
from vlpet.study.spec import StudySpec
from vlpet.study.store import is_uri
from vlpet.study.trainable import DRIVER_CPU, make_trial_function

TUNE_NAME = "tune"


def new_optuna_study_name(spec: StudySpec) -> str:
    """A unique Optuna study name per run (Optuna appends to an existing study of the same name)."""
    return f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def build_tuner(spec: StudySpec, study_dir: str, optuna_study: str | None = None, verbose: int = 1,
                recovery: RecoveryPlan | None = None, callbacks: Sequence[ray.tune.Callback] = (),
                tracking: Sequence[ray.tune.Callback] | None = None) -> ray.tune.Tuner:
    """The Tuner of ``spec`` stored in ``study_dir`` (a path or URI). Needs no running Ray; creates the Optuna
    sqlite database of ``optuna_study`` (default: a new unique name) for Optuna studies. With ``recovery`` (a
    resumed study) it runs only what the store says is left, and its scheduler replays the stored evaluations.
    ``callbacks`` (the progress display, the live report) run after the study's own; ``tracking``: the study's
    trackers as :func:`trackers` built them (default: built here)."""
    scheduler = _scheduler(spec)
    if recovery is not None and isinstance(scheduler, SeedGroupScheduler):
        scheduler.replay(recovery.members, recovery.history)
    return ray.tune.Tuner(
        _trainable(spec, study_dir),
        tune_config=tune_config(spec, study_dir, optuna_study or new_optuna_study_name(spec), scheduler, recovery),
        run_config=run_config(spec, study_dir, verbose, callbacks, tracking))


def trials_left(spec: StudySpec, recovery: RecoveryPlan) -> int:
    """How many Tune trials a resumed study still runs (0: it is complete)."""
    return _searcher(spec, "", "", recovery, build=False)[1]


def tune_config(spec: StudySpec, study_dir: str, optuna_study: str, scheduler=None,
                recovery: RecoveryPlan | None = None) -> ray.tune.TuneConfig:
    """Searcher, scheduler (default: the study's) and trial counts; early stopping watches the study's primary
    metric."""
    search, num_samples = _searcher(spec, study_dir, optuna_study, recovery)
    metric, mode = spec.primary_metric
    return ray.tune.TuneConfig(search_alg=search, scheduler=scheduler or _scheduler(spec), num_samples=num_samples,
                               metric=metric, mode=mode, max_concurrent_trials=concurrent_trials(spec),
                               time_budget_s=spec.time_budget_s,
                               # reusing a trial's Tune actor for the next trial saves a process start and its
                               # torch/transformers imports (one-worker trials train in it). Not for several
                               # workers: the Ray Train run of a stopped or paused trial lives as long as its Tune
                               # actor, so a cached actor would keep training; a stopped one ends it.
                               reuse_actors=int(spec.resources.workers) <= 1)


def concurrent_trials(spec: StudySpec) -> int:
    """Tune's limit on live trials: the study's ``max_concurrent``, but at least one per seed under seed-grouped
    ASHA. A paused seed stays live while it waits for its siblings; with fewer slots than seeds, a group could
    wait for a seed that never gets a slot. With one slot per seed, whenever the slots are full some group has
    all its seeds started, and such a group always reaches its decision and frees them."""
    if spec.scheduler.type == "asha":
        return max(spec.max_concurrent, len(spec.seeds))
    return spec.max_concurrent


def run_config(spec: StudySpec, study_dir: str, verbose: int = 1, callbacks: Sequence[ray.tune.Callback] = (),
               tracking: Sequence[ray.tune.Callback] | None = None) -> ray.tune.RunConfig:
    """Storage, retries, checkpoints kept, and the callbacks: the study's ledger first (the trackers after it read
    the status it records), then the cloud Optuna upload, the study's trackers (vlpet.study.tracking) and
    ``callbacks`` (the command's progress display and live report, vlpet.study.runner). ``tracking``: the
    trackers already built (the runner builds them once, before it writes anything); default: built here."""
    return ray.tune.RunConfig(
        name=TUNE_NAME, storage_path=study_dir, verbose=verbose,
        failure_config=ray.tune.FailureConfig(max_failures=spec.max_failures),
        checkpoint_config=ray.tune.CheckpointConfig(num_to_keep=2),
        callbacks=[StudyLedger(study_dir), *_optuna_upload(spec, study_dir),
                   *(trackers(spec, study_dir) if tracking is None else tracking), *callbacks])


def trackers(spec: StudySpec, study_dir: str) -> list:
    """MLflow / W&B callbacks of the study's ``tracking`` section (imported only when there is one). Building them
    opens the tracking store: a store that cannot be opened is a ConfigError (the runner builds them once, before
    it writes anything, so such a study leaves no study directory behind, and hands them to :func:`build_tuner`)."""
    if spec.tracking.mlflow is None and spec.tracking.wandb is None:
        return []
    from vlpet.study.tracking import tracking_callbacks

    return tracking_callbacks(spec, study_dir)


def _optuna_upload(spec: StudySpec, study_dir: str) -> list:
    """A cloud Optuna study's database goes to the study directory after every trial that ends."""
    if spec.algorithm == "grid" or not is_uri(study_dir):
        return []
    return [optuna_upload_callback(optuna_local_path(spec, study_dir), study_dir)]


def _searcher(spec: StudySpec, study_dir: str, optuna_study: str, recovery: RecoveryPlan | None = None,
              build: bool = True) -> tuple[SeedRepeater | None, int]:
    """The study's searcher, run once per seed, and the number of Tune trials it asks for. A resumed study's
    grid leaves out the configurations that were decided; its Optuna search continues the stored Optuna study
    (whose queue still holds the points not yet tried)."""
    if spec.algorithm == "grid":
        points = grid_points(spec)
        points = points[:spec.num_samples] if spec.is_smoke else points
        configurations = len(points)
        if recovery is not None:
            points = [p for p in points if configuration_id(p) not in recovery.decided]
        search = GridSearcher(points) if build else None
    else:
        configurations = spec.num_samples
        search = _optuna_search(spec, study_dir, optuna_study, resumed=recovery is not None) if build else None
    trials = (configurations * len(spec.seeds) if recovery is None
              else recovery.tune_trials(configurations, len(spec.seeds)))
    top_up = ArmTopUp(spec.per_arm, configuration_id) if spec.per_arm else None    # a repeat: its arm queued again
    repeater = SeedRepeater(search, spec.seeds, list(spec.objectives), recovery, top_up) if build else None
    return repeater, trials


def optuna_storage_url(spec: StudySpec, study_dir: str) -> str:
    """The study's Optuna storage: ``optuna.db`` in the study directory (found relative to it, so a moved or
    copied study uses its own); for a cloud study the driver's local working copy, which goes whole to
    ``STUDY_DIR/optuna.db`` as trials end (vlpet.study.cloud)."""
    return f"sqlite:///{optuna_local_path(spec, study_dir)}"


def optuna_local_path(spec: StudySpec, study_dir: str) -> str:
    """The Optuna sqlite file the driver opens (see :func:`optuna_storage_url`)."""
    return os.path.join(_local_state_dir(study_dir, spec.name), OPTUNA_FILE)


def _optuna_search(spec: StudySpec, study_dir: str, optuna_study: str, resumed: bool = False):
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    objectives = list(spec.objectives)
    modes = [spec.objectives[k] for k in objectives]
    if spec.algorithm == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(population_size=max(2, min(50, spec.num_samples // 2)), seed=spec.seeds[0])
    else:
        sampler = optuna.samplers.TPESampler(seed=spec.seeds[0], multivariate=True, group=True)
    storage = optuna.storages.RDBStorage(optuna_storage_url(spec, study_dir))
    return OptunaSearch(
        optuna_space(spec), metric=objectives if len(objectives) > 1 else objectives[0],
        mode=modes if len(modes) > 1 else modes[0], sampler=sampler, storage=storage, study_name=optuna_study,
        # a resumed study's Optuna queue still holds the points it had not tried (unless its driver died before
        # the Optuna study had any trial: then nothing was queued)
        points_to_evaluate=None if resumed and _has_trials(storage, optuna_study) else _first_points(spec) or None)


def _has_trials(storage, study_name: str) -> bool:
    import optuna

    try:
        return bool(optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False))
    except KeyError:
        return False


def _first_points(spec: StudySpec) -> list[dict]:
    """What Optuna evaluates first: the study's points, or with ``per_arm`` every configuration's arm in balanced
    round-robin order (vlpet.study.per_arm), the points in their arm's first rounds."""
    if spec.per_arm is None:
        return [encode_point(p) for p in spec.points]
    return [encode_point(p) for p in per_arm_queue(spec.search_space[ARM_KEY].values, spec.per_arm, spec.points)]


def _local_state_dir(study_dir: str, name: str) -> str:
    """Where driver-local files (the Optuna sqlite) live: the study dir, or a working directory under
    runs/.cloud for cloud studies."""
    if is_uri(study_dir):
        return local_optuna_dir(study_dir, name)
    os.makedirs(study_dir, exist_ok=True)
    return study_dir


def _scheduler(spec: StudySpec):
    from ray.tune.schedulers import FIFOScheduler

    if spec.scheduler.type != "asha":
        return FIFOScheduler()
    # metric and mode come from TuneConfig (the primary objective), which also picks the progress columns
    # Ray Train trials are held with CONTINUE, not paused (see vlpet.study.seed_scheduler)
    return SeedGroupScheduler(seeds=len(spec.seeds), max_t=int(spec.scheduler.max_t),
                              grace_period=max(1, int(spec.scheduler.grace_period)),
                              reduction_factor=max(2, int(spec.scheduler.reduction_factor)),
                              pause=int(spec.resources.workers) <= 1, **scheduler_options(spec))


def _trainable(spec: StudySpec, study_dir: str):
    """The per-trial function with the resources of one trial: a one-worker trial trains in it; for several
    workers it only drives the Ray Train run, whose workers hold the CPUs and GPUs."""
    cpus, gpus = float(spec.resources.cpus_per_worker), float(spec.resources.gpus_per_worker)
    if int(spec.resources.workers) > 1:
        resources = {"CPU": DRIVER_CPU}
    else:
        resources = {"CPU": cpus, **({"GPU": gpus} if gpus else {})}
    return ray.tune.with_resources(make_trial_function(spec, study_dir), resources)
