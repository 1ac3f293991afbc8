"""``search: {per_arm: N}`` without Ray (issue 15.4): the balanced round-robin queue, its validation, and the real
Optuna searcher driven through vlpet's SeedRepeater (repeats of a small arm topped up, and a driver that dies and
resumes from the study's optuna.db), each arm ending with exactly N configurations."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml

from vlpet.errors import ConfigError
from vlpet.study.per_arm import distinct_configurations, per_arm_queue
from vlpet.study.recovery import OpenConfiguration, RecoveryPlan, SeedRun, configuration_id, repair_optuna
from vlpet.study.spec import parse_study
from vlpet.study.tuner import _searcher, optuna_storage_url

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = yaml.safe_load((ROOT / "search_spaces" / "quickstart.yaml").read_text())


def _study(per_arm=2, lora_ranks=(4, 8, 16), **search) -> dict:
    """The quickstart study with two searched arms (vl-pet, lora) and ``per_arm`` instead of num_samples."""
    study = copy.deepcopy(QUICKSTART)
    study["arms"] = [study["arms"][0], {"name": "lora", "trial": {"method": "lora"}}]
    study["search_space"]["lora_rank"] = {"choice": list(lora_ranks), "when": {"arm": "lora"}}
    study["search"] = {"algorithm": "tpe", "per_arm": per_arm, "points": study["search"]["points"][:1], **search}
    study["seeds"] = [1, 2]
    return study


def test_the_queue_is_balanced_at_every_prefix_and_puts_each_arms_points_in_its_first_rounds():
    points = [{"arm": "b", "x": 1}, {"arm": "b", "x": 2}, {"arm": "c", "x": 3}]
    queue = per_arm_queue(["a", "b", "c"], 3, points)
    assert queue == [{"arm": "a"}, {"arm": "b", "x": 1}, {"arm": "c", "x": 3},
                     {"arm": "a"}, {"arm": "b", "x": 2}, {"arm": "c"},
                     {"arm": "a"}, {"arm": "b"}, {"arm": "c"}]
    for end in range(1, len(queue) + 1):
        counts = Counter(p["arm"] for p in queue[:end])
        assert max(counts.values()) - min(counts.get(a, 0) for a in "abc") <= 1


def test_per_arm_sets_num_samples_to_n_times_the_arms():
    spec = parse_study(_study(per_arm=3))
    assert (spec.per_arm, spec.num_samples) == (3, 6)
    assert distinct_configurations(spec.search_space, "lora", 10) == 3
    assert distinct_configurations(spec.search_space, "vl-pet", 10) == 10         # lr is a float range


def test_sized_arms_of_budgets_count_as_arms():
    study = yaml.safe_load((ROOT / "search_spaces" / "equal_budget_quickstart.yaml").read_text())
    study["arms"], study["budgets"]["targets_pct"] = study["arms"][1:], [20, 40]    # adapter, lora at 20, 40%
    study["search"] = {"algorithm": "tpe", "per_arm": 2}
    spec = parse_study(study)
    assert list(spec.sized_arms) == ["adapter@20%", "adapter@40%", "lora@20%", "lora@40%"]
    assert spec.num_samples == 8


@pytest.mark.parametrize("change, message", [
    (lambda s: s["search"].update(num_samples=8),
     "search: give num_samples or per_arm, not both: per_arm N samples N configurations per arm"),
    (lambda s: s["search"].update(per_arm=0), "search.per_arm: expected a positive integer of at most 100000, got 0"),
    (lambda s: s.pop("arms") and s.update(search_space={"lr": {"loguniform": [1e-4, 1e-2]}}),
     "search.per_arm: needs arms to share the configurations among (per_arm 2): list the methods under arms"),
    (lambda s: s["search"].update(algorithm="grid", points=None) or s.update(
        search_space={"lora_rank": {"choice": [4, 8], "when": {"arm": "lora"}}}),
     "search.per_arm: a grid study runs every combination of every arm already; per_arm is for tpe and nsga2"),
    (lambda s: s["search"].update(per_arm=4),
     "search.per_arm: arm 'lora' has only 3 distinct configuration(s) to sample, fewer than per_arm 4 (keys "
     "searched for it: lora_rank); search more keys for it or lower per_arm"),
    (lambda s: s["search"].update(per_arm=1, points=QUICKSTART["search"]["points"][:2]),
     "search.points: 2 points for arm 'vl-pet', more than per_arm 1"),
])
def test_per_arm_refusals_name_the_problem(change, message):
    study = _study()
    change(study)
    with pytest.raises(ConfigError) as error:
        parse_study(study)
    assert str(error.value).startswith(message)


def _drive(repeater, trials: int, first: int = 0, complete: bool = True) -> list[str]:
    """Ask the searcher for ``trials`` Tune trials, one seed at a time; each ends at once with a result unless
    ``complete`` is false. Returns the Tune trial ids."""
    ids = [f"t{first + i}" for i in range(trials)]
    for trial_id in ids:
        assert repeater.suggest(trial_id) is not None
        if complete:
            repeater.on_trial_complete(trial_id, result={"metric": 0.5, "trainable_pct": 1.0})
    return ids


def _per_arm(configuration_ids) -> Counter:
    return Counter(json.loads(c)["arm"] for c in configuration_ids)


def test_every_arm_gets_n_configurations_even_when_its_small_space_makes_the_sampler_repeat(tmp_path):
    spec = parse_study(_study(per_arm=4, lora_ranks=(4, 8, 16, 32)))
    repeater, trials = _searcher(spec, str(tmp_path), "repeats")
    assert trials == 4 * 2 * 2
    _drive(repeater, trials)
    assert _per_arm(repeater.known) == {"vl-pet": 4, "lora": 4}
    assert {json.loads(c).get("lora_rank") for c in repeater.known} == {4, 8, 16, 32, None}
    optuna_trials = optuna.load_study(study_name="repeats", storage=optuna_storage_url(spec, str(tmp_path))).trials
    assert len(optuna_trials) > 8, "the sampler repeated no lora rank: the top-up was not exercised"


def test_a_driver_that_dies_mid_study_resumes_to_n_configurations_per_arm(tmp_path):
    spec = parse_study(_study(per_arm=3))
    study_dir = str(tmp_path)
    first, trials = _searcher(spec, study_dir, "resumed")
    _drive(first, 6)                                             # three configurations x two seeds ended
    running = _drive(first, 2, first=6, complete=False)          # a fourth: both seeds running when it dies
    open_config = dict(first.groups[running[0]]["config"])
    decided = {c: dict(m) for c, m in first.known.items()}
    assert repair_optuna(optuna_storage_url(spec, study_dir), "resumed") == 1
    plan = RecoveryPlan(decided=decided, open={configuration_id(open_config): OpenConfiguration(
        open_config, (SeedRun(seed=1, trial_id="a"), SeedRun(seed=2, trial_id="b")))})
    resumed, left = _searcher(spec, study_dir, "resumed", recovery=plan)
    assert left == trials - 6
    _drive(resumed, left, first=100)
    assert _per_arm(resumed.known) == {"vl-pet": 3, "lora": 3}


def test_a_driver_that_died_before_its_optuna_study_had_a_trial_resumes_with_the_whole_queue(tmp_path):
    spec = parse_study(_study(per_arm=2))
    resumed, left = _searcher(spec, str(tmp_path), "never-started", recovery=RecoveryPlan())
    assert left == 2 * 2 * 2
    _drive(resumed, left)
    assert _per_arm(resumed.known) == {"vl-pet": 2, "lora": 2}


def test_vlpet_validate_names_the_per_arm_effort(tmp_path, capsys):
    from vlpet.cli import main

    path = tmp_path / "per_arm.yaml"
    path.write_text(yaml.safe_dump(_study(per_arm=3)))
    assert main(["validate", str(path), "--cluster"]) == 0
    assert "6 samples (3 per arm) x 2 seed(s)" in capsys.readouterr().out
