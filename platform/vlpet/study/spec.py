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
storage_shared: false               # true: storage is a path every node of a cluster reads and writes
smoke: {num_samples: 2, trial: {max_steps: 4, eval_size: 64}}              # selected by --smoke
budgets: {targets_pct: [2, 4], tolerance: 0.05}   # every arm sized to every target (vlpet.study.budgets)
tracking: {mlflow: {tracking_uri: "sqlite:///runs/mlflow.db"}}       # trials logged to MLflow / W&B too
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
from vlpet.data.registry import get_task
from vlpet.errors import ConfigError, show
from vlpet.locations import check_output_location
from vlpet.safe_yaml import load_yaml, read_yaml_file
from vlpet.study.arms import ARM_KEY, parse_arms
from vlpet.study.budgets import BUDGET_KEYS, BudgetArm, BudgetsSpec, condition_arms, expand
from vlpet.study.domains import DOMAIN_KINDS, Domain, active, check_conditions, parse_domain, parse_points
from vlpet.study.per_arm import check_points, per_arm_samples
from vlpet.study.reported import describe, unreported
from vlpet.study.sections import (ResourcesSpec, SchedulerSpec, SearchSpec, SmokeSpec, TrackingSpec,
                                  parse_objectives, parse_seeds)
from vlpet.trial_config import TrialConfig

__all__ = ["DOMAIN_KINDS", "Domain", "ResourcesSpec", "SchedulerSpec", "SmokeSpec", "StudySpec", "check_local_data",
           "load_study", "parse_study"]

TOP_KEYS = ("name", "description", "trial", "arms", "search_space", "seeds", "objectives", "search", "scheduler",
            "resources", "storage", "storage_shared", "smoke", "budgets", "tracking")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_COMBINATIONS = 100_000    # domain-edge combinations checked as trials (about 30 µs each)
PARAMETER_COUNTS = ("trainable_pct", "trainable_params")
TRIAL_DRIVER_CPU = 0.01      # what a several-worker trial's driver reserves (vlpet.study.trainable.DRIVER_CPU)


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
    storage_shared: bool = False       # the storage path is the same shared directory on every node (vlpet.study.nodes)
    budgets: BudgetsSpec | None = None
    sized_arms: dict[str, BudgetArm] = field(default_factory=dict)        # arm name -> its budget target
    budget_notes: tuple[str, ...] = ()                                     # arm x target dropped, and why
    tracking: TrackingSpec = field(default_factory=TrackingSpec)          # MLflow / W&B (vlpet.study.tracking)
    per_arm: int | None = None          # configurations per arm (num_samples = per_arm x arms; vlpet.study.per_arm)

    def compose_trial(self, sampled: dict[str, Any], seed: int) -> dict[str, Any]:
        """A trial's keys: the study's ``trial``, then its arm's keys, then the sampled values, then the
        overrides (the smoke budget), then the seed."""
        sampled = {k: v for k, v in sampled.items() if k not in BUDGET_KEYS}
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
    budgets = BudgetsSpec.from_mapping(data["budgets"]) if data.get("budgets") is not None else None
    expansion = expand(arms, trial, budgets) if budgets else None
    search = SearchSpec.from_mapping(data.get("search"))
    space = _space(data.get("search_space"), expansion.arms if expansion else arms, search.algorithm, trial_keys,
                   expansion.sized if expansion else {})
    spec = StudySpec(
        name=name, trial=trial, search_space=space, seeds=parse_seeds(data.get("seeds", [trial.get("seed", 42)])),
        objectives=parse_objectives(data.get("objectives")), algorithm=search.algorithm,
        num_samples=per_arm_samples(search.per_arm, search.num_samples, space, search.algorithm),
        per_arm=search.per_arm, max_concurrent=search.max_concurrent, max_failures=search.max_failures,
        time_budget_s=search.time_budget_s, scheduler=SchedulerSpec.from_mapping(data.get("scheduler")),
        resources=ResourcesSpec.from_mapping(data.get("resources")), storage=_storage(data.get("storage"), name),
        storage_shared=_flag("storage_shared", data.get("storage_shared", False)),
        description=str(data.get("description", "")), smoke=SmokeSpec.from_mapping(data.get("smoke"), trial_keys),
        source=data, arms=expansion.arms if expansion else arms, budgets=budgets,
        sized_arms=expansion.sized if expansion else {}, budget_notes=expansion.notes if expansion else (),
        tracking=TrackingSpec.from_mapping(data.get("tracking")),
    )
    _check_resources(spec.resources)
    _check_trials(spec)
    if spec.smoke.trial:
        _check_trials(spec.with_smoke())
    points = parse_points(search.points, space, spec.algorithm)
    check_points(spec.per_arm, points)
    return dataclasses.replace(spec, points=points)


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


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        fail(key, f"expected true or false, got {show(value)}")
    return value


def _space(raw: Any, arms: dict[str, dict], algorithm: str, trial_keys: set[str],
           sized: dict[str, BudgetArm]) -> dict[str, Domain]:
    """The search space: the arm axis (when there are arms) and one domain per searched trial key. With budgets,
    a condition on a base arm holds for each of its sized arms, and no search key may move a solved size."""
    raw_space = mapping("search_space", raw)
    if ARM_KEY in raw_space:
        fail(f"search_space.{ARM_KEY}", "the arm axis comes from the arms list; do not define it here")
    if "seed" in raw_space:
        fail("search_space.seed", "seeds are their own axis: list them under seeds")
    space = {k: parse_domain(k, v, trial_keys) for k, v in raw_space.items()}
    if sized:
        space = {k: _sized_conditions(d, sized) for k, d in space.items()}
    if arms:
        space = {ARM_KEY: Domain(ARM_KEY, "grid" if algorithm == "grid" else "choice", tuple(arms)), **space}
    check_conditions(space)
    if algorithm == "grid" and any(d.kind not in ("choice", "grid") for d in space.values()):
        fail("search.algorithm", "grid search needs choice/grid domains only")
    if algorithm != "grid" and not space:
        fail("search_space", f"is empty, but {algorithm} search needs at least one search key or arms; to train "
             "the fixed trial once per seed use search: {algorithm: grid}")
    return space


def _sized_conditions(domain: Domain, sized: dict[str, BudgetArm]) -> Domain:
    """``when: {arm: vl-pet}`` -> every ``vl-pet@X``; a searched key that is a solved size is refused."""
    solved = sorted({arm.name for arm in sized.values() if domain.key in arm.keys})
    if solved and "arm" not in domain.when:
        fail(f"search_space.{domain.key}", f"budgets solve {domain.key} for {', '.join(solved)}; searching it would "
             "undo the sizing (condition it on other arms, or leave it to the budgets)")
    if ARM_KEY not in domain.when:
        return domain
    wanted = condition_arms(domain.when[ARM_KEY], sized)
    clash = [name for name in wanted if name in sized and domain.key in sized[name].keys]
    if clash:
        fail(f"search_space.{domain.key}", f"budgets solve {domain.key} for {', '.join(clash)}; searching it would "
             "undo the sizing")
    return dataclasses.replace(domain, when={**domain.when, ARM_KEY: wanted})


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
            config = TrialConfig.from_dict(spec.compose_trial(values, spec.seeds[0]))
            _check_data_source(config)
            _check_sized(spec, values, config)
        except ConfigError as error:
            where = f"search_space: the combination {show(values)} gives an impossible trial" if values else "trial"
            raise ConfigError(f"{where}: {error}") from None
        _check_reported(spec, config)


def _structure(config: TrialConfig) -> tuple:
    """What decides a trial's parameter count: the backbone, the visual input and the PET settings."""
    return config.backbone, config.visual_feat_dim, config.visual_grid, config.pet_settings()


def _check_sized(spec: StudySpec, values: dict[str, Any], config: TrialConfig) -> None:
    """A sized arm's trials keep the size it was solved at: no searched or smoke key may change the model."""
    arm = values.get(ARM_KEY)
    if arm not in spec.sized_arms:
        return
    solved = TrialConfig.from_dict({**spec.trial, **spec.arms[arm], "seed": config.seed})
    if _structure(solved) != _structure(config):
        raise ConfigError(f"arm {arm} was sized to its budget with the study's trial keys, but these keys change "
                          "its model (its parameter count): with budgets, search only training keys such as lr, "
                          "and make model choices arms of their own")


def _check_resources(resources: ResourcesSpec) -> None:
    """A trial's process trains on its CPUs: zero CPUs per worker validates in Ray's own terms, then crashes."""
    if resources.cpus_per_worker <= 0:
        fail("resources.cpus_per_worker", f"must be above 0 (fractions such as 0.5 are allowed), got "
             f"{resources.cpus_per_worker}: every worker trains in a process that needs CPU time")


def _check_data_source(config: TrialConfig) -> None:
    """No ``data_dir`` means the task's own default location; only some tasks have one (the quickstart)."""
    if config.data_dir is None:
        for task in config.tasks:
            if get_task(task).default_root is None:
                raise ConfigError(f"data_dir: task {task!r} has no default location and every trial would fail; "
                                  "set data_dir to the root of the VL-Adapter datasets/ layout (data_formats.md)")


def _check_reported(spec: StudySpec, config: TrialConfig) -> None:
    """The objectives and the scheduler's metric are among what every trial reports (vlpet.study.reported)."""
    wanted = {f"objectives.{name}": name for name in spec.objectives}
    if spec.scheduler.metric is not None:
        wanted["scheduler.metric"] = spec.scheduler.metric
    for where, name in wanted.items():
        if unreported(config, [name]):
            fail(where, f"no trial reports {name!r}, so the study would stop at its first evaluation; trials of "
                 f"task {config.task} report: {describe(config)} (test_* metrics never reach the searcher)")


def check_local_data(spec: StudySpec, num_cpus: int | None = None) -> None:
    """Every ``data_dir`` the study's trials can use exists on this machine and holds its tasks' annotations, and
    one trial fits this machine (``num_cpus``: the embedded Ray's CPUs, default all). For studies whose trials
    train here (``vlpet validate``, ``vlpet run`` without ``--address``); a cluster's nodes may differ."""
    check_local_resources(spec, num_cpus)
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
        _check_task_files(spec, where, value)


def _check_task_files(spec: StudySpec, where: str, data_dir: Any) -> None:
    """The annotations of each task a trial with this ``data_dir`` trains exist under it."""
    if not isinstance(data_dir, str) or data_dir.lower() in ("none", "null"):
        return
    domain = spec.search_space.get("task")
    written = [keys.get("task") or spec.trial.get("task") for keys in (spec.trial, *spec.arms.values())]
    written += list(domain.values) if domain else []
    tasks = {task.strip() for value in written for task in str(value or TrialConfig().task).split(",")}
    for task in sorted(tasks - {""}):
        path = get_task(task).annotations(data_dir)
        if not path.exists():
            fail(where, f"directory {show(data_dir)} has no {path.relative_to(data_dir)} for task {task!r} "
                 "(the VL-Adapter datasets/ layout, data_formats.md), so every trial would fail")


def check_local_resources(spec: StudySpec, num_cpus: int | None = None) -> None:
    """One trial's CPUs and GPUs fit the embedded Ray on this machine (else Ray waits for them for ever)."""
    res = spec.resources
    cpus = num_cpus or os.cpu_count() or 1
    need = res.workers * res.cpus_per_worker + (TRIAL_DRIVER_CPU if res.workers > 1 else 0)
    hint = "lower resources, or run on a cluster that has them (vlpet validate --cluster, vlpet run --address)"
    if need > cpus:
        fail("resources", f"one trial needs {need:g} CPUs ({res.workers} worker(s) x cpus_per_worker "
             f"{res.cpus_per_worker:g}), more than the {cpus} the embedded Ray has on this machine; {hint}")
    if res.gpus_per_worker > 0:
        gpus = local_gpus()
        if res.workers * res.gpus_per_worker > gpus:
            fail("resources", f"one trial needs {res.workers * res.gpus_per_worker:g} GPUs ({res.workers} worker(s) "
                 f"x gpus_per_worker {res.gpus_per_worker:g}), but this machine has {gpus}; {hint}")


def local_gpus() -> int:
    """CUDA devices this process can use (CUDA_VISIBLE_DEVICES respected), as the embedded Ray would see them."""
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def load_study(path: str | os.PathLike, smoke: bool = False, text: str | None = None) -> StudySpec:
    """Read and validate a study YAML file (or its ``text``, named ``path``); ``smoke`` selects its smoke variant."""
    data = read_yaml_file(path, "study file") if text is None else load_yaml(text, f"study file {path}")
    spec = parse_study(data, str(path))
    return spec.with_smoke() if smoke else spec
