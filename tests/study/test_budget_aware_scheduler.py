"""Budget-aware seed-grouped stopping without Ray: a configuration is compared only with configurations of a
similar budget (its band when budgets are targets, else non-dominated fronts with trainable_pct fixed), so a
small-budget configuration is never stopped because a larger-budget one is more accurate; resume decides the same."""

from __future__ import annotations

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from tests.study import scheduler_fakes as fakes
from vlpet.study.recovery import Member
from vlpet.study.seed_groups import SeedGroups, non_dominated_fronts
from vlpet.study.seed_scheduler import SeedGroupScheduler, scheduler_options
from vlpet.study.spec import parse_study

CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP


class FakeController(fakes.FakeController):
    def report(self, trial: fakes.FakeTrial, step: int, metric: float, pct: float) -> str:
        trial.status = Trial.RUNNING
        decision = self.scheduler.on_trial_result(self, trial, {"metric": metric, "trainable_pct": pct, "step": step,
                                                                "finished": False})
        trial.status = {PAUSE: Trial.PAUSED, STOP: Trial.TERMINATED}.get(decision, Trial.RUNNING)
        return decision


def scheduler(**settings) -> tuple[SeedGroupScheduler, FakeController]:
    sched = SeedGroupScheduler(seeds=2, grace_period=1, reduction_factor=2, max_t=100, **settings)
    sched.set_search_properties("metric", "max")
    return sched, FakeController(sched)


def run_groups(tune: FakeController, groups: list[tuple[str, float, float, str]]) -> dict[str, str]:
    """Each group (name, seed mean, trainable %, arm): both seeds report the first rung; the group's decision."""
    decisions = {}
    for name, mean, pct, arm in groups:
        first, second = tune.add(f"{name}1", 1, g=name, arm=arm), tune.add(f"{name}2", 2, g=name, arm=arm)
        assert tune.report(first, 10, mean + 1, pct) == PAUSE
        decisions[name] = tune.report(second, 10, mean - 1, pct)
    return decisions


# A large, accurate configuration decided first; then a small one, less accurate but cheaper; then one as large
# as the first and less accurate than it (dominated at the same budget).
CASE = [("large", 90.0, 10.0, "a"), ("small", 60.0, 1.0, "b"), ("worse", 50.0, 10.0, "c")]


def test_plain_asha_stops_the_small_budget_configuration_because_a_larger_one_is_more_accurate():
    _, tune = scheduler(budget_aware=False)
    assert run_groups(tune, CASE) == {"large": CONTINUE, "small": STOP, "worse": STOP}


def test_budget_aware_stopping_keeps_it_and_still_stops_the_dominated_one():
    sched, tune = scheduler()                                  # the default: fronts of (seed mean, trainable %)
    assert run_groups(tune, CASE) == {"large": CONTINUE, "small": CONTINUE, "worse": STOP}
    assert [g.budget for g in sched.book.groups] == [10.0, 1.0, 10.0]


def test_with_budget_targets_groups_are_compared_within_their_band_only():
    bands = {"lora@2%": 2.0, "adapter@2%": 2.0, "lora@6%": 6.0}
    _, tune = scheduler(bands=bands)
    decisions = run_groups(tune, [("big", 90.0, 6.0, "lora@6%"), ("l2", 70.0, 2.0, "lora@2%"),
                                  ("a2", 60.0, 2.01, "adapter@2%")])
    assert decisions == {"big": CONTINUE, "l2": CONTINUE, "a2": STOP}    # a2 is judged against l2 alone


def test_fronts_are_nsga2_sorting_with_the_budget_as_a_fixed_coordinate():
    fronts = non_dominated_fronts({0: (90, 10), 1: (60, 1), 2: (50, 10), 3: (55, 1), 4: (40, 20)})
    assert fronts == {0: 0, 1: 0, 3: 1, 2: 2, 4: 3}       # (55, 1) dominates (50, 10)
    book = SeedGroups(1, [1.0], 2, budget_aware=True)
    for index, (mean, pct) in enumerate([(90, 10), (60, 1)]):
        book.join(str(index), {"g": index, "seed": 1})
        book.members[str(index)].evaluations = 1
        book.record(str(index), mean, pct)
    assert [book.decide(0), book.decide(1)] == ["continue", "continue"]


def test_a_resumed_study_replays_the_budget_from_the_stored_rows_and_decides_the_same():
    sched = SeedGroupScheduler(seeds=2, grace_period=1, reduction_factor=2, max_t=100)
    members, history = [], []
    for name, mean, pct, arm in CASE:
        for seed in (1, 2):
            members.append(Member(f"{name}{seed}", {"g": name, "arm": arm, "seed": seed}, ended=False, failed=False))
            history.append({"trial_id": f"{name}{seed}", "step": 10, "metric": mean + (1 if seed == 1 else -1),
                            "trainable_pct": pct, "time": len(history)})
    sched.replay(members, history)
    sched.set_search_properties("metric", "max")
    assert [g.stopped for g in sched.book.groups] == [False, False, True]
    assert sched.num_stopped == 1


def test_the_study_file_switch_and_the_default():
    text = {"name": "s", "trial": {"backbone": "tiny-bart"}, "search_space": {"lr": {"choice": [0.001, 0.01]}},
            "search": {"algorithm": "grid"}}
    assert scheduler_options(parse_study(text))["budget_aware"] is True           # trainable_pct is an objective
    plain = parse_study({**text, "scheduler": {"budget_aware": False}})
    assert scheduler_options(plain) == {"budget_aware": False, "budget_metric": "trainable_pct", "bands": {}}
    accuracy_only = parse_study({**text, "objectives": {"metric": "max"}})
    assert scheduler_options(accuracy_only)["budget_aware"] is False
