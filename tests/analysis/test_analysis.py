"""vlpet.analysis on hand-made studies with known frontiers and aggregates."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from tests.analysis.study_factory import OBJECTIVES, make_study
from vlpet.analysis import ablation_table, hypervolume, load_curves, load_results, pareto_front, render_table
from vlpet.analysis.results import placement_label
from vlpet.errors import ConfigError


@pytest.fixture
def study(tmp_path):
    return make_study(tmp_path)


def test_results_frame_has_one_row_per_trial_with_config_status_and_cost(study):
    frame = load_results(study).set_index("trial_id")
    assert len(frame) == 9 and set(frame["study"]) == {"hand"}
    assert frame.loc["a2", "metric"] == 52.0 and frame.loc["a2", "metric_best"] == 52.0
    assert frame.loc["a1", "vqa_acc"] == 48.0 and frame.loc["a1", "finished"]
    assert frame.loc["a1", "placement"] == "enc.attn+dec.xattn.v" and frame.loc["a1", "granularity"] == "small"
    assert frame.loc["a1", "cpu_hours"] == pytest.approx(2.0) and frame.loc["a1", "gpu_hours"] == pytest.approx(1.0)
    assert frame.loc["f1", "status"] == "ERROR" and "nan" in frame.loc["f1", "error"] and not frame.loc["f1", "finished"]
    assert frame.loc["g1", "status"] == "RUNNING" and not frame.loc["g1", "finished"]
    assert frame.loc["h1", "status"] == "STOPPED"


def test_several_studies_concatenate_with_a_study_column(tmp_path):
    frame = load_results(make_study(tmp_path, "one"), make_study(tmp_path, "two"))
    assert frame.groupby("study").size().to_dict() == {"one": 9, "two": 9}


def test_pareto_front_over_seed_averaged_finished_configurations_keeps_ties(study):
    front = pareto_front(load_results(study), OBJECTIVES)
    # small (mean 50 @1%) and the tie large / lora (60 @4%); adapter and full are dominated; the running and
    # stopped middleY trials (70-75 @0.5%) do not count.
    assert sorted(zip(front["trainable_pct"], front["metric"], front["arm"])) == [
        (1.0, 50.0, "vl-pet"), (4.0, 60.0, "lora"), (4.0, 60.0, "vl-pet")]
    small = front[front["trainable_pct"] == 1.0].iloc[0]
    assert small["n"] == 2 and small["metric_std"] == pytest.approx(math.sqrt(8))


def test_pareto_front_per_trial_and_with_unfinished_trials(study):
    frame = load_results(study)
    per_trial = pareto_front(frame, OBJECTIVES, by_config=False)
    assert sorted(per_trial["trial_id"]) == ["a2", "b1", "e1"]            # a1 (48 @1%) is dominated by a2
    with_running = pareto_front(frame, OBJECTIVES, by_config=False, include_unfinished=True)
    assert set(with_running["trial_id"]) == {"h1"}                          # the stopped 75 @0.5% dominates all


def test_hypervolume_matches_the_hand_computed_area(study):
    # front (1%, 50), (4%, 60) against reference (100%, 0): 99*50 + (100-4)*(60-50)
    assert hypervolume(load_results(study), OBJECTIVES, {"metric": 0.0, "trainable_pct": 100.0}) == pytest.approx(
        99 * 50 + 96 * 10)
    with pytest.raises(ConfigError, match="worse than every frontier point"):
        hypervolume(load_results(study), OBJECTIVES, {"metric": 55.0, "trainable_pct": 100.0})


def test_ablation_table_aggregates_seeds_and_counts(study):
    table = ablation_table(load_results(study), by=["arm", "granularity"]).set_index(["arm", "granularity"])
    small = table.loc[("vl-pet", "small")]
    assert small["vqa_acc_mean"] == 50.0 and small["vqa_acc_std"] == pytest.approx(math.sqrt(8)) and small["n"] == 2
    single = table.loc[("adapter", float("nan"))] if ("adapter", float("nan")) in table.index else None
    large = table.loc[("vl-pet", "large")]
    assert large["n"] == 1 and math.isnan(large["vqa_acc_std"])           # a single seed has no std
    assert ("vl-pet", "middleY") not in table.index                         # running / stopped trials left out
    assert single is None or single["n"] == 1


def test_markdown_marks_best_bold_and_second_underlined(study):
    text = render_table(ablation_table(load_results(study), by=["arm"]), "md")
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()[2:]}
    assert "**60.00**" in rows["lora"] and "**60.00**" in rows["full"]          # tie for best
    assert "<u>55.00</u>" in rows["adapter"] and "53.33 ± 6.11" in rows["vl-pet"]   # small x2 and large


def test_latex_is_booktabs_with_balanced_braces_and_std_subscripts(study):
    text = render_table(ablation_table(load_results(study), by=["arm", "granularity"]), "latex", caption="A_b")
    assert text.count("{") == text.count("}")
    assert [line for line in text.splitlines() if line in ("\\toprule", "\\midrule", "\\bottomrule")] == [
        "\\toprule", "\\midrule", "\\bottomrule"]
    assert re.search(r"\$50\.00_\{\\pm 2\.83\}\$", text) and "\\mathbf{60.00}" in text and "A\\_b" in text
    lines = text.splitlines()
    header = lines[lines.index("\\toprule") + 1]
    assert all(line.count("&") == header.count("&") for line in lines if "&" in line)


def test_csv_and_json_round_trip(study, tmp_path):
    table = ablation_table(load_results(study), by=["arm"])
    assert pd.read_csv(pd.io.common.StringIO(render_table(table, "csv")))["n"].sum() == 6
    assert len(pd.read_json(pd.io.common.StringIO(render_table(table, "json")))) == 4


def test_curves_have_one_row_per_evaluation(study):
    curves = load_curves(study)
    assert len(curves) == 2 * 6 + 2 and set(curves[curves.trial_id == "a1"]["step"]) == {10, 20}


def test_bad_input_is_named(study, tmp_path):
    with pytest.raises(ConfigError, match="not a study directory"):
        load_results(str(tmp_path / "nothing"))
    frame = load_results(study)
    with pytest.raises(ConfigError, match="unknown factor column"):
        ablation_table(frame, by=["colour"])
    with pytest.raises(ConfigError, match="unknown objective column"):
        pareto_front(frame, {"speed": "max"})
    with pytest.raises(ConfigError, match="max\\|min"):
        pareto_front(frame, {"metric": "up"})


def test_placement_labels_are_readable():
    assert placement_label(["encoder.attn", "encoder.ffn", "decoder.cross_attn.value"]) == "enc.attn+enc.ffn+dec.xattn.v"
