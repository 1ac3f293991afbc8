"""Seed-grouped ASHA: a Tune scheduler that promotes or stops a configuration's seeds together, on their mean.

Tune runs each seed of a configuration as its own trial (:class:`vlpet.study.seeds.SeedRepeater`). Plain ASHA
would judge each seed alone, keeping the lucky seed of a pair and stopping the other. This scheduler judges
groups instead (:mod:`vlpet.study.seed_groups`): a seed that reaches its group's rung while siblings are behind
is PAUSED (Tune checkpoints it and frees its resources); once every live seed has reported the rung, the group
goes on (its paused seeds resume from their checkpoints) or stops (its paused seeds are stopped, the reporting
one too). So every configuration that finishes has all its seeds, and one that stops has none finished.

* The clock is the number of evaluations a trial reported, told apart by their training ``step`` (so an
  evaluation a restarted trial reports again is not counted twice). A paused one-worker trial resumes from the
  Tune checkpoint of the evaluation it paused at.
* Multi-worker (Ray Train) trials are not paused (``pause=False``): on Ray 2.60 a paused Train-in-Tune trial's
  Train run outlives its Tune trial (it kept training, or its placement group stayed reserved, so its sibling
  never got workers and the study hung). They are held with CONTINUE instead: a seed ahead of its siblings
  keeps training and records each rung it passes; the group is decided when its last seed reports the rung, and
  a stopped group's other seeds stop at their next evaluation. A seed that finished its budget before the group
  was stopped stays finished, and the group is then partial (visible as such in the results frame).
* An evaluation that ends a trial's budget (``finished``) is never paused or stopped: the work is done.
* A seed that fails leaves its group; the group is decided on the seeds that remain (it is then partial).
* Pausing holds a slot of Tune's concurrency limit, so a group could wait for a seed the searcher may not start;
  the study's tuner therefore allows at least as many live trials as there are seeds (vlpet.study.tuner), and a
  group whose seeds have all started always progresses.
* A resumed study (vlpet.study.recovery) starts a new scheduler and :meth:`SeedGroupScheduler.replay` the
  store's evaluations into it, so rung decisions and waiting seeds come back without reading a saved state. A
  resumed seed is a new Tune trial that keeps its stored trial id (``_trial_id`` in its config): the scheduler
  knows every trial by that id.
* Budget-aware (the default): a configuration is compared only with configurations of a similar budget
  (:mod:`vlpet.study.seed_groups`): within its band when budgets are targets (``bands``: arm name -> its
  ``budget_target``, from the Tune trial's ``arm``), otherwise on non-dominated fronts of (seed mean,
  ``budget_metric``), the budget every evaluation reports. Both come back on resume: the arm is in the stored
  configuration, the budget in every stored evaluation. :func:`scheduler_options` reads them off a study.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ray.tune.experiment import Trial
from ray.tune.schedulers.trial_scheduler import TrialScheduler

from vlpet.study.seed_groups import CONTINUE, STOP, SeedGroups, rung_milestones

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController

    from vlpet.study.recovery import Member
    from vlpet.study.spec import StudySpec

BUDGET_METRICS = ("trainable_pct", "trainable_params", "adapter_bytes")   # reported budgets, lower is better


def scheduler_options(spec: StudySpec) -> dict[str, Any]:
    """The budget keywords of :class:`SeedGroupScheduler` for ``spec``: budget-aware unless
    ``scheduler.budget_aware`` is false, by default only when an objective is a budget or the study has budgets;
    the budget is the study's budget objective (trainable_pct if none); bands are the sized arms' targets."""
    objective = next((key for key in spec.objectives if key in BUDGET_METRICS), None)
    aware = spec.scheduler.budget_aware
    if aware is None:
        aware = objective is not None or spec.budgets is not None
    return {"budget_aware": aware, "budget_metric": objective or "trainable_pct",
            "bands": {name: arm.target for name, arm in spec.sized_arms.items()}}


def member_id(trial: Trial) -> str:
    """The id a trial is known by: its stored trial id when it resumes one (vlpet.study.recovery), else Tune's."""
    return str((trial.config or {}).get("_trial_id") or trial.trial_id)


class SeedGroupScheduler(TrialScheduler):
    """ASHA over configurations: ``seeds`` trials per configuration share every rung decision.

    ``grace_period``, ``reduction_factor`` (η) and ``max_t`` are ASHA's, in evaluations; ``metric`` and ``mode``
    default to the TuneConfig's (the study's primary objective). ``budget_aware``, ``budget_metric`` and
    ``bands``: see the module docstring (budget-aware on ``trainable_pct`` unless told otherwise)."""

    _supports_buffered_results = False          # every result gets its own decision

    def __init__(self, seeds: int, grace_period: int = 1, reduction_factor: float = 2, max_t: int = 1000,
                 metric: str | None = None, mode: str | None = None, pause: bool = True, budget_aware: bool = True,
                 budget_metric: str = "trainable_pct", bands: Mapping[str, Any] | None = None):
        super().__init__()
        self._metric, self._mode, self._max_t, self.pause = metric, mode, max_t, pause
        self.budget_metric, self.bands = budget_metric, dict(bands or {})
        self.book = SeedGroups(seeds, rung_milestones(grace_period, reduction_factor, max_t), reduction_factor,
                               budget_aware=budget_aware)
        self.num_stopped = 0
        self._errored: set[str] = set()         # trials Tune may requeue right after their error
        self._replay: tuple[list[Member], list[dict[str, Any]]] | None = None

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        if (self._metric and metric) or (self._mode and mode):
            return False
        self._metric, self._mode = self._metric or metric, self._mode or mode
        self._apply_replay()
        return True

    @property
    def _sign(self) -> float:
        return 1.0 if self._mode == "max" else -1.0

    def on_trial_add(self, tune_controller: TuneController, trial: Trial) -> None:
        if not self._metric or self._mode not in ("max", "min"):
            raise ValueError(f"{type(self).__name__} needs a metric and a mode (max|min), got {self._metric!r} and "
                             f"{self._mode!r}: pass them to it or to tune.TuneConfig")
        ident = member_id(trial)
        known = ident in self.book.members
        requeued = ident in self._errored
        self._errored.discard(ident)
        self.book.join(ident, trial.config, live=trial.status not in (Trial.TERMINATED, Trial.ERROR),
                       band=self._band(trial.config))
        if known and not requeued and trial.status == Trial.PENDING and self._held(ident):
            # A resumed study: a seed that was waiting for its siblings (or whose group stopped) waits PAUSED
            # instead of running past its rung. Tune files the trial under this status right after this call.
            trial.set_status(Trial.PAUSED)

    def _band(self, config: Mapping[str, Any] | None) -> Any:
        """The budget target of the configuration's arm (None: not a sized arm)."""
        return self.bands.get(str((config or {}).get("arm")))

    def _budget(self, result: Mapping[str, Any]) -> float | None:
        value = result.get(self.budget_metric)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def _held(self, trial_id: str) -> bool:
        return self.book.waiting(trial_id) or self.book.group_of(trial_id).stopped

    def on_trial_result(self, tune_controller: TuneController, trial: Trial, result: dict) -> str:
        trial_id = member_id(trial)
        if trial_id not in self.book.members or result.get("failed") or self._metric not in result:
            return TrialScheduler.CONTINUE
        if self.book.group_of(trial_id).stopped:
            return self._stop()
        count = self.book.count(trial_id, result)
        if count is not None and count >= self._max_t:
            return self._stop()
        if count is not None:
            self.book.record(trial_id, self._sign * float(result[self._metric]), self._budget(result))
        if not self.book.waiting(trial_id):
            return TrialScheduler.CONTINUE
        decision = self._decide(tune_controller, self.book.members[trial_id].group, current=trial_id)
        if decision is None:
            held = self.pause and not result.get("finished")
            return TrialScheduler.PAUSE if held else TrialScheduler.CONTINUE
        if decision == STOP and not result.get("finished"):
            return self._stop()
        return TrialScheduler.CONTINUE

    def _stop(self) -> str:
        self.num_stopped += 1
        return TrialScheduler.STOP

    def _decide(self, tune_controller: TuneController, index: int, current: str | None) -> str | None:
        """Decide group ``index`` at its rung, and at the next ones while its seeds (held with CONTINUE) have
        already reported them; None while it waits. Paused seeds of a group that goes on are resumed by
        :meth:`choose_trial_to_run`; those of a stopped group stop now, running ones at their next result."""
        decision = last = self.book.decide(index)
        while last == CONTINUE:
            last = self.book.decide(index)
            decision = last or decision
        if decision == STOP:
            self._stop_paused_seeds(tune_controller, index, current)
        return decision

    def _stop_paused_seeds(self, tune_controller: TuneController, index: int, current: str | None) -> None:
        for trial in list(tune_controller.get_trials()):
            member = self.book.members.get(member_id(trial))
            if member is None or member.group != index or member_id(trial) == current or not member.live:
                continue
            if trial.status == Trial.PAUSED or trial.is_saving:
                self.num_stopped += 1
                tune_controller.stop_trial(trial)

    def on_trial_complete(self, tune_controller: TuneController, trial: Trial, result: dict) -> None:
        self._end(trial, failed=bool((result or {}).get("failed")))

    def on_trial_error(self, tune_controller: TuneController, trial: Trial) -> None:
        self._errored.add(member_id(trial))
        self._end(trial, failed=True)

    def on_trial_remove(self, tune_controller: TuneController, trial: Trial) -> None:
        self._end(trial, failed=False)

    def _end(self, trial: Trial, failed: bool) -> None:
        # The group may now be complete at its rung; it is decided on the next scheduling step, after a trial
        # that Tune retries has rejoined (on_trial_error is followed by on_trial_add then).
        if member_id(trial) in self.book.members:
            self.book.end(member_id(trial), failed)

    def choose_trial_to_run(self, tune_controller: TuneController) -> Trial | None:
        """Decide groups whose last waiting seed ended; stop paused seeds of stopped groups; then resume a paused
        seed whose group went on, else start a pending trial, seeds of groups that wait for them first. A paused
        seed still waiting for its siblings is never resumed."""
        self._decide_waiting_groups(tune_controller)
        trials = list(tune_controller.get_trials())
        for trial in trials:
            if trial.status == Trial.PAUSED and member_id(trial) in self.book.members \
                    and self.book.group_of(member_id(trial)).stopped:
                tune_controller.stop_trial(trial)
        paused = [t for t in trials if t.status == Trial.PAUSED and not self._waiting(t)]
        if paused:
            return paused[0]
        pending = [t for t in trials if t.status == Trial.PENDING]
        awaited = {m.group for tid, m in self.book.members.items() if self.book.waiting(tid)}
        members = self.book.members
        first = [t for t in pending if member_id(t) in members and members[member_id(t)].group in awaited]
        return (first or pending or [None])[0]

    def _waiting(self, trial: Trial) -> bool:
        return member_id(trial) in self.book.members and self._held(member_id(trial))

    def _decide_waiting_groups(self, tune_controller: TuneController) -> None:
        for index in sorted({m.group for tid, m in self.book.members.items() if self.book.waiting(tid)}):
            self._decide(tune_controller, index, current=None)

    def debug_string(self) -> str:
        groups = self.book.groups
        return (f"Seed-grouped ASHA: {len(groups)} configurations, {sum(g.stopped for g in groups)} stopped, "
                f"rungs at {[round(m, 3) for m in self.book.milestones]} evaluations")

    def replay(self, members: Iterable[Member], history: Iterable[dict[str, Any]]) -> None:
        """Rebuild the bookkeeping of a resumed study from its store: ``members`` are the stored seed trials, and
        ``history`` every stored evaluation, oldest first. Each evaluation is counted and recorded as it was, groups
        are decided when their seeds have all reported a rung (as they were then), and the trials that ended are
        ended; those that run again stay live (a seed that was waiting at its rung waits again). Applied once the
        metric is known (Tune passes it from TuneConfig before the first trial)."""
        self._replay = (list(members), list(history))
        self._apply_replay()

    def _apply_replay(self) -> None:
        if self._replay is None or not self._metric or self._mode not in ("max", "min"):
            return
        members, history = self._replay
        self._replay = None
        for member in members:
            self.book.join(member.trial_id, member.config, live=True, band=self._band(member.config))
        for row in history:
            trial_id = str(row.get("trial_id"))
            value = row.get(self._metric)
            if trial_id not in self.book.members or not isinstance(value, (int, float)):
                continue
            count = self.book.count(trial_id, row)
            if count is None or count >= self._max_t:
                continue
            self.book.record(trial_id, self._sign * float(value), self._budget(row))
            if self.book.waiting(trial_id):
                decision = last = self.book.decide(self.book.members[trial_id].group)
                while last == CONTINUE:
                    last = self.book.decide(self.book.members[trial_id].group)
                    decision = last or decision
                if decision == STOP:
                    self.num_stopped += 1
        for member in members:
            if member.ended:
                self.book.end(member.trial_id, member.failed)
