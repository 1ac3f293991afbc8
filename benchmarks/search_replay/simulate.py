"""A simulated Tune controller: real searchers and schedulers decide, the recorded table answers, a clock counts.

:class:`Replay` plays Tune's part in a study (``ray.tune.execution.tune_controller.TuneController``) with none of
its actors: it asks the searcher for trials while fewer than ``max_concurrent`` are live (Tune's
``ConcurrencyLimiter``), lets the scheduler choose which pending or paused trial runs on a free slot
(``choose_trial_to_run``), hands each evaluation the table recorded to ``scheduler.on_trial_result`` and, unless
it stops the trial, to ``searcher.on_trial_result``, and carries out CONTINUE, PAUSE and STOP as Tune does; its
``stop_trial`` tells the scheduler and the searcher what Tune's canonical ``stop_trial`` tells them. Trials are
real ``ray.tune.experiment.Trial`` objects (stubs: no trainable, no storage).

The clock is compute seconds: a running trial advances by the table's charged compute between its evaluations,
``slots`` trials run at once, and ``spent`` is the sum of what every trial consumed. A paused trial resumes where it
paused (restoring its checkpoint is not charged). A configuration x seed trained twice (a searcher that repeats
itself) is charged twice.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from benchmarks.search_replay.table import Recorded
from vlpet.study.recovery import configuration_id

METRIC, PCT = "metric", "trainable_pct"


@dataclass
class Progress:
    """What a replay spent and found: ``curve`` = (compute spent, finished configurations' seed means) at each
    moment a configuration finished all its seeds."""

    curve: list[tuple[float, dict[str, tuple[float, float]]]] = field(default_factory=list)
    spent: float = 0.0
    trials: int = 0
    stopped: int = 0
    paused: int = 0
    configurations: int = 0              # distinct configurations trained (some seeds at least)
    retrained: int = 0                   # trials of a configuration x seed that had been trained before


class Replay:
    """One strategy over one recorded table: ``searcher`` suggests, ``scheduler`` stops/pauses, the table answers."""

    def __init__(self, table: Recorded, searcher: Searcher, scheduler: TrialScheduler, max_concurrent: int,
                 num_samples: int, slots: int | None = None, compute_cap: float | None = None):
        self.table, self.searcher, self.scheduler = table, searcher, scheduler
        self.max_concurrent, self.num_samples = max_concurrent, num_samples
        self.slots = slots or max_concurrent
        self.compute_cap = compute_cap
        self.trials: list[Trial] = []
        self.position: dict[str, int] = {}                 # trial id -> evaluations it has reported
        self.last_result: dict[str, dict[str, Any]] = {}
        self.finished: dict[str, dict[int, tuple[float, float]]] = {}   # config -> seed -> (metric, pct)
        self.searcher_done = False
        self.now, self.events, self.ids = 0.0, [], itertools.count()
        self.progress = Progress()

    # ---- what a scheduler calls on Tune's controller ------------------------------------------------------
    def get_trials(self) -> list[Trial]:
        return self.trials

    def stop_trial(self, trial: Trial) -> None:
        """Tune's canonical stop: a pending or paused trial is removed from the scheduler and completed without a
        result in the searcher; a running one is completed in both with its last result."""
        if trial.status in (Trial.ERROR, Trial.TERMINATED):
            return
        if trial.status in (Trial.PENDING, Trial.PAUSED):
            self.scheduler.on_trial_remove(self, trial)
            self.searcher.on_trial_complete(trial.trial_id)
        else:
            result = self.last_result.get(trial.trial_id, {})
            self.scheduler.on_trial_complete(self, trial, result)
            self.searcher.on_trial_complete(trial.trial_id, result=result)
        self.events = [e for e in self.events if e[2] is not trial]
        heapq.heapify(self.events)
        trial.set_status(Trial.TERMINATED)

    # ---- the loop -----------------------------------------------------------------------------------------
    def run(self) -> Progress:
        while True:
            self._add_trials()
            self._fill_slots()
            # past the cap, evaluations due at this very moment (a group's seeds ending together) still count
            if not self.events or (self._over_budget() and self.events[0][0] > self.now + 1e-6):
                return self._counted()
            self._advance()

    def _counted(self) -> Progress:
        runs = [(self._config_id(t), int(t.config["seed"])) for t in self.trials if self.position[t.trial_id]]
        self.progress.configurations = len({config for config, _ in runs})
        self.progress.retrained = len(runs) - len(set(runs))
        return self.progress

    def _over_budget(self) -> bool:
        return self.compute_cap is not None and self.progress.spent >= self.compute_cap

    def _live(self) -> int:
        return sum(t.status in (Trial.PENDING, Trial.RUNNING, Trial.PAUSED) for t in self.trials)

    def _add_trials(self) -> None:
        while not self.searcher_done and len(self.trials) < self.num_samples and self._live() < self.max_concurrent:
            trial_id = f"t{len(self.trials):05d}"
            config = self.searcher.suggest(trial_id)
            if config is None:
                return
            if config == Searcher.FINISHED:
                self.searcher_done = True
                return
            trial = Trial("replay", config=dict(config), trial_id=trial_id, stub=True)
            self.trials.append(trial)
            self.position[trial_id] = 0
            self.progress.trials += 1
            self.scheduler.on_trial_add(self, trial)

    def _fill_slots(self) -> None:
        while sum(t.status == Trial.RUNNING for t in self.trials) < self.slots:
            trial = self.scheduler.choose_trial_to_run(self)
            if trial is None:
                return
            trial.set_status(Trial.RUNNING)
            self._schedule_next(trial)

    @staticmethod
    def _config_id(trial: Trial) -> str:
        return configuration_id({k: v for k, v in trial.config.items() if k != "seed" and not str(k).startswith("_")})

    def _runs(self, trial: Trial):
        return self.table.runs[(self._config_id(trial), int(trial.config["seed"]))]

    def _schedule_next(self, trial: Trial) -> None:
        evaluations = self._runs(trial)
        done = self.position[trial.trial_id]
        before = evaluations[done - 1].compute_s if done else 0.0
        heapq.heappush(self.events, (self.now + evaluations[done].compute_s - before, next(self.ids), trial))

    def _advance(self) -> None:
        when, _, trial = heapq.heappop(self.events)
        running = sum(t.status == Trial.RUNNING for t in self.trials)
        self.progress.spent += (when - self.now) * running
        self.now = when
        self._report(trial)

    def _report(self, trial: Trial) -> None:
        index = self.position[trial.trial_id]
        evaluation = self._runs(trial)[index]
        self.position[trial.trial_id] = index + 1
        result = {METRIC: evaluation.metric, PCT: evaluation.trainable_pct, "step": evaluation.step,
                  "training_iteration": index + 1, "finished": evaluation.finished, "trial_id": trial.trial_id}
        decision = self.scheduler.on_trial_result(self, trial, result)
        if decision != TrialScheduler.STOP:
            self.searcher.on_trial_result(trial.trial_id, result)
        self.last_result[trial.trial_id] = result
        if evaluation.finished:
            self._finish(trial, evaluation)
        elif decision == TrialScheduler.STOP:
            self.progress.stopped += 1
            self.stop_trial(trial)
        elif decision == TrialScheduler.PAUSE:
            self.progress.paused += 1
            trial.set_status(Trial.PAUSED)
        else:
            self._schedule_next(trial)

    def _finish(self, trial: Trial, evaluation) -> None:
        seeds = self.finished.setdefault(self._config_id(trial), {})
        seeds[int(trial.config["seed"])] = (evaluation.metric, evaluation.trainable_pct)
        self.stop_trial(trial)
        if len(seeds) == len(self.table.seeds):
            means = {c: _mean(s) for c, s in self.finished.items() if len(s) == len(self.table.seeds)}
            self.progress.curve.append((self.progress.spent, means))


def _mean(seeds: dict[int, tuple[float, float]]) -> tuple[float, float]:
    values = list(seeds.values())
    return (sum(v[0] for v in values) / len(values), sum(v[1] for v in values) / len(values))


Factory = Callable[[Recorded, int], tuple[Searcher, TrialScheduler, int, int]]
