"""Run a study: a Ray Tune ``Tuner`` over the study's search space, its trials training in the study's workers.

Study directory (the spec's ``storage``)::

    study.json      the validated study (its YAML mapping, smoke flag, Optuna study name): what resume reads
    optuna.db       the Optuna study (sqlite; ``optuna-dashboard sqlite:///.../optuna.db``)
    tune/           Ray Tune's experiment (trial dirs, Tune checkpoints, searcher state)
    train/          Ray Train runs of multi-worker trials
    results/, trials/   the study's own durable evaluations and trial statuses (vlpet.study.store)
    report/         tables, Pareto plot and report page written when the study ends
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

from vlpet.errors import ConfigError
from vlpet.study.connection import connect_ray, prepare_auth
from vlpet.study.ledger import StudyLedger
from vlpet.study.seeds import GridSearcher, SeedRepeater
from vlpet.study.space import encode_point, grid_points, optuna_space
from vlpet.study.spec import StudySpec, parse_study
from vlpet.study.store import SPEC_FILE, StudyRecord, StudyStore, TrialStatus, is_uri
from vlpet.study.trainable import DRIVER_CPU, make_trial_function

TUNE_NAME = "tune"


@dataclass
class StudyOutcome:
    study_dir: str
    wall_s: float
    trials: list[dict[str, Any]]
    outputs: list[str]
    dashboard_url: str | None = None


def study_dir_of(spec: StudySpec) -> str:
    return spec.storage if is_uri(spec.storage) else os.path.abspath(os.path.expanduser(spec.storage))


def _local_state_dir(study_dir: str, name: str) -> str:
    """Where driver-local files (the Optuna sqlite) live: the study dir, or runs/<name> for cloud studies."""
    directory = study_dir if not is_uri(study_dir) else os.path.abspath(os.path.join("runs", name))
    os.makedirs(directory, exist_ok=True)
    return directory


def saved_study(study_dir: str) -> StudySpec:
    """The study a directory holds (for resume), validated again."""
    record = StudyStore(study_dir).read_study()
    if record is None:
        raise ConfigError(f"{study_dir} is not a study directory: it has no {SPEC_FILE} (was the study started with vlpet run?)")
    spec = parse_study(record.source, f"{study_dir}/{SPEC_FILE}")
    if record.smoke:
        spec = spec.with_smoke()
    return dataclasses.replace(spec, storage=study_dir)


def _searcher(spec: StudySpec, study_dir: str, optuna_study: str):
    objectives = list(spec.objectives)
    modes = [spec.objectives[k] for k in objectives]
    if spec.algorithm == "grid":
        points = grid_points(spec)
        points = points[:spec.num_samples] if spec.is_smoke else points
        return SeedRepeater(GridSearcher(points), spec.seeds, objectives), len(points) * len(spec.seeds)
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    if spec.algorithm == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(population_size=max(2, min(50, spec.num_samples // 2)), seed=spec.seeds[0])
    else:
        sampler = optuna.samplers.TPESampler(seed=spec.seeds[0], multivariate=True, group=True)
    database = os.path.join(_local_state_dir(study_dir, spec.name), "optuna.db")
    search = OptunaSearch(
        optuna_space(spec), metric=objectives if len(objectives) > 1 else objectives[0],
        mode=modes if len(modes) > 1 else modes[0], sampler=sampler,
        storage=optuna.storages.RDBStorage(f"sqlite:///{database}"), study_name=optuna_study,
        points_to_evaluate=[encode_point(p) for p in spec.points] or None)
    return SeedRepeater(search, spec.seeds, objectives), spec.num_samples * len(spec.seeds)


def _scheduler(spec: StudySpec):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if spec.scheduler.type != "asha":
        return FIFOScheduler()
    # metric and mode come from TuneConfig (the primary objective), which also picks the progress columns
    return ASHAScheduler(time_attr="training_iteration",
                         max_t=int(spec.scheduler.max_t),
                         grace_period=max(1, int(spec.scheduler.grace_period)),
                         reduction_factor=max(2, int(spec.scheduler.reduction_factor)))


def _trainable(spec: StudySpec, study_dir: str):
    import ray.tune

    cpus, gpus = float(spec.resources.cpus_per_worker), float(spec.resources.gpus_per_worker)
    if int(spec.resources.workers) > 1:
        resources = {"CPU": DRIVER_CPU}
    else:
        resources = {"CPU": cpus, **({"GPU": gpus} if gpus else {})}
    return ray.tune.with_resources(make_trial_function(spec, study_dir), resources)


def _run_config(spec: StudySpec, study_dir: str, verbose: int):
    import ray.tune

    return ray.tune.RunConfig(
        name=TUNE_NAME, storage_path=study_dir, verbose=verbose,
        failure_config=ray.tune.FailureConfig(max_failures=spec.max_failures),
        checkpoint_config=ray.tune.CheckpointConfig(num_to_keep=2),
        callbacks=[StudyLedger(study_dir)])


def _quiet_tune() -> None:
    # Each evaluation reports a checkpoint and CheckpointConfig(num_to_keep) forces a state snapshot each time:
    # cheap for PET checkpoints, so Tune's warning about frequent snapshots is noise here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def run_study(spec: StudySpec, address: str | None = None, verbose: int = 1, write_outputs: bool = True,
              num_cpus: int | None = None) -> StudyOutcome:
    """Start ``spec`` from scratch in its storage directory (refuses a directory that already holds a study)."""
    prepare_auth(address)
    import ray.tune

    study_dir = study_dir_of(spec)
    store = StudyStore(study_dir)
    if store.holds_study():
        raise ConfigError(f"storage {study_dir} already holds a study: continue it with `vlpet resume {study_dir}` "
                          f"or choose another storage")
    optuna_study = f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    store.write_study(StudyRecord(name=spec.name, objectives=dict(spec.objectives), smoke=spec.is_smoke,
                                  source=spec.source, optuna_study_name=optuna_study, seeds=tuple(spec.seeds),
                                  created=time.time()))
    dashboard = connect_ray(address, num_cpus)
    if dashboard:
        print(f"Ray dashboard: {dashboard}", flush=True)
    search, num_samples = _searcher(spec, study_dir, optuna_study)
    tuner = ray.tune.Tuner(
        _trainable(spec, study_dir),
        tune_config=ray.tune.TuneConfig(search_alg=search, scheduler=_scheduler(spec), num_samples=num_samples,
                                        metric=spec.primary_metric[0], mode=spec.primary_metric[1],
                                        max_concurrent_trials=spec.max_concurrent, time_budget_s=spec.time_budget_s,
                                        # reusing a trial's Tune actor for the next trial saves a process start and
                                        # its torch/transformers imports (one-worker trials train in it; for
                                        # several workers it is the Ray Train driver)
                                        reuse_actors=True),
        run_config=_run_config(spec, study_dir, verbose),
    )
    return _fit(tuner, spec, study_dir, dashboard, write_outputs)


def resume_study(study_dir: str, address: str | None = None, verbose: int = 1, write_outputs: bool = True,
                 num_cpus: int | None = None) -> StudyOutcome:
    """Continue a study whose driver died: finished trials are kept, unfinished ones resume from checkpoints."""
    prepare_auth(address)
    import ray.tune

    study_dir = study_dir if is_uri(study_dir) else os.path.abspath(study_dir)
    spec = saved_study(study_dir)
    tune_path = study_dir.rstrip("/") + "/" + TUNE_NAME
    dashboard = connect_ray(address, num_cpus)
    if dashboard:
        print(f"Ray dashboard: {dashboard}", flush=True)
    if not ray.tune.Tuner.can_restore(tune_path):
        raise ConfigError(f"{study_dir} holds no resumable Tune experiment under {TUNE_NAME}/ "
                          f"(the driver died before the first trial started): start it again with vlpet run")
    tuner = ray.tune.Tuner.restore(tune_path, trainable=_trainable(spec, study_dir), resume_unfinished=True,
                                   resume_errored=True)
    return _fit(tuner, spec, study_dir, dashboard, write_outputs)


def _fit(tuner, spec: StudySpec, study_dir: str, dashboard: str | None, write_outputs: bool) -> StudyOutcome:
    started = time.time()
    _quiet_tune()
    tuner.fit()
    wall = time.time() - started
    store = StudyStore(study_dir)
    _close_dangling(store)
    outputs = write_study_report(study_dir) if write_outputs else []
    return StudyOutcome(study_dir=study_dir, wall_s=wall, trials=store.statuses(), outputs=outputs,
                        dashboard_url=dashboard)


def _close_dangling(store: StudyStore) -> None:
    """Trials still RUNNING once Tune is done were cut off: by the time budget, or by a driver that died after
    they started but before Tune's next experiment snapshot (a resumed study then runs that configuration and
    seed again as a new trial). They are recorded as STOPPED, never left RUNNING."""
    for record in store.statuses():
        if not TrialStatus(record["status"]).ended:
            store.mark_stopped(record["trial_id"],
                               "interrupted: not completed by the study run (driver died or time budget ended)")


def write_study_report(study_dir: str) -> list[str]:
    """The results table, Pareto plot, ablation tables and report page (vlpet.analysis) in ``report/``."""
    from vlpet.analysis import write_study_outputs

    return list(write_study_outputs(study_dir))
