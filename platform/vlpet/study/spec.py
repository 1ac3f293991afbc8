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
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

from vlpet.errors import ConfigError
from vlpet.trial_config import TrialConfig

DOMAIN_KINDS = ("choice", "grid", "uniform", "loguniform", "int")
ALGORITHMS = ("tpe", "nsga2", "grid")
SCHEDULERS = ("asha", "none")
DIRECTIONS = ("max", "min")
ARM_KEY = "arm"
TOP_KEYS = ("name", "description", "trial", "arms", "search_space", "seeds", "objectives", "search", "scheduler",
            "resources", "storage", "smoke")


@dataclass(frozen=True)
class Domain:
    """One search dimension: ``kind`` in DOMAIN_KINDS, ``values`` (choice/grid) or ``low``/``high``
    (uniform, loguniform, int with optional ``step`` and ``log``), and an optional ``when`` condition."""

    key: str
    kind: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    step: int | None = None
    log: bool = False
    when: dict[str, Any] = field(default_factory=dict)

    def representative(self) -> Any:
        """A value inside the domain, used to check that the fixed trial plus this value is a valid trial."""
        if self.values:
            return self.values[0]
        return int(self.low) if self.kind == "int" else float(self.low)

    def candidates(self) -> list:
        """Values that together exercise the domain's edges: every choice, or both bounds."""
        if self.values:
            return list(self.values)
        cast = int if self.kind == "int" else float
        return [cast(self.low), cast(self.high)]


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
        overrides = self.smoke.get("trial", {})
        return dataclasses.replace(self, name=self.name + "-smoke", overrides={**self.overrides, **overrides},
                                   num_samples=int(self.smoke.get("num_samples", 2)), seeds=self.seeds[:1],
                                   storage=self.storage + "-smoke" if self.storage else "", is_smoke=True)


def _fail(path: str, message: str) -> None:
    raise ConfigError(f"{path}: {message}")


def _mapping(value: Any, path: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(path, f"expected a mapping, got {value!r}")
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(path, f"expected a finite number, got {value!r}")
    return value


def parse_domain(key: str, raw: Any, trial_keys: set[str]) -> Domain:
    path = f"search_space.{key}"
    if key not in trial_keys:
        _fail(path, f"{key!r} is not a trial config key; allowed keys: {', '.join(sorted(trial_keys))}")
    raw = _mapping(raw, path)
    kinds = [k for k in raw if k in DOMAIN_KINDS]
    extra = sorted(set(raw) - set(DOMAIN_KINDS) - {"step", "log", "when"})
    if len(kinds) != 1 or extra:
        _fail(path, f"expected exactly one of {', '.join(DOMAIN_KINDS)} (plus optional step, log, when), got {sorted(raw)}")
    kind, spec = kinds[0], raw[kinds[0]]
    when = _mapping(raw.get("when"), f"{path}.when")
    if kind in ("choice", "grid"):
        if not isinstance(spec, list) or not spec:
            _fail(f"{path}.{kind}", f"expected a non-empty list of values, got {spec!r}")
        return Domain(key, kind, tuple(tuple(v) if isinstance(v, list) else v for v in spec), when=when)
    if not isinstance(spec, list) or len(spec) != 2:
        _fail(f"{path}.{kind}", f"expected [low, high], got {spec!r}")
    low, high = (_number(v, f"{path}.{kind}") for v in spec)
    if not low < high:
        _fail(f"{path}.{kind}", f"low {low} must be below high {high}")
    if kind == "loguniform" and low <= 0:
        _fail(f"{path}.{kind}", f"loguniform needs a positive low bound, got {low}")
    step = raw.get("step")
    if step is not None and (not isinstance(step, int) or step < 1):
        _fail(f"{path}.step", f"expected a positive integer, got {step!r}")
    return Domain(key, kind, low=low, high=high, step=step, log=bool(raw.get("log", kind == "loguniform")), when=when)


def _check_conditions(space: dict[str, Domain]) -> None:
    for domain in space.values():
        for other, value in domain.when.items():
            path = f"search_space.{domain.key}.when.{other}"
            if other not in space:
                _fail(path, f"conditions may only name other search keys: {', '.join(k for k in space if k != domain.key)}")
            allowed = space[other].candidates()
            wanted = value if isinstance(value, list) else [value]
            if space[other].values and not set(map(_hashable, wanted)) <= set(map(_hashable, allowed)):
                _fail(path, f"{value!r} is not among {other}'s values {list(allowed)}")


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _check_trials(spec: StudySpec) -> None:
    """Build the TrialConfig for every combination of domain edges so impossible combinations fail now."""
    keys = list(spec.search_space)
    for combo in itertools.product(*(spec.search_space[k].candidates() for k in keys)):
        chosen = dict(zip(keys, combo))
        active = {k: v for k, v in chosen.items() if _active(spec.search_space[k], chosen)}
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in active.items()}
        try:
            TrialConfig.from_dict(spec.compose_trial(values, spec.seeds[0]))
        except ConfigError as error:
            raise ConfigError(f"search_space: the combination {values} gives an impossible trial: {error}") from None


def _active(domain: Domain, chosen: dict[str, Any]) -> bool:
    return all(_hashable(chosen.get(k)) in {_hashable(v) for v in (w if isinstance(w, list) else [w])}
               for k, w in domain.when.items())


def _objectives(raw: Any) -> dict[str, str]:
    objectives = _mapping(raw, "objectives") or {"metric": "max", "trainable_pct": "min"}
    for key, direction in objectives.items():
        if direction not in DIRECTIONS:
            _fail(f"objectives.{key}", f"{direction!r} is not allowed; allowed: max, min")
    return dict(objectives)


SEARCH_KEYS = ("algorithm", "num_samples", "max_concurrent", "max_failures", "time_budget_s", "points")


def _search(raw: Any) -> tuple[str, int, int]:
    search = _mapping(raw, "search")
    unknown = sorted(set(search) - set(SEARCH_KEYS))
    if unknown:
        _fail("search", f"unknown key(s) {unknown}; allowed: {', '.join(SEARCH_KEYS)}")
    algorithm = search.get("algorithm", "tpe")
    if algorithm not in ALGORITHMS:
        _fail("search.algorithm", f"{algorithm!r} is not allowed; allowed: {', '.join(ALGORITHMS)}")
    counts = []
    for key, default in (("num_samples", 8), ("max_concurrent", 1)):
        value = search.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            _fail(f"search.{key}", f"expected a positive integer, got {value!r}")
        counts.append(value)
    return algorithm, counts[0], counts[1]


def _section(raw: Any, path: str, defaults: dict[str, Any], choices: dict[str, tuple] = {}) -> dict[str, Any]:
    section = {**defaults, **_mapping(raw, path)}
    unknown = sorted(set(section) - set(defaults))
    if unknown:
        _fail(path, f"unknown key(s) {unknown}; allowed: {', '.join(defaults)}")
    for key, value in section.items():
        if key in choices:
            if value not in choices[key]:
                _fail(f"{path}.{key}", f"{value!r} is not allowed; allowed: {', '.join(choices[key])}")
        elif _number(value, f"{path}.{key}") < 0:
            _fail(f"{path}.{key}", f"must be non-negative, got {value}")
    return section


def _scheduler(raw: Any) -> dict[str, Any]:
    """ASHA settings; ``metric``/``mode`` default to the primary objective (filled in by the runner)."""
    raw = dict(_mapping(raw, "scheduler"))
    watched = {k: raw.pop(k) for k in ("metric", "mode") if k in raw}
    section = _section(raw, "scheduler", {"type": "asha", "grace_period": 1, "reduction_factor": 2, "max_t": 1000},
                       {"type": SCHEDULERS})
    if "metric" in watched and (not isinstance(watched["metric"], str) or not watched["metric"]):
        _fail("scheduler.metric", f"expected the name of a reported metric, got {watched['metric']!r}")
    if "mode" in watched and watched["mode"] not in DIRECTIONS:
        _fail("scheduler.mode", f"{watched['mode']!r} is not allowed; allowed: max, min")
    if section["reduction_factor"] < 2 or section["grace_period"] < 1 or section["max_t"] < section["grace_period"]:
        _fail("scheduler", "needs reduction_factor >= 2, grace_period >= 1 and max_t >= grace_period, got "
              f"{section['reduction_factor']}, {section['grace_period']}, {section['max_t']}")
    return {**section, **watched}


def _arms(data: dict, trial_keys: set[str], source: str) -> tuple[dict[str, dict], dict]:
    """``arms``: named configurations (a row of a paper table each), given inline (``trial``) and/or as a trial
    file (``file``, relative to the study file, else to the working directory). Files are read now and inlined
    into the returned study mapping, so the saved study needs no other file to be resumed."""
    raw = data.get("arms")
    if raw is None:
        return {}, data
    if not isinstance(raw, list) or not raw:
        _fail("arms", f"expected a non-empty list of {{name, file and/or trial}}, got {raw!r}")
    arms: dict[str, dict] = {}
    for index, arm in enumerate(raw):
        path = f"arms[{index}]"
        arm = _mapping(arm, path)
        unknown = sorted(set(arm) - {"name", "file", "trial"})
        if unknown:
            _fail(path, f"unknown key(s) {unknown}; allowed: name, file, trial")
        name = arm.get("name")
        if not isinstance(name, str) or not name or name in arms:
            _fail(f"{path}.name", f"expected a unique non-empty name, got {name!r}")
        keys = dict(_read_trial_file(arm["file"], source, f"{path}.file")) if "file" in arm else {}
        keys.update(_mapping(arm.get("trial"), f"{path}.trial"))
        keys.pop("seed", None)
        bad = sorted(set(keys) - trial_keys)
        if bad:
            _fail(path, f"unknown trial config key(s) {', '.join(bad)}")
        arms[name] = keys
    inlined = {**data, "arms": [{"name": n, "trial": k} for n, k in arms.items()]}
    return arms, inlined


def _read_trial_file(name: Any, source: str, path: str) -> dict:
    if not isinstance(name, str) or not name:
        _fail(path, f"expected a trial file path, got {name!r}")
    if os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
        _fail(path, f"{name!r}: use a path inside the study's folder or the project, without '..'")
    candidates = [os.path.join(os.path.dirname(str(source)), name), name]
    found = next((c for c in candidates if os.path.isfile(c)), None)
    if found is None:
        _fail(path, f"trial file {name!r} not found (looked in {', '.join(dict.fromkeys(candidates))})")
    with open(found, encoding="utf-8") as handle:
        try:
            loaded = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            _fail(path, f"{found} is not valid YAML: {error}")
    return _mapping(loaded, f"{path} ({found})")


def _points(raw: Any, space: dict[str, Domain], algorithm: str) -> tuple[dict[str, Any], ...]:
    """``search.points``: configurations the searcher evaluates first (e.g. the paper's defaults and each
    baseline arm), each a mapping of search keys to values inside their domains."""
    if raw is None:
        return ()
    if algorithm == "grid":
        _fail("search.points", "a grid study runs every point already; points are for tpe and nsga2")
    if not isinstance(raw, list):
        _fail("search.points", f"expected a list of mappings of search keys to values, got {raw!r}")
    points = []
    for index, point in enumerate(raw):
        path = f"search.points[{index}]"
        point = _mapping(point, path)
        for key, value in point.items():
            domain = space.get(key)
            if domain is None:
                _fail(f"{path}.{key}", f"not a search key; search keys: {', '.join(space)}")
            if domain.values:
                if _hashable(value) not in {_hashable(v) for v in domain.values}:
                    _fail(f"{path}.{key}", f"{value!r} is not among {list(domain.values)}")
            elif not domain.low <= _number(value, f"{path}.{key}") <= domain.high:
                _fail(f"{path}.{key}", f"{value!r} is outside [{domain.low}, {domain.high}]")
        missing = [k for k, d in space.items() if k not in point and _active(d, point)]
        extra = [k for k in point if not _active(space[k], point)]
        if missing or extra:
            _fail(path, f"give exactly the active search keys: missing {missing}, inactive {extra}")
        points.append(point)
    return tuple(points)


def parse_study(data: Any, source: str = "<study>") -> StudySpec:
    """Validate a loaded YAML mapping into a StudySpec."""
    data = _mapping(data, source)
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        _fail(source, f"unknown key(s) {', '.join(unknown)}; allowed keys: {', '.join(TOP_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "/\\ "):
        _fail("name", f"expected a non-empty name without spaces or slashes, got {name!r}")
    trial_keys = {f.name for f in fields(TrialConfig)}
    trial = _mapping(data.get("trial"), "trial")
    bad = sorted(set(trial) - trial_keys)
    if bad:
        _fail("trial", f"unknown trial config key(s) {', '.join(bad)}; allowed keys: {', '.join(sorted(trial_keys))}")
    arms, data = _arms(data, trial_keys, source)
    raw_space = _mapping(data.get("search_space"), "search_space")
    if ARM_KEY in raw_space:
        _fail(f"search_space.{ARM_KEY}", "the arm axis comes from the arms list; do not define it here")
    space = {k: parse_domain(k, v, trial_keys) for k, v in raw_space.items()}
    if arms:
        kind = "grid" if _mapping(data.get("search"), "search").get("algorithm") == "grid" else "choice"
        space = {ARM_KEY: Domain(ARM_KEY, kind, tuple(arms)), **space}
    _check_conditions(space)
    seeds = data.get("seeds", [trial.get("seed", 42)])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        _fail("seeds", f"expected a non-empty list of integers, got {seeds!r}")
    if "seed" in space:
        _fail("search_space.seed", "seeds are their own axis: list them under seeds")
    algorithm, num_samples, max_concurrent = _search(data.get("search"))
    if algorithm == "grid" and any(d.kind not in ("choice", "grid") for d in space.values()):
        _fail("search.algorithm", "grid search needs choice/grid domains only")
    smoke = _mapping(data.get("smoke"), "smoke")
    search = _mapping(data.get("search"), "search")
    max_failures = search.get("max_failures", 2)
    if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 0:
        _fail("search.max_failures", f"expected a non-negative integer, got {max_failures!r}")
    time_budget = search.get("time_budget_s")
    if time_budget is not None and _number(time_budget, "search.time_budget_s") <= 0:
        _fail("search.time_budget_s", f"expected a positive number of seconds, got {time_budget!r}")
    spec = StudySpec(
        name=name, trial=trial, search_space=space, seeds=tuple(seeds), objectives=_objectives(data.get("objectives")),
        algorithm=algorithm, num_samples=num_samples, max_concurrent=max_concurrent,
        scheduler=_scheduler(data.get("scheduler")),
        resources=_section(data.get("resources"), "resources", {"workers": 1, "cpus_per_worker": 1, "gpus_per_worker": 0}),
        storage=str(data.get("storage") or os.path.join("runs", name)), description=str(data.get("description", "")),
        smoke=smoke, max_failures=max_failures,
        time_budget_s=float(time_budget) if time_budget is not None else None, source=data, arms=arms,
    )
    _check_trials(spec)
    spec = dataclasses.replace(spec, points=_points(search.get("points"), space, algorithm))
    bad_smoke = sorted(set(_mapping(smoke.get("trial"), "smoke.trial")) - trial_keys)
    if bad_smoke or sorted(set(smoke) - {"trial", "num_samples"}):
        _fail("smoke", f"allowed keys: trial (trial config keys), num_samples; got {sorted(smoke)} {bad_smoke}")
    return spec


def load_study(path: str | os.PathLike, smoke: bool = False, text: str | None = None) -> StudySpec:
    """Read and validate a study YAML file (or its ``text``, named ``path``); ``smoke`` selects its smoke variant."""
    if text is None:
        if not os.path.isfile(path):
            raise ConfigError(f"study file {path} does not exist")
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"study file {path} is not valid YAML: {error}") from None
    spec = parse_study(data, str(path))
    if smoke:
        spec = spec.with_smoke()
        _check_trials(spec)
    return spec
