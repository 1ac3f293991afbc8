"""Hand-made study directories written through the real StudyStore, with known numbers."""

from __future__ import annotations

import json
from pathlib import Path

from vlpet.study.store import StudyStore, config_key

OBJECTIVES = {"metric": "max", "trainable_pct": "min"}


def trial(store: StudyStore, trial_id: str, sampled: dict, seed: int, metrics: list[float], pct: float,
          status: str = "TERMINATED", finished: bool = True, error: str | None = None, extra: dict | None = None,
          step_every: int = 10) -> None:
    config = {"method": sampled.get("arm", "vl-pet"), "granularity": sampled.get("granularity"), "seed": seed,
              "placement": ["encoder.attn", "decoder.cross_attn.value"], "backbone": "tiny-bart", "lr": 1e-3}
    key = config_key(sampled)
    for index, value in enumerate(metrics):
        step = (index + 1) * step_every
        last = index == len(metrics) - 1
        store.append_evaluation(trial_id, {
            "study": "hand", "config_key": key, "seed": seed, "config": config, "sampled": sampled,
            "metric": value, "metric_name": "vqa_acc", "vqa_acc": value, "trainable_pct": pct,
            "trainable_params": int(pct * 1000), "total_params": 100000, "step": step, "epoch": 0,
            "total_steps": len(metrics) * step_every if finished else 10 ** 6, "finished": finished and last,
            "time": 1000.0 + step, "elapsed_s": float(step), "checkpoint": None, **(extra or {})})
    store.write_status(trial_id, {"status": status, "error": error, "config": config, "sampled": sampled,
                                  "config_key": key, "seed": seed, "started": 1000.0, "ended": 1000.0 + 3600,
                                  "resources": {"workers": 1, "cpus_per_worker": 2, "gpus_per_worker": 1}})


def make_study(root: Path, name: str = "hand") -> str:
    """Configurations (seed means): A small 50±… @1%, B large 60 @4%, C adapter 55 @4% (dominated by B),
    D full 60 @100% (dominated by B), E tie with B (60 @4%); plus a failed, a running and a stopped trial."""
    directory = root / name
    store = StudyStore(str(directory))
    directory.mkdir(parents=True)
    (directory / "study.json").write_text(json.dumps({"name": name, "objectives": OBJECTIVES}))
    trial(store, "a1", {"arm": "vl-pet", "granularity": "small"}, 1, [40.0, 48.0], 1.0)
    trial(store, "a2", {"arm": "vl-pet", "granularity": "small"}, 2, [41.0, 52.0], 1.0)
    trial(store, "b1", {"arm": "vl-pet", "granularity": "large"}, 1, [55.0, 60.0], 4.0)
    trial(store, "c1", {"arm": "adapter"}, 1, [50.0, 55.0], 4.0)
    trial(store, "d1", {"arm": "full"}, 1, [58.0, 60.0], 100.0)
    trial(store, "e1", {"arm": "lora"}, 1, [59.0, 60.0], 4.0)
    trial(store, "f1", {"arm": "vl-pet", "granularity": "middleX"}, 1, [], 1.0, status="ERROR",
          error="TrainingDiverged: loss became nan at step 3")
    trial(store, "g1", {"arm": "vl-pet", "granularity": "middleY"}, 1, [70.0], 0.5, status="RUNNING", finished=False)
    trial(store, "h1", {"arm": "vl-pet", "granularity": "middleY"}, 2, [75.0], 0.5, status="STOPPED", finished=False)
    return str(directory)
