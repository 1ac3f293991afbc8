"""The study's own durable results store (Tune's result files are not trusted: see field_notes §3c).

Layout under the study directory (a local/shared path or a cloud URI, through ``pyarrow.fs``)::

    results/<trial_id>/eval_<step:08d>.json   one evaluation: config, seed, metrics, finished flag
    trials/<trial_id>.json                     the trial's status record (RUNNING, TERMINATED, STOPPED, ERROR)

Every file is written whole: on a local filesystem under a temporary name and renamed, on object stores as
one put. A trial's evaluations are never rewritten, so nothing finished is lost when a driver or worker dies.

Evaluation row keys: ``study``, ``trial_id``, ``config_key`` (the sampled configuration without the seed),
``seed``, ``config`` (the full TrialConfig as a dict), ``sampled`` (the searched keys and their values),
every metric the trial reported (``metric``, ``metric_name``, per-task metrics, ``trainable_params``,
``total_params``, ``trainable_pct``, ``train_step_s``, ``samples_per_s``, ``peak_mem_bytes``, ``epoch``,
``step``), ``total_steps`` (the trial's budget), ``finished`` (this evaluation ends the budget), ``time`` (unix
seconds), ``elapsed_s`` (seconds since the trial's first start) and ``checkpoint``.

Status record keys: ``trial_id``, ``status``, ``error``, ``config_key``, ``seed``, ``config``, ``sampled``,
``resources`` (workers, cpus_per_worker, gpus_per_worker), ``started``, ``ended``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from typing import Any, Iterator

import pyarrow.fs as pafs

RESULTS = "results"
TRIALS = "trials"
SPEC_FILE = "study.json"     # the validated study, written by the runner (see vlpet.study.runner)
STATUSES = ("PENDING", "RUNNING", "TERMINATED", "STOPPED", "ERROR")


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


def is_uri(location: str) -> bool:
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
        if record.get("status") not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {record.get('status')!r}")
        self._write_json(self._path(TRIALS, f"{trial_id}.json"), {**record, "trial_id": trial_id})

    def update_status(self, trial_id: str, **changes: Any) -> dict[str, Any]:
        record = {**(self.status(trial_id) or {}), **changes}
        self.write_status(trial_id, record)
        return record

    def _read_if_present(self, path: str) -> dict[str, Any] | None:
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        return self._read_json(path)

    def status(self, trial_id: str) -> dict[str, Any] | None:
        return self._read_if_present(self._path(TRIALS, f"{trial_id}.json"))

    def write_spec(self, payload: dict[str, Any]) -> None:
        """The study's ``study.json`` (written once, when the study starts)."""
        self._write_json(self._path(SPEC_FILE), payload)

    def read_spec(self) -> dict[str, Any] | None:
        """The study's ``study.json``, or None where the directory has none."""
        return self._read_if_present(self._path(SPEC_FILE))

    def evaluations(self, trial_id: str | None = None) -> list[dict[str, Any]]:
        """Every stored evaluation (of one trial, or of all), ordered by trial then step."""
        directory = f"{RESULTS}/{trial_id}" if trial_id else RESULTS
        return [self._read_json(path) for path in self._list(directory, recursive=True)]

    def statuses(self) -> list[dict[str, Any]]:
        return [self._read_json(path) for path in self._list(TRIALS)]

    def trial_ids(self) -> Iterator[str]:
        seen = {r["trial_id"] for r in self.statuses()}
        seen |= {path.rsplit("/", 2)[-2] for path in self._list(RESULTS, recursive=True)}
        return iter(sorted(seen))
