"""The study's Tuner is built from the spec alone: no Ray is started, and what Tune will run is fixed here."""

from __future__ import annotations

import optuna
import ray
import ray.tune
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler
from ray.tune.search.optuna import OptunaSearch

from vlpet.study.ledger import StudyLedger
from vlpet.study.seeds import GridSearcher, SeedRepeater
from vlpet.study.spec import parse_study
from vlpet.study.tuner import TUNE_NAME, build_tuner

TRIAL = {"backbone": "tiny-bart", "task": "vqa"}


def study(tmp_path, **overrides):
    return parse_study({"name": "plan", "trial": TRIAL, "seeds": [1, 2],
                        "search_space": {"granularity": {"choice": ["small", "large"]}},
                        "search": {"algorithm": "grid", "max_concurrent": 2, "max_failures": 3},
                        "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 3, "max_t": 7},
                        "storage": str(tmp_path / "plan"), **overrides})


def configs(tuner: ray.tune.Tuner):
    # Ray has no public getter for a built Tuner's configs.
    internal = tuner._local_tuner
    return internal.param_space, internal._tune_config, internal.get_run_config()


def test_a_grid_study_builds_without_a_running_ray(tmp_path):
    study_dir = str(tmp_path / "plan")
    param_space, tune_config, run_config = configs(build_tuner(study(tmp_path), study_dir, verbose=0))
    assert not ray.is_initialized()
    # The searcher holds the search space: every grid point, each run once per seed.
    assert not param_space
    search = tune_config.search_alg
    assert isinstance(search, SeedRepeater) and isinstance(search.searcher, GridSearcher)
    assert search.searcher.points == [{"granularity": "small"}, {"granularity": "large"}] and search.seeds == [1, 2]
    assert tune_config.num_samples == 4 and tune_config.max_concurrent_trials == 2 and tune_config.reuse_actors
    assert (tune_config.metric, tune_config.mode) == ("metric", "max")
    scheduler = tune_config.scheduler
    assert isinstance(scheduler, AsyncHyperBandScheduler)
    assert (scheduler._max_t, scheduler._reduction_factor) == (7, 3)
    assert (run_config.name, run_config.storage_path, run_config.verbose) == (TUNE_NAME, study_dir, 0)
    assert run_config.failure_config.max_failures == 3 and run_config.checkpoint_config.num_to_keep == 2
    assert [type(c) for c in run_config.callbacks] == [StudyLedger]


def test_an_optuna_study_keeps_its_optuna_study_in_the_study_directory(tmp_path):
    spec = study(tmp_path, search={"algorithm": "tpe", "num_samples": 3}, scheduler={"type": "none"},
                 objectives={"metric": "max", "trainable_pct": "min"})
    study_dir = str(tmp_path / "plan")
    _, tune_config, _ = configs(build_tuner(spec, study_dir, optuna_study="plan-1"))
    assert not ray.is_initialized()
    search = tune_config.search_alg.searcher
    assert isinstance(search, OptunaSearch)
    assert search.metric == ["metric", "trainable_pct"] and search.mode == ["max", "min"]
    assert optuna.get_all_study_names(f"sqlite:///{study_dir}/optuna.db") == ["plan-1"]
    assert tune_config.num_samples == 3 * 2 and isinstance(tune_config.scheduler, FIFOScheduler)
