"""Reading annotation files (JSON, JSONL) with errors that name the file, the row and the problem."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vlpet.errors import DataError


def require_file(path: str | Path, what: str) -> Path:
    """Return ``path`` as a Path, or raise DataError saying which ``what`` (e.g. "VQA split") is missing."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} file {path} does not exist")
    return path


def read_json(path: str | Path, what: str) -> Any:
    """Parse one JSON file; a missing or unparsable file raises DataError naming it."""
    path = require_file(path, what)
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{what} file {path} is not valid JSON: {error}") from error


def read_json_list(path: str | Path, what: str) -> list[dict]:
    """Parse a JSON file that must hold a list of objects (the VL-T5 split files)."""
    rows = read_json(path, what)
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise DataError(f"{what} file {path} must hold a JSON list of objects, got {type(rows).__name__}")
    return rows


def read_jsonl(path: str | Path, what: str) -> list[dict]:
    """Parse a JSON-lines file (one object per non-empty line); a bad line raises DataError with its number."""
    path = require_file(path, what)
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{what} file {path}, line {number}: not valid JSON: {error}") from error
            if not isinstance(row, dict):
                raise DataError(f"{what} file {path}, line {number}: expected a JSON object")
            rows.append(row)
    return rows


def require_fields(row: Mapping, fields: Iterable[str], path: Path, index: int) -> None:
    """Raise DataError when ``row`` (entry ``index`` of ``path``) lacks any of ``fields``."""
    missing = [name for name in fields if name not in row]
    if missing:
        raise DataError(f"{path}, entry {index}: missing field(s) {missing}; present: {sorted(row)}")


def feature_key(row: Mapping, field: str, path: Path, index: int) -> str:
    """``row[field]`` as a feature key (an image id or video name): a plain file name, so that the feature file it
    names (``<key>.h5``, ``<key>.npz``) stays inside its feature directory under ``data_dir``."""
    key = str(row[field])
    if not plain_name(key):
        raise DataError(f"{path}, entry {index}: {field} {key!r} is not a plain file name (no '/', '\\', '..' or "
                        "control characters): its feature file would be read from outside data_dir")
    return key


def plain_name(name: str) -> bool:
    """Whether ``name`` names one file inside a directory: not empty, '.' or '..', no separators, no control
    characters."""
    return bool(name) and name not in (".", "..") and not any(c in "/\\" or ord(c) < 32 for c in name)


def split_names(split: str) -> list[str]:
    """VL-PET split strings may join several files with commas ("train,valid"); returns the names."""
    names = [name.strip() for name in split.split(",") if name.strip()]
    if not names:
        raise DataError(f"empty split name {split!r}")
    bad = [name for name in names if not plain_name(name)]
    if bad:
        raise DataError(f"split name {bad[0]!r} is not a plain file name: split files are read inside data_dir")
    return names
