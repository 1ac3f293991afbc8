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
import threading
import time

import pytest

from tests.study.ray_fixtures import kill_session, mini_data, wait_for, write_study
from vlpet.commands.run import write_live_report
from vlpet.study.live_report import LiveReport
from vlpet.study.progress import SeedGroups, StudyProgress
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


class CountingStore(StudyStore):
    """The real store, counting its reads (how much a progress event costs on a bucket)."""

    def __init__(self, location):
        super().__init__(location)
        self.reads = {"statuses": 0, "status": 0, "evaluations": 0}

    def statuses(self):
        self.reads["statuses"] += 1
        return super().statuses()

    def status(self, trial_id):
        self.reads["status"] += 1
        return super().status(trial_id)

    def evaluations(self, trial_id=None):
        self.reads["evaluations"] += 1
        return super().evaluations(trial_id)


def stored_trial(store, trial_id, key, lr, seed, accuracy, finished=True):
    store.mark_running(trial_id, config={"method": "lora"}, sampled={"lr": lr}, config_key=key, seed=seed)
    store.append_evaluation(trial_id, {"config_key": key, "seed": seed, "step": 9, "metric": accuracy,
                                       "metric_name": "vqa_acc", "finished": finished})
    (store.mark_finished if finished else store.mark_stopped)(trial_id)


def tune_trial(trial_id, wall=3.0):
    from ray.tune.experiment import Trial

    trial = Trial("vlpet_trial", config={}, trial_id=trial_id, stub=True)
    trial.run_metadata.last_result = {"time_total_s": wall, "metric": 1.0, "metric_name": "vqa_acc", "step": 9}
    return trial


def test_the_best_seed_mean_counts_only_configurations_whose_seeds_all_finished(tmp_path):
    store = StudyStore(tmp_path)

    def best(seeds):
        groups = SeedGroups(store)
        groups.read_all()
        return groups.best("metric", "max", seeds)

    assert best(2) == "no configuration finished for all its seeds yet"
    stored_trial(store, "a1", "a", 1.0e-3, 1, 60.0)
    stored_trial(store, "a2", "a", 1.0e-3, 2, 64.0)
    stored_trial(store, "b1", "b", 3.0e-3, 1, 90.0)                 # its second seed has not started
    stored_trial(store, "c1", "c", 5.0e-3, 1, 80.0)
    stored_trial(store, "c2", "c", 5.0e-3, 2, 99.0, finished=False)  # stopped: not a finished configuration
    assert best(2) == "best seed-mean vqa_acc 62.00 (lora lr=1.0e-3, 2 seeds)"
    assert best(1).startswith("best seed-mean vqa_acc 90.00 (lora lr=3.0e-3")


def test_a_trial_end_reads_its_own_record_not_the_whole_study(tmp_path):
    store, counted = StudyStore(tmp_path), CountingStore(tmp_path)  # the study's writes; the display's reads
    stored_trial(store, "old1", "old", 2.0e-3, 1, 50.0)              # ended before a resume: read at setup
    stored_trial(store, "old2", "old", 2.0e-3, 2, 52.0)
    lines = []
    progress = StudyProgress(str(tmp_path), lines.append, metric="metric", mode="max", seeds=2, every_s=0.0)
    progress.setup(total_num_samples=20)
    progress.groups = SeedGroups(counted)
    progress.groups.read_all()
    assert counted.reads == {"statuses": 1, "status": 0, "evaluations": 0}
    for number in range(16):                # eight configurations of two seeds, ending one after the other
        trial_id = f"t{number:02d}"
        stored_trial(store, trial_id, f"k{number // 2}", 1.0e-3 * (number // 2 + 1), number % 2 + 1, 60.0 + number)
        progress.on_trial_start(0, [], tune_trial(trial_id))
        progress.on_trial_complete(0, [], tune_trial(trial_id))
        progress.on_step(0, [])                                     # summaries between endings read nothing
    # one status read per end; each finished trial's last evaluation read once (the old ones at the first summary)
    assert counted.reads == {"statuses": 1, "status": 16, "evaluations": 18}
    assert lines[-1].startswith("study: 16/20 ended (16 done, 0 stopped, 0 failed), 0 running; best seed-mean "
                                "vqa_acc 74.50 (lora lr=8.0e-3, 2 seeds)")
    assert sum(line.startswith("trial t") for line in lines) == 16


def test_a_display_that_fails_is_one_warning_and_never_stops_the_study(tmp_path, caplog):
    stored_trial(StudyStore(tmp_path), "t1", "k", 1.0e-3, 1, 60.0)
    calls = []

    def closed_pipe(line):
        calls.append(line)
        raise BrokenPipeError(32, "Broken pipe")

    progress = StudyProgress(str(tmp_path), closed_pipe, metric="metric", mode="max", seeds=1, every_s=0.0)
    live = LiveReport(str(tmp_path), lambda study_dir: None, min_interval_s=0.0)
    live.request = None                      # a live report whose callback breaks (not callable)
    with caplog.at_level(logging.WARNING):
        progress.setup(total_num_samples=2)
        progress.on_trial_start(0, [], tune_trial("t1"))
        assert progress.on_trial_complete(0, [], tune_trial("t1")) is None
        progress.on_trial_error(0, [], tune_trial("t2"))
        progress.on_step(0, [])
        assert live.setup() is None and live.on_trial_complete(0, [], tune_trial("t1")) is None
        live.on_trial_error(0, [], tune_trial("t1"))
        live.on_experiment_end([])
        live.close()
    warnings = [r.getMessage() for r in caplog.records if r.name in ("vlpet.progress", "vlpet.live_report")]
    assert len(calls) == 1 and progress.off and live.off
    assert warnings == ["warning: the progress display stopped (BrokenPipeError: [Errno 32] Broken pipe); the study "
                        "goes on without it",
                        "warning: the live report stopped (TypeError: 'NoneType' object is not callable); the "
                        "study goes on without it"]
    wait_for(lambda: not live._thread.is_alive(), 10, "the switched-off live report's thread to end")


def test_closing_the_live_report_waits_for_a_rewrite_under_way_and_none_starts_after(tmp_path):
    entered, release, written = threading.Event(), threading.Event(), []

    def slow_write(study_dir):
        written.append(time.monotonic())
        entered.set()
        release.wait(30)

    live = LiveReport(str(tmp_path), slow_write, min_interval_s=0.0)
    live.setup()                                                    # asks for the first rewrite
    assert entered.wait(30)
    live.request()                                                  # a second one, wanted while the first runs
    closer = threading.Thread(target=live.close)
    closer.start()
    closer.join(0.3)
    assert closer.is_alive(), "close() returned while a rewrite was under way"
    release.set()
    closer.join(30)
    closed = time.monotonic()
    assert not closer.is_alive() and not live._thread.is_alive() and live.attempts == 1
    live.request()
    live.on_trial_complete(0, [], None)
    assert len(written) == 1 and all(when < closed for when in written)


def test_close_gives_up_waiting_after_its_timeout_with_one_warning(tmp_path, caplog):
    entered, release = threading.Event(), threading.Event()
    live = LiveReport(str(tmp_path), lambda study_dir: (entered.set(), release.wait(30)), close_timeout_s=0.2)
    live.setup()
    assert entered.wait(30)
    with caplog.at_level(logging.WARNING, logger="vlpet.live_report"):
        live.close()
    release.set()
    warnings = [r.getMessage() for r in caplog.records if r.name == "vlpet.live_report"]
    assert len(warnings) == 1 and "still being written after 0 s" in warnings[0] and "vlpet report" in warnings[0]
    live._thread.join(30)
    assert live.attempts == 1


def test_the_report_footer_agrees_with_the_state_badge(tmp_path):
    from tests.analysis.study_factory import trial
    from vlpet.analysis import write_study_outputs

    store, page = StudyStore(tmp_path), tmp_path / "report" / "report.html"
    trial(store, "a1", {"arm": "lora"}, 1, [50.0, 60.0], 1.0)
    trial(store, "a2", {"arm": "lora"}, 2, [55.0], 1.0, status="RUNNING", finished=False)
    write_study_outputs(str(tmp_path))                              # `vlpet report` of a study that still runs
    text = page.read_text()
    assert 'id="state">stopped while trials ran<' in text and "the study had ended" not in text
    assert "some of its trials had not ended" in text
    trial(store, "a2", {"arm": "lora"}, 2, [55.0, 61.0], 1.0)
    write_study_outputs(str(tmp_path))
    text = page.read_text()
    assert 'id="state">finished<' in text and "the study had ended" in text
