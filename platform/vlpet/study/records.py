"""Shape checks for the files a study store reads back: ``study.json``, ``trials/<id>.json`` and
``results/<id>/eval_<step>.json``.

A study directory may sit on a shared disk or bucket, be copied half-way or edited by hand, so what is read
back is checked before anyone uses it. Each check returns why a file cannot be used (a short phrase for a
warning line such as ``truncated JSON`` or ``missing key(s) seed, step``) or None when it is fine; the store
then skips that file (see :class:`vlpet.study.store.StudyStore`)."""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

MAX_RECORD_BYTES = 16 * 2 ** 20     # vlpet writes a few kB per file: anything this large is not one of its own
EVAL_NAME = re.compile(r"eval_(\d{1,12})\.json")
NUMBER = "number"                   # int or float, never bool
KINDS = {str: "a string", int: "an integer", NUMBER: "a number", dict: "an object", bool: "true or false",
         list: "a list"}
EVALUATION_KEYS = {"trial_id": str, "config_key": str, "seed": int, "step": int}
EVALUATION_OPTIONAL = {"config": dict, "sampled": dict, "finished": bool, "metric": NUMBER, "metric_name": str,
                       "epoch": NUMBER, "total_steps": NUMBER, "time": NUMBER, "elapsed_s": NUMBER,
                       "trainable_pct": NUMBER}
STATUS_KEYS = {"trial_id": str, "status": str}
STATUS_OPTIONAL = {"config": dict, "sampled": dict, "config_key": str, "seed": int, "error": str,
                   "started": NUMBER, "ended": NUMBER, "restarts": int, "resources": dict, "startup_s": NUMBER}
RESOURCE_KEYS = ("workers", "cpus_per_worker", "gpus_per_worker")     # what readers compute with
STUDY_OPTIONAL = {"name": str, "objectives": dict, "smoke": bool, "source": dict, "optuna_study_name": str,
                  "seeds": list, "created": NUMBER}


def parse(data: bytes) -> tuple[Any, str | None]:
    """The JSON value of a file's bytes, or None and why it is not JSON."""
    if not data.strip():
        return None, "empty file"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        if error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated string"):
            return None, "truncated JSON"
        return None, f"not valid JSON: {error.msg} (line {error.lineno} column {error.colno})"
    except RecursionError:
        return None, "JSON nested too deeply"


def _is(value: Any, kind: Any) -> bool:
    if kind is NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _shape(payload: Any, required: Mapping[str, Any], optional: Mapping[str, Any]) -> str | None:
    """Why ``payload`` is not an object with ``required`` keys of their kinds (optional ones may be null)."""
    if not isinstance(payload, dict):
        return f"a JSON {type(payload).__name__.replace('NoneType', 'null')}, not an object"
    missing = [key for key in required if payload.get(key) is None]
    if missing:
        return f"missing key(s) {', '.join(missing)}"
    for key, kind in {**required, **optional}.items():
        if payload.get(key) is not None and not _is(payload[key], kind):
            return f"{key} is {_show(payload[key])}, not {KINDS[kind]}"
    return None


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def evaluation_problem(payload: Any, trial_id: str, step: int) -> str | None:
    """Why an evaluation read from ``results/<trial_id>/eval_<step>.json`` cannot be used."""
    problem = _shape(payload, EVALUATION_KEYS, EVALUATION_OPTIONAL)
    if problem:
        return problem
    if payload["trial_id"] != trial_id:
        return f"trial_id {_show(payload['trial_id'])} is not its directory's ({trial_id})"
    if payload["step"] != step:
        return f"step {payload['step']} is not its file name's ({step})"
    return None


def status_problem(payload: Any, trial_id: str, statuses: tuple[str, ...]) -> str | None:
    """Why a status record read from ``trials/<trial_id>.json`` cannot be used."""
    problem = _shape(payload, STATUS_KEYS, STATUS_OPTIONAL)
    if problem:
        return problem
    if payload["trial_id"] != trial_id:
        return f"trial_id {_show(payload['trial_id'])} is not its file name's ({trial_id})"
    if payload["status"] not in statuses:
        return f"status {_show(payload['status'])} is not one of {', '.join(statuses)}"
    resources = payload.get("resources") or {}
    if not all(_is(resources.get(key, 0), NUMBER) for key in RESOURCE_KEYS):
        return f"resources {_show(resources)} are not all numbers"
    return None


def study_problem(payload: Any) -> str | None:
    """Why a ``study.json`` cannot be used."""
    problem = _shape(payload, {}, STUDY_OPTIONAL)
    if problem:
        return problem
    objectives = payload.get("objectives") or {}
    if not all(isinstance(k, str) and v in ("max", "min") for k, v in objectives.items()):
        return f"objectives {_show(objectives)} are not column: max|min pairs"
    if not all(_is(seed, int) for seed in payload.get("seeds") or ()):
        return f"seeds {_show(payload['seeds'])} are not all integers"
    return None
