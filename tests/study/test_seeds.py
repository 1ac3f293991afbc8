"""SeedRepeater: one Tune trial per seed, the seed mean told to the real OptunaSearch, repeats not retrained."""


import optuna
import pytest
from ray.tune.search.optuna import OptunaSearch

from vlpet.study.seeds import GridSearcher, SeedRepeater


def optuna_search(suggest, study, points=None):
    def space(trial):
        suggest(trial)                                   # a define-by-run space returns nothing

    return OptunaSearch(space, metric=["metric", "trainable_pct"], mode=["max", "min"],
                        sampler=optuna.samplers.RandomSampler(seed=0), study_name=study, points_to_evaluate=points)


def test_each_configuration_runs_per_seed_and_optuna_sees_the_seed_mean():
    search = optuna_search(lambda t: t.suggest_float("lr", 1e-3, 1e-2, log=True), "mean")
    repeater = SeedRepeater(search, seeds=[1, 2, 3], objectives=["metric", "trainable_pct"])
    configs = [repeater.suggest(f"t{i}") for i in range(3)]
    assert [c["seed"] for c in configs] == [1, 2, 3] and len({c["lr"] for c in configs}) == 1
    for index, value in enumerate([10.0, 20.0, 60.0]):
        repeater.on_trial_complete(f"t{index}", {"metric": value, "trainable_pct": 4.0})
    (trial,) = search._ot_study.trials
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.values == [30.0, 4.0]


def test_a_configuration_whose_seeds_all_failed_is_told_as_failed_and_nan_seeds_are_left_out():
    search = optuna_search(lambda t: t.suggest_categorical("g", ["a", "b"]), "fail")
    repeater = SeedRepeater(search, seeds=[1, 2], objectives=["metric", "trainable_pct"])
    repeater.suggest("a1"), repeater.suggest("a2")
    repeater.on_trial_complete("a1", {"metric": float("nan"), "trainable_pct": 1.0})
    repeater.on_trial_complete("a2", None, error=True)
    assert search._ot_study.trials[0].state == optuna.trial.TrialState.FAIL


def test_a_configuration_drawn_again_is_answered_from_its_result_not_retrained():
    search = optuna_search(lambda t: t.suggest_categorical("arm", ["full"]), "repeat")
    repeater = SeedRepeater(search, seeds=[1], objectives=["metric", "trainable_pct"])
    assert repeater.suggest("x") == {"arm": "full", "seed": 1}
    repeater.on_trial_complete("x", {"metric": 50.0, "trainable_pct": 100.0})
    # Only one configuration exists: after max_repeats answers from the cache it is handed out once more.
    again = repeater._new_configuration("y", max_repeats=3)
    assert again == {"arm": "full"}
    told = [t for t in search._ot_study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(told) == 3 and all(t.values == [50.0, 100.0] for t in told)


def test_grid_searcher_hands_out_each_point_once():
    grid = SeedRepeater(GridSearcher([{"g": "a"}, {"g": "b"}]), seeds=[7, 8], objectives=["metric"])
    suggested = [grid.suggest(str(i)) for i in range(5)]
    assert suggested[:4] == [{"g": "a", "seed": 7}, {"g": "a", "seed": 8}, {"g": "b", "seed": 7}, {"g": "b", "seed": 8}]
    assert suggested[4] == GridSearcher.FINISHED


@pytest.mark.parametrize("objectives", [["metric"], ["metric", "trainable_pct"]])
def test_state_round_trips_for_resume(objectives):
    repeater = SeedRepeater(GridSearcher([{"g": "a"}]), seeds=[1, 2], objectives=objectives)
    repeater.suggest("a")
    restored = SeedRepeater(GridSearcher([{"g": "a"}]), seeds=[1, 2], objectives=objectives)
    restored.set_state(repeater.get_state())
    assert restored.suggest("b") == {"g": "a", "seed": 2}


def test_a_repeat_drawn_while_its_configuration_runs_waits_for_that_result():
    search = optuna_search(lambda t: t.suggest_categorical("arm", ["full", "lora"]), "waiting",
                           points=[{"arm": "full"}, {"arm": "full"}, {"arm": "lora"}])
    repeater = SeedRepeater(search, seeds=[1], objectives=["metric", "trainable_pct"])
    assert repeater.suggest("a") == {"arm": "full", "seed": 1}
    assert repeater.suggest("b") == {"arm": "lora", "seed": 1}           # the second "full" is not trained
    repeater.on_trial_complete("a", {"metric": 40.0, "trainable_pct": 100.0})
    told = [t.values for t in search._ot_study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert told == [[40.0, 100.0], [40.0, 100.0]]                           # the waiting repeat got the result


def test_a_seed_ended_without_a_result_counts_with_the_last_result_it_reported():
    # A paused seed stopped with its group is ended by Tune with no result: its rung result is the one it had.
    search = optuna_search(lambda t: t.suggest_categorical("g", ["a"]), "paused")
    repeater = SeedRepeater(search, seeds=[1, 2], objectives=["metric", "trainable_pct"])
    repeater.suggest("a1"), repeater.suggest("a2")
    repeater.on_trial_result("a1", {"metric": 10.0, "trainable_pct": 2.0, "step": 6})
    repeater.on_trial_result("a2", {"metric": 20.0, "trainable_pct": 2.0, "step": 6})
    repeater.on_trial_complete("a1")                                   # the paused seed, stopped by Tune
    repeater.on_trial_complete("a2", {"metric": 20.0, "trainable_pct": 2.0})
    (trial,) = search._ot_study.trials
    assert trial.values == [15.0, 2.0] and not repeater.last_results


