"""StudySpec: one typed, validated YAML file describing a study (vlpet issue 4, part 1).

```yaml
name: quickstart-granularity
trial: {backbone: quickstart:tiny-bart, task: quickstart, max_steps: 800}   # fixed TrialConfig keys
search_space:                       # any TrialConfig key → a domain
  granularity: {choice: [small, middleX, middleY, large]}
  gate_bottleneck: {choice: [16, 32], when: {granularity: large}}           # conditional key
  lr: {loguniform: [1.0e-4, 1.0e-2]}
  bottleneck: {int: [8, 64], step: 8}
seeds: [42, 43]                     # every sampled configuration runs once per seed
objectives: {metric: max, trainable_pct: min}
search: {algorithm: tpe, num_samples: 8, max_concurrent: 1}                # tpe | nsga2 | grid
scheduler: {type: asha, grace_period: 1, reduction_factor: 2}              # asha | none; grace in evaluations
resources: {workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}
storage: runs/quickstart-granularity                                       # local dir or cloud URI
smoke: {num_samples: 2, trial: {max_steps: 4, eval_size: 64}}              # selected by --smoke
```
The settings sections (search, scheduler, resources, smoke, objectives, seeds) are typed in
:mod:`vlpet.study.sections`, the search space in :mod:`vlpet.study.domains`, the arms in :mod:`vlpet.study.arms`.
Every problem raises ConfigError naming the key path, the bad value and what is allowed, before Ray starts.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from vlpet.checks import fail, mapping, unknown_keys
from vlpet.errors import ConfigError, show
from vlpet.locations import check_output_location
from vlpet.safe_yaml import load_yaml, read_yaml_file
from vlpet.study.arms import ARM_KEY, parse_arms
from vlpet.study.domains import DOMAIN_KINDS, Domain, active, check_conditions, parse_domain, parse_points
from vlpet.study.sections import (ResourcesSpec, SchedulerSpec, SearchSpec, SmokeSpec, parse_objectives,
                                  parse_seeds)
from vlpet.trial_config import TrialConfig

__all__ = ["DOMAIN_KINDS", "Domain", "ResourcesSpec", "SchedulerSpec", "SmokeSpec", "StudySpec", "check_local_data",
           "load_study", "parse_study"]

TOP_KEYS = ("name", "description", "trial", "arms", "search_space", "seeds", "objectives", "search", "scheduler",
            "resources", "storage", "smoke")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_COMBINATIONS = 100_000    # domain-edge combinations checked as trials (about 30 µs each)
PARAMETER_COUNTS = ("trainable_pct", "trainable_params")


@dataclass(frozen=True)
class StudySpec:
    """A validated study. Built by :func:`parse_study`, which states every default once (in the sections)."""

    name: str
    trial: dict[str, Any]                                                  # fixed trial config keys
    search_space: dict[str, Domain]
    seeds: tuple[int, ...]
    objectives: dict[str, str]                                             # reported metric -> max | min
    algorithm: str                                                         # the search section, flat
    num_samples: int
    max_concurrent: int
    max_failures: int
    time_budget_s: float | None
    scheduler: SchedulerSpec
    resources: ResourcesSpec
    smoke: SmokeSpec
    storage: str
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict, compare=False)   # the validated YAML mapping
    is_smoke: bool = False
    arms: dict[str, dict[str, Any]] = field(default_factory=dict)          # arm name -> its trial keys
    overrides: dict[str, Any] = field(default_factory=dict)                # applied last (the smoke budget)
    points: tuple[dict[str, Any], ...] = ()                                # configurations Optuna tries first

    def compose_trial(self, sampled: dict[str, Any], seed: int) -> dict[str, Any]:
        """A trial's keys: the study's ``trial``, then its arm's keys, then the sampled values, then the
        overrides (the smoke budget), then the seed."""
        sampled = dict(sampled)
        arm = self.arms.get(sampled.pop(ARM_KEY, None), {})
        return {**self.trial, **arm, **sampled, **self.overrides, "seed": seed}

    @property
    def primary_metric(self) -> tuple[str, str]:
        """The metric early stopping watches: the scheduler's, else the first objective that is not a
        parameter count."""
        if self.scheduler.metric is not None:
            return self.scheduler.metric, self.scheduler.mode or "max"
        for key, direction in self.objectives.items():
            if key not in PARAMETER_COUNTS:
                return key, direction
        return next(iter(self.objectives.items()))

    def with_smoke(self) -> "StudySpec":
        """The smoke variant: ``smoke.num_samples`` trials on the first seed, with the smoke trial overrides."""
        return dataclasses.replace(self, name=self.name + "-smoke", overrides={**self.overrides, **self.smoke.trial},
                                   num_samples=self.smoke.num_samples, seeds=self.seeds[:1],
                                   storage=self.storage + "-smoke" if self.storage else "", is_smoke=True)


def parse_study(data: Any, source: str = "<study>") -> StudySpec:
    """Validate a loaded YAML mapping into a StudySpec."""
    data = mapping(source, data)
    unknown = unknown_keys(data, TOP_KEYS)
    if unknown:
        fail(source, f"unknown key(s) {', '.join(unknown)}; allowed keys: {', '.join(TOP_KEYS)}")
    name = _name(data.get("name"))
    trial_keys = set(TrialConfig.keys())
    trial = mapping("trial", data.get("trial"))
    bad = unknown_keys(trial, trial_keys)
    if bad:
        fail("trial", f"unknown trial config key(s) {', '.join(bad)}; allowed keys: {', '.join(sorted(trial_keys))}")
    arms, data = parse_arms(data, trial_keys, source)
    search = SearchSpec.from_mapping(data.get("search"))
    space = _space(data.get("search_space"), arms, search.algorithm, trial_keys)
    spec = StudySpec(
        name=name, trial=trial, search_space=space, seeds=parse_seeds(data.get("seeds", [trial.get("seed", 42)])),
        objectives=parse_objectives(data.get("objectives")), algorithm=search.algorithm,
        num_samples=search.num_samples, max_concurrent=search.max_concurrent, max_failures=search.max_failures,
        time_budget_s=search.time_budget_s, scheduler=SchedulerSpec.from_mapping(data.get("scheduler")),
        resources=ResourcesSpec.from_mapping(data.get("resources")), storage=_storage(data.get("storage"), name),
        description=str(data.get("description", "")), smoke=SmokeSpec.from_mapping(data.get("smoke"), trial_keys),
        source=data, arms=arms,
    )
    _check_trials(spec)
    if spec.smoke.trial:
        _check_trials(spec.with_smoke())
    return dataclasses.replace(spec, points=parse_points(search.points, space, spec.algorithm))


def _name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        fail("name", "expected a non-empty name of at most 100 letters, digits, '.', '_' or '-' (no spaces or "
             f"slashes), got {show(name)}")
    return name


def _storage(raw: Any, name: str) -> str:
    """``storage``: checked by vlpet.locations (no system directories, no '..' out of the working directory)."""
    if raw is None or raw == "":
        return os.path.join("runs", name)
    return check_output_location(raw, "storage")


def _space(raw: Any, arms: dict[str, dict], algorithm: str, trial_keys: set[str]) -> dict[str, Domain]:
    """The search space: the arm axis (when there are arms) and one domain per searched trial key."""
    raw_space = mapping("search_space", raw)
    if ARM_KEY in raw_space:
        fail(f"search_space.{ARM_KEY}", "the arm axis comes from the arms list; do not define it here")
    if "seed" in raw_space:
        fail("search_space.seed", "seeds are their own axis: list them under seeds")
    space = {k: parse_domain(k, v, trial_keys) for k, v in raw_space.items()}
    if arms:
        space = {ARM_KEY: Domain(ARM_KEY, "grid" if algorithm == "grid" else "choice", tuple(arms)), **space}
    check_conditions(space)
    if algorithm == "grid" and any(d.kind not in ("choice", "grid") for d in space.values()):
        fail("search.algorithm", "grid search needs choice/grid domains only")
    if algorithm != "grid" and not space:
        fail("search_space", f"is empty, but {algorithm} search needs at least one search key or arms; to train "
             "the fixed trial once per seed use search: {algorithm: grid}")
    return space


def _check_trials(spec: StudySpec) -> None:
    """Build the TrialConfig for every combination of domain edges so impossible combinations fail now."""
    keys = list(spec.search_space)
    edges = [spec.search_space[k].candidates() for k in keys]
    count = math.prod(len(e) for e in edges)
    if count > MAX_COMBINATIONS:
        fail("search_space", f"{count} combinations of choices and range bounds, more than the {MAX_COMBINATIONS} "
             "that can be checked before a study starts: use fewer choices or ranges, or split the study")
    for combo in itertools.product(*edges):
        chosen = dict(zip(keys, combo))
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in chosen.items()
                  if active(spec.search_space[k], chosen)}
        try:
            TrialConfig.from_dict(spec.compose_trial(values, spec.seeds[0]))
        except ConfigError as error:
            where = f"search_space: the combination {show(values)} gives an impossible trial" if values else "trial"
            raise ConfigError(f"{where}: {error}") from None


def check_local_data(spec: StudySpec) -> None:
    """Every ``data_dir`` the study's trials can use exists on this machine. For studies whose trials train here
    (``vlpet validate``, ``vlpet run`` without ``--address``); a cluster's nodes may hold data this one lacks."""
    places = {"trial": spec.trial, "smoke.trial": spec.smoke.trial,
              **{f"arms.{name}": keys for name, keys in spec.arms.items()}}
    found = [(f"{where}.data_dir", keys.get("data_dir")) for where, keys in places.items()]
    domain = spec.search_space.get("data_dir")
    found += [("search_space.data_dir", value) for value in (domain.values if domain else ())]
    for where, value in found:
        if isinstance(value, str) and value.lower() not in ("none", "null") and not os.path.isdir(value):
            fail(where, f"directory {show(value)} does not exist on this machine, where these trials would train "
                 "(for a cluster whose nodes hold the data: vlpet validate --cluster, vlpet run --address, "
                 "vlpet submit)")


def load_study(path: str | os.PathLike, smoke: bool = False, text: str | None = None) -> StudySpec:
    """Read and validate a study YAML file (or its ``text``, named ``path``); ``smoke`` selects its smoke variant."""
    data = read_yaml_file(path, "study file") if text is None else load_yaml(text, f"study file {path}")
    spec = parse_study(data, str(path))
    return spec.with_smoke() if smoke else spec
