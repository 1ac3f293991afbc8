"""The study file's settings sections, each a frozen dataclass validated on construction, with field help.

```yaml
search: {algorithm: tpe, num_samples: 8, max_concurrent: 1}      # also per_arm, max_failures, time_budget_s, points
scheduler: {type: asha, grace_period: 1, reduction_factor: 2}    # also max_t, metric, mode
resources: {workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}
smoke: {num_samples: 2, trial: {max_steps: 4, eval_size: 64}}
objectives: {metric: max, trainable_pct: min}
seeds: [42, 43]
```
Each class's defaults are the study file's defaults; ``from_mapping`` reads the section as written (absent = all
defaults) and names an unknown key. Every problem raises ConfigError naming the key path.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vlpet.checks import (allowed, fail, in_range, mapping, no_unknown_keys, number, positive_int,
                          unknown_keys)
from vlpet.errors import show
from vlpet.study.store import DEFAULT_OBJECTIVES
from vlpet.study.tracking.settings import TrackingSpec  # noqa: F401 - the `tracking` section, read with the others

ALGORITHMS = ("tpe", "nsga2", "grid")
SCHEDULERS = ("asha", "none")
DIRECTIONS = ("max", "min")
# Sanity bounds: far above any real study, low enough that a typo cannot queue a cluster's worth of trials.
MAX_SAMPLES = 100_000
MAX_CONCURRENT = 10_000
MAX_FAILURES = 100
MAX_SEEDS = 100
MAX_WORKERS = 1024
MAX_EVALUATIONS = 10**9


def _help(text: str, default: Any) -> Any:
    return field(default=default, metadata={"help": text})


def _keys(section: type) -> list[str]:
    return [f.name for f in dataclasses.fields(section)]


@dataclass(frozen=True)
class SearchSpec:
    """``search``: the searcher and its trial counts."""

    algorithm: str = _help("tpe | nsga2 (Optuna, multi-objective) | grid (every combination of choices)", "tpe")
    num_samples: int = _help("configurations to sample (each runs once per seed); a grid runs all of its own",
                             8)
    per_arm: int | None = _help("instead of num_samples: exactly this many configurations for every arm (an "
                                "equal tuning effort; tpe/nsga2 with arms; vlpet.study.per_arm)", None)
    max_concurrent: int = _help("trials running at once (under scheduler asha at least one per seed)", 1)
    max_failures: int = _help("retries of a trial whose process dies", 2)
    time_budget_s: float | None = _help("stop starting trials after this many seconds (none: no limit)", None)
    points: Any = _help("configurations the searcher tries first, each a mapping of search keys to values "
                        "(checked against the search space)", None)

    def __post_init__(self) -> None:
        allowed("search.algorithm", self.algorithm, ALGORITHMS, heading="allowed")
        if self.time_budget_s is not None:
            budget = number("search.time_budget_s", self.time_budget_s)
            if budget <= 0:
                fail("search.time_budget_s", f"expected a positive number of seconds, got {show(self.time_budget_s)}")
            object.__setattr__(self, "time_budget_s", float(budget))
        positive_int("search.num_samples", self.num_samples, MAX_SAMPLES)
        positive_int("search.max_concurrent", self.max_concurrent, MAX_CONCURRENT)
        positive_int("search.max_failures", self.max_failures, MAX_FAILURES, low=0)
        if self.per_arm is not None:
            positive_int("search.per_arm", self.per_arm, MAX_SAMPLES)

    @classmethod
    def from_mapping(cls, raw: Any) -> "SearchSpec":
        section = mapping("search", raw)
        no_unknown_keys("search", section, _keys(cls))
        if "per_arm" in section and "num_samples" in section:
            fail("search", "give num_samples or per_arm, not both: per_arm N samples N configurations per arm "
                 "(num_samples = N x arms)")
        return cls(**section)


@dataclass(frozen=True)
class SchedulerSpec:
    """``scheduler``: early stopping. Seed-grouped ASHA stops configurations (all their seeds together) whose
    seed mean falls behind at a rung of evaluations (vlpet.study.seed_scheduler)."""

    type: str = _help("asha (a configuration's seeds promoted or stopped together, on their mean) | none", "asha")
    grace_period: int = _help("evaluations every trial makes before it may be stopped", 1)
    reduction_factor: float = _help("at each rung, about 1 in this many configurations goes on (at least 2)", 2)
    max_t: int = _help("evaluations after which the scheduler stops any trial", 1000)
    metric: str | None = _help("the reported metric it compares (default: the primary objective)", None)
    mode: str | None = _help("max | min: the metric's direction (default: the primary objective's)", None)
    budget_aware: bool | None = _help("compare a configuration only with others of a similar budget (its budget "
                                      "target's band, else non-dominated fronts with trainable_pct fixed); default: "
                                      "true when an objective or budgets concern the budget; false: plain "
                                      "seed-grouped ASHA on the metric alone", None)

    def __post_init__(self) -> None:
        allowed("scheduler.type", self.type, SCHEDULERS, heading="allowed")
        if self.budget_aware is not None and not isinstance(self.budget_aware, bool):
            fail("scheduler.budget_aware", f"expected true or false, got {show(self.budget_aware)}")
        positive_int("scheduler.grace_period", self.grace_period, MAX_EVALUATIONS)
        positive_int("scheduler.max_t", self.max_t, MAX_EVALUATIONS)
        factor = number("scheduler.reduction_factor", self.reduction_factor)
        if factor < 2 or self.max_t < self.grace_period:
            fail("scheduler", "needs reduction_factor >= 2, grace_period >= 1 and max_t >= grace_period, got "
                 f"{factor}, {self.grace_period}, {self.max_t}")
        object.__setattr__(self, "reduction_factor", factor)
        if self.metric is not None:
            _metric_name(self.metric)
        if self.mode is not None:
            allowed("scheduler.mode", self.mode, DIRECTIONS, heading="allowed")

    @classmethod
    def from_mapping(cls, raw: Any) -> "SchedulerSpec":
        section = mapping("scheduler", raw)
        no_unknown_keys("scheduler", section, _keys(cls))
        # None is these keys' "not given"; written out, null is refused as before
        if "metric" in section and section["metric"] is None:
            _metric_name(None)
        if "mode" in section and section["mode"] is None:
            allowed("scheduler.mode", None, DIRECTIONS, heading="allowed")
        return cls(**section)


def _metric_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        fail("scheduler.metric", f"expected the name of a reported metric, got {show(name)}")


@dataclass(frozen=True)
class ResourcesSpec:
    """``resources``: what each trial reserves on the cluster."""

    workers: int = _help("Ray Train workers per trial (more than 1: data-parallel training)", 1)
    cpus_per_worker: float = _help("CPUs each worker reserves (fractions allowed)", 1)
    gpus_per_worker: float = _help("GPUs each worker reserves (0: train on CPU; fractions allowed)", 0)

    def __post_init__(self) -> None:
        positive_int("resources.workers", self.workers, MAX_WORKERS)
        for key in ("cpus_per_worker", "gpus_per_worker"):
            value = number(f"resources.{key}", getattr(self, key))
            in_range(f"resources.{key}", value, 0, MAX_WORKERS, f"from 0 to {MAX_WORKERS}")
            object.__setattr__(self, key, value)

    @classmethod
    def from_mapping(cls, raw: Any) -> "ResourcesSpec":
        section = mapping("resources", raw)
        no_unknown_keys("resources", section, _keys(cls))
        return cls(**section)

    def to_dict(self) -> dict[str, float]:
        """The section as a mapping, as a trial's status record keeps it."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SmokeSpec:
    """``smoke``: the cheap variant ``--smoke`` selects (first seed only), small enough for a test."""

    num_samples: int = _help("configurations the smoke variant samples", 2)
    trial: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "trial config keys applied over every trial's (a tiny max_steps, eval_size)"})

    def __post_init__(self) -> None:
        positive_int("smoke.num_samples", self.num_samples, MAX_SAMPLES)
        object.__setattr__(self, "trial", mapping("smoke.trial", self.trial))

    @classmethod
    def from_mapping(cls, raw: Any, trial_keys: set[str]) -> "SmokeSpec":
        section = mapping("smoke", raw)
        bad = unknown_keys(mapping("smoke.trial", section.get("trial")), trial_keys)
        if bad or unknown_keys(section, _keys(cls)):
            fail("smoke", f"allowed keys: trial (trial config keys), num_samples; got {unknown_keys(section, ())} {bad}")
        return cls(**section)


def parse_objectives(raw: Any) -> dict[str, str]:
    """``objectives``: reported metric → max | min (absent: the primary metric up, the trainable share down)."""
    objectives = mapping("objectives", raw) or DEFAULT_OBJECTIVES
    for key, direction in objectives.items():
        if not isinstance(key, str) or not key:
            fail("objectives", f"expected reported metric names as keys, got {show(key)}")
        allowed(f"objectives.{key}", direction, DIRECTIONS, heading="allowed")
    return dict(objectives)


def parse_seeds(seeds: Any) -> tuple[int, ...]:
    """``seeds``: distinct integers from 0 to 2**32 - 1; every configuration runs once per seed."""
    if not isinstance(seeds, list) or not 1 <= len(seeds) <= MAX_SEEDS or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in seeds):
        fail("seeds", f"expected a non-empty list of integers (at most {MAX_SEEDS}, each from 0 to {2**32 - 1}), "
             f"got {show(seeds)}")
    if len(set(seeds)) != len(seeds):
        fail("seeds", f"each seed once, got {show(seeds)}")
    return tuple(seeds)
