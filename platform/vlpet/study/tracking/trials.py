"""What the trackers record about a Tune trial, in vlpet's terms (vlpet.study.tracking)."""

from __future__ import annotations

from typing import Any

from vlpet.study.seed_scheduler import member_id
from vlpet.study.space import decode
from vlpet.study.spec import StudySpec
from vlpet.study.store import config_key


def trial_view(spec: StudySpec, trial) -> dict[str, Any]:
    """What a tracker records about a Tune trial: its vlpet trial id (a resumed seed keeps its stored one), the
    sampled configuration as trial-config values (``arm`` included), the seed and the configuration's key,
    computed as the trial's own worker computes them (vlpet.study.trainable.begin_trial)."""
    config = dict(trial.config or {})
    sampled = {k: v for k, v in config.items() if k != "seed" and not k.startswith("_")}
    return {"trial_id": member_id(trial), "sampled": decode(spec, sampled), "seed": config.get("seed"),
            "config_key": config_key(sampled)}
