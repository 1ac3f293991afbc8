"""Where a trial's weights come from: a study artifact (``STUDY_DIR/artifacts/<trial_id>``, local or a URI) or a
``vlpet train --out`` directory (TRIAL_OUT), staged as a local directory of ``pet.safetensors`` and
``trial_config.json`` with a manifest."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from vlpet.errors import ConfigError
from vlpet.study.store import ARTIFACT_MANIFEST, is_uri, read_artifact
from vlpet.train.checkpoint import BEST_FILE, CONFIG_FILE, WEIGHTS_FILE, checkpoint_step, latest_checkpoint

HISTORY = "metrics.jsonl"      # what `vlpet train` appends each evaluation to (vlpet.commands.train)


def stage(source: str, into: str) -> dict[str, Any]:
    """Copy the tested weights and config of ``source`` (an artifact location or a TRIAL_OUT directory) into the
    local directory ``into``; returns the manifest. ConfigError where ``source`` keeps no usable checkpoint."""
    if is_uri(source) or os.path.isfile(os.path.join(source, ARTIFACT_MANIFEST)):
        manifest = read_artifact(source, into)
        if manifest is None:
            raise ConfigError(f"{source}: the trial's artifact is incomplete or damaged (a file its manifest "
                              "lists is missing or differs)")
        return manifest
    if os.path.isdir(os.path.join(source, "checkpoints")):
        return _stage_trial_out(source, into)
    raise ConfigError(f"{source}: no kept checkpoint here (neither a trial artifact with {ARTIFACT_MANIFEST} nor "
                      "a `vlpet train --out` directory with checkpoints/)")


def _stage_trial_out(out: str, into: str) -> dict[str, Any]:
    """A `vlpet train` run: the newest checkpoint, its best validation tensors where the run tested them."""
    found = latest_checkpoint(os.path.join(out, "checkpoints"))
    if found is None:
        raise ConfigError(f"{out}: no complete checkpoint under checkpoints/ (did the run save one?)")
    last = _last_report(out)
    step = checkpoint_step(found)
    tested_best = last.get("tested_checkpoint") == "best_val" and last.get("tested_step") not in (None, step)
    weights = os.path.join(found, BEST_FILE if tested_best else WEIGHTS_FILE)
    if not os.path.isfile(weights) or not os.path.isfile(os.path.join(found, CONFIG_FILE)):
        raise ConfigError(f"{found}: the checkpoint lacks {os.path.basename(weights)} or {CONFIG_FILE}")
    os.makedirs(into, exist_ok=True)
    shutil.copyfile(weights, os.path.join(into, WEIGHTS_FILE))
    shutil.copyfile(os.path.join(found, CONFIG_FILE), os.path.join(into, CONFIG_FILE))
    return {"format": "vlpet-train-out", "trial_id": os.path.basename(os.path.abspath(out)), "step": step,
            "tested_checkpoint": last.get("tested_checkpoint", "last"), "tested_step": last.get("tested_step", step),
            "metrics": {k: v for k, v in last.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}}


def _last_report(out: str) -> dict[str, Any]:
    """The run's last evaluation as `vlpet train` recorded it (empty where it kept no history)."""
    try:
        with open(os.path.join(out, HISTORY), encoding="utf-8") as handle:
            lines = [line for line in handle if line.strip()]
        return json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return {}


def read_config(directory: str):
    """The TrialConfig saved as ``directory/trial_config.json``; ConfigError where it is missing or invalid."""
    from vlpet.trial_config import TrialConfig

    path = os.path.join(directory, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            return TrialConfig.from_dict(json.load(handle))
    except OSError:
        raise ConfigError(f"{directory}: no {CONFIG_FILE} (the trial config the weights were trained with)") from None
    except ValueError as error:
        raise ConfigError(f"{path}: not a valid trial config: {' '.join(str(error).split())}") from None
