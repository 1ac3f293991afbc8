"""A study directory for the report page's tests, written through the real StudyStore: numbers that show the
page's formatting (full-precision learning rates, two trainable shares that both print as 12.39, a long label)."""

from __future__ import annotations

import json

from tests.analysis.study_factory import OBJECTIVES, trial
from vlpet.study.store import StudyStore

LR = 0.003488960745139224
LONG = "enc.attn+enc.ffn+enc.sattn.v+dec.sattn+dec.xattn.v+dec.xattn.k+dec.ffn+dec.ffn.out+visual.proj"
# arm, sampled settings, trainable % (12.3851 and 12.3912 both print as 12.39), each seed's final metric
CONFIGS = [("vl-pet", {"granularity": "large", "lr": LR}, 12.3851, [61.0, 62.0]),
           ("vl-pet", {"granularity": "small", "lr": 0.0011}, 12.3912, [57.0, 59.0]),
           ("adapter", {"lr": 0.0005, "placement": LONG}, 20.5, [55.0, 56.0]),
           ("lora", {"lr": 0.002}, 15.0, [63.5, 64.5]),
           ("full", {"lr": 0.0001}, 100.0, [64.0, 66.0])]


def report_study(root, name: str, running: bool) -> str:
    """Five configurations of two seeds each (the running study's last two still under way) and a trial stopped
    at its first evaluation; settings with full-precision learning rates, a tie in trainable % as printed, and a
    placement label long enough to need wrapping."""
    directory = root / name
    directory.mkdir()
    (directory / "study.json").write_text(json.dumps({"name": name, "objectives": OBJECTIVES, "seeds": [1, 2]}))
    store = StudyStore(str(directory))
    for index, (arm, setting, pct, finals) in enumerate(CONFIGS):
        for seed, final in enumerate(finals, start=1):
            last_running = running and index >= 3      # the running study's two last configurations are under way
            trial(store, f"t{index}s{seed}", {"arm": arm, **setting}, seed, [final - 6, final - 2, final], pct,
                  status="RUNNING" if last_running else "TERMINATED", finished=not last_running)
    trial(store, "stopped1", {"arm": "prompt", "lr": 0.01}, 1, [30.0], 0.3, status="STOPPED", finished=False)
    return str(directory)
