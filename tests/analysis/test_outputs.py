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
