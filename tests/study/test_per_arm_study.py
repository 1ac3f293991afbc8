"""``search: {per_arm: N}`` in a real study (issue 15.4): a tiny TPE study of two arms with per_arm 2 on a local Ray
ends with exactly two configurations per arm, and the tuning curves of the analysis compare those equal efforts.
(A driver that dies and resumes from the study's optuna.db is tested without Ray in test_per_arm.py.)"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.study.ray_fixtures import TINY_TRIAL, write_study
from vlpet.analysis import load_results
from vlpet.analysis.tuning import tuning_curves
from vlpet.study.runner import run_study
from vlpet.study.spec import load_study
from vlpet.study.store import StudyStore

pytestmark = pytest.mark.slow


def test_a_per_arm_study_ends_with_n_configurations_per_arm(ray_session, data, tmp_path):
    path = write_study(
        tmp_path, data, name="per-arm", seeds=[1],
        trial={k: v for k, v in TINY_TRIAL.items() if k != "gate_bottleneck"},
        arms=[{"name": "vl-pet", "trial": {"method": "vl-pet"}}, {"name": "lora", "trial": {"method": "lora"}}],
        search_space={"granularity": {"choice": ["small", "large"], "when": {"arm": "vl-pet"}},
                      "lora_rank": {"choice": [2, 4], "when": {"arm": "lora"}}},
        search={"algorithm": "tpe", "per_arm": 2, "max_concurrent": 2},
        objectives={"metric": "max", "trainable_pct": "min"})
    spec = load_study(path)
    assert spec.num_samples == 4
    study_dir = run_study(spec, verbose=0).study_dir

    final = StudyStore(study_dir).statuses()
    assert Counter(s["status"] for s in final) == Counter({"TERMINATED": 4}), final
    configurations = {json.dumps(s["sampled"], sort_keys=True) for s in final}
    assert Counter(json.loads(c)["arm"] for c in configurations) == {"vl-pet": 2, "lora": 2}
    curves = tuning_curves(load_results(study_dir))
    assert curves.groupby("unit")["configurations"].max().to_dict() == {"lora": 2, "vl-pet": 2}
