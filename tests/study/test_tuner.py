"""The study's Tuner is built from the spec alone: no Ray is started, and what Tune will run is fixed here."""

from __future__ import annotations

from pathlib import Path

import optuna
import ray
import ray.tune
from ray.tune.schedulers import FIFOScheduler
from ray.tune.search.optuna import OptunaSearch

from vlpet.study.ledger import StudyLedger
from vlpet.study.seed_scheduler import SeedGroupScheduler
from vlpet.study.seeds import GridSearcher, SeedRepeater
from vlpet.study.spec import parse_study
from vlpet.study.tuner import TUNE_NAME, build_tuner, concurrent_trials

TRIAL = {"backbone": "tiny-bart", "task": "quickstart"}   # the one task with a default data location


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
    scheduler = tune_config.scheduler           # seed-grouped ASHA: rungs at 1 and 3 evaluations (below max_t 7)
    assert isinstance(scheduler, SeedGroupScheduler)
    assert (scheduler._max_t, scheduler.book.milestones, scheduler.book.seeds) == (7, [1, 3], 2)
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


def test_under_grouped_early_stopping_every_seed_of_a_configuration_can_be_live():
    # A paused seed holds its slot while it waits for its siblings: at least one slot per seed, else a group
    # could wait for a seed that never starts.
    three_seeds = study(Path("/tmp"), seeds=[1, 2, 3], search={"algorithm": "grid", "max_concurrent": 1})
    assert concurrent_trials(three_seeds) == 3
    assert concurrent_trials(study(Path("/tmp"), search={"algorithm": "grid", "max_concurrent": 4})) == 4
    without = study(Path("/tmp"), seeds=[1, 2, 3], search={"algorithm": "grid", "max_concurrent": 1},
                    scheduler={"type": "none"})
    assert concurrent_trials(without) == 1


def test_ray_train_trials_are_neither_paused_nor_kept_in_reused_actors(tmp_path):
    # On Ray 2.60 a Train run lives as long as its Tune trial's actor: a paused trial's run outlived it, and a
    # stopped trial's cached actor kept training. One-worker trials pause and reuse actors.
    one = configs(build_tuner(study(tmp_path), str(tmp_path / "one"), verbose=0))[1]
    assert one.scheduler.pause and one.reuse_actors
    spec = study(tmp_path, resources={"workers": 2, "cpus_per_worker": 0.5, "gpus_per_worker": 0})
    two = configs(build_tuner(spec, str(tmp_path / "two"), verbose=0))[1]
    assert not two.scheduler.pause and not two.reuse_actors
