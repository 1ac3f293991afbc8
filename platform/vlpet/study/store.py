"""The study's own durable results store (Tune's result files are not trusted: see field_notes §3c).

Layout under the study directory (a local/shared path or a cloud URI, through ``pyarrow.fs``)::

    results/<trial_id>/eval_<step:08d>.json   one evaluation: config, seed, metrics, finished flag
    trials/<trial_id>.json                     the trial's status record (a TrialStatus and its details)
    study.json                                 the study as started (StudyRecord): what resume and analysis read

Every file is written whole: on a local filesystem under a temporary name and renamed, on object stores as
one put. A trial's evaluations are never rewritten, so nothing finished is lost when a driver or worker dies.

Evaluation row keys: ``study``, ``trial_id``, ``config_key`` (the sampled configuration without the seed),
``seed``, ``config`` (the full TrialConfig as a dict), ``sampled`` (the searched keys and their values),
every metric the trial reported (``metric``, ``metric_name``, per-task metrics, ``trainable_params``,
``total_params``, ``trainable_pct``, ``train_step_s``, ``samples_per_s``, ``peak_mem_bytes``, ``epoch``,
``step``), ``total_steps`` (the trial's budget), ``finished`` (this evaluation ends the budget), ``time`` (unix
seconds), ``elapsed_s`` (seconds since the trial's first start) and ``checkpoint``.

Status record keys: ``trial_id``, ``status``, ``error``, ``config_key``, ``seed``, ``config``, ``sampled``,
``resources`` (workers, cpus_per_worker, gpus_per_worker), ``started``, ``ended``, ``restarts``, and what the
worker notes (``pid``, ``host``, ``resumed_from_step``, ``startup_s``, ``reused_process``). Statuses change only
through the transitions below (``mark_running``, ``mark_finished``, ``mark_stopped``, ``mark_failed``).
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import os
import time
import types
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import pyarrow.fs as pafs

RESULTS = "results"
TRIALS = "trials"
SPEC_FILE = "study.json"     # the validated study, written by the runner (see vlpet.study.runner)
# A study's objectives when it names none: the primary task metric up, the trainable share of parameters down.
DEFAULT_OBJECTIVES: Mapping[str, str] = types.MappingProxyType({"metric": "max", "trainable_pct": "min"})


class TrialStatus(enum.StrEnum):
    """A trial's state in ``trials/<trial_id>.json``; the values are the strings on disk."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    TERMINATED = "TERMINATED"   # ended its budget
    STOPPED = "STOPPED"         # stopped before its budget: by the scheduler, the time budget or a dead driver
    ERROR = "ERROR"             # failed: a diverged loss, bad data, or a process that kept dying

    @property
    def ended(self) -> bool:
        return self in (TrialStatus.TERMINATED, TrialStatus.STOPPED, TrialStatus.ERROR)


@dataclass(frozen=True)
class StudyRecord:
    """What ``study.json`` holds: the study as it was started, for resume (``source``) and analysis."""

    name: str
    objectives: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_OBJECTIVES))
    smoke: bool = False                                      # the study's smoke variant was run
    source: dict[str, Any] = field(default_factory=dict)     # the validated study YAML mapping
    optuna_study_name: str | None = None
    seeds: tuple[int, ...] = ()
    created: float | None = None                             # unix seconds

    @classmethod
    def from_json(cls, payload: Mapping[str, Any], location: str = "") -> "StudyRecord":
        """Read a stored ``study.json``; keys it lacks take their defaults (the name: the directory's)."""
        return cls(name=payload.get("name") or os.path.basename(os.path.normpath(location)),
                   objectives=dict(payload.get("objectives") or DEFAULT_OBJECTIVES),
                   smoke=bool(payload.get("smoke")), source=dict(payload.get("source") or {}),
                   optuna_study_name=payload.get("optuna_study_name"), seeds=tuple(payload.get("seeds") or ()),
                   created=payload.get("created"))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "objectives": dict(self.objectives), "smoke": self.smoke, "source": self.source,
                "optuna_study_name": self.optuna_study_name, "seeds": list(self.seeds), "created": self.created}


def config_key(sampled: dict[str, Any]) -> str:
    """A short stable id of a sampled configuration (seed excluded), shared by its seed repeats."""
    text = json.dumps({k: v for k, v in sorted(sampled.items()) if k != "seed"}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def json_safe(value: Any) -> Any:
    """JSON has no NaN: non-finite floats become None so every reader can parse the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def is_uri(location: str | os.PathLike) -> bool:
    """Whether ``location`` names a URI (``s3://…``, ``file://…``, ``http://…``) rather than a plain path."""
    return "://" in str(location)


class StudyStore:
    """Reads and writes a study directory's evaluation rows and trial status records."""

    def __init__(self, location: str | os.PathLike):
        location = str(location)
        if not is_uri(location):
            location = os.path.abspath(location)
        self.location = location
        self.fs, self.root = pafs.FileSystem.from_uri(location) if is_uri(location) else (pafs.LocalFileSystem(), location)
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    def _path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def _write_json(self, path: str, payload: dict[str, Any]) -> None:
        data = json.dumps(json_safe(payload), sort_keys=True, allow_nan=False).encode()
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        if not self.local:
            with self.fs.open_output_stream(path) as stream:
                stream.write(data)
            return
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def _read_json(self, path: str) -> dict[str, Any]:
        with self.fs.open_input_stream(path) as stream:
            return json.loads(stream.read().decode())

    def _list(self, directory: str, recursive: bool = False) -> list[str]:
        selector = pafs.FileSelector(self._path(directory), allow_not_found=True, recursive=recursive)
        return sorted(info.path for info in self.fs.get_file_info(selector)
                      if info.type == pafs.FileType.File and info.path.endswith(".json"))

    def append_evaluation(self, trial_id: str, row: dict[str, Any]) -> None:
        """Store one evaluation of a trial (idempotent per step: a resumed trial rewrites the same file)."""
        self._write_json(self._path(RESULTS, trial_id, f"eval_{int(row['step']):08d}.json"), {**row, "trial_id": trial_id})

    def write_status(self, trial_id: str, record: dict[str, Any]) -> None:
        """Write a trial's whole status record (the transitions below are the usual way in)."""
        try:
            status = TrialStatus(record.get("status"))
        except ValueError:
            raise ValueError(f"status must be one of {[s.value for s in TrialStatus]}, "
                             f"got {record.get('status')!r}") from None
        self._write_json(self._path(TRIALS, f"{trial_id}.json"), {**record, "status": status.value,
                                                                   "trial_id": trial_id})

    def _update(self, trial_id: str, **changes: Any) -> dict[str, Any]:
        record = {**(self.status(trial_id) or {}), **changes}
        self.write_status(trial_id, record)
        return record

    def mark_running(self, trial_id: str, **details: Any) -> dict[str, Any]:
        """A trial (re)starts: RUNNING with ``details`` (config, sampled, seed…); its first start is kept and
        its restarts counted. Returns the record."""
        previous = self.status(trial_id) or {}
        record = {**previous, **details, "status": TrialStatus.RUNNING, "error": None,
                  "started": previous.get("started") or time.time(), "restarts": int(previous.get("restarts", -1)) + 1}
        self.write_status(trial_id, record)
        return record

    def mark_finished(self, trial_id: str) -> None:
        """The trial ended its budget."""
        self._update(trial_id, status=TrialStatus.TERMINATED, ended=time.time())

    def mark_stopped(self, trial_id: str, reason: str | None = None) -> None:
        """The trial ended before its budget; ``reason`` is recorded as its error where it was cut off."""
        changes = {"error": reason} if reason else {}
        self._update(trial_id, status=TrialStatus.STOPPED, ended=time.time(), **changes)

    def mark_failed(self, trial_id: str, error: str) -> None:
        """The trial failed for ``error`` (shown to the user as the reason)."""
        self._update(trial_id, status=TrialStatus.ERROR, error=error, ended=time.time())

    def annotate(self, trial_id: str, **details: Any) -> None:
        """Add details to a trial's record (process, start-up, restore step) without changing its status."""
        if "status" in details:
            raise ValueError("annotate does not change a status: use mark_running/finished/stopped/failed")
        self._update(trial_id, **details)

    def _read_if_present(self, path: str) -> dict[str, Any] | None:
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        return self._read_json(path)

    def status(self, trial_id: str) -> dict[str, Any] | None:
        """The trial's status record, or None before it started."""
        return self._read_if_present(self._path(TRIALS, f"{trial_id}.json"))

    def status_of(self, trial_id: str) -> TrialStatus | None:
        record = self.status(trial_id)
        return TrialStatus(record["status"]) if record else None

    def write_study(self, record: StudyRecord) -> None:
        """The study's ``study.json`` (written once, when the study starts)."""
        self._write_json(self._path(SPEC_FILE), record.to_json())

    def read_study(self) -> StudyRecord | None:
        """The study's ``study.json``, or None where the directory has none (the one reader of that file)."""
        payload = self._read_if_present(self._path(SPEC_FILE))
        return None if payload is None else StudyRecord.from_json(payload, self.location)

    def holds_study(self) -> bool:
        """Whether a study was started here: a ``study.json``, trial records or evaluations (checked without
        listing the evaluations, which on cloud storage may be thousands of objects)."""
        kinds = {name: self.fs.get_file_info(self._path(name)).type for name in (SPEC_FILE, TRIALS, RESULTS)}
        return kinds[SPEC_FILE] == pafs.FileType.File or pafs.FileType.Directory in (kinds[TRIALS], kinds[RESULTS])

    def evaluations(self, trial_id: str | None = None) -> list[dict[str, Any]]:
        """Every stored evaluation (of one trial, or of all), ordered by trial then step."""
        directory = f"{RESULTS}/{trial_id}" if trial_id else RESULTS
        return [self._read_json(path) for path in self._list(directory, recursive=True)]

    def statuses(self) -> list[dict[str, Any]]:
        """Every trial's status record, ordered by trial id."""
        return [self._read_json(path) for path in self._list(TRIALS)]

    def trial_ids(self) -> Iterator[str]:
        seen = {r["trial_id"] for r in self.statuses()}
        seen |= {path.rsplit("/", 2)[-2] for path in self._list(RESULTS, recursive=True)}
        return iter(sorted(seen))
