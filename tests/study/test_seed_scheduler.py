"""Seed-grouped ASHA without Ray: a configuration's seeds wait for each other at each rung, are judged on their
mean, and go on or stop together; failed seeds, restarts, resumed studies and the scheduling order."""

from __future__ import annotations

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from tests.study import scheduler_fakes as fakes
from vlpet.study.recovery import Member
from vlpet.study.seed_groups import rung_milestones
from vlpet.study.seed_scheduler import SeedGroupScheduler

CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP


class FakeController(fakes.FakeController):
    def report(self, trial: fakes.FakeTrial, step: int, metric: float, finished: bool = False) -> str:
        """One evaluation of a running trial, and Tune carrying out the decision."""
        trial.status = Trial.RUNNING
        decision = self.scheduler.on_trial_result(self, trial, {"metric": metric, "step": step, "finished": finished})
        if decision == PAUSE:
            trial.status = Trial.PAUSED
        elif decision == STOP:
            self.scheduler.on_trial_complete(self, trial, {"metric": metric})
            trial.status = Trial.TERMINATED
        return decision


def scheduler(seeds: int = 2, **settings) -> tuple[SeedGroupScheduler, FakeController]:
    sched = SeedGroupScheduler(seeds=seeds, **{"grace_period": 1, "reduction_factor": 2, "max_t": 100, **settings})
    sched.set_search_properties("metric", "max")
    return sched, FakeController(sched)


def test_rungs_are_ashas_below_max_t():
    assert rung_milestones(1, 2, 1000) == [2 ** k for k in range(10)]
    assert rung_milestones(2, 3, 12) == [2, 6] and rung_milestones(3, 2, 3) == []


def test_the_first_seed_at_a_rung_waits_for_its_sibling_then_both_go_on():
    sched, tune = scheduler()
    a1, a2 = tune.add("a1", 1, g="a"), tune.add("a2", 2, g="a")
    assert tune.report(a1, 10, 50.0) == PAUSE
    assert sched.choose_trial_to_run(tune) is a2                   # not a1, which waits for a2
    assert tune.report(a2, 10, 40.0) == CONTINUE                   # the group is complete and alone: it goes on
    assert sched.choose_trial_to_run(tune) is a1                   # the paused seed resumes
    assert sched.book.records[0] == {0: 45.0}                      # the seed mean, recorded at rung 1


def test_a_group_is_judged_on_its_seed_mean_and_stops_or_goes_on_whole():
    sched, tune = scheduler()
    for name, values in (("a", (10.0, 30.0)), ("b", (25.0, 12.0)), ("c", (19.0, 22.0))):
        first, second = tune.add(f"{name}1", 1, g=name), tune.add(f"{name}2", 2, g=name)
        assert tune.report(first, 10, values[0]) == PAUSE
        decision = tune.report(second, 10, values[1])
        if name == "b":                    # mean 18.5 < 20 (a's mean): stopped, although seed 1 (25) beat 20
            assert decision == STOP and first.status == Trial.TERMINATED and second.status == Trial.TERMINATED
        else:                              # a alone; c's mean 20.5 > median of (20, 18.5), although 19 < 20
            assert decision == CONTINUE and first.status == Trial.PAUSED
            assert sched.choose_trial_to_run(tune) is first
            first.status = Trial.RUNNING
    assert sched.num_stopped == 2 and sched.book.records[0] == {0: 20.0, 1: 18.5, 2: 20.5}


def test_a_seed_not_started_yet_is_waited_for_and_started_first():
    sched, tune = scheduler()
    a1 = tune.add("a1", 1, g="a")
    b1 = tune.add("b1", 1, g="b")
    assert tune.report(a1, 10, 50.0) == PAUSE                      # a2 has not even started
    a2 = tune.add("a2", 2, g="a")
    b1.status = Trial.PENDING
    assert sched.choose_trial_to_run(tune) is a2                   # a's missing seed before b's
    assert tune.report(a2, 10, 50.0) == CONTINUE


def test_a_failed_seed_leaves_its_group_which_is_decided_on_the_rest():
    sched, tune = scheduler(seeds=3)
    a1, a2, a3 = (tune.add(f"a{s}", s, g="a") for s in (1, 2, 3))
    assert tune.report(a1, 10, 50.0) == PAUSE and tune.report(a2, 10, 30.0) == PAUSE
    a3.status = Trial.RUNNING
    sched.on_trial_complete(tune, a3, {"metric": float("nan"), "failed": True})   # diverged, recorded ERROR
    a3.status = Trial.TERMINATED
    assert sched.choose_trial_to_run(tune) in (a1, a2)            # decided without a3: the group goes on
    assert sched.book.records[0] == {0: 40.0}


def test_a_seed_that_tune_retries_is_still_waited_for():
    sched, tune = scheduler()
    a1, a2 = tune.add("a1", 1, g="a"), tune.add("a2", 2, g="a")
    assert tune.report(a1, 10, 50.0) == PAUSE
    sched.on_trial_error(tune, a2)                                # its process died: Tune requeues it
    sched.on_trial_add(tune, a2)
    assert a2.status == Trial.PENDING
    assert sched.choose_trial_to_run(tune) is a2                  # a1 still waits for it
    assert tune.report(a2, 10, 40.0) == CONTINUE


def test_an_evaluation_that_ends_the_budget_is_never_paused_or_stopped():
    sched, tune = scheduler()
    a1, a2 = tune.add("a1", 1, g="a"), tune.add("a2", 2, g="a")
    assert tune.report(a1, 10, 50.0, finished=True) == CONTINUE


def test_steps_count_evaluations_across_restarts():
    sched, tune = scheduler(seeds=1, grace_period=2, max_t=100)
    a1 = tune.add("a1", 1, g="a")
    assert tune.report(a1, 10, 1.0) == CONTINUE                   # evaluation 1
    assert tune.report(a1, 10, 1.0) == CONTINUE                   # a restarted trial re-reports step 10: not counted
    assert sched.book.members["a1"].evaluations == 1
    assert tune.report(a1, 20, 1.0) == CONTINUE                   # evaluation 2 reaches rung 2, alone: goes on
    assert sched.book.records[0] == {0: 1.0}


def test_max_t_stops_a_trial_like_asha():
    sched, tune = scheduler(seeds=1, grace_period=5, max_t=2)
    a1 = tune.add("a1", 1, g="a")
    assert tune.report(a1, 10, 1.0) == CONTINUE and tune.report(a1, 20, 1.0) == STOP


def test_min_mode_keeps_the_lower_mean():
    sched = SeedGroupScheduler(seeds=1, grace_period=1, reduction_factor=2, max_t=100)
    sched.set_search_properties("loss", "min")
    tune = FakeController(sched)
    a, b = tune.add("a1", 1, g="a"), tune.add("b1", 1, g="b")
    assert sched.on_trial_result(tune, a, {"loss": 1.0, "step": 10}) == CONTINUE
    assert sched.on_trial_result(tune, b, {"loss": 2.0, "step": 10}) == STOP


def _replayed(members, history, seeds: int = 2):
    """A resumed study's scheduler: new, then given the store's members and evaluations (metric set by Tune)."""
    sched = SeedGroupScheduler(seeds=seeds, grace_period=1, reduction_factor=2, max_t=100)
    sched.replay(members, history)
    sched.set_search_properties("metric", "max")
    return sched, FakeController(sched)


def test_a_resumed_study_keeps_waiting_seeds_paused_and_stopped_groups_stopped():
    # Before the driver died: a1 reported rung 0 and waited for a2, which had not started; group b's seeds both
    # reported below a's mean and b was stopped. The replayed scheduler knows all of that from the store alone.
    members = [Member("a1", {"g": "a", "seed": 1}, ended=False, failed=False),
               Member("b1", {"g": "b", "seed": 1}, ended=True, failed=False),
               Member("b2", {"g": "b", "seed": 2}, ended=False, failed=False)]
    history = [{"trial_id": "a1", "step": 10, "metric": 50.0}]
    sched, tune = _replayed(members, history)
    assert sched.book.waiting("a1") and not sched.book.group_of("b1").stopped
    # Resumed seeds are new Tune trials that keep their stored ids (_trial_id in their config).
    a1 = tune.add("t1", 1, g="a", _trial_id="a1")
    a2 = tune.add("t2", 2, g="a")
    assert [a1.status, a2.status] == [Trial.PAUSED, Trial.PENDING]
    assert sched.choose_trial_to_run(tune) is a2
    assert tune.report(a2, 10, 50.0) == CONTINUE
    assert sched.choose_trial_to_run(tune) is a1
    assert sched.book.members["a1"].evaluations == 1      # its stored evaluation counts; a repeat of it does not
    assert tune.report(a1, 10, 50.0) == CONTINUE and sched.book.members["a1"].evaluations == 1


def test_replay_repeats_the_stop_decisions_the_study_made():
    members = [Member(t, {"g": t[0], "seed": int(t[1])}, ended=t[0] == "b", failed=False)
               for t in ("a1", "a2", "b1", "b2")]
    history = [{"trial_id": t, "step": 10, "metric": v} for t, v in (("a1", 50.0), ("a2", 50.0), ("b1", 10.0),
                                                                   ("b2", 10.0))]
    sched, tune = _replayed(members, history)
    assert sched.book.group_of("b1").stopped and not sched.book.group_of("a1").stopped
    assert sched.num_stopped == 1
    again = tune.add("t9", 2, g="b", _trial_id="b2")        # a stopped group's seed that comes back is held
    assert again.status == Trial.PAUSED
    sched.choose_trial_to_run(tune)
    assert again.status == Trial.TERMINATED
    assert sched.book.members["b2"].live is False


def test_without_a_metric_and_mode_it_says_what_to_set():
    sched = SeedGroupScheduler(seeds=2)
    with pytest.raises(ValueError, match="metric and a mode"):
        sched.on_trial_add(FakeController(sched), fakes.FakeTrial("a", {"seed": 1}))


def test_without_pausing_seeds_run_ahead_and_the_group_is_decided_when_the_last_arrives():
    # Ray Train trials: held with CONTINUE. a1 runs past rungs 1 and 2 while a2 is behind; a2's arrival at
    # rung 1 decides rung 1 and (a1 being there already) waits at rung 2; b is stopped on its mean with a running
    # sibling, which stops at its next result.
    sched, tune = scheduler(pause=False)
    a1, a2 = tune.add("a1", 1, g="a"), tune.add("a2", 2, g="a")
    assert [tune.report(a1, step, 50.0) for step in (10, 20)] == [CONTINUE, CONTINUE]
    assert tune.report(a2, 10, 40.0) == CONTINUE and sched.book.groups[0].rung == 1
    assert tune.report(a2, 20, 40.0) == CONTINUE and sched.book.groups[0].rung == 2
    b1, b2 = tune.add("b1", 1, g="b"), tune.add("b2", 2, g="b")
    assert tune.report(b1, 10, 10.0) == CONTINUE and tune.report(b1, 20, 10.0) == CONTINUE
    assert tune.report(b2, 10, 10.0) == STOP and b1.status == Trial.RUNNING
    assert tune.report(b1, 30, 10.0) == STOP
