"""The shipped equal-budget study, quickstart-sized (search_spaces/equal_budget_quickstart.yaml), run as a real
study on a local Ray with tiny trials on the mini data: every arm sized within tolerance, ``budget_target``
recorded in the store's rows, and the accuracy-vs-budget curves and the budget-banded leaderboard come out of the
analysis and the report (issue 15.2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.study.ray_fixtures import TINY_TRIAL
from vlpet.analysis import load_results
from vlpet.analysis.budgets import budget_curves, budget_leaderboard
from vlpet.analysis.report import write_study_outputs
from vlpet.study.runner import run_study
from vlpet.study.spec import load_study
from vlpet.study.store import StudyStore

pytestmark = pytest.mark.slow

SHIPPED = Path(__file__).resolve().parents[2] / "search_spaces" / "equal_budget_quickstart.yaml"


def test_the_quickstart_equal_budget_study_sizes_records_and_analyses_every_arm(ray_session, data, tmp_path):
    study = yaml.safe_load(SHIPPED.read_text())
    assert study["budgets"] == {"targets_pct": [10, 20, 40], "tolerance": 0.05}
    # The shipped study at miniature size: tiny trials on the mini data, two arms at two targets, one lr.
    study["trial"] = {**{k: v for k, v in TINY_TRIAL.items() if k != "gate_bottleneck"}, "data_dir": str(data),
                      "epochs": 1}
    study["arms"] = study["arms"][0::2]                               # vl-pet and lora
    study["budgets"]["targets_pct"] = [20, 30]
    study["search_space"]["lr"]["choice"] = [3.0e-3]
    study.update(seeds=[1, 2], storage=str(tmp_path / "eqb"), scheduler={"type": "none"})
    path = tmp_path / "eqb.yaml"
    path.write_text(yaml.safe_dump(study))
    spec = load_study(path)
    assert list(spec.arms) == ["vl-pet@20%", "vl-pet@30%", "lora@20%", "lora@30%"]
    outcome = run_study(spec, verbose=0)
    assert sorted(t["status"] for t in outcome.trials) == ["TERMINATED"] * 8

    rows = StudyStore(outcome.study_dir).evaluations()
    for row in rows:                                                   # every row: its target, achieved within 5%
        target = row["sampled"]["budget_target"]
        assert row["sampled"]["budget_arm"] in ("vl-pet", "lora") and row["sampled"]["budget_unit"] == "pct"
        assert row["sampled"]["arm"] == f"{row['sampled']['budget_arm']}@{target:g}%"
        assert abs(row["trainable_pct"] - target) <= 0.05 * target
    frame = load_results(outcome.study_dir)
    assert sorted(frame.groupby(["budget_arm", "budget_target"]).size().items()) == [
        (("lora", 20.0), 2), (("lora", 30.0), 2), (("vl-pet", 20.0), 2), (("vl-pet", 30.0), 2)]

    curves = budget_curves(frame)
    assert sorted(zip(curves.method, curves.budget_target)) == [("lora", 20.0), ("lora", 30.0), ("vl-pet", 20.0),
                                                                ("vl-pet", 30.0)]
    assert (curves.seeds == 2).all() and curves.reported.eq("test_metric").all() == ("test_metric" in frame)
    assert ((curves.ci_low <= curves["mean"]) & (curves["mean"] <= curves.ci_high)).all()
    board = budget_leaderboard(frame)
    assert list(board.budget_target) == [20.0, 30.0] and (board.methods == 2).all()
    assert set(board.best) <= {"vl-pet", "lora"} and (board.n == 2).all()

    written = write_study_outputs(outcome.study_dir, str(tmp_path / "report"))
    names = {Path(p).name for p in written}
    assert {"budget_curves.png", "budget_curves.csv", "budget_leaderboard.csv", "tuning_curves.png"} <= names
    assert "Budget-banded leaderboard" in (tmp_path / "report" / "report.html").read_text()
