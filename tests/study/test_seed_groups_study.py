"""Seed-grouped early stopping in a real study (one local Ray, tiny trials): configurations are promoted or
stopped whole, Optuna is told seed means, and the study costs less than the same study without early stopping."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from collections import defaultdict

import optuna
import pytest

from tests.study.ray_fixtures import wait_for, write_study
from vlpet.analysis import ablation_table, load_results
from vlpet.study.runner import resume_study, run_study
from vlpet.study.sections import SchedulerSpec
from vlpet.study.spec import load_study
from vlpet.study.store import StudyStore

pytestmark = pytest.mark.slow


def by_configuration(store: StudyStore) -> dict[int, list[dict]]:
    groups = defaultdict(list)
    for status in store.statuses():
        groups[status["sampled"]["bottleneck"]].append(status)
    return dict(groups)


def training_steps(study_dir: str) -> int:
    """The study's compute: every trial's last trained step, summed."""
    return int(load_results(study_dir)["step"].sum())


def test_configurations_are_stopped_or_finished_with_all_their_seeds(ray_session, data, tmp_path):
    # Early stopping on trainable_pct (known before training, the same for every seed): the first configuration
    # (bottleneck 8) passes every rung alone; 16 and 32 are worse at their first rung (2 evaluations) and stop
    # there, both seeds. The rung at 6 evaluations is each trial's last one: a finished evaluation is never stopped.
    path = write_study(tmp_path, data, name="grouped", seeds=[1, 2],
                       search={"algorithm": "tpe", "num_samples": 3, "max_concurrent": 2,
                               "points": [{"bottleneck": b} for b in (8, 16, 32)]},
                       search_space={"bottleneck": {"choice": [8, 16, 32]}},
                       scheduler={"type": "asha", "grace_period": 2, "reduction_factor": 3,
                                  "metric": "trainable_pct", "mode": "min"})
    spec = load_study(path)
    outcome = run_study(spec, verbose=0)
    store = StudyStore(outcome.study_dir)
    groups = by_configuration(store)
    assert sorted(groups) == [8, 16, 32] and all(sorted(s["seed"] for s in g) == [1, 2] for g in groups.values())
    finals = {s["trial_id"]: store.evaluations(s["trial_id"])[-1] for s in store.statuses()}
    assert {s["status"] for s in groups[8]} == {"TERMINATED"}
    assert all(finals[s["trial_id"]]["finished"] for s in groups[8])
    for size in (16, 32):                                         # stopped whole, at the same rung, none finished
        assert {s["status"] for s in groups[size]} == {"STOPPED"}
        assert [finals[s["trial_id"]]["step"] for s in groups[size]] == [6, 6]
        assert not any(r["finished"] for s in groups[size] for r in store.evaluations(s["trial_id"]))
    # The seed of 8 that reached the rung first paused there and resumed from that evaluation's checkpoint.
    resumed = [s for s in store.statuses() if s["restarts"]]
    assert resumed and {(s["sampled"]["bottleneck"], s["resumed_from_step"]) for s in resumed} == {(8, 6)}
    assert all([r["step"] for r in store.evaluations(s["trial_id"])] == [3, 6, 9, 12, 15, 18] for s in groups[8])

    # Optuna was told each configuration's seed mean of what its seeds last reported.
    database = f"sqlite:///{outcome.study_dir}/optuna.db"
    (name,) = optuna.get_all_study_names(database)
    trials = optuna.load_study(study_name=name, storage=database).trials
    assert len(trials) == 3 and {t.state for t in trials} == {optuna.trial.TrialState.COMPLETE}
    for trial in trials:
        last = [finals[s["trial_id"]] for s in groups[trial.params["bottleneck"]]]
        assert trial.values == pytest.approx([sum(r["metric"] for r in last) / 2, last[0]["trainable_pct"]])

    # The analysis sees complete groups only; the same study without early stopping costs more.
    frame = load_results(outcome.study_dir)
    assert set(frame.loc[frame["finished"], "seeds_finished"]) == {2} and frame["complete_group"].any()
    assert list(ablation_table(frame, by=["bottleneck"])["n"]) == [2]
    full = run_study(dataclasses.replace(spec, storage=str(tmp_path / "full"),
                                         scheduler=SchedulerSpec(type="none")), verbose=0)
    grouped_steps, full_steps = training_steps(outcome.study_dir), training_steps(full.study_dir)
    print(f"\nseed-grouped early stopping: {grouped_steps} training steps; without early stopping: {full_steps}; "
          f"ratio {grouped_steps / full_steps:.3f}")
    assert (grouped_steps, full_steps) == (2 * 18 + 4 * 6, 6 * 18)


def test_a_resumed_study_keeps_a_waiting_seed_waiting(ray_session, data, tmp_path):
    # One trial at a time (2 CPUs each): the first seed of 8 pauses at rung 2 while the second runs. The driver is
    # killed in that window; on resume the scheduler's saved state keeps the first seed paused until the second
    # reports rung 2, and 16 is then stopped whole.
    path = write_study(tmp_path, data, name="resume-grouped", seeds=[1, 2],
                       search_space={"bottleneck": {"choice": [8, 16]}}, trial={"epochs": 4},
                       search={"algorithm": "grid", "max_concurrent": 2},
                       scheduler={"type": "asha", "grace_period": 2, "reduction_factor": 3,
                                  "metric": "trainable_pct", "mode": "min"},
                       resources={"workers": 1, "cpus_per_worker": 2, "gpus_per_worker": 0})
    study_dir = str(tmp_path / "resume-grouped")
    store = StudyStore(study_dir)
    driver = subprocess.Popen([sys.executable, "-m", "vlpet.cli", "run", str(path), "--num-cpus", "2", "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: _one_waits_for_the_other(store), 240, "a seed paused at its rung while its sibling runs",
                 every=0.05)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)                       # the driver and the Ray it started
        driver.wait()
    resume_study(study_dir, verbose=0)
    groups = by_configuration(store)
    finished = [s for s in groups[8] if s["status"] == "TERMINATED"]
    assert sorted(s["seed"] for s in finished) == [1, 2]
    first, second = sorted(finished, key=lambda s: _time_at(store, s, 6))
    assert _time_at(store, first, 9) > _time_at(store, second, 6)      # waited for its sibling's rung 2
    assert not any(r["finished"] for s in groups[16] for r in store.evaluations(s["trial_id"]))
    assert {s["seed"] for s in groups[16] if s["status"] == "STOPPED"} == {1, 2}


def _one_waits_for_the_other(store: StudyStore) -> bool:
    steps = {s["trial_id"]: [r["step"] for r in store.evaluations(s["trial_id"])] for s in store.statuses()
             if s["status"] == "RUNNING"}
    return len(steps) == 2 and [3, 6] in steps.values() and min(len(v) for v in steps.values()) < 2


def _time_at(store: StudyStore, status: dict, step: int) -> float:
    return next(r["time"] for r in store.evaluations(status["trial_id"]) if r["step"] == step)


def test_ray_train_trials_are_held_without_pausing_and_the_study_ends(ray_session, data, tmp_path):
    # Two-worker trials are not paused: on Ray 2.60 a paused Train run outlived its Tune trial and kept its
    # sibling from getting workers, and the study hung. Held with CONTINUE, the seeds run on, the group is
    # decided at each rung when its last seed reports it (unit-tested in test_seed_scheduler), and the study ends.
    path = write_study(tmp_path, data, name="ddp-grouped", seeds=[1, 2],
                       search_space={"bottleneck": {"choice": [8]}},
                       search={"algorithm": "grid", "max_concurrent": 2},
                       scheduler={"type": "asha", "grace_period": 2, "reduction_factor": 3,
                                  "metric": "trainable_pct", "mode": "min"},
                       resources={"workers": 2, "cpus_per_worker": 0.25, "gpus_per_worker": 0})
    outcome = run_study(load_study(path), verbose=0)
    store = StudyStore(outcome.study_dir)
    statuses = store.statuses()
    assert [s["status"] for s in statuses] == ["TERMINATED"] * 2 and all(s["restarts"] == 0 for s in statuses)
    for status in statuses:
        steps = [r["step"] for r in store.evaluations(status["trial_id"])]
        assert steps == sorted(set(steps)) and store.evaluations(status["trial_id"])[-1]["finished"]
    assert load_results(outcome.study_dir)["complete_group"].all()
