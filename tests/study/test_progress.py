"""Watching a study from the terminal and the report page (issue 20.2 and 20.5): `vlpet run` of a tiny Optuna
study through the real CLI, in a session of its own with its own embedded Ray. The report page is read while the
study runs; the command's output is read once it ends. (Tune's own tables with --verbose: tests/study/test_runner.py.)
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest

from tests.study.ray_fixtures import kill_session, mini_data, wait_for, write_study
from vlpet.commands.run import write_live_report
from vlpet.study.live_report import LiveReport
from vlpet.study.store import StudyStore, TrialStatus

pytestmark = pytest.mark.slow
VLPET = os.path.join(os.path.dirname(sys.executable), "vlpet")
TUNE_OUTPUT = ("╭", "Trial status", "Configuration for experiment", "View detailed results",
               "started with configuration")


def ended(store: StudyStore) -> int:
    return sum(TrialStatus(r["status"]).ended for r in store.statuses())


@pytest.fixture(scope="module")
def watched(tmp_path_factory) -> dict:
    """Run the study; read the report page the first time it exists while the driver runs, and how many trials
    had ended just before it was read."""
    root = tmp_path_factory.mktemp("watched")
    path = write_study(root, mini_data(root), name="watched", seeds=[1, 2],
                       search={"algorithm": "tpe", "num_samples": 1, "max_concurrent": 2},
                       search_space={"lr": {"loguniform": [1.0e-3, 1.0e-2]}})
    study_dir = root / "watched"
    store, page = StudyStore(study_dir), study_dir / "report" / "report.html"
    seen = {}
    with open(root / "stdout", "w") as out, open(root / "stderr", "w") as err:
        driver = subprocess.Popen([VLPET, "run", str(path), "--num-cpus", "2"], stdout=out, stderr=err,
                                  start_new_session=True)
        try:
            def live_page():
                if driver.poll() is None and page.is_file():
                    seen["ended"] = ended(store)
                    seen["page"] = page.read_text()
                return seen.get("page")

            wait_for(live_page, 240, "the report page while the study runs")
            assert driver.poll() is None, "the study had ended when the page was read"
            driver.wait(timeout=300)
        finally:
            kill_session(driver)
    return {"dir": str(study_dir), "status": driver.returncode, "out": (root / "stdout").read_text(),
            "err": (root / "stderr").read_text(), "final": page.read_text(), **seen}


def test_the_report_page_is_there_while_the_study_runs_and_says_so(watched):
    live = watched["page"]
    assert "The study is running" in live and 'http-equiv="refresh"' in live
    assert re.search(r'id="state">running<', live)
    if watched["ended"] == 0:                 # read before any trial ended: the page written at the study's start
        assert re.search(r'label">finished</div><div class="value">0<', live)
    final = watched["final"]                 # the command's own, once the study ended
    assert "The study is running" not in final and 'http-equiv="refresh"' not in final


def test_the_terminal_shows_where_to_watch_a_line_per_trial_and_the_summary_last(watched):
    assert watched["status"] == 0, watched["err"][-3000:]
    study_dir, lines = watched["dir"], watched["out"].splitlines()
    assert lines[:2] == [f"study directory: {study_dir}",
                         f"report: {study_dir}/report/report.html (rewritten as trials end)"]
    assert re.fullmatch(r"Ray dashboard: http://127\.0\.0\.1:\d+", lines[2])
    assert lines[3] == f"optuna-dashboard: vlpet dashboard {study_dir}"
    trials = [line for line in lines if line.startswith("trial ")]
    assert len(trials) == 2 and sorted(line.split(" · seed ")[1][0] for line in trials) == ["1", "2"]
    for line in trials:
        assert re.fullmatch(r"trial \w+ done +\S+ lr=\S+ · seed \d  vqa_acc \d+\.\d\d at step 18  \d+ s", line), line
    summaries = [line for line in lines if line.startswith("study: ")]
    assert summaries[-1].startswith("study: 2/2 ended (2 done, 0 stopped, 0 failed), 0 running; best seed-mean "
                                    "vqa_acc ") and " lr=" in summaries[-1] and "2 seeds)" in summaries[-1]
    finished = next(i for i, line in enumerate(lines) if line.startswith("study finished in "))
    assert lines[finished - 1] == summaries[-1]
    assert lines[finished + 1:] and all(line.startswith("  wrote ") for line in lines[finished + 1:])
    assert len(lines) == 4 + 2 * 2 + 1 + len(lines[finished + 1:])          # nothing else, nothing after


def test_no_tune_tables_and_no_ray_info_lines_reach_the_terminal(watched):
    both = watched["out"] + watched["err"]
    assert not [marker for marker in TUNE_OUTPUT if marker in both]
    assert "\tINFO " not in both and "Checkpoint successfully created" not in both and "pid=" not in both
    assert "A new study created" not in both and "ExperimentalWarning" not in both       # Optuna's
    assert watched["err"].strip() == ""


def test_a_report_that_cannot_be_written_is_one_warning_and_the_writer_goes_on(tmp_path, caplog):
    (tmp_path / "report").write_text("a file where the report's folder goes")
    live = LiveReport(str(tmp_path), write_live_report, min_interval_s=0.0)
    with caplog.at_level(logging.WARNING, logger="vlpet.live_report"):
        live.setup()
        wait_for(lambda: live.attempts >= 1, 60, "a first attempt")
        live.request()
        wait_for(lambda: live.attempts >= 2, 60, "a second attempt")
        live.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "vlpet.live_report"]
    assert len(warnings) == 1 and "could not be written" in warnings[0] and "the study goes on" in warnings[0]


def test_quiet_and_verbose_together_are_one_error_line(capsys):
    from vlpet.cli import main

    assert main(["resume", "no-such-study", "--quiet", "--verbose"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--quiet and --verbose exclude each other" in err[0]


def test_the_best_seed_mean_counts_only_configurations_whose_seeds_all_finished(tmp_path):
    from vlpet.study.progress import best_seed_mean

    store = StudyStore(tmp_path)

    def trial(trial_id, key, lr, seed, accuracy, finished=True):
        store.mark_running(trial_id, config={"method": "lora"}, sampled={"lr": lr}, config_key=key, seed=seed)
        store.append_evaluation(trial_id, {"config_key": key, "seed": seed, "step": 9, "metric": accuracy,
                                           "metric_name": "vqa_acc", "finished": finished})
        (store.mark_finished if finished else store.mark_stopped)(trial_id)

    assert best_seed_mean(store, "metric", "max", seeds=2) == "no configuration finished for all its seeds yet"
    trial("a1", "a", 1.0e-3, 1, 60.0)
    trial("a2", "a", 1.0e-3, 2, 64.0)
    trial("b1", "b", 3.0e-3, 1, 90.0)                       # its second seed has not started
    trial("c1", "c", 5.0e-3, 1, 80.0)
    trial("c2", "c", 5.0e-3, 2, 99.0, finished=False)        # stopped: not a finished configuration
    assert best_seed_mean(store, "metric", "max", seeds=2) == "best seed-mean vqa_acc 62.00 (lora lr=1.0e-3, 2 seeds)"
    assert best_seed_mean(store, "metric", "max", seeds=1).startswith("best seed-mean vqa_acc 90.00 (lora lr=3.0e-3")
