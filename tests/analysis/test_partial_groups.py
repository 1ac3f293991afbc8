"""Configurations that did not finish all the study's seeds are visible as partial groups in the frame and are
left out of tables (and everything built on ``finished``) unless asked."""

from __future__ import annotations

import json

import pytest

from tests.analysis.study_factory import OBJECTIVES, trial
from vlpet.analysis import ablation_table, load_results, pareto_front
from vlpet.analysis.results import finished
from vlpet.errors import ConfigError
from vlpet.study.store import StudyStore


@pytest.fixture
def study(tmp_path):
    """Seeds 1 and 2: small finished both; large lost seed 2 (failed); lora finished seed 1 while seed 2 was cut
    off by the time budget; adapter was stopped whole by early stopping."""
    directory = tmp_path / "partial"
    directory.mkdir()
    (directory / "study.json").write_text(json.dumps({"name": "partial", "objectives": OBJECTIVES, "seeds": [1, 2]}))
    store = StudyStore(str(directory))
    small, large = {"arm": "vl-pet", "granularity": "small"}, {"arm": "vl-pet", "granularity": "large"}
    trial(store, "s1", small, 1, [40.0, 50.0], 1.0)
    trial(store, "s2", small, 2, [42.0, 52.0], 1.0)
    trial(store, "l1", large, 1, [55.0, 70.0], 4.0)
    trial(store, "l2", large, 2, [], 4.0, status="ERROR", error="TrainingDiverged: loss became nan")
    trial(store, "r1", {"arm": "lora"}, 1, [50.0, 65.0], 2.0)
    trial(store, "r2", {"arm": "lora"}, 2, [51.0], 2.0, status="STOPPED", finished=False)
    trial(store, "a1", {"arm": "adapter"}, 1, [30.0], 3.0, status="STOPPED", finished=False)
    trial(store, "a2", {"arm": "adapter"}, 2, [31.0], 3.0, status="STOPPED", finished=False)
    return str(directory)


def test_the_frame_counts_each_configurations_finished_seeds(study):
    frame = load_results(study).set_index("trial_id")
    assert frame["seeds_finished"].to_dict() == {"s1": 2, "s2": 2, "l1": 1, "l2": 1, "r1": 1, "r2": 1, "a1": 0, "a2": 0}
    assert sorted(frame.index[frame["complete_group"]]) == ["s1", "s2"]


def test_tables_and_frontiers_leave_partial_groups_out_unless_asked(study):
    frame = load_results(study)
    assert sorted(finished(frame)["trial_id"]) == ["s1", "s2"]
    assert sorted(finished(frame, include_partial=True)["trial_id"]) == ["l1", "r1", "s1", "s2"]
    table = ablation_table(frame, by=["arm", "granularity"])
    assert list(table["granularity"]) == ["small"] and list(table["n"]) == [2]
    with_partial = ablation_table(frame, by=["arm", "granularity"], include_partial=True)
    assert sorted(zip(with_partial["arm"], with_partial["granularity"].fillna("–"), with_partial["n"])) == [
        ("lora", "–", 1), ("vl-pet", "large", 1), ("vl-pet", "small", 2)]
    assert set(pareto_front(frame, OBJECTIVES)["granularity"]) == {"small"}   # large's lucky seed 70 @4% is out


def test_a_study_with_only_partial_groups_says_how_to_see_them(tmp_path):
    directory = tmp_path / "only"
    directory.mkdir()
    (directory / "study.json").write_text(json.dumps({"name": "only", "objectives": OBJECTIVES, "seeds": [1, 2]}))
    trial(StudyStore(str(directory)), "x1", {"arm": "lora"}, 1, [50.0], 2.0)
    with pytest.raises(ConfigError, match="include_partial"):
        ablation_table(load_results(str(directory)))
    assert list(ablation_table(load_results(str(directory)), include_partial=True)["n"]) == [1]
