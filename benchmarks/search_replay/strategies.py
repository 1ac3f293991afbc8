"""The search strategies the replay compares, each built from the same parts a real study uses.

* ``grid``: vlpet's :class:`GridSearcher` over :func:`vlpet.study.space.grid_points`, every configuration's seeds
  through :class:`SeedRepeater`, FIFO (no early stopping), in the grid's order.
* ``random``: Optuna's ``RandomSampler`` behind Ray Tune's ``OptunaSearch`` on vlpet's define-by-run space
  (:func:`vlpet.study.space.optuna_space`), through :class:`SeedRepeater`, FIFO.
* ``anchor``: what a user builds today with Ray Tune + Optuna + ASHA: ``OptunaSearch`` with NSGA-II over the
  space plus the seed as one more categorical (seeds are independent trials, each told to Optuna on its own),
  Ray Tune's own ``AsyncHyperBandScheduler`` on the primary metric.
* ``anchor_seeds_looped``: the same NSGA-II and plain ASHA, but every configuration runs once per seed
  (:class:`SeedRepeater`, Optuna told seed means): ASHA still judges each seed alone.
* ``vlpet_nsga2`` / ``vlpet_tpe``: vlpet's default study: :class:`SeedRepeater` around ``OptunaSearch`` with the
  sampler vlpet builds for ``nsga2`` / ``tpe`` (vlpet.study.tuner), and seed-grouped, budget-aware ASHA
  (:class:`SeedGroupScheduler` with the study's ``scheduler_options``: a configuration's seeds promoted or
  stopped together, on their mean, compared on non-dominated fronts of (seed mean, trainable_pct)).
* ``vlpet_nsga2_accuracy_only``: the same with budget-awareness switched off (seed-grouped ASHA on the seed mean
  alone), to tell the two parts apart.
* ``vlpet_per_arm``: vlpet's default with ``search: {per_arm: N}`` (vlpet.study.per_arm: the arms queued in
  balanced round-robin order, a repeat's arm queued again), N the largest the space allows (every arm needs N
  distinct configurations; the recording's baseline arms have one each, so N = 1).

Every ASHA uses the study file's rungs (``grace_period`` 1, ``reduction_factor`` 2, ``max_t`` = the recorded
evaluations); the samplers are seeded with the repetition's seed; ``max_concurrent`` is 2, the recording's.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Callable

import optuna
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from benchmarks.search_replay.table import Recorded
from vlpet.study.arms import ARM_KEY
from vlpet.study.per_arm import ArmTopUp, distinct_configurations, per_arm_queue
from vlpet.study.recovery import configuration_id
from vlpet.study.seed_scheduler import SeedGroupScheduler, scheduler_options
from vlpet.study.seeds import GridSearcher, SeedRepeater
from vlpet.study.space import OptunaSpace, encode_point, grid_points
from vlpet.study.spec import StudySpec

MAX_CONCURRENT = 2
GRACE_PERIOD, REDUCTION_FACTOR = 1, 2
# Searchers may try up to this many times the grid's configurations (repeats of a finished configuration are
# answered from its known result by SeedRepeater); every run also ends once it has spent the grid's compute.
SAMPLES_PER_CONFIGURATION = 3

Built = tuple[Searcher, TrialScheduler, int]      # searcher, scheduler, Tune trials it may start


class SeededSpace:
    """The anchor's define-by-run space: vlpet's space plus the seed as one more categorical."""

    def __init__(self, spec: StudySpec, seeds: list[int]):
        self.space, self.seeds = OptunaSpace(spec), list(seeds)

    def __call__(self, trial) -> None:
        self.space(trial)
        trial.suggest_categorical("seed", self.seeds)


def _optuna(space, sampler: optuna.samplers.BaseSampler, spec: StudySpec, points=None) -> OptunaSearch:
    objectives = list(spec.objectives)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return OptunaSearch(space, metric=objectives, mode=[spec.objectives[k] for k in objectives], sampler=sampler,
                        points_to_evaluate=points)


def _per_arm(spec: StudySpec, seeds: list[int], evaluations: int, samples: int, seed: int) -> Built:
    """vlpet's default NSGA-II study with ``per_arm``: as vlpet.study.tuner builds it, N as large as allowed."""
    arms = list(spec.search_space[ARM_KEY].values)
    per_arm = min(distinct_configurations(spec.search_space, arm, samples) for arm in arms)
    queue = [encode_point(p) for p in per_arm_queue(arms, per_arm)]
    searcher = _optuna(OptunaSpace(spec), _nsga2(per_arm * len(arms), seed), spec, points=queue)
    repeater = SeedRepeater(searcher, seeds, list(spec.objectives), on_repeat=ArmTopUp(per_arm, configuration_id))
    return repeater, _seed_groups(spec, len(seeds), evaluations, True), per_arm * len(arms) * len(seeds)


def _nsga2(configurations: int, seed: int) -> optuna.samplers.BaseSampler:
    """vlpet's NSGA-II (vlpet.study.tuner): population ½·num_samples, clamped to 2…50."""
    return optuna.samplers.NSGAIISampler(population_size=max(2, min(50, configurations // 2)), seed=seed)


def _tpe(seed: int) -> optuna.samplers.BaseSampler:
    """vlpet's TPE (vlpet.study.tuner): multivariate, grouped (Optuna calls ``group`` experimental)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)


def _seed_groups(spec: StudySpec, seeds: int, evaluations: int, budget_aware: bool) -> SeedGroupScheduler:
    """vlpet's scheduler with the study's options (vlpet.study.seed_scheduler.scheduler_options: budget-aware on
    trainable_pct for this study), or with budget-awareness switched off."""
    metric, mode = spec.primary_metric
    options = {**scheduler_options(spec), **({} if budget_aware else {"budget_aware": False})}
    scheduler = SeedGroupScheduler(seeds=seeds, grace_period=GRACE_PERIOD, reduction_factor=REDUCTION_FACTOR,
                                   max_t=evaluations, **options)
    scheduler.set_search_properties(metric, mode)
    return scheduler


def _plain_asha(evaluations: int, metric: str, mode: str) -> AsyncHyperBandScheduler:
    return AsyncHyperBandScheduler(time_attr="training_iteration", metric=metric, mode=mode, max_t=evaluations,
                                   grace_period=GRACE_PERIOD, reduction_factor=REDUCTION_FACTOR)


def build(name: str, spec: StudySpec, table: Recorded, seed: int) -> Built:
    """Strategy ``name`` for the table's configurations, its samplers seeded with ``seed``."""
    configurations, seeds = len(table.configs), list(table.seeds)
    samples = SAMPLES_PER_CONFIGURATION * configurations
    evaluations = max(len(evals) for evals in table.runs.values())
    metric, mode = spec.primary_metric
    objectives = list(spec.objectives)

    def repeated(searcher: Searcher) -> SeedRepeater:
        return SeedRepeater(searcher, seeds, objectives)

    if name == "grid":
        points = [p for p in grid_points(spec) if _in_table(p, table)]
        return repeated(GridSearcher(points)), FIFOScheduler(), len(points) * len(seeds)
    if name == "random":
        searcher = _optuna(OptunaSpace(spec), optuna.samplers.RandomSampler(seed=seed), spec)
        return repeated(searcher), FIFOScheduler(), samples * len(seeds)
    if name == "anchor":
        searcher = _optuna(SeededSpace(spec, seeds), _nsga2(samples, seed), spec)
        return searcher, _plain_asha(evaluations, metric, mode), samples * len(seeds)
    if name == "anchor_seeds_looped":
        searcher = repeated(_optuna(OptunaSpace(spec), _nsga2(samples, seed), spec))
        return searcher, _plain_asha(evaluations, metric, mode), samples * len(seeds)
    if name == "vlpet_per_arm":
        return _per_arm(spec, seeds, evaluations, samples, seed)
    if name in ("vlpet_nsga2", "vlpet_tpe", "vlpet_nsga2_accuracy_only"):
        sampler = _tpe(seed) if name == "vlpet_tpe" else _nsga2(samples, seed)
        searcher = repeated(_optuna(OptunaSpace(spec), sampler, spec))
        aware = name != "vlpet_nsga2_accuracy_only"
        return searcher, _seed_groups(spec, len(seeds), evaluations, aware), samples * len(seeds)
    raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")


def _in_table(point: dict[str, Any], table: Recorded) -> bool:
    return configuration_id(point) in set(table.configs)


def restrict(spec: StudySpec, table: Recorded) -> StudySpec:
    """``spec`` with each domain cut to the values the table's configurations take (a slice of the table, for a
    quick check); refused unless the cut space is exactly the table's configurations."""
    configs = [table.config(c) for c in table.configs]
    domains = {}
    for key, domain in spec.search_space.items():
        values = tuple(v for v in domain.values if any(c.get(key) == v for c in configs))
        if values:
            domains[key] = dataclasses.replace(domain, values=values)
    cut = dataclasses.replace(spec, search_space=domains)
    if sorted(configuration_id(p) for p in grid_points(cut)) != table.configs:
        raise ValueError("the table's configurations are not a whole sub-grid of the study's space")
    return cut


STRATEGIES = ("grid", "random", "anchor", "anchor_seeds_looped", "vlpet_nsga2_accuracy_only", "vlpet_nsga2",
              "vlpet_tpe", "vlpet_per_arm")
Builder = Callable[[str, StudySpec, Recorded, int], Built]
