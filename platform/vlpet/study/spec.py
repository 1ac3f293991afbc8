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
                                    # also: max_failures (retries of a dying trial), time_budget_s
scheduler: {type: asha, grace_period: 1, reduction_factor: 2}              # asha | none; grace in evaluations
                                    # also: max_t, metric and mode (default: the primary objective)
resources: {workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}
storage: runs/quickstart-granularity                                       # local dir or cloud URI
smoke: {num_samples: 2, trial: {max_steps: 4, eval_size: 64}}              # selected by --smoke
```
Every problem raises ConfigError naming the key path, the bad value and what is allowed, before Ray starts.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any

from vlpet.errors import ConfigError, show
from vlpet.locations import check_output_location
from vlpet.safe_yaml import read_yaml_file, load_yaml
from vlpet.study.domains import (DOMAIN_KINDS, Domain, active, check_conditions, fail, mapping, number,
                                 parse_domain, parse_points, unknown_keys)
from vlpet.trial_config import TrialConfig

__all__ = ["DOMAIN_KINDS", "Domain", "StudySpec", "check_local_data", "load_study", "parse_study"]

ALGORITHMS = ("tpe", "nsga2", "grid")
SCHEDULERS = ("asha", "none")
DIRECTIONS = ("max", "min")
ARM_KEY = "arm"
TOP_KEYS = ("name", "description", "trial", "arms", "search_space", "seeds", "objectives", "search", "scheduler",
            "resources", "storage", "smoke")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Sanity bounds: far above any real study, low enough that a typo cannot queue a cluster's worth of trials.
MAX_SAMPLES = 100_000
MAX_CONCURRENT = 10_000
MAX_SEEDS = 100
MAX_WORKERS = 1024
MAX_COMBINATIONS = 100_000    # domain-edge combinations checked as trials (about 30 µs each)


@dataclass(frozen=True)
class StudySpec:
    name: str
    trial: dict[str, Any]
    search_space: dict[str, Domain]
    seeds: tuple[int, ...] = (42,)
    objectives: dict[str, str] = field(default_factory=lambda: {"metric": "max", "trainable_pct": "min"})
    algorithm: str = "tpe"
    num_samples: int = 8
    max_concurrent: int = 1
    scheduler: dict[str, Any] = field(default_factory=lambda: {"type": "asha", "grace_period": 1,
                                                                 "reduction_factor": 2})
    resources: dict[str, float] = field(default_factory=lambda: {"workers": 1, "cpus_per_worker": 1,
                                                                  "gpus_per_worker": 0})
    storage: str = ""
    description: str = ""
    smoke: dict[str, Any] = field(default_factory=dict)
    max_failures: int = 2
    time_budget_s: float | None = None
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
        if "metric" in self.scheduler:
            return self.scheduler["metric"], self.scheduler.get("mode", "max")
        for key, direction in self.objectives.items():
            if key not in ("trainable_pct", "trainable_params"):
                return key, direction
        return next(iter(self.objectives.items()))

    def with_smoke(self) -> "StudySpec":
        """The smoke variant: two trials (or ``smoke.num_samples``) on the smoke trial overrides."""
        overrides = self.smoke.get("trial") or {}
        return dataclasses.replace(self, name=self.name + "-smoke", overrides={**self.overrides, **overrides},
                                   num_samples=int(self.smoke.get("num_samples", 2)), seeds=self.seeds[:1],
                                   storage=self.storage + "-smoke" if self.storage else "", is_smoke=True)


def _count(section: dict, key: str, default: int, low: int, high: int, path: str) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        kind = "positive" if low == 1 else "non-negative"
        fail(f"{path}.{key}", f"expected a {kind} integer of at most {high}, got {show(value)}")
    return value


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


def _objectives(raw: Any) -> dict[str, str]:
    objectives = mapping(raw, "objectives") or {"metric": "max", "trainable_pct": "min"}
    for key, direction in objectives.items():
        if not isinstance(key, str) or not key:
            fail("objectives", f"expected reported metric names as keys, got {show(key)}")
        if direction not in DIRECTIONS:
            fail(f"objectives.{key}", f"{show(direction)} is not allowed; allowed: max, min")
    return dict(objectives)


SEARCH_KEYS = ("algorithm", "num_samples", "max_concurrent", "max_failures", "time_budget_s", "points")


def _search(raw: Any) -> dict[str, Any]:
    """``search``: the algorithm and its counts, each within its sanity bound (``points`` are parsed later)."""
    search = mapping(raw, "search")
    unknown = unknown_keys(search, SEARCH_KEYS)
    if unknown:
        fail("search", f"unknown key(s) {unknown}; allowed: {', '.join(SEARCH_KEYS)}")
    algorithm = search.get("algorithm", "tpe")
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        fail("search.algorithm", f"{show(algorithm)} is not allowed; allowed: {', '.join(ALGORITHMS)}")
    time_budget = search.get("time_budget_s")
    if time_budget is not None and number(time_budget, "search.time_budget_s") <= 0:
        fail("search.time_budget_s", f"expected a positive number of seconds, got {show(time_budget)}")
    return {"algorithm": algorithm, "num_samples": _count(search, "num_samples", 8, 1, MAX_SAMPLES, "search"),
            "max_concurrent": _count(search, "max_concurrent", 1, 1, MAX_CONCURRENT, "search"),
            "max_failures": _count(search, "max_failures", 2, 0, 100, "search"),
            "time_budget_s": float(number(time_budget, "")) if time_budget is not None else None,
            "points": search.get("points")}


RESOURCES = {"workers": 1, "cpus_per_worker": 1, "gpus_per_worker": 0}


def _resources(raw: Any) -> dict[str, float]:
    section = {**RESOURCES, **mapping(raw, "resources")}
    unknown = unknown_keys(section, RESOURCES)
    if unknown:
        fail("resources", f"unknown key(s) {unknown}; allowed: {', '.join(RESOURCES)}")
    resources = {"workers": _count(section, "workers", 1, 1, MAX_WORKERS, "resources")}
    for key in ("cpus_per_worker", "gpus_per_worker"):
        resources[key] = number(section[key], f"resources.{key}")
        if not 0 <= resources[key] <= MAX_WORKERS:
            fail(f"resources.{key}", f"must be from 0 to {MAX_WORKERS}, got {resources[key]}")
    return resources


SCHEDULER = {"type": "asha", "grace_period": 1, "reduction_factor": 2, "max_t": 1000}


def _scheduler(raw: Any) -> dict[str, Any]:
    """ASHA settings; ``metric``/``mode`` default to the primary objective (filled in by the runner)."""
    section = {**SCHEDULER, **mapping(raw, "scheduler")}
    unknown = unknown_keys(section, [*SCHEDULER, "metric", "mode"])
    if unknown:
        fail("scheduler", f"unknown key(s) {unknown}; allowed: {', '.join(SCHEDULER)}, metric, mode")
    if section["type"] not in SCHEDULERS:
        fail("scheduler.type", f"{show(section['type'])} is not allowed; allowed: {', '.join(SCHEDULERS)}")
    grace = _count(section, "grace_period", 1, 1, 10**9, "scheduler")
    max_t = _count(section, "max_t", 1000, 1, 10**9, "scheduler")
    factor = number(section["reduction_factor"], "scheduler.reduction_factor")
    if factor < 2 or max_t < grace:
        fail("scheduler", "needs reduction_factor >= 2, grace_period >= 1 and max_t >= grace_period, got "
             f"{factor}, {grace}, {max_t}")
    if "metric" in section and (not isinstance(section["metric"], str) or not section["metric"]):
        fail("scheduler.metric", f"expected the name of a reported metric, got {show(section['metric'])}")
    if "mode" in section and section["mode"] not in DIRECTIONS:
        fail("scheduler.mode", f"{show(section['mode'])} is not allowed; allowed: max, min")
    return {**section, "grace_period": grace, "max_t": max_t, "reduction_factor": factor}


def _seeds(seeds: Any) -> tuple[int, ...]:
    if not isinstance(seeds, list) or not 1 <= len(seeds) <= MAX_SEEDS or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in seeds):
        fail("seeds", f"expected a non-empty list of integers (at most {MAX_SEEDS}, each from 0 to {2**32 - 1}), "
             f"got {show(seeds)}")
    if len(set(seeds)) != len(seeds):
        fail("seeds", f"each seed once, got {show(seeds)}")
    return tuple(seeds)


def _smoke(raw: Any, trial_keys: set[str]) -> dict[str, Any]:
    smoke = mapping(raw, "smoke")
    bad = unknown_keys(mapping(smoke.get("trial"), "smoke.trial"), trial_keys)
    if bad or unknown_keys(smoke, ("trial", "num_samples")):
        fail("smoke", f"allowed keys: trial (trial config keys), num_samples; got {unknown_keys(smoke, ())} {bad}")
    _count(smoke, "num_samples", 2, 1, MAX_SAMPLES, "smoke")
    return smoke


def _storage(raw: Any, name: str) -> str:
    """``storage``: checked by vlpet.locations (no system directories, no '..' out of the working directory)."""
    if raw is None or raw == "":
        return os.path.join("runs", name)
    return check_output_location(raw, "storage")


def _arms(data: dict, trial_keys: set[str], source: str) -> tuple[dict[str, dict], dict]:
    """``arms``: named configurations (a row of a paper table each), given inline (``trial``) and/or as a trial
    file (``file``, relative to the study file, else to the working directory). Files are read now and inlined
    into the returned study mapping, so the saved study needs no other file to be resumed."""
    raw = data.get("arms")
    if raw is None:
        return {}, data
    if not isinstance(raw, list) or not raw or len(raw) > MAX_SEEDS * 10:
        fail("arms", f"expected a non-empty list of {{name, file and/or trial}}, got {show(raw)}")
    arms: dict[str, dict] = {}
    for index, arm in enumerate(raw):
        path = f"arms[{index}]"
        arm = mapping(arm, path)
        unknown = unknown_keys(arm, ("name", "file", "trial"))
        if unknown:
            fail(path, f"unknown key(s) {unknown}; allowed: name, file, trial")
        name = arm.get("name")
        if not isinstance(name, str) or not _arm_name(name) or name in arms:
            fail(f"{path}.name", f"expected a unique non-empty name (at most 100 printable characters, no slashes), "
                 f"got {show(name)}")
        keys = dict(_read_trial_file(arm["file"], source, f"{path}.file")) if "file" in arm else {}
        keys.update(mapping(arm.get("trial"), f"{path}.trial"))
        keys.pop("seed", None)
        bad = unknown_keys(keys, trial_keys)
        if bad:
            fail(path, f"unknown trial config key(s) {', '.join(bad)}")
        arms[name] = keys
    inlined = {**data, "arms": [{"name": n, "trial": k} for n, k in arms.items()]}
    return arms, inlined


def _arm_name(name: str) -> bool:
    return 0 < len(name) <= 100 and name.strip() == name and name.isprintable() and not set(name) & set("/\\")


def _read_trial_file(name: Any, source: str, path: str) -> dict:
    """An arm's trial file: a relative path inside the study's folder (else the working directory) that stays
    inside it once symlinks are resolved."""
    if not isinstance(name, str) or not name:
        fail(path, f"expected a trial file path, got {show(name)}")
    if os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
        fail(path, f"{show(name)}: use a path inside the study's folder or the project, without '..'")
    folders = list(dict.fromkeys([os.path.dirname(str(source)), ""]))
    candidates = [os.path.join(folder, name) for folder in folders]
    found = next((c for c in candidates if os.path.isfile(c)), None)
    if found is None:
        fail(path, f"trial file {show(name)} not found (looked in {', '.join(candidates)})")
    folder = os.path.realpath(folders[candidates.index(found)] or ".")
    if os.path.commonpath([folder, os.path.realpath(found)]) != folder:
        fail(path, f"{show(name)} resolves to {os.path.realpath(found)}, outside {folder} (a symlink?)")
    return mapping(read_yaml_file(found, "trial file"), f"{path} ({found})")


def parse_study(data: Any, source: str = "<study>") -> StudySpec:
    """Validate a loaded YAML mapping into a StudySpec."""
    data = mapping(data, source)
    unknown = unknown_keys(data, TOP_KEYS)
    if unknown:
        fail(source, f"unknown key(s) {', '.join(unknown)}; allowed keys: {', '.join(TOP_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        fail("name", "expected a non-empty name of at most 100 letters, digits, '.', '_' or '-' (no spaces or "
             f"slashes), got {show(name)}")
    trial_keys = set(TrialConfig.keys())
    trial = mapping(data.get("trial"), "trial")
    bad = unknown_keys(trial, trial_keys)
    if bad:
        fail("trial", f"unknown trial config key(s) {', '.join(bad)}; allowed keys: {', '.join(sorted(trial_keys))}")
    arms, data = _arms(data, trial_keys, source)
    search = _search(data.get("search"))
    space = _space(data.get("search_space"), arms, search["algorithm"], trial_keys)
    spec = StudySpec(
        name=name, trial=trial, search_space=space, seeds=_seeds(data.get("seeds", [trial.get("seed", 42)])),
        objectives=_objectives(data.get("objectives")), algorithm=search["algorithm"],
        num_samples=search["num_samples"], max_concurrent=search["max_concurrent"],
        scheduler=_scheduler(data.get("scheduler")), resources=_resources(data.get("resources")),
        storage=_storage(data.get("storage"), name), description=str(data.get("description", "")),
        smoke=_smoke(data.get("smoke"), trial_keys), max_failures=search["max_failures"],
        time_budget_s=search["time_budget_s"], source=data, arms=arms,
    )
    _check_trials(spec)
    if spec.smoke.get("trial"):
        _check_trials(spec.with_smoke())
    return dataclasses.replace(spec, points=parse_points(search["points"], space, spec.algorithm))


def _space(raw: Any, arms: dict[str, dict], algorithm: str, trial_keys: set[str]) -> dict[str, Domain]:
    """The search space: the arm axis (when there are arms) and one domain per searched trial key."""
    raw_space = mapping(raw, "search_space")
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


def check_local_data(spec: StudySpec) -> None:
    """Every ``data_dir`` the study's trials can use exists on this machine. For studies whose trials train here
    (``vlpet validate``, ``vlpet run`` without ``--address``); a cluster's nodes may hold data this one lacks."""
    places = {"trial": spec.trial, "smoke.trial": spec.smoke.get("trial") or {},
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
