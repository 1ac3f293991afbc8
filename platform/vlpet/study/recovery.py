"""What a resumed study continues from, read from vlpet's own store only: nothing in the directory is unpickled.

:func:`recovery_plan` reads the study's trial records and evaluations (JSON) and sorts its configurations:

* *decided*: every seed ended (finished its budget, stopped by the scheduler, or failed). The searcher is told
  their seed means again (a repeat is answered from them) and they never run again;
* *open*: some seed did not end (its driver died while it ran, or it never started). Each such seed continues
  under its own trial id, from the newest complete PET checkpoint its Tune trials left under ``tune/`` (read as
  safetensors, JSON and ``torch.load(weights_only=True)``), or from scratch when it has none; seeds of the
  configuration that ended are kept as they are.

It also carries every stored evaluation (``history``) so the seed-grouped scheduler replays its rung decisions
instead of reading a pickled state, and :func:`repair_optuna` hands the Optuna study's trials that were running
when the driver died back to its queue (Optuna's own storage, found next to the study: a moved or copied study
uses its own ``optuna.db``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs

from vlpet.study.space import encode_point
from vlpet.study.spec import StudySpec
from vlpet.study.store import StudyStore, TrialStatus

TUNE_DIR = "tune"
TRIAL_DIR_PREFIX = "study_trial_"          # Tune names a trial's directory after the trainable: study_trial_<id>_…
CHECKPOINT_DIR = re.compile(r"checkpoint_\d+")
CHECKPOINT_FILES = ("pet.safetensors", "trainer_state.pt", "progress.json")   # vlpet.train.checkpoint's files
INTERRUPTED = "interrupted"                # how the runner marks a trial its driver did not see end


@dataclass(frozen=True)
class SeedRun:
    """One seed of an open configuration as the store left it."""

    seed: int
    trial_id: str | None = None            # its store trial id (None: never started)
    checkpoint: str | None = None          # the checkpoint it continues from (a path or URI), None: from scratch
    result: dict[str, float] | None = None  # the objectives it last reported
    ended: bool = False                    # finished, stopped or failed: it does not run again
    failed: bool = False

    def tune_keys(self) -> dict[str, Any]:
        """What the Tune trial's config carries besides the configuration: the seed, and for a seed that ran
        before, the store id it keeps and where it continues from (read by vlpet.study.trainable)."""
        keys: dict[str, Any] = {"seed": self.seed}
        if self.trial_id:
            keys["_trial_id"] = self.trial_id
        if self.checkpoint:
            keys["_resume_from"] = self.checkpoint
        return keys


@dataclass(frozen=True)
class OpenConfiguration:
    config: dict[str, Any]                 # as the searcher suggests it (list values joined), no seed
    seeds: tuple[SeedRun, ...]

    @property
    def to_run(self) -> list[SeedRun]:
        return [s for s in self.seeds if not s.ended]


@dataclass(frozen=True)
class Member:
    """A stored seed trial, for the scheduler's replay."""

    trial_id: str
    config: dict[str, Any]                 # the searcher's configuration plus ``seed``
    ended: bool
    failed: bool


@dataclass
class RecoveryPlan:
    decided: dict[str, dict[str, float]] = field(default_factory=dict)   # configuration id -> seed means ({}: failed)
    decided_configs: list[dict[str, Any]] = field(default_factory=list)
    open: dict[str, OpenConfiguration] = field(default_factory=dict)     # configuration id -> its seeds
    members: list[Member] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)          # every evaluation, oldest first

    def tune_trials(self, configurations: int, seeds: int) -> int:
        """Tune trials still to run when the study's search asks for ``configurations`` in all."""
        fresh = max(0, configurations - len(self.decided) - len(self.open))
        return sum(len(c.to_run) for c in self.open.values()) + fresh * seeds


def configuration_id(config: dict[str, Any]) -> str:
    """The searcher's configuration (seed and vlpet's private keys left out) as one comparable string."""
    return json.dumps({k: v for k, v in config.items() if k != "seed" and not k.startswith("_")}, sort_keys=True,
                      default=str)


def recovery_plan(spec: StudySpec, study_dir: str) -> RecoveryPlan:
    store = StudyStore(study_dir)
    objectives = list(spec.objectives)
    evaluations: dict[str, list[dict[str, Any]]] = {}
    for row in store.evaluations():
        evaluations.setdefault(str(row.get("trial_id")), []).append(row)
    plan = RecoveryPlan()
    by_configuration: dict[str, dict[int, dict[str, Any]]] = {}
    configs: dict[str, dict[str, Any]] = {}
    for record in sorted(store.statuses(), key=lambda r: r.get("started") or 0):
        if not isinstance(record.get("sampled"), dict) or record.get("seed") is None:
            continue                                           # never started training: nothing to keep
        config = encode_point(record["sampled"])
        key = configuration_id(config)
        configs[key] = config
        by_configuration.setdefault(key, {})[int(record["seed"])] = record   # the latest attempt per seed
    for key, seeds in by_configuration.items():
        runs = [_seed_run(store, record, evaluations.get(record["trial_id"], []), objectives)
                for record in seeds.values()]
        runs += [SeedRun(seed=s) for s in spec.seeds if s not in seeds]
        runs.sort(key=lambda r: list(spec.seeds).index(r.seed) if r.seed in spec.seeds else len(spec.seeds))
        plan.members += [Member(r.trial_id, {**configs[key], "seed": r.seed}, r.ended, r.failed)
                         for r in runs if r.trial_id]
        if all(r.ended for r in runs):
            usable = [r.result for r in runs if not r.failed and r.result and all(m in r.result for m in objectives)]
            plan.decided[key] = ({m: sum(r[m] for r in usable) / len(usable) for m in objectives} if usable else {})
            plan.decided_configs.append(configs[key])
        else:
            plan.open[key] = OpenConfiguration(configs[key], tuple(runs))
    for trial_id, rows in evaluations.items():
        plan.history += [{**row, "trial_id": trial_id} for row in rows]
    plan.history.sort(key=lambda r: (r.get("time") or 0, r.get("step") or 0))
    return plan


def _seed_run(store: StudyStore, record: dict[str, Any], rows: list[dict[str, Any]], objectives: list[str]) -> SeedRun:
    status = TrialStatus(record["status"])
    interrupted = status is TrialStatus.STOPPED and str(record.get("error") or "").startswith(INTERRUPTED)
    last = rows[-1] if rows else {}
    # A seed whose evaluation that ends its budget is stored did all its work, even if its driver died before
    # recording the end: it is finished, not resumed (its checkpoint has nothing left to train).
    ended = (status.ended and not interrupted) or bool(last.get("finished"))
    result = {m: float(last[m]) for m in objectives if isinstance(last.get(m), (int, float))} or None
    checkpoint = None if ended else latest_checkpoint(store, record.get("tune_trials") or [record["trial_id"]])
    return SeedRun(seed=int(record["seed"]), trial_id=record["trial_id"], checkpoint=checkpoint, result=result,
                   ended=ended, failed=status is TrialStatus.ERROR and not last.get("finished"))


def latest_checkpoint(store: StudyStore, tune_ids: list[str]) -> str | None:
    """The newest complete vlpet checkpoint that Tune trials ``tune_ids`` reported (a path or URI), or None."""
    root = store.root.rstrip("/") + "/" + TUNE_DIR
    entries = store.fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    prefixes = tuple(f"{TRIAL_DIR_PREFIX}{tid}_" for tid in tune_ids)
    best: tuple[int, str] | None = None
    for trial_dir in entries:
        if trial_dir.type != pafs.FileType.Directory or not trial_dir.base_name.startswith(prefixes):
            continue
        for checkpoint in store.fs.get_file_info(pafs.FileSelector(trial_dir.path, allow_not_found=True)):
            if checkpoint.type != pafs.FileType.Directory or not CHECKPOINT_DIR.fullmatch(checkpoint.base_name):
                continue
            step = _complete_step(store, checkpoint.path)
            if step is not None and (best is None or step > best[0]):
                best = (step, checkpoint.path)
    if best is None:
        return None
    return best[1] if store.local else f"{store.location.split('://', 1)[0]}://{best[1]}"


def _complete_step(store: StudyStore, directory: str) -> int | None:
    infos = store.fs.get_file_info([f"{directory}/{name}" for name in CHECKPOINT_FILES])
    if any(info.type != pafs.FileType.File for info in infos):
        return None
    try:
        with store.fs.open_input_stream(f"{directory}/progress.json") as stream:
            step = json.loads(stream.read().decode()).get("step")
    except (OSError, ValueError, AttributeError):
        return None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def repair_optuna(storage_url: str, study_name: str) -> int:
    """Optuna trials left RUNNING by a dead driver go back to the queue with the same parameters (and are
    marked FAIL, the only end state Optuna allows for them); returns how many. Missing study: 0."""
    import optuna

    storage = optuna.storages.RDBStorage(storage_url)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return 0
    study_id = storage.get_study_id_from_name(study_name)
    stale = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in stale:
        study.enqueue_trial(dict(trial.params), skip_if_exists=False)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_system_attr(trial_id, "vlpet", "interrupted: its driver died; re-queued on resume")
        storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
    return len(stale)
