"""Ctrl-C and SIGTERM during `vlpet run` / `vlpet resume` (issue 18.5), through the real CLI in a subprocess with
its own embedded Ray: the study stops as Tune stops it, the command says how to continue and exits 130 / 143,
nothing the driver started survives, and `vlpet resume` then completes the study from the trials' checkpoints.

One study goes through the whole story: run, Ctrl-C after the first evaluation; resume, SIGTERM once a trial runs
again; resume to the end."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.study.ray_fixtures import mini_data, write_study
from vlpet.study.store import StudyStore

pytestmark = pytest.mark.slow
VLPET = os.path.join(os.path.dirname(sys.executable), "vlpet")
DEADLINE_S = 300


@dataclass
class Stopped:
    """A driver that was sent ``signal``: its exit status, output, and the processes it had started by then."""

    returncode: int
    stdout: str
    stderr: str
    descendants: list[psutil.Process]


def start(argv: list[str], logs: Path) -> subprocess.Popen:
    return subprocess.Popen([VLPET, *argv, "--quiet", "--num-cpus", "2"], start_new_session=True,
                            stdout=open(logs / "stdout", "w"), stderr=open(logs / "stderr", "w"))


def wait_for(condition, driver: subprocess.Popen, what: str) -> None:
    deadline = time.time() + DEADLINE_S
    while not condition():
        if driver.poll() is not None or time.time() > deadline:
            driver.kill()
            raise AssertionError(f"{what} never happened (driver status {driver.poll()})")
        time.sleep(0.1)


def stop(driver: subprocess.Popen, number: int, logs: Path, group: bool) -> Stopped:
    """Send ``number`` to the driver (``group``: to its whole process group, as a terminal's Ctrl-C does)."""
    descendants = psutil.Process(driver.pid).children(recursive=True)
    assert descendants, "the driver started no processes (no embedded Ray?)"
    if group:
        os.killpg(driver.pid, number)
    else:
        driver.send_signal(number)
    try:
        driver.wait(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        driver.kill()
        raise
    return Stopped(driver.returncode, (logs / "stdout").read_text(), (logs / "stderr").read_text(), descendants)


def survivors(processes: list[psutil.Process], grace_s: float = 10.0) -> list[str]:
    deadline = time.time() + grace_s
    while True:
        alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive or time.time() > deadline:
            for process in alive:                  # leave no process behind for the other tests
                process.kill()
            return [f"{p.pid} {p.name()}" for p in alive]
        time.sleep(0.2)


def evaluated(store: StudyStore) -> bool:
    return bool(glob.glob(os.path.join(store.location, "results", "*", "eval_*.json")))


def running(store: StudyStore) -> bool:
    return any(record.get("status") == "RUNNING" for record in store.statuses())


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("interrupt")
    path = write_study(root, mini_data(root), name="interrupted", seeds=[1], trial={"epochs": 4},
                       search={"algorithm": "grid", "max_concurrent": 1})
    return {"root": root, "path": path, "dir": str(root / "interrupted"), "store": StudyStore(root / "interrupted")}


@pytest.fixture(scope="module")
def ctrl_c_run(study) -> Stopped:
    logs = study["root"] / "run"
    logs.mkdir()
    driver = start(["run", str(study["path"])], logs)
    wait_for(lambda: evaluated(study["store"]), driver, "a first evaluation")
    return stop(driver, signal.SIGINT, logs, group=True)


@pytest.fixture(scope="module")
def sigterm_resume(study, ctrl_c_run) -> Stopped:
    logs = study["root"] / "resume"
    logs.mkdir()
    driver = start(["resume", study["dir"]], logs)
    wait_for(lambda: running(study["store"]), driver, "a trial running again")
    return stop(driver, signal.SIGTERM, logs, group=False)


@pytest.fixture(scope="module")
def completed(study, sigterm_resume) -> subprocess.CompletedProcess:
    return subprocess.run([VLPET, "resume", study["dir"], "--quiet", "--num-cpus", "2"], capture_output=True,
                          text=True, timeout=DEADLINE_S)


def assert_interrupted(stopped: Stopped, status: int, study_dir: str) -> None:
    assert stopped.returncode == status, stopped.stderr[-3000:]
    assert stopped.stderr.strip().splitlines()[-1] == f"interrupted: continue with `vlpet resume {study_dir}`"
    assert "Traceback" not in stopped.stderr and "SIGTERM received" not in stopped.stderr
    assert "Tuner.restore" not in stopped.stderr + stopped.stdout     # Tune's advice would unpickle the study
    assert "study finished" not in stopped.stdout and "wrote " not in stopped.stdout      # no final report


def test_ctrl_c_stops_the_run_with_130_and_says_how_to_continue(ctrl_c_run, study):
    assert_interrupted(ctrl_c_run, 130, study["dir"])
    page = os.path.join(study["dir"], "report", "report.html")     # at most the live page written as it ran
    assert not os.path.exists(page) or "The study is running" in open(page, encoding="utf-8").read()
    assert {r["status"] for r in study["store"].statuses()} == {"STOPPED"}      # never left RUNNING


def test_sigterm_stops_a_resume_with_143_without_a_stack_dump(sigterm_resume, study):
    assert_interrupted(sigterm_resume, 143, study["dir"])


def test_no_process_started_by_an_interrupted_driver_survives(ctrl_c_run, sigterm_resume):
    assert survivors(ctrl_c_run.descendants) == []
    assert survivors(sigterm_resume.descendants) == []


def test_the_interrupted_study_resumes_to_the_end_from_its_checkpoints(completed, study):
    assert completed.returncode == 0, completed.stderr[-3000:]
    records = study["store"].statuses()
    assert len(records) == 2 and {r["status"] for r in records} == {"TERMINATED"}
    first = min(records, key=lambda r: r["started"])
    assert first["restarts"] >= 1 and first["resumed_from_step"] >= 3       # continued, not started over
    assert os.path.isfile(os.path.join(study["dir"], "report", "report.html"))
