"""Edge cases of vlpet.analysis: what a study can hold at its end must never make the report crash."""

from __future__ import annotations

import json
import os

import pytest

from tests.analysis.study_factory import make_study, trial
from vlpet.analysis import ablation_table, load_results, pareto_front, render_table, write_study_outputs
from vlpet.cli import main
from vlpet.errors import ConfigError
from vlpet.study.store import StudyStore


@pytest.fixture
def study(tmp_path):
    return make_study(tmp_path)


def _set_objectives(study: str, objectives: dict) -> None:
    with open(os.path.join(study, "study.json"), "w") as handle:
        json.dump({"name": "hand", "objectives": objectives}, handle)


@pytest.mark.parametrize("objectives, reason", [
    ({"metric": "max"}, "one objective to minimise and one to maximise"),
    ({"metric": "min", "trainable_pct": "min"}, "one objective to minimise and one to maximise"),
    ({"cider": "max", "trainable_pct": "min"}, "objective column(s) cider"),
])
def test_outputs_name_objectives_they_cannot_plot_instead_of_failing(study, objectives, reason):
    _set_objectives(study, objectives)
    names = {os.path.basename(p) for p in write_study_outputs(study)}
    assert {"results.csv", "ablation.md", "report.html"} <= names and "pareto.png" not in names
    page = open(os.path.join(study, "report", "report.html"), encoding="utf-8").read()
    assert "No frontier plot" in page and reason in page


def test_outputs_of_a_study_given_as_uri_are_uploaded_beside_it(study):
    written = write_study_outputs("file://" + study)
    assert written and all(path.startswith(f"file://{study}/report/") for path in written)
    assert sorted(os.path.basename(p) for p in written) == sorted(os.listdir(os.path.join(study, "report")))


def test_best_values_only_for_scores_not_costs(tmp_path):
    store = StudyStore(str(tmp_path / "s"))
    trial(store, "t1", {"arm": "vl-pet"}, 1, [40.0, 30.0], 1.0, extra={"train_step_s": 0.5, "peak_mem_bytes": 9})
    row = load_results(str(tmp_path / "s")).iloc[0]
    assert row["metric"] == 30.0 and row["metric_best"] == 40.0 and row["vqa_acc_best"] == 40.0
    assert {"train_step_s_best", "peak_mem_bytes_best", "trainable_pct_best"}.isdisjoint(row.index)


def test_default_factors_never_split_seeds_even_if_sampled_lists_the_seed(tmp_path):
    store = StudyStore(str(tmp_path / "s"))
    for seed, value in ((1, 40.0), (2, 44.0)):
        trial(store, f"t{seed}", {"arm": "vl-pet", "granularity": "small", "seed": seed}, seed, [value], 1.0)
    table = ablation_table(load_results(str(tmp_path / "s")))
    assert len(table) == 1 and table["n"].iloc[0] == 2 and table["vqa_acc_mean"].iloc[0] == 42.0


def test_marks_follow_each_column_direction(study):
    table = ablation_table(load_results(study), by=["arm"])
    rows = {line.split("|")[1].strip(): line for line in render_table(table, "md").splitlines()[2:]}
    # trainable % (lower is better): vl-pet averages 1, 1 and 4 over its trials; adapter and lora have 4.
    assert "| **2.00** |" in rows["vl-pet"] and "| <u>4.00</u> |" in rows["lora"]
    flipped = {line.split("|")[1].strip(): line for line in
               render_table(table, "md", directions={"vqa_acc": "min"}).splitlines()[2:]}
    assert "**53.33" in flipped["vl-pet"] and "<u>55.00</u>" in flipped["adapter"]


def test_latex_escapes_every_special_character_in_factors(study):
    frame = load_results(study)
    frame["arm"] = frame["arm"].replace({"lora": "lo{ra}_~^\\x"})
    text = render_table(ablation_table(frame, by=["arm"]), "latex")
    assert "lo\\{ra\\}\\_\\textasciitilde{}\\textasciicircum{}\\textbackslash{}x" in text
    assert text.count("{") - text.count("\\{") == text.count("}") - text.count("\\}")


def test_a_directory_without_study_files_is_not_a_study(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match="not a study directory"):
        load_results(str(tmp_path))


def test_a_study_with_no_trial_yet_has_an_empty_front_and_a_report(tmp_path):
    directory = tmp_path / "fresh"
    directory.mkdir()
    (directory / "study.json").write_text(json.dumps({"name": "fresh"}))
    assert pareto_front(load_results(str(directory))).empty
    assert main(["pareto", str(directory), "--out", str(tmp_path / "p.png")]) == 0
    assert [os.path.basename(p) for p in write_study_outputs(str(directory))] == [
        "results.csv", "results.parquet", "report.html"]


def test_a_single_row_table_marks_nothing(study):
    table = ablation_table(load_results(study), by=["arm"])
    text = render_table(table[table["arm"] == "adapter"], "md")
    assert "**" not in text and "<u>" not in text
