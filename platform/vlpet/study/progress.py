"""The study's one progress display: a line per trial that ends and a running summary, fed by Tune's events.

A driver-side Tune callback (after the study's ledger, so the store already says how each trial ended)::

    trial 3f2a9c1e done     vl-pet small r=32 lr=3.0e-3 · seed 42  vqa_acc 63.20 at step 200  41 s
    study: 3/24 ended (2 done, 1 stopped, 0 failed), 2 running; best seed-mean vqa_acc 63.20 (vl-pet small ...,
           3 seeds); 2 min 13 s elapsed, ~9 min left

The summary follows every trial that ends and, while trials run, at most every ``every_s`` seconds. The time
left is the finished trials' mean wall time times the trials left, over the trials that run at once.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import Any, Callable

from ray.tune import Callback

from vlpet.study.formatting import duration
from vlpet.study.seed_scheduler import member_id
from vlpet.study.store import StudyStore, TrialStatus
from vlpet.study.trial_tag import trial_label

SUMMARY_EVERY_S = 30.0
WORDS = {TrialStatus.TERMINATED: "done", TrialStatus.STOPPED: "stopped", TrialStatus.ERROR: "failed"}


class StudyProgress(Callback):
    """Writes progress lines through ``write`` (one line per call); ``metric`` and ``mode`` are the study's
    primary metric, ``seeds`` its number of seeds. The number of trials is Tune's (this run's: a resumed study
    counts what is left)."""

    def __init__(self, study_dir: str, write: Callable[[str], None], metric: str, mode: str, seeds: int,
                 every_s: float = SUMMARY_EVERY_S, clock: Callable[[], float] = time.time):
        self.study_dir, self.write, self.metric, self.mode, self.seeds = study_dir, write, metric, mode, seeds
        self.every_s, self.clock = every_s, clock
        self.trials = 0
        self.started = self.last_summary = clock()
        self.running: set[str] = set()
        self.concurrent = 1                     # the most trials seen running at once
        self.ended: dict[str, TrialStatus] = {}
        self.walls: list[float] = []
        self.finals: dict[str, dict[str, Any]] = {}     # a finished trial's last evaluation (it never changes)

    def setup(self, total_num_samples: int | None = None, **info) -> None:
        self.trials = int(total_num_samples or 0)
        self.started = self.last_summary = self.clock()

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.running.add(trial.trial_id)
        self.concurrent = max(self.concurrent, len(self.running))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._ended(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._ended(trial, failed=True)

    def on_step(self, iteration, trials, **info) -> None:
        if self.running and self.clock() - self.last_summary >= self.every_s:
            self.summary()

    def _ended(self, trial, failed: bool = False) -> None:
        self.running.discard(trial.trial_id)
        store = StudyStore(self.study_dir)
        try:
            record = store.status(member_id(trial)) or {}
        except Exception:  # noqa: BLE001 - a display never stops the study: the line goes without the record
            record = {}
        status = TrialStatus.ERROR if failed else TrialStatus(record.get("status") or TrialStatus.TERMINATED)
        self.ended[trial.trial_id] = status
        result = trial.last_result or {}
        wall = float(result.get("time_total_s") or 0.0)
        if status is TrialStatus.TERMINATED and wall > 0:
            self.walls.append(wall)
        self.write(trial_line(member_id(trial), status, record, result, self.metric, wall))
        self.summary(store)

    def summary(self, store: StudyStore | None = None) -> None:
        """Write the summary line now."""
        self.last_summary = self.clock()
        counts = defaultdict(int, {s: 0 for s in WORDS})
        for status in self.ended.values():
            counts[status] += 1
        try:
            best = best_seed_mean(store or StudyStore(self.study_dir), self.metric, self.mode, self.seeds,
                                  self.finals)
        except Exception as error:  # noqa: BLE001 - a display never stops the study
            best = f"best seed-mean unknown ({type(error).__name__})"
        elapsed = self.last_summary - self.started
        self.write(f"study: {len(self.ended)}/{self.trials} ended ("
                   + ", ".join(f"{counts[s]} {word}" for s, word in WORDS.items())
                   + f"), {len(self.running)} running; {best}; {duration(elapsed)} elapsed{self._left()}")

    def _left(self) -> str:
        left = self.trials - len(self.ended)
        if not self.walls or left <= 0:
            return ""
        mean = sum(self.walls) / len(self.walls)
        return f", ~{duration(math.ceil(left / self.concurrent) * mean)} left"


def trial_line(trial_id: str, status: TrialStatus, record: dict[str, Any], result: dict[str, Any], metric: str,
               wall: float) -> str:
    """One trial's ending: id, status, configuration label with seed, metric and step, wall time; a failed
    trial's error instead of its metric."""
    label = trial_label(str((record.get("config") or {}).get("method", "")), record.get("sampled") or {},
                        record.get("seed", "?")) if record else "(no record)"
    head = f"trial {trial_id} {WORDS.get(status, str(status).lower()):<7} {label}"
    if status is TrialStatus.ERROR:
        error = (str(record.get("error") or "").strip().splitlines() or ["see the trial's error.txt"])[-1]
        return f"{head}  error: {error[:200]}"
    value = result.get(metric)
    measured = (f"  {metric_name(metric, result)} {value:.2f} at step {result.get('step', '?')}"
                if isinstance(value, (int, float)) and not math.isnan(value) else "  no evaluation")
    return f"{head}{measured}  {duration(wall)}" if wall else f"{head}{measured}"


def best_seed_mean(store: StudyStore, metric: str, mode: str, seeds: int,
                   cache: dict[str, dict[str, Any]] | None = None) -> str:
    """The best configuration whose ``seeds`` seeds all finished, by the mean of their last ``metric``: its
    label. ``cache`` keeps each finished trial's last evaluation between calls."""
    cache = {} if cache is None else cache
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in store.statuses():
        groups[record.get("config_key")].append(record)
    best: tuple[float, str, int, str] | None = None
    for records in groups.values():
        if len(records) < seeds or any(r.get("status") != TrialStatus.TERMINATED for r in records):
            continue
        for record in records:
            if record["trial_id"] not in cache:
                cache[record["trial_id"]] = (store.evaluations(record["trial_id"]) or [{}])[-1]
        finals = [cache[r["trial_id"]] for r in records if cache[r["trial_id"]]]
        values = [row[metric] for row in finals if isinstance(row.get(metric), (int, float))]
        if not values or len(values) < len(records):
            continue
        mean = sum(values) / len(values)
        if best is None or (mean > best[0] if mode == "max" else mean < best[0]):
            label = trial_label(str((records[0].get("config") or {}).get("method", "")),
                                records[0].get("sampled") or {}, 0).rsplit(" · seed", 1)[0]
            best = (mean, label, len(values), metric_name(metric, finals[0]))
    if best is None:
        return "no configuration finished for all its seeds yet"
    mean, label, seeds, name = best
    return f"best seed-mean {name} {mean:.2f} ({label}, {seeds} seed{'s' if seeds > 1 else ''})"


def metric_name(metric: str, row: dict[str, Any]) -> str:
    """``metric`` is the task's own metric under its own name (``vqa_acc``)."""
    return str(row.get("metric_name") or metric) if metric == "metric" else metric
