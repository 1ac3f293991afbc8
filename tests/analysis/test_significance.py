"""Paired statistics where readers meet them: ablation tables, the Pareto frontier and plot, the report, the CLI."""

from __future__ import annotations

import json
import math
import os
import re
import statistics

import pytest

from tests.analysis.study_factory import OBJECTIVES, trial
from vlpet.analysis import ablation_table, compare, load_results, render_table, write_study_outputs
from vlpet.analysis.compare import configuration_keys
from vlpet.analysis.dominance import dominance, front_verdicts, pair_verdicts
from vlpet.analysis.plots import BETTER, TIED, _dominance_marks, pareto_html
from vlpet.cli import main
from vlpet.study.store import StudyStore

LORA = [70.0, 71.0, 72.5, 71.5, 70.5]
ARMS = {  # arm: (per-seed difference from lora, trainable %)
    "lora": ([0.0] * 5, 1.0),
    "adapter": ([0.3, -0.2, 0.4, 0.1, -0.1], 4.0),        # tied with lora, dominated by it
    "full": ([5.0, 5.5, 4.8, 5.2, 5.1], 100.0),           # significantly worse, dominated by lora
    "bitfit": ([10.0, 9.0, 11.0, 10.5, 9.5], 0.1),        # significantly worse, but cheapest: on the frontier
}
T_975_DF4 = 2.7764451051977987


def _study(root, arms=ARMS, name: str = "sig") -> str:
    directory = root / name
    directory.mkdir()
    (directory / "study.json").write_text(json.dumps({"name": name, "objectives": OBJECTIVES}))
    store = StudyStore(str(directory))
    for arm, (differences, pct) in arms.items():
        for seed, (value, difference) in enumerate(zip(LORA, differences), start=1):
            trial(store, f"{arm}{seed}", {"arm": arm}, seed, [value - difference - 3, value - difference], pct)
    trial(store, "once1", {"arm": "prompt"}, 1, [40.0], 0.5)            # one seed: never tested
    return str(directory)


@pytest.fixture
def study(tmp_path):
    return _study(tmp_path)


def _rows(text: str) -> dict[str, str]:
    return {line.split("|")[1].strip(): line for line in text.splitlines()[2:] if line.startswith("|")}


def test_table_rows_are_tested_against_the_column_best(study):
    frame = load_results(study)
    table = ablation_table(frame, by=["arm"]).set_index("arm")
    assert table["vqa_acc_vs_best"].to_dict() == {"lora": "best", "adapter": "tied", "full": "worse",
                                                  "bitfit": "worse", "prompt": "no test"}
    expected = compare(frame, "vqa_acc", by=["arm"]).set_index("a")["p_holm"]
    assert table["vqa_acc_p_holm"].drop("lora").to_dict() == pytest.approx(expected.to_dict(), nan_ok=True)
    assert math.isnan(table.loc["lora", "vqa_acc_p_holm"])


def test_markdown_marks_worse_and_tied_entries_and_does_not_rank_a_tie_second(study):
    text = render_table(ablation_table(load_results(study), by=["arm"]), "md")
    rows = _rows(text)
    assert "**71.10 ± 0.96**" in rows["lora"] and "†" not in rows["lora"] and "≈" not in rows["lora"]
    assert rows["adapter"].count("≈") == 1 and "<u>71." not in rows["adapter"]    # second by mean, but tied
    assert "65.98 ± 1.07 †" in rows["full"] and "†" in rows["bitfit"]
    assert "≈" not in rows["prompt"] and "†" not in rows["prompt"]                 # a single seed: not tested
    assert text.rstrip().splitlines()[-1].startswith("† significantly worse than the column's best")


def test_latex_marks_are_superscripts_with_a_legend(study):
    text = render_table(ablation_table(load_results(study), by=["arm"]), "latex")
    assert "^{\\approx}$" in text and "^{\\dagger}$" in text and "\\footnotesize $^{\\dagger}$" in text
    assert text.count("{") - text.count("\\{") == text.count("}") - text.count("\\}")
    lines = text.splitlines()
    header = lines[lines.index("\\toprule") + 1]
    assert all(line.count("&") == header.count("&") for line in lines if "&" in line)


def test_intervals_are_the_t_interval_of_the_mean_over_seeds(study):
    table = ablation_table(load_results(study), by=["arm"], ci=True).set_index("arm")
    half = T_975_DF4 * statistics.stdev(LORA) / math.sqrt(5)
    lora = table.loc["lora"]
    assert (lora["vqa_acc_ci_low"], lora["vqa_acc_ci_high"]) == pytest.approx((71.1 - half, 71.1 + half))
    assert math.isnan(table.loc["prompt", "vqa_acc_ci_low"])
    rows = _rows(render_table(table.reset_index(), "md"))
    assert f"**71.10 [{71.1 - half:.2f}, {71.1 + half:.2f}]**" in rows["lora"] and "±" not in rows["lora"]
    assert "| 40.00 |" in rows["prompt"]
    assert "95% t interval of the mean over seeds" in render_table(table.reset_index(), "md")


def test_tables_without_a_test_or_without_seeds_carry_no_marks(study):
    frame = load_results(study)
    plain = ablation_table(frame, by=["arm"], test=None)
    assert not [c for c in plain.columns if c.endswith(("_vs_best", "_p_holm"))]
    assert "≈" not in render_table(plain, "md") and "†" not in render_table(plain, "md")
    assert "vqa_acc_vs_best" not in ablation_table(frame.drop(columns=["seed"]), by=["arm"])


def test_unfinished_trials_asked_for_are_tested_too(study):
    frame = load_results(study)
    frame.loc[frame["arm"] == "adapter", "finished"] = False
    assert "adapter" not in set(ablation_table(frame, by=["arm"])["arm"])
    table = ablation_table(frame, by=["arm"], include_unfinished=True).set_index("arm")
    assert table.loc["adapter", "n"] == 5 and table.loc["adapter", "vqa_acc_vs_best"] == "tied"
    assert "adapter" not in set(dominance(frame, OBJECTIVES)["dominated"])
    assert "adapter" in set(dominance(frame, OBJECTIVES, include_unfinished=True)["dominated"])


def test_a_min_column_is_tested_in_its_direction(study):
    frame = load_results(study).assign(loss=lambda f: -f["vqa_acc"])
    table = ablation_table(frame, by=["arm"], metrics=["loss"], directions={"loss": "min"}).set_index("arm")
    assert table.loc["lora", "loss_vs_best"] == "best" and table.loc["full", "loss_vs_best"] == "worse"


def test_the_frontier_point_is_tied_with_one_dominated_point_and_better_than_another(study):
    frame = load_results(study)
    result = dominance(frame, OBJECTIVES)
    assert set(result["metric"]) == {"metric"}                    # trainable_pct is the budget: not tested
    verdicts = {(f, d): v for f, d, v in zip(result["front"], result["dominated"], result["verdict"])}
    # bitfit (0.1%) dominates only prompt (40 @ 0.5%), which has one seed: no test.
    assert verdicts == {("lora", "adapter"): "tied", ("lora", "full"): "better", ("bitfit", "prompt"): "no test"}
    full = result.set_index("dominated").loc["full"]
    assert full["diff"] == pytest.approx(5.12) and full["n"] == 5
    assert full["p_holm"] == pytest.approx(min(1.0, 2 * full["p_value"]))          # a family of two tested rows
    key = {arm: configuration_keys(frame[frame["arm"] == arm]).iloc[0] for arm in ("lora", "bitfit")}
    assert front_verdicts(result) == {key["lora"]: "tied", key["bitfit"]: "no test"} and len(pair_verdicts(result)) == 3


def test_the_plot_stars_a_point_better_than_all_it_dominates_and_links_ties(study, tmp_path):
    frame = load_results(study)
    points = frame[frame["finished"]].groupby("config_key", as_index=False).agg(
        study=("study", "first"), metric=("metric", "mean"), trainable_pct=("trainable_pct", "mean"))
    better, ties = _dominance_marks(frame, points, "trainable_pct", "metric", False)
    assert better.empty and ties == [(1.0, pytest.approx(71.1), 4.0, pytest.approx(71.0))]
    apart = _study(tmp_path, {**ARMS, "adapter": ([2.0, 2.5, 1.8, 2.2, 2.1], 4.0)}, name="apart")
    frame = load_results(apart)
    better, ties = _dominance_marks(frame, points.assign(study="apart"), "trainable_pct", "metric", False)
    assert better[["trainable_pct"]].to_numpy().ravel().tolist() == [1.0] and ties == []
    page = open(pareto_html(load_results(study), str(tmp_path / "p.html")), encoding="utf-8").read()
    assert TIED in page and BETTER not in page


def test_the_report_shows_frontier_points_against_what_they_dominate(study):
    write_study_outputs(study)
    page = open(os.path.join(study, "report", "report.html"), encoding="utf-8").read()
    assert "Frontier points against the configurations they dominate" in page
    section = page.split("they dominate</h3>")[1].split("</table>")[0]
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)]
    assert {(row[1], row[11]) for row in cells if row} == {
        ("adapter", "tied"), ("full", "better"), ("prompt", "no test")}
    markdown = open(os.path.join(study, "report", "ablation.md"), encoding="utf-8").read()
    assert "≈" in markdown and "†" in markdown


def test_cli_compare_prints_markdown_and_json(study, capsys):
    assert main(["compare", study]) == 0
    out = capsys.readouterr().out
    assert out.startswith("paired t-test of metric (max is better)") and "Holm over the 4 rows" in out
    rows = _rows(out.split("\n\n", 1)[1])
    assert rows["full"].split("|")[2].strip() == "lora" and "| worse |" in rows["full"]
    assert "| single seed: no test |" in rows["prompt"] and "| – |" in rows["prompt"]
    assert main(["compare", study, "--test", "wilcoxon", "--baseline", "full", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["b"] for r in records} == {"full"} and records[0]["a"] == "lora"
    assert records[0]["p_value"] == pytest.approx(0.0625)                  # 5 seeds, all one sign: 2/32
    assert main(["compare", study, "--test", "bootstrap", "--metric", "vqa_acc", "--mode", "min"]) == 0
    assert "sign-flip permutation test of vqa_acc (min is better)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--metric", "speed"], "unknown compare column(s) ['speed']"),
    (["--baseline", "nope"], "baseline 'nope' is not a configuration here; labels: "),
    (["--alpha", "2"], "alpha must be between 0 and 1"),
])
def test_cli_compare_names_bad_input_in_one_line(study, capsys, argv, message):
    assert main(["compare", study, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_compare_on_a_missing_directory(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nothing")]) == 2
    assert "is not a study directory" in capsys.readouterr().err
