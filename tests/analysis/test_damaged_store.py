"""Issue 18 on hand-made stores: the store's readers skip damaged files (and say so once), studies given twice
are read once, studies sharing a name are kept apart, and labels reaching plots, pages and tables are escaped.
The same through a real trained study: tests/reliability/test_hostile_dirs.py."""

from __future__ import annotations

import json
import logging
import os

import pytest

from tests.analysis.study_factory import make_study, trial
from vlpet.analysis import ablation_table, load_results, render_table, write_study_outputs
from vlpet.analysis.plots import pareto_png, plain_text, web_text
from vlpet.cli import main
from vlpet.errors import ConfigError
from vlpet.study.store import StudyStore, TrialStatus


@pytest.fixture
def study(tmp_path):
    return make_study(tmp_path)


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "vlpet.store"]


def test_readers_skip_damaged_files_and_list_them(study, caplog):
    os.makedirs(f"{study}/results/a1", exist_ok=True)
    open(f"{study}/results/a1/eval_00000020.json", "w").write('{"config_key": "x", "se')
    open(f"{study}/trials/b1.json", "w").write("[]")
    open(f"{study}/results/readme.json", "w").write("{}")
    store = StudyStore(study)
    assert [(r["trial_id"], r["step"]) for r in store.evaluations("a1")] == [("a1", 10)]
    assert "b1" not in {s["trial_id"] for s in store.statuses()} and store.status("b1") is None
    assert store.status_of("b1") is None and "b1" in set(store.trial_ids())     # its evaluations are fine
    assert len(store.evaluations()) == 13                       # of 14: one truncated
    assert store.skipped() == {"results/a1/eval_00000020.json": "truncated JSON",
                               "trials/b1.json": "a JSON list, not an object",
                               "results/readme.json": "not an evaluation file (results/<trial>/eval_<step>.json)"}
    assert warnings_of(caplog) == [f"warning: skipped {study}/{path}: {reason}"
                                   for path, reason in store.skipped().items()]
    StudyStore(study).evaluations()
    assert len(warnings_of(caplog)) == 3                               # once per file and process


def test_a_trial_whose_record_is_damaged_gets_a_fresh_one_when_it_runs_again(study):
    open(f"{study}/trials/c1.json", "wb").write(b"\xff\xfe")
    store = StudyStore(study)
    record = store.mark_running("c1", seed=1, config_key="k")
    assert record["restarts"] == 0 and store.status_of("c1") is TrialStatus.RUNNING
    assert store.status("c1")["config_key"] == "k"


def test_a_damaged_study_json_leaves_the_defaults_and_is_named_in_the_report(study, caplog):
    open(f"{study}/study.json", "w").write('{"name": "hand", "objectives": {"metric": "max", "tra')
    assert StudyStore(study).read_study() is None
    frame = load_results(study)
    assert set(frame["study"]) == {"hand"} and frame.attrs["skipped"] == [
        {"study": "hand", "file": "study.json", "reason": "truncated JSON"}]
    write_study_outputs(study)
    page = open(f"{study}/report/report.html", encoding="utf-8").read()
    assert "<h2>Skipped files</h2>" in page and "<td>study.json</td>" in page and "pareto.png" in os.listdir(
        f"{study}/report")


def test_nothing_readable_left_is_one_error_line_but_the_report_still_renders(study, capsys):
    for directory, _, files in os.walk(f"{study}/results"):
        for name in files:
            open(os.path.join(directory, name), "w").close()
    assert main(["compare", study]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no readable evaluation left (14 damaged file(s) skipped, e.g. results/a1/" in err
    with pytest.raises(ConfigError, match="no readable evaluation left"):
        load_results(study)
    assert main(["report", study]) == 0
    page = open(f"{study}/report/report.html", encoding="utf-8").read()
    assert "No trial has finished" in page and page.count("<td>empty file</td>") == 14


def test_a_study_given_twice_is_read_once(study, tmp_path):
    os.symlink(study, tmp_path / "link")
    once = load_results(study)
    for spelling in (study, f"{study}/", f"file://{study}", str(tmp_path / "link"), f"{tmp_path}/x/../hand"):
        twice = load_results(study, spelling)
        assert len(twice) == len(once) and list(twice["trial_id"]) == list(once["trial_id"])
    table = ablation_table(load_results(study, study), by=["arm"])
    assert table.set_index("arm").loc["vl-pet", "n"] == 3            # a1, a2 and b1: not 6


def test_studies_sharing_a_name_are_kept_apart(study, tmp_path, capsys):
    other = make_study(tmp_path / "elsewhere")                          # a copy: same name, same trial ids
    frame = load_results(study, other, study)
    assert frame["study"].value_counts().to_dict() == {"hand": 9, "hand (2)": 9}
    assert main(["export", study, other, "--by", "study,arm"]) == 0
    out = capsys.readouterr().out
    assert "| hand | vl-pet | 53.33 ± 6.11 |" in out and "| hand (2) | vl-pet | 53.33 ± 6.11 |" in out


def test_labels_are_literal_in_plots_pages_and_tables(tmp_path):
    store = StudyStore(str(tmp_path / "s"))
    json.dump({"name": "<s>"}, open(tmp_path / "s.json", "w"))
    names = ["$^$", "_lead", "<b>x&y</b>|z", "a$b$c", "`code`*em*"]
    for index, name in enumerate(names):
        trial(store, f"t{index}", {"arm": name}, 1, [40.0 + index], 1.0 + index)
    frame = load_results(str(tmp_path / "s"))
    pareto_png(frame, str(tmp_path / "p.png"))                          # mathtext would raise on $^$
    assert plain_text("$^$") == r"\$^\$" and plain_text("_lead") == " _lead"
    assert web_text("<b>$x$</b>") == "&lt;b&gt;&#36;x&#36;&lt;/b&gt;"
    written = write_study_outputs(str(tmp_path / "s"))
    assert {"pareto.png", "pareto.html", "curves.png"} <= {os.path.basename(p) for p in written}
    page = open(tmp_path / "s" / "report" / "report.html", encoding="utf-8").read()
    assert "<b>x&y" not in page and "&lt;b&gt;x&amp;y&lt;/b&gt;|z" in page
    text = render_table(ablation_table(frame, by=["arm"]), "md")
    assert "| &lt;b&gt;x&amp;y&lt;/b&gt;\\|z |" in text and "| \\`code\\`\\*em\\* |" in text and "| $^$ |" in text


@pytest.mark.parametrize("command, out", [("export", "{tmp}"), ("export", "{tmp}/missing/table.md"),
                                          ("pareto", "{tmp}/missing/p.png"), ("report", "{tmp}/afile")])
def test_an_output_that_cannot_be_written_is_one_error_line(study, tmp_path, capsys, command, out):
    (tmp_path / "afile").write_text("")
    assert main([command, study, "--out", out.format(tmp=tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"vlpet {command}: error: cannot write ")
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]     # no temporary left behind
