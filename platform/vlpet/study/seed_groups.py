"""Seeds as one unit of early stopping: the bookkeeping behind :class:`vlpet.study.seed_scheduler.SeedGroupScheduler`.

A *group* is one sampled configuration's seed trials (the configuration without its seed, as
:func:`vlpet.study.store.config_key` names it). The rungs are ASHA's: ``grace_period · η^k`` evaluations, below
``max_t``. A seed that reaches its group's rung records its value there and waits until every live seed of the
group has recorded it. The group is then judged on its seed mean against the means other groups recorded at that
rung (ASHA's asynchronous cut-off: it goes on unless its mean is below the (1 − 1/η) quantile of theirs), and goes
on or stops as a whole. A seed that fails leaves its group, which is decided on the seeds that remain.

Budget-aware (``budget_aware``, the scheduler's default): a group is compared only with groups of a similar
budget, never on accuracy alone across budgets. A group with a ``band`` (its budget target, vlpet.study.budgets)
is judged by ASHA's cut-off among the groups of its band. Otherwise its budget (``trainable_pct``, known before
training: every evaluation reports it) is a fixed coordinate: at the rung, the groups' (seed mean, budget) pairs
are sorted into non-dominated fronts (NSGA-II's sorting: higher mean, lower budget), and the group goes on unless
its front lies behind ASHA's 1/η quantile of the other groups' fronts. A small-budget configuration that no one
beats at its budget or below is in the first front, however accurate the larger ones are.

Plain Python objects only (trials are known by id, never as Ray objects); a resumed study rebuilds them by
replaying its stored evaluations (:meth:`vlpet.study.seed_scheduler.SeedGroupScheduler.replay`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from vlpet.study.store import config_key

CONTINUE = "continue"
STOP = "stop"


@dataclass
class Member:
    """One seed trial of a group: how far it got and what it recorded at each rung."""

    group: int                                             # index into SeedGroups.groups
    seed: Any
    evaluations: int = 0                                   # distinct evaluations seen (the scheduler's clock)
    last_step: float | None = None                         # the training step of the latest one
    values: dict[int, float] = field(default_factory=dict)  # rung index -> value (signed: higher is better)
    live: bool = True                                      # not ended (finished, stopped or failed)
    failed: bool = False


@dataclass
class Group:
    """A configuration's seeds: ``members`` maps trial id -> seed; ``rung`` is the rung it gathers at."""

    key: str
    expected: int                                          # the seeds it waits for
    members: dict[str, Any] = field(default_factory=dict)
    rung: int = 0
    stopped: bool = False
    band: Any = None                                       # its budget target: compared within it only
    budget: float | None = None                            # its trainable share, lower is better


def rung_milestones(grace_period: int, reduction_factor: float, max_t: int) -> list[float]:
    """ASHA's rungs in evaluations: ``grace_period · η^k`` below ``max_t`` (a trial at ``max_t`` stops anyway)."""
    milestones, k = [], 0
    while grace_period * reduction_factor ** k < max_t:
        milestones.append(grace_period * reduction_factor ** k)
        k += 1
    return milestones


class SeedGroups:
    """Groups, their members and the seed means recorded at each rung."""

    def __init__(self, seeds: int, milestones: list[float], reduction_factor: float, budget_aware: bool = False):
        self.seeds, self.milestones, self.reduction_factor = seeds, list(milestones), reduction_factor
        self.budget_aware = budget_aware
        self.groups: list[Group] = []
        self.members: dict[str, Member] = {}
        self.records: list[dict[int, float]] = [{} for _ in self.milestones]   # rung -> group -> seed mean

    def join(self, trial_id: str, config: Mapping[str, Any], live: bool = True, band: Any = None) -> Member:
        """Place a trial in its configuration's group: the first group of that configuration still missing the
        trial's seed, or a new one (in budget ``band``, if any). A trial already known (retried, or resumed with
        the study) keeps its place and its records; ``live`` says whether it runs again."""
        if trial_id in self.members:
            member = self.members[trial_id]
            if live:
                member.live, member.failed = True, False
            return member
        seed = config.get("seed")
        # vlpet's private keys (a resumed seed's stored id and checkpoint) are not part of the configuration
        key = config_key({k: v for k, v in config.items() if not str(k).startswith("_")})
        index = next((i for i, g in enumerate(self.groups) if g.key == key and len(g.members) < g.expected
                      and seed not in g.members.values()), None)
        if index is None:
            self.groups.append(Group(key=key, expected=self.seeds if seed is not None else 1, band=band))
            index = len(self.groups) - 1
        self.groups[index].members[trial_id] = seed
        self.members[trial_id] = Member(group=index, seed=seed, live=live)
        return self.members[trial_id]

    def group_of(self, trial_id: str) -> Group:
        return self.groups[self.members[trial_id].group]

    def count(self, trial_id: str, result: Mapping[str, Any]) -> int | None:
        """Count the trial's evaluation in ``result`` and return its number, or None for one seen before (a trial
        restarted from a checkpoint reports again what came after it). Evaluations are told apart by their
        ``step``, so a Ray Train trial, whose Tune iteration restarts from 1 when it resumes, keeps its count."""
        member = self.members[trial_id]
        step = result.get("step", result.get("training_iteration"))
        if step is None or (member.last_step is not None and step <= member.last_step):
            return None
        member.evaluations, member.last_step = member.evaluations + 1, step
        return member.evaluations

    def record(self, trial_id: str, value: float, budget: float | None = None) -> None:
        """Record ``value`` at each rung the trial's evaluations have reached for the first time, and the group's
        ``budget`` (its trainable share) when first known."""
        member = self.members[trial_id]
        group = self.groups[member.group]
        if budget is not None and group.budget is None and math.isfinite(budget):
            group.budget = float(budget)
        for rung, milestone in enumerate(self.milestones):
            if member.evaluations >= milestone:
                member.values.setdefault(rung, value)

    def waiting(self, trial_id: str) -> bool:
        """The trial recorded its group's rung and the group has not decided there yet."""
        member, group = self.members[trial_id], self.group_of(trial_id)
        return member.live and not group.stopped and group.rung < len(self.milestones) and group.rung in member.values

    def end(self, trial_id: str, failed: bool) -> int:
        """The trial ended (failed: its values no longer count); returns its group's index."""
        member = self.members[trial_id]
        member.live = False
        member.failed = member.failed or failed
        return member.group

    def decide(self, index: int) -> str | None:
        """Judge group ``index`` at its rung once every live seed has recorded it (and every seed has started):
        CONTINUE or STOP, or None while it waits."""
        group = self.groups[index]
        rung = group.rung
        if group.stopped or rung >= len(self.milestones) or len(group.members) < group.expected:
            return None
        members = [self.members[t] for t in group.members]
        if any(m.live and rung not in m.values for m in members):
            return None
        values = [m.values[rung] for m in members if not m.failed and rung in m.values]
        if not values:
            return None
        mean = statistics.fmean(values)
        behind = self._behind(index, rung, mean)
        self.records[rung][index] = mean
        if behind:
            group.stopped = True
            return STOP
        group.rung += 1
        return CONTINUE

    def _comparable(self, index: int, rung: int) -> dict[int, float]:
        """The other groups' seed means at ``rung`` that group ``index`` is compared with: all of them, or when
        budget-aware those of its band (a band is set) or those whose budget is known (its budget is known)."""
        recorded = {i: v for i, v in self.records[rung].items() if not math.isnan(v)}
        group = self.groups[index]
        if not self.budget_aware:
            return recorded
        if group.band is not None:
            return {i: v for i, v in recorded.items() if self.groups[i].band == group.band}
        known = group.budget is not None
        return {i: v for i, v in recorded.items() if (self.groups[i].budget is not None) == known}

    def _behind(self, index: int, rung: int, mean: float) -> bool:
        """Whether group ``index`` (seed ``mean`` at ``rung``) falls behind ASHA's cut-off among comparable groups:
        on the mean, or (budget-aware, no band, budget known) on its non-dominated front."""
        others = self._comparable(index, rung)
        if not others:
            return False
        group = self.groups[index]
        quantile = (1 - 1 / self.reduction_factor) * 100
        if not self.budget_aware or group.band is not None or group.budget is None:
            return mean < float(np.percentile(list(others.values()), quantile))
        points = {i: (v, self.groups[i].budget) for i, v in others.items()}
        fronts = non_dominated_fronts({**points, index: (mean, group.budget)})
        return fronts[index] > float(np.percentile([fronts[i] for i in others], 100 - quantile))


def non_dominated_fronts(points: Mapping[int, tuple[float, float]]) -> dict[int, int]:
    """NSGA-II's front of each ``(value, budget)`` point: higher value and lower budget are better; front 0 is
    the points nothing dominates, front 1 those dominated only by front 0, and so on."""
    def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] >= b[0] and a[1] <= b[1] and a != b

    fronts, left, front = {}, dict(points), 0
    while left:
        current = [i for i, p in left.items() if not any(dominates(q, p) for j, q in left.items() if j != i)]
        for i in current:
            fronts[i] = front
            del left[i]
        front += 1
    return fronts
