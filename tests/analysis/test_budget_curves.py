"""Accuracy-vs-budget curves and the budget-banded leaderboard on a hand-made results frame: validation selects
each method's configuration at a target, test reports it with its 95% interval over seeds, and the best method
at each target is compared with the runner-up on their shared seeds."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

from vlpet.analysis.budgets import budget_curves, budget_leaderboard, has_budgets
from vlpet.analysis.plots import budget_curves_png

SEEDS = (1, 2, 3)


def rows(method: str, target: float, key: str, val: list[float], test: list[float], lr: float) -> list[dict]:
    return [{"study": "s", "config_key": key, "seed": seed, "finished": True, "complete_group": True,
             "arm": f"{method}@{target:g}%", "setting": f"lr={lr}", "budget_target": target, "budget_unit": "pct",
             "budget_arm": method, "trainable_pct": target * 1.01, "metric": v, "test_metric": t, "step": 10}
            for seed, v, t in zip(SEEDS, val, test)]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    data = (rows("lora", 2, "l2a", [60, 61, 62], [58, 59, 60], 1e-3)       # selected (validation 61)
            + rows("lora", 2, "l2b", [50, 51, 52], [70, 71, 72], 3e-3)     # better on test, never selected
            + rows("vl-pet", 2, "v2", [64, 65, 66], [62, 64, 63], 1e-3)
            + rows("vl-pet", 4, "v4", [70, 71, 72], [69, 70, 71], 1e-3)
            + rows("lora", 4, "l4", [69, 70, 71], [66, 67, 69], 1e-3))
    return pd.DataFrame(data)


def test_validation_selects_and_test_reports_with_the_interval_over_seeds(frame):
    curves = budget_curves(frame)
    lora2 = curves[(curves.method == "lora") & (curves.budget_target == 2)].iloc[0]
    assert lora2.label == "lora@2% (lr=0.001)" and lora2["mean"] == 59 and lora2.configurations == 2
    low, high = stats.t.interval(0.95, 2, loc=59, scale=stats.sem([58, 59, 60]))
    assert math.isclose(lora2.ci_low, low) and math.isclose(lora2.ci_high, high)
    assert lora2.reported == "test_metric" and lora2.seeds == 3 and math.isclose(lora2.achieved, 2.02)
    assert len(curves) == 4


def test_the_leaderboard_names_the_best_method_per_target_against_the_runner_up(frame):
    board = budget_leaderboard(frame).set_index("budget_target")
    assert board.loc[2, "best"] == "vl-pet" and board.loc[2, "runner_up"] == "lora"
    assert board.loc[2, "diff"] == pytest.approx(63 - 59) and board.loc[2, "n"] == 3
    assert board.loc[4, "best"] == "vl-pet" and board.loc[4, "diff"] == pytest.approx(70 - 67.333333)
    assert set(board.verdict) <= {"better", "tied"} and board.p_holm.notna().all()


def test_a_target_with_one_method_has_no_comparison_and_frames_without_budgets_give_nothing(frame, tmp_path):
    alone = frame[~((frame.budget_target == 4) & (frame.budget_arm == "lora"))]
    board = budget_leaderboard(alone).set_index("budget_target")
    assert board.loc[4, "methods"] == 1 and "no comparison" in board.loc[4, "note"]
    plain = frame.drop(columns=["budget_target", "budget_unit", "budget_arm"])
    assert not has_budgets(plain) and budget_curves(frame.assign(budget_target=None)).empty
    path = budget_curves_png(budget_curves(frame), str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").stat().st_size > 1000 and path.endswith("curves.png")


def test_tuning_curves_spend_compute_in_the_order_trials_ended(tmp_path):
    from vlpet.analysis.plots import tuning_curves_png
    from vlpet.analysis.tuning import tuning_curves

    trials = [("a", "c1", 1, 60.0, 10), ("a", "c1", 2, 62.0, 12), ("a", "c2", 1, 70.0, 20), ("a", "c2", 2, 72.0, 25),
              ("b", "c3", 1, 50.0, 11), ("b", "c3", 2, 52.0, 13)]
    frame = pd.DataFrame([{"study": "s", "arm": arm, "config_key": key, "seed": seed, "metric": value,
                           "finished": True, "complete_group": True, "cpu_hours": 0.5, "gpu_hours": 0.0,
                           "ended": ended} for arm, key, seed, value, ended in trials])
    frame = pd.concat([frame, pd.DataFrame([{"study": "s", "arm": "a", "config_key": "c9", "seed": 1, "metric": 99.0,
                                             "finished": False, "complete_group": False, "cpu_hours": 0.25,
                                             "gpu_hours": 0.0, "ended": 15}])], ignore_index=True)
    curves = tuning_curves(frame)
    a = curves[curves.unit == "a"]
    assert list(a.cpu_hours) == [0.5, 1.0, 1.25, 1.75, 2.25]            # the stopped trial's compute counts
    assert list(a.best.fillna(-1)) == [-1, 61.0, 61.0, 61.0, 71.0]      # its unfinished 99 never does
    assert list(curves[curves.unit == "b"].best.fillna(-1)) == [-1, 51.0]
    tuning_curves_png(curves, str(tmp_path / "tuning.png"))
    assert (tmp_path / "tuning.png").stat().st_size > 1000
