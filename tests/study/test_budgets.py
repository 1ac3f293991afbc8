"""Study files with ``budgets``: every arm sized to every target on the meta device before Ray starts, arm x
target dropped (with the reachable range) or refused, conditions on a base arm kept for its sized arms, and the
budget keys a trial records beside its sampled values."""

from __future__ import annotations

import pytest

from tests.study.ray_fixtures import TINY_TRIAL
from vlpet.errors import ConfigError
from vlpet.study.space import decode, encode_point, grid_points
from vlpet.study.spec import parse_study
from vlpet.trial_config import TrialConfig

TRIAL = {k: v for k, v in TINY_TRIAL.items() if k != "gate_bottleneck"}      # r_g follows the solved r


def study(**overrides) -> dict:
    return {"name": "eqb", "trial": TRIAL, "seeds": [1, 2], "search": {"algorithm": "grid"},
            "arms": [{"name": "vl-pet", "trial": {"method": "vl-pet"}}, {"name": "lora", "trial": {"method": "lora"}}],
            "budgets": {"targets_pct": [5, 10, 20]}, "search_space": {"lr": {"choice": [0.001, 0.003]}}, **overrides}


@pytest.fixture(scope="module")
def spec():
    return parse_study(study())


def test_every_arm_is_sized_to_every_target_it_can_reach_within_the_tolerance(spec):
    # tiny-bart: nothing reaches 5% (the floor), VL-PET's nearest size to 10% is 9.44% (5.6% off): both dropped
    assert list(spec.arms) == ["vl-pet@20%", "lora@10%", "lora@20%"]
    for name, arm in spec.sized_arms.items():
        assert abs(arm.achieved - arm.target) <= 0.05 * arm.target
        config = TrialConfig.from_dict(spec.compose_trial({"arm": name, "lr": 0.001}, 1)).to_dict()
        assert {key: config[key] for key in arm.keys} == arm.keys
    assert spec.sized_arms["lora@10%"].keys == {"lora_rank": 9}
    notes = "\n".join(spec.budget_notes)
    assert "dropped vl-pet@5%: its reachable range is 6.923% to" in notes and "dropped lora@5%" in notes
    assert "dropped vl-pet@10%: the nearest sizes give" in notes and len(spec.budget_notes) == 3


def test_a_trial_records_its_budget_target_but_the_searcher_never_sees_it(spec):
    sampled = decode(spec, {"arm": "lora@20%", "lr": 0.003})
    assert sampled == {"arm": "lora@20%", "lr": 0.003, "budget_target": 20.0, "budget_unit": "pct",
                       "budget_arm": "lora"}
    assert encode_point(sampled) == {"arm": "lora@20%", "lr": 0.003}          # resume's configuration ids
    assert len(grid_points(spec)) == 6


def test_refuse_names_the_arm_the_target_and_the_reachable_range():
    with pytest.raises(ConfigError, match=r"budgets: arm vl-pet cannot reach 5%: its reachable range is 6\.923% to"):
        parse_study(study(budgets={"targets_pct": [5, 20], "unreachable": "refuse"}))
    with pytest.raises(ConfigError, match="arm vl-pet reaches none of the targets 3%, 4%"):
        parse_study(study(budgets={"targets_pct": [3, 4]}))


def test_conditions_on_a_base_arm_hold_for_each_of_its_sized_arms():
    spec = parse_study(study(search_space={"lr": {"choice": [0.001, 0.003], "when": {"arm": "lora"}}}))
    assert spec.search_space["lr"].when == {"arm": ["lora@10%", "lora@20%"]}
    assert {p["arm"] for p in grid_points(spec) if "lr" in p} == {"lora@10%", "lora@20%"}


def test_searching_a_solved_size_or_a_model_key_is_refused():
    with pytest.raises(ConfigError, match="search_space.lora_rank: budgets solve lora_rank for lora@10%"):
        parse_study(study(search_space={"lora_rank": {"choice": [4, 8], "when": {"arm": "lora"}}}))
    with pytest.raises(ConfigError, match="these keys change its model"):
        parse_study(study(search_space={"decoder_bottleneck": {"choice": [8, 16]}}))


@pytest.mark.parametrize("budgets, problem", [
    ({"targets_pct": [2], "targets_params": [1000]}, "exactly one of targets_pct"),
    ({"targets_pct": []}, "expected a list of 1 to 50 targets"),
    ({"targets_pct": [150]}, "budgets.targets_pct[0]"),
    ({"targets_pct": [2, 2]}, "each target once"),
    ({"targets_pct": [2], "tolerance": 1.5}, "budgets.tolerance"),
    ({"targets_pct": [2], "unreachable": "skip"}, "budgets.unreachable"),
    ({"targets_pct": [2], "target": 3}, "unknown"),
])
def test_a_malformed_budgets_section_is_one_error_naming_the_key(budgets, problem):
    with pytest.raises(ConfigError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_study(study(budgets=budgets))


def test_params_and_bytes_targets_name_their_arms_by_unit():
    spec = parse_study(study(budgets={"targets_params": [60000]}, arms=[{"name": "lora", "trial": {"method": "lora"}}]))
    assert list(spec.arms) == ["lora@60000params"]
    spec = parse_study(study(budgets={"targets_bytes": [240000]}, arms=[{"name": "lora", "trial": {"method": "lora"}}]))
    assert list(spec.arms) == ["lora@240000B"] and spec.sized_arms["lora@240000B"].unit == "bytes"
