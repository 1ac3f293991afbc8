"""One row per trial (``load_results``) or per evaluation (``load_curves``) from study directories.

Seeds are counted per configuration: ``seeds_finished`` is how many of a configuration's seeds finished their
budget, and ``complete_group`` says whether that is all of the study's seeds (a seed that failed, or a time
budget that ran out, leaves a partial group). :func:`finished`, and the tables and frontiers built on it, count
complete groups only unless asked (``include_partial``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd

from vlpet.analysis.files import whole
from vlpet.errors import ConfigError
# DEFAULT_OBJECTIVES is the store's, named here too for the analysis functions that default to it.
from vlpet.study.store import DEFAULT_OBJECTIVES, SPEC_FILE, StudyRecord, StudyStore, TrialStatus  # noqa: F401
# Non-metric keys of an evaluation row (everything else numeric is a metric).
ROW_KEYS = {"study", "trial_id", "config_key", "seed", "config", "sampled", "total_steps", "finished", "time",
            "elapsed_s", "checkpoint", "artifact", "metric_name", "epoch", "step"}
BUDGET_KEYS = ("trainable_params", "total_params", "trainable_pct", "adapter_bytes", "quantised_params")
# Costs and counters: only their final value is kept (a "best" of them, taken as the maximum, would mislead).
NOT_SCORES = (*BUDGET_KEYS, "train_step_s", "samples_per_s", "peak_mem_bytes", "n_examples", "startup_s")
SIZED_KEYS = ("budget_target", "budget_unit", "budget_arm")   # vlpet.study.budgets.BUDGET_KEYS, as recorded
PLACEMENT_SHORT = {"encoder": "enc", "decoder": "dec", "cross_attn": "xattn", "self_attn": "sattn", "value": "v"}


def placement_label(placement: Any) -> Any:
    """``[encoder.attn, decoder.cross_attn.value]`` -> ``enc.attn+dec.xattn.v``."""
    if not isinstance(placement, (list, tuple)):
        return placement
    return "+".join(".".join(PLACEMENT_SHORT.get(part, part) for part in site.split(".")) for site in placement)


def _store(study_dir: str) -> StudyStore:
    """The study's store; ConfigError unless it holds study.json, trials/ or results/."""
    store = StudyStore(study_dir)
    if not store.holds_study():
        raise ConfigError(f"{study_dir} is not a study directory (no {SPEC_FILE}, no trials/ or results/)")
    return store


def _study(study_dir: str, store: StudyStore) -> StudyRecord:
    """The study's study.json, or its directory name and the default objectives where it has none (or a damaged
    one, skipped with a warning)."""
    return store.read_study() or StudyRecord.from_json({}, str(study_dir))


@dataclass(frozen=True)
class Source:
    """One study directory to read: its store, its study.json and the label of its rows (``study`` column)."""

    study_dir: str
    store: StudyStore
    record: StudyRecord
    label: str


def sources(study_dirs: Iterable[str]) -> list[Source]:
    """The distinct studies among ``study_dirs``: a directory given twice (or under another spelling, a symlink,
    a ``file://`` URI) is read once; studies of different directories that share a name are labelled apart
    (``quickstart``, ``quickstart (2)``) so that their trials are never pooled."""
    found: list[Source] = []
    seen, labels = set(), set()
    for study_dir in study_dirs:
        store = _store(study_dir)
        identity = _identity(store)
        if identity in seen:
            continue
        seen.add(identity)
        record = _study(study_dir, store)
        label, copy = record.name, 1
        while label in labels:
            copy += 1
            label = f"{record.name} ({copy})"
        labels.add(label)
        found.append(Source(str(study_dir), store, record, label))
    return found


def _identity(store: StudyStore) -> tuple:
    """What tells two study directories apart: the local directory's device and inode (so that any spelling of
    it is the same study), else the filesystem and its normalised path."""
    if store.local:
        try:
            stat = os.stat(store.root)
            return stat.st_dev, stat.st_ino
        except OSError:
            return ("local", os.path.realpath(store.root))
    return store.fs.type_name, store.root.rstrip("/")


def skipped_files(found: list[Source]) -> list[dict[str, str]]:
    """The damaged files the reads of ``found`` skipped: one ``{study, file, reason}`` each."""
    return [{"study": s.label, "file": path, "reason": reason}
            for s in found for path, reason in s.store.skipped().items()]


def _check_usable(source: Source, statuses: list, rows: list) -> None:
    """ConfigError where damaged files leave nothing sensible: every evaluation file, or every file, skipped."""
    skipped = source.store.skipped()
    lost_evaluations = any("/eval_" in path for path in skipped) and not rows
    if skipped and (lost_evaluations or not (rows or statuses)):
        path, reason = next(iter(skipped.items()))
        what = "evaluation" if lost_evaluations else "trial record or evaluation"
        raise ConfigError(f"{source.study_dir}: no readable {what} left ({len(skipped)} damaged file(s) skipped, "
                          f"e.g. {path}: {reason})")


def read_objectives(study_dir: str) -> dict[str, str]:
    """The study's objectives ``{metric: "max"|"min"}`` (the defaults where its study.json names none)."""
    return dict(_study(study_dir, _store(study_dir)).objectives)


TEST_PREFIX = "test_"  # the held-out split's metrics (the trial key test_checkpoint chooses what is tested)


def reported_column(frame: pd.DataFrame, column: str) -> str:
    """``test_<column>`` when the frame holds that held-out test metric, else ``column``: validation selects, test
    reports, so tables and frontiers show test numbers wherever the trials produced them."""
    test = TEST_PREFIX + column
    return test if test in frame.columns and frame[test].notna().any() else column


def reported_objectives(frame: pd.DataFrame, objectives: dict[str, str]) -> dict[str, str]:
    """The objectives with each metric replaced by its test column where the frame has one."""
    return {reported_column(frame, column): direction for column, direction in objectives.items()}


def _trial_row(study: str, status: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    config = dict((rows[-1]["config"] if rows else status.get("config")) or {})
    sampled = dict((rows[-1].get("sampled") if rows else status.get("sampled")) or {})
    record: dict[str, Any] = {"study": study, "trial_id": status.get("trial_id") or rows[-1]["trial_id"]}
    record.update({k: v for k, v in config.items()})
    record["placement"] = placement_label(config.get("placement"))
    record["arm"] = sampled.get("arm", config.get("method"))
    record["config_key"] = status.get("config_key") or (rows[-1]["config_key"] if rows else None)
    record["seed"] = status.get("seed", config.get("seed"))
    record["sampled"] = ", ".join(f"{k}={placement_label(v)}" for k, v in sampled.items())
    record["setting"] = ", ".join(f"{k}={placement_label(v)}" for k, v in sampled.items()
                                  if k not in ("arm", "seed", *SIZED_KEYS)) or "–"
    # a sized arm's budget target (vlpet.study.budgets): None for trials of studies without budgets
    record.update({key: sampled.get(key) for key in SIZED_KEYS})
    state = status.get("status") or (TrialStatus.RUNNING if rows else TrialStatus.PENDING).value
    record.update(status=state, error=status.get("error"), finished=bool(rows) and bool(rows[-1].get("finished")))
    if rows:
        last = rows[-1]
        record["metric_name"] = last.get("metric_name")
        for key, value in last.items():
            if key not in ROW_KEYS and (isinstance(value, (int, float)) or value is None) and not isinstance(value, bool):
                record[key] = value
                values = [r.get(key) for r in rows if isinstance(r.get(key), (int, float))]
                if key not in NOT_SCORES and values:
                    record[f"{key}_best"] = max(values)
        record.update(step=last.get("step"), epoch=last.get("epoch"), total_steps=last.get("total_steps"),
                      checkpoint=last.get("checkpoint"))
    # the durable copy of the weights the trial is judged by (vlpet.study.worker.keep_artifact)
    record["artifact"] = (rows[-1].get("artifact") if rows else None) or status.get("artifact")
    started, ended = status.get("started"), status.get("ended")
    wall = (ended - started) if started and ended else (rows[-1].get("elapsed_s") if rows else None)
    resources = status.get("resources") or {}
    workers = float(resources.get("workers", 1) or 1)
    record["wall_s"] = wall
    record["cpu_hours"] = wall * workers * float(resources.get("cpus_per_worker", 1)) / 3600 if wall else None
    record["gpu_hours"] = wall * workers * float(resources.get("gpus_per_worker", 0)) / 3600 if wall else None
    record["startup_s"] = status.get("startup_s")
    record["ended"] = ended                                  # unix seconds; the order tuning curves spend compute in
    return record


def load_results(*study_dirs: str, strict: bool = True) -> pd.DataFrame:
    """Every trial of the given studies, one row each (a ``study`` column tells them apart; see :func:`sources`).

    Damaged files are skipped with a warning and listed in ``frame.attrs["skipped"]``; where they leave a study
    nothing to show (no readable evaluation at all) this stops with a ConfigError, unless ``strict`` is False
    (the report page, which always renders and says what it skipped)."""
    if not study_dirs:
        raise ConfigError("give at least one study directory")
    records = []
    found = sources(study_dirs)
    for source in found:
        statuses = {s["trial_id"]: s for s in source.store.statuses()}
        evaluations: dict[str, list] = {}
        for row in source.store.evaluations():
            evaluations.setdefault(row["trial_id"], []).append(row)
        if strict:
            _check_usable(source, list(statuses), list(evaluations))
        trials = [_trial_row(source.label, statuses.get(trial_id, {"trial_id": trial_id}),
                             sorted(evaluations.get(trial_id, []), key=lambda r: r["step"]))
                  for trial_id in sorted(set(statuses) | set(evaluations))]
        records += _count_seeds(trials, len(source.record.seeds))
    frame = pd.DataFrame.from_records(records)
    frame.attrs["skipped"] = skipped_files(found)
    return frame


def _count_seeds(trials: list[dict[str, Any]], seeds: int) -> list[dict[str, Any]]:
    """Mark each trial with its configuration's finished seeds (``seeds_finished``) and whether they are all the
    study's ``seeds`` (``complete_group``; a study.json that names no seeds counts any finished seed as complete)."""
    done: dict[Any, set] = {}
    for trial in trials:
        if trial["finished"]:
            done.setdefault(trial["config_key"], set()).add(trial["seed"])
    for trial in trials:
        trial["seeds_finished"] = len(done.get(trial["config_key"], ()))
        trial["complete_group"] = trial["seeds_finished"] >= max(seeds, 1)
    return trials


def finished(frame: pd.DataFrame, include_unfinished: bool = False, include_partial: bool = False) -> pd.DataFrame:
    """Trials that completed their budget, of configurations whose every seed did (all reported trials with
    ``include_unfinished``; finished trials of partial groups too with ``include_partial``)."""
    if frame.empty:
        return frame
    if include_unfinished:
        return frame[frame["metric"].notna()] if "metric" in frame else frame.iloc[0:0]
    rows = frame[frame["finished"].astype(bool)]
    if include_partial or "complete_group" not in rows:
        return rows
    return rows[rows["complete_group"].astype(bool)]


def load_curves(*study_dirs: str) -> pd.DataFrame:
    """Every readable evaluation of every trial: one row per (trial, step), for metric-vs-step plots."""
    records = []
    found = sources(study_dirs)
    for source in found:
        for row in source.store.evaluations():
            flat = {k: v for k, v in row.items() if k not in ("config", "sampled")}
            sampled = row.get("sampled") or {}
            flat.update(study=source.label, arm=sampled.get("arm", (row.get("config") or {}).get("method")),
                        label=", ".join(f"{k}={placement_label(v)}" for k, v in sampled.items()))
            records.append(flat)
    frame = pd.DataFrame.from_records(records)
    frame.attrs["skipped"] = skipped_files(found)
    return frame


def export_frame(frame: pd.DataFrame, path: str) -> str:
    """Write a frame as CSV or Parquet (by the file's extension)."""
    with whole(path) as temporary:
        if path.endswith(".parquet"):
            frame.to_parquet(temporary, index=False)
        else:
            frame.to_csv(temporary, index=False)
    return path


def columns_exist(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"unknown {what} column(s) {missing}; available: {', '.join(map(str, frame.columns))}")
