"""The study outputs, the CLI (export, pareto, report) and the two notebooks, executed."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.analysis.study_factory import make_study
from vlpet.analysis import write_study_outputs
from vlpet.cli import main
from vlpet.study.store import StudyStore

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def study(tmp_path):
    return make_study(tmp_path)


def test_write_study_outputs_writes_every_artefact(study):
    written = write_study_outputs(study)
    names = sorted(os.path.basename(p) for p in written)
    assert names == ["ablation.csv", "ablation.md", "ablation.tex", "curves.png", "pareto.html", "pareto.png",
                     "report.html", "results.csv", "results.parquet", "tuning_curves.png"]
    page = open(os.path.join(study, "report", "report.html"), encoding="utf-8").read()
    assert "Pareto frontier" in page and "TrainingDiverged" in page and "data:image/png;base64" in page
    assert open(os.path.join(study, "report", "pareto.png"), "rb").read(4) == b"\x89PNG"
    assert "plotly" in open(os.path.join(study, "report", "pareto.html"), encoding="utf-8").read()


def test_outputs_with_no_finished_trial_say_so(tmp_path):
    store = StudyStore(str(tmp_path / "early"))
    store.write_status("t1", {"status": "RUNNING", "sampled": {}, "config": {}})
    written = write_study_outputs(str(tmp_path / "early"))
    assert [os.path.basename(p) for p in written] == ["results.csv", "results.parquet", "report.html"]
    assert "No trial has finished" in open(written[-1], encoding="utf-8").read()


def test_cli_export_pareto_report(study, tmp_path, capsys):
    assert main(["export", study, "--by", "arm", "--format", "md"]) == 0
    assert "| arm |" in capsys.readouterr().out
    out = tmp_path / "t.tex"
    assert main(["export", study, "--format", "latex", "--out", str(out)]) == 0 and "\\toprule" in out.read_text()
    assert main(["pareto", study, "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").exists() and (tmp_path / "p.html").exists()
    assert main(["report", study]) == 0 and os.path.exists(os.path.join(study, "report", "report.html"))
    assert main(["export", study, "--by", "colour"]) == 2
    assert "unknown factor column" in capsys.readouterr().err
    assert main(["pareto", study, "--objectives", "metric:up"]) == 2


@pytest.mark.parametrize("name, expected", [("pareto_frontier", "hypervolume vs"), ("ablation_tables", "\\toprule")])
def test_notebooks_execute_on_a_study(study, monkeypatch, name, expected):
    monkeypatch.setenv("VLPET_STUDY_DIR", study)
    notebook = nbformat.read(os.path.join(REPO, "analysis", f"{name}.ipynb"), as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": REPO}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert expected in text
    if name == "pareto_frontier":
        assert any("image/png" in o.get("data", {}) for o in outputs)


# --- issue 20: readable tables in every format, the live page, and files written whole

from tests.analysis.report_study import report_study  # noqa: E402


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    study = report_study(tmp_path_factory.mktemp("outputs"), "readable", running=False)
    write_study_outputs(study)
    return os.path.join(study, "report")


def _rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()[2:] if line.startswith("|")]


def test_markdown_and_latex_tables_are_sorted_formatted_and_mark_ties_alike(report_dir):
    rows = _rows(open(os.path.join(report_dir, "ablation.md"), encoding="utf-8").read())
    assert [row[0] for row in rows] == ["full", "lora", "vl-pet", "vl-pet", "adapter"]     # best vqa_acc first
    assert rows[2][1] == "granularity=large, lr=3.5e-3" and rows[0][1] == "lr=1.0e-4"
    assert [row[3] for row in rows if "12.39" in row[3]] == ["**12.39**", "**12.39**"]    # 12.3851 and 12.3912
    assert rows[1][3] == "<u>15.00</u>"
    tex = open(os.path.join(report_dir, "ablation.tex"), encoding="utf-8").read()
    assert tex.count("\\textbf{12.39}") == 2 and "\\underline{15.00}" in tex and "lr=3.5e-3" in tex
    assert "0.003488" not in tex and tex.index("full") < tex.index("lora") < tex.index("adapter")


def test_the_live_page_reloads_and_says_when_it_was_written_the_final_one_does_not(report_dir, tmp_path):
    final = open(os.path.join(report_dir, "report.html"), encoding="utf-8").read()
    assert "http-equiv=\"refresh\"" not in final and "The study is running" not in final
    study = report_study(tmp_path, "live", running=True)
    page = open(next(p for p in write_study_outputs(study, live=True) if p.endswith("report.html")),
                encoding="utf-8").read()
    assert '<meta http-equiv="refresh" content="20">' in page
    assert "The study is running: this page was written at" in page and "still running" in page


def test_every_output_is_replaced_whole_and_no_temporary_file_is_left(report_dir):
    """Each rewrite renames a complete new file into place (a new inode), never writes into the one a reader
    may have open."""
    study = os.path.dirname(report_dir)
    before = {name: os.stat(os.path.join(report_dir, name)).st_ino for name in os.listdir(report_dir)}
    names = sorted(os.path.basename(p) for p in write_study_outputs(study, live=True))
    assert sorted(os.listdir(report_dir)) == names                      # nothing half-written left beside them
    assert {"report.html", "pareto.png", "results.parquet", "ablation.tex"} <= set(names)
    assert all(os.stat(os.path.join(report_dir, name)).st_ino != before[name] for name in names)
