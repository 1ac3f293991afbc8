"""The study's own durable results store (Tune's result files are not trusted: see field_notes §3c).

Layout under the study directory (a local/shared path or a cloud URI, through ``pyarrow.fs``)::

    results/<trial_id>/eval_<step:08d>.json   one evaluation: config, seed, metrics, finished flag
    trials/<trial_id>.json                     the trial's status record (a TrialStatus and its details)
    study.json                                 the study as started (StudyRecord): what resume and analysis read
    artifacts/<trial_id>/                      the weights a finished trial is judged by, its config and a manifest
                                               (written last; see write_artifact and docs/artifacts.md)

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

Reading back, a damaged file (empty, truncated, not UTF-8, not an object, a key missing or of the wrong kind, a
stray file where only vlpet's own belong) does not exist for readers: it is skipped with one warning line naming
it (``warning: skipped DIR/results/t1/eval_00000002.json: truncated JSON``, once per file and process, through
the ``vlpet.store`` logger) and listed by :meth:`StudyStore.skipped`. The checks are in
:mod:`vlpet.study.records`.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import math
import os
import time
import types
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import pyarrow.fs as pafs

from vlpet.study.records import (EVAL_NAME, MAX_RECORD_BYTES, evaluation_problem, parse, status_problem,
                                  study_problem)

RESULTS = "results"
TRIALS = "trials"
SPEC_FILE = "study.json"     # the validated study, written by the runner (see vlpet.study.runner)
# A study's objectives when it names none: the primary task metric up, the trainable share of parameters down.
DEFAULT_OBJECTIVES: Mapping[str, str] = types.MappingProxyType({"metric": "max", "trainable_pct": "min"})
_log = logging.getLogger("vlpet.store")     # unconfigured, Python prints its warnings as bare lines on stderr
_warned: set[tuple[str, str]] = set()       # (file, reason) already warned about in this process


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
        self._skipped: dict[str, str] = {}

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

    def _read_checked(self, info: pafs.FileInfo, check) -> dict[str, Any] | None:
        """The file's JSON object if ``check(payload)`` finds nothing wrong with it, else None (skipped)."""
        if info.size is not None and info.size > MAX_RECORD_BYTES:
            return self._skip(info.path, f"{info.size} bytes, too large for a study record")
        try:
            with self.fs.open_input_stream(info.path) as stream:
                data = stream.read(MAX_RECORD_BYTES + 1)
        except OSError as error:
            return self._skip(info.path, f"unreadable ({error.strerror or error})")
        payload, problem = parse(data)
        problem = problem or check(payload)
        return self._skip(info.path, problem) if problem else payload

    def _skip(self, path: str, reason: str) -> None:
        relative = path[len(self.root.rstrip("/")) + 1:] if path.startswith(self.root) else path
        self._skipped[relative] = reason
        if (path, reason) not in _warned:
            _warned.add((path, reason))
            _log.warning("warning: skipped %s: %s", path, reason)
        return None

    def skipped(self) -> dict[str, str]:
        """The files this store's reads skipped so far, relative to the study directory, with why."""
        return dict(self._skipped)

    def _files(self, directory: str, recursive: bool = False) -> list[pafs.FileInfo]:
        selector = pafs.FileSelector(self._path(directory), allow_not_found=True, recursive=recursive)
        return sorted((info for info in self.fs.get_file_info(selector)
                       if info.type == pafs.FileType.File and info.path.endswith(".json")), key=lambda i: i.path)

    def _list(self, directory: str, recursive: bool = False) -> list[str]:
        return [info.path for info in self._files(directory, recursive)]

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

    def _read_if_present(self, path: str, check) -> dict[str, Any] | None:
        info = self.fs.get_file_info(path)
        return self._read_checked(info, check) if info.type == pafs.FileType.File else None

    def status(self, trial_id: str) -> dict[str, Any] | None:
        """The trial's status record, or None before it started (or where its record is damaged: skipped)."""
        return self._read_if_present(self._path(TRIALS, f"{trial_id}.json"), self._status_check(trial_id))

    @staticmethod
    def _status_check(trial_id: str):
        return lambda payload: status_problem(payload, trial_id, tuple(TrialStatus))

    def status_of(self, trial_id: str) -> TrialStatus | None:
        record = self.status(trial_id)
        return TrialStatus(record["status"]) if record else None

    def write_study(self, record: StudyRecord) -> None:
        """The study's ``study.json`` (written once, when the study starts)."""
        self._write_json(self._path(SPEC_FILE), record.to_json())

    def read_study(self) -> StudyRecord | None:
        """The study's ``study.json``, or None where the directory has none or it is damaged (skipped: see
        :meth:`skipped`). The one reader of that file."""
        payload = self._read_if_present(self._path(SPEC_FILE), study_problem)
        return None if payload is None else StudyRecord.from_json(payload, self.location)

    def holds_study(self) -> bool:
        """Whether a study was started here: a ``study.json``, trial records or evaluations (checked without
        listing the evaluations, which on cloud storage may be thousands of objects)."""
        kinds = {name: self.fs.get_file_info(self._path(name)).type for name in (SPEC_FILE, TRIALS, RESULTS)}
        return kinds[SPEC_FILE] == pafs.FileType.File or pafs.FileType.Directory in (kinds[TRIALS], kinds[RESULTS])

    def evaluations(self, trial_id: str | None = None) -> list[dict[str, Any]]:
        """Every readable stored evaluation (of one trial, or of all), ordered by trial then step; damaged and
        stray files under ``results/`` are skipped."""
        directory = f"{RESULTS}/{trial_id}" if trial_id else RESULTS
        rows = []
        for info in self._files(directory, recursive=True):
            where = self._evaluation_path(info.path)
            if where is None:
                self._skip(info.path, "not an evaluation file (results/<trial>/eval_<step>.json)")
                continue
            row = self._read_checked(info, lambda payload: evaluation_problem(payload, *where))
            if row is not None:
                rows.append(row)
        return rows

    def _evaluation_path(self, path: str) -> tuple[str, int] | None:
        """(trial id, step) of a path shaped ``results/<trial>/eval_<step>.json``, else None."""
        parts = path[len(self._path(RESULTS)) + 1:].split("/")
        match = EVAL_NAME.fullmatch(parts[-1])
        return (parts[0], int(match.group(1))) if len(parts) == 2 and match else None

    def statuses(self) -> list[dict[str, Any]]:
        """Every readable trial status record, ordered by trial id; damaged ones are skipped."""
        found = []
        for info in self._files(TRIALS):
            name = info.path.rsplit("/", 1)[-1][:-len(".json")]
            record = self._read_checked(info, self._status_check(name))
            if record is not None:
                found.append(record)
        return found

    def trial_ids(self) -> Iterator[str]:
        """Trials with a readable status record or an evaluation file (not read: listed by its path)."""
        seen = {r["trial_id"] for r in self.statuses()}
        seen |= {where[0] for where in map(self._evaluation_path, self._list(RESULTS, recursive=True)) if where}
        return iter(sorted(seen))


# ---- durable trial artifacts ------------------------------------------------------------------------------------
ARTIFACTS = "artifacts"               # artifacts/<trial_id>/: the weights a trial is judged by, kept past its end
ARTIFACT_MANIFEST = "manifest.json"   # written last: an artifact without it is incomplete and does not exist


def artifact_location(study_dir: str, trial_id: str) -> str:
    """Where a trial's artifact lives: ``STUDY_DIR/artifacts/<trial_id>`` (a path, or a URI for cloud storage)."""
    study_dir = str(study_dir) if is_uri(study_dir) else os.path.abspath(study_dir)
    return f"{study_dir.rstrip('/')}/{ARTIFACTS}/{trial_id}"


def write_artifact(store: StudyStore, trial_id: str, files: Mapping[str, str], manifest: dict[str, Any]) -> str:
    """Copy local ``files`` (name → path) into the trial's artifact with ``manifest`` (plus each file's size and
    sha256), whole: locally a temporary directory renamed into place (a previous artifact of the trial replaced
    in one step); on object stores each file put whole and the manifest last. Returns the artifact's location."""
    described = {name: _file_digest(path) for name, path in files.items()}
    payload = json.dumps(json_safe({**manifest, "trial_id": trial_id, "files": described}), sort_keys=True,
                         indent=1).encode()
    target = store._path(ARTIFACTS, trial_id)
    if not store.local:
        for name, path in files.items():
            store.fs.create_dir(target, recursive=True)
            with open(path, "rb") as source, store.fs.open_output_stream(f"{target}/{name}") as stream:
                stream.write(source.read())
        with store.fs.open_output_stream(f"{target}/{ARTIFACT_MANIFEST}") as stream:
            stream.write(payload)
        return artifact_location(store.location, trial_id)
    _publish_local(target, files, payload)
    return artifact_location(store.location, trial_id)


def _file_digest(path: str) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": os.path.getsize(path), "sha256": digest.hexdigest()}


def _publish_local(target: str, files: Mapping[str, str], manifest: bytes) -> None:
    import shutil

    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
    os.makedirs(tmp)
    for name, path in files.items():
        shutil.copyfile(path, os.path.join(tmp, name))
    with open(os.path.join(tmp, ARTIFACT_MANIFEST), "wb") as handle:
        handle.write(manifest)
    for name in os.listdir(tmp):
        with open(os.path.join(tmp, name), "rb") as handle:
            os.fsync(handle.fileno())
    old = f"{tmp}.old"
    if os.path.exists(target):
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def read_artifact(location: str, into: str) -> dict[str, Any] | None:
    """Copy the artifact at ``location`` (path or URI) into the local directory ``into``; returns its manifest, or
    None where it has no manifest or a listed file is missing or differs (an incomplete artifact)."""
    filesystem, root = pafs.FileSystem.from_uri(location) if is_uri(location) else (pafs.LocalFileSystem(),
                                                                                     os.path.abspath(location))
    root = root.rstrip("/")
    try:
        with filesystem.open_input_stream(f"{root}/{ARTIFACT_MANIFEST}") as stream:
            manifest = json.loads(stream.read(MAX_RECORD_BYTES))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None
    os.makedirs(into, exist_ok=True)
    for name, described in manifest["files"].items():
        if "/" in name or name.startswith("."):
            return None
        local = os.path.join(into, name)
        try:
            with filesystem.open_input_stream(f"{root}/{name}") as stream, open(local, "wb") as handle:
                handle.write(stream.read())
        except OSError:
            return None
        if _file_digest(local).get("sha256") != (described or {}).get("sha256"):
            return None
    return manifest
