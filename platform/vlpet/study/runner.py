"""Run a study: connect to Ray, build the study's Tuner (vlpet.study.tuner), fit it, return what it left.

Study directory (the spec's ``storage``)::

    study.json      the validated study (its YAML mapping, smoke flag, Optuna study name): what resume reads
    optuna.db       the Optuna study (sqlite; ``optuna-dashboard sqlite:///.../optuna.db``); on cloud storage
                    uploaded whole from the driver's working copy as trials end (vlpet.study.cloud)
    tune/           Ray Tune's experiment (trial dirs, Tune checkpoints; its own state files are never read back)
    train/          Ray Train runs of multi-worker trials
    results/, trials/   the study's own durable evaluations and trial statuses (vlpet.study.store)
    report/         tables, Pareto plot and report page (vlpet.analysis; written by vlpet run/resume when the
                    study starts and as trials end (vlpet.study.live_report), then whole once it ends; vlpet report)
    .vlpet.lock     held by the one vlpet run/resume writing the study (vlpet.study.lock)

Resuming reads only what vlpet wrote in plain formats (vlpet.study.recovery): nothing from the directory is
unpickled, so a study directory from a shared disk or a bucket cannot run code on the machine that resumes it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from vlpet.errors import ConfigError
from vlpet.locations import check_output_location
from vlpet.study.cloud import check_reachable, download_optuna, remove_local_optuna, upload_optuna
from vlpet.study.connection import connect_ray
from vlpet.study.live_report import LiveReport
from vlpet.study.lock import StudyLock
from vlpet.study.progress import StudyProgress
from vlpet.study.recovery import INTERRUPTED, recovery_plan, repair_optuna
from vlpet.study.spec import StudySpec, parse_study
from vlpet.study.store import SPEC_FILE, StudyRecord, StudyStore, TrialStatus, is_uri
from vlpet.study.terminal import quiet_study
from vlpet.study.tuner import (build_tuner, new_optuna_study_name, optuna_local_path, optuna_storage_url, trackers,
                               trials_left)

OnConnected = Callable[[str | None, StudySpec], None]  # told the Ray dashboard URL and the study once connected
Write = Callable[[str], None]                          # where progress lines go (one line per call)
LiveWrite = Callable[[str], Any]                       # writes STUDY_DIR's live report


@dataclass(frozen=True)
class StudyOutcome:
    """What a study run leaves: where it is stored, how long Tune ran, and every trial's status record."""

    study_dir: str
    wall_s: float
    trials: list[dict[str, Any]]
    dashboard_url: str | None = None


def study_dir_of(spec: StudySpec) -> str:
    return spec.storage if is_uri(spec.storage) else os.path.abspath(os.path.expanduser(spec.storage))


def saved_study(study_dir: str) -> StudySpec:
    """The study a directory holds (for resume), validated again."""
    store = StudyStore(study_dir)
    record = store.read_study()
    if record is None and SPEC_FILE in store.skipped():
        raise ConfigError(f"{study_dir}/{SPEC_FILE} is damaged ({store.skipped()[SPEC_FILE]}): the study cannot be "
                          f"resumed without it; its results can still be read (vlpet export, vlpet report)")
    if record is None:
        raise ConfigError(f"{study_dir} is not a study directory: it has no {SPEC_FILE} (was the study started with vlpet run?)")
    spec = parse_study(record.source, f"{study_dir}/{SPEC_FILE}")
    if record.smoke:
        spec = spec.with_smoke()
    return dataclasses.replace(spec, storage=study_dir)


def run_study(spec: StudySpec, address: str | None = None, verbose: int = 0, num_cpus: int | None = None,
              on_connected: OnConnected | None = None, progress: Write | None = None,
              live_report: LiveWrite | None = None) -> StudyOutcome:
    """Start ``spec`` from scratch in its storage directory (refuses a directory that already holds a study, or
    one another vlpet process writes): record the study, connect to Ray (``address``, else an embedded local
    Ray), build the Tuner, fit it.

    What it shows while it runs: ``verbose`` 0 keeps Tune's own output and Ray's INFO lines off the terminal
    (vlpet.study.terminal), 1 shows Tune's; ``progress`` is told a line per trial that ends and the running
    summary (vlpet.study.progress); ``live_report(study_dir)`` writes the live report, which is kept current
    while the study runs (vlpet.study.live_report)."""
    study_dir = study_dir_of(spec)
    check_reachable(study_dir)
    tracking = trackers(spec, study_dir)        # an unreachable tracking store: exit 2 before anything is written
    with StudyLock(study_dir, "run"):
        optuna_study = _record_new_study(spec, study_dir)
        if is_uri(study_dir) and spec.algorithm != "grid":
            remove_local_optuna(optuna_local_path(spec, study_dir))
        with quiet_study(verbose):
            dashboard = _connect(address, num_cpus, on_connected, spec)
            watchers = _watchers(spec, study_dir, progress, live_report)
            return _fit(build_tuner(spec, study_dir, optuna_study=optuna_study, verbose=verbose, callbacks=watchers,
                                    tracking=tracking), study_dir, dashboard, spec, watchers)


def resume_study(study_dir: str, address: str | None = None, verbose: int = 0, num_cpus: int | None = None,
                 on_connected: OnConnected | None = None, progress: Write | None = None,
                 live_report: LiveWrite | None = None) -> StudyOutcome:
    """Continue a study whose driver died, from the study's own store (vlpet.study.recovery): configurations
    whose seeds all ended are kept and told to the searcher; every seed that had not ended continues under its
    trial id from its newest checkpoint; the scheduler replays the stored evaluations; the search goes on until
    the study's budget of configurations is spent. Nothing in the directory is unpickled. ``verbose``,
    ``progress`` and ``live_report`` as for :func:`run_study`."""
    if not is_uri(study_dir):
        study_dir = os.path.abspath(os.path.expanduser(study_dir))
    study_dir = check_output_location(study_dir, "study directory")
    check_reachable(study_dir)
    with StudyLock(study_dir, "resume"):
        spec = saved_study(study_dir)
        tracking = trackers(spec, study_dir)    # an unreachable tracking store: exit 2 before anything changes
        record = StudyStore(study_dir).read_study()
        plan = recovery_plan(spec, study_dir)
        _mark_interrupted(StudyStore(study_dir))
        if trials_left(spec, plan) == 0:
            store = StudyStore(study_dir)
            return StudyOutcome(study_dir=study_dir, wall_s=0.0, trials=store.statuses())
        if spec.algorithm != "grid" and is_uri(study_dir):     # the study's own Optuna database, from its storage
            download_optuna(study_dir, optuna_local_path(spec, study_dir))
        if spec.algorithm != "grid" and record.optuna_study_name:
            repair_optuna(optuna_storage_url(spec, study_dir), record.optuna_study_name)
        with quiet_study(verbose):
            dashboard = _connect(address, num_cpus, on_connected, spec)
            watchers = _watchers(spec, study_dir, progress, live_report)
            tuner = build_tuner(spec, study_dir, optuna_study=record.optuna_study_name or new_optuna_study_name(spec),
                                verbose=verbose, recovery=plan, callbacks=watchers, tracking=tracking)
            return _fit(tuner, study_dir, dashboard, spec, watchers)


def already_a_study(study_dir: str) -> ConfigError:
    """The one line for a new study whose storage already holds one (also said by ``vlpet submit``)."""
    return ConfigError(f"storage {study_dir} already holds a study: continue it with `vlpet resume {study_dir}` "
                       f"(on a cluster: `vlpet submit --resume {study_dir}`) or choose another storage")


def _record_new_study(spec: StudySpec, study_dir: str) -> str:
    """Write the study's study.json; returns its new Optuna study name."""
    store = StudyStore(study_dir)
    if store.holds_study():
        raise already_a_study(study_dir)
    optuna_study = new_optuna_study_name(spec)
    store.write_study(StudyRecord(name=spec.name, objectives=dict(spec.objectives), smoke=spec.is_smoke,
                                  source=spec.source, optuna_study_name=optuna_study, seeds=tuple(spec.seeds),
                                  created=time.time()))
    return optuna_study


def _connect(address: str | None, num_cpus: int | None, on_connected: OnConnected | None,
             spec: StudySpec) -> str | None:
    dashboard = connect_ray(address, num_cpus)
    if on_connected:
        on_connected(dashboard, spec)
    return dashboard


def _watchers(spec: StudySpec, study_dir: str, progress: Write | None, live_report: LiveWrite | None) -> list:
    """The Tune callbacks that show the study while it runs: the progress display, the live report."""
    watchers: list = []
    if progress is not None:
        metric, mode = spec.primary_metric
        watchers.append(StudyProgress(study_dir, progress, metric=metric, mode=mode, seeds=len(spec.seeds)))
    if live_report is not None:
        watchers.append(LiveReport(study_dir, live_report))
    return watchers


def _fit(tuner, study_dir: str, dashboard: str | None, spec: StudySpec, watchers: list) -> StudyOutcome:
    # Each evaluation reports a checkpoint and CheckpointConfig(num_to_keep) forces a state snapshot each time:
    # cheap for PET checkpoints, so Tune's warning about frequent snapshots is noise here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    from vlpet.study.interrupt import fit     # a stop signal ends Tune's loop gracefully, and is recorded

    started = time.time()
    try:
        fit(tuner)
    finally:
        try:
            if is_uri(study_dir) and spec.algorithm != "grid":  # the searcher's last state, even when interrupted
                upload_optuna(optuna_local_path(spec, study_dir), study_dir)
        finally:                                # and even when interrupted during the upload:
            for watcher in watchers:
                if isinstance(watcher, LiveReport):   # the final report is never written over (waits <= 60 s)
                    watcher.close()
    wall = time.time() - started
    store = StudyStore(study_dir)
    _close_dangling(store)
    return StudyOutcome(study_dir=study_dir, wall_s=wall, trials=store.statuses(), dashboard_url=dashboard)


def _close_dangling(store: StudyStore) -> None:
    """Trials still RUNNING once Tune is done were cut off (by the time budget, or a run that was interrupted).
    They are recorded as STOPPED, never left RUNNING; ``vlpet resume`` continues them."""
    _mark_interrupted(store)


def _mark_interrupted(store: StudyStore) -> None:
    """Record every trial that did not end: TERMINATED when its stored evaluations reached the end of its budget
    (the driver died before it recorded the end), else STOPPED with the ``interrupted`` reason (a resumed study
    continues each of them from its checkpoint)."""
    for record in store.statuses():
        if TrialStatus(record["status"]).ended:
            continue
        rows = store.evaluations(record["trial_id"])
        if rows and rows[-1].get("finished"):        # its last evaluation ended the budget: it did finish
            store.mark_finished(record["trial_id"])
        else:
            store.mark_stopped(record["trial_id"],
                               f"{INTERRUPTED}: not completed by the study run (driver died or time budget ended)")
