"""Validation selects, test reports: tables, frontiers, the report and `vlpet compare` use the held-out test
metrics where the trials were tested, and say so."""

import json

from tests.analysis.study_factory import OBJECTIVES, trial
from vlpet.analysis import ablation_table, load_results, pareto_front
from vlpet.analysis.report import write_study_outputs
from vlpet.analysis.results import reported_objectives
from vlpet.analysis.tables import task_metrics
from vlpet.cli import main
from vlpet.study.store import StudyStore


def study_with_test_numbers(root):
    """Two configurations, two seeds each; their test numbers reverse the validation order."""
    directory = root / "tested"
    directory.mkdir()
    (directory / "study.json").write_text(json.dumps({"name": "tested", "objectives": OBJECTIVES}))
    store = StudyStore(str(directory))
    for index, (arm, val, test) in enumerate([("vl-pet", 60.0, 50.0), ("adapter", 55.0, 58.0)]):
        for seed in (1, 2):
            trial(store, f"{arm}{seed}", {"arm": arm}, seed, [val + seed], 4.0 - index,
                  extra={"test_metric": test + seed, "test_vqa_acc": test + seed, "tested_checkpoint": "last"})
    return str(directory)


def test_tables_and_frontier_report_test_columns(tmp_path):
    frame = load_results(study_with_test_numbers(tmp_path))
    assert task_metrics(frame) == ["test_vqa_acc"]
    table = ablation_table(frame)
    assert dict(zip(table["arm"], table["test_vqa_acc_mean"])) == {"vl-pet": 51.5, "adapter": 59.5}
    objectives = reported_objectives(frame, OBJECTIVES)
    assert objectives == {"test_metric": "max", "trainable_pct": "min"}
    front = pareto_front(frame, objectives)
    assert list(front["arm"]) == ["adapter"]  # better on test and smaller: it dominates vl-pet there


def test_report_says_which_split_and_compare_defaults_to_test(tmp_path, capsys):
    study = study_with_test_numbers(tmp_path)
    written = write_study_outputs(study)
    html = open(next(p for p in written if p.endswith("report.html")), encoding="utf-8").read()
    assert "held-out <b>test</b> metrics" in html
    assert main(["compare", study, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["b"].startswith("adapter") and rows[0]["diff"] == -8.0


def test_untested_studies_keep_validation_numbers(tmp_path):
    from tests.analysis.study_factory import make_study

    frame = load_results(make_study(tmp_path))
    assert task_metrics(frame) == ["vqa_acc"] and reported_objectives(frame, OBJECTIVES) == OBJECTIVES
