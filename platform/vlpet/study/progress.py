"""The study's one progress display: a line per trial that ends and a running summary, fed by Tune's events.

A driver-side Tune callback (after the study's ledger, so the store already says how each trial ended)::

    trial 3f2a9c1e done     vl-pet small r=32 lr=3.0e-3 · seed 42  vqa_acc 63.20 at step 200  41 s
    study: 3/24 ended (2 done, 1 stopped, 0 failed), 2 running; best seed-mean vqa_acc 63.20 (vl-pet small ...,
           3 seeds); 2 min 13 s elapsed, ~9 min left

The summary follows every trial that ends and, while trials run, at most every ``every_s`` seconds. The time
left is the finished trials' mean wall time times the trials left, over the trials that run at once. A display
call that fails is one warning line, then the display is off and the study goes on (vlpet.study.watch_guard).
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from typing import Any, Callable

from ray.tune import Callback

from vlpet.study.formatting import duration
from vlpet.study.seed_scheduler import member_id
from vlpet.study.store import StudyStore, TrialStatus
from vlpet.study.trial_tag import trial_label
from vlpet.study.watch_guard import never_stops_the_study

SUMMARY_EVERY_S = 30.0
WORDS = {TrialStatus.TERMINATED: "done", TrialStatus.STOPPED: "stopped", TrialStatus.ERROR: "failed"}
_log = logging.getLogger("vlpet.progress")       # unconfigured: Python prints the warning as a bare line on stderr
_guard = never_stops_the_study("the progress display", _log)


class StudyProgress(Callback):
    """Writes progress lines through ``write`` (one line per call); ``metric`` and ``mode`` are the study's
    primary metric, ``seeds`` its number of seeds. The number of trials is Tune's (this run's: a resumed study
    counts what is left).

    Store reads stay off the size of the study: the study's status records are read once at setup (a resumed
    study's earlier trials), then each ending reads its own record and, when it completes a configuration, that
    configuration's last evaluations, once each. The summary every ``every_s`` seconds reads nothing."""

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
        self.off = False                        # set by the guard when a display call failed
        self.groups: SeedGroups | None = None   # made in setup: Tune pickles its callbacks first

    @_guard
    def setup(self, total_num_samples: int | None = None, **info) -> None:
        self.trials = int(total_num_samples or 0)
        self.started = self.last_summary = self.clock()
        self.groups = SeedGroups(StudyStore(self.study_dir))
        self.groups.read_all()

    @_guard
    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.running.add(trial.trial_id)
        self.concurrent = max(self.concurrent, len(self.running))

    @_guard
    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._ended(trial)

    @_guard
    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._ended(trial, failed=True)

    @_guard
    def on_step(self, iteration, trials, **info) -> None:
        if self.running and self.clock() - self.last_summary >= self.every_s:
            self.summary()

    def _ended(self, trial, failed: bool = False) -> None:
        self.running.discard(trial.trial_id)
        record = self._groups().read(member_id(trial))
        status = TrialStatus.ERROR if failed else TrialStatus(record.get("status") or TrialStatus.TERMINATED)
        self.ended[trial.trial_id] = status
        result = trial.last_result or {}
        wall = float(result.get("time_total_s") or 0.0)
        if status is TrialStatus.TERMINATED and wall > 0:
            self.walls.append(wall)
        self.write(trial_line(member_id(trial), status, record, result, self.metric, wall))
        self.summary()

    def _groups(self) -> SeedGroups:
        if self.groups is None:                 # a callback used without Tune's setup (tests, tools)
            self.groups = SeedGroups(StudyStore(self.study_dir))
        return self.groups

    def summary(self) -> None:
        """Write the summary line now."""
        self.last_summary = self.clock()
        counts = defaultdict(int, {s: 0 for s in WORDS})
        for status in self.ended.values():
            counts[status] += 1
        best = self._groups().best(self.metric, self.mode, self.seeds)
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


class SeedGroups:
    """The study's trial status records by configuration, kept as trials end, and each finished trial's last
    evaluation (it never changes), read once. A store that cannot be read never stops the study: the record is
    missing from the line, or the best seed-mean says it is unknown."""

    def __init__(self, store: StudyStore):
        self.store = store
        self.records: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)   # config key -> trial id -> record
        self.finals: dict[str, dict[str, Any]] = {}
        self.error: str | None = None           # why the last read failed, until one succeeds
        self.unread: set[str] = set()           # trials whose record could not be read: tried again by best()

    def read_all(self) -> None:
        """Every stored status record (once, when the study starts: a resumed study's ended trials count)."""
        for record in self._reading(self.store.statuses) or []:
            self.add(record)

    def read(self, trial_id: str) -> dict[str, Any]:
        """Trial ``trial_id``'s record, read now and kept; ``{}`` when it cannot be read."""
        record = self._reading(self.store.status, trial_id)
        if record:
            self.add(record)
        elif self.error:                        # unreadable now (not merely absent): try again later
            self.unread.add(trial_id)
        return record or {}

    def add(self, record: dict[str, Any]) -> None:
        self.records[record.get("config_key")][record["trial_id"]] = record

    def best(self, metric: str, mode: str, seeds: int) -> str:
        """:func:`best_seed_mean` of the groups kept so far."""
        for trial_id in list(self.unread):
            self.unread.discard(trial_id)
            self.read(trial_id)
        text = best_seed_mean([list(group.values()) for group in self.records.values()], self.final, metric,
                              mode, seeds)
        return f"best seed-mean unknown ({self.error})" if self.error and text.startswith("no ") else text

    def final(self, trial_id: str) -> dict[str, Any]:
        if trial_id not in self.finals:
            rows = self._reading(self.store.evaluations, trial_id)
            if rows is None:
                return {}                       # not kept: read again at the next summary
            self.finals[trial_id] = (rows or [{}])[-1]
        return self.finals[trial_id]

    def _reading(self, read: Callable, *args):
        try:
            found = read(*args)
        except Exception as error:  # noqa: BLE001 - a display never stops the study
            self.error = type(error).__name__
            return None
        self.error = None
        return found


def best_seed_mean(groups: list[list[dict[str, Any]]], final: Callable[[str], dict[str, Any]], metric: str,
                   mode: str, seeds: int) -> str:
    """The best configuration whose ``seeds`` seeds all finished, by the mean of their last ``metric``: its
    label. ``groups`` holds each configuration's status records; ``final(trial_id)`` is a finished trial's last
    evaluation (read only for configurations whose seeds all finished)."""
    best: tuple[float, str, int, str] | None = None
    for records in groups:
        if len(records) < seeds or any(r.get("status") != TrialStatus.TERMINATED for r in records):
            continue
        finals = [row for row in (final(r["trial_id"]) for r in records) if row]
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


def metric_name(metric: str, row: dict[str, Any]) -> str:
    """``metric`` is the task's own metric under its own name (``vqa_acc``)."""
    return str(row.get("metric_name") or metric) if metric == "metric" else metric
