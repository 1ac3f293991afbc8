"""A study's ``arms``: named configurations (a row of a paper table each), searched as one more axis.

```yaml
arms:
  - {name: vl-pet, trial: {method: vl-pet}}
  - {name: lora, file: trials/lora.yaml, trial: {lora_rank: 4}}    # the file's keys, then the inline ones
```
"""

from __future__ import annotations

import os
from typing import Any

from vlpet.checks import fail, mapping, no_unknown_keys, unknown_keys
from vlpet.errors import show
from vlpet.safe_yaml import read_yaml_file

ARM_KEY = "arm"          # the search key whose values are the arm names
MAX_ARMS = 1000
ARM_KEYS = ("name", "file", "trial")


def parse_arms(data: dict, trial_keys: set[str], source: str) -> tuple[dict[str, dict], dict]:
    """``arms`` as arm name → its trial keys (a trial file's ``seed`` dropped: seeds are the study's), and the
    study mapping with every arm inlined (``{name, trial}``), so the saved study needs no other file to be
    resumed. Files are relative to the study file, else to the working directory."""
    raw = data.get("arms")
    if raw is None:
        return {}, data
    if not isinstance(raw, list) or not raw or len(raw) > MAX_ARMS:
        fail("arms", f"expected a non-empty list of {{name, file and/or trial}}, got {show(raw)}")
    arms: dict[str, dict] = {}
    for index, arm in enumerate(raw):
        path = f"arms[{index}]"
        arm = mapping(path, arm)
        no_unknown_keys(path, arm, ARM_KEYS)
        name = arm.get("name")
        if not isinstance(name, str) or not _arm_name(name) or name in arms:
            fail(f"{path}.name", f"expected a unique non-empty name (at most 100 printable characters, no slashes), "
                 f"got {show(name)}")
        arms[name] = _arm_keys(arm, trial_keys, source, path)
    inlined = {**data, "arms": [{"name": n, "trial": k} for n, k in arms.items()]}
    return arms, inlined


def _arm_keys(arm: dict, trial_keys: set[str], source: str, path: str) -> dict[str, Any]:
    """One arm's trial keys: its file's, then its inline ones, without a seed."""
    keys = dict(_read_trial_file(arm["file"], source, f"{path}.file")) if "file" in arm else {}
    keys.update(mapping(f"{path}.trial", arm.get("trial")))
    keys.pop("seed", None)
    bad = unknown_keys(keys, trial_keys)
    if bad:
        fail(path, f"unknown trial config key(s) {', '.join(bad)}")
    return keys


def _arm_name(name: str) -> bool:
    return 0 < len(name) <= 100 and name.strip() == name and name.isprintable() and not set(name) & set("/\\")


def _read_trial_file(name: Any, source: str, path: str) -> dict:
    """An arm's trial file: a relative path inside the study's folder (else the working directory) that stays
    inside it once symlinks are resolved."""
    if not isinstance(name, str) or not name:
        fail(path, f"expected a trial file path, got {show(name)}")
    if os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
        fail(path, f"{show(name)}: use a path inside the study's folder or the project, without '..'")
    folders = list(dict.fromkeys([os.path.dirname(str(source)), ""]))
    candidates = [os.path.join(folder, name) for folder in folders]
    found = next((c for c in candidates if os.path.isfile(c)), None)
    if found is None:
        fail(path, f"trial file {show(name)} not found (looked in {', '.join(candidates)})")
    folder = os.path.realpath(folders[candidates.index(found)] or ".")
    if os.path.commonpath([folder, os.path.realpath(found)]) != folder:
        fail(path, f"{show(name)} resolves to {os.path.realpath(found)}, outside {folder} (a symlink?)")
    return mapping(f"{path} ({found})", read_yaml_file(found, "trial file"))
