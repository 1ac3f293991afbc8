"""The study runner on one real local Ray: grid and Optuna studies, seeds as their own axis, the durable
store, ASHA-stopped trials, NaN trials, a killed trial process, and multi-worker (DDP) trials."""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import signal
import threading
import time
from collections import Counter

import optuna
import pandas as pd
import pytest

from tests.study.ray_fixtures import kill_mid_study, write_study
from vlpet.analysis import ablation_table, load_results
from vlpet.cli import main
from vlpet.study.runner import resume_study, run_study
from vlpet.study.spec import load_study
from vlpet.study.store import StudyStore

pytestmark = pytest.mark.slow


def test_grid_study_runs_every_point_for_every_seed_and_keeps_its_own_results(ray_session, data, tmp_path, capsys):
    assert main(["run", str(write_study(tmp_path, data)), "--verbose"]) == 0     # joins the module's Ray
    study_dir = str(tmp_path / "tiny")
    store = StudyStore(study_dir)
    statuses = store.statuses()
    assert len(statuses) == 4 and {s["status"] for s in statuses} == {"TERMINATED"}
    assert Counter((s["sampled"]["granularity"], s["seed"]) for s in statuses) == Counter(
        {("small", 1): 1, ("small", 2): 1, ("large", 1): 1, ("large", 2): 1})
    assert len({s["config_key"] for s in statuses}) == 2          # seeds share their configuration's key
    for status in statuses:
        rows = store.evaluations(status["trial_id"])
        assert [r["step"] for r in rows] == [3, 6, 9, 12, 15, 18]     # every 3 steps, 2 epochs of 9 batches
        assert [r["finished"] for r in rows] == [False] * 5 + [True]
        assert rows[-1]["total_steps"] == 18 and rows[-1]["config"]["granularity"] == status["sampled"]["granularity"]
        assert rows[-1]["config"]["seed"] == status["seed"] and 0 < rows[-1]["trainable_pct"] < 100
        assert status["resumed_from_step"] is None and status["restarts"] == 0
    small, large = (next(r for r in store.evaluations() if r["config"]["granularity"] == g) for g in ("small", "large"))
    assert large["trainable_params"] > small["trainable_params"]
    report = os.path.join(study_dir, "report")                           # the command ends with the report
    out = capsys.readouterr().out
    written = [line.split("wrote ")[1] for line in out.splitlines() if "wrote " in line]
    assert sorted(os.path.basename(p) for p in written) == sorted(os.listdir(report))
    assert {"report.html", "pareto.png", "ablation.md", "results.csv"} <= set(os.listdir(report))
    assert all(s.get("startup_s", 0) > 0 for s in statuses)
    # --verbose: Tune's own output as well as vlpet's lines (without it: tests/study/test_progress.py)
    assert "Configuration for experiment" in out and "Trial status: 4 TERMINATED" in out
    assert len([line for line in out.splitlines() if line.startswith("trial ")]) == 4
    assert out.splitlines()[0] == f"study directory: {study_dir}"


def test_optuna_study_sees_the_seed_mean_of_each_configuration(ray_session, data, tmp_path):
    path = write_study(tmp_path, data, name="mo", search={"algorithm": "tpe", "num_samples": 2, "max_concurrent": 2},
                       search_space={"granularity": {"choice": ["small", "large"]},
                                     "lr": {"loguniform": [1.0e-3, 1.0e-2]}})
    outcome = run_study(load_study(path), verbose=0)
    store = StudyStore(outcome.study_dir)
    statuses = store.statuses()
    assert len(statuses) == 4 and {s["status"] for s in statuses} == {"TERMINATED"}
    database = f"sqlite:///{outcome.study_dir}/optuna.db"
    (name,) = optuna.get_all_study_names(database)
    assert name.startswith("mo-")                                       # a unique study name per run
    study = optuna.load_study(study_name=name, storage=database)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    for trial in study.trials:
        finals = [store.evaluations(s["trial_id"])[-1] for s in statuses
                  if abs(s["sampled"]["lr"] - trial.params["lr"]) < 1e-12]
        assert len(finals) == 2                                        # both seeds of this configuration
        assert trial.values[0] == pytest.approx(sum(f["metric"] for f in finals) / 2)
        assert trial.values[1] == pytest.approx(finals[0]["trainable_pct"])
        assert all("test_metric" in f and f["tested_checkpoint"] == "last" for f in finals)  # the store has them
        assert not any(key.startswith("test_") for key in (*trial.user_attrs, *trial.system_attrs))
    recorded = [json.loads(line) for path in glob.glob(f"{outcome.study_dir}/tune/**/result.json", recursive=True)
                for line in open(path, encoding="utf-8") if line.strip()]
    assert recorded and not any(key.startswith("test_") for result in recorded for key in result)  # Tune never saw


def test_a_diverging_trial_fails_alone_with_its_reason(ray_session, data, tmp_path):
    path = write_study(tmp_path, data, name="nan", seeds=[1],
                       search_space={"lr": {"choice": [1.0e-3, 1.0e+12]}}, trial={"grad_clip": 0.0})
    outcome = run_study(load_study(path), verbose=0)
    by_lr = {s["sampled"]["lr"]: s for s in StudyStore(outcome.study_dir).statuses()}
    assert by_lr[1.0e-3]["status"] == "TERMINATED"
    assert by_lr[1.0e12]["status"] == "ERROR" and "TrainingDiverged" in by_lr[1.0e12]["error"]
    assert "lr" in by_lr[1.0e12]["error"]


def test_a_killed_trial_process_restarts_from_its_last_checkpoint(ray_session, data, tmp_path):
    path = write_study(tmp_path, data, name="kill", seeds=[1], search_space={"granularity": {"choice": ["large"]}},
                       trial={"epochs": 8, "eval_every_steps": 6})
    spec = load_study(path)
    store = StudyStore(str(tmp_path / "kill"))
    killed = {}

    def kill_after_second_evaluation():
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            for status in store.statuses():
                # Kill after the second evaluation: by then Tune has registered the first one's checkpoint.
                if status.get("pid") and len(store.evaluations(status["trial_id"])) >= 2:
                    os.kill(status["pid"], signal.SIGKILL)
                    killed.update(status)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_after_second_evaluation)
    killer.start()
    run_study(spec, verbose=0)
    killer.join()
    assert killed, "the trial never reported"
    (status,) = store.statuses()
    assert status["status"] == "TERMINATED" and status["restarts"] == 1
    assert status["resumed_from_step"] >= 6 and status["pid"] != killed["pid"]
    rows = store.evaluations(status["trial_id"])
    expected = sorted(set(range(6, 73, 6)) | set(range(9, 73, 9)))   # every 6 steps and every epoch end (9)
    assert [r["step"] for r in rows] == expected                        # no evaluation lost, none repeated
    assert rows[-1]["step"] == rows[-1]["total_steps"] == 72 and rows[-1]["finished"]


def test_a_trial_with_two_workers_trains_with_ddp_through_ray_train(ray_session, data, tmp_path):
    path = write_study(tmp_path, data, name="ddp", seeds=[1], search_space={"granularity": {"choice": ["small"]}},
                       resources={"workers": 2, "cpus_per_worker": 0.5, "gpus_per_worker": 0})
    outcome = run_study(load_study(path), verbose=0)
    store = StudyStore(outcome.study_dir)
    (status,) = store.statuses()
    assert status["status"] == "TERMINATED"
    rows = store.evaluations(status["trial_id"])
    # 36 questions over 2 workers of batch 4 -> 5 steps per epoch (the last shard batch padded), 2 epochs
    assert rows[-1]["finished"] and rows[-1]["total_steps"] == rows[-1]["step"]
    assert rows[-1]["total_steps"] < 18
    assert os.path.isdir(os.path.join(outcome.study_dir, "train", f"train-{status['trial_id']}"))


def test_asha_stopped_trials_are_recorded_as_not_finished(ray_session, data, tmp_path):
    # ASHA on a deterministic metric: with one trial at a time, the first reaches every rung alone and goes on;
    # the later (larger) configurations are worse than the rung's cut-off and stop at their first evaluation.
    path = write_study(tmp_path, data, name="asha", seeds=[1], search_space={"bottleneck": {"choice": [8, 16, 32]}},
                       search={"algorithm": "grid", "max_concurrent": 1}, trial={"epochs": 4},
                       scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 2,
                                  "metric": "trainable_pct", "mode": "min"})
    outcome = run_study(load_study(path), verbose=0)
    store = StudyStore(outcome.study_dir)
    by_size = {s["sampled"]["bottleneck"]: s for s in store.statuses()}
    assert by_size[8]["status"] == "TERMINATED"
    assert [r["finished"] for r in store.evaluations(by_size[8]["trial_id"])][-1] is True
    for size in (16, 32):
        assert by_size[size]["status"] == "STOPPED"
        rows = store.evaluations(by_size[size]["trial_id"])
        assert rows and not any(r["finished"] for r in rows) and rows[-1]["step"] < rows[-1]["total_steps"]


def test_resume_after_the_driver_is_killed_keeps_finished_trials(ray_session, data, tmp_path):
    path = write_study(tmp_path, data, name="resume", seeds=[1, 2], search_space={"granularity": {"choice": ["large"]}},
                       search={"algorithm": "grid", "max_concurrent": 1}, trial={"epochs": 6, "eval_every_steps": 6})
    study_dir = str(tmp_path / "resume")
    store = StudyStore(study_dir)
    statuses = kill_mid_study([str(path), "--num-cpus", "2", "--quiet"], store, 240,
                              "one finished trial and one that reported")
    done = statuses["TERMINATED"]
    kept = store.evaluations(done["trial_id"])
    outcome = resume_study(study_dir, verbose=0)
    final = StudyStore(outcome.study_dir).statuses()
    finished = [s for s in final if s["status"] == "TERMINATED"]
    # Exactly one trial per seed, both finished: the trial cut by the kill continued under its own id from its
    # checkpoint (vlpet.study.recovery), the finished one was kept as it was.
    assert sorted(s["seed"] for s in finished) == [1, 2] and len(final) == 2
    assert all(store.evaluations(s["trial_id"])[-1]["finished"] for s in finished)
    assert store.evaluations(done["trial_id"]) == kept                  # finished results never rewritten
    cut = store.status(statuses["RUNNING"]["trial_id"])
    assert cut["restarts"] == 1 and cut["resumed_from_step"] >= 6
    # The exported table equals that of the same study run without interruption.
    uninterrupted = run_study(dataclasses.replace(load_study(path), storage=str(tmp_path / "straight")), verbose=0)
    tables = [ablation_table(load_results(d), by=["arm", "seed"]).drop(columns=["arm"]).sort_values("seed")
              .reset_index(drop=True) for d in (study_dir, uninterrupted.study_dir)]
    pd.testing.assert_frame_equal(*tables)
